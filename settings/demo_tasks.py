"""The demo's own tasks (settings/demo_session.toml), by dotted path so workers import them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from collector_app.state import task_state
from triggers.task import TaskContext


def compare(context: TaskContext) -> dict[str, Any]:
    """What changed since the last demo: the state keeps the distributions and commits seen."""
    inventory = context.trigger_kwargs["inventory"]
    versions = {row["name"]: row["version"] for row in inventory["packages"]["distributions"]}
    commits = [commit["sha"] for commit in inventory.get("git", {}).get("commits", [])]
    state = task_state(
        context,
        name="demo-compare",  # one state across sessions, not one per session
        make_default=lambda: {"runs": 0, "distributions": {}, "commits": []},
    )
    with state.lock():
        known = state.load()
        seen = known["distributions"]
        summary = {
            "run": known["runs"] + 1,
            "new": sorted(set(versions) - set(seen)),
            "changed": sorted(n for n in versions if n in seen and seen[n] != versions[n]),
            "removed": sorted(set(seen) - set(versions)),
            "unchanged": sum(1 for n in versions if seen.get(n) == versions[n]),
            "new_commits": len([sha for sha in commits if sha not in set(known["commits"])]),
        }
        state.save({"runs": summary["run"], "distributions": versions, "commits": commits})
    context.logger.info("run %d: %d new distributions", summary["run"], len(summary["new"]))
    return summary


def check_licences(context: TaskContext) -> dict[str, Any]:
    """A review that waits for a person: the first attempt of every session fails on purpose,
    and replaying the instance (``triggers_replay``, or the admin) stands for the approval.

    It depends on the session alone (the replay's depth), never on files or earlier runs, so
    it fails the same way on every machine, storage and database, and the replay repairs it.
    """
    rows = context.trigger_kwargs["inventory"]["packages"]["distributions"]
    licences = Counter(row["licence"] for row in rows if row["licence"] != "unknown")
    undeclared = sorted(row["name"] for row in rows if row["licence"] == "unknown")
    summary = {
        "distributions": len(rows),
        "licences": dict(licences.most_common()),
        "undeclared": undeclared,
    }
    if context.depth == 0:
        top = ", ".join(f"{name} {count}" for name, count in licences.most_common(3))
        more = f" and {len(licences) - 3} more" if len(licences) > 3 else ""
        raise LicenceReviewPending(
            f"licence review pending (on purpose: a person approves it by replaying this "
            f"instance): {len(rows)} distributions under {len(licences)} licences ({top}{more}), "
            f"{len(undeclared)} without one"
        )
    context.logger.info("licences approved by the replay %s", context.instance_name)
    return {**summary, "approved_by": context.instance_name}


class LicenceReviewPending(RuntimeError):
    """The licence check's first attempt in a session: a person's approval is missing."""


def report(context: TaskContext) -> dict[str, Any]:
    """One line for people: what the gather shipped, or that there was nothing new."""
    gathered = context.trigger_kwargs["gather"]
    shipped = [t for t in gathered.get("tarballs", []) if t.get("shipped")]
    keys = sorted({key for tarball in shipped for key in tarball.get("keys", [])})
    if shipped:
        line = f"shipped {len(shipped)} tarball(s) with {', '.join(keys)} to the outbox"
    elif gathered.get("status") == "ok":
        line = "nothing new to ship"
    else:
        line = f"gather {gathered.get('status')}: nothing shipped"
    return {"line": line}
