"""The offline planner: requests in plain English → the same actions the LLM tools call, without an LLM.

A small keyword grammar reads each request. It knows the facet vocabulary (figure kinds, views, offices,
dates, kind codes, patent ids), result references (#3, "the third one", "this figure"), and the verbs of
the chat (undo, cluster, explain, compare, drop, more like, give text more weight). Whatever it cannot
place as a facet after "only ..." is a domain phrase, narrowed by CPC classes of the index whose titles
match it and by text similarity over the hits' linked text. Anything else is a new search.

- `vocabulary`: the words and patterns people type (data only);
- `extract`: small parsers for the values in a request (ranks, dates, facets, the leftover topic);
- `parsing`: one rule per kind of request, tried in order by `plan()` (pure: text in, steps out);
- `execution`: `Planner.run()` executes the steps through `agent.actions.Actions` and writes the reply.
"""

from __future__ import annotations

from agent.planner.execution import HELP, Planner, StepResult
from agent.planner.extract import clean_query, leftover_topic, parse_dates, parse_facets, ranks_in
from agent.planner.parsing import Plan, Step, plan

__all__ = ["HELP", "Plan", "Planner", "Step", "StepResult", "clean_query", "leftover_topic", "parse_dates",
           "parse_facets", "plan", "ranks_in"]
