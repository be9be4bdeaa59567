"""HTTP for the ``http`` source and sink and the gathering transport: ``requests`` + urllib3.

What a hand-rolled ``urllib`` client got wrong and ``requests`` gets right: proxies come from the
environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), TLS takes ``verify`` (a CA bundle
path, or ``False``) and ``cert`` (a client certificate), and credentials never follow a redirect
to another host (``Authorization`` by requests; our own token headers by ``Session``). Retries are
urllib3's ``Retry`` (connection errors, read errors and 5xx answers, with exponential backoff).

What neither gives is an overall deadline: their timeout applies to each socket operation, so
a server trickling one byte at a time holds a request forever. ``request()`` starts a timer;
when it fires, the sockets the request opened are shut down, which ends whatever it waits for,
and ``DeadlineExceeded`` is raised.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.retry import Retry

from .exceptions import CollectorsError

#: ``verify`` values: ``True`` (system CAs), ``False`` (no check) or a CA bundle path.
Verify = bool | str
#: ``cert`` values: a PEM file with certificate and key, or ``(certificate, key)`` paths.
Cert = str | tuple[str, str] | list[str] | None

_local = threading.local()


class DeadlineExceeded(requests.exceptions.Timeout, CollectorsError):
    """A request (retries and redirects included) did not complete before its deadline."""


class _Watch:
    """The sockets of one request, shut down when its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes up a recv or send blocked in another thread
    except OSError:
        pass


def _watch(sock: Any) -> None:
    watch = getattr(_local, "watch", None)
    if watch is not None and sock is not None:
        watch.add(sock)


class _WatchedConnection:
    """Registers its socket with the running request's deadline (new and reused ones)."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through a proxy) obey the deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


class Session(requests.Session):
    """A ``requests`` session that also drops ``secret_headers`` on a redirect to another host.

    requests drops ``Authorization`` itself; a token sent in a header of another name (a
    gatherer's ``token_header``) must not follow either.
    """

    def __init__(self, secret_headers: Iterable[str] = ()) -> None:
        super().__init__()
        self.secret_headers = tuple(secret_headers)

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for header in self.secret_headers:
                prepared_request.headers.pop(header, None)


def new_session(
    *,
    retries: int = 0,
    backoff: float = 0.0,
    verify: Verify = True,
    cert: Cert = None,
    secret_headers: Iterable[str] = (),
) -> Session:
    """A session retrying connection and read errors and 5xx answers ``retries`` times.

    Waits ``backoff * 2**(n - 1)`` seconds before the n-th retry after the first; POSTs are
    retried too (their bodies must be bytes or seekable). After the last retry a 5xx answer is
    returned, not raised, so callers can quote it.
    """
    session = Session(secret_headers)
    retry = Retry(
        total=max(0, int(retries)),
        backoff_factor=float(backoff),
        status_forcelist=tuple(range(500, 600)),
        allowed_methods=None,  # any method: an upload is retried like a download
        raise_on_status=False,
        respect_retry_after_header=False,  # a server must not park us past the deadline
    )
    adapter = _Adapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    if isinstance(cert, list):  # a JSON pair: requests wants a tuple
        certificate, key = cert
        session.cert = (certificate, key)
    else:
        session.cert = cert
    return session


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    deadline: float,
    timeout: float,
    **kwargs: Any,
) -> requests.Response:
    """``session.request(...)`` cut off ``deadline`` seconds from now, retries included.

    ``timeout`` bounds each connect and each read, as in requests. The session's ``verify`` and
    ``cert`` are passed explicitly so that ``REQUESTS_CA_BUNDLE`` cannot override ``False`` or
    a given bundle. Raises ``DeadlineExceeded`` when the deadline passed.
    """
    deadline, timeout = float(deadline), float(timeout)
    kwargs.setdefault("verify", session.verify)
    kwargs.setdefault("cert", session.cert)
    watch = _Watch(deadline)
    previous = getattr(_local, "watch", None)
    _local.watch = watch
    watch.start()
    try:
        response = session.request(method, url, timeout=(min(timeout, deadline), timeout), **kwargs)
    except requests.RequestException as exc:
        if watch.expired:
            raise DeadlineExceeded(f"no complete answer within the {deadline:g}s deadline") from exc
        raise
    finally:
        watch.cancel()
        _local.watch = previous
    if watch.expired:  # a reply cut short may look complete (no length given): refuse it
        response.close()
        raise DeadlineExceeded(f"no complete answer within the {deadline:g}s deadline")
    return response
