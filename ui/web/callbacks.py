"""Every event handler of the web app, as plain methods over (UiState, widget values), testable without a browser.

Handlers only call the agent and the tools and hand their answers to `ui.web.panels` and `ui.views` for
display: no search logic here. Bad input gives a visible message and the app goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from agent.events import TurnEvent
from core.errors import ToolError
from runtime.services import Services
from tools.export import hits_to_csv, hits_to_json
from tools.filtering import make_filters
from tools.search import load_image
from tools.sketch import sketch_query
from ui import views
from ui.ratelimit import SlidingWindowLimiter, wait_message
from ui.web import panels, query
from ui.web.state import (
    MAX_GROUPS,
    N_DETAIL_OUTPUTS,
    N_RESULT_OUTPUTS,
    STREAM_SECONDS,
    UiState,
    tab_state,
    warn,
)

log = logging.getLogger(__name__)

OPEN_A_FIGURE = "Open a figure first (click a tile in the results)."
SKETCH_NOTE = ("A sketch's scores are calibrated on patent drawings, not on rough sketches, and overstate how close "
               "a match is (measured on a few test sketches). A few words with the sketch help: type them, then "
               "search with the sketch again.")
SHOWN_EVENTS = ("result_set", "clusters", "explanation", "overlay")  # events that switch to their tab


class Callbacks:
    """The app's event handlers over one index and one agent (shared by all tabs; each tab has its own state)."""

    def __init__(self, services: Services, agent: Any, cache_dir: Path,
                 limiter: SlidingWindowLimiter | None = None) -> None:
        self.services = services
        self.agent = agent
        self.cache = cache_dir
        self.cache.mkdir(parents=True, exist_ok=True)
        self.limiter = limiter  # chat turns per user (None: no limit)

    # ------------------------------------------------------------ query drawing and crop

    def upload(self, file: str | None, state: UiState | None) -> tuple:
        """A drawing was uploaded: check it, keep the original for search, show a downscaled preview."""
        st = tab_state(state)
        st.image, st.image_size, st.corner, st.crop = None, None, None, None
        if not file:
            return st, None, *query.crop_values(None), ""
        try:
            img = load_image(file)
        except ToolError as e:
            msg = warn(f"Cannot use this upload: {e}. Upload a PNG, JPEG or TIFF drawing.")
            return st, None, *query.crop_values(None), msg
        st.image, st.image_size, st.fresh = str(file), img.size, True
        return st, query.preview(st, img, self.cache), *query.crop_values(None), ""

    def use_sheet(self, state: UiState | None) -> tuple:
        """"Search with this region": make the open figure's stored sheet the query drawing."""
        st = tab_state(state)
        sheet = self.services.store.sheet(st.selected) if st.selected else None
        if sheet is None:
            return st, gr.skip(), *query.crop_values(st.crop), warn(OPEN_A_FIGURE)
        path = self.services.store.image_path(sheet)
        box = sheet.box  # a figure of a sheet with several starts as the crop: its own region
        crop = (box.x0, box.y0, box.x1, box.y1) if box is not None else None
        with Image.open(path) as img:
            img.load()
            st.image, st.image_size, st.corner, st.crop, st.fresh = str(path), img.size, None, crop, True
            shown = query.preview(st, img, self.cache)
        if crop is not None:
            gr.Info(f"The sheet of {sheet.figure_id} is now the query drawing, cropped to the figure.")
            return st, shown, *query.crop_values(crop), (
                f"Query drawing: the sheet of {sheet.figure_id}, cropped to its figure. Click two corners for another "
                "region, or press Search.")
        gr.Info(f"{sheet.figure_id} is now the query drawing: click two corners on it, then Search.")
        return st, shown, *query.crop_values(None), (
            f"Query drawing: {sheet.figure_id}. Click two corners of the region to search for, then press Search.")

    def click_preview(self, state: UiState | None, evt: gr.SelectData) -> tuple:
        """A click on the preview: the first sets a corner, the second completes the crop box."""
        st = tab_state(state)
        if st.image is None or not isinstance(evt.index, list | tuple) or len(evt.index) < 2:
            return st, gr.skip(), *query.crop_values(st.crop), ""
        x, y = query.to_original(st, float(evt.index[0]), float(evt.index[1]))
        if st.corner is None:
            st.corner, st.crop = (x, y), None
            msg = "First corner set: click the opposite corner."
        else:
            (cx, cy), st.corner = st.corner, None
            st.crop, st.fresh = views.normalise_crop((cx, cy, x, y)), True
            problem = query.crop_problem(st)
            msg = f"⚠ {problem}" if problem else query.REGION_SELECTED
        return st, query.redraw(st, self.cache), *query.crop_values(st.crop), msg

    def set_crop(self, state: UiState | None, x0: float, y0: float, x1: float, y1: float) -> tuple:
        """The numeric crop fields were edited."""
        st = tab_state(state)
        st.corner = None
        st.crop, st.fresh = views.normalise_crop((x0, y0, x1, y1)), True
        if st.image is None:
            return st, gr.skip(), ("⚠ Upload a drawing first." if st.crop else "")
        problem = query.crop_problem(st)
        return st, query.redraw(st, self.cache), f"⚠ {problem}" if problem else ""

    def clear_crop(self, state: UiState | None) -> tuple:
        st = tab_state(state)
        st.corner, st.crop, st.fresh = None, None, st.image is not None
        return st, query.redraw(st, self.cache) if st.image else None, *query.crop_values(None), ""

    # ------------------------------------------------------------ chat turns

    def send(self, state: UiState | None, message: str, text_weight: float, k: float,
             min_score: float = 0.0, request: gr.Request | None = None, *,
             drawing: str = "drawing") -> Iterator[tuple]:
        """One chat turn: the message (and the query drawing, if any) to the agent, its events streamed.

        `drawing` names the query drawing in the user's chat line ("Search with my sketch")."""
        st = tab_state(state)
        text = (message or "").strip()
        if not text and st.image is None:
            yield self._turn_outputs(st, message, warn("Type a question or upload a drawing first."), results=False)
            return
        problem = query.crop_problem(st) if st.crop else ""
        if st.corner is not None and st.crop is None:
            problem = "Only one corner is set: click the opposite corner, or clear the crop."
        if problem:
            yield self._turn_outputs(st, message, warn(problem), results=False)
            return
        if self._over_limit(st, request):  # the typed message stays in its box, to send again later
            yield self._turn_outputs(st, message, gr.skip(), results=False)
            return
        attach = st.image is not None and (st.fresh or not text)  # a drawing is sent once, or when asked alone
        image, crop = (st.image, st.crop) if attach else (None, None)
        st.fresh = False
        shown = text
        if image is not None and not text:  # the agent gets no words: a pure drawing (or region) search
            shown = f"Search with the selected region of my {drawing}" if crop else f"Search with my {drawing}"
        st.chat.append({"role": "user", "content": shown})
        if image is not None:
            st.chat.append({"role": "user", "content": {"path": query.chat_thumb(st, self.cache),
                                                        "mime_type": "image/png"}})
        yield from self._stream(st, text, image=image, crop=crop, text_weight=float(text_weight), k=int(k),
                                min_score=float(min_score or 0.0))

    def search_sketch(self, state: UiState | None, sketch: Any, message: str, text_weight: float, k: float,
                      min_score: float = 0.0, request: gr.Request | None = None) -> Iterator[tuple]:
        """The sketch pad's picture becomes the query drawing (black on white, framed to its strokes) and is
        searched with the words typed, if any: the turn's outputs, then the preview and crop fields."""
        st = tab_state(state)
        try:
            img = sketch_query(query.sketch_picture(sketch))
        except ToolError as e:
            msg = warn(f"{str(e)[0].upper()}{str(e)[1:]}.")
            yield (*self._turn_outputs(st, gr.skip(), msg, results=False), *(gr.skip() for _ in range(5)))
            return
        path = self.cache / f"sketch-{time.time_ns()}.png"
        img.save(path)
        st.image, st.image_size, st.corner, st.crop, st.fresh = str(path), img.size, None, None, True
        drawing = (query.preview(st, img, self.cache), *query.crop_values(None))
        for out in self.send(st, message, text_weight, k, min_score, request, drawing="sketch"):
            yield (*out, *drawing)
        if st.session.current is not None and SKETCH_NOTE not in st.notices:  # once per tab, after its first search
            st.notices.append(SKETCH_NOTE)
            st.chat.append({"role": "assistant", "content": f"_{SKETCH_NOTE}_"})  # shown open, not folded
            yield (st, list(st.chat), *(gr.skip() for _ in range(3 + N_RESULT_OUTPUTS + len(drawing))))

    def ask(self, state: UiState | None, text: str, request: gr.Request | None = None) -> Iterator[tuple]:
        """A chat turn from a button ("more like this", examples): the text only, no query drawing."""
        st = tab_state(state)
        if self._over_limit(st, request):
            yield self._turn_outputs(st, gr.skip(), gr.skip(), results=False)
            return
        st.chat.append({"role": "user", "content": text})
        yield from self._stream(st, text)

    def more_like_this(self, state: UiState | None, request: gr.Request | None = None) -> Iterator[tuple]:
        st = tab_state(state)
        if not st.selected:
            yield self._turn_outputs(st, gr.skip(), warn(OPEN_A_FIGURE), results=False)
            return
        yield from self.ask(st, f"more like {st.selected}", request)

    def _over_limit(self, st: UiState, request: gr.Request | None) -> bool:
        """False when this user may take another turn now (and it is counted); else True, with the polite wait
        message in the chat and a toast. Users are told apart by their sign-in name, else by their address."""
        if self.limiter is None:
            return False
        wait = self.limiter.acquire(user_key(request, st))
        if not wait:
            return False
        msg = wait_message(wait, self.limiter.limit, self.limiter.window)
        st.chat.append({"role": "assistant", "content": f"⚠ {msg}"})
        warn(msg)
        return True

    def _stream(self, st: UiState, text: str, **kwargs: Any) -> Iterator[tuple]:
        """The agent's events of one turn into the chat and the panels: an update when STREAM_SECONDS have passed
        since the last one (events that come faster are shown together: each update costs the server a
        render of the whole chat, which several sessions at once feel), and one at the end."""
        turn = _Turn(st)
        yield self._turn_outputs(st, "", "", results=False)
        last, results, tab = time.monotonic(), False, None
        try:
            for ev in self.agent.stream(st.session, text, **kwargs):
                turn.apply(ev)
                results, tab = results or ev.kind == "result_set", turn.tab if ev.kind in SHOWN_EVENTS else tab
                if time.monotonic() - last >= STREAM_SECONDS:
                    yield self._turn_outputs(st, "", "", results=results, tab=tab)
                    last, results, tab = time.monotonic(), False, None
        except ToolError as e:
            st.chat.append({"role": "assistant", "content": f"⚠ {views._md(str(e))}"})
            yield self._turn_outputs(st, "", warn(str(e)), results=False)
            return
        except Exception as e:  # the app must go on; the message says what failed
            log.exception("chat turn failed")
            msg = f"Something went wrong in this turn ({type(e).__name__}: {e}). The session is kept; try again."
            st.chat.append({"role": "assistant", "content": f"⚠ {views._md(msg)}"})
            yield self._turn_outputs(st, "", warn(msg), results=False)
            return
        yield self._turn_outputs(st, "", "", results=turn.changed, tab=turn.tab)

    def _turn_outputs(self, st: UiState, message: Any, query_msg: Any, *, results: bool,
                      tab: str | None = None) -> tuple:
        """(state, chatbot, message box, query message, tabs) + the results outputs (or skips)."""
        head = (st, list(st.chat), message, query_msg, gr.Tabs(selected=tab) if tab else gr.skip())
        if not results:
            return head + tuple(gr.skip() for _ in range(N_RESULT_OUTPUTS))
        return head + panels.results(st, self.cache)

    # ------------------------------------------------------------ results, history, filters, export

    def step_back(self, state: UiState | None) -> tuple:
        st = tab_state(state)
        rs = st.session.undo()
        if rs is None:
            gr.Info("There is no earlier result set to step back to.")
        else:
            st.chat.append(views.notice_message(f"Stepped back to result set #{rs.set_id}: {rs.origin}"))
        return (st, list(st.chat), *panels.results(st, self.cache))

    def goto_set(self, state: UiState | None, set_id: int | None) -> tuple:
        st = tab_state(state)
        if set_id:
            try:
                rs = st.session.goto(int(set_id))
                st.chat.append(views.notice_message(f"Showing result set #{rs.set_id} again: {rs.origin}"))
            except ToolError as e:
                warn(str(e))
        return (st, list(st.chat), *panels.results(st, self.cache))

    def apply_filters(self, state: UiState | None, kinds: list[str], views_: list[str], cpc: list[str],
                      offices: list[str], date_from: str, date_to: str) -> tuple:
        """Facet filters on the current set, through the agent so the conversation knows about them."""
        st = tab_state(state)
        try:
            st.session.require_current()
            filters = make_filters(self.services, kinds=kinds, views=views_, cpc=cpc, offices=offices,
                                   date_from=date_from or None, date_to=date_to or None)
            if filters.is_empty():
                raise ToolError("choose at least one filter value (kind, view, CPC, office or a date)")
            before = st.session.current
            rs = self.agent.apply_filters(st.session, filters)
        except ToolError as e:
            return (st, list(st.chat), warn(str(e)), *panels.results(st, self.cache))
        what = ", ".join(f"{k}={v}" for k, v in filters.describe().items())
        st.chat.append(views.tool_step("filter_results", filters.describe(),
                                       f"Filtered set #{before.set_id if before else '?'} → #{rs.set_id}: "
                                       f"{len(rs.hits)} of {len(before.hits) if before else '?'} figures kept ({what})",
                                       True, None))
        return (st, list(st.chat), "", *panels.results(st, self.cache))

    def export(self, state: UiState | None, fmt: str) -> tuple[str | None, str]:
        """The current set as a CSV or JSON file for a search report."""
        st = tab_state(state)
        rs = st.session.current
        if rs is None or not rs.hits:
            return None, warn("Nothing to export yet: search first.")
        data = hits_to_csv(rs.hits) if fmt == "csv" else hits_to_json(rs.hits)
        out = self.cache / f"export-{st.session.session_id}" / f"patfig-set{rs.set_id}.{fmt}"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(data, encoding="utf-8")
        return str(out), f"Exported result set #{rs.set_id} ({views.plural(len(rs.hits), 'figure')}) as {fmt.upper()}."

    # ------------------------------------------------------------ figure detail, groups, status

    def select_tile(self, state: UiState | None, evt: gr.SelectData) -> tuple:
        st = tab_state(state)
        return self._open(st, st.tiles, evt)

    def select_group_tile(self, group: int, state: UiState | None, evt: gr.SelectData) -> tuple:
        st = tab_state(state)
        return self._open(st, st.group_tiles[group] if group < len(st.group_tiles) else [], evt)

    def _open(self, st: UiState, tiles: list[str], evt: gr.SelectData) -> tuple:
        """The clicked tile's figure in the detail view (and its tab); nothing changes on a stray click."""
        idx = evt.index if isinstance(evt.index, int) else -1
        if not 0 <= idx < len(tiles):
            return (st, *panels.detail(self.services, st, self.cache), gr.skip())
        st.selected = tiles[idx]
        return (st, *panels.detail(self.services, st, self.cache), gr.Tabs(selected="figure"))

    def show_detail(self, state: UiState | None) -> tuple:
        """The detail view after a chat turn; untouched when the turn changed nothing it shows."""
        st = tab_state(state)
        if st.shown.get("detail") == panels.detail_key(st):
            return (st, *(gr.skip() for _ in range(N_DETAIL_OUTPUTS)))
        return (st, *panels.detail(self.services, st, self.cache))

    def show_groups(self, state: UiState | None) -> tuple:
        """The cluster view of the current set: summary, map, and one titled row per group."""
        st = tab_state(state)
        if st.shown.get("groups") == panels.groups_key(st):
            return (st, *(gr.skip() for _ in range(2 + 2 * MAX_GROUPS)))
        return (st, *panels.groups(st, self.cache))

    def status(self, probe: bool = False) -> tuple[str, str]:
        """Status markdown and the offline banner; `probe` asks the LLM server again."""
        return panels.status(self.agent, self.services, probe)

    def ingest_status(self) -> str:
        """The progress line of a background ingest (empty when none has run or it ended long ago)."""
        return panels.ingest_line(self.services)


