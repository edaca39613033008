"""The web app: the chat beside the figures, with crop queries, result-set history, facet filters,
clusters, figure detail with reference-sign overlays and score explanations, export and status.

`build_ui(services, agent)` returns the `gr.Blocks`; `launch(...)` serves it. Callbacks only call the
agent and the tools and hand their results to `ui.views` for display: no search logic here. Each
browser tab has its own `UiState` (and so its own agent `Session`) in a `gr.State`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from agent.session import Session
from core.errors import ToolError
from core.types import Hit
from runtime.services import Services
from ui import views

log = logging.getLogger(__name__)

IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"]
MAX_GROUPS = 8  # cluster rows shown
WARNING_SECONDS = 8
HINT = (
    "### patfig — find patent drawings by sketch, figure, words, or all of them\n"
    "**Ask** in the chat (e.g. *a perspective view of a propeller*), or **upload a drawing** below, click two "
    "corners on it to search for just that region, and press **Search**. Then refine in plain words: "
    "*only perspective views*, *more like #3*, *group them*, *why is #2 above #5?*, *undo*."
)
CSS = """
#hint { padding: 4px 8px; }
#offline-banner { background: #fff4e5; border-left: 4px solid #f59e0b; padding: 4px 10px; }
#query-msg p { font-weight: 600; }
.cluster-row .grid-container { grid-auto-flow: column; grid-template-columns: none;
  grid-auto-columns: 170px; grid-template-rows: 200px; overflow-x: auto; }
