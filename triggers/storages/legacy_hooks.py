"""The storage contract's hook names before they were public, kept working for old backends.

legacy-hook-names: keep (this marker keeps the rename script of issue 15 out of this file)

A backend written against the earlier contract overrides underscore names (``_commit``,
``_fetch_configs``, ...). ``adopt`` runs for every subclass of ``BaseTriggerStorage`` and
``SessionState`` (from ``__init_subclass__``) and makes each pair one method:

* a class that overrides an old name (itself or through a mixin) gets it under the new name
  too, with a ``DeprecationWarning``, so the base's calls of the new name reach it;
* a class that defines a new name gets it under the old name too, so an old-style override
  that calls ``super()._commit(...)`` reaches the next implementation (never itself again).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

#: ``BaseTriggerStorage``: old name -> new name.
STORAGE_HOOKS: Mapping[str, str] = {
    "_acquire_lock": "take_lock",
    "_release_lock": "release_lock",
    "_new_state": "new_state",
    "_new_locked_state": "new_locked_state",
    "_commit": "commit",
    "_abort": "abort",
    "_after_commit": "after_commit",
}

#: ``SessionState``: old name -> new name.
STATE_HOOKS: Mapping[str, str] = {
    f"_fetch_{part}": f"fetch_{part}"
    for part in ("configs", "metadata", "counts", "instances", "unstarted")
}


def adopt(cls: type, hooks: Mapping[str, str], stacklevel: int = 3) -> None:
    """Give ``cls`` each hook under both names (see the module's docstring)."""
    for old, new in hooks.items():
        own = vars(cls)
        if new in own:
            if old not in own:
                setattr(cls, old, own[new])
            continue
        for klass in cls.__mro__:  # the first class that defines either name decides
            defined = vars(klass)
            if new in defined:
                break
            if old in defined:
                warnings.warn(
                    f"{cls.__module__}.{cls.__qualname__}: the storage hook {old}() is now "
                    f"called {new}(); rename the override (the old name is deprecated)",
                    DeprecationWarning,
                    stacklevel=stacklevel,
                )
                setattr(cls, new, defined[old])
                break
