"""``make demo``'s script as a newcomer runs it: twice on the embedded defaults (the second run
is incremental), once on PostgreSQL + Redis when they answer, and with a missing database.

Each point of issue 20 is asserted from the printed output and from the stored state.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.urls import reverse

from tests.support.helpers import SessionTestCase, redis_url, subprocess_env
from tests.support.rq_helpers import reset_queues
from triggers.models import TriggerSession

ROOT = Path(__file__).resolve().parent.parent
#: Where the result column of the demo's instance table starts.
RESULT_COLUMN = 33


def instance_block(output: str, name: str) -> str:
    """The result column of instance ``name`` in the table, its wrapped lines joined."""
    match = re.search(
        rf"^{re.escape(name)}\s+\w+\s+[\d.-]+  (.*(?:\n {{{RESULT_COLUMN}}}.*)*)", output, re.M
    )
    assert match, f"no row for {name} in:\n{output}"
    return " ".join(line.strip() for line in match[1].splitlines())


def uid_of(output: str) -> str:
    return re.search(r"^session (\S+):", output, re.M)[1]


class DemoMixin:
    def run_demo(
        self, env: dict[str, str], *args: str, code: int = 0
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "settings.demo", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(done.returncode, code, f"{done.stdout}\n{done.stderr}")
        return done

    def stored(self, env: dict[str, str], uid: str) -> dict[str, dict]:
        """The session's instances as stored, read by another process (``triggers_status``)."""
        done = subprocess.run(
            [sys.executable, "manage.py", "triggers_status", uid, "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        return {inst["name"]: inst for inst in json.loads(done.stdout)["instances"]}

    def replay_as_printed(self, env: dict[str, str], output: str) -> str:
        command = re.search(r"Replay it with:\n\s+(.+)\n", output)[1]
        self.assertTrue(command.startswith(".venv/bin/python manage.py triggers_replay"))
        args = [sys.executable, *shlex.split(command)[1:]]
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout

    def assert_licence_story(self, env: dict[str, str], output: str, var: Path) -> str:
        """The check fails on purpose, with its whole message, and the printed replay repairs
        it; no file decides it. Returns the session uid."""
        uid = uid_of(output)
        self.assertRegex(output, r"\nlicences#0\s+failed")
        self.assertIn("licences#0 failed on purpose", output)
        stored = self.stored(env, uid)
        failed = stored["licences#0"]
        self.assertEqual(failed["status"], "failed")
        message = f"{failed['exc_type']}: {failed['exc_message']}"
        self.assertEqual(instance_block(output, "licences#0"), message)  # whole, never cut
        distributions = int(re.search(r"(\d+) distributions under (\d+) licences", message)[1])
        self.assertGreater(distributions, 0)  # never a review of an empty list
        self.assertNotIn("0 distribution(s)", output)
        self.assertFalse((var / "demo" / "licence-review.txt").exists())

        replayed = self.replay_as_printed(env, output)
        self.assertIn("replayed as licences#1 (finished)", replayed)
        after = self.stored(env, uid)
        self.assertEqual(after["licences#0"]["status"], "replayed")
        self.assertEqual(after["licences#1"]["status"], "finished")
        self.assertEqual(after["licences#1"]["result"]["approved_by"], "licences#1")
        self.assertEqual(after["licences#1"]["result"]["distributions"], distributions)
        return uid


class Demo(DemoMixin, SessionTestCase):
    def test_two_runs_tell_the_same_true_story(self):
        reset_queues()
        var = Path(self.enterContext(tempfile.TemporaryDirectory()))
        env = {**subprocess_env(), "VAR_DIR": str(var), "REDIS_URL": redis_url()}
        env.pop("PORT", None)
        outbox = var / "demo" / "outbox"

        first = self.run_demo(env).stdout
        self.assertIn("first run: every distribution and commit is new", first)
        for task in ("inventory#0", "compare#0", "gather#0", "report#0"):
            self.assertRegex(first, rf"\n{re.escape(task)}\s+finished")

        # push items: one per distribution, all new
        distributions = int(re.search(r"run 1: (\d+) new", first)[1])
        pushitems = re.search(r"(\S+/pushitems\.jsonl)\s+[\d,]+ bytes\s+\((\d+) push items", first)
        self.assertIsNotNone(pushitems, first)
        self.assertTrue(pushitems[1].startswith(str(var / "artifacts")))
        self.assertEqual(len(Path(pushitems[1]).read_text().splitlines()), int(pushitems[2]))
        self.assertEqual(int(pushitems[2]), distributions)

        # tarballs: the printed size is the file's, and no tarball ships an empty list
        tarballs = re.findall(r"(\S+\.tar\.gz)\s+([\d,]+) bytes, shipped", first)
        self.assertTrue(tarballs, first)
        for path, size in tarballs:
            self.assertEqual(Path(path).stat().st_size, int(size.replace(",", "")))
        self.assert_no_empty_shipment(outbox)
        self.assertNotIn("uncompressed", first)

        # the report is a line for people, not JSON
        report = instance_block(first, "report#0")
        self.assertRegex(report, r"^shipped \d+ tarball\(s\) with .*commits")
        self.assertNotIn("{", report)

        # the admin: this session's page and the failed instance's page, served by make admin
        uid = self.assert_licence_story(env, first, var)
        self.assert_admin_urls(first, uid, port="8000")

        second = self.run_demo({**env, "PORT": "8001"}).stdout
        self.assertIn("run 2: new distributions none, changed none", second)
        self.assertIn("version 2: runs 2", second)
        new_commits = int(re.search(r"; (\d+) new commits", second)[1])
        if new_commits == 0:  # nothing was committed in between: nothing ships
            self.assertIn("none this run: nothing new to gather", second)
            self.assertEqual(instance_block(second, "report#0"), "nothing new to ship")
            self.assertEqual(len(list(outbox.iterdir())), len(tarballs))
        self.assert_no_empty_shipment(outbox)
        # push items are recorded once: none again, and the output says why
        self.assertNotIn("pushitems.jsonl", second)
        self.assertIn(
            f"no push items: {distributions} distributions were recorded by an earlier run", second
        )
        recorded = sorted((var / "artifacts").glob("*/pushitems.jsonl"))
        self.assertEqual(len(recorded), 1)
        # every session's check asks again, the same way, and its replay repairs it again
        self.assert_licence_story(env, second, var)
        self.assert_admin_urls(second, uid_of(second), port="8001")

    def assert_no_empty_shipment(self, outbox: Path) -> None:
        for path in outbox.glob("*.tar.gz"):
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    if member.name.endswith("commits.json"):
                        data = json.load(tar.extractfile(member))
                        self.assertTrue(data["commits"], f"{path}: an empty commits.json")

    def assert_admin_urls(self, output: str, uid: str, port: str) -> None:
        session = TriggerSession.objects.get(uid=uid)
        base = f"http://127.0.0.1:{port}"
        page = reverse("admin:triggers_triggersession_change", args=[session.pk])
        instance = reverse(
            "admin:triggers_triggersession_instance", args=[session.pk, "licences#0"]
        )
        self.assertIn("make admin serves it", output)
        self.assertRegex(output, rf"this session:\s+{re.escape(base + page)}\n")
        self.assertRegex(output, rf"licences#0:\s+{re.escape(base + instance)}\n")
        admin = User.objects.create_superuser(f"demo-{uuid.uuid4().hex[:8]}", "d@example.org", "x")
        self.client.force_login(admin)
        for path in (page, instance):
            response = self.client.get(path)
            self.assertEqual(response.status_code, 200, path)
            self.assertContains(response, "licences#0")


def postgres_server() -> dict[str, str] | None:
    """The PostgreSQL server of this run's DATABASE_URL, else 127.0.0.1:5432 as postgres; None
    when it does not answer."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url if url.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/")
    server = {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": parts.username or "postgres",
        "password": parts.password or "",
    }
    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **server).close()
    except psycopg.Error:
        return None
    return server


def real_redis_url() -> str | None:
    """A Redis db of this run's own (REDIS_URL): never one picked here, others may use it."""
    url = os.environ.get("REDIS_URL", "")
    if not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError:
        return None
    return url


class DemoOnRealServers(DemoMixin, SessionTestCase):
    def test_a_fresh_postgresql_database_and_redis_fail_and_repair_the_same_way(self):
        server, redis = postgres_server(), real_redis_url()
        if server is None or redis is None:
            self.skipTest("needs PostgreSQL (DATABASE_URL or 127.0.0.1:5432) and REDIS_URL")
        import psycopg

        name = f"demo_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop():
            with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        self.addCleanup(drop)
        auth = server["user"] + (f":{server['password']}" if server["password"] else "")
        var = Path(self.enterContext(tempfile.TemporaryDirectory()))
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{auth}@{server['host']}:{server['port']}/{name}",
            "REDIS_URL": redis,
            "CACHE_KEY_PREFIX": f"demo-test-{uuid.uuid4().hex[:8]}",  # a fresh cache storage
            "VAR_DIR": str(var),
        }
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(migrate.returncode, 0, migrate.stderr)
        reset_queues()
        output = self.run_demo(env).stdout
        self.assertIn("first run: every distribution and commit is new", output)
        self.assert_licence_story(env, output, var)

    def test_a_missing_database_gets_one_line_with_the_createdb_command(self):
        server = postgres_server()
        if server is None:
            self.skipTest("needs PostgreSQL (DATABASE_URL or 127.0.0.1:5432)")
        name = f"demo_missing_{uuid.uuid4().hex[:12]}"
        auth = server["user"] + (f":{server['password']}" if server["password"] else "")
        url = f"postgres://{auth}@{server['host']}:{server['port']}/{name}"
        env = {**subprocess_env(), "DATABASE_URL": url, "REDIS_URL": redis_url()}
        for args in ((), ("--check-database",)):
            done = self.run_demo(env, *args, code=1)
            self.assertEqual(done.stdout, "")
            lines = done.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, done.stderr)
            self.assertIn(f"database '{name}' (DATABASE_URL) does not exist", lines[0])
            command = f"createdb -h {server['host']} -p {server['port']} -U {server['user']} {name}"
            self.assertTrue(lines[0].endswith(command), lines[0])


