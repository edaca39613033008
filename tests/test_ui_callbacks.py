"""The web app's callbacks, called directly: bad uploads, empty queries and bad crops give a visible message
and the app goes on; each browser tab keeps its own session; figure detail, groups and export show what the
tools returned. Error cases run on a real (empty) index; the rest on the real sample index."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from tests.conftest import sample
from ui import views
from ui.web.callbacks import Callbacks

SHEET_ZIP = "uspto/US12448135-20251021.ZIP"
SHEET_MEMBER = "US12448135-20251021/US12448135-20251021-D00001.TIF"

DRAWING_ONLY = {"visual", "views", "verified", "lines", "exact"}  # the drawing's evidence: no words searched


def drain(gen) -> list[tuple]:
    """Run a streaming callback to its end; every yielded output tuple."""
    return list(gen)


def select(index) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": None})


@pytest.fixture
def empty_cb(tmp_path) -> Callbacks:
    """Callbacks over a real, empty index and the real offline agent."""
    from agent.loop import Agent
    from core.settings import Settings
    from patfig.wiring import build_services

    services = build_services(Settings(index_dir=tmp_path / "index", visual_encoder="linedraw", offline=True),
                              create=True)
    yield Callbacks(services, Agent(services), tmp_path / "ui-cache")
    services.close()


@pytest.fixture
def sheet_tif(tmp_path) -> Path:
    """A real USPTO drawing sheet (TIFF, 1 bit) as a user would upload it."""
    out = tmp_path / "D00001.TIF"
    with zipfile.ZipFile(sample(SHEET_ZIP)) as z:
        out.write_bytes(z.read(SHEET_MEMBER))
    return out


# ---------------------------------------------------------------- bad input


def test_non_image_upload_gives_a_message_and_keeps_no_drawing(empty_cb, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("this is a text file with an image name", encoding="utf-8")
    with pytest.warns(UserWarning, match="not a readable image"):
        st, preview, *crop, msg = empty_cb.upload(str(fake), None)
    assert msg.startswith("⚠ Cannot use this upload: notes.png is not a readable image")
    assert st.image is None and preview is None and crop == [None, None, None, None]


def test_huge_image_upload_is_refused_with_its_size(empty_cb, tmp_path):
    big = tmp_path / "huge.png"
    Image.new("1", (8000, 8000), 1).save(big)  # 64 million pixels, over the 60 million limit
    with pytest.warns(UserWarning, match="8000x8000"):
        st, preview, *_, msg = empty_cb.upload(str(big), None)
    assert "⚠ Cannot use this upload: the image is 8000x8000 pixels; the limit is 60,000,000 pixels" in msg
    assert st.image is None and preview is None


def test_empty_query_is_refused_without_calling_the_agent(empty_cb):
    with pytest.warns(UserWarning, match="Type a question or upload a drawing"):
        outs = drain(empty_cb.send(None, "   ", 0.5, 20))
    st, chat, _, msg = outs[-1][:4]
    assert msg == "⚠ Type a question or upload a drawing first."
    assert chat == [] and st.session.sets == []


def test_zero_size_crop_by_clicks_is_refused(empty_cb, sheet_tif):
    st, *_ = empty_cb.upload(str(sheet_tif), None)
    empty_cb.click_preview(st, select([120, 300]))
    st, _, *crop, msg = empty_cb.click_preview(st, select([120, 300]))
    assert "zero size" in msg
    with pytest.warns(UserWarning, match="zero size"):
        outs = drain(empty_cb.send(st, "", 0.5, 20))
    assert "zero size" in outs[-1][3]
    assert st.session.sets == [] and st.chat == []


def test_zero_size_crop_by_fields_is_refused(empty_cb, sheet_tif):
    st, *_ = empty_cb.upload(str(sheet_tif), None)
    st, _, msg = empty_cb.set_crop(st, 100, 200, 100, 900)
    assert msg == "⚠ The selected region has zero size: pick two different corners (or clear the crop)."


def test_crop_outside_the_drawing_is_refused(empty_cb, sheet_tif):
    st, *_ = empty_cb.upload(str(sheet_tif), None)
    w, h = st.image_size
    st, _, msg = empty_cb.set_crop(st, 10, 10, w + 50, 400)
    assert msg.startswith("⚠ The selected region cannot be searched: crop box")
    assert "lies outside the image" in msg


def test_one_corner_only_is_refused(empty_cb, sheet_tif):
    st, *_ = empty_cb.upload(str(sheet_tif), None)
    st, _, *_, msg = empty_cb.click_preview(st, select([50, 60]))
    assert msg == "First corner set: click the opposite corner."
    with pytest.warns(UserWarning, match="Only one corner"):
        drain(empty_cb.send(st, "", 0.5, 20))


def test_actions_before_any_search_say_what_to_do(empty_cb):
    with pytest.warns(UserWarning, match="Nothing to export"):
        path, msg = empty_cb.export(None, "csv")
    assert path is None and msg == "⚠ Nothing to export yet: search first."
    with pytest.warns(UserWarning, match="no results yet"):
        out = empty_cb.apply_filters(None, ["flowchart"], [], [], [], "", "")
    assert "no results yet" in out[2]
    with pytest.warns(UserWarning, match="Open a figure first"):
        outs = drain(empty_cb.more_like_this(None))
    assert outs[-1][3] == "⚠ Open a figure first (click a tile in the results)."


# ---------------------------------------------------------------- the query drawing


def test_upload_keeps_the_original_and_shows_a_downscaled_preview(empty_cb, sheet_tif):
    with Image.open(sheet_tif) as im:
        size = im.size
    st, preview, *crop, msg = empty_cb.upload(str(sheet_tif), None)
    assert msg == "" and st.image == str(sheet_tif) and st.image_size == size
    with Image.open(preview) as p:
        assert max(p.size) == views.PREVIEW_SIDE and p.format == "PNG"
    assert st.preview_scale == pytest.approx(max(size) / views.PREVIEW_SIDE)


def test_two_clicks_select_a_crop_in_original_pixels(empty_cb, sheet_tif):
    st, *_ = empty_cb.upload(str(sheet_tif), None)
    s = st.preview_scale
    empty_cb.click_preview(st, select([300, 500]))
    st, preview, *crop, msg = empty_cb.click_preview(st, select([100, 200]))  # corners in any order
    assert tuple(crop) == (round(100 * s), round(200 * s), round(300 * s), round(500 * s))
    assert st.crop == tuple(float(c) for c in crop)
    assert msg.startswith("Region selected.")
    with Image.open(preview) as p:  # the box is drawn in red on the preview
        assert p.getpixel((200, 350)) != (220, 30, 30) and p.getpixel((100, 350)) == (220, 30, 30)


# ---------------------------------------------------------------- on the sample index


@pytest.fixture
def offline_services(request):
    """The sample documents without OCR (`fake_index`; the real sample index for tests marked slow), with the
    offline planner forced (no probing of an Ollama server)."""
    index = request.getfixturevalue("sample_index" if request.node.get_closest_marker("slow") else "fake_index")
    return dataclasses.replace(index, settings=index.settings.model_copy(update={"offline": True}))


@pytest.fixture
def cb(offline_services, tmp_path) -> Callbacks:
    from agent.loop import Agent

    return Callbacks(offline_services, Agent(offline_services), tmp_path / "ui-cache")


def test_a_drawing_search_streams_steps_and_fills_the_gallery(cb, sheet_tif):
    st, *_ = cb.upload(str(sheet_tif), None)
    outs = drain(cb.send(st, "", 0.5, 12))
    st, chat, _, msg, _, gallery, info, history = outs[-1]
    assert msg == ""
    assert chat[0] == {"role": "user", "content": "Search with my drawing"}
    steps = [m for m in chat if m.get("metadata", {}).get("title", "").startswith("⚙")]
    assert [m["metadata"]["title"] for m in steps] == ["⚙ search"]
    items = gallery["value"]
    assert len(items) == 12 == len(st.session.current.hits)
    assert items[0][1].startswith("#1 US12448135 · FIG ")  # the uploaded sheet itself comes first
    assert info.startswith("**Result set #1** — 12 figures")
    assert history["choices"][0][1] == 1
    # a calm reply: what was searched, how many, how good, what next; the list is the gallery's, the offline
    # notice is the notice bubble's (shown once, not repeated in the reply)
    notices = [m for m in chat if m.get("metadata", {}).get("title") == "ℹ Notice"]
    reply = chat[-1]["content"]
    assert len(notices) == 1 and "Offline mode" in notices[0]["content"] and "Offline mode" not in reply
    assert reply.startswith("Set 1: 12 figures (search with your drawing). The best, #1 US12448135 FIG ")
    assert reply.splitlines()[-1].startswith("You can say ") and "\n#1 " not in reply


def test_a_drawing_with_only_request_words_is_searched_by_the_drawing_alone(cb, sheet_tif):
    st, *_ = cb.upload(str(sheet_tif), None)
    st, chat, *_ = drain(cb.send(st, "search with this drawing", 0.5, 8))[-1][:2]
    recipe = st.session.recipe()
    assert recipe.mode == "image" and recipe.text == "" and recipe.text_weight == 0.0
    top = st.session.current.hits[0]
    assert top.patent_id == "US12448135" and top.sheet_no == 1  # the uploaded sheet itself
    assert set(top.breakdown.modalities) <= DRAWING_ONLY
    assert chat[0] == {"role": "user", "content": "search with this drawing"}


def test_two_tabs_keep_separate_sessions(cb):
    a = drain(cb.send(None, "propeller blade", 0.5, 5))[-1][0]
    b = drain(cb.send(None, "solar cell layers", 0.5, 7))[-1][0]
    assert a.session is not b.session
    assert [len(s.hits) for s in a.session.sets] == [5] and [len(s.hits) for s in b.session.sets] == [7]
    drain(cb.ask(a, "undo"))
    assert b.session.current.set_id == 1 and len(b.chat) > 0 and b.chat != a.chat


@pytest.mark.slow  # needs a sheet with OCR-linked reference signs
def test_figure_detail_shows_sheet_signs_breakdown_and_explanation(cb, offline_services):
    st = drain(cb.send(None, "propeller blade", 0.5, 10))[-1][0]
    with_signs = next(i for i, fid in enumerate(st.tiles) if offline_services.store.sheet(fid).components)
    st, sheet_img, md, refs, overlay, bd_rows, bd_md, expl, tab = cb.select_tile(st, select(with_signs))
    hit = st.session.current.hits[with_signs]
    sheet = offline_services.store.sheet(hit.figure_id)
    assert st.selected == hit.figure_id and tab.selected == "figure"
    assert md.startswith(f"### #{hit.rank} · {hit.patent_id} · sheet {hit.sheet_no}")
    assert [r[0] for r in refs] == sorted({c.numeral for c in sheet.components}, key=views._numeral_key)
    assert {r[0] for r in bd_rows} >= {"linked text"}
    assert bd_md.startswith(f"**Fused score {hit.breakdown.fused:.3f}**")
    assert hit.patent_id in expl
    with Image.open(sheet_img) as im:
        assert max(im.size) <= views.READABLE_SIDE
    assert Path(overlay).is_file()
    st, preview, *crop, msg = cb.use_sheet(st)  # "search with a region of this sheet"
    assert st.image == str(offline_services.store.image_path(sheet)) and st.fresh and Path(preview).is_file()
    if sheet.box is None:  # the figure is its whole sheet: no crop yet
        assert st.crop is None and msg.startswith(f"Query drawing: {hit.figure_id}.")
    else:  # one figure of a sheet with several: its own region is the crop
        b = sheet.box
        assert st.crop == (b.x0, b.y0, b.x1, b.y1) and crop == [round(v) for v in st.crop]
        assert msg.startswith(f"Query drawing: the sheet of {hit.figure_id}, cropped to its figure.")


def test_export_writes_the_current_set(cb):
    st = drain(cb.send(None, "propeller blade", 0.5, 6))[-1][0]
    path, msg = cb.export(st, "csv")
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert [r["figure_id"] for r in rows] == [h.figure_id for h in st.session.current.hits]
    assert msg == "Exported result set #1 (6 figures) as CSV."
    path, _ = cb.export(st, "json")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    assert len(data if isinstance(data, list) else data["hits"]) == 6


def test_facet_filters_make_a_new_set_and_tell_the_chat(cb, offline_services):
    st = drain(cb.send(None, "propeller blade", 0.5, 20))[-1][0]
    kinds = sorted({h.kind for h in st.session.current.hits})
    st, chat, msg, gallery, info, _ = cb.apply_filters(st, [kinds[0]], [], [], [], "", "")
    kept = st.session.current.hits
    assert msg == "" and st.session.current.set_id == 2 and kept
    assert {h.kind for h in kept} == {kinds[0]}
    assert chat[-1]["metadata"]["title"] == "⚙ filter_results"
    assert f"Filtered set #1 → #2: {len(kept)} of 20 figures kept" in chat[-1]["content"]
    assert "[facet panel]" in st.session.messages[-2].content  # the agent knows about it


# ---------------------------------------------------------------- display helpers


def test_tile_caption_and_crop_normalisation():
    from core.types import Hit

    hit = Hit(rank=3, figure_id="US12448135-S2", patent_id="US12448135", sheet_no=2, figs=["2A", "2B"],
              kind="drawing", score=0.81234)
    assert views.tile_caption(hit) == "#3 US12448135 · FIG 2A, 2B · drawing · 0.812"
    assert views.normalise_crop((300, 500, 100, 200)) == (100.0, 200.0, 300.0, 500.0)
    assert views.normalise_crop((None, 0, "", 0)) is None


def test_status_names_index_encoders_and_backend_state():
    status = {"backend": "offline", "model": "qwen2.5:7b", "reachable": False,
              "reason": "no Ollama server answers at http://127.0.0.1:11434"}
    stats = {"index": "/data/index", "patents": 9, "sheets": 61, "figures": 74, "figures_with_components": 40,
             "encoders": {"visual": {"name": "linedraw:hog-v1", "dim": 1020}}}
    md = views.status_markdown(status, stats)
    assert "9 patents, 61 drawing sheets, 74 figures (40 with OCR-linked reference signs)" in md
    assert "visual `linedraw:hog-v1`" in md
    assert "**Chat backend**: offline `qwen2.5:7b` — offline planner: no Ollama server answers" in md


def test_step_back_and_history_switch_the_shown_set(cb):
    st = drain(cb.send(None, "propeller blade", 0.5, 5))[-1][0]
    st = drain(cb.send(st, "solar cell layers", 0.5, 8))[-1][0]
    st, chat, gallery, info, history = cb.step_back(st)
    assert st.session.current.set_id == 1 and len(gallery["value"]) == 5
    assert chat[-1]["content"].startswith("Stepped back to result set #1")
    assert [c[1] for c in history["choices"]] == [2, 1] and history["value"] == 1
    st, chat, gallery, info, history = cb.goto_set(st, 2)
    assert st.session.current.set_id == 2 and info.startswith("**Result set #2** — 8 figures")


def test_app_without_a_cache_folder_removes_the_one_it_made_on_exit(tmp_path):
    """`patfig serve` gives the app no cache folder: the app makes its own and removes exactly that one when
    the process ends (they used to pile up in /tmp, one per run)."""
    import subprocess
    import sys

    code = "from ui.web.app import _own_cache; c = _own_cache(); (c / 'x.png').write_bytes(b'1'); print(c)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    made = Path(out.stdout.strip().splitlines()[-1])
    assert made.name.startswith("patfig-ui-")
    assert not made.exists()
