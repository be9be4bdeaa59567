"""The compact instance record of the ``cache`` storage (issue 18): smaller, exact, and records
written in the former layout stay readable."""

from __future__ import annotations

import json

from django.test import SimpleTestCase, override_settings

from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.configuration import dumps
from triggers.storages.cache_records import decode_instance, encode_instance
from triggers.types import TaskInstance, now

T = "tests.support.tasks."


def sample(name: str = "each#12") -> TaskInstance:
    stamp = now()
    return TaskInstance(
        name,
        "each",
        "finished",
        {"i": 12},
        {
            "timestamps": {"created": stamp, "finished": "2026-11-29T10:00:00+00:00"},
            "odd": {"timestamps": "not a stamp"},
            "duration": 0.5,
        },
    )


class Records(SimpleTestCase):
    def test_round_trip_is_exact_and_smaller(self):
        inst = sample()
        text = encode_instance(inst)
        self.assertEqual(decode_instance(inst.name, json.loads(text)), inst)
        self.assertLess(len(text), len(dumps(inst.to_dict())) - 60)
        self.assertNotIn('"name"', text)

    def test_stamps_that_would_not_round_trip_stay_text(self):
        inst = sample()
        inst.metadata["timestamps"].update(naive="2026-11-29T10:00:00", other="yesterday")
        inst.metadata["timestamps"]["zulu"] = "2026-11-29T10:00:00.500000+01:00"
        stored = json.loads(encode_instance(inst))
        self.assertEqual(stored["m"]["timestamps"]["naive"], "2026-11-29T10:00:00")
        self.assertEqual(stored["m"]["timestamps"]["other"], "yesterday")
        self.assertIsInstance(stored["m"]["timestamps"]["finished"], int)
        self.assertEqual(decode_instance(inst.name, stored), inst)

    def test_a_task_name_the_name_does_not_imply_is_kept(self):
        inst = TaskInstance("custom", "each", "unstarted", {}, {})
        self.assertEqual(decode_instance("custom", json.loads(encode_instance(inst))), inst)

    def test_the_former_layout_is_read(self):
        inst = sample()
        self.assertEqual(decode_instance(inst.name, inst.to_dict()), inst)


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class StoredSessions(SessionTestCase):
    def test_a_session_written_in_the_former_layout_keeps_working(self):
        manager = TriggerManager.for_session(new_uid("records"), "cache")
        manager.update_configuration(
            {"each": {"after": ["go"], "andEvery": "go", "run": T + "noop"}}
        )
        manager.fire("go", {"i": 0})
        storage = manager.storage
        old = storage["each#0"]
        key = storage.instance_key("each#0")
        storage.kv.client.set(storage.kv.raw_key(key), dumps(old.to_dict()))  # former layout
        self.assertEqual(storage["each#0"], old)
        manager.fire("go", {"i": 1})
        self.assertEqual([inst.status for inst in storage], ["finished", "finished"])
        new = storage.kv.client.get(storage.kv.raw_key(storage.instance_key("each#1")))
        self.assertEqual(json.loads(new)["s"], "finished")
