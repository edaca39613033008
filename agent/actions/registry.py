"""The re-runnable search functions of the chat tools, by tool name.

A search tool that makes a result set from a plain function of `tools/` needs no action method and no
recipe mode of its own: its row in `agent.lc_tools.TOOLS` names the function (``search=``), `agent.lc_tools`
registers it here, `Actions.run_search` calls it to push a new set, and `ActionBase._run_recipe` calls it
again (``Recipe(mode="tool", tool=name, args=...)``) when a refinement must re-run the search over the index.

A search function has the shape ``fn(services, *, <its own arguments>, k: int, filters: Filters | None)
-> list[Hit]`` and raises `ToolError` on bad input. Its own arguments may not be called ``tool``, ``k``
or ``filters``.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import ToolError
from core.types import Hit

SearchFn = Callable[..., list[Hit]]  # (services, *, **its arguments, k, filters) -> hits

SEARCHES: dict[str, SearchFn] = {}


def register_search(name: str, fn: SearchFn) -> None:
    """Make `fn` the search function of the tool `name` (a later registration of the same name replaces it)."""
    SEARCHES[name] = fn


def search_function(name: str) -> SearchFn:
    """The search function registered for a tool; ToolError naming the known ones if there is none."""
    fn = SEARCHES.get(name)
    if fn is None:
        known = ", ".join(sorted(SEARCHES)) or "none"
        raise ToolError(f"no search tool {name!r}; search tools: {known}")
    return fn
