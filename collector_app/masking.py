"""The one masker of collector_app: secrets out of every text that is stored or printed.

A secret may show up in a message in another form than it was given: a token read from a
mounted file ends in a newline and an error quotes it stripped (``'Bearer tok\\n'``), a URL
password is percent-encoded, ``repr`` escapes control characters. ``Masker`` replaces each
secret in all those forms, longest first, so journals, run rows, logs and command output never
show one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

MASK = "********"


def _forms(secret: str) -> set[str]:
    """``secret`` as given, stripped, escaped as ``repr`` shows it and percent-encoded."""
    forms = set()
    for value in {secret, secret.strip()}:
        if not value:
            continue
        forms.add(value)
        forms.add(value.encode("unicode_escape").decode("ascii"))
        forms.add(quote(value, safe=""))
    return forms


class Masker:
    """Replaces every given secret, in text and inside nested data (keys and values)."""

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret is not None and secret != "":
                forms |= _forms(str(secret))
        self.secrets: list[str] = sorted(forms, key=len, reverse=True)

    @classmethod
    def for_pipeline(cls, pipeline: Any) -> Masker:
        """Every secret option value of a pipeline's components."""
        return cls(
            secret
            for components in pipeline.components.values()
            for component in components
            for secret in component.config.secrets()
        )

    def __add__(self, other: Masker) -> Masker:
        return Masker([*self.secrets, *other.secrets])

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, text: str) -> str:
        return self.text(text)

    def text(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``MASK``."""
        if not text:
            return text
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def value(self, value: Any) -> Any:
        """``value`` with secrets masked inside its strings (JSON structure stays valid)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.value(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
