"""`build_ui(services, agent)`: the layout with its events wired to the callbacks; `launch(...)` serves it.

Each browser tab has its own `UiState` (and so its own agent `Session`) in a `gr.State`; the services and
the agent are shared, and read-only but for caches of index data (the same for every tab). Several tabs'
turns run at once in Gradio's worker threads (`CONCURRENT_TURNS`): the store gives each thread its own SQLite
connection, the models are built once under a lock, and cached pictures are written atomically.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from runtime.services import Services
from tools.filtering import facet_values
from tools.suggest import example_requests
from ui.ratelimit import SlidingWindowLimiter
from ui.web.callbacks import Callbacks
from ui.web.layout import CSS, THEME, Widgets, build_layout, new_page
from ui.web.state import (
    CONCURRENT_TURNS,
    GROUP_REQUEST,
    INGEST_POLL_SECONDS,
    MAX_GROUPS,
    RESULT_EXAMPLES,
    UiState,
)

SIGN_IN_MESSAGE = "patfig: sign in with the name and password your administrator set with `patfig users add`."


def build_ui(services: Services, agent: Any, cache_dir: Path | None = None,
             limiter: SlidingWindowLimiter | None = None) -> gr.Blocks:
    """The app over these services and this agent (shared by all tabs; each tab has its own session); `limiter`
    caps each user's chat turns."""
    cache = Path(cache_dir) if cache_dir else _own_cache()
    cb = Callbacks(services, agent, cache, limiter)
    facets, examples = facet_values(services), example_requests(services)
    with new_page() as demo:
        w = build_layout(facets, examples)
        _wire_chat(cb, w)
        _wire_query_drawing(cb, w)
        _wire_results(cb, w)
        _wire_status(cb, w, demo)
    demo.patfig_cache = cache  # type: ignore[attr-defined]
    demo.patfig_callbacks = cb  # type: ignore[attr-defined]
    return demo


def _own_cache() -> Path:
    """A fresh folder for the app's rendered pictures, removed (that folder alone) when the process exits."""
    cache = Path(tempfile.mkdtemp(prefix="patfig-ui-"))
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    return cache


def _wire_chat(cb: Callbacks, w: Widgets) -> None:
    """Chat turns (typed, from buttons) and, after each, the groups and detail views."""
    results_out = [w.gallery, w.set_info, w.history]
    turn_out = [w.state, w.chatbot, w.msg, w.query_msg, w.tabs, *results_out]
    detail_out = [w.detail_img, w.detail_md, w.refs, w.overlay_img, w.bd_table, w.bd_md, w.expl_md]
    groups_out = [w.state, w.groups_md, w.group_map, *w.group_slots]

    def after_turn(ev: Any) -> None:
        ev.then(cb.show_groups, [w.state], groups_out).then(cb.show_detail, [w.state], [w.state, *detail_out])

    inputs = [w.state, w.msg, w.weight, w.topk, w.min_score]
    after_turn(w.send.click(cb.send, inputs, turn_out, concurrency_id="index"))
    after_turn(w.msg.submit(cb.send, inputs, turn_out, concurrency_id="index"))
    for button, text in [*zip(w.ex_buttons, w.examples, strict=True),
                         *zip(w.ref_buttons, RESULT_EXAMPLES, strict=True)]:
        after_turn(button.click(_asker(cb, text), [w.state], turn_out, concurrency_id="index"))
    sketch_out = [*turn_out, w.preview, *w.crop_fields]
    after_turn(w.sketch_go.click(cb.search_sketch, [w.state, w.sketch, w.msg, w.weight, w.topk, w.min_score],
                                 sketch_out, concurrency_id="index"))
    after_turn(w.more.click(cb.more_like_this, [w.state], turn_out, concurrency_id="index"))
    after_turn(w.group_btn.click(_asker(cb, GROUP_REQUEST), [w.state], turn_out, concurrency_id="index"))


def _wire_query_drawing(cb: Callbacks, w: Widgets) -> None:
    """Upload, clicks on the preview, the crop fields, and a stored sheet as the query drawing."""
    drawing_out = [w.state, w.preview, *w.crop_fields, w.query_msg]
    w.upload.upload(cb.upload, [w.upload, w.state], drawing_out)
    w.upload.clear(cb.upload, [w.upload, w.state], drawing_out)
    w.preview.select(cb.click_preview, [w.state], drawing_out)
    for f in w.crop_fields:
        f.input(cb.set_crop, [w.state, *w.crop_fields], [w.state, w.preview, w.query_msg], trigger_mode="always_last")
    w.clear.click(cb.clear_crop, [w.state], drawing_out)
    w.region.click(cb.use_sheet, [w.state], drawing_out)


