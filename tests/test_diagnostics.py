"""``count_costs`` counts a block's SQL statements however many ran before it."""

from __future__ import annotations

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from triggers.diagnostics import count_costs


class SqlCount(TestCase):
    def test_counts_after_the_query_log_is_full(self) -> None:
        # Django's query log keeps the last 9,000 queries: counting by its length read 0 here.
        with CaptureQueriesContext(connection), connection.cursor() as cursor:
            for _ in range(connection.queries_limit + 1):
                cursor.execute("SELECT 1")
        with count_costs() as counts, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.execute("SELECT 2")
        self.assertEqual(counts.sql, 2)

    def test_a_block_without_sql_counts_none(self) -> None:
        with count_costs() as counts:
            pass
        self.assertEqual(counts.sql, 0)
