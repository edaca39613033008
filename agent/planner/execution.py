"""Running a plan: each step through `agent.actions.Actions`, planner-only arguments resolved first, and the reply.

Steps may carry arguments only the planner knows ("_negate", "_patent", "_filters", "granted", rank -1
for "the last one"); they are turned into plain action arguments against the current set and the index
just before the step runs. The first step that fails ends the plan with a reply that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.actions import Actions, run_action
from agent.events import Outcome
from agent.planner.extract import shift_date
from agent.planner.parsing import Step, plan
from agent.session import Session
from core.errors import ToolError
from core.vocab import views_within
from tools.filtering import make_filters

HELP = """I can search patent drawings and refine the results step by step. For example:
- "show me drawings of a gripping unit on an overhead hoist"
- attach an image: "find figures like this one", "like this but with a cooling channel"
- "only the flowcharts", "just perspective views", "only EP documents after 2015", "only autonomous-driving drawings"
- "drop US12448135", "drop #3", "more like #3", "give text more weight", "undo", "go back to set 2"
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
    if "_negate" in args:
        args = _negated(actions, args.pop("_negate"))
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
    n = len(session.current.hits) if session.current else 0
    args["ranks"] = [n if r == -1 else r for r in args.get("ranks", [])]
    return args


_RESOLVERS: dict[str, Callable[[Actions, dict[str, Any]], dict[str, Any]]] = {
    "filter": _resolve_filter,
    "search": _resolve_search,
    "explain": _resolve_explain,
    "more_like": _resolve_last_rank,
    "part": _resolve_last_rank,
    "drop": _resolve_drop,
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


def _negated(actions: Actions, values: dict[str, Any]) -> dict[str, Any]:
    """"no flowcharts" → kinds = the other kinds present in the current set (likewise views and offices).

    "no side views" drops the left and right views too (the views that refine a view, `core.vocab.views_within`).
    """
    rs = actions.session.require_current()
    out: dict[str, Any] = {}
    for key, attr in (("kinds", "kind"), ("views", "view"), ("offices", "office")):
        if key in values:
            present = sorted({getattr(h, attr) for h in rs.hits})
            named = {w for v in values[key] for w in views_within(v)} if key == "views" else set(values[key])
            rest = [v for v in present if v not in named]
            if len(rest) == len(present):
                raise ToolError(f"set {rs.set_id} has no {' or '.join(values[key])} "
                                f"({key} in it: {', '.join(present)})")
            if not rest:
                raise ToolError(f"every figure of set {rs.set_id} is {' or '.join(values[key])}: "
                                "dropping them would leave nothing")
            out[key] = rest
    if "only_patents" in values:
        out["exclude_patents"] = values["only_patents"]
    for key in ("date_from", "date_to", "kind_codes", "has_components", "granted", "applications"):
        if key in values:
            if key == "has_components":
                out[key] = not values[key]
            elif key == "date_from":
                out["date_to"] = shift_date(values[key], -1)
            elif key == "date_to":
                out["date_from"] = shift_date(values[key], 1)
            else:
                raise ToolError("say which kind codes to keep instead, e.g. 'only B2'")
    return out
