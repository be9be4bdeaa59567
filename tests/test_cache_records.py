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
        inst.metadata["timestamps"]["number"] = 12  # not a stamp the engine writes: kept as is
        stored = json.loads(encode_instance(inst))
        self.assertEqual(stored["m"]["timestamps"]["naive"], "2026-11-29T10:00:00")
        self.assertEqual(stored["m"]["timestamps"]["other"], "yesterday")
        self.assertEqual(stored["m"]["timestamps"]["number"], 12)
        self.assertIsInstance(stored["T"]["c"], int)
        self.assertIsInstance(stored["T"]["f"], int)
        self.assertNotIn("finished", stored["m"]["timestamps"])
        self.assertEqual(decode_instance(inst.name, stored), inst)

    def test_stamps_are_deltas_from_creation_and_last_modified_names_its_twin(self):
        inst = TaskInstance("each#3", "each", "unstarted", {}, {})
        inst.touch()
        inst.set_status("scheduled")
        inst.metadata["timestamps"]["scheduled"] = "2026-11-29T10:00:01.000250+00:00"
        inst.metadata["timestamps"]["lastModified"] = "2026-11-29T10:00:01.000250+00:00"
        inst.metadata["timestamps"]["created"] = "2026-11-29T10:00:00+00:00"
        stored = json.loads(encode_instance(inst))
        self.assertEqual(stored["T"]["s"], 1_000_250)
        self.assertEqual(stored["T"]["l"], "s")
        self.assertNotIn("m", stored)
        self.assertEqual(decode_instance(inst.name, stored), inst)

    def test_a_stamp_without_creation_is_absolute(self):
        stamps = {
            "finished": "2026-11-29T10:00:00+00:00",
            "lastModified": "2026-11-29T10:00:02+00:00",
        }
        inst = TaskInstance("each#1", "each", "finished", {}, {"timestamps": stamps})
        stored = json.loads(encode_instance(inst))
        self.assertNotIn("c", stored["T"])
        self.assertEqual(decode_instance(inst.name, stored), inst)

    def test_the_rq_job_id_is_derived_when_it_is_the_usual_one(self):
        from triggers.rq.watch import job_id_for

        inst = sample()
        inst.metadata.update(
            runner="rq", rq_queue="low", rq_job_id=job_id_for("cache", "u1", inst.name)
        )
        stored = json.loads(encode_instance(inst, "u1"))
        self.assertEqual(stored["j"], 1)
        self.assertNotIn("rq_job_id", json.dumps(stored))
        self.assertEqual((stored["r"], stored["q"]), ("rq", "low"))
        self.assertEqual(decode_instance(inst.name, stored, "u1"), inst)
        with self.assertRaises(ValueError):
            decode_instance(inst.name, stored)  # no uid: the id cannot be derived
        # another session's (or a hand-made) id is stored as it is
        other = json.loads(encode_instance(inst, "u2"))
        self.assertNotIn("j", other)
        self.assertEqual(decode_instance(inst.name, other, "u2"), inst)

    def test_a_finished_rq_instance_fits_in_a_small_record(self):
        from triggers.rq.watch import job_id_for

        inst = TaskInstance("each#246", "each", "unstarted", {"tick": {"i": 246}}, {})
        inst.touch()
        for status in ("scheduled", "running", "finished"):
            inst.set_status(status)
        inst.metadata.update(
            runner="rq",
            rq_queue="low",
            rq_job_id=job_id_for("cache", "bench-scale-1", inst.name),
            duration=0.000915,
            result={},
        )
        text = encode_instance(inst, "bench-scale-1")
        self.assertLessEqual(len(text), 140, text)  # 330 in the first compact layout
        self.assertEqual(decode_instance(inst.name, json.loads(text), "bench-scale-1"), inst)

    def test_a_task_name_the_name_does_not_imply_is_kept(self):
        inst = TaskInstance("custom", "each", "unstarted", {}, {})
        self.assertEqual(decode_instance("custom", json.loads(encode_instance(inst))), inst)

    def test_the_former_layout_is_read(self):
        inst = sample()
        self.assertEqual(decode_instance(inst.name, inst.to_dict()), inst)

    def test_the_first_compact_layout_is_read(self):
        inst = sample()
        stamps = inst.metadata["timestamps"]
        first = {  # as written before the "T" part: absolute integer stamps inside "m"
            "s": "finished",
            "k": {"i": 12},
            "m": {
                **inst.metadata,
                "timestamps": {
                    "created": stamps["created"],
                    "finished": 1795946400000000,  # 2026-11-29T10:00:00+00:00
                },
            },
        }
        self.assertEqual(decode_instance(inst.name, first), inst)


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
