"""``make demo``'s script, twice, as a newcomer runs it: the second run is incremental."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.helpers import SessionTestCase, redis_url, subprocess_env
from tests.rq_helpers import reset_queues

ROOT = Path(__file__).resolve().parent.parent


class Demo(SessionTestCase):
    def run_demo(self, env) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "settings.demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(done.returncode, 0, f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def test_two_runs_and_the_replay_the_first_one_asks_for(self):
        reset_queues()
        var = Path(self.enterContext(__import__("tempfile").TemporaryDirectory()))
        env = {**subprocess_env(), "VAR_DIR": str(var), "REDIS_URL": redis_url()}

        first = self.run_demo(env)
        self.assertIn("first run: every distribution and commit is new", first)
        for task in ("inventory#0", "compare#0", "gather#0", "report#0"):
            self.assertRegex(first, rf"\n{re.escape(task)}\s+finished")
        self.assertRegex(first, r"\nlicences#0\s+failed")
        self.assertIn("licences#0 failed on purpose", first)
        pushitems = re.search(
            r"(\S+/pushitems\.jsonl)\s+[\d,]+ bytes\s+\((\d+) push items\)", first
        )
        self.assertIsNotNone(pushitems, first)
        self.assertTrue(str(pushitems[1]).startswith(str(var / "artifacts")))
        lines = Path(pushitems[1]).read_text().splitlines()
        self.assertEqual(len(lines), int(pushitems[2]))
        tarballs = re.findall(r"(\S+\.tar\.gz)\s+[\d,]+ bytes uncompressed, shipped", first)
        self.assertTrue(tarballs and all(Path(t).is_file() for t in tarballs), first)

        command = re.search(r"Replay it with:\n\s+(.+)\n", first)[1]
        self.assertTrue(command.startswith(".venv/bin/python manage.py triggers_replay"))
        args = [sys.executable, *shlex.split(command)[1:]]
        replayed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
        self.assertEqual(replayed.returncode, 0, replayed.stderr)
        self.assertIn("replayed as licences#1 (finished)", replayed.stdout)

        second = self.run_demo(env)
        self.assertIn("run 2: new distributions none, changed none", second)
        self.assertIn("nothing new", second)
        self.assertRegex(second, r"\nlicences#0\s+finished")  # the review file exists now
        self.assertNotIn("Replay it with", second)
        self.assertIn("version 2: runs 2", second)
