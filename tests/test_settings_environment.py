"""The example project's DATABASE_URL parsing."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test import SimpleTestCase

from settings.environment import database_from_url


class DatabaseUrls(SimpleTestCase):
    def test_postgres(self):
        db = database_from_url("postgres://user:p%40ss@127.0.0.1:5433/app?sslmode=disable")
        self.assertEqual(db["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(
            (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]),
            ("app", "user", "p@ss", "127.0.0.1", "5433"),
        )
        self.assertEqual(db["OPTIONS"], {"sslmode": "disable"})

    def test_sqlite_paths(self):
        self.assertEqual(database_from_url("sqlite:////tmp/x.db")["NAME"], "/tmp/x.db")
        self.assertEqual(database_from_url("sqlite:///rel/x.db")["NAME"], "rel/x.db")
        self.assertEqual(database_from_url("sqlite://")["NAME"], ":memory:")

    def test_unsupported_scheme(self):
        with self.assertRaisesMessage(ValueError, "unsupported scheme 'mysql'"):
            database_from_url("mysql://localhost/db")


@pytest.mark.django_db
def test_configured_database_answers():
    """CI's second pass runs on PostgreSQL: make sure the suite really reaches it."""
    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