def user_key(request: gr.Request | None, st: UiState) -> str:
    """Whose turn this is, for the rate limit: the signed-in user, else the client's address, else the tab."""
    if request is not None:
        if request.username:
            return f"user:{request.username}"
        client = getattr(request, "client", None)
        if host := getattr(client, "host", None):
            return f"client:{host}"
        if request.session_hash:
            return f"session:{request.session_hash}"
    return f"tab:{st.session.session_id}"


def _without_notices(reply: str, notices: list[str]) -> str:
    """A reply without a notice it starts with (the offline one), which the chat already shows as a notice."""
    for n in notices:
        if reply.startswith(n):
            return reply[len(n):].lstrip()
    return reply


@dataclass
class _Turn:
    """A chat turn in progress: where the streamed reply sits, the tab to show, whether the results changed."""

    st: UiState
    reply_at: int | None = None
    tab: str | None = None
    changed: bool = False

    def apply(self, ev: TurnEvent) -> None:
        """One agent event into the tab's chat and state."""
        st, kind, payload = self.st, ev.kind, ev.payload
        self.changed = self.changed or kind == "result_set"
        if kind == "notice":
            if str(payload) not in st.notices:  # the offline notice once per conversation, not per turn
                st.notices.append(str(payload))
                st.chat.append(views.notice_message(str(payload)))
        elif kind == "tool_call":
            st.chat.append(views.tool_step(payload.name, dict(payload.args or {}), payload.summary or "",
                                           payload.ok, payload.error))
        elif kind in ("reply_delta", "reply"):
            if self.reply_at is None:
                st.chat.append({"role": "assistant", "content": ""})
                self.reply_at = len(st.chat) - 1
            old = st.chat[self.reply_at]["content"]
            text = str(payload) if kind == "reply" or not old else old + str(payload)
            st.chat[self.reply_at]["content"] = _without_notices(text, st.notices)
            if kind == "reply":
                self.reply_at = None
        elif kind == "explanation":
            ex = dict(payload) if isinstance(payload, dict) else {"text": str(payload)}
            fid = st.session.focus if ex.get("kind", "hit") == "hit" else None
            st.explanation = {"figure_id": fid, "kind": ex.get("kind", "hit"), "text": ex.get("text", "")}
            st.selected = fid or st.selected
            self.tab = "figure"
        elif kind == "overlay" and isinstance(payload, dict):
            st.overlay = {"figure_id": payload.get("figure_id"), "path": str(payload.get("path", "")),
                          "numerals": payload.get("numerals") or []}
            st.selected = payload.get("figure_id") or st.selected
            self.tab = "figure"
        elif kind == "result_set":
            self.tab = "results"
        elif kind == "clusters":
            self.tab = "groups"
