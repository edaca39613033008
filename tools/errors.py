"""The one error type tools raise for bad input: its message tells a person or a model what to do."""

from __future__ import annotations


class ToolError(ValueError):
    """Bad input to a tool. The message names the bad value and what would be valid."""
