"""Declared, schema-validated component options (flowbber's ``Configurator``, on JSON Schema).

A component declares its options in ``declare_config(config)``; the values given in a
pipeline are checked before anything runs: unknown keys, missing required options, JSON Schema
violations and custom validators all raise ``OptionError`` naming the component and the option.
Secret values never appear in those errors, in ``repr`` or in ``masked()``.
"""

from __future__ import annotations

import copy
import keyword
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .cerberus import CerberusSchemaError, is_cerberus, to_json_schema
from .exceptions import CollectorsError
from .masking import MASK, Masker

_MISSING: Any = object()


class OptionError(ValueError, CollectorsError):
    """A component option is missing, unknown or invalid; names the component and the option."""

    def __init__(self, component: str, option: str | None, message: str) -> None:
        self.component = component
        self.option = option
        where = f"component {component!r}" + (f", option {option!r}" if option else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Option:
    key: str
    value: Any
    is_secret: bool = False

    def __repr__(self) -> str:
        shown = MASK if self.is_secret else repr(self.value)
        return f"Option({self.key!r}, {shown}{', secret' if self.is_secret else ''})"


@dataclass(frozen=True)
class Declaration:
    key: str
    default: Any
    optional: bool
    schema: dict[str, Any] | None
    secret: bool


class Configurator:
    """Collects a component's option declarations, then validates values against them."""

    def __init__(self) -> None:
        self._declarations: dict[str, Declaration] = {}
        self._validators: list[Callable[[dict[str, Any]], None]] = []

    def add_option(
        self,
        key: str,
        default: Any = None,
        optional: bool = False,
        schema: dict[str, Any] | None = None,
        secret: bool = False,
    ) -> None:
        """Declare an option; ``schema`` is a JSON Schema for its value (None: anything).

        A flowbber (Cerberus) schema is converted, or refused naming the rule it cannot
        convert (``collector_app.cerberus``).
        """
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
            raise ValueError(f"option key {key!r} must be usable as a Python attribute name")
        if key.startswith("_") or hasattr(Config, key):
            raise ValueError(
                f"option key {key!r} is reserved: it would hide Config.{key} "
                f"(reserved: names starting with '_' and {', '.join(_reserved_names())})"
            )
        if key in self._declarations:
            raise ValueError(f"option {key!r} is declared twice")
        if schema is not None and is_cerberus(schema):
            try:
                schema = to_json_schema(schema)
            except CerberusSchemaError as exc:
                raise ValueError(f"option {key!r}: {exc}") from exc
        if schema is not None:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(
                    f"option {key!r} has an invalid JSON Schema: {exc.message}"
                ) from exc
        self._declarations[key] = Declaration(key, default, optional, schema, secret)

    @property
    def declarations(self) -> list[Declaration]:
        """The options declared so far, in order (``collect --list`` shows them)."""
        return list(self._declarations.values())

    def add_validator(self, validator: Callable[[dict[str, Any]], None]) -> None:
        """Add a function that sees (and may change) all validated values before freezing."""
        self._validators.append(validator)

    @property
    def secret_keys(self) -> frozenset[str]:
        return frozenset(key for key, decl in self._declarations.items() if decl.secret)

    def validate(self, component: str, values: Mapping[str, Any] | None) -> Config:
        values = dict(values or {})
        unknown = sorted(set(values) - set(self._declarations))
        if unknown:
            known = ", ".join(sorted(self._declarations)) or "none"
            raise OptionError(component, unknown[0], f"unknown option (declared options: {known})")
        validated: dict[str, Any] = {}
        for key, decl in self._declarations.items():
            value = values.get(key, _MISSING)
            if value is _MISSING:
                if not decl.optional:
                    raise OptionError(component, key, "is required")
                validated[key] = copy.deepcopy(decl.default)
                continue
            if decl.schema is not None:
                self._check_schema(component, decl, decl.schema, value)
            validated[key] = copy.deepcopy(value)
        for validator in self._validators:
            try:
                validator(validated)
            except Exception as exc:
                secrets = (validated.get(key) for key in self.secret_keys)
                message = Masker(secrets).text(str(exc))
                raise OptionError(component, None, f"{type(exc).__name__}: {message}") from None
        return Config(
            {key: Option(key, value, key in self.secret_keys) for key, value in validated.items()}
        )

    @staticmethod
    def _check_schema(
        component: str, decl: Declaration, schema: dict[str, Any], value: Any
    ) -> None:
        errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
        if not errors:
            return
        error = errors[0]
        path = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.path)
        if decl.secret:
            # jsonschema's messages quote the value: say only which rule failed.
            message = f"secret value does not satisfy the schema's {error.validator!r} rule"
        else:
            message = error.message
        raise OptionError(component, decl.key + path, message)


class Config(Mapping[str, Option]):
    """Read-only validated options: ``config.uri.value``, ``config.uri.is_secret``."""

    def __init__(self, options: dict[str, Option]) -> None:
        self._options = options

    def __getattr__(self, key: str) -> Option:
        try:
            return self.__dict__["_options"][key]
        except KeyError:
            raise AttributeError(f"no option {key!r}") from None

    def __getitem__(self, key: str) -> Option:
        return self._options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def values_dict(self) -> dict[str, Any]:
        return {key: option.value for key, option in self._options.items()}

    def masked(self) -> dict[str, Any]:
        """The values, secrets replaced by a mask: safe for logs, journals and the admin."""
        return {
            key: MASK if option.is_secret else copy.deepcopy(option.value)
            for key, option in self._options.items()
        }

    def secrets(self) -> list[str]:
        return [str(o.value) for o in self._options.values() if o.is_secret and o.value]

    def mask(self, text: str) -> str:
        """``text`` with every secret value replaced by the mask (for errors, tracebacks)."""
        return Masker(self.secrets()).text(text)

    def __repr__(self) -> str:
        return f"Config({self.masked()!r})"


def _reserved_names() -> list[str]:
    return sorted(name for name in dir(Config) if not name.startswith("_"))
