"""Built-in aggregators: ``expression`` (a small calculator) and ``filter`` (keep/drop keys)."""

from __future__ import annotations

import ast
import fnmatch
import operator
from collections.abc import Callable
from typing import Any

from ..components import Aggregator
from ..exceptions import CollectorsError

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
#: The largest integer result, in bits: ``3**3**16`` would hold the GIL for a minute, and no
#: timeout can stop it. 4096 bits is about 1233 decimal digits.
MAX_INT_BITS = 4096
#: The longest string or list ``*`` may build.
MAX_SEQUENCE_LENGTH = 1_000_000
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "sum": sum,
    "min": min,
    "max": max,
    "round": round,
    "abs": abs,
}


def dotted_get(data: Any, path: str) -> Any:
    value = data
    for part in path.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        else:
            value = value[part]
    return value


class ExpressionTooLarge(ValueError, CollectorsError):
    """An operation whose result would be too large to compute in reasonable time or memory."""


def _bits(value: Any) -> int:
    return abs(int(value)).bit_length()


def _check_size(node: ast.BinOp, left: Any, right: Any) -> None:
    """Refuse ``**`` and ``*`` whose result would be huge, before computing it."""
    if isinstance(node.op, ast.Mod) and isinstance(left, str):
        raise ExpressionTooLarge(f"{ast.unparse(node)!r} formats a string with '%': not allowed")
    ints = isinstance(left, int) and isinstance(right, int)
    estimate, limit, unit = 0, MAX_INT_BITS, "bits"
    if isinstance(node.op, ast.Pow) and ints and right > 0 and _bits(left) > 1:
        estimate = (_bits(left) - 1) * right  # at least this many bits
    elif isinstance(node.op, ast.Mult) and ints:
        estimate = _bits(left) + _bits(right) - 1
    elif isinstance(node.op, ast.Mult) and isinstance(left, int) != isinstance(right, int):
        sequence, times = (right, left) if isinstance(left, int) else (left, right)
        if isinstance(sequence, str | list) and isinstance(times, int):
            estimate, limit, unit = len(sequence) * times, MAX_SEQUENCE_LENGTH, "items"
    if estimate > limit:
        raise ExpressionTooLarge(
            f"{ast.unparse(node)!r} would give a result of about {estimate} {unit}; "
            f"the limit is {limit} {unit}"
        )


class _Evaluator:
    """Arithmetic, comparisons, a few functions and ``data.<dotted.path>`` lookups; nothing else."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __call__(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self(node.left), self(node.right)
            _check_size(node, left, right)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return _COMPARE[type(node.ops[0])](self(node.left), self(node.comparators[0]))
        if isinstance(node, ast.List):
            return [self(item) for item in node.elts]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(self(arg) for arg in node.args))
        if isinstance(node, ast.Attribute | ast.Name | ast.Subscript):
            return dotted_get(self.data, self._path(node))
        raise ValueError(f"not allowed in an expression: {ast.unparse(node)!r}")

    def _path(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            if node.id != "data":
                raise ValueError(f"unknown name {node.id!r} (start paths with data.)")
            return ""
        if isinstance(node, ast.Attribute):
            base = self._path(node.value)
            return f"{base}.{node.attr}" if base else node.attr
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            base, key = self._path(node.value), str(node.slice.value)
            return f"{base}.{key}" if base else key
        raise ValueError(f"not allowed in a path: {ast.unparse(node)!r}")


class ExpressionAggregator(Aggregator):
    """Adds ``{key: value}`` under this aggregator's id, each value computed from the bundle."""

    def declare_config(self, config):
        config.add_option(
            "expressions",
            schema={
                "type": "object",
                "additionalProperties": {"type": "string"},
                "minProperties": 1,
            },
        )

        def parseable(values):
            for key, text in values["expressions"].items():
                try:
                    ast.parse(text, mode="eval")
                except SyntaxError as exc:
                    raise ValueError(f"expression {key!r} is not valid: {exc.msg}") from None

        config.add_validator(parseable)

    def accumulate(self, data) -> None:
        evaluate = _Evaluator(data)
        results = {}
        for key, text in self.config.expressions.value.items():
            try:
                results[key] = evaluate(ast.parse(text, mode="eval"))
            except (KeyError, IndexError) as exc:
                raise ValueError(f"expression {key!r}: no value at {exc}") from None
            except ExpressionTooLarge as exc:
                raise ExpressionTooLarge(f"expression {key!r} ({text!r}): {exc}") from None
            except ArithmeticError as exc:  # a float overflow, a division by zero
                raise ValueError(f"expression {key!r} ({text!r}): {exc}") from None
        data[self.id] = results


class FilterAggregator(Aggregator):
    """Keeps the dotted key paths matching ``include`` and drops those matching ``exclude``."""

    def declare_config(self, config):
        patterns = {"type": "array", "items": {"type": "string"}}
        config.add_option("include", default=["*"], optional=True, schema=patterns)
        config.add_option("exclude", default=[], optional=True, schema=patterns)

    def accumulate(self, data) -> None:
        filtered = filter_paths(data, self.config.include.value, self.config.exclude.value)
        data.clear()
        data.update(filtered)


def filter_paths(data: dict, include: list[str], exclude: list[str]) -> dict:
    """The dotted key paths of ``data`` matching an ``include`` pattern and no ``exclude`` one
    (shell patterns); a dict whose path matches ``include`` keeps its kept children."""

    def walk(mapping: dict, prefix: str) -> dict:
        kept = {}
        for key, value in mapping.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if any(fnmatch.fnmatchcase(path, p) for p in exclude):
                continue
            if isinstance(value, dict):
                inner = walk(value, path)
                if inner or any(fnmatch.fnmatchcase(path, p) for p in include):
                    kept[key] = inner
            elif any(fnmatch.fnmatchcase(path, p) for p in include):
                kept[key] = value
        return kept

    return walk(dict(data), "")
