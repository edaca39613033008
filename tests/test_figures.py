"""Figure descriptions, view/kind classification and reference-sign extraction on text."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from core.types import FigureDesc, Paragraph
from core.vocab import KINDS, VIEWS, views_within
from ingest.figures import classify_kind, classify_view, parse_figure_descriptions, sheet_view_kind
from ingest.refsigns import from_plain_text, from_tagged_xml, label_before, merge_labels, split_sentences


def _data_dir() -> Path:
    env = os.environ.get("PATFIG_SAMPLE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/patents"


# ------------------------------------------------------------------ FIG lists


def test_one_entry_per_fig_with_letters_ranges_and_lists():
    paras = [
        "The present invention is illustrated with 4 drawings on 5 sheets. FIG. 1A is a top view of an unmanned "
        "aerial vehicle. FIG. 1B is a front perspective view of an unmanned aircraft.",
        "FIGS. 2 and 3 are side views of a propeller.",
        "FIGS. 4A-4C show diagrams of the layers of a solar cell.",
        "FIGS. 5, 6A and 6B are further drawings of wings, and",
        "FIGS. 7 to 9 are flowcharts of a method.",
    ]
    descs = parse_figure_descriptions(paras)
    assert [d.fig for d in descs] == ["1A", "1B", "2", "3", "4A", "4B", "4C", "5", "6A", "6B", "7", "8", "9"]
    assert descs[0].text == "FIG. 1A is a top view of an unmanned aerial vehicle."
    assert descs[0].view == "top" and descs[0].kind == "drawing"
    assert descs[1].view == "perspective"
    assert descs[2].text == descs[3].text == "FIGS. 2 and 3 are side views of a propeller."
    assert descs[7].text == "FIGS. 5, 6A and 6B are further drawings of wings"
    assert {d.kind for d in descs[10:]} == {"flowchart"}


def test_fig_variants_from_pdfs():
    descs = parse_figure_descriptions(
        [
            "[0012] [Fig. 1] Fig. 1 is a view showing magnetic properties; [Fig. 2] Fig. 2 is a graph of loss.",
            "FIG. 4(a) is an image of a cross-section, and FIG. 4(b) is a graph of its profile.",
            "FIGS. 3A-J illustrate capacitive sensor arrangements.",
            "Фиг. 11. Носимое приспособление, вид спереди. Фиг. 12. Носимое приспособление, вид сзади.",
        ]
    )
    figs = {d.fig: d for d in descs}
    assert list(figs)[:4] == ["1", "2", "4A", "4B"]
    assert figs["2"].kind == "graph" and figs["4A"].view == "sectional"
    assert [f for f in figs if f.startswith("3")] == [f"3{c}" for c in "ABCDEFGHIJ"]
    assert figs["11"].view == "front" and figs["12"].view == "rear"


def test_references_inside_a_description_are_not_new_figs():
    descs = parse_figure_descriptions(["FIG. 4 illustrates cross-section A-A of FIG. 3.", "FIG. 2 is shown (FIG. 5)."])
    assert [d.fig for d in descs] == ["4", "2"]
    assert descs[0].view == "sectional"


def test_single_unnumbered_figure_only_when_asked():
    text = "The above aspects will be apparent from FIGURE which shows a schematic cross-sectional view of a device."
    assert parse_figure_descriptions([text]) == []
    (desc,) = parse_figure_descriptions([text], single_figure=True)
    assert desc.fig == "1" and desc.view == "sectional"


# ------------------------------------------------------------------ views and kinds


@pytest.mark.parametrize(
    ("text", "view"),
    [
        ("FIG. 3 is a cross-sectional side view of the hinge", "sectional"),
        ("FIG. 2 is a perspective exploded view of the hinge", "exploded"),
        ("FIG. 1 is an isometric view", "perspective"),
        ("FIG. 5 is a sectional view taken along line 5-5 of FIG. 4", "sectional"),
        ("FIG. 6 is an enlarged view of the portion VI", "detail"),
        ("FIG. 7 is a close-up of the latch", "detail"),
        ("FIG. 8 is a top plan view", "top"),  # was "plan" before "top" was a view
        ("FIG. 9 is a plan view", "plan"),
        ("FIG. 10 is a bottom view", "bottom"),
        ("FIG. 10 is a bottom plan view", "bottom"),
        ("FIG. 11 is a front elevation view", "front"),
        ("FIG. 12 is a rear view", "rear"),
        ("FIG. 13 is a back view", "rear"),
        ("FIG. 14 is a side elevational view", "side"),
        ("FIG. 15 is a left side view", "left"),  # was "side" before "left" was a view
        ("FIG. 15 is a right-side elevational view", "right"),
        ("FIG. 4 is a right side view, the left view being a mirror image thereof", "right"),  # named first
        ("FIG. 3 is a front elevational of the game housing of FIG. 2", "front"),
        ("FIG. 4 is a back edge view thereof", "rear"),
        ("FIG. 6 is a front thereof", "front"),
        ("FIG. 3 is a top view perspective view thereof", "perspective"),
        ("FIG. 7 is a heel side view of the golf club head", "side"),
        ("FIG. 16 is a schematic view of the system", "schematic"),
        ("FIG. 17 is a front perspective view", "perspective"),
        ("FIG. 18 shows the device from above", "top"),  # was "plan" before "top" was a view
        ("FIG. 19 shows a shroud", "unknown"),
    ],
)
def test_classify_view(text: str, view: str):
    assert classify_view(text) == view
    assert view in VIEWS


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("FIG. 7 is a flowchart of a method of operating a cooling system", "flowchart"),
        ("FIG. 2 is a flow diagram illustrating a process", "flowchart"),
        ("FIG. 1 illustrates different process steps of the invention", "flowchart"),
        ("FIG. 3 is a system diagram showing the propulsion unit", "block diagram"),
        ("FIG. 1 is a schematic block diagram of a controller", "block diagram"),
        ("FIG. 4 is a graph showing the relationship between Ti content and iron loss", "graph"),
        ("FIG. 5 is a chart of occupant classifications", "graph"),
        ("FIG. 1. In vivo dose response of Example 89 in a mouse model", "graph"),
        ("FIG. 6 is a circuit diagram of the driver", "circuit"),
        ("FIG. 8 shows the chemical structure of compound 3", "chemical structure"),
        ("FIG. 9 is a table listing measured values", "table"),
        ("FIG. 10 is a perspective view of a table", "drawing"),
        ("FIG. 11 is a perspective view of a circuit board", "drawing"),
        ("FIG. 1 illustrates a phase in an embodiment of a method for constructing an elevator", "drawing"),
        ("FIG. 12", "unknown"),
    ],
)
def test_classify_kind(text: str, kind: str):
    assert classify_kind(text) == kind
    assert kind in KINDS


def test_sheet_view_kind_is_majority_ignoring_unknown():
    descs = [
        FigureDesc(fig="1", text="", view="unknown", kind="drawing"),
        FigureDesc(fig="2", text="", view="side", kind="drawing"),
        FigureDesc(fig="3", text="", view="plan", kind="graph"),
        FigureDesc(fig="4", text="", view="plan", kind="drawing"),
    ]
    assert sheet_view_kind(descs) == ("plan", "drawing")
    assert sheet_view_kind(descs[:1]) == ("unknown", "drawing")
    assert sheet_view_kind([]) == ("unknown", "unknown")


# ------------------------------------------------------------------ reference signs


def test_label_before_trims_to_a_noun_phrase():
    assert label_before("connects to the front permanent magnet synchronous motors") == (
        "front permanent magnet synchronous motors"
    )
    assert label_before("The UAV has a plurality of the permanent magnet motors") == "permanent magnet motors"
    assert label_before("an unmanned aerial vehicle (“UAV”)") == "unmanned aerial vehicle"
    assert label_before("the size of the UAV's") == "UAV"
    assert label_before("is then") == ""


def test_merge_labels_dedupes_case_and_plural_and_prefers_the_core():
    labels = merge_labels(
        __import__("collections").Counter(
            {
                "permanent magnet synchronous motors": 4,
                "Permanent magnet synchronous motor": 1,
                "front permanent magnet synchronous motors": 2,
                "motors": 1,
            }
        )
    )
    assert labels[0] == "permanent magnet synchronous motors"
    assert len([x for x in labels if x.lower().startswith("permanent")]) == 1


def test_sentences_do_not_end_at_fig_or_eg():
    text = "As shown in FIG. 2, the hub 12 turns. The rotor 14, e.g. a fan, spins. Done"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "As shown in FIG. 2, the hub 12 turns.",
        "The rotor 14, e.g. a fan, spins.",
        "Done",
    ]


def test_from_tagged_xml_skips_figrefs_claim_refs_and_keeps_primes():
    xml = (
        "<description>"
        '<p id="p-1"><figref>FIG. <b>1</b>A</figref> shows a tower <b>104</b> on a base <b>2</b>&#x2032; '
        "and hydrogen tanks <b>107</b>, <b>108</b>.</p>"
        '<p id="p-2">The tower <b>104</b> carries rotor blades <b>22</b>. See claim <b>1</b>.</p>'
        '<p id="p-3">The towers <b>104</b> are tall.</p>'
        "</description>"
    )
    root = ET.fromstring(xml)
    signs = from_tagged_xml([(p.get("id"), p) for p in root.findall("p")])
    assert sorted(signs) == ["104", "107", "108", "2'", "22"]
    assert signs["104"].labels == ["tower"]
    assert signs["104"].paragraphs == ["p-1", "p-2", "p-3"]
    assert signs["104"].sentences[1] == "The tower 104 carries rotor blades 22."
    assert signs["2'"].label == "base"
    assert signs["108"].label == "hydrogen tanks"  # borrowed from its list neighbour: it has no label of its own


def test_from_plain_text_is_precise():
    paras = [
        Paragraph(pid="[0010]", text="The wind turbine comprises a tower 104 and a nacelle 106 on the tower 104."),
        Paragraph(
            pid="[0011]",
            text="The rotor blades (22) are fixed to a hub 21 by a spoke 30. In 2019, 10 mm and 5% of the "
            "blades were tested at 100 °C for 3 hours according to claim 1 and FIG. 2.",
        ),
        Paragraph(pid="[0012]", text="The gripping unit 5 grips. Steels 1 to 8 were rolled; see Table 3."),
    ]
    signs = from_plain_text(paras)
    assert signs["30"].label == "spoke"
    assert "30" not in from_plain_text(paras, line_numbers=True)  # maybe a printed line number, seen once
    assert signs["104"].label == "tower"
    assert signs["104"].paragraphs == ["[0010]"]
    assert signs["106"].label == "nacelle"
    assert signs["22"].label == "rotor blades"
    assert signs["21"].label == "hub"
    assert signs["5"].label == "gripping unit"
    for wrong in ("2019", "10", "3", "1", "2", "8"):
        assert wrong not in signs


def test_from_tagged_xml_on_a_real_grant():
    path = _data_dir() / "uspto/US12448135-20251021.ZIP"
    if not path.exists():
        pytest.skip(f"sample data missing: {path}")
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("US12448135-20251021/US12448135-20251021.XML"))
    paras = [(p.get("id"), p) for p in root.find("description").iter("p")]
    signs = from_tagged_xml(paras)
    assert len(signs) == 62
    assert signs["104"].label == "permanent magnet synchronous motors"
    assert signs["101"].label == "UAV"
    assert signs["121"].label == "water intakes"


def test_reference_signs_list_section_is_trusted():
    paras = [
        Paragraph(pid="[0040]", heading="DESCRIPTION OF EMBODIMENTS", text="The strip passes the pot 7 and a roll 8."),
        Paragraph(pid="[0050]", heading="REFERENCE SIGNS LIST", text="1 steel substrate 2 hot-dip plating bath 7 pot"),
    ]
    signs = from_plain_text(paras)
    assert {k: v.labels for k, v in signs.items()} == {
        "1": ["steel substrate"],
        "2": ["hot-dip plating bath"],
        "7": ["pot"],
        "8": ["roll"],
    }
    assert signs["7"].paragraphs == ["[0040]"]


def test_vocabulary_table():
    assert {"top", "bottom", "front", "rear", "left", "right", "side", "plan", "perspective"} <= set(VIEWS)
    assert VIEWS[-1] == KINDS[-1] == "unknown" and KINDS[0] == "drawing"
    assert views_within("plan") == ("plan", "top")
    assert views_within("side") == ("side", "left", "right")
    assert views_within("front") == ("front",)
