"""Real EasyOCR on real sheets: orientation, numerals linked to the document's signs, boxes in place."""

from __future__ import annotations

import pytest
from PIL import Image

from core.types import Box, FigureDesc, OcrToken, Patent, RefSign
from ingest.base import read_document
from ingest.ocr_link import assign_figs, link_sheet
from models.ocr import NumeralReader, rotate_box, unrotate_box
from tests.conftest import sample


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_box_rotation_round_trip(k):
    box = (10.0, 20.0, 50.0, 42.0)
    turned = rotate_box(box, k, 300, 200)
    assert unrotate_box(turned, k, 300, 200) == pytest.approx(box)
    if k % 2:
        assert turned[2] - turned[0] == pytest.approx(22) and turned[3] - turned[1] == pytest.approx(40)


def test_link_sheet_keeps_only_signs_with_their_boxes():
    patent = Patent(patent_id="US1", office="US", number="1", refsigns={
        "104": RefSign(numeral="104", labels=["motor"], sentences=["The motor 104 turns."]),
        "12a": RefSign(numeral="12a", labels=["left arm"], sentences=["A left arm 12a."]),
    })
    tok = [OcrToken(text="104", box=Box(x0=1, y0=1, x1=9, y1=5), conf=0.9),
           OcrToken(text="104", box=Box(x0=50, y0=50, x1=60, y1=55), conf=0.8),
           OcrToken(text="12", box=Box(x0=5, y0=5, x1=9, y1=9), conf=0.9),  # suffix lost, unambiguous
           OcrToken(text="777", box=Box(x0=5, y0=5, x1=9, y1=9), conf=0.9)]
    comps, sentences = link_sheet(tok, patent)
    by = {c.numeral: c for c in comps}
    assert set(by) == {"104", "12a"} and len(by["104"].boxes) == 2 and by["104"].label == "motor"
    assert "The motor 104 turns." in sentences


def test_assign_figs_falls_back_to_order():
    patent = Patent(patent_id="US1", office="US", number="1",
                    figures=[FigureDesc(fig=f, text=f"FIG. {f}") for f in ("1", "2", "3")])
    assert assign_figs([[], [], []], patent) == [(["1"], "order"), (["2"], "order"), (["3"], "order")]
    got = assign_figs([["1"], [], []], patent)
    assert got[0] == (["1"], "ocr") and got[1][0] == ["2"] and got[2][0] == ["3"]


@pytest.fixture(scope="module")
def reader():
    return NumeralReader()


@pytest.mark.slow
def test_landscape_sheet_reads_rotated_numerals(reader):
    doc = read_document(sample("uspto/US12448135-20251021.ZIP"))
    sheet = doc.patent.sheets[0]
    img = doc.sheet_image(sheet, 10**9)
    res = reader.read(img, landscape=sheet.landscape, known=set(doc.patent.refsigns))
    assert res.rotation == 270  # the labels read bottom-to-top on this sheet
    comps, _ = link_sheet(res.tokens, doc.patent)
    assert len(comps) >= 12
    assert {"104", "107", "110"} <= {c.numeral for c in comps}
    numerals = [t for t in res.tokens if t.kind == "numeral"]
    linked = [t for t in numerals if t.text in doc.patent.refsigns]
    assert len(linked) / len(numerals) >= 0.9
    for t in numerals:
        assert 0 <= t.box.x0 < t.box.x1 <= img.width and 0 <= t.box.y0 < t.box.y1 <= img.height
    # the box really holds ink where the numeral is
    b = next(c.boxes[0] for c in comps if c.numeral == "104")
    crop = img.crop((int(b.x0), int(b.y0), int(b.x1), int(b.y1))).convert("L")
    assert min(crop.getdata()) < 100


@pytest.mark.slow
def test_portrait_sheet_and_fig_labels(reader):
    doc = read_document(sample("uspto/US12448895-20251021.ZIP"))
    sheet = doc.patent.sheets[0]
    res = reader.read(doc.sheet_image(sheet, 10**9), landscape=sheet.landscape, known=set(doc.patent.refsigns))
    assert res.rotation == 0
    comps, _ = link_sheet(res.tokens, doc.patent)
    assert {"101", "102"} <= {c.numeral for c in comps}
    assert {"1", "2"} <= {t.text for t in res.tokens if t.kind == "fig_label"}


@pytest.mark.slow
def test_blank_image_reads_nothing(reader):
    res = reader.read(Image.new("L", (800, 1000), 255))
    assert res.tokens == [] and res.rotation == 0
