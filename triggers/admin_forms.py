"""Forms behind the session page's actions; JSON fields are validated before anything runs."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from .configuration import MAX_NESTING


class JSONObjectField(forms.CharField):
    """A textarea holding a JSON object (empty means none)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> dict[str, Any] | None:
        text = super().clean(value)
        if not text or not text.strip():
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from exc
        except RecursionError:
            raise forms.ValidationError(
                f"nested too deeply (kwargs may nest at most {MAX_NESTING} levels)"
            ) from None
        if not isinstance(data, dict):
            raise forms.ValidationError(f"must be a JSON object, not {type(data).__name__}")
        return data


class InstancesForm(forms.Form):
    instances = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, choices: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["instances"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(name, name) for name in choices]
        field.initial = list(choices)


class TriggerKwargsField(JSONObjectField):
    """Trigger name -> kwargs: a JSON object whose every value is an object too."""

    def clean(self, value: Any) -> dict[str, Any] | None:
        data = super().clean(value)
        for trigger, kwargs in (data or {}).items():
            if not isinstance(kwargs, dict):
                raise forms.ValidationError(
                    f"the kwargs of trigger {trigger!r} must be a JSON object, not "
                    f"{type(kwargs).__name__} ({json.dumps(kwargs)[:60]})"
                )
        return data


def check_kept_kwargs(instance: Any) -> None:
    """Refuse to carry kwargs that cannot run forward: "empty keeps them" must not keep junk."""
    bad = [t for t, kwargs in instance.kwargs.items() if not isinstance(kwargs, dict)]
    if bad:
        raise ValueError(
            f"{instance.name} has kwargs that are not objects for trigger(s) "
            f"{', '.join(repr(t) for t in bad)}: give replacement kwargs to replay it"
        )


class ReplayForm(InstancesForm):
    kwargs = TriggerKwargsField(
        label="Replacement kwargs",
        help_text='Trigger name -> kwargs, e.g. {"start": {"path": "b.csv"}}; empty keeps them.',
    )


class SkipForm(InstancesForm):
    cascade = forms.BooleanField(
        required=False, help_text="Fire the task's trigger with the result, as if it finished."
    )
    result = JSONObjectField(label="Result", help_text="The kwargs to fire with the cascade.")


class ResolveLogsForm(InstancesForm):
    pass


class AbortForm(InstancesForm):
    reason = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Why, kept on the instance (e.g. 'worker hung on a dead NFS mount').",
    )


class FireForm(forms.Form):
    trigger = forms.CharField(max_length=255)
    kwargs = JSONObjectField(label="Kwargs", help_text="A JSON object; empty means {}.")
