"""The offline planner: requests in plain English → the same actions the LLM tools call, without an LLM.

A small keyword grammar reads each request. It knows the facet vocabulary (figure kinds, views, offices,
dates, kind codes, CPC classes, patent ids) and its negations ("anything except EP", "not before 2015"),
result and patent references (#3, "the third one", "this figure", "just that patent, #3", "the same
applicant"), and the verbs of the chat (undo, cluster, order, "give me 50", explain, compare, drop, more
like, give text more weight, "what is shown in FIG 2 of #4?"). Whatever it cannot place as a facet after
"only ..." is a domain phrase, narrowed by CPC classes of the index whose titles match it and by text
similarity over the hits' linked text. A request that names a result but fits no rule gets a reply that
says so and offers the nearest things; anything else is a new search, with the facets it names as filters.

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
