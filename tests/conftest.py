import unittest
import uuid

import pytest


@pytest.fixture
def uid() -> str:
    """A fresh session uid, so tests never share state on a shared Redis."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _tmp_path_for_test_cases(request: pytest.FixtureRequest) -> None:
    """``self.tmp_path`` in ``unittest.TestCase`` tests: pytest's ``tmp_path``, so they leave
    nothing in the system temp folder either (``tempfile.mkdtemp`` folders stay forever)."""
    if isinstance(request.instance, unittest.TestCase):
        request.instance.tmp_path = request.getfixturevalue("tmp_path")
