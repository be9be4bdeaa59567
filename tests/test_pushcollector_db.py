"""The ``db`` recorder beyond the contract: its rows, and their admin (list filtered by state)."""

from __future__ import annotations

from unittest import mock

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.test import TestCase
from django.urls import reverse

from collector_app.models import AttachmentRecord, PushItemRecord, RecordingRun
from collector_app.pushcollector import Collector
from collector_app.pushcollector import db as db_module
from collector_app.pushcollector.contract import MD5, SHA256, full_item


class DatabaseRecorderTests(TestCase):
    def setUp(self):
        self.run = self.enterContext(Collector.new_run())
        self.collector = Collector.get("db")

    def test_rows_hold_the_columns_and_the_whole_item(self):
        sparse = {"filename": "bare", "state": "NOTFOUND", "src": None, "ticket": ["X-1"]}
        self.collector.update_push_items([full_item(0), sparse]).result()
        self.collector.update_push_items([full_item(2, state="EXISTS")]).result()
        run = RecordingRun.objects.get()
        self.assertEqual((run.label, run.started), (self.run.id, self.run.started))
        rows = list(run.push_items.order_by("position"))
        self.assertEqual([r.position for r in rows], [0, 1, 2])
        self.assertEqual([r.state for r in rows], ["PUSHED", "NOTFOUND", "EXISTS"])
        full = rows[0]
        columns = {key: getattr(full, key) for key in ("src", "dest", "origin", "build")}
        expected = {key: full_item(0)[key] for key in columns}
        self.assertEqual((full.filename, columns), ("pkg-0.rpm", expected))
        self.assertEqual(full.signing_key, "FD431D51")
        self.assertEqual(full.checksums, {"md5": MD5, "sha256": SHA256})
        self.assertEqual((rows[1].src, rows[1].dest, rows[1].checksums), ("", "", None))
        self.assertEqual(rows[1].item, sparse)  # nulls and extra keys as given

    def test_one_row_per_run_and_joining_a_run_shares_it(self):
        self.collector.update_push_items([full_item(0)]).result()
        with Collector.new_run():
            Collector.get("db").update_push_items([full_item(1)]).result()
        with Collector.new_run(self.run.id):
            Collector.get("db").attach_file("joined.txt", b"j").result()
        self.assertEqual(RecordingRun.objects.count(), 2)
        run = RecordingRun.objects.get(label=self.run.id)
        self.assertEqual(run.push_items.count(), 1)
        self.assertEqual(run.attachments.get().filename, "joined.txt")

    def test_attachments_keep_content_and_size(self):
        self.collector.attach_file("logs/a.bin", bytes(range(256))).result()
        self.collector.append_file("logs/a.bin", b"\x00").result()
        row = AttachmentRecord.objects.get()
        self.assertEqual((row.filename, row.size), ("logs/a.bin", 257))
        self.assertEqual(bytes(row.content), bytes(range(256)) + b"\x00")
        error = self.collector.attach_file("x" * 1001, b"").exception()
        self.assertIsInstance(error, ValueError)
        self.assertIn("at most 1000", str(error))

    def test_a_run_row_deleted_meanwhile_is_created_again(self):
        self.collector.update_push_items([full_item(0)]).result()
        RecordingRun.objects.all().delete()
        self.collector.update_push_items([full_item(1)]).result()
        self.assertEqual(
            list(RecordingRun.objects.get().push_items.values_list("item", flat=True)),
            [full_item(1)],
        )

    def test_a_batch_failing_halfway_leaves_no_rows(self):
        self.collector.update_push_items([full_item(0)]).result()
        calls = []
        real = QuerySet.bulk_create

        def fail_the_second(queryset, rows, *args, **kwargs):
            calls.append(len(rows))
            if len(calls) == 2:
                raise RuntimeError("database went away")
            return real(queryset, rows, *args, **kwargs)

        with (
            mock.patch.object(db_module, "INSERT_BATCH", 2),
            mock.patch.object(QuerySet, "bulk_create", fail_the_second),
        ):
            future = self.collector.update_push_items(full_item(n) for n in range(1, 6))
        self.assertIsInstance(future.exception(), RuntimeError)
        self.assertEqual(calls, [2, 2])
        self.assertEqual(list(PushItemRecord.objects.values_list("position", flat=True)), [0])


class RecordingAdminTests(TestCase):
    def setUp(self):
        self.run = self.enterContext(Collector.new_run())
        collector = Collector.get("db")
        states = ["PUSHED", "EXISTS", "PUSHED", "NOTFOUND", "EXISTS"]
        items = [full_item(n, state=state) for n, state in enumerate(states)]
        collector.update_push_items(items).result()
        collector.attach_file("report.txt", "all good ✓".encode()).result()
        admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)

    def test_push_items_are_listed_and_filtered_by_state(self):
        url = reverse("admin:collector_app_pushitemrecord_changelist")
        everything = self.client.get(url)
        self.assertEqual(everything.status_code, 200)
        self.assertEqual(everything.context["cl"].result_count, 5)
        self.assertContains(everything, "?state=EXISTS")  # the filter's choices
        self.assertContains(everything, "NOTFOUND")
        exists = self.client.get(url, {"state": "EXISTS"})
        rows = list(exists.context["cl"].result_list)
        self.assertEqual([r.filename for r in rows], ["pkg-1.rpm", "pkg-4.rpm"])
        self.assertNotContains(exists, "pkg-0.rpm")

    def test_run_list_counts_and_item_page(self):
        runs = self.client.get(reverse("admin:collector_app_recordingrun_changelist"))
        self.assertContains(runs, self.run.id)
        run = RecordingRun.objects.get()
        self.assertContains(runs, f'?run__id__exact={run.pk}">5</a>', html=False)
        item = run.push_items.get(position=3)
        page = self.client.get(reverse("admin:collector_app_pushitemrecord_change", args=[item.pk]))
        self.assertContains(page, "&quot;state&quot;: &quot;NOTFOUND&quot;")
        self.assertNotContains(page, 'type="submit" value="Save"')  # read-only

    def test_attachment_page_previews_text(self):
        row = AttachmentRecord.objects.get()
        page = self.client.get(
            reverse("admin:collector_app_attachmentrecord_change", args=[row.pk])
        )
        self.assertContains(page, "all good ✓")
        listing = self.client.get(
            reverse("admin:collector_app_pushitemrecord_changelist"),
            {"run__id__exact": row.run_id},
        )
        self.assertEqual(listing.context["cl"].result_count, 5)
