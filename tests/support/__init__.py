"""Modules the tests import: helpers, tasks, components, servers and worker scripts (no tests)."""
