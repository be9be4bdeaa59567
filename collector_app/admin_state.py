"""Admin of collector state (filled in by the state work)."""
