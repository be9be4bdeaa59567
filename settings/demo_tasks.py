"""The demo's own tasks (settings/demo_session.toml), by dotted path so workers import them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from collector_app.state import task_state
from triggers.task import TaskContext


def _demo_dir() -> Path:
    path = Path(settings.VAR_DIR) / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    """Fails the first time on purpose: a review file is written, and a replay then passes."""
    rows = context.trigger_kwargs["inventory"]["packages"]["distributions"]
    unknown = sorted(row["name"] for row in rows if row["licence"] == "unknown")
    review = _demo_dir() / "licence-review.txt"
    if not review.exists():
        review.write_text(
            "Distributions that declare no licence (review them, then replay the instance):\n"
            + "".join(f"  {name}\n" for name in unknown)
        )
        raise RuntimeError(
            f"no licence review on file yet (failing on purpose the first time): {len(unknown)} "
            f"distribution(s) declare no licence, listed in {review}; review, then replay"
        )
    return {"declared": len(rows) - len(unknown), "undeclared": len(unknown), "review": str(review)}


def report(context: TaskContext) -> dict[str, Any]:
    gathered = context.trigger_kwargs["gather"]
    tarballs = gathered.get("tarballs", [])
    return {
        "line": f"gather {gathered.get('status')}: {len(tarballs)} tarball(s) shipped to the outbox"
    }
