"""Every error patfig raises on purpose. Each message says what was wrong and what to do instead.

They live at the bottom layer so that any layer can catch them without importing the layer that raises
them (the UI catches a `StoreError` without importing the store).
"""

from __future__ import annotations


class PatfigError(Exception):
    """Base of patfig's own errors."""


class ToolError(PatfigError, ValueError):
    """Bad input to a tool. The message names the bad value and what would be valid."""


class StoreError(PatfigError, RuntimeError):
    """The index cannot do what was asked; the message says why."""


class IndexMismatch(StoreError):
    """The index was built with other encoders than the ones in use."""


class ModelUnavailable(PatfigError, RuntimeError):
    """A model cannot be loaded here. The message says what to install or configure."""


class ReadError(PatfigError):
    """A document that cannot be read; the message says what and why (e.g. 'corrupt ZIP: ...')."""


class ClusterUnavailable(PatfigError, RuntimeError):
    """The Ray cluster asked for cannot be reached or used. The message says how to start one."""
