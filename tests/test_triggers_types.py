"""Value types: statuses, serialisation, merging."""

from __future__ import annotations

from django.test import SimpleTestCase

from triggers import types
from triggers.types import TaskConfig, TaskInstance, deep_merge


class Statuses(SimpleTestCase):
    def test_status_names_are_the_lower_case_words(self):
        for word in (
            "unstarted",
            "scheduled",
            "running",
            "finished",
            "failed",
            "skipped",
            "replayed",
            "abandoned",
        ):
            constant = f"STATUS_{word.upper()}"
            self.assertEqual(getattr(types, constant), word)
            self.assertEqual(getattr(TaskInstance, constant), word)

    def test_resolved_statuses(self):
        resolved = {s for s in types.STATUSES if TaskInstance("t#0", "t", status=s).is_resolved}
        self.assertEqual(resolved, {"finished", "skipped", "replayed", "abandoned"})

    def test_resolved_statuses_are_final(self):
        for status in types.RESOLVED_STATUSES:
            self.assertEqual(types.ALLOWED_TRANSITIONS[status], frozenset())


class Serialisation(SimpleTestCase):
    def test_task_config_round_trip_keeps_directive_names_and_extras(self):
        data = {
            "after": ["a"],
            "run": "x.y",
            "andEvery": "a",
            "unless": ["stop"],
            "withParams": {"a": {"n": 1}},
            "using": "sync",
            "queue": "slow",
        }
        config = TaskConfig.from_dict("t", data)
        self.assertEqual(config.and_every, "a")
        self.assertEqual(config.extras, {"queue": "slow"})
        self.assertEqual(config.to_dict(), data)
        self.assertEqual(config.triggers_required, {"a"})

    def test_task_instance_round_trip(self):
        inst = TaskInstance("t#3", "t", "failed", {"a": {"n": 1}}, {"depth": 2, "parent": "t#1"})
        self.assertEqual(TaskInstance.from_dict(inst.to_dict()), inst)
        self.assertEqual((inst.number, inst.depth, inst.parent), (3, 2, "t#1"))

    def test_task_names_with_hash_signs_in_instance_numbers(self):
        self.assertEqual(TaskInstance("a#b#12", "a#b").number, 12)


class DeepMerge(SimpleTestCase):
    def test_nested_mappings_merge_and_others_replace(self):
        base = {"a": {"x": 1, "y": {"z": 1}}, "b": [1]}
        merged = deep_merge(base, {"a": {"y": {"w": 2}}, "b": [2]})
        self.assertEqual(merged, {"a": {"x": 1, "y": {"z": 1, "w": 2}}, "b": [2]})
        self.assertEqual(base, {"a": {"x": 1, "y": {"z": 1}}, "b": [1]}, "base was changed")
