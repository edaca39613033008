"""The web app's `gr.Blocks`: the chat and query drawing on the left, results, figure, groups and status tabs on
the right. Only widgets here; `ui.web.app` wires their events to the callbacks.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr
from PIL import Image

from core.defaults import DEFAULT_K, DEFAULT_TEXT_WEIGHT, WEAK_SCORE
from ui import views
from ui.web.state import MAX_GROUPS, RESULT_EXAMPLES

SKETCH_CANVAS = (600, 600)  # pixels of the sketch pad
SKETCH_PEN = 3  # the pen's width in pad pixels: a thin ink line (a 5 px pen found less: bench/sketch_queries.py)
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"]
TITLE = "patfig — patent drawing search"
HINT = (
    "### patfig — find patent drawings by sketch, figure, words, or all of them\n"
    "**Ask** in the chat (e.g. *a perspective view of a propeller*), or **upload a drawing** below, click two "
    "corners on it to search for just that region, and press **Search**. Then refine in plain words: "
    "*only perspective views*, *more like #3*, *group them*, *why is #2 above #5?*, *undo*."
)
CSS = """
#hint { padding: 4px 8px; }
#ingest-progress p { margin: 2px 0; color: #1e40af; }
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


class Widgets(SimpleNamespace):
    """The widgets the callbacks read or write, by name (set by the section builders below)."""


def new_page() -> gr.Blocks:
    """The empty page; `build_layout` fills it (inside `with new_page() as demo:`)."""
    return gr.Blocks(title=TITLE, fill_width=True)


def build_layout(facets: dict[str, Any], examples: list[str]) -> Widgets:
    """The page's widgets, with filter choices from the index's facet values and example requests as buttons."""
    w = Widgets(examples=examples)
    w.state = gr.State(None)
    gr.Markdown(HINT, elem_id="hint")
    w.banner = gr.Markdown("", elem_id="offline-banner")
    w.ingest_md = gr.Markdown("", elem_id="ingest-progress")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=380):
            _chat(w, examples)
            with gr.Accordion("Query drawing (upload or sketch one, then click two corners to crop)", open=True):
                _query_drawing(w)
        with gr.Column(scale=3, min_width=480):
            with gr.Tabs(selected="results") as w.tabs:
                with gr.Tab("Results", id="results"):
                    _results(w, facets)
                with gr.Tab("Figure", id="figure"):
                    _figure(w)
                with gr.Tab("Groups", id="groups"):
                    _groups(w)
                with gr.Tab("Status", id="status"):
                    w.status_md = gr.Markdown(elem_id="status-md")
                    w.refresh = gr.Button("Refresh", size="sm")
    return w


def _chat(w: Widgets, examples: list[str]) -> None:
    w.chatbot = gr.Chatbot(label="Chat", height=460, elem_id="chat", buttons=["copy"],
                           placeholder="Results appear on the right; every search step is shown here.")
    with gr.Row():
        w.msg = gr.Textbox(placeholder="Describe a drawing, or refine: only perspective views, more like #3",
                           show_label=False, scale=5, elem_id="chat-input", lines=1, max_lines=4)
        w.send = gr.Button("Search", variant="primary", scale=1, elem_id="send")
    with gr.Row():
        w.ex_buttons = [gr.Button(f"Try: {e}", size="sm", elem_id=f"example-{i}") for i, e in enumerate(examples)]
        w.ref_buttons = [gr.Button(e, size="sm", elem_id=f"refine-{i}") for i, e in enumerate(RESULT_EXAMPLES)]


def _query_drawing(w: Widgets) -> None:
    with gr.Tabs(elem_id="drawing-tabs"):
        with gr.Tab("Upload", id="upload"):
            w.upload = gr.File(label="Upload a drawing or sketch (PNG, JPEG, TIFF)", file_types=IMAGE_TYPES,
                               type="filepath", elem_id="query-file", height=130)
        with gr.Tab("Sketch", id="sketch"):
            _sketch_pad(w)
    w.preview = gr.Image(label="Query drawing: click two corners to select a region", type="filepath",
                         interactive=False, elem_id="query-preview", height=360, buttons=["fullscreen"])
    gr.Markdown("Or type the region in pixels of the drawing (all 0: the whole drawing).")
    with gr.Row():
        w.crop_fields = [
            gr.Number(label="left x0", precision=0, elem_id="crop-x0", min_width=80),
            gr.Number(label="top y0", precision=0, elem_id="crop-y0", min_width=80),
            gr.Number(label="right x1", precision=0, elem_id="crop-x1", min_width=80),
            gr.Number(label="bottom y1", precision=0, elem_id="crop-y1", min_width=80),
        ]
    with gr.Row():
        w.query_msg = gr.Markdown("", elem_id="query-msg")
        w.clear = gr.Button("Clear crop", size="sm", elem_id="clear-crop", scale=0, min_width=110)
    with gr.Row():
        w.weight = gr.Slider(0, 1, value=DEFAULT_TEXT_WEIGHT, step=0.05, label="Text weight (drawing + words)",
                             elem_id="text-weight")
        w.topk = gr.Slider(1, 100, value=DEFAULT_K, step=1, label="Top k", elem_id="top-k")
        w.min_score = gr.Slider(0, 1, value=0, step=0.05, label="Minimum score", elem_id="min-score",
                                info="Scores are calibrated relevances: the same for every query. Below "
                                     f"{WEAK_SCORE:.2f} a match is weak.")


