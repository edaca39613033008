"""What every action shares: the turn's inputs, the session, pushing a new set, and recomputing a set.

`ActionBase` holds the services, the session and the inputs of one turn (image, crop, text weight, k);
the action groups (searching, refining, result sets, understanding) build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.actions.registry import search_function
from agent.events import Outcome, TurnEvent
from agent.render import counts, listing, next_steps, set_header
from agent.session import Recipe, Session
from core.defaults import DEFAULT_K
from core.errors import ToolError
from core.filters import Facets, Filters
from core.patnum import compact_patent_id
from core.types import Hit, ResultSet
from runtime.services import Services
from tools.cluster import Titler
from tools.filtering import facet_values
from tools.lexical import search_lexical
from tools.narrow import mark_topic, topic_members
from tools.ordering import order_hits
from tools.phrasing import and_list
from tools.refsigns import find_component
from tools.relevance import strength_summary
from tools.search import CropBox, QueryImage, more_like, search_image, search_text

NO_FIGURE = "(none)"  # a figure id that matches nothing: the restriction of a topic no figure is about


@dataclass(frozen=True)
class _FacetsCache:
    """The index's facet values and the index version they were computed at (kept in `Services.extras`)."""

    key: int
    facets: Facets


class ActionBase:
    """The state the actions of one turn share: services, session, and the turn's image, crop, weight and k."""

    def __init__(
        self,
        services: Services,
        session: Session,
        *,
        image: QueryImage | None = None,
        crop: CropBox | None = None,
        text_weight: float | None = None,
        k: int | None = None,
        min_score: float | None = None,
        titler: Titler | None = None,
    ) -> None:
        self.services = services
        self.session = session
        self.turn_image = image
        self.turn_crop: CropBox | None = (crop[0], crop[1], crop[2], crop[3]) if crop else None
        self.turn_text_weight = text_weight
        self.k = k or DEFAULT_K
        self.min_score = min_score or 0.0  # searches of this turn keep only hits scoring at least this
        self.titler = titler
        if image is not None:
            session.image, session.crop = image, self.turn_crop

    def _push(self, hits: list[Hit], origin: str, parent: int | None, recipe: Recipe, lead: str = "") -> Outcome:
        rs = self.session.push(hits, origin, parent, recipe)
        summary = " ".join(p for p in (lead, set_header(rs) + ".", strength_summary(rs.hits)) if p)
        return Outcome(summary=summary, listing=listing(rs.hits), hint=next_steps(rs), artifact=set_artifact(rs),
                       events=[TurnEvent("result_set", rs)])

    def facet_values(self) -> Facets:
        """The index's facet values (tools.filtering.facet_values), cached until the index changes."""
        key = self.services.store.version()
        cached = self.services.extras.get("facets_cache")
        if not isinstance(cached, _FacetsCache) or cached.key != key:
            cached = _FacetsCache(key, facet_values(self.services))
            self.services.extras["facets_cache"] = cached
        return cached.facets

    def resolve_patent_id(self, text: str) -> str:
        """An indexed patent id from what a person typed: "US 12,448,135 B2" → "US12448135"."""
        known = set(self.facet_values()["patent_ids"])
        pid = compact_patent_id(text)
        if pid is not None and pid in known:
            return pid
        in_set = sorted({h.patent_id for h in self.session.current.hits}) if self.session.current else []
        hint = f"patents in the current set: {', '.join(in_set)}" if in_set else \
            f"patents in the index: {', '.join(sorted(known)[:30])}"
        raise ToolError(f"no patent {text!r} in the index; {hint}")

    def recipe_filters(self, recipe: Recipe) -> Filters:
        """All a recipe's constraints as one filter: its facets, the figures dropped one by one, and each
        topic narrowing as the set of the index's figures about that topic (`tools.narrow.topic_members`)."""
        f = recipe.filters
        if recipe.dropped:
            f = f.model_copy(update={"exclude_figures": sorted(set(f.exclude_figures) | set(recipe.dropped))})
        for topic, cpc in recipe.topics:
            members, _ = topic_members(self.services, topic, cpc)
            if f.figure_ids:
                members &= set(f.figure_ids)
            f = f.model_copy(update={"figure_ids": sorted(members) or [NO_FIGURE]})
        return f

    def _run_recipe(self, recipe: Recipe, k: int | None = None, filters: Filters | None = None) -> list[Hit]:
        """Recompute a set from its recipe: the base search over the whole index with all its constraints
        (`filters`: the recipe's, when the caller has already made them with `recipe_filters`)."""
        k = k or recipe.k or self.k
        f = filters if filters is not None else self.recipe_filters(recipe)
        f = f if not f.is_empty() else None
        cut = recipe.min_score
        if recipe.mode == "text":
            hits = search_text(self.services, recipe.text, k=k, filters=f, min_score=cut)
        elif recipe.mode in ("image", "image+text"):
            if recipe.image is None:
                raise ToolError("the query image of this set is no longer available: attach it again")
            hits = search_image(self.services, recipe.image, crop=recipe.crop, text=recipe.text or None,
                                text_weight=recipe.text_weight if recipe.text else 0.0, k=k, filters=f,
                                min_score=cut)
        elif recipe.mode == "more_like":
            hits = more_like(self.services, recipe.figure_id, k=k, text_weight=recipe.text_weight, filters=f,
                             min_score=cut)
        elif recipe.mode == "lexical":
            hits = search_lexical(self.services, recipe.text, k=k, filters=f)
        elif recipe.mode == "component":
            hits = find_component(self.services, recipe.text, k=k, filters=f)
        elif recipe.mode == "tool":
            hits = search_function(recipe.tool)(self.services, **recipe.args, k=k, filters=f)
        else:
            raise ToolError("this set was hand-picked (a group or a selection), so it cannot be recomputed")
        for topic, cpc in recipe.topics:
            hits = mark_topic(self.services, hits, topic, cpc)
        return order_hits(hits, recipe.order_by, recipe.descending) if recipe.order_by else hits