class DemoWithoutServers(DemoMixin, SessionTestCase):
    def test_a_database_that_does_not_answer_gets_one_line(self):
        env = {
            **subprocess_env(),
            "DATABASE_URL": "postgres://nobody:secret-pw@127.0.0.1:1/nothing?connect_timeout=3",
            "REDIS_URL": redis_url(),
        }
        done = self.run_demo(env, "--check-database", code=1)
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertIn(
            "cannot connect to database 'nothing' (DATABASE_URL) on 127.0.0.1:1", lines[0]
        )
        self.assertNotIn("secret-pw", done.stderr)

    def test_the_makefile_checks_the_database_first_and_make_admin_takes_port(self):
        def dry_run(*args: str) -> list[str]:
            env = {k: v for k, v in os.environ.items() if k not in {"PORT", "MAKEFLAGS"}}
            done = subprocess.run(
                ["make", "-n", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            )
            self.assertEqual(done.returncode, 0, done.stderr)
            return done.stdout.splitlines()

        for target in ("demo", "admin"):
            lines = dry_run(target)
            check = next(i for i, line in enumerate(lines) if "--check-database" in line)
            migrate = next(i for i, line in enumerate(lines) if "migrate" in line)
            self.assertLess(check, migrate, target)
        self.assertTrue(any(line.endswith("runserver 127.0.0.1:8000") for line in dry_run("admin")))
        lines = dry_run("admin", "PORT=8001")
        self.assertTrue(any(line.endswith("runserver 127.0.0.1:8001") for line in lines))
        self.assertTrue(any("PORT=8001" in line for line in dry_run("demo", "PORT=8001")))