#gallery .caption-label, .cluster-row .caption-label { white-space: normal; font-size: 12px; line-height: 1.25; }
#chat img { max-height: 200px; width: auto; }
#detail-image img, #overlay-image img { object-fit: contain; }
"""
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                       font_mono=["ui-monospace", "Consolas", "monospace"])  # no web fonts: works offline
RESULT_EXAMPLES = ("only perspective views", "group them", "undo")
GROUP_REQUEST = "group the results"
GENERIC_LABEL_WORDS = frozenset(
    "detail view portion part section side end surface upper lower outer inner front rear top bottom mixture "
    "embodiment region area layer member element unit device apparatus system first second".split()
)
REGION_SELECTED = "Region selected. Press Search (or clear the crop to search the whole drawing)."


@dataclass
class UiState:
    """What one browser tab holds: its agent session, chat, query drawing and selection."""

    session: Session = field(default_factory=Session)
    chat: list[dict[str, Any]] = field(default_factory=list)
    image: str | None = None  # the original query drawing (searched at full size)
    image_size: tuple[int, int] | None = None
    corner: tuple[float, float] | None = None  # first corner clicked, original pixels
    crop: views.CropBox | None = None  # in original pixels
    fresh: bool = False  # the drawing or its crop changed since it was last sent to the agent
    preview_scale: float = 1.0
    tiles: list[str] = field(default_factory=list)  # figure ids in gallery order
    group_tiles: list[list[str]] = field(default_factory=list)
    selected: str | None = None  # figure id open in the detail view
    notices: list[str] = field(default_factory=list)  # notices already shown in the chat
    explanation: dict[str, Any] | None = None  # the last explanation from the chat: figure_id, kind, text
    overlay: dict[str, Any] | None = None  # the last overlay from the chat: figure_id, path, numerals
    shown: dict[str, tuple] = field(default_factory=dict)  # panel → what it shows now (to skip re-rendering)


def _warn(message: str) -> str:
    """A warning toast that goes away by itself; returns the message for the panel it concerns (kept there)."""
    gr.Warning(message, duration=WARNING_SECONDS)
    return f"⚠ {message}"


def _state(state: UiState | None) -> UiState:
    return state if isinstance(state, UiState) else UiState()


class Callbacks:
    """Every event handler of the app, as plain methods over (UiState, widget values) for testing."""

    def __init__(self, services: Services, agent: Any, cache_dir: Path) -> None:
        self.services = services
        self.agent = agent
        self.cache = cache_dir
        self.cache.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ query drawing and crop

    def upload(self, file: str | None, state: UiState | None) -> tuple:
        """A drawing was uploaded: check it, keep the original for search, show a downscaled preview."""
        st = _state(state)
        st.image, st.image_size, st.corner, st.crop = None, None, None, None
        if not file:
            return st, None, *_crop_values(None), ""
        from tools.search import load_image

        try:
            img = load_image(file)
        except ToolError as e:
            msg = _warn(f"Cannot use this upload: {e}. Upload a PNG, JPEG or TIFF drawing.")
            return st, None, *_crop_values(None), msg
        st.image, st.image_size, st.fresh = str(file), img.size, True
        preview = self._preview(st, img)
        return st, preview, *_crop_values(None), ""

    def use_sheet(self, state: UiState | None) -> tuple:
        """"Search with this region": make the open figure's stored sheet the query drawing."""
        st = _state(state)
        sheet = self.services.store.sheet(st.selected) if st.selected else None
        if sheet is None:
            msg = _warn("Open a figure first (click a tile in the results).")
            return st, gr.skip(), *_crop_values(st.crop), msg
        path = self.services.store.image_path(sheet)
        with Image.open(path) as img:
            img.load()
            st.image, st.image_size, st.corner, st.crop, st.fresh = str(path), img.size, None, None, True
            preview = self._preview(st, img)
        gr.Info(f"{sheet.figure_id} is now the query drawing: click two corners on it, then Search.")
        return st, preview, *_crop_values(None), (
            f"Query drawing: {sheet.figure_id}. Click two corners of the region to search for, then press Search.")

    def click_preview(self, state: UiState | None, evt: gr.SelectData) -> tuple:
        """A click on the preview: the first sets a corner, the second completes the crop box."""
        st = _state(state)
        if st.image is None or not isinstance(evt.index, list | tuple) or len(evt.index) < 2:
            return st, gr.skip(), *_crop_values(st.crop), ""
        x, y = self._to_original(st, float(evt.index[0]), float(evt.index[1]))
        if st.corner is None:
            st.corner, st.crop = (x, y), None
            msg = "First corner set: click the opposite corner."
        else:
            (cx, cy), st.corner = st.corner, None
            st.crop, st.fresh = views.normalise_crop((cx, cy, x, y)), True
            problem = _crop_problem(st)
            msg = f"⚠ {problem}" if problem else REGION_SELECTED
        return st, self._redraw(st), *_crop_values(st.crop), msg

    def set_crop(self, state: UiState | None, x0: float, y0: float, x1: float, y1: float) -> tuple:
        """The numeric crop fields were edited."""
        st = _state(state)
        st.corner = None
        st.crop, st.fresh = views.normalise_crop((x0, y0, x1, y1)), True
        if st.image is None:
            return st, gr.skip(), ("⚠ Upload a drawing first." if st.crop else "")
        problem = _crop_problem(st)
        return st, self._redraw(st), f"⚠ {problem}" if problem else ""

    def clear_crop(self, state: UiState | None) -> tuple:
        st = _state(state)
        st.corner, st.crop, st.fresh = None, None, st.image is not None
        return st, self._redraw(st) if st.image else None, *_crop_values(None), ""

    def _preview(self, st: UiState, img: Image.Image) -> str:
        path, st.preview_scale = views.crop_preview(img, self.cache, f"{st.image}|{time.time_ns()}", st.crop, st.corner)
        return path

    def _redraw(self, st: UiState) -> str | None:
        if st.image is None:
            return None
        with Image.open(st.image) as img:
            img.load()
            path, st.preview_scale = views.crop_preview(img, self.cache, st.image, st.crop, st.corner)
        return path

    def _to_original(self, st: UiState, x: float, y: float) -> tuple[float, float]:
        w, h = st.image_size or (0, 0)
        return (min(max(0.0, round(x * st.preview_scale)), w), min(max(0.0, round(y * st.preview_scale)), h))

    # ------------------------------------------------------------ chat turns

    def send(self, state: UiState | None, message: str, text_weight: float, k: float) -> Iterator[tuple]:
        """One chat turn: the message (and the query drawing, if any) to the agent, its events streamed."""
        st = _state(state)
        text = (message or "").strip()
        if not text and st.image is None:
            yield self._turn_outputs(st, message, _warn("Type a question or upload a drawing first."), results=False)
            return
        problem = _crop_problem(st) if st.crop else ""
        if st.corner is not None and st.crop is None:
            problem = "Only one corner is set: click the opposite corner, or clear the crop."
        if problem:
            yield self._turn_outputs(st, message, _warn(problem), results=False)
            return
        attach = st.image is not None and (st.fresh or not text)  # a drawing is sent once, or when asked alone
        image, crop = (st.image, st.crop) if attach else (None, None)
        st.fresh = False
        shown = text
        if image is not None and not text:  # the agent gets no words: a pure drawing (or region) search
            shown = "Search with the selected region of my drawing" if crop else "Search with my drawing"
        st.chat.append({"role": "user", "content": shown})
        if image is not None:
            st.chat.append({"role": "user", "content": {"path": self._query_thumb(st), "mime_type": "image/png"}})
        yield from self._stream(st, text, image=image, crop=crop, text_weight=float(text_weight), k=int(k))

    def ask(self, state: UiState | None, text: str) -> Iterator[tuple]:
        """A chat turn from a button ("more like this", examples): the text only, no query drawing."""
        st = _state(state)
        st.chat.append({"role": "user", "content": text})
        yield from self._stream(st, text)

    def more_like_this(self, state: UiState | None) -> Iterator[tuple]:
        st = _state(state)
        if not st.selected:
            yield self._turn_outputs(st, gr.skip(), _warn("Open a figure first (click a tile in the results)."),
                                     results=False)
            return
        yield from self.ask(st, f"more like {st.selected}")

    def _stream(self, st: UiState, text: str, **kwargs: Any) -> Iterator[tuple]:
        reply_at: int | None = None
        tab: str | None = None
        changed = False
        yield self._turn_outputs(st, "", "", results=False)
        try:
            for ev in self.agent.stream(st.session, text, **kwargs):
                kind, payload = ev.kind, ev.payload
                if kind == "notice":
                    if str(payload) not in st.notices:  # the offline notice once per conversation, not per turn
                        st.notices.append(str(payload))
                        st.chat.append(views.notice_message(str(payload)))
                elif kind == "tool_call":
                    st.chat.append(views.tool_step(payload.name, dict(payload.args or {}), payload.summary or "",
                                                   payload.ok, payload.error))
                elif kind in ("reply_delta", "reply"):
                    if reply_at is None:
                        st.chat.append({"role": "assistant", "content": ""})
                        reply_at = len(st.chat) - 1
                    old = st.chat[reply_at]["content"]
                    st.chat[reply_at]["content"] = old + str(payload) if kind == "reply_delta" else str(payload)
                    if kind == "reply":
                        reply_at = None
                elif kind == "explanation":
                    ex = dict(payload) if isinstance(payload, dict) else {"text": str(payload)}
                    fid = st.session.focus if ex.get("kind", "hit") == "hit" else None
                    st.explanation = {"figure_id": fid, "kind": ex.get("kind", "hit"), "text": ex.get("text", "")}
                    st.selected = fid or st.selected
                    tab = "figure"
                elif kind == "overlay" and isinstance(payload, dict):
                    st.overlay = {"figure_id": payload.get("figure_id"), "path": str(payload.get("path", "")),
                                  "numerals": payload.get("numerals") or []}
                    st.selected = payload.get("figure_id") or st.selected
                    tab = "figure"
                elif kind == "result_set":
                    tab = "results"
                elif kind == "clusters":
                    tab = "groups"
                shown = kind in ("result_set", "clusters", "explanation", "overlay")
                changed = changed or kind == "result_set"
                yield self._turn_outputs(st, "", "", results=kind == "result_set", tab=tab if shown else None)
        except ToolError as e:
            st.chat.append({"role": "assistant", "content": f"⚠ {views._md(str(e))}"})
            yield self._turn_outputs(st, "", _warn(str(e)), results=False)
            return
        except Exception as e:  # the app must go on; the message says what failed
            log.exception("chat turn failed")
            msg = f"Something went wrong in this turn ({type(e).__name__}: {e}). The session is kept; try again."
            st.chat.append({"role": "assistant", "content": f"⚠ {views._md(msg)}"})
            yield self._turn_outputs(st, "", _warn(msg), results=False)
            return
        yield self._turn_outputs(st, "", "", results=changed, tab=tab)

    def _query_thumb(self, st: UiState) -> str:
        assert st.image is not None
        from tools.search import load_image

        img = load_image(st.image, st.crop)
        img.thumbnail((360, 360))
        out = self.cache / f"asked-{time.time_ns()}.png"
        img.save(out)
        return str(out)

    def _turn_outputs(self, st: UiState, message: Any, query_msg: str, *, results: bool,
                      tab: str | None = None) -> tuple:
        """(state, chatbot, message box, query message, tabs) + the results outputs (or skips)."""
        head = (st, list(st.chat), message, query_msg, gr.Tabs(selected=tab) if tab else gr.skip())
        if not results:
            return head + tuple(gr.skip() for _ in range(N_RESULT_OUTPUTS))
        return head + self._results(st)

    # ------------------------------------------------------------ results, history, filters, export

    def _results(self, st: UiState) -> tuple:
        """Gallery, set summary and history of the current set."""
        rs = st.session.current
        hits = rs.hits if rs else []
        items = views.gallery_items(hits, self.cache)
        st.tiles = [h.figure_id for h in sorted(hits, key=lambda h: h.rank) if Path(h.image_path).is_file()]
        choices = views.history_choices(st.session.sets)
        return (
            gr.update(value=items, selected_index=None),
            views.set_summary(rs),
            gr.update(choices=choices, value=rs.set_id if rs else None),
        )

    def step_back(self, state: UiState | None) -> tuple:
        st = _state(state)
        rs = st.session.undo()
        if rs is None:
            gr.Info("There is no earlier result set to step back to.")
        else:
            st.chat.append(views.notice_message(f"Stepped back to result set #{rs.set_id}: {rs.origin}"))
        return (st, list(st.chat), *self._results(st))

    def goto_set(self, state: UiState | None, set_id: int | None) -> tuple:
        st = _state(state)
        if set_id:
            try:
                rs = st.session.goto(int(set_id))
                st.chat.append(views.notice_message(f"Showing result set #{rs.set_id} again: {rs.origin}"))
            except ToolError as e:
                _warn(str(e))
        return (st, list(st.chat), *self._results(st))

    def apply_filters(self, state: UiState | None, kinds: list[str], views_: list[str], cpc: list[str],
                      offices: list[str], date_from: str, date_to: str) -> tuple:
        """Facet filters on the current set, through the agent so the conversation knows about them."""
        st = _state(state)
        from tools.filtering import make_filters

        try:
            st.session.require_current()
            filters = make_filters(self.services, kinds=kinds, views=views_, cpc=cpc, offices=offices,
                                   date_from=date_from or None, date_to=date_to or None)
            if filters.is_empty():
                raise ToolError("choose at least one filter value (kind, view, CPC, office or a date)")
            before = st.session.current
            rs = self.agent.apply_filters(st.session, filters)
        except ToolError as e:
            return (st, list(st.chat), _warn(str(e)), *self._results(st))
        what = ", ".join(f"{k}={v}" for k, v in filters.describe().items())
        st.chat.append(views.tool_step("filter_results", filters.describe(),
                                       f"Filtered set #{before.set_id if before else '?'} → #{rs.set_id}: "
                                       f"{len(rs.hits)} of {len(before.hits) if before else '?'} figures kept ({what})",
                                       True, None))
        return (st, list(st.chat), "", *self._results(st))

    def export(self, state: UiState | None, fmt: str) -> tuple[str | None, str]:
        """The current set as a CSV or JSON file for a search report."""
        st = _state(state)
        rs = st.session.current
        if rs is None or not rs.hits:
            return None, _warn("Nothing to export yet: search first.")
        from tools.export import hits_to_csv, hits_to_json

        data = hits_to_csv(rs.hits) if fmt == "csv" else hits_to_json(rs.hits)
        out = self.cache / f"export-{st.session.session_id}" / f"patfig-set{rs.set_id}.{fmt}"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(data, encoding="utf-8")
        return str(out), f"Exported result set #{rs.set_id} ({views.plural(len(rs.hits), 'figure')}) as {fmt.upper()}."

    # ------------------------------------------------------------ figure detail and explanation

    def select_tile(self, state: UiState | None, evt: gr.SelectData) -> tuple:
        st = _state(state)
        idx = evt.index if isinstance(evt.index, int) else None
        if idx is None or not 0 <= idx < len(st.tiles):
            return (st, *self._detail(st), gr.skip())
        st.selected = st.tiles[idx]
        return (st, *self._detail(st), gr.Tabs(selected="figure"))

    def select_group_tile(self, group: int, state: UiState | None, evt: gr.SelectData) -> tuple:
        st = _state(state)
        tiles = st.group_tiles[group] if group < len(st.group_tiles) else []
        idx = evt.index if isinstance(evt.index, int) else -1
        if not 0 <= idx < len(tiles):
            return (st, *self._detail(st), gr.skip())
        st.selected = tiles[idx]
        return (st, *self._detail(st), gr.Tabs(selected="figure"))

    def show_detail(self, state: UiState | None) -> tuple:
        """The detail view after a chat turn; untouched when the turn changed nothing it shows."""
        st = _state(state)
        if st.shown.get("detail") == _detail_key(st):
            return (st, *(gr.skip() for _ in range(N_DETAIL_OUTPUTS)))
        return (st, *self._detail(st))

    def _selected_hit(self, st: UiState) -> Hit | None:
        rs = st.session.current
        for h in rs.hits if rs else []:
            if h.figure_id == st.selected:
                return h
        return None

    def _detail(self, st: UiState) -> tuple:
        """Sheet, bibliographic data, reference signs, overlay, breakdown and explanation of the open figure."""
        st.shown["detail"] = _detail_key(st)
        empty = (None, "Click a tile in the results to open a figure.", [], None, [], "", "")
        if not st.selected:
            return empty
        from tools.search import patent_of

        store = self.services.store
        sheet = store.sheet(st.selected)
        if sheet is None:
            return (None, f"{st.selected} is no longer in the index.", [], None, [], "", "")
        patent = patent_of(self.services, sheet.patent_id)
        hit = self._selected_hit(st)
        sheet_img = views.downscaled(store.image_path(sheet), self.cache, views.READABLE_SIDE)
        overlay = self._overlay(st)
        rows = views.refsign_rows(sheet, patent)
        if hit is None:
            md = (f"### {sheet.figure_id} · sheet {sheet.sheet_no} · FIG {views.figs_text(sheet.figs)}\n\n"
                  f"_Not in the current result set, so it has no score here._\n\n> {views._md(sheet.description)}")
            return (sheet_img, md, rows, overlay, [], "", "")
        expl = self._explain(st, hit)
        return (sheet_img, views.figure_markdown(hit, patent, sheet), rows, overlay,
                views.breakdown_rows(hit.breakdown), views.breakdown_markdown(hit), expl)

    def _overlay(self, st: UiState) -> str | None:
        """The overlay the chat last drew for this figure (e.g. one sign), else all its linked signs."""
        from tools.overlay import render_overlay

        ov = st.overlay
        if ov and ov.get("figure_id") == st.selected and ov.get("path") and Path(ov["path"]).is_file():
            return views.downscaled(ov["path"], self.cache, views.READABLE_SIDE)
        try:
            path = render_overlay(self.services, str(st.selected))
        except ToolError as e:
            log.info("no overlay for %s: %s", st.selected, e)
            return None
        return views.downscaled(path, self.cache, views.READABLE_SIDE)

    def _explain(self, st: UiState, hit: Hit) -> str:
        """The explanation of the open hit, plus the last pair/compare explanation from the chat."""
        from tools.explain import explain_hit

        rs = st.session.current
        try:
            text = views.explanation_markdown(explain_hit(self.services, rs.hits if rs else [hit], hit.rank).text)
        except ToolError as e:
            text = f"_{views._md(str(e))}_"
        ex = st.explanation
        if ex and ex.get("kind") != "hit" and ex.get("text"):
            text += "\n\n**From the chat**\n\n" + views.explanation_markdown(ex["text"])
        return text

    # ------------------------------------------------------------ clusters

    def show_groups(self, state: UiState | None) -> tuple:
        """The cluster view of the current set: summary, map, and one titled row per group."""
        st = _state(state)
        cr = st.session.clusters
        cur = st.session.current
        key = (id(cr), st.session.clusters_of, cur.set_id if cur else None)
        if st.shown.get("groups") == key:
            return (st, *(gr.skip() for _ in range(2 + 2 * MAX_GROUPS)))
        st.shown["groups"] = key
        st.group_tiles = []
        if cr is None or cur is None or st.session.clusters_of != cur.set_id:
            head = "No groups for the current set yet: press **Group the results** or ask *group them*."
            slots: list = []
            for _ in range(MAX_GROUPS):
                slots += [gr.update(visible=False), gr.update(value=[], visible=False)]
            return (st, head, None, *slots)
        slots = []
        for i in range(MAX_GROUPS):
            if i < len(cr.clusters):
                c = cr.clusters[i]
                hits = sorted(c.hits, key=lambda h: h.rank)
                st.group_tiles.append([h.figure_id for h in hits if Path(h.image_path).is_file()])
                slots += [gr.update(value=views.cluster_heading(c), visible=True),
                          gr.update(value=views.gallery_items(hits, self.cache), visible=True)]
            else:
                slots += [gr.update(visible=False), gr.update(value=[], visible=False)]
        notes = "  \n".join(f"_{views._md(n)}_" for n in getattr(cr, "notes", []) or [])
        head = views.clusters_summary(cr) + (f"  \n{notes}" if notes else "")
        return (st, head, cr.map_png if cr.map_png and Path(cr.map_png).is_file() else None, *slots)

    # ------------------------------------------------------------ status and first screen

    def status(self, probe: bool = False) -> tuple[str, str]:
        """Status markdown, and the offline banner (empty when an LLM answers). `probe` asks the LLM server again."""
        try:
            status = dict(self.agent.refresh() if probe else self.agent.status())
        except Exception as e:  # a status probe must never break the page
            status = {"backend": "?", "reachable": False, "reason": f"status unknown ({type(e).__name__}: {e})"}
        md = views.status_markdown(status, self.services.store.stats())
        banner = ""
        if status.get("backend") == "offline":
            reason = f" ({views._md(status['reason'])})" if status.get("reason") else ""
            banner = (f"**Offline mode**{reason}: an offline planner maps your requests to the same search tools, "
                      "step by step in the chat. Plain requests work best, e.g. *only perspective views*.")
        return md, banner

    def examples(self) -> list[str]:
        """Two example queries from the index: the most often drawn named components of two different
        patents (generic labels such as "detail" or "upper side" left out), or generic examples."""
        counts: dict[str, int] = {}
        owners: dict[str, str] = {}
        for sheet in self.services.store.sheets()[:5000]:
            for label in {c.label.strip().lower() for c in sheet.components if c.label}:
                words = set(label.split())
                if 4 <= len(label) <= 40 and not words <= GENERIC_LABEL_WORDS:
                    counts[label] = counts.get(label, 0) + 1
                    owners.setdefault(label, sheet.patent_id)
        picked: list[str] = []
        for label in sorted(counts, key=lambda k: (-counts[k], k)):
            if all(owners[label] != owners[p] for p in picked):
                picked.append(label)
            if len(picked) == 2:
                break
        return [f"show me drawings of the {t}" for t in picked] or ["a perspective view of a gripping unit",
                                                              "flowchart of a control method"]