def _sketch_pad(w: Widgets) -> None:
    """A white pad with a black pen, like a patent drawing; its picture is searched (with the words typed, if any)."""
    w.sketch = gr.Sketchpad(
        label="Sketch (black pen on white)", type="pil", image_mode="RGBA",
        brush=gr.Brush(default_size=SKETCH_PEN, colors=["#000000"], default_color="#000000", color_mode="fixed"),
        eraser=gr.Eraser(default_size=4 * SKETCH_PEN), canvas_size=SKETCH_CANVAS, fixed_canvas=True, layers=False,
        value=_white_pad(), elem_id="sketch", height=420)
    w.sketch_go = gr.Button("Search with my sketch (and the words typed above, if any)", variant="primary",
                            elem_id="sketch-search")


def _white_pad() -> dict[str, Any]:
    """The pad's starting value: a white sheet to draw on (the strokes are a layer over it)."""
    return {"background": Image.new("RGB", SKETCH_CANVAS, "white"), "layers": [], "composite": None}


def _results(w: Widgets, facets: dict[str, Any]) -> None:
    w.set_info = gr.Markdown(views.set_summary(None), elem_id="set-info")
    with gr.Row():
        w.history = gr.Dropdown(label="Result sets", choices=[], interactive=True, scale=4, elem_id="history")
        w.back = gr.Button("◀ Step back", scale=1, elem_id="step-back")
    w.gallery = gr.Gallery(label="Current result set, most relevant first", columns=4, height=560,
                           object_fit="contain", allow_preview=False, elem_id="gallery", fit_columns=False)
    with gr.Accordion("Filter the current set", open=False, elem_id="filters"):
        _filters(w, facets)
    with gr.Row():
        w.exp_csv = gr.Button("Export CSV", size="sm", elem_id="export-csv")
        w.exp_json = gr.Button("Export JSON", size="sm", elem_id="export-json")
    w.export_file = gr.File(label="Export", interactive=False, elem_id="export-file", height=80, visible=False)
    w.export_msg = gr.Markdown("")


def _filters(w: Widgets, facets: dict[str, Any]) -> None:
    w.f_kinds = gr.CheckboxGroup(facets.get("kinds", []), label="Figure kind", elem_id="f-kind")
    w.f_views = gr.CheckboxGroup(facets.get("views", []), label="View", elem_id="f-view")
    w.f_offices = gr.CheckboxGroup(facets.get("offices", []), label="Office", elem_id="f-office")
    w.f_cpc = gr.Dropdown([c for c in facets.get("cpc", []) if len(c) >= 3], multiselect=True,
                          label="CPC class / subclass", elem_id="f-cpc")
    dr = facets.get("date_range") or []
    with gr.Row():
        w.f_from = gr.Textbox(label="Published from", placeholder=str(dr[0]) if dr else "2018", elem_id="f-from")
        w.f_to = gr.Textbox(label="Published until", placeholder=str(dr[1]) if dr else "2025", elem_id="f-to")
    w.f_apply = gr.Button("Apply filters to the current set", elem_id="f-apply")
    w.filter_msg = gr.Markdown("")


def _figure(w: Widgets) -> None:
    with gr.Row():
        w.more = gr.Button("More like this", elem_id="more-like")
        w.region = gr.Button("Search with a region of this sheet", elem_id="use-region")
    with gr.Row(equal_height=False):
        w.detail_img = gr.Image(label="Sheet", interactive=False, elem_id="detail-image", height=620,
                                buttons=["fullscreen", "download"])
        with gr.Column():
            w.detail_md = gr.Markdown(elem_id="detail-md")
    gr.Markdown("#### Why it is here")
    with gr.Row(equal_height=False):
        w.overlay_img = gr.Image(label="Reference signs found on the sheet", interactive=False,
                                 elem_id="overlay-image", height=520, buttons=["fullscreen"])
        with gr.Column():
            w.bd_md = gr.Markdown(elem_id="breakdown-md")
            w.expl_md = gr.Markdown(elem_id="explanation-md")
    w.bd_table = gr.Dataframe(headers=views.BREAKDOWN_HEADERS, interactive=False,
                              label="Score breakdown per modality", elem_id="breakdown-table")
    w.refs = gr.Dataframe(headers=views.REFSIGN_HEADERS, interactive=False, wrap=True,
                          label="Reference signs on this sheet", elem_id="refsigns",
                          column_widths=["10%", "25%", "10%", "55%"])


def _groups(w: Widgets) -> None:
    w.group_btn = gr.Button("Group the results", elem_id="group")
    w.groups_md = gr.Markdown("", elem_id="groups-md")
    w.group_map = gr.Image(label="2-D map of the groups", interactive=False, elem_id="group-map", height=420)
    w.group_slots = []  # title, gallery, title, gallery, ...
    for i in range(MAX_GROUPS):
        w.group_slots.append(gr.Markdown(visible=False, elem_id=f"group-{i}-title"))
        w.group_slots.append(gr.Gallery(visible=False, columns=6, rows=1, height=240, allow_preview=False,
                                        object_fit="contain", show_label=False, fit_columns=False,
                                        elem_id=f"group-{i}", elem_classes=["cluster-row"]))
