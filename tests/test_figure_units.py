"""Figures as the indexed unit: a sheet that shows several figures is indexed as one unit per figure.

The fast tests ingest a real sample document through the real pipeline into a real Chroma index. Where OCR
would run, a reader replays the FIG labels real OCR reads on US12448895 sheet 1 (text and boxes as read,
see tests/test_segment.py); the slow test at the end runs the real OCR over the sample index.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from core.patnum import FIGURE_ID_IN_TEXT, figure_id, figure_place
from core.types import Box, OcrToken
from ingest.pipeline import ingest_paths
from ingest.read import read_document
from ingest.segment import figure_crop
from models.ocr import OcrResult
from tests.conftest import sample
from tools.export import hits_to_csv, hits_to_json
from tools.overlay import render_overlay
from tools.search import more_like, search_image
from ui import views

DOC = "uspto/US12448895-20251021.ZIP"
PID = "US12448895"
CHECKED = Path(__file__).resolve().parents[1] / "bench" / "data" / "figure_boxes.json"
# "FIG n" labels as OCR reads them on sheet 1 (four figures in two rows, each label above its figure)
SHEET1_LABELS = {"1": (277, 8, 475, 100), "2": (1054, 2, 1261, 103), "3": (234, 1005, 446, 1108),
                 "4": (1046, 1013, 1241, 1099)}


class LabelsOnSheetOne:
    """The FIG labels real OCR reads on sheet 1 of DOC, and nothing on the other sheets."""

    name = "replay:fig-labels"

    def read(self, image: Image.Image, landscape: bool | None = None, known: set[str] | None = None) -> OcrResult:
        if image.size != (1575, 2039) or getattr(self, "_done", False):
            return OcrResult(rotation=0)
        self._done = True
        return OcrResult(rotation=0, tokens=[
            OcrToken(text=fig, box=Box(x0=a, y0=b, x1=c, y1=d), conf=0.95, kind="fig_label")
            for fig, (a, b, c, d) in SHEET1_LABELS.items()])


def _iou(a: Box, b: list[float]) -> float:
    ix = max(0.0, min(a.x1, b[2]) - max(a.x0, b[0]))
    iy = max(0.0, min(a.y1, b[3]) - max(a.y0, b[1]))
    return ix * iy / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy)


@pytest.fixture(scope="module")
def figure_index(tmp_path_factory):
    from models.linedraw import LineDrawEncoder
    from patfig.wiring import build_services
    from tests.conftest import fake_settings
    from tests.fakes import WordBagEncoder

    services = build_services(fake_settings(tmp_path_factory.mktemp("figure_units")), create=True,
                              visual=LineDrawEncoder(), text=WordBagEncoder(), ocr=LabelsOnSheetOne())
    with read_document(sample(DOC)) as doc:
        first = doc.sheet_image(doc.patent.sheets[0], services.settings.max_image_pixels)
    assert first.size == (1575, 2039)  # the replayed labels are where OCR reads them on this image
    report = ingest_paths(services, [sample(DOC)], use_ocr=True)
    assert not report.failed, report.summary()["failures"]
    yield services
    services.close()


def test_figure_ids_name_the_sheet_and_the_figure():
    assert figure_id("US12448135", 3) == "US12448135-S3"
    assert figure_id("US12448135", 3, "2a") == "US12448135-S3-F2A"
    assert figure_id("US12448135", 3, None, 2) == "US12448135-S3-R2"
    assert figure_id("US12448135", 3, "FIG. 4") == "US12448135-S3-F4"
    found = [m.group(1) for m in FIGURE_ID_IN_TEXT.finditer(
        "compare US12448135-S3-F2A, USD0907292-S1-F1.1 and EP1577413-S12. Then US12448135-S3-R2?")]
    assert found == ["US12448135-S3-F2A", "USD0907292-S1-F1.1", "EP1577413-S12", "US12448135-S3-R2"]
    assert [figure_place(f) for f in found] == [
        ("US12448135", "FIG. 2A on sheet 3"), ("USD0907292", "FIG. 1.1 on sheet 1"), ("EP1577413", "sheet 12"),
        ("US12448135", "region 2 of sheet 3")]


def test_a_sheet_with_four_figures_is_four_units(figure_index):
    store = figure_index.store
    units = store.sheets(PID)
    on_one = [u for u in units if u.sheet_no == 1]
    assert [u.figure_id for u in on_one] == [f"{PID}-S1-F{n}" for n in "1234"]
    truth = {f["fig"]: f["box"] for e in json.loads(CHECKED.read_text())["sheets"]
             if e["source"] == Path(DOC).name and e["sheet_no"] == 1 for f in e["figures"]}
    for u in on_one:
        assert u.figs == [u.figure_id[-1]] and u.image_path == f"sheets/{PID}-S1.png" and u.box_from
        assert u.box is not None and _iou(u.box, truth[u.figs[0]]) >= 0.8
        patent = store.patent(PID)
        assert u.description == patent.figure(u.figs[0]).text  # its own FIG's description, not the sheet's
    # the other sheets read no label and stay whole; one PNG per sheet
    assert all(u.box is None and u.figure_id == f"{PID}-S{u.sheet_no}" for u in units if u.sheet_no != 1)
    assert sorted(p.name for p in (store.root / "sheets").iterdir()) == sorted(
        {Path(u.image_path).name for u in units})
    stats = store.stats()
    assert stats["figures"] == stats["sheets"] + 3 == len(units)
    vectors = store.vectors("visual", [u.figure_id for u in on_one])
    assert len({tuple(v) for v in vectors.values()}) == 4  # each figure has its own picture's vector


def test_a_crop_of_one_figure_finds_that_figure_first(figure_index):
    store = figure_index.store
    fig3 = store.sheet(f"{PID}-S1-F3")
    assert fig3 is not None and fig3.box is not None
    b = fig3.box
    hits = search_image(figure_index, str(store.image_path(fig3)), crop=(b.x0, b.y0, b.x1, b.y1), k=5)
    assert hits[0].figure_id == fig3.figure_id and hits[0].box == fig3.box
    assert hits[0].image_path == str(store.image_path(fig3))
    row = json.loads(hits_to_json(hits[:1]))["hits"][0]
    assert row["box"] == [round(b.x0), round(b.y0), round(b.x1), round(b.y1)]
    assert f"{round(b.x0)}; {round(b.y0)}" in hits_to_csv(hits[:1]).splitlines()[1]
    # "more like" a figure searches with that figure's own vectors, and leaves it out
    like = more_like(figure_index, fig3.figure_id, k=5)
    assert fig3.figure_id not in [h.figure_id for h in like]


def test_the_gallery_shows_the_figure_and_the_detail_frames_it(figure_index, tmp_path):
    store = figure_index.store
    fig2 = store.sheet(f"{PID}-S1-F2")
    assert fig2 is not None and fig2.box is not None
    sheet_path = store.image_path(fig2)
    with Image.open(views.figure_picture(sheet_path, fig2.box, tmp_path, 420)) as tile:
        w, h = fig2.box.x1 - fig2.box.x0, fig2.box.y1 - fig2.box.y0
        assert max(tile.size) == 420 and abs(tile.width / tile.height - w / h) < 0.05  # the region, not the sheet
    with Image.open(views.figure_picture(sheet_path, fig2.box, tmp_path, 800, frame=True)) as framed, \
            Image.open(sheet_path) as sheet:
        assert abs(framed.width / framed.height - sheet.width / sheet.height) < 0.01  # the whole sheet...
        rgb = framed.convert("RGB")
        s = framed.width / sheet.width
        x, y = round((fig2.box.x0 + fig2.box.x1) / 2 * s), round(fig2.box.y0 * s) + 1
        red, green, blue = rgb.getpixel((x, y))
        assert red > 150 and green < 100 and blue < 100  # ...with the figure's region framed in red
    # the overlay draws the region too (and says no numerals were read in it: this replay reads labels only)
    with Image.open(render_overlay(figure_index, fig2.figure_id)) as overlay:
        assert overlay.size == Image.open(sheet_path).size


def test_figure_crop_keeps_a_thin_margin():
    with read_document(sample(DOC)) as doc:
        img = doc.sheet_image(doc.patent.sheets[0], 10**9)
    box = Box(x0=100, y0=200, x1=700, y1=900)
    crop = figure_crop(img, box)
    assert 600 < crop.width < 640 and 700 < crop.height < 740
    assert figure_crop(img, None) is img


@pytest.mark.slow
def test_real_ocr_splits_the_sample_sheets_into_figures(sample_index):
    """The sample index (real OCR): US12448527 sheet 2 shows FIG. 2, 3 and 4, one above the other."""
    store = sample_index.store
    units = [u for u in store.sheets("US12448527") if u.sheet_no == 2]
    assert [u.figs for u in units] == [["2"], ["3"], ["4"]]
    truth = {f["fig"]: f["box"] for e in json.loads(CHECKED.read_text())["sheets"]
             if e["source"] == "US12448527-20251021.ZIP" and e["sheet_no"] == 2 for f in e["figures"]}
    for u in units:
        assert u.box is not None and _iou(u.box, truth[u.figs[0]]) >= 0.8
        assert all(u.box.x0 <= (c.boxes[0].x0 + c.boxes[0].x1) / 2 <= u.box.x1 for c in u.components)
    stats = store.stats()
    assert stats["figures"] > stats["sheets"]
    b = units[1].box
    hits = search_image(sample_index, str(store.image_path(units[1])), crop=(b.x0, b.y0, b.x1, b.y1), k=5)
    assert hits[0].figure_id == "US12448527-S2-F3"
