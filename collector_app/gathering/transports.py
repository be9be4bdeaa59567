"""Shipping tarballs: ``http`` (multipart POST with retries) and ``directory`` (a folder).

More transports come through the ``collector_app.transports`` entry-point group (or a dotted
path): a ``Transport`` subclass whose ``ship(path)`` returns when the tarball is delivered and
raises ``ShippingError`` otherwise. Credentials are only ever put in request headers: messages
and logs name the URL without them and mask their values (``Gatherer.masker()``).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from triggers.plugins import resolve_class

from ..exceptions import CollectorsError
from ..http_client import request

if TYPE_CHECKING:
    from .gatherer import Gatherer

logger = logging.getLogger("collector_app.gathering")

GROUP = "collector_app.transports"
BUILTINS = {
    "http": "collector_app.gathering.transports.HttpTransport",
    "directory": "collector_app.gathering.transports.DirectoryTransport",
}
CHUNK = 1024 * 1024


class ShippingError(CollectorsError):
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


def safe_url(url: str) -> str:
    """``url`` without its user and password (also when it has no host)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class HttpTransport(Transport):
    """POST each tarball as multipart field ``file`` to the gatherer's ingress URL.

    Through ``requests``: basic auth (``username``/``password``) or a token header, neither
    sent to another host on a redirect; the gatherer's extra headers; proxies from the
    environment; ``verify`` and ``cert`` for TLS; ``http_timeout`` seconds per connect or read
    and ``http_deadline`` seconds for the whole upload, retries included. 5xx answers, connection
    and read errors are retried ``http_retries`` times (urllib3's ``Retry``, backoff
    ``http_backoff``); other answers fail at once.
    """

    def __init__(self, gatherer: Gatherer) -> None:
        super().__init__(gatherer)
        url = gatherer.get_ingress_url()
        if not url:
            raise ShippingError(f"no ingress URL configured for gathering {gatherer.name!r}")
        self.masker = gatherer.masker()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ShippingError(
                self.masker.text(
                    f"ingress URL of {gatherer.name!r} must be http:// or https:// with a "
                    f"host, not {safe_url(url)!r}"
                )
            )
        self.url = safe_url(url)
        user, password = gatherer.get_credentials()
        if not user and parts.username:
            user, password = unquote(parts.username), unquote(parts.password or "")
        self._auth = (user, password or "") if user else None
        self._token = gatherer.get_token() or None
        self.session = gatherer.http_session()

    def describe(self) -> str:
        return f"POST {self.url}"

    def mask(self, text: str) -> str:
        return self.masker.text(text)

    def headers(self, boundary: str) -> dict[str, str]:
        headers = {
            "User-Agent": "collector_app-gathering",
            **self.gatherer.get_http_request_headers(),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }
        if self._token:
            headers[self.gatherer.token_header] = self.gatherer.token_prefix + self._token
        return headers

    def ship(self, path: Path) -> None:
        boundary = uuid.uuid4().hex
        name = path.name.replace('"', "")
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {self.gatherer.payload_content_type}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        try:
            with MultipartBody(head, path, tail) as body:
                reply = request(
                    self.session,
                    "POST",
                    self.url,
                    data=body,
                    headers=self.headers(boundary),
                    auth=self._auth,
                    deadline=float(self.gatherer.http_deadline),
                    timeout=float(self.gatherer.http_timeout),
                )
        except (requests.RequestException, OSError, ValueError) as exc:
            error = self.mask(f"cannot reach {self.url}: {type(exc).__name__}: {exc}")
            raise ShippingError(f"{path.name} not shipped: {error}") from None
        with reply:
            attempts = 1 + len(reply.raw.retries.history) if reply.raw.retries else 1
            if 200 <= reply.status_code < 300:
                logger.info("shipped %s to %s (HTTP %s)", path.name, self.url, reply.status_code)
                return
            snippet = self.mask(reply.text.strip()[:300])
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        raise ShippingError(
            f"{path.name} not shipped{tries}: {self.url} answered HTTP {reply.status_code}: "
            f"{snippet}"
        )


class MultipartBody:
    """A tarball wrapped in its multipart head and tail, read from disk as it is sent.

    Seekable, so urllib3 rewinds it for a retry and requests for a 307/308 redirect; sized, so
    requests sends a Content-Length.
    """

    def __init__(self, head: bytes, path: Path, tail: bytes) -> None:
        self._parts = (head, tail)
        self._file = open(path, "rb")
        self._size = os.fstat(self._file.fileno()).st_size
        self._length = len(head) + self._size + len(tail)
        self._position = 0

    def __enter__(self) -> MultipartBody:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:  # a stream to requests: it notes the position
        while chunk := self.read(CHUNK):
            yield chunk

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        head, tail = self._parts
        if size is None or size < 0:
            size = self._length - self._position
        out = bytearray()
        while size > 0 and self._position < self._length:
            at = self._position
            if at < len(head):
                chunk = head[at : at + size]
            elif at < len(head) + self._size:
                self._file.seek(at - len(head))
                chunk = self._file.read(min(size, len(head) + self._size - at))
                if not chunk:
                    raise OSError(f"{self._file.name} shrank while it was being sent")
            else:
                start = at - len(head) - self._size
                chunk = tail[start : start + size]
            out += chunk
            self._position += len(chunk)
            size -= len(chunk)
        return bytes(out)


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
