"""Running a plan: each step through `agent.actions.Actions`, planner-only arguments resolved first, and the reply.

Steps may carry arguments only the planner knows ("_rank_patent", "_patent", "_filters", "_fewer", "granted",
rank -1 for "the last one"); they are turned into plain action arguments against the current set and the index
just before the step runs. The first step that fails ends the plan with a reply that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.actions import Actions, run_action
from agent.events import Outcome
from agent.planner.parsing import Step, plan
from agent.session import Session
from core.errors import ToolError
from tools.filtering import make_filters
from tools.ordering import DEFAULT_DESCENDING

HELP = """I can search patent drawings and refine the results step by step. For example:
- "show me drawings of a gripping unit on an overhead hoist"
- attach an image: "find figures like this one", "like this but with a cooling channel"
- "exploded views of a hinge", "flowcharts of a charging method after 2018"
- "only the flowcharts", "just perspective views", "only EP documents after 2015", "only autonomous-driving drawings"
- "anything except EP", "no graphs", "not before 2015", "only flowcharts but no WO"
- "drop US12448135", "drop #3", "more like #3", "give text more weight", "undo", "go back to set 2"
- "sort by date, newest first", "sort by score", "give me 50", "more", "only the top 5"
- "just that patent, #3", "the same applicant as #2", "what is shown in FIG 2 of #4?", "what does #2 show?"
- "cluster these into 4 groups", "what is in group 2", "keep group 2"
- "why is #1 ranked first?", "why is #2 above #5?", "what do these patents have in common?"
- "what is part 104 in this figure?", "what is 12a in #2?"
- boolean keyword search: windmill AND turbine, title:"wind turbine" NOT claims:blade"""


@dataclass
class StepResult:
    """One executed step: what ran, with which arguments, and what came of it."""

    action: str
    args: dict[str, Any]
    outcome: Outcome | None = None
    error: str | None = None


class Planner:
    """Runs `plan()` steps on an `Actions` object and writes the reply from their outcomes."""

    def run(self, actions: Actions, message: str) -> tuple[str, list[StepResult]]:
        """Execute the request. Returns the reply text and the executed steps (with their outcomes or errors)."""
        session = actions.session
        p = plan(message, has_image=actions.turn_image is not None,
                 has_results=session.current is not None)
        if p.reply == "help":
            return HELP, []
        if p.reply:
            return p.reply, []
        results: list[StepResult] = []
        parts: list[str] = []
        for step in p.steps:
            try:
                args = resolve_step(actions, step)
            except ToolError as e:  # from resolving references (ranks, ids)
                results.append(StepResult(step.action, dict(step.args), error=str(e)))
                parts.append(f"I could not do that: {e}")
                break
            outcome, error = run_action(getattr(actions, step.action), **args)
            results.append(StepResult(step.action, args, outcome, error))
            if outcome is None:
                parts.append(f"I could not do that: {error}")
                break
            parts.append(outcome.for_user())
        return "\n\n".join(parts), results


# ---------------------------------------------------------------- planner-only arguments → action arguments


def resolve_step(actions: Actions, step: Step) -> dict[str, Any]:
    """Turn planner-only arguments (negations, patent references, "granted") into action arguments."""
    args = dict(step.args)
    resolver = _RESOLVERS.get(step.action)
    if resolver is not None:
        args = resolver(actions, args)
    if step.action == "filter" and not any(v not in (None, [], "") for v in args.values()):
        raise ToolError("that leaves nothing to filter by")
    return args


def _resolve_filter(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    if "_rank_patent" in args:
        args["only_patents"] = [_patent_of_rank(actions.session, args.pop("_rank_patent"))]
    return _filter_args(actions, args)


def _resolve_search(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    if "_filters" in args:
        values = _filter_args(actions, args.pop("_filters"))
        args["filters"] = make_filters(actions.services, **_to_filter_fields(actions, values))
    return args


def _resolve_explain(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    session = actions.session
    if "_patent" in args:
        args = {"rank": _rank_of(session, args.pop("_patent"))}
    other = args.pop("_other_patent", None)
    if other and args.get("other_rank") is None:
        args["other_rank"] = _rank_of(session, other)
    if args.get("rank") == -1 or args.get("other_rank") == -1:
        n = len(session.require_current().hits)
        args = {k: (n if v == -1 else v) for k, v in args.items()}
    if args.get("other_rank") is None:
        args.pop("other_rank", None)
    return args


def _resolve_last_rank(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    """"the last one" (rank -1) → the rank of the current set's last hit."""
    if args.get("rank") == -1:
        args["rank"] = len(actions.session.require_current().hits)
    return args


