"""Shipping tarballs: ``http`` (multipart POST with retries) and ``directory`` (a folder).

More transports come through the ``collector_app.transports`` entry-point group (or a dotted
path): a ``Transport`` subclass whose ``ship(path)`` returns when the tarball is delivered and
raises ``ShippingError`` otherwise. Credentials are only ever put in request headers: messages
and logs name the URL without them and mask their values.
"""

from __future__ import annotations

import base64
import http.client
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from triggers.plugins import resolve_class

if TYPE_CHECKING:
    from .gatherer import Gatherer

logger = logging.getLogger("collector_app.gathering")

GROUP = "collector_app.transports"
BUILTINS = {
    "http": "collector_app.gathering.transports.HttpTransport",
    "directory": "collector_app.gathering.transports.DirectoryTransport",
}
MASK = "********"
CHUNK = 1024 * 1024


class ShippingError(Exception):
    """A tarball was not delivered (after the retries the transport makes)."""


class Transport:
    """Delivers one tarball at a time for a gatherer; subclasses implement ``ship``."""

    def __init__(self, gatherer: Gatherer) -> None:
        self.gatherer = gatherer

    def ship(self, path: Path) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement ship(path)")

    def describe(self) -> str:
        """Where tarballs go, fit for logs (no credentials)."""
        return type(self).__name__


def load_transport(name: str, gatherer: Gatherer) -> Transport:
    """The transport called ``name`` (built-in, entry point or dotted path) for ``gatherer``."""
    cls = resolve_class("transport", GROUP, BUILTINS, name)
    if not (isinstance(cls, type) and issubclass(cls, Transport)):
        raise TypeError(f"transport {name!r} is {cls!r}, not a Transport subclass")
    return cls(gatherer)


class HttpTransport(Transport):
    """POST each tarball as multipart field ``file`` to the gatherer's ingress URL.

    Basic auth (``username``/``password``) or a token header; the gatherer's extra headers;
    ``timeout`` seconds per attempt; 5xx answers and connection errors are retried
    ``retries`` times, waiting ``backoff * 2**attempt`` seconds; other answers fail at once.
    """

    def __init__(self, gatherer: Gatherer) -> None:
        super().__init__(gatherer)
        url = gatherer.get_ingress_url()
        if not url:
            raise ShippingError(f"no ingress URL configured for gathering {gatherer.name!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ShippingError(
                f"ingress URL of {gatherer.name!r} must be http:// or https://, not "
                f"{self._safe(url)!r}"
            )
        self._parts = parts
        self.url = urlunsplit(parts._replace(netloc=self._netloc(parts)))
        self._secrets = [s for s in self._credentials() if s]

    @staticmethod
    def _netloc(parts) -> str:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{parts.port}" if parts.port else host

    @classmethod
    def _safe(cls, url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=cls._netloc(parts))) if parts.hostname else url

    def _credentials(self) -> list[str]:
        user, password = self.gatherer.get_credentials()
        if not user and self._parts.username:
            user, password = unquote(self._parts.username), unquote(self._parts.password or "")
        self._basic = (user, password or "") if user else None
        token = self.gatherer.get_token()
        self._token = token or None
        return [password or "", token or ""]

    def describe(self) -> str:
        return f"POST {self.url}"

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def headers(self, boundary: str, length: int) -> dict[str, str]:
        headers = {
            "User-Agent": "collector_app-gathering",
            **self.gatherer.get_http_request_headers(),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        }
        if self._basic:
            raw = f"{self._basic[0]}:{self._basic[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        if self._token:
            headers[self.gatherer.token_header] = self.gatherer.token_prefix + self._token
        return headers

    def ship(self, path: Path) -> None:
        retries = max(0, int(self.gatherer.http_retries))
        for attempt in range(retries + 1):
            try:
                status, body = self._post(path)
            except (OSError, http.client.HTTPException) as exc:
                error, retry = f"{type(exc).__name__}: {exc}", True
                error = f"cannot reach {self.url}: {self.mask(error)}"
            else:
                if 200 <= status < 300:
                    logger.info("shipped %s to %s (HTTP %s)", path.name, self.url, status)
                    return
                snippet = self.mask(body.decode("utf-8", "replace").strip()[:300])
                error, retry = f"{self.url} answered HTTP {status}: {snippet}", status >= 500
            if not retry or attempt == retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise ShippingError(f"{path.name} not shipped{tries}: {error}")
            delay = float(self.gatherer.http_backoff) * 2**attempt
            logger.warning("%s: %s; retrying in %.1fs", path.name, error, delay)
            time.sleep(delay)

    def _post(self, path: Path) -> tuple[int, bytes]:
        boundary = uuid.uuid4().hex
        name = path.name.replace('"', "")
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {self.gatherer.payload_content_type}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = len(head) + path.stat().st_size + len(tail)

        def body() -> Iterator[bytes]:
            yield head
            with open(path, "rb") as source:
                while chunk := source.read(CHUNK):
                    yield chunk
            yield tail

        connection_class = (
            http.client.HTTPSConnection
            if self._parts.scheme == "https"
            else http.client.HTTPConnection
        )
        connection = connection_class(
            self._parts.hostname, self._parts.port, timeout=float(self.gatherer.http_timeout)
        )
        target = self._parts.path or "/"
        if self._parts.query:
            target += f"?{self._parts.query}"
        try:
            connection.request("POST", target, body=body(), headers=self.headers(boundary, length))
            response = connection.getresponse()
            return response.status, response.read(4096)
        finally:
            connection.close()


class DirectoryTransport(Transport):
    """Copy each tarball into the gatherer's ``shipping_directory`` (for air-gapped sites).

    The copy appears under its final name only once complete (copied beside it, then renamed);
    an existing file of that name is never overwritten.
    """

    def __init__(self, gatherer: Gatherer) -> None:
        super().__init__(gatherer)
        directory = gatherer.get_shipping_directory()
        if not directory:
            raise ShippingError(
                f"the directory transport of {gatherer.name!r} needs a shipping_directory"
            )
        self.directory = Path(directory)

    def describe(self) -> str:
        return f"copy to {self.directory}"

    def ship(self, path: Path) -> None:
        target = self.directory / path.name
        partial = self.directory / f".{path.name}.{uuid.uuid4().hex}.partial"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if target.exists():
                raise ShippingError(f"{target} already exists; not overwriting it")
            shutil.copyfile(path, partial)
            os.link(partial, target)  # fails, rather than overwrite, if target appeared
        except FileExistsError:
            raise ShippingError(f"{target} already exists; not overwriting it") from None
        except OSError as exc:
            raise ShippingError(f"{path.name} not copied to {self.directory}: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)
        logger.info("copied %s to %s", path.name, self.directory)
