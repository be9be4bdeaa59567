"""Cerberus option schemas (flowbber's) converted to JSON Schema, or refused naming the rule.

flowbber components declare ``config.add_option(key, schema={'type': 'string', 'empty': False})``
with Cerberus rules. ``add_option`` hands such schemas here: each rule is converted to the JSON
Schema that accepts exactly the same values (``'empty': False`` becomes ``minLength: 1``), and a
rule with no faithful equivalent is an error naming it. A schema is never loosened silently:
JSON Schema ignores keywords it does not know, so passing a Cerberus schema through unchanged
would accept anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .exceptions import CollectorsError

#: Cerberus type name -> JSON Schema type name.
TYPES = {
    "string": "string",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "boolean": "boolean",
    "list": "array",
    "dict": "object",
}
#: Rules this module converts (``meta`` is documentation and carries no constraint).
CONVERTED = frozenset(
    {
        "type",
        "nullable",
        "empty",
        "min",
        "max",
        "minlength",
        "maxlength",
        "allowed",
        "regex",
        "schema",
        "keysrules",
        "keyschema",
        "valuesrules",
        "valueschema",
        "meta",
    }
)
#: Rules that only Cerberus has: their presence marks a schema as a Cerberus one.
_CERBERUS_ONLY = (CONVERTED - {"type"}) | {
    "required",
    "default",
    "default_setter",
    "coerce",
    "check_with",
    "validator",
    "excludes",
    "dependencies",
    "anyof",
    "allof",
    "noneof",
    "oneof",
    "forbidden",
    "contains",
    "items",
    "allow_unknown",
    "purge_unknown",
    "rename",
    "readonly",
}
_CERBERUS_ONLY_TYPES = frozenset({"list", "dict", "float", "datetime", "date", "set", "binary"})


class CerberusSchemaError(ValueError, CollectorsError):
    """A Cerberus rule with no JSON Schema equivalent; names the rule and where it is."""

    def __init__(self, rule: str, where: str, why: str) -> None:
        self.rule = rule
        super().__init__(
            f"Cerberus rule {rule!r} at {where} cannot be converted to JSON Schema ({why}); "
            "write this option's schema as JSON Schema"
        )


def is_cerberus(schema: Mapping[str, Any]) -> bool:
    """True when ``schema`` uses a rule or a type name that JSON Schema does not have."""
    if set(schema) & (_CERBERUS_ONLY - {"items", "contains"}):
        return True
    types = schema.get("type")
    names = types if isinstance(types, list) else [types]
    return any(isinstance(name, str) and name in _CERBERUS_ONLY_TYPES for name in names)


def to_json_schema(schema: Mapping[str, Any], where: str = "schema") -> dict[str, Any]:
    """The JSON Schema accepting what the Cerberus rule set ``schema`` accepts."""
    unknown = sorted(set(schema) - CONVERTED)
    if unknown:
        raise CerberusSchemaError(unknown[0], where, "not supported")
    result: dict[str, Any] = {}
    types = _types(schema, where)
    if types is not None:
        result["type"] = types[0] if len(types) == 1 else types
    if schema.get("nullable") is True:
        if types is None:
            pass  # no type rule: null is accepted already
        else:
            result["type"] = [*types, "null"]
    kinds = set(types or TYPES.values())
    if schema.get("empty") is False:
        _add_for(result, kinds, string=("minLength", 1), array=("minItems", 1))
        if "object" in kinds:
            result["minProperties"] = 1
    for rule, keyword in (("min", "minimum"), ("max", "maximum")):
        if rule in schema:
            if kinds - {"integer", "number"}:
                raise CerberusSchemaError(
                    rule, where, "it also compares strings and lists; give a numeric type"
                )
            result[keyword] = schema[rule]
    if "minlength" in schema:
        _add_for(result, kinds, string=("minLength", schema["minlength"]),
                 array=("minItems", schema["minlength"]))  # fmt: skip
    if "maxlength" in schema:
        _add_for(result, kinds, string=("maxLength", schema["maxlength"]),
                 array=("maxItems", schema["maxlength"]))  # fmt: skip
    if "allowed" in schema:
        allowed = list(schema["allowed"])
        if kinds == {"array"}:
            result["items"] = {"enum": allowed}
        else:
            result["enum"] = allowed + ([None] if schema.get("nullable") is True else [])
    if "regex" in schema:
        result["pattern"] = f"^(?:{schema['regex']})$"  # Cerberus matches the whole value
    if "schema" in schema:
        _nested(result, schema["schema"], kinds, where)
    for rule in ("keysrules", "keyschema"):
        if rule in schema:
            result["propertyNames"] = to_json_schema(schema[rule], f"{where}.{rule}")
    for rule in ("valuesrules", "valueschema"):
        if rule in schema:
            result["additionalProperties"] = to_json_schema(schema[rule], f"{where}.{rule}")
    return result


def _types(schema: Mapping[str, Any], where: str) -> list[str] | None:
    if "type" not in schema:
        return None
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    converted = []
    for name in names:
        if name not in TYPES:
            raise CerberusSchemaError("type", where, f"type {name!r} has no JSON equivalent")
        converted.append(TYPES[name])
    return list(dict.fromkeys(converted))


def _add_for(result: dict[str, Any], kinds: set[str], **by_kind: tuple[str, Any]) -> None:
    for kind, (keyword, value) in by_kind.items():
        if kind in kinds:
            result[keyword] = value


def _nested(result: dict[str, Any], rules: Any, kinds: set[str], where: str) -> None:
    """``schema``: the rules of a list's items, or of a dict's fields (unknown fields refused)."""
    if kinds == {"array"}:
        result["items"] = to_json_schema(rules, f"{where}.schema")
        return
    if kinds == {"object"} and isinstance(rules, Mapping):
        properties, required = {}, []
        for field, field_rules in rules.items():
            field_rules = dict(field_rules)
            if field_rules.pop("required", False):
                required.append(field)
            properties[field] = to_json_schema(field_rules, f"{where}.schema.{field}")
        result["properties"] = properties
        result["additionalProperties"] = False
        if required:
            result["required"] = required
        return
    raise CerberusSchemaError("schema", where, "give type 'list' or 'dict' with it")