N_RESULT_OUTPUTS = 3  # gallery, set summary, history dropdown
N_DETAIL_OUTPUTS = 7  # sheet, bibliography, reference signs, overlay, breakdown table and text, explanation


def _detail_key(st: UiState) -> tuple:
    """What the detail view depends on."""
    cur = st.session.current
    return (st.selected, cur.set_id if cur else None, id(st.explanation), id(st.overlay))


def _shown_file(path: str | None, message: str) -> tuple:
    """A file output made visible when there is a file."""
    return gr.update(value=path, visible=path is not None), message


def _crop_values(crop: views.CropBox | None) -> tuple[float | None, ...]:
    return tuple(round(c) for c in crop) if crop else (None, None, None, None)


def _crop_problem(st: UiState) -> str:
    """A message when the crop box cannot be searched (zero size, outside the drawing), else ""."""
    if st.crop is None or st.image is None:
        return ""
    from tools.search import load_image

    x0, y0, x1, y1 = st.crop
    if x1 - x0 < 1 or y1 - y0 < 1:
        return "The selected region has zero size: pick two different corners (or clear the crop)."
    try:
        load_image(st.image, st.crop)
    except ToolError as e:
        return f"The selected region cannot be searched: {e}."
    return ""


def _asker(cb: Callbacks, text: str):
    """An event handler that sends a fixed request to the agent (example and action buttons)."""

    def run(state: UiState | None) -> Iterator[tuple]:
        yield from cb.ask(state, text)

    return run


