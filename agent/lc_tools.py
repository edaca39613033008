"""LangChain tools: thin, typed wrappers over the session-aware actions of one turn.

Each tool has an args_schema with few model-visible arguments and a docstring that is its spec. The
session (current result set, clusters, the attached image) is injected through the `Actions` object the
agent builds for the turn, so the model never copies hits or ids around. Tools answer with
``content_and_artifact``: a short text for the model (document text fenced as data), and the action's
`Outcome` (full hits, clusters, explanations, events) as the artifact for the UI.

Bad input comes back to the model as ``Error: ...`` text saying what is valid, so it can correct itself:
`ToolError` (and index/model problems) become a `ToolException`; argument validation errors are
formatted field by field.

Adding a search tool that makes a result set from a plain function of `tools/`: an args schema and one
row ``ToolSpec(name, Args, description, search=tools.x.find_x)`` in `TOOLS`; the function is registered
for `Actions.run_search` and for re-running the set on refinements (see `agent.actions.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, GetCoreSchemaHandler, ValidationError
from pydantic_core import core_schema

from agent.actions import Actions
from agent.actions.registry import SearchFn, register_search
from agent.events import Outcome
from core.defaults import DEFAULT_MORE_LIKE_TEXT_WEIGHT, DEFAULT_TEXT_WEIGHT
from core.errors import ModelUnavailable, StoreError, ToolError
from core.vocab import KINDS, VIEWS
from tools.search import MAX_K


@dataclass(frozen=True)
class OneOf:
    """Pydantic metadata for a str field limited to `values` (a tuple known only at run time).

    It validates and shows in the JSON schema exactly as ``Literal[...]`` of those values would, so the
    model sees the allowed values and a wrong one gets "Input should be 'a', 'b' or 'c'".
    """

    values: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: object, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.literal_schema(list(self.values))


Kind = Annotated[str, OneOf(KINDS)]  # one of core.vocab.KINDS
View = Annotated[str, OneOf(VIEWS)]  # one of core.vocab.VIEWS


# ---------------------------------------------------------------- argument schemas


class SearchArgs(BaseModel):
    query: str = Field("", description="What the drawing shows, in words, e.g. 'gripping unit on an overhead hoist' "
                                       "(words that only ask for a search, like 'figures showing' or 'this drawing', "
                                       "are dropped). Empty to search by the attached image alone.")
    use_image: bool | None = Field(None, description="Search with the user's image too. Default: yes if the user "
                                                     "attached one in this message.")
    text_weight: float | None = Field(None, ge=0.0, le=1.0, description="With an image and words: weight of the "
                                                                        f"words (0..1). Default {DEFAULT_TEXT_WEIGHT}.")


class KeywordArgs(BaseModel):
    query: str = Field(..., description='Boolean query: windmill AND turbine, title:"wind turbine", '
                                        "description:nacelle NOT claims:blade, hoist*")


class PartNameArgs(BaseModel):
    name: str = Field(..., description="A component name, e.g. 'nacelle' or 'gripping unit'")


WITHIN_SET = ("True only when the user asks to cut down the current list ('among these', 'from this list'); "
              "otherwise the set's search runs again over the whole index with the constraint")


class FilterArgs(BaseModel):
    kinds: list[Kind] | None = Field(None, description="Keep only these figure kinds")
    views: list[View] | None = Field(None, description="Keep only these views")
    cpc: list[str] | None = Field(None, description="CPC prefixes present in the index, e.g. ['B64D'] or ['B64']")
    offices: list[str] | None = Field(None, description="Patent offices: 'US', 'EP', 'WO'")
    kind_codes: list[str] | None = Field(None, description="Kind codes, e.g. ['A1'] or ['B1', 'B2']")
    date_from: str | int | None = Field(None, description="Earliest publication date: '2016', '2016-01-01'")
    date_to: str | int | None = Field(None, description="Latest publication date: '2018-12-31'")
    only_patents: list[str] | None = Field(None, description="Keep only these patent ids, e.g. ['US12448135']")
    exclude_patents: list[str] | None = Field(None, description="Drop these patent ids")
    has_components: bool | None = Field(None, description="True: only figures with OCR-read reference signs")
    within_set: bool = Field(False, description=WITHIN_SET)


class ExcludeArgs(BaseModel):
    kinds: list[Kind] | None = Field(None, description="Figure kinds to leave out, e.g. ['graph']")
    views: list[View] | None = Field(None, description="Views to leave out ('side' also leaves out left and right)")
    offices: list[str] | None = Field(None, description="Offices to leave out: 'US', 'EP', 'WO'")
    kind_codes: list[str] | None = Field(None, description="Kind codes to leave out, e.g. ['A1']")
    cpc: list[str] | None = Field(None, description="CPC prefixes of the index to leave out, e.g. ['B64']")


class OrderArgs(BaseModel):
    by: Literal["date", "score", "patent"] = Field("date", description="Order by publication date, score or patent")
    descending: bool | None = Field(None, description="True: newest / best / last first. Empty: oldest first for "
                                                      "date, best first for score, by number for patent")


class CountArgs(BaseModel):
    k: int | None = Field(None, ge=1, le=MAX_K, description="How many results to show, e.g. 50 for 'give me 50'")
    more: bool = Field(False, description="True for 'more' without a number: twice as many")


class FigureArgs(BaseModel):
    rank: int | None = Field(None, ge=1, description="The result asked about: 4 for #4; empty = the figure being "
                                                     "discussed, else #1")
    fig: str | None = Field(None, description="A FIG number of that result's patent, e.g. '2' or '3A'")
    patent_id: str | None = Field(None, description="Or a patent id, with fig")


class ApplicantArgs(BaseModel):
    rank: int | None = Field(None, ge=1, description="The result whose applicant is meant: 2 for #2")
    patent_id: str | None = Field(None, description="Or a patent id")


class DropArgs(BaseModel):
    patent_ids: list[str] = Field(default_factory=list, description="Patents to remove, e.g. ['US12448135']")
    ranks: list[int] = Field(default_factory=list, description="Single results to remove, by rank, e.g. [3]")
    within_set: bool = Field(False, description=WITHIN_SET)


class TopicArgs(BaseModel):
    topic: str = Field(..., description="The domain in the user's words, e.g. 'autonomous driving'")
    cpc: list[str] | None = Field(None, description="Optional CPC prefixes from the index's list that cover the "
                                                    "topic; leave empty to match the topic to CPC titles automatically")
    within_set: bool = Field(False, description=WITHIN_SET)


class RankArgs(BaseModel):
    rank: int = Field(..., ge=1, description="Rank of a result in the current set: 3 for #3")


class MoreLikeArgs(RankArgs):
    text_weight: float | None = Field(None, ge=0.0, le=1.0, description=(
        f"Weight of the figure's linked text against its drawing. Default {DEFAULT_MORE_LIKE_TEXT_WEIGHT}."))


class WeightArgs(BaseModel):
    text_weight: float = Field(..., ge=0.0, le=1.0, description="New weight of the words against the image (0..1); "
                                                                "'more text weight' = current + 0.2")


class SetArgs(BaseModel):
    set_id: int | None = Field(None, ge=1, description="A result set number; empty = the previous set (undo)")


class ShowArgs(BaseModel):
    set_id: int | None = Field(None, ge=1, description="A result set number; empty = the current set")


class ClusterArgs(BaseModel):
    k: int | None = Field(None, ge=1, le=12, description="Number of groups; empty = chosen automatically")


class GroupArgs(BaseModel):
    group: int = Field(..., ge=1, description="Group number from the last clustering")
    keep: bool = Field(False, description="True: make this group the new current result set")


class ExplainArgs(BaseModel):
    rank: int = Field(..., ge=1, description="Rank of the result to explain: 1 for #1")
    other_rank: int | None = Field(None, ge=1, description="Second rank for 'why is #2 above #5' (here 5)")


class CompareArgs(BaseModel):
    ranks: list[int] = Field(default_factory=list, description="Results to compare, e.g. [1, 3]; empty = the "
                                                               "first patents of the current set")
    patent_ids: list[str] = Field(default_factory=list, description="Or patent ids to compare")


class PartArgs(BaseModel):
    part: str = Field(..., description="A reference numeral like '104' or a part name like 'motor'")
    rank: int | None = Field(None, ge=1, description="The result whose figure is meant; empty = the figure "
                                                     "being discussed, else #1")
    patent_id: str | None = Field(None, description="Or a patent id")


# ---------------------------------------------------------------- error texts


def tool_error_text(error: BaseException) -> str:
    """The content the model gets for a failed call: what was wrong and that it may try again."""
    return f"Error: {error}. Correct the arguments and call the tool again, or ask the user."


def validation_error_text(error: BaseException) -> str:
    """Argument validation errors, one per field, with the value given."""
    if isinstance(error, ValidationError):
        parts = []
        for err in error.errors():
            loc = ".".join(str(x) for x in err.get("loc", ())) or "arguments"
            given = err.get("input")
            got = "" if isinstance(given, dict) else f" (got {given!r})"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}{got}")
        detail = "; ".join(parts)
    else:
        detail = str(error)
    return f"Error: invalid arguments: {detail}. Correct them and call the tool again."


def _wrap(call: Callable[..., Outcome]) -> Callable[..., tuple[str, Outcome]]:
    """Run an action; ToolError and index/model failures become a ToolException the model reads."""

    def run(**kwargs: Any) -> tuple[str, Outcome]:
        try:
            outcome = call(**kwargs)
        except ToolError as e:
            raise ToolException(str(e)) from None
        except (StoreError, ModelUnavailable) as e:
            raise ToolException(f"the index or a model is not usable here: {e}") from None
        return outcome.for_model(), outcome

    return run


def _tool(spec: ToolSpec, actions: Actions) -> BaseTool:
    return StructuredTool.from_function(
        func=_wrap(spec.action(actions)),
        name=spec.name,
        description=spec.description,
        args_schema=spec.schema,
        response_format="content_and_artifact",
        handle_tool_error=tool_error_text,
        handle_validation_error=validation_error_text,
    )


# ---------------------------------------------------------------- the tools


@dataclass(frozen=True)
class ToolSpec:
    """One chat tool: its name, argument schema, description (its spec for the model) and what it runs.

    A tool runs either an action (``call``) or, for a search that makes a new result set, a plain search
    function of `tools/` (``search``): that one is run by `Actions.run_search` with the model's arguments
    (the schema's fields are the function's own arguments) and re-run by refinements (see
    `agent.actions.registry`).
    """

    name: str
    schema: type[BaseModel]
    description: str
    call: Callable[..., Outcome] | None = None  # (actions, **the model's arguments) -> Outcome
    search: SearchFn | None = None  # (services, *, **the model's arguments, k, filters) -> list[Hit]

    def __post_init__(self) -> None:
        if (self.call is None) == (self.search is None):
            raise ValueError(f"tool {self.name!r}: give exactly one of call= or search=")

    def action(self, actions: Actions) -> Callable[..., Outcome]:
        """What the tool runs, bound to one turn's actions."""
        if self.call is not None:
            return partial(self.call, actions)
        return partial(actions.run_search, self.name)


