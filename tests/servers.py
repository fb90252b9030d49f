"""Fixtures that start real servers for the tests (filled in by the store work)."""