def _group_selector(cb: Callbacks, group: int):
    """The tile-click handler of one cluster row."""

    def run(state: UiState | None, evt: gr.SelectData) -> tuple:
        return cb.select_group_tile(group, state, evt)

    return run


def build_ui(services: Services, agent: Any, cache_dir: Path | None = None) -> gr.Blocks:
    """The app over these services and this agent (shared by all tabs; each tab has its own session)."""
    cache = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="patfig-ui-"))
    cb = Callbacks(services, agent, cache)
    from tools.filtering import facet_values

    facets = facet_values(services)
    examples = cb.examples()
    with gr.Blocks(title="patfig — patent drawing search", fill_width=True) as demo:
        demo.patfig_cache = cache  # type: ignore[attr-defined]
        demo.patfig_callbacks = cb  # type: ignore[attr-defined]
        state = gr.State(None)
        gr.Markdown(HINT, elem_id="hint")
        banner = gr.Markdown("", elem_id="offline-banner")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=380):
                chatbot = gr.Chatbot(label="Chat", height=460, elem_id="chat", buttons=["copy"],
                                     placeholder="Results appear on the right; every search step is shown here.")
                with gr.Row():
                    msg = gr.Textbox(placeholder="Describe a drawing, or refine: only perspective views, more like #3",
                                     show_label=False, scale=5, elem_id="chat-input", lines=1, max_lines=4)
                    send = gr.Button("Search", variant="primary", scale=1, elem_id="send")
                with gr.Row():
                    ex_buttons = [gr.Button(f"Try: {e}", size="sm", elem_id=f"example-{i}")
                                  for i, e in enumerate(examples)]
                    ref_buttons = [gr.Button(e, size="sm", elem_id=f"refine-{i}")
                                   for i, e in enumerate(RESULT_EXAMPLES)]
                with gr.Accordion("Query drawing (upload, then click two corners to crop)", open=True):
                    with gr.Row():
                        upload = gr.File(label="Upload a drawing or sketch (PNG, JPEG, TIFF)", file_types=IMAGE_TYPES,
                                         type="filepath", elem_id="query-file", height=130)
                    preview = gr.Image(label="Query drawing: click two corners to select a region", type="filepath",
                                       interactive=False, elem_id="query-preview", height=360, buttons=["fullscreen"])
                    gr.Markdown("Or type the region in pixels of the drawing (all 0: the whole drawing).")
                    with gr.Row():
                        x0 = gr.Number(label="left x0", precision=0, elem_id="crop-x0", min_width=80)
                        y0 = gr.Number(label="top y0", precision=0, elem_id="crop-y0", min_width=80)
                        x1 = gr.Number(label="right x1", precision=0, elem_id="crop-x1", min_width=80)
                        y1 = gr.Number(label="bottom y1", precision=0, elem_id="crop-y1", min_width=80)
                    with gr.Row():
                        query_msg = gr.Markdown("", elem_id="query-msg")
                        clear = gr.Button("Clear crop", size="sm", elem_id="clear-crop", scale=0, min_width=110)
                    with gr.Row():
                        weight = gr.Slider(0, 1, value=0.5, step=0.05, label="Text weight (drawing + words)",
                                           elem_id="text-weight")
                        topk = gr.Slider(1, 100, value=20, step=1, label="Top k", elem_id="top-k")
            with gr.Column(scale=3, min_width=480):
                with gr.Tabs(selected="results") as tabs:
                    with gr.Tab("Results", id="results"):
                        set_info = gr.Markdown(views.set_summary(None), elem_id="set-info")
                        with gr.Row():
                            history = gr.Dropdown(label="Result sets", choices=[], interactive=True, scale=4,
                                                  elem_id="history")
                            back = gr.Button("◀ Step back", scale=1, elem_id="step-back")
                        gallery = gr.Gallery(label="Current result set, most relevant first", columns=4, height=560,
                                             object_fit="contain", allow_preview=False, elem_id="gallery",
                                             fit_columns=False)
                        with gr.Accordion("Filter the current set", open=False, elem_id="filters"):
                            f_kinds = gr.CheckboxGroup(facets.get("kinds", []), label="Figure kind", elem_id="f-kind")
                            f_views = gr.CheckboxGroup(facets.get("views", []), label="View", elem_id="f-view")
                            f_offices = gr.CheckboxGroup(facets.get("offices", []), label="Office",
                                                         elem_id="f-office")
                            f_cpc = gr.Dropdown([c for c in facets.get("cpc", []) if len(c) >= 3], multiselect=True,
                                                label="CPC class / subclass", elem_id="f-cpc")
                            dr = facets.get("date_range") or []
                            with gr.Row():
                                f_from = gr.Textbox(label="Published from", placeholder=str(dr[0]) if dr else "2018",
                                                    elem_id="f-from")
                                f_to = gr.Textbox(label="Published until", placeholder=str(dr[1]) if dr else "2025",
                                                  elem_id="f-to")
                            f_apply = gr.Button("Apply filters to the current set", elem_id="f-apply")
                            filter_msg = gr.Markdown("")
                        with gr.Row():
                            exp_csv = gr.Button("Export CSV", size="sm", elem_id="export-csv")
                            exp_json = gr.Button("Export JSON", size="sm", elem_id="export-json")
                        export_file = gr.File(label="Export", interactive=False, elem_id="export-file", height=80,
                                              visible=False)
                        export_msg = gr.Markdown("")
                    with gr.Tab("Figure", id="figure"):
                        with gr.Row():
                            more = gr.Button("More like this", elem_id="more-like")
                            region = gr.Button("Search with a region of this sheet", elem_id="use-region")
                        with gr.Row(equal_height=False):
                            detail_img = gr.Image(label="Sheet", interactive=False, elem_id="detail-image",
                                                  height=620, buttons=["fullscreen", "download"])
                            with gr.Column():
                                detail_md = gr.Markdown(elem_id="detail-md")
                        gr.Markdown("#### Why it is here")
                        with gr.Row(equal_height=False):
                            overlay_img = gr.Image(label="Reference signs found on the sheet", interactive=False,
                                                   elem_id="overlay-image", height=520, buttons=["fullscreen"])
                            with gr.Column():
                                bd_md = gr.Markdown(elem_id="breakdown-md")
                                expl_md = gr.Markdown(elem_id="explanation-md")
                        bd_table = gr.Dataframe(headers=views.BREAKDOWN_HEADERS, interactive=False,
                                                label="Score breakdown per modality", elem_id="breakdown-table")
                        refs = gr.Dataframe(headers=views.REFSIGN_HEADERS, interactive=False, wrap=True,
                                            label="Reference signs on this sheet", elem_id="refsigns",
                                            column_widths=["10%", "25%", "10%", "55%"])
                    with gr.Tab("Groups", id="groups"):
                        group_btn = gr.Button("Group the results", elem_id="group")
                        groups_md = gr.Markdown("", elem_id="groups-md")
                        group_map = gr.Image(label="2-D map of the groups", interactive=False, elem_id="group-map",
                                             height=420)
                        group_slots = []
                        for i in range(MAX_GROUPS):
                            group_slots.append(gr.Markdown(visible=False, elem_id=f"group-{i}-title"))
                            group_slots.append(gr.Gallery(visible=False, columns=6, rows=1, height=240,
                                                          allow_preview=False, object_fit="contain",
                                                          show_label=False, fit_columns=False,
                                                          elem_id=f"group-{i}", elem_classes=["cluster-row"]))
                    with gr.Tab("Status", id="status"):
                        status_md = gr.Markdown(elem_id="status-md")
                        refresh = gr.Button("Refresh", size="sm")

        results_out = [gallery, set_info, history]
        turn_out = [state, chatbot, msg, query_msg, tabs, *results_out]
        detail_out = [detail_img, detail_md, refs, overlay_img, bd_table, bd_md, expl_md]
        groups_out = [state, groups_md, group_map, *group_slots]
        crop_fields = [x0, y0, x1, y1]

        def after_turn(ev):
            return (ev.then(cb.show_groups, [state], groups_out)
                    .then(cb.show_detail, [state], [state, *detail_out]))

        after_turn(send.click(cb.send, [state, msg, weight, topk], turn_out, concurrency_id="index"))
        after_turn(msg.submit(cb.send, [state, msg, weight, topk], turn_out, concurrency_id="index"))
        for b, text in [*zip(ex_buttons, examples, strict=True), *zip(ref_buttons, RESULT_EXAMPLES, strict=True)]:
            after_turn(b.click(_asker(cb, text), [state], turn_out, concurrency_id="index"))
        after_turn(more.click(cb.more_like_this, [state], turn_out, concurrency_id="index"))
        after_turn(group_btn.click(_asker(cb, GROUP_REQUEST), [state], turn_out, concurrency_id="index"))

        upload.upload(cb.upload, [upload, state], [state, preview, *crop_fields, query_msg])
        upload.clear(cb.upload, [upload, state], [state, preview, *crop_fields, query_msg])
        preview.select(cb.click_preview, [state], [state, preview, *crop_fields, query_msg])
        for f in crop_fields:
            f.input(cb.set_crop, [state, *crop_fields], [state, preview, query_msg], trigger_mode="always_last")
        clear.click(cb.clear_crop, [state], [state, preview, *crop_fields, query_msg])
        region.click(cb.use_sheet, [state], [state, preview, *crop_fields, query_msg])

        back.click(cb.step_back, [state], [state, chatbot, *results_out]).then(cb.show_groups, [state], groups_out)
        history.input(cb.goto_set, [state, history], [state, chatbot, *results_out]).then(
            cb.show_groups, [state], groups_out)
        f_apply.click(cb.apply_filters, [state, f_kinds, f_views, f_cpc, f_offices, f_from, f_to],
                      [state, chatbot, filter_msg, *results_out], concurrency_id="index")
        exp_csv.click(lambda s: _shown_file(*cb.export(s, "csv")), [state], [export_file, export_msg])
        exp_json.click(lambda s: _shown_file(*cb.export(s, "json")), [state], [export_file, export_msg])

        gallery.select(cb.select_tile, [state], [state, *detail_out, tabs], concurrency_id="index")
        for i in range(MAX_GROUPS):
            group_slots[2 * i + 1].select(_group_selector(cb, i), [state], [state, *detail_out, tabs],
                                          concurrency_id="index")
        demo.load(cb.status, None, [status_md, banner])
        refresh.click(lambda: cb.status(probe=True), None, [status_md, banner])
    return demo


def launch(
    services: Services,
    agent: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    cache_dir: Path | None = None,
) -> gr.Blocks:
    """Serve the app. With `block=False` it runs in a background thread (tests); `demo.close()` stops it."""
    demo = build_ui(services, agent, cache_dir)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        inbrowser=False,
        show_error=True,
        allowed_paths=[str(services.store.root.resolve()), str(demo.patfig_cache)],
        css=CSS,
        theme=THEME,
    )
    return demo