def _wire_results(cb: Callbacks, w: Widgets) -> None:
    """History, filters, export, tile clicks (results and groups) and the status panel."""
    results_out = [w.gallery, w.set_info, w.history]
    groups_out = [w.state, w.groups_md, w.group_map, *w.group_slots]
    detail_out = [w.state, w.detail_img, w.detail_md, w.refs, w.overlay_img, w.bd_table, w.bd_md, w.expl_md,
                  w.tabs]
    w.back.click(cb.step_back, [w.state], [w.state, w.chatbot, *results_out]).then(
        cb.show_groups, [w.state], groups_out)
    w.history.input(cb.goto_set, [w.state, w.history], [w.state, w.chatbot, *results_out]).then(
        cb.show_groups, [w.state], groups_out)
    w.f_apply.click(cb.apply_filters, [w.state, w.f_kinds, w.f_views, w.f_cpc, w.f_offices, w.f_from, w.f_to],
                    [w.state, w.chatbot, w.filter_msg, *results_out], concurrency_id="index")
    w.exp_csv.click(lambda s: _shown_file(*cb.export(s, "csv")), [w.state], [w.export_file, w.export_msg])
    w.exp_json.click(lambda s: _shown_file(*cb.export(s, "json")), [w.state], [w.export_file, w.export_msg])
    w.gallery.select(cb.select_tile, [w.state], detail_out, concurrency_id="index")
    for i in range(MAX_GROUPS):
        w.group_slots[2 * i + 1].select(_group_selector(cb, i), [w.state], detail_out, concurrency_id="index")


def _wire_status(cb: Callbacks, w: Widgets, demo: gr.Blocks) -> None:
    """The status panel and the offline banner: on page load, and probed again on Refresh."""
    demo.load(cb.status, None, [w.status_md, w.banner])
    demo.load(cb.ingest_status, None, [w.ingest_md])
    gr.Timer(INGEST_POLL_SECONDS).tick(cb.ingest_status, None, [w.ingest_md], show_progress="hidden")
    w.refresh.click(lambda: cb.status(probe=True), None, [w.status_md, w.banner])


def _asker(cb: Callbacks, text: str) -> Callable[[UiState | None, gr.Request | None], Iterator[tuple]]:
    """An event handler that sends a fixed request to the agent (example and action buttons)."""

    def run(state: UiState | None, request: gr.Request | None = None) -> Iterator[tuple]:
        yield from cb.ask(state, text, request)

    return run


def _group_selector(cb: Callbacks, group: int) -> Callable[[UiState | None, gr.SelectData], tuple]:
    """The tile-click handler of one cluster row."""

    def run(state: UiState | None, evt: gr.SelectData) -> tuple:
        return cb.select_group_tile(group, state, evt)

    return run


def _shown_file(path: str | None, message: str) -> tuple:
    """A file output made visible when there is a file."""
    return gr.update(value=path, visible=path is not None), message


def launch(
    services: Services,
    agent: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    cache_dir: Path | None = None,
    auth: Callable[[str, str], Awaitable[bool]] | None = None,
    max_upload_mb: float | None = None,
    rate_limit: int = 0,
) -> gr.Blocks:
    """Serve the app. With `block=False` it runs in a background thread (tests); `demo.close()` stops it.

    `auth` checks a user name and password (Gradio's own sign-in page; e.g. `ui.users.Verifier.gradio_auth`);
    `max_upload_mb` refuses larger uploads (HTTP 413, and the page says so before sending); `rate_limit` caps
    each user's chat turns per minute (0: no cap).
    """
    limiter = SlidingWindowLimiter(rate_limit) if rate_limit > 0 else None
    demo = build_ui(services, agent, cache_dir, limiter)
    demo.queue(default_concurrency_limit=CONCURRENT_TURNS)
    demo.launch(
        auth=auth,
        auth_message=SIGN_IN_MESSAGE if auth else None,
        max_file_size=int(max_upload_mb * 1024 * 1024) if max_upload_mb else None,
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
