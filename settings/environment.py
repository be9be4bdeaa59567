"""Read ``DATABASE_URL`` / ``REDIS_URL`` into Django settings without extra dependencies."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


def database_from_url(url: str) -> dict:
    """Translate ``postgres://user:pass@host:port/name`` or ``sqlite:///path`` for DATABASES."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif path.startswith("/"):
            path = path[1:] or ":memory:"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path or ":memory:",
            "OPTIONS": dict(SQLITE_OPTIONS) if path else {},
        }
    if scheme in {"postgres", "postgresql", "pgsql"}:
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    raise ValueError(
        f"DATABASE_URL has an unsupported scheme {scheme!r}: use postgres://... or sqlite:///path"
    )


SQLITE_OPTIONS = {
    # Writers queue up (30 s) instead of failing, and take the write lock when they begin.
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def sqlite_default(var_dir: Path) -> dict:
    var_dir.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(var_dir / "db.sqlite3"),
        "OPTIONS": dict(SQLITE_OPTIONS),
        # A file, not memory, so threads and worker processes of the tests share it.
        "TEST": {"NAME": str(var_dir / "test-db.sqlite3")},
    }
