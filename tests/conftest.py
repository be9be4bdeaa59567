import uuid

import pytest


@pytest.fixture
def uid() -> str:
    """A fresh session uid, so tests never share state on a shared Redis."""
    return f"test-{uuid.uuid4().hex}"