def _resolve_drop(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    session = actions.session
    if "_rank_patents" in args:
        return {"patent_ids": [_patent_of_rank(session, r) for r in args.pop("_rank_patents")], "ranks": []}
    n = len(session.current.hits) if session.current else 0
    args["ranks"] = [n if r == -1 else r for r in args.get("ranks", [])]
    return args


def _resolve_resize(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    """"fewer" → half the current set; "10 more" → ten more than it has."""
    n = len(actions.session.require_current().hits)
    if args.pop("_fewer", False):
        args["k"] = max(1, n // 2)
    if "_add" in args:
        args["k"] = n + args.pop("_add")
    return args


def _resolve_patent_ref(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    """"the same applicant" with no rank: the patent of the figure being discussed."""
    args = _resolve_last_rank(actions, args)
    if "_rank_patent" in args:
        args = {"patent_id": _patent_of_rank(actions.session, args.pop("_rank_patent"))}
    return args


def _resolve_order(actions: Actions, args: dict[str, Any]) -> dict[str, Any]:
    """"reverse the order": the current order (the search's own: by score), the other way round."""
    if not args.pop("_reverse", False):
        return args
    recipe = actions.session.recipe()
    by = recipe.order_by or "score"
    now = DEFAULT_DESCENDING[by] if recipe.descending is None else recipe.descending
    return {"by": by, "descending": not now}


def _patent_of_rank(session: Session, rank: int) -> str:
    """The patent of #rank (-1: the last one; 0: the figure being discussed)."""
    rs = session.require_current()
    if rank == 0:
        if session.focus:
            return session.focus.rsplit("-S", 1)[0]
        raise ToolError("which patent do you mean? Name a result, for example 'just that patent, #3'")
    return session.hit(len(rs.hits) if rank == -1 else rank).patent_id


_RESOLVERS: dict[str, Callable[[Actions, dict[str, Any]], dict[str, Any]]] = {
    "filter": _resolve_filter,
    "search": _resolve_search,
    "explain": _resolve_explain,
    "more_like": _resolve_last_rank,
    "part": _resolve_last_rank,
    "figure": _resolve_last_rank,
    "same_applicant": _resolve_patent_ref,
    "applicant": _resolve_patent_ref,
    "order": _resolve_order,
    "drop": _resolve_drop,
    "resize": _resolve_resize,
}


def _rank_of(session: Session, patent_id: str) -> int:
    """The rank of a patent's first hit in the current set."""
    rs = session.require_current()
    for h in rs.hits:
        if h.patent_id == patent_id:
            return h.rank
    raise ToolError(f"{patent_id} is not in set {rs.set_id}; its patents are "
                    f"{', '.join(sorted({h.patent_id for h in rs.hits}))}")


def _filter_args(actions: Actions, values: dict[str, Any]) -> dict[str, Any]:
    """Planner facet values → `Actions.filter` keyword arguments ("granted" → the B kind codes in the index)."""
    out = {k: v for k, v in values.items() if k not in ("granted", "applications")}
    codes = actions.facet_values()["kind_codes"]
    for flag, letter, word in (("granted", "B", "granted patents"), ("applications", "A", "applications")):
        if values.get(flag):
            have = [c for c in codes if c.startswith(letter)]
            if not have:
                raise ToolError(f"the index holds no {word} (kind codes present: {', '.join(codes)})")
            out["kind_codes"] = sorted(set(out.get("kind_codes", [])) | set(have))
    return out


def _to_filter_fields(actions: Actions, values: dict[str, Any]) -> dict[str, Any]:
    """`Actions.filter` arguments → `make_filters` fields (patent ids resolved against the index)."""
    out = dict(values)
    if "only_patents" in out:
        out["include_ids"] = [actions.resolve_patent_id(p) for p in out.pop("only_patents")]
    if "exclude_patents" in out:
        out["exclude_ids"] = [actions.resolve_patent_id(p) for p in out.pop("exclude_patents")]
    return out
