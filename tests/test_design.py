"""US design patents: the 40 unpacked USD folders of the sample set, read by the real USPTO reader.

Every expected value below was read by hand from the folder's ICE XML (publication date, title,
<classification-locarno>, the brief description of the drawings) or counted from its TIFF sheets.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from core.filters import sheet_metadata
from core.types import Patent, Sheet
from core.vocab import KINDS, VIEWS
from ingest.figures import parse_figure_descriptions
from ingest.ocr_link import assign_figs
from ingest.uspto import find_ice_xml, read_uspto
from tests.conftest import SAMPLES

DESIGNS = sorted((SAMPLES / "uspto").glob("USD*-*")) if (SAMPLES / "uspto").is_dir() else []
needs_designs = pytest.mark.skipif(not DESIGNS, reason=f"design folders missing under {SAMPLES / 'uspto'}")


@cache
def design(number: str) -> Patent:
    """The Patent of the design folder whose name starts with ``number``, e.g. "USD0907292"."""
    folder = next((d for d in DESIGNS if d.name.startswith(number)), None)
    if folder is None:
        pytest.skip(f"design folder {number} missing")
    return read_uspto(folder).patent


def views(p: Patent) -> dict[str, str]:
    return {f.fig: f.view for f in p.figures}


# ------------------------------------------------------------------ five and more, value by value


@needs_designs
def test_shaving_blade_cartridge_usd907292():
    p = design("USD0907292")
    assert (p.patent_id, p.kind, p.doc_type) == ("USD907292", "S1", "design")
    assert (p.pub_date, p.filing_date) == (20210105, 20190220)
    assert (p.title, p.locarno) == ("Shaving blade cartridge", "28-03")  # <main-classification>2803, edition 13
    assert p.claims == ["The ornamental design for a shaving blade cartridge, as shown and described."]
    assert p.applicants == ["BIC-VIOLEX SA"] and "EP13185994" in p.priority_numbers
    assert [s.member for s in p.sheets] == [f"USD0907292-20210105-D0000{i}.TIF" for i in range(1, 9)]
    assert [s.landscape for s in p.sheets] == [False, False, False, True, True, False, False, False]
    # "FIG. 2 is a bottom view", "FIG. 3 is a top view perspective view", "FIG. 6 is a back view" ...
    assert views(p) == {
        "1": "perspective", "2": "bottom", "3": "perspective", "4": "left",
        "5": "right", "6": "rear", "7": "front", "8": "perspective",
    }  # fmt: skip
    assert p.figure("1").text.startswith("FIG. 1 is a front perspective view of an ornamental design")
    assert {f.kind for f in p.figures} == {"drawing"}
    assert p.refsigns == {}  # design sheets carry FIG labels, no reference numerals


@needs_designs
def test_keyboard_top_and_bottom_plan_views_usd919623():
    p = design("USD0919623")
    assert (p.title, p.locarno, p.pub_date) == ("Keyboard including a control bar", "14-02", 20210518)
    assert (len(p.figures), len(p.sheets)) == (7, 5)
    assert views(p) == {
        "1": "perspective",  # "front, bottom, right-side perspective view"
        "2": "bottom",  # "bottom plan view"
        "3": "top",  # "top plan view"
        "4": "left",  # "left-side elevational view"
        "5": "right",
        "6": "front",  # "front elevational view"
        "7": "rear",
    }


@needs_designs
def test_hague_reproductions_display_screen_usd913174():
    p = design("USD0913174")  # international design: "1.1 : Perspective" ... and a sentence per reproduction
    assert (p.title, p.locarno) == ("Display screen for automobile", "14-03")
    assert (p.pub_date, p.filing_date) == (20210316, 20190619)
    assert (len(p.figures), len(p.sheets)) == (8, 8)
    assert views(p) == {
        "1.1": "perspective", "1.2": "front", "1.3": "rear", "1.4": "left",
        "1.5": "top", "1.6": "bottom", "1.7": "unknown", "1.8": "unknown",  # 1.7, 1.8: "Reference view"
    }  # fmt: skip
    assert p.figure("1.1").text == (
        "1.1: Perspective; reproduction 1.1 is a front perspective view of the display screen for automobile"
    )
    assert p.figure("1.4").text.endswith("is a left view thereof where the right view is a mirror image")


@needs_designs
def test_hague_reproductions_belt_buckle_usd915935():
    p = design("USD0915935")
    assert (p.title, p.locarno, p.pub_date) == ("Belt buckle", "02-07", 20210413)
    assert (len(p.figures), len(p.sheets)) == (7, 7)
    assert views(p) == {
        "1.1": "perspective", "1.2": "front", "1.3": "rear", "1.4": "right",
        "1.5": "left", "1.6": "top", "1.7": "bottom",
    }  # fmt: skip
    assert p.figure("1.4").text == "1.4: Right" and p.figure("1.4").kind == "drawing"


@needs_designs
def test_single_figure_gui_usd937858():
    p = design("USD0937858")  # "The FIGURE is a front view of a display screen ..."
    assert (p.locarno, p.pub_date, len(p.sheets)) == ("14-04", 20211207, 1)
    assert p.title == "Display screen or portion thereof with graphical user interface"
    assert [(f.fig, f.view, f.kind) for f in p.figures] == [("1", "front", "drawing")]


@needs_designs
def test_mirror_image_and_isometric_usd927652():
    p = design("USD0927652")
    assert (p.title, p.locarno, p.pub_date) == ("Coupling segment", "23-01", 20210810)
    assert (len(p.figures), len(p.sheets)) == (6, 6)
    # "FIG. 4 is a right side view ..., the left view being a mirror image thereof"
    assert views(p) == {"1": "perspective", "2": "front", "3": "rear", "4": "right", "5": "top", "6": "bottom"}
    assert p.claims[0].startswith("We claim the ornamental design for a coupling segment")


@needs_designs
def test_many_figures_on_fewer_sheets_usd911449():
    p = design("USD0911449")
    assert (p.title, p.locarno, p.pub_date) == ("Game housing and game pieces", "21-01", 20210223)
    assert (len(p.figures), len(p.sheets)) == (93, 67)
    # "FIG. 2 is a front elevational of the game housing of FIG. 1" (no "view")
    assert [p.figure(f).view for f in ("1", "2", "3", "4", "5", "6", "7")] == [
        "perspective", "front", "rear", "left", "right", "top", "bottom"
    ]  # fmt: skip


@needs_designs
def test_edge_views_and_a_bare_front_usd915081_usd928323():
    fabric = design("USD0915081")  # "FIG. 3 is a front edge view thereof" ...
    assert (fabric.locarno, fabric.pub_date, len(fabric.sheets)) == ("05-05", 20210406, 4)
    assert [f.view for f in fabric.figures] == ["plan", "perspective", "front", "rear", "right", "left"]
    abutment = design("USD0928323")  # "FIG. 6 is a front thereof"; its one CPC symbol is given too
    assert (abutment.locarno, abutment.cpc) == ("24-02", ["A61C8/006"])
    assert abutment.figure("6").view == "front" and abutment.figure("4").view == "perspective"


# ------------------------------------------------------------------ all forty


@needs_designs
def test_there_are_forty_design_folders():
    assert len(DESIGNS) == 40


@needs_designs
@pytest.mark.parametrize("folder", DESIGNS, ids=lambda d: d.name.split("-")[0])
def test_every_design_folder_reads(folder: Path):
    p = read_uspto(folder).patent
    bib = ET.parse(find_ice_xml(folder)).getroot().find("us-bibliographic-data-grant")
    assert (p.doc_type, p.kind, p.office) == ("design", "S1", "US")
    assert p.patent_id == "USD" + folder.name.split("-")[0][3:].lstrip("0")
    assert p.pub_date == int(folder.name.split("-")[1])
    assert p.title == bib.findtext("invention-title")
    assert p.locarno == re.sub(r"^(\d\d)(\d\d)$", r"\1-\2", bib.findtext("classification-locarno/main-classification"))
    assert len(p.claims) == 1 and "ornamental design for" in p.claims[0]
    # the counts the XML states agree with what was read
    assert len(p.sheets) == int(bib.findtext("figures/number-of-drawing-sheets"))
    assert len(p.figures) == int(bib.findtext("figures/number-of-figures"))
    assert all(f.view in VIEWS and f.kind in KINDS for f in p.figures)
    assert any(f.view != "unknown" for f in p.figures)


# ------------------------------------------------------------------ parsing, sheets and facets


def test_hague_reproduction_lines():
    descs = parse_figure_descriptions(["1. Lamp", "1.1 : Perspective", "1.2 : Back", "1.3 : Reference view"])
    assert [(d.fig, d.view, d.kind) for d in descs] == [
        ("1.1", "perspective", "drawing"), ("1.2", "rear", "drawing"), ("1.3", "unknown", "drawing")
    ]  # fmt: skip
    # numbered FIGs win: a paragraph number like "1.1" is not read as a reproduction then
    assert [d.fig for d in parse_figure_descriptions(["FIG. 1 is a top view.", "1.1 : Perspective"])] == ["1"]


@needs_designs
def test_design_sheets_map_to_figs():
    keyboard = design("USD0919623")
    # the labels on its five sheets, as read by OCR and checked on the images: FIG. 2 and 3 share sheet 2
    labels = [["1"], ["2", "3"], ["4", "5"], ["6"], ["7"]]
    assert assign_figs(labels, keyboard) == [(figs, "ocr") for figs in labels]
    # without OCR the FIGs are spread over the sheets in order
    assert [figs for figs, _ in assign_figs([[]] * 5, keyboard)] == [["1", "2"], ["3", "4"], ["5"], ["6"], ["7"]]
    buckle = design("USD0915935")  # one reproduction per sheet: order alone gets it right
    assert assign_figs([[]] * 7, buckle) == [([f"1.{i}"], "order") for i in range(1, 8)]


@needs_designs
def test_locarno_is_a_sheet_facet():
    p = design("USD0907292")
    sheet = Sheet(figure_id="USD907292-S1", patent_id=p.patent_id, sheet_no=1, image_path="x.png")
    meta = sheet_metadata(p, sheet)
    assert (meta["locarno"], meta["doc_type"], meta["kind_code"]) == ("28-03", "design", "S1")