def _search(a: Actions, query: str = "", use_image: bool | None = None, text_weight: float | None = None) -> Outcome:
    return a.search(query=query, use_image=use_image, text_weight=text_weight)


def _filter_results(a: Actions, **values: Any) -> Outcome:
    return a.filter(**{k: v for k, v in values.items() if v is not None})


def _exclude(a: Actions, **values: Any) -> Outcome:
    given = {f"exclude_{k}": v for k, v in values.items() if v}
    if not given:
        raise ToolError("name something to leave out: kinds, views, offices, kind_codes or cpc")
    return a.filter(**given)


def _go_back(a: Actions, set_id: int | None = None) -> Outcome:
    return a.undo() if set_id is None else a.goto(set_id)


def _compare(a: Actions, ranks: list[int] | None = None, patent_ids: list[str] | None = None) -> Outcome:
    return a.compare(ranks=ranks or [], patent_ids=patent_ids or [])


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("search_figures", SearchArgs,
             "Start a NEW search for patent figures from words, the user's attached image (or its crop), or "
             "both. Makes a new numbered result set. Use for a new topic, not to refine the current results.",
             _search),
    ToolSpec("keyword_search", KeywordArgs,
             "Boolean keyword search over patent texts (title, abstract, claims, description, figure text), "
             "VisPat style. Returns the figures of the matching patents as a new result set.",
             lambda a, query: a.keyword_search(query)),
    ToolSpec("find_part_figures", PartNameArgs,
             "Find figures across the index whose OCR-read reference signs name a component, e.g. 'nacelle'. "
             "New result set.",
             lambda a, name: a.find_part_figures(name)),
    ToolSpec("filter_results", FilterArgs,
             "Refine the CURRENT result set by facets: figure kinds, views, CPC prefixes, offices, kind codes, "
             "publication dates, patents to keep or drop, figures with reference signs. The set's search runs "
             "again over the whole index with the filters. Makes a new set.",
             _filter_results),
    ToolSpec("exclude_from_results", ExcludeArgs,
             "Refine the CURRENT result set by leaving out figure kinds, views, offices, kind codes or CPC "
             "prefixes ('anything except EP', 'no graphs'). Makes a new set.",
             _exclude),
    ToolSpec("drop_results", DropArgs,
             "Remove patents (by id) or single results (by rank) from the current set; the search runs again "
             "without them. Makes a new set.",
             lambda a, patent_ids=(), ranks=(), within_set=False: a.drop(patent_ids=list(patent_ids),
                                                                         ranks=list(ranks), within_set=within_set)),
    ToolSpec("narrow_to_topic", TopicArgs,
             "Restrict the current results to a domain ('autonomous driving', 'battery charging'): figures in "
             "matching CPC classes of the index, or whose linked text is close to the topic. The search runs "
             "again over the index's figures about it. Makes a new set.",
             lambda a, topic, cpc=None, within_set=False: a.narrow(topic=topic, cpc=cpc, within_set=within_set)),
    ToolSpec("more_like", MoreLikeArgs,
             "New search for figures like one result of the current set ('more like #3').",
             lambda a, rank, text_weight=None: a.more_like(rank=rank, text_weight=text_weight)),
    ToolSpec("set_text_weight", WeightArgs,
             "Re-run the current set's image+text (or more-like) search with another weight on the words "
             "('give text more weight'). Makes a new set.",
             lambda a, text_weight: a.reweight(text_weight=text_weight)),
    ToolSpec("order_results", OrderArgs,
             "Put the current set in another order: by publication date (oldest or newest first), by score, or "
             "by patent. Makes a new set with ranks renumbered.",
             lambda a, by="date", descending=None: a.order(by=by, descending=descending)),
    ToolSpec("set_result_count", CountArgs,
             "Run the current set's search again for another number of results ('give me 50', 'more', 'only "
             "the top 5'). Makes a new set.",
             lambda a, k=None, more=False: a.resize(k=k, more=more)),
    ToolSpec("patent_applicant", ApplicantArgs,
             "Who applied for the patent of one result or a patent id, as its document names them. No new set.",
             lambda a, rank=None, patent_id=None: a.applicant(rank=rank, patent_id=patent_id)),
    ToolSpec("same_applicant", ApplicantArgs,
             "Keep the results from patents of the same applicant as one result or patent. Makes a new set.",
             lambda a, rank=None, patent_id=None: a.same_applicant(rank=rank, patent_id=patent_id)),
    ToolSpec("go_back", SetArgs,
             "Undo: make the previous result set current again, or a given earlier set ('back to set 2').",
             _go_back),
    ToolSpec("show_results", ShowArgs,
             "List a result set (default: the current one) in words, with ranks, patents, FIG numbers and "
             "scores: when the user asks for a list ('list them'); the gallery already shows the figures.",
             lambda a, set_id=None: a.show(set_id=set_id)),
    ToolSpec("cluster_results", ClusterArgs,
             "Group the current results into k clusters of similar drawings, each with a title and keywords.",
             lambda a, k=None: a.cluster(k=k)),
    ToolSpec("show_group", GroupArgs,
             "What is in one group of the last clustering; with keep=true, make it the current set.",
             lambda a, group, keep=False: a.group(group=group, keep=keep)),
    ToolSpec("explain_ranking", ExplainArgs,
             "Why a result has its score and rank ('why is #1 first?'), or why one result ranks above another "
             "('why is #2 above #5?'): per-modality scores, weights, matched words and components.",
             lambda a, rank, other_rank=None: a.explain(rank=rank, other_rank=other_rank)),
    ToolSpec("compare_results", CompareArgs,
             "What the patents of some results have in common and what differentiates them: components, CPC "
             "classes, figure kinds, key terms.",
             _compare),
    ToolSpec("lookup_part", PartArgs,
             "What a reference sign is ('what is part 104 in this figure?'): its name, the sentences that "
             "mention it, the sheets where OCR read it, and an overlay image with it boxed.",
             lambda a, part, rank=None, patent_id=None: a.part(sign=part, rank=rank, patent_id=patent_id)),
    ToolSpec("describe_figure", FigureArgs,
             "What one result, or one FIG of its patent, shows ('what is shown in FIG 2 of #4?', 'what does #2 "
             "show?'): its description, components and linked sentences. No new search.",
             lambda a, rank=None, fig=None, patent_id=None: a.figure(rank=rank, fig=fig, patent_id=patent_id)),
)
TOOL_NAMES = tuple(t.name for t in TOOLS)


def register_searches(specs: Iterable[ToolSpec]) -> None:
    """Register the search functions of these tool rows (those with ``search=``) for `Actions.run_search`."""
    for spec in specs:
        if spec.search is not None:
            register_search(spec.name, spec.search)


register_searches(TOOLS)


def make_tools(actions: Actions) -> list[BaseTool]:
    """The chat tools bound to one turn's actions (session state injected through `actions`)."""
    return [_tool(spec, actions) for spec in TOOLS]
