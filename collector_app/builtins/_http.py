"""What the ``http`` source and sink share: their HTTP options and a session built from them."""

from __future__ import annotations

from typing import Any

from ..http_client import Session, new_session
from ..options import Config, Configurator

#: ``cert``: one PEM file (certificate and key) or ``[certificate, key]``.
CERT_SCHEMA = {
    "anyOf": [
        {"type": "null"},
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
    ]
}


def declare_http_options(config: Configurator) -> None:
    """``url``, ``headers``, ``timeout`` (each connect and read), ``deadline`` (the whole
    request, retries included), ``verify``, ``cert`` and the secret ``token``."""
    positive = {"type": "number", "exclusiveMinimum": 0}
    config.add_option("url", schema={"type": "string", "pattern": "^https?://"})
    config.add_option("headers", default={}, optional=True, schema={"type": "object"})
    config.add_option("timeout", default=10, optional=True, schema=positive)
    config.add_option("deadline", default=60, optional=True, schema=positive)
    config.add_option("verify", default=True, optional=True, schema={"type": ["boolean", "string"]})
    config.add_option("cert", default=None, optional=True, schema=CERT_SCHEMA)
    config.add_option("token", default=None, optional=True, secret=True)


def session_for(config: Config, retries: int = 0, backoff: float = 0.0) -> Session:
    return new_session(
        retries=retries, backoff=backoff, verify=config.verify.value, cert=config.cert.value
    )


def request_kwargs(config: Config, headers: dict[str, str]) -> dict[str, Any]:
    """Headers (the token as a bearer token), ``timeout`` and ``deadline`` for ``request()``."""
    headers = {**headers, **config.headers.value}
    if config.token.value:
        headers["Authorization"] = f"Bearer {config.token.value}"
    return {
        "headers": headers,
        "timeout": config.timeout.value,
        "deadline": config.deadline.value,
    }
