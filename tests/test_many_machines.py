"""Three "machines": worker processes with their own working and var directories (no shared
files), one database and one Redis, running a 300-task session across two queues."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.support.helpers import SessionTestCase, new_uid, redis_url, subprocess_env
from tests.support.rq_helpers import reset_queues
from triggers import TriggerManager

ROOT = Path(__file__).resolve().parent.parent
TASKS = 300
MACHINES = {"m1": ["default"], "m2": ["low"], "m3": ["default", "low"]}


class ManyMachines(SessionTestCase):
    def test_300_tasks_on_three_machines(self):
        reset_queues()
        uid = new_uid("many")
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(
            {
                f"t{i:03d}": {
                    "after": ["start"],
                    "run": "tests.support.many_machines_tasks.record",
                    "queue": "low" if i % 2 else "default",
                }
                for i in range(TASKS)
            }
        )
        self.assertEqual(len(manager.fire("start")), TASKS)

        base = Path(self.enterContext(tempfile.TemporaryDirectory()))
        workers = []
        for machine, queues in MACHINES.items():
            home = base / machine
            home.mkdir()
            env = {
                **subprocess_env(),
                "MACHINE": machine,
                "VAR_DIR": str(home / "var"),  # its own artifacts; the shared services below
                "REDIS_URL": redis_url(),
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "settings",
            }
            log = (home / "worker.log").open("w")
            command = [sys.executable, str(ROOT / "manage.py"), "rqworker", "--burst", *queues]
            workers.append(
                subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        for worker in workers:
            worker.wait(timeout=600)
        # m1 and m2 may end before the other queue is empty: m3 (both queues) finishes the rest
        instances = list(manager.storage)
        statuses = Counter(inst.status for inst in instances)
        self.assertEqual(statuses, {"finished": TASKS}, self._logs(base))

        per_machine: Counter = Counter()
        for inst in instances:
            machine, path = inst.result["machine"], Path(inst.result["path"])
            per_machine[machine] += 1
            self.assertEqual(inst.result["cwd"], str(base / machine))
            self.assertEqual(path.parent, base / machine / "var" / "artifacts" / uid)
            self.assertEqual(path.read_text(), f"{inst.name} on {machine}")
            queue = "low" if int(inst.name[1:4]) % 2 else "default"
            self.assertIn(queue, MACHINES[machine])
        self.assertEqual(sum(per_machine.values()), TASKS)
        for machine, count in per_machine.items():
            log = base / machine / "var" / "artifacts" / uid / "pushitems.jsonl"
            items = [json.loads(line) for line in log.read_text().splitlines()]
            self.assertEqual(len(items), count)
            self.assertEqual({item["origin"] for item in items}, {machine})
        self.assertGreaterEqual(len(per_machine), 2, per_machine)

    @staticmethod
    def _logs(base: Path) -> str:
        return "\n".join(
            f"--- {p.parent.name}\n{p.read_text()[-2000:]}"
            for p in sorted(base.glob("*/worker.log"))
        )
