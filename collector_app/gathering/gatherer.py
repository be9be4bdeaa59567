"""``Gatherer``: the project-specific side of a gathering collection, and its settings.

A project either subclasses ``Gatherer`` (overriding the ``is_enabled`` / ``get_*`` hooks, for
values that must be computed) and names the class in ``COLLECTORS["GATHERERS"]``, or configures
the base class with a dict there::

    COLLECTORS = {"GATHERERS": {
        "analytics": "myproject.gathering.AnalyticsGatherer",
        "usage": {"module": "myproject.usage_collection", "transport": "directory",
                  "shipping_directory": "/srv/outbox"},
        "custom": {"class": "myproject.gathering.Base", "ingress_url": "https://..."},
    }}

Dict keys are the class attributes below (``class`` picks the class). Checkpoints and the last
gather time are kept in the database; override ``load_checkpoints`` / ``save_checkpoint`` only
to keep them elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from django.utils.module_loading import import_string

from ..conf import collectors_setting
from ..exceptions import CollectorsError
from ..http_client import Cert, Session, Verify, new_session
from ..masking import Masker
from . import checkpoints
from .registry import Collection, load_collection


class UnknownCollectionError(LookupError, CollectorsError):
    """No gathering collection of that name in ``COLLECTORS["GATHERERS"]``."""


class GathererConfigError(ValueError, CollectorsError):
    """A ``GATHERERS`` entry that cannot be used."""


class Gatherer:
    """One gathering collection: which functions, where tarballs go, how big they may be."""

    #: Dotted path of the collection module (its ``@register`` functions), or the module.
    module: ClassVar[str | ModuleType] = ""
    #: ``http``, ``directory`` or a name in the ``collector_app.transports`` entry points.
    transport: ClassVar[str] = "http"
    ingress_url: ClassVar[str] = ""
    #: Basic auth; or ``token`` sent as ``token_header: token_prefix + token``.
    username: ClassVar[str] = ""
    password: ClassVar[str] = ""
    token: ClassVar[str] = ""
    token_header: ClassVar[str] = "Authorization"
    token_prefix: ClassVar[str] = "Bearer "
    #: Extra request headers (e.g. an identity header for a local ingress).
    headers: ClassVar[dict[str, str]] = {}
    payload_content_type: ClassVar[str] = "application/vnd.collector_app.gathering+tgz"
    #: Largest uncompressed content of one tarball, common files included, in bytes.
    max_data_size: ClassVar[int] = 100 * 1024 * 1024
    #: How far back a window may reach (days); four weeks by default.
    horizon_days: ClassVar[float] = 28
    #: Folder of the ``directory`` transport.
    shipping_directory: ClassVar[str] = ""
    #: Seconds for each connect and each read; ``http_deadline``: for a whole upload,
    #: retries included (a server trickling its answer cannot hold a gather longer).
    http_timeout: ClassVar[float] = 60.0
    http_deadline: ClassVar[float] = 600.0
    http_retries: ClassVar[int] = 3
    http_backoff: ClassVar[float] = 1.0
    #: TLS: ``True`` (system CAs), ``False`` or a CA bundle path; a client certificate (one
    #: PEM file, or ``(certificate, key)``). Proxies come from ``HTTPS_PROXY`` / ``NO_PROXY``.
    verify: ClassVar[Verify] = True
    cert: ClassVar[Cert] = None
    compress_level: ClassVar[int] = 6
    #: A gather of a collection already being gathered: ``"refuse"`` or ``"wait"`` (up to
    #: ``lock_timeout`` seconds). The lock's lease is ``lock_lease`` seconds, renewed while
    #: the gather runs.
    lock: ClassVar[str] = "refuse"
    lock_timeout: ClassVar[float] = 60.0
    lock_lease: ClassVar[float] = 300.0
    #: A refused gather run as a trigger task is retried after this many seconds.
    retry_cooldown: ClassVar[float] = 60.0
    enabled: ClassVar[bool] = True

    SETTINGS: ClassVar[frozenset[str]] = frozenset(
        {
            "module",
            "transport",
            "ingress_url",
            "username",
            "password",
            "token",
            "token_header",
            "token_prefix",
            "headers",
            "payload_content_type",
            "max_data_size",
            "horizon_days",
            "shipping_directory",
            "http_timeout",
            "http_deadline",
            "http_retries",
            "verify",
            "cert",
            "http_backoff",
            "compress_level",
            "lock",
            "lock_timeout",
            "lock_lease",
            "retry_cooldown",
            "enabled",
        }
    )

    def __init__(self, name: str, **settings: Any) -> None:
        unknown = set(settings) - self.SETTINGS
        if unknown:
            raise GathererConfigError(
                f"gathering {name!r}: unknown setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(self.SETTINGS))}"
            )
        self.name = name
        for key, value in settings.items():
            setattr(self, key, value)
        if self.lock not in ("refuse", "wait"):
            raise GathererConfigError(f"gathering {name!r}: lock must be 'refuse' or 'wait'")
        if not int(self.max_data_size) > 0:
            raise GathererConfigError(f"gathering {name!r}: max_data_size must be positive")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- project hooks ---------------------------------------------------------------------
    def is_enabled(self) -> bool:
        """Licence / enablement check: a disabled collection gathers nothing."""
        return bool(self.enabled)

    def is_shipping_configured(self) -> bool:
        """Whether tarballs have somewhere to go (checked before gathering, except dry runs)."""
        if self.transport == "http":
            return bool(self.get_ingress_url())
        if self.transport == "directory":
            return bool(self.get_shipping_directory())
        return True

    def get_collection(self) -> Collection:
        if not self.module:
            raise GathererConfigError(f"gathering {self.name!r} has no collection module")
        return load_collection(self.module)

    def get_ingress_url(self) -> str:
        return self.ingress_url

    def get_credentials(self) -> tuple[str, str]:
        """``(username, password)`` for basic auth; empty username for none."""
        return self.username, self.password

    def get_token(self) -> str:
        return self.token

    def get_http_request_headers(self) -> dict[str, str]:
        return dict(self.headers)

    def masker(self) -> Masker:
        """Masks the credentials (password, token, the ingress URL's password) in any text."""
        secrets = [self.get_credentials()[1], self.get_token()]
        try:
            url_password = urlsplit(self.get_ingress_url() or "").password
        except ValueError:  # not a URL: HttpTransport refuses it
            url_password = None
        return Masker([*secrets, url_password, unquote(url_password or "")])

    def http_session(self) -> Session:
        """The ``requests`` session uploads go through (retries, TLS options, proxies)."""
        return new_session(
            retries=int(self.http_retries),
            backoff=float(self.http_backoff),
            verify=self.verify,
            cert=self.cert,
            secret_headers=[self.token_header],
        )

    def get_shipping_directory(self) -> str:
        return self.shipping_directory

    def get_max_data_size(self) -> int:
        return int(self.max_data_size)

    def get_horizon(self) -> timedelta:
        return timedelta(days=float(self.horizon_days))

    # -- bookkeeping (database by default) -------------------------------------------------
    def load_checkpoints(self) -> dict[str, checkpoints.Checkpoint]:
        return checkpoints.load(self.name)

    def save_checkpoint(
        self, key: str, checkpoint: datetime | None, last_full_sync: datetime | None = None
    ) -> None:
        checkpoints.advance(self.name, key, checkpoint, last_full_sync)

    def last_gather(self) -> datetime | None:
        return (
            self.load_checkpoints()
            .get(checkpoints.LAST_GATHER_KEY, checkpoints.Checkpoint())
            .checkpoint
        )

    def save_last_gather(self, when: datetime) -> None:
        checkpoints.advance(self.name, checkpoints.LAST_GATHER_KEY, when)


def gatherer_for(name: str) -> Gatherer:
    """The configured ``Gatherer`` of collection ``name``."""
    configured = collectors_setting("GATHERERS")
    if name not in configured:
        known = ", ".join(sorted(configured)) or "none"
        raise UnknownCollectionError(
            f"no gathering collection {name!r} in COLLECTORS['GATHERERS'] (known: {known})"
        )
    entry = configured[name]
    if isinstance(entry, str):
        path, options = entry, {}
    elif isinstance(entry, dict):
        options = dict(entry)
        path = options.pop("class", "collector_app.gathering.Gatherer")
    else:
        raise GathererConfigError(
            f"COLLECTORS['GATHERERS'][{name!r}] must be a dotted path or a dict, "
            f"not {type(entry).__name__}"
        )
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise GathererConfigError(f"gathering {name!r}: cannot import {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Gatherer)):
        raise GathererConfigError(f"gathering {name!r}: {path!r} is not a Gatherer subclass")
    return cls(name, **options)
