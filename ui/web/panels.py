"""What the results, figure, groups and status panels show, from a tab's state and the tools' answers.

Each function returns the values of its panel's outputs in the layout's order; `ui.views` formats them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import gradio as gr

from core.errors import ToolError
from core.types import Hit
from runtime.services import Services
from tools.explain import explain_hit
from tools.overlay import render_overlay
from tools.search import patent_of
from tools.status import ingest_progress
from ui import views
from ui.web.state import MAX_GROUPS, UiState

log = logging.getLogger(__name__)

NO_FIGURE = "Click a tile in the results to open a figure."
NO_GROUPS = "No groups for the current set yet: press **Group the results** or ask *group them*."
OFFLINE_BANNER = ("**Offline mode**{reason}: an offline planner maps your requests to the same search tools, "
                  "step by step in the chat. Plain requests work best, e.g. *only perspective views*.")


# ---------------------------------------------------------------- results


def results(st: UiState, cache: Path) -> tuple:
    """Gallery, set summary and history of the current set (and the tile order, kept in the state)."""
    rs = st.session.current
    hits = rs.hits if rs else []
    items = views.gallery_items(hits, cache)
    st.tiles = [h.figure_id for h in sorted(hits, key=lambda h: h.rank) if Path(h.image_path).is_file()]
    choices = views.history_choices(st.session.sets)
    return (
        gr.update(value=items, selected_index=None),
        views.set_summary(rs),
        gr.update(choices=choices, value=rs.set_id if rs else None),
    )


# ---------------------------------------------------------------- figure detail


def detail_key(st: UiState) -> tuple:
    """What the detail view depends on."""
    cur = st.session.current
    return (st.selected, cur.set_id if cur else None, id(st.explanation), id(st.overlay))


def detail(services: Services, st: UiState, cache: Path) -> tuple:
    """Sheet, bibliographic data, reference signs, overlay, breakdown and explanation of the open figure."""
    st.shown["detail"] = detail_key(st)
    if not st.selected:
        return (None, NO_FIGURE, [], None, [], "", "")
    store = services.store
    sheet = store.sheet(st.selected)
    if sheet is None:
        return (None, f"{st.selected} is no longer in the index.", [], None, [], "", "")
    patent = patent_of(services, sheet.patent_id)
    hit = _selected_hit(st)
    sheet_img = views.figure_picture(store.image_path(sheet), sheet.box, cache, views.READABLE_SIDE, frame=True)
    overlay = _overlay(services, st, cache)
    rows = views.refsign_rows(sheet, patent)
    if hit is None:
        md = (f"### {sheet.figure_id} · sheet {sheet.sheet_no} · FIG {views.figs_text(sheet.figs)}\n\n"
              f"_Not in the current result set, so it has no score here._\n\n> {views._md(sheet.description)}")
        return (sheet_img, md, rows, overlay, [], "", "")
    return (sheet_img, views.figure_markdown(hit, patent, sheet), rows, overlay,
            views.breakdown_rows(hit.breakdown), views.breakdown_markdown(hit), _explain(services, st, hit))


def _selected_hit(st: UiState) -> Hit | None:
    rs = st.session.current
    for h in rs.hits if rs else []:
        if h.figure_id == st.selected:
            return h
    return None


def _overlay(services: Services, st: UiState, cache: Path) -> str | None:
    """The overlay the chat last drew for this figure (e.g. one sign), else all its linked signs."""
    ov = st.overlay
    if ov and ov.get("figure_id") == st.selected and ov.get("path") and Path(ov["path"]).is_file():
        return views.downscaled(ov["path"], cache, views.READABLE_SIDE)
    try:
        path = render_overlay(services, str(st.selected))
    except ToolError as e:
        log.info("no overlay for %s: %s", st.selected, e)
        return None
    return views.downscaled(path, cache, views.READABLE_SIDE)


def _explain(services: Services, st: UiState, hit: Hit) -> str:
    """The explanation of the open hit, plus the last pair/compare explanation from the chat."""
    rs = st.session.current
    try:
        text = views.explanation_markdown(explain_hit(services, rs.hits if rs else [hit], hit.rank).text)
    except ToolError as e:
        text = f"_{views._md(str(e))}_"
    ex = st.explanation
    if ex and ex.get("kind") != "hit" and ex.get("text"):
        text += "\n\n**From the chat**\n\n" + views.explanation_markdown(ex["text"])
    return text


# ---------------------------------------------------------------- clusters


def groups_key(st: UiState) -> tuple:
    """What the groups view depends on."""
    cur = st.session.current
    return (id(st.session.clusters), st.session.clusters_of, cur.set_id if cur else None)


def groups(st: UiState, cache: Path) -> tuple:
    """Summary, map, and one (title, gallery) pair of slots per group (hidden beyond the clusters)."""
    st.shown["groups"] = groups_key(st)
    st.group_tiles = []
    cr, cur = st.session.clusters, st.session.current
    if cr is None or cur is None or st.session.clusters_of != cur.set_id:
        return (NO_GROUPS, None, *(u for _ in range(MAX_GROUPS) for u in _hidden_slot()))
    slots: list[Any] = []
    for i in range(MAX_GROUPS):
        if i < len(cr.clusters):
            c = cr.clusters[i]
            hits = sorted(c.hits, key=lambda h: h.rank)
            st.group_tiles.append([h.figure_id for h in hits if Path(h.image_path).is_file()])
            slots += [gr.update(value=views.cluster_heading(c), visible=True),
                      gr.update(value=views.gallery_items(hits, cache), visible=True)]
        else:
            slots += _hidden_slot()
    notes = "  \n".join(f"_{views._md(n)}_" for n in getattr(cr, "notes", []) or [])
    head = views.clusters_summary(cr) + (f"  \n{notes}" if notes else "")
    return (head, cr.map_png if cr.map_png and Path(cr.map_png).is_file() else None, *slots)


def _hidden_slot() -> list[dict]:
    """A group's title and gallery, hidden (fresh updates: Gradio may change them while sending)."""
    return [gr.update(visible=False), gr.update(value=[], visible=False)]


# ---------------------------------------------------------------- status

SHOW_FINISHED_SECONDS = 600  # a finished ingest's summary stays on the page this long


def ingest_line(services: Services) -> str:
    """How far a background ingest has got, and how much is searchable so far; empty when it is long done."""
    prog = ingest_progress(services)
    if not prog.total or (not prog.running and time.time() - prog.updated > SHOW_FINISHED_SECONDS):
        return ""
    counts = services.store.counts()
    searchable = (f"{counts['patents']} patents ({counts['sheets']} drawing sheets, {counts['figures']} figures) "
                  "are searchable now.")
    if prog.running:
        searchable += " Results cover only the documents indexed so far."
    return f"{prog.line()} {searchable}"


def status(agent: Any, services: Services, probe: bool = False) -> tuple[str, str]:
    """Status markdown, and the offline banner (empty when an LLM answers). `probe` asks the LLM server again."""
    try:
        st = dict(agent.refresh() if probe else agent.status())
    except Exception as e:  # a status probe must never break the page
        st = {"backend": "?", "reachable": False, "reason": f"status unknown ({type(e).__name__}: {e})"}
    md = views.status_markdown(st, services.store.stats())
    banner = ""
    if st.get("backend") == "offline":
        banner = OFFLINE_BANNER.format(reason=f" ({views._md(st['reason'])})" if st.get("reason") else "")
    return md, banner
