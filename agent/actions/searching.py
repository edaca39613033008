"""New result sets from a search: words, the user's image (or a crop), both, a boolean query, a component
name, a figure to find more like, or any search function registered for a tool (`run_search`)."""

from __future__ import annotations

from typing import Any

from agent.actions.base import ActionBase, describe_filters
from agent.actions.registry import search_function
from agent.events import Outcome
from agent.session import Recipe
from core.defaults import DEFAULT_MORE_LIKE_TEXT_WEIGHT, DEFAULT_TEXT_WEIGHT
from core.errors import ToolError
from core.filters import Filters
from core.request import nothing_to_search, query_of, shortened
from tools.lexical import search_lexical
from tools.refsigns import find_component
from tools.search import CropBox, QueryImage, more_like, search_image, search_text


class SearchActions(ActionBase):
    """Searches that start a new numbered result set."""

    def search(self, query: str = "", use_image: bool | None = None, text_weight: float | None = None,
               k: int | None = None, filters: Filters | None = None) -> Outcome:
        """A new search from words, the user's image (or a crop of it), or both.

        The words are read as a request: the words that ask for a search ("figures showing", "search with
        this drawing", "please") are taken off (`core.request.search_words`), so an image with only such
        words is an image-only search. A long paste is searched by its first part, and the reply says so.
        """
        asked = " ".join((query or "").split())
        query, note = query_of(asked)
        image, crop = self._query_image(use_image)
        k = k or self.k
        f = filters if filters is not None and not filters.is_empty() else None
        if image is None:
            if not query:
                raise ToolError(nothing_to_search(asked))
            hits = search_text(self.services, query, k=k, filters=f, min_score=self.min_score)
            recipe = Recipe(mode="text", text=query, k=k, filters=filters or Filters(), min_score=self.min_score)
            origin = f"text search '{shortened(query)}'"
        else:
            tw = text_weight if text_weight is not None else self.turn_text_weight
            tw = (DEFAULT_TEXT_WEIGHT if tw is None else float(tw)) if query else 0.0
            hits = search_image(self.services, image, crop=crop, text=query or None, text_weight=tw, k=k, filters=f,
                                min_score=self.min_score)
            where = f"your drawing cropped to {tuple(round(c) for c in crop)}" if crop else "your drawing"
            origin = f"search with {where}" + (f" and the words '{shortened(query)}', weight {tw:.2f} on the words"
                                               if query else "")
            recipe = Recipe(mode="image+text" if query else "image", text=query, image=image, crop=crop,
                            text_weight=tw, k=k, filters=filters or Filters(), min_score=self.min_score)
        if f is not None:
            origin += f"; {describe_filters(f)}"
        if not hits:
            cut = f" with a score of at least {self.min_score:.2f}" if self.min_score else ""
            return Outcome(summary=" ".join(p for p in (note, f"No figure in the index matches{cut} ({origin}).") if p))
        return self._push(hits, origin, None, recipe, lead=note)

    def _query_image(self, use_image: bool | None) -> tuple[QueryImage | None, CropBox | None]:
        """The image (and crop) to search with: this turn's, else the conversation's when asked for."""
        if use_image is not False and self.turn_image is not None:
            return self.turn_image, self.turn_crop
        if use_image and self.session.image is not None:
            return self.session.image, self.session.crop
        if use_image:
            raise ToolError("no image has been attached in this conversation: ask the user to attach one, "
                            "or search with words")
        return None, None

    def keyword_search(self, query: str, k: int | None = None) -> Outcome:
        """A boolean lexical search (VisPat style: windmill AND turbine, title:"wind turbine", NOT ...)."""
        k = k or self.k
        hits = search_lexical(self.services, query, k=k)
        if not hits:
            return Outcome(summary=f"No patent text matches the query {query!r}.")
        return self._push(hits, f"keyword search {query}", None, Recipe(mode="lexical", text=query, k=k))

    def find_part_figures(self, name: str, k: int | None = None) -> Outcome:
        """Figures across the index whose OCR-read reference signs are a named component."""
        k = k or self.k
        hits = find_component(self.services, name, k=k)
        if not hits:
            return Outcome(summary=f"No figure has a labelled component like {name!r} (OCR-linked reference signs).")
        return self._push(hits, f"figures showing the component '{name}'", None,
                          Recipe(mode="component", text=name, k=k))

    def run_search(self, tool: str, k: int | None = None, filters: Filters | None = None, **args: Any) -> Outcome:
        """A new set from the search function registered for `tool` (agent.actions.registry), with its arguments.

        The set's recipe names the tool and its arguments, so a refinement can re-run it over the index.
        """
        fn = search_function(tool)
        k = k or self.k
        f = filters if filters is not None and not filters.is_empty() else None
        hits = fn(self.services, **args, k=k, filters=f)
        given = ", ".join(f"{val!r}" for val in args.values())
        origin = f"{tool.replace('_', ' ')}: {given}" + (f"; {describe_filters(f)}" if f is not None else "")
        if not hits:
            return Outcome(summary=f"No figure in the index matches ({origin}).")
        recipe = Recipe(mode="tool", tool=tool, args=dict(args), k=k, filters=filters or Filters())
        return self._push(hits, origin, None, recipe)

    def more_like(self, rank: int | None = None, figure_id: str | None = None,
                  text_weight: float | None = None) -> Outcome:
        """Figures like one result (#rank of the current set) or an indexed figure id."""
        if rank is not None:
            hit = self.session.hit(int(rank))
            fid, label = hit.figure_id, f"#{hit.rank} ({hit.patent_id} FIG {','.join(hit.figs) or '?'})"
        elif figure_id:
            fid = label = self._figure_of(figure_id.strip())
        elif self.session.focus:
            fid = label = self.session.focus
        else:
            raise ToolError("say which result to start from, e.g. #3")
        tw = DEFAULT_MORE_LIKE_TEXT_WEIGHT if text_weight is None else float(text_weight)
        hits = more_like(self.services, fid, k=self.k, text_weight=tw, min_score=self.min_score)
        self.session.focus = fid
        parent = self.session.current.set_id if self.session.current else None
        recipe = Recipe(mode="more_like", figure_id=fid, text_weight=tw, k=self.k, min_score=self.min_score)
        return self._push(hits, f"more like {label}, text weight {tw:.2f}", parent, recipe)

    def _figure_of(self, fid: str) -> str:
        """A figure id as given, or for a patent id its first figure in the current set (else its first sheet)."""
        if self.services.store.sheet(fid) is not None:
            return fid
        pid = self.resolve_patent_id(fid)
        cur = [h for h in (self.session.current.hits if self.session.current else []) if h.patent_id == pid]
        return cur[0].figure_id if cur else self.services.store.sheets(pid)[0].figure_id
