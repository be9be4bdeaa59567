"""Fast deep copies and JSON checks for pipeline bundles, which are JSON-shaped data.

``json_copy(value)`` gives what ``copy.deepcopy(value)`` gives (same types, same order, shared
sub-objects stay shared, cycles stay cycles), but copies plain ``dict``, ``OrderedDict`` and
``list`` objects itself: a container is copied with its C ``copy()`` and only the items that
are containers are replaced, so a dict of a million numbers costs two passes in C instead of a
million ``deepcopy`` calls. Anything else (tuples, sets, subclasses, objects) goes to
``copy.deepcopy`` with the same memo. Keys are shared, not copied: they are hashable, so
immutable in practice (``deepcopy`` returns the same object for str, int, float and bool keys).

``check_json(value)`` fails exactly when ``json.dumps(value)`` would (``TypeError``,
``ValueError``, or ``RecursionError`` when nested too deep) and returns ``None`` otherwise. It
checks the types of a container's keys and items in C passes and hands anything unusual, and
everything past a small budget of containers, to ``json.dumps``; a large flat dict or list is
checked about eight times faster than by encoding it.
"""

from __future__ import annotations

import copy
import json
import sys
from collections import OrderedDict
from functools import partial
from itertools import compress, islice
from operator import is_, not_
from typing import Any

#: Immutable values that ``copy.deepcopy`` returns as they are.
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes, complex})
#: Values ``json.dumps`` always encodes (ints too, unless too long for ``str()``).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_STR = frozenset({str})
_is_int = partial(is_, int)
#: Containers walked here per check; past it, subtrees go to ``json.dumps`` whole.
_BUDGET = 256
#: A container with more nested containers than this goes to ``json.dumps`` whole.
_FEW = 64


def json_copy(value: Any) -> Any:
    """A deep copy, as ``copy.deepcopy`` makes it, much faster for JSON-shaped data."""
    return _copy(value, {})


def _copy(value: Any, memo: dict[int, Any]) -> Any:
    cls = type(value)
    if cls in _ATOMIC:
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    if cls is dict or cls is OrderedDict:
        new = value.copy()
        memo[key] = new
        if not _ATOMIC.issuperset(map(type, value.values())):
            for name, item in value.items():
                if type(item) not in _ATOMIC:
                    new[name] = _copy(item, memo)
        return new
    if cls is list:
        new = value.copy()
        memo[key] = new
        if not _ATOMIC.issuperset(map(type, value)):
            for index, item in enumerate(value):
                if type(item) not in _ATOMIC:
                    new[index] = _copy(item, memo)
        return new
    return copy.deepcopy(value, memo)


def check_json(value: Any) -> None:
    """Raise ``TypeError``/``ValueError`` exactly when ``json.dumps(value)`` would."""
    _Checker().check(value)


class _Checker:
    def __init__(self) -> None:
        self.budget = _BUDGET
        self.ancestors: set[int] = set()

    def check(self, value: Any) -> None:
        cls = type(value)
        if self.budget <= 0:
            json.dumps(value)
            return
        self.budget -= 1
        if cls is dict or cls is OrderedDict:
            if not _STR.issuperset(map(type, value)):
                json.dumps(value)  # int, float, bool or None keys, or wrong ones: let json say
                return
            items = value.values()
        elif cls is list:
            items = value
        else:
            json.dumps(value)  # a scalar, a tuple, a subclass, an unknown object
            return
        types = set(map(type, items))
        if int in types and not _ints_fit(items, types):
            json.dumps(value)
            return
        if types <= _PLAIN:
            return
        key = id(value)
        if key in self.ancestors:
            raise ValueError("Circular reference detected")
        nested = list(
            islice(compress(items, map(not_, map(_PLAIN.__contains__, map(type, items)))), _FEW + 1)
        )
        if len(nested) > _FEW:
            json.dumps(value)  # many nested containers: one pass of the C encoder is faster
            return
        self.ancestors.add(key)
        try:
            for item in nested:
                self.check(item)
        finally:
            self.ancestors.discard(key)


def _ints_fit(items: Any, types: set[type]) -> bool:
    """Whether every int among ``items`` surely has few enough digits for ``str()``."""
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    if not limit:
        return True
    ints = items if types == {int} else compress(items, map(_is_int, map(type, items)))
    largest = max(map(abs, ints), default=0)
    return largest.bit_length() <= 3 * limit  # 3 bits per digit: fewer digits than the limit