def _either(words: Sequence[str]) -> str:
    return and_list(list(words), limit=len(words), word="or")


def _date(yyyymmdd: int) -> str:
    s = str(yyyymmdd)
    return s[:4] if s[4:] == "0101" else f"{s[:4]}-{s[4:6]}-{s[6:]}"


def describe_filters(f: Filters) -> str:
    """Filters as a noun phrase for a reply: "flowcharts from EP, published in 2018 or later"."""
    kinds = _either([k if k.endswith("s") else k + "s" for k in f.kinds]) if f.kinds else ""
    views = _either(f.views) + " views" if f.views else ""
    head = f"{kinds} in {views}" if kinds and views else kinds or views or "figures"
    others = [_either([k if k.endswith("s") else k + "s" for k in f.exclude_kinds])] if f.exclude_kinds else []
    others += [_either(f.exclude_views) + " views"] if f.exclude_views else []
    if others:
        head += " other than " + " and ".join(others)
    parts = []
    if f.offices:
        parts.append("from " + _either(f.offices))
    if f.kind_codes:
        parts.append("of kind code " + _either(f.kind_codes))
    if f.cpc:
        parts.append("in CPC " + _either(f.cpc))
    if f.date_from and f.date_to:
        parts.append(f"published between {_date(f.date_from)} and {_date(f.date_to)}")
    elif f.date_from:
        parts.append(f"published in {_date(f.date_from)} or later")
    elif f.date_to:
        parts.append(f"published no later than {_date(f.date_to)}")
    if f.include_ids:
        parts.append("of " + _either(f.include_ids))
    if f.exclude_ids:
        parts.append("not of " + _either(f.exclude_ids))
    if f.has_components is not None:
        parts.append("with reference signs read" if f.has_components else "without reference signs read")
    if f.exclude_offices:
        parts.append("not from " + _either(f.exclude_offices))
    if f.exclude_kind_codes:
        parts.append("no kind code " + _either(f.exclude_kind_codes))
    if f.exclude_cpc:
        parts.append("not in CPC " + _either(f.exclude_cpc))
    if f.exclude_figures:
        n = len(f.exclude_figures)
        parts.append(f"without the {n} figure{'s' if n != 1 else ''} you dropped")
    sep = ", " if others else " "  # "figures other than graphs, not from EP"
    return (head + sep + ", ".join(parts)) if parts else head


def set_facets(hits: Sequence[Hit]) -> str:
    """The kinds, views and offices of some hits, with counts."""
    return (f"kinds {counts([h.kind for h in hits])}; views {counts([h.view for h in hits])}; "
            f"offices {counts([h.office for h in hits])}")


def set_artifact(rs: ResultSet) -> dict:
    """The artifact for the UI that carries a whole result set."""
    return {"result_set": rs.model_dump(mode="json")}
