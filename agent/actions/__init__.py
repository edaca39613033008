"""The session-aware actions behind every tool: search, refine, undo, cluster, explain, look up parts.

Both the LLM tools (`agent.lc_tools`) and the offline planner (`agent.planner`) call these methods, so a
request means the same thing in both modes. Each method reads and refines the session's current result set
(the model never copies hits or ids around), calls the plain tool functions in `tools/`, and returns an
`Outcome`: our own words and numbers, document text kept apart as data, and events for the UI.

The actions are grouped by concern: `searching` (new sets), `refining` (new sets from the current one),
`reshaping` (order, size, same applicant), `sets` (undo, go to, show, cluster, groups) and `understanding`
(explain, compare, parts, what a figure shows); `base` holds what they share.

Bad input raises `ToolError` with a message that says what is valid; `run_action` turns that, and any
failure of the index or a model, into an error text a model can act on or a person can read — never a
stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from agent.actions.refining import RefineActions
from agent.actions.reshaping import ReshapeActions
from agent.actions.searching import SearchActions
from agent.actions.sets import SetActions
from agent.actions.understanding import UnderstandActions
from agent.events import Outcome
from core.errors import ModelUnavailable, StoreError, ToolError

__all__ = ["Actions", "run_action"]

log = logging.getLogger(__name__)


class Actions(SearchActions, ReshapeActions, RefineActions, SetActions, UnderstandActions):
    """The tool actions of one turn, bound to one session and the turn's inputs (image, crop, weight, k)."""


def run_action(fn: Callable[..., Outcome], /, **kwargs: Any) -> tuple[Outcome | None, str | None]:
    """Call an action; return (outcome, None) or (None, an error message fit for a model or a person).

    ToolError and index/model problems give their own message; anything else is logged with its stack
    trace and reported as a short, generic failure.
    """
    try:
        return fn(**kwargs), None
    except ToolError as e:
        return None, str(e)
    except (StoreError, ModelUnavailable) as e:
        return None, f"the index or a model is not usable here: {e}"
    except Exception as e:  # never let a tool crash the turn or show a trace
        log.exception("action %s failed", getattr(fn, "__name__", fn))
        return None, f"the {getattr(fn, '__name__', 'tool')} step failed internally ({type(e).__name__}); " \
                     "try a different request"
