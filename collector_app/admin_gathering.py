"""Admin of gathering checkpoints and gather runs (filled in by the gathering work)."""
