"""Splitting drawing sheets into figures (ingest/segment.py) on real sample sheets.

The fast tests give `split_sheet` the FIG-label tokens OCR reads on those sheets, written out by hand (text
and box as read); the slow ones run the real OCR first. Boxes are checked against the hand-checked boxes
of bench/data/figure_boxes.json.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from core.types import Box, OcrToken
from ingest.ocr_link import figs_on_sheet
from ingest.read import read_document
from ingest.segment import FigureRegion, split_sheet
from tests.conftest import sample

CHECKED = Path(__file__).resolve().parents[1] / "bench" / "data" / "figure_boxes.json"


@cache
def _checked() -> dict[tuple[str, int], dict]:
    return {(e["source"], e["sheet_no"]): e for e in json.loads(CHECKED.read_text())["sheets"]}


def _sheet(rel: str, sheet_no: int) -> Image.Image:
    with read_document(sample(rel)) as doc:
        src = next(s for s in doc.patent.sheets if s.sheet_no == sheet_no)
        return doc.sheet_image(src, 10**9)


def _label(text: str, x0: float, y0: float, x1: float, y1: float) -> OcrToken:
    return OcrToken(text=text, box=Box(x0=x0, y0=y0, x1=x1, y1=y1), conf=0.95, kind="fig_label")


def _iou(a: Box, b: list[float]) -> float:
    ix = max(0.0, min(a.x1, b[2]) - max(a.x0, b[0]))
    iy = max(0.0, min(a.y1, b[3]) - max(a.y0, b[1]))
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


def _assert_checked(regions: list[FigureRegion], source: str, sheet_no: int) -> None:
    """Each region has the FIG number and (IoU >= 0.8) the box of one hand-checked figure."""
    truth = {f["fig"]: f["box"] for f in _checked()[(source, sheet_no)]["figures"]}
    assert sorted(r.fig or "" for r in regions) == sorted(truth)
    for r in regions:
        assert r.fig is not None
        assert _iou(r.box, truth[r.fig]) >= 0.8, (r.fig, r.box, truth[r.fig])


def test_landscape_sheet_three_figures():
    """US12448135 sheet 5: FIG. 4A-4C on a landscape sheet, labels running up the page beside each figure."""
    img = _sheet("uspto/US12448135-20251021.ZIP", 5)
    tokens = [_label("4A", 943, 1998, 1044, 2207), _label("4B", 1049, 434, 1152, 647),
              _label("4C", 1926, 1249, 2027, 1461)]
    regions = split_sheet(img, tokens, ["4A", "4B", "4C"])
    # reading order in the frame where the labels read (turned a quarter clockwise): left column first,
    # its bottom figure first
    assert [r.fig for r in regions] == ["4A", "4B", "4C"]
    assert {r.source for r in regions} == {"labels+ink"}
    _assert_checked(regions, "US12448135-20251021.ZIP", 5)


def test_labels_above_their_figures():
    """US12448895 sheet 1: four figures in two rows, each "FIG n" label above its figure ("Prior art" under
    FIG 1 and 2), the label row of FIG 3/4 right under the drawings of FIG 1/2."""
    img = _sheet("uspto/US12448895-20251021.ZIP", 1)
    tokens = [_label("1", 277, 8, 475, 100), _label("2", 1054, 2, 1261, 103), _label("3", 234, 1005, 446, 1108),
              _label("4", 1046, 1013, 1241, 1099)]
    regions = split_sheet(img, tokens, ["1", "2", "3", "4"])
    assert [r.fig for r in regions] == ["1", "2", "3", "4"]
    _assert_checked(regions, "US12448895-20251021.ZIP", 1)


def test_row_of_figures_with_labels_below():
    """US20160266645 (PDF) page 3: FIG. 5 above a row of FIG. 6, 7, 8 whose drawings almost touch, their
    labels in a row below them; the page header is not part of any figure."""
    img = _sheet("pdf/US20160266645A1.pdf", 3)
    tokens = [_label("5", 794, 1114, 895, 1163), _label("6", 394, 1871, 500, 1923), _label("7", 743, 1871, 849, 1923),
              _label("8", 1092, 1871, 1198, 1923)]
    regions = split_sheet(img, tokens, ["5", "6", "7", "8"])
    assert [r.fig for r in regions] == ["5", "6", "7", "8"]
    assert all(r.box.y0 > 300 for r in regions)  # the header line "Patent Application Publication ..." is left out
    _assert_checked(regions, "US20160266645A1.pdf", 3)


def test_single_figure_sheet_is_its_ink_box():
    img = _sheet("uspto/US12448730-20251021.ZIP", 1)
    regions = split_sheet(img, [_label("1", 474, 2714, 737, 2789)], ["1"])
    assert len(regions) == 1 and regions[0].fig == "1" and regions[0].source == "labels+ink"
    _assert_checked(regions, "US12448730-20251021.ZIP", 1)


def test_design_sheet_without_label_takes_the_assigned_fig():
    """USD0913174 sheet 1: a Hague design reproduction "1.1" with no label OCR reads."""
    img = _sheet("uspto/USD0913174-20210316", 1)
    regions = split_sheet(img, [], ["1.1"])
    assert [(r.fig, r.source) for r in regions] == [("1.1", "ink")]
    _assert_checked(regions, "USD0913174-20210316", 1)


def test_label_read_with_a_look_alike_and_unlabelled_figure():
    """A label read "48" on a sheet whose FIGs are 4A-4C still names FIG 4B; with the 4C label unread, the
    figure left over takes the FIG no label claimed."""
    img = _sheet("uspto/US12448135-20251021.ZIP", 5)
    tokens = [_label("4A", 943, 1998, 1044, 2207), _label("48", 1049, 434, 1152, 647)]
    regions = split_sheet(img, tokens, ["4A", "4B", "4C"])
    assert sorted(r.fig or "" for r in regions) == ["4A", "4B", "4C"]
    assert next(r for r in regions if r.fig == "4C").source == "ink"
    _assert_checked(regions, "US12448135-20251021.ZIP", 5)


def test_blank_sheet_is_whole():
    regions = split_sheet(Image.new("L", (400, 600), 255), [], ["3"])
    assert regions == [FigureRegion(Box(x0=0, y0=0, x1=400, y1=600), "3", "whole")]


def test_checked_set_is_well_formed():
    data = json.loads(CHECKED.read_text())
    sheets = data["sheets"]
    assert len(sheets) >= 60 and {e["kind"] for e in sheets} == {"uspto", "pdf", "design"}
    assert sum(len(e["figures"]) > 1 for e in sheets) >= 40
    for e in sheets:
        w, h = e["size"]
        for f in e["figures"]:
            x0, y0, x1, y1 = f["box"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (e["source"], e["sheet_no"], f)
            assert f["fig"] and f["how"] in ("hand", "proposal")


# ---------------------------------------------------------------- with the real OCR


@pytest.fixture(scope="module")
def reader():
    from core.errors import ModelUnavailable
    from models.ocr import NumeralReader

    try:
        return NumeralReader().load()
    except ModelUnavailable as e:
        pytest.skip(str(e))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rel", "sheet_no", "figs"),
    [
        ("uspto/US12448249-20251021.ZIP", 2, ["3", "4", "5", "6"]),
        ("uspto/US12448135-20251021.ZIP", 5, ["4A", "4B", "4C"]),
        ("pdf/EP2537954A1.pdf", 5, ["6", "7A", "7B", "8A", "8B"]),
        ("uspto/USD0933283-20211012", 2, ["2", "3"]),
    ],
)
def test_real_ocr_multi_figure_sheets(reader, rel, sheet_no, figs):
    path = sample(rel)
    with read_document(path) as doc:
        src = next(s for s in doc.patent.sheets if s.sheet_no == sheet_no)
        img = doc.sheet_image(src, 10**9)
        res = reader.read(img, landscape=src.landscape, known=set(doc.patent.refsigns))
        assert figs_on_sheet(res.tokens, doc.patent) == figs
    regions = split_sheet(img, res.tokens, figs)
    assert [r.fig for r in regions] == figs
    _assert_checked(regions, path.name, sheet_no)


@pytest.mark.slow
def test_real_ocr_single_figure_sheet(reader):
    path = sample("uspto/US12448749-20251021.ZIP")
    with read_document(path) as doc:
        src = doc.patent.sheets[0]
        img = doc.sheet_image(src, 10**9)
        res = reader.read(img, landscape=src.landscape, known=set(doc.patent.refsigns))
    regions = split_sheet(img, res.tokens, ["1A"])
    assert len(regions) == 1 and regions[0].fig == "1A"
    _assert_checked(regions, path.name, 1)


def test_label_outside_the_image_is_ignored():
    img = _sheet("uspto/US12448730-20251021.ZIP", 1)
    stray = _label("7", 5000, 5000, 5100, 5100)
    regions = split_sheet(img, [stray, _label("1", 474, 2714, 737, 2789)], ["1"])
    assert [r.fig for r in regions] == ["1"]
    assert all(0 <= r.box.x0 < r.box.x1 <= img.width and 0 <= r.box.y0 < r.box.y1 <= img.height for r in regions)
