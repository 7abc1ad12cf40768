"""Registered by its family file when implemented (issue 4)."""
