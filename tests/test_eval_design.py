"""`patfig eval` on real design patents: the design re-identification protocol, the evaluated subset
(--patents, --office, --design/--utility) and the one table of every mode.

The index is real (embedded Chroma + SQLite, built by the real ingest pipeline without OCR from three of
the sample set's USD folders and one utility ZIP, weight-free visual encoder, word-bag text encoder).
The counts below were read from the folders: USD0907292 has 8 sheets (8 views), USD0919623 5 sheets
(7 views), USD0937858 1 sheet; the utility US12448135 has 5 drawing sheets.
"""

from __future__ import annotations

import pytest

from core.errors import ToolError
from tests.conftest import SAMPLES, fake_services
from tools.evaluate import MODES, Subset, design_queries, evaluate, format_table

DOCS = ("uspto/USD0907292-20210105", "uspto/USD0919623-20210518", "uspto/USD0937858-20211207",
        "uspto/US12448135-20251021.ZIP")
SHEETS = {"USD907292": 8, "USD919623": 5, "USD937858": 1, "US12448135": 5}


@pytest.fixture(scope="module")
def design_root(tmp_path_factory):
    from ingest.pipeline import ingest_paths

    missing = [d for d in DOCS if not (SAMPLES / d).exists()]
    if missing:
        pytest.skip(f"sample documents missing under {SAMPLES}: {missing}")
    services = fake_services(tmp_path_factory.mktemp("design_eval") / "idx", create=True)
    report = ingest_paths(services, [SAMPLES / d for d in DOCS], use_ocr=False)
    root = services.store.root
    services.close()
    assert not report.failed, report.summary()["failures"]
    return root


@pytest.fixture(scope="module")
def designs(design_root):
    services = fake_services(design_root)
    yield services
    services.close()


def test_designs_are_indexed_as_designs(designs):
    sheets = designs.store.sheets()
    assert {p: sum(1 for s in sheets if s.patent_id == p) for p in SHEETS} == SHEETS
    meta = designs.store.all_metadata()
    by_patent = {m["patent_id"]: (m["doc_type"], m["kind_code"], m["locarno"]) for m in meta.values()}
    assert by_patent == {"USD907292": ("design", "S1", "28-03"), "USD919623": ("design", "S1", "14-02"),
                         "USD937858": ("design", "S1", "14-04"), "US12448135": ("utility", "B2", "")}
    first = next(s for s in sheets if s.patent_id == "USD907292" and s.sheet_no == 1)
    assert first.figs == ["1"] and first.view == "perspective"
    assert first.linked_text().startswith("FIG. 1 is a front perspective view of an ornamental design")


def test_design_relevant_sets_are_the_other_views_of_the_same_design(designs):
    sheets = designs.store.sheets()
    doc_type = {s.patent_id: ("utility" if s.patent_id == "US12448135" else "design") for s in sheets}
    queries = design_queries(sheets, doc_type)
    # the single-view USD937858 cannot query (nothing is relevant); utility sheets never query
    assert sorted({q.patent_id for q, _, _ in queries}) == ["USD907292", "USD919623"]
    assert len(queries) == 8 + 5
    ids = {s.figure_id: s.patent_id for s in sheets}
    for q, relevant, own in queries:
        assert own is None
        assert relevant == {f for f, p in ids.items() if p == q.patent_id} - {q.figure_id}


def test_design_protocol_reports_every_mode(designs):
    report = evaluate(designs, protocols=("design",))
    (design,) = report.protocols
    assert design.queries == 13 and design.mean_relevant == round((8 * 7 + 5 * 4) / 13, 2)
    # the gallery is every unit of the index (19), the query left out: 18 candidates
    assert design.chance_p1 == round((8 * 7 / 18 + 5 * 4 / 18) / 13, 4)
    assert set(design.results) == set(MODES) and not design.na
    assert all(m.queries == 13 for m in design.results.values())
    assert design.notes == [
        "2 design patents query, 1 with one view in the gallery only; gallery: all 19 units of the evaluated set "
        "(5 of them not designs)"]
    assert report.visual_encoder == "linedraw:lbp-v1"
    assert [(r.protocol, r.mode) for r in report.table] == [("design", m) for m in MODES]


def test_subset_restricts_queries_and_gallery(designs):
    # One design alone: it queries, and its own views are the whole gallery, so every mode ranks them first.
    report = evaluate(designs, protocols=("design", "reid"), subset=Subset(patents=["usd907292"]))
    assert (report.patents, report.sheets) == (1, 8)
    for p in report.protocols:
        assert p.queries == 8 and p.chance_p1 == 1.0
        assert all(m.map50 == 1.0 and m.p1 == 1.0 for m in p.results.values()), p.results
    # --utility: no design queries; re-identification only on the utility patent's sheets
    design, reid = evaluate(designs, protocols=("design", "reid"), subset=Subset(doc_types=["utility"])).protocols
    assert design.queries == 0 and design.notes == ["no design patent with 2 or more views in the evaluated set"]
    assert reid.queries == 5 and all(m.p1 == 1.0 for m in reid.results.values())  # gallery: its own 5 sheets
    # --design --office US: the designs; the gallery holds no utility sheet (14 units, 13 candidates)
    report = evaluate(designs, protocols=("design",), subset=Subset(offices=["US"], doc_types=["design"]))
    assert (report.patents, report.sheets) == (3, 14)
    assert report.protocols[0].chance_p1 == round((8 * 7 / 13 + 5 * 4 / 13) / 13, 4)
    assert "evaluated set: offices US; document types design" in format_table(report)


def test_office_subset_on_the_mixed_index(fake_index):
    report = evaluate(fake_index, protocols=("reid", "family"), modes=("visual", "text"),
                      subset=Subset(offices=["EP", "WO"]))
    sheets = fake_index.store.sheets()
    mine = [s for s in sheets if s.patent_id[:2] in ("EP", "WO")]
    reid, family = report.protocols
    assert report.sheets == len(mine) and reid.queries == sum(
        1 for s in mine if sum(1 for t in mine if t.patent_id == s.patent_id) > 1)
    assert family.notes == ["families: EP3358703 + WO2013173195"]
    # the family keeps its members; with --office US neither is evaluated
    family = evaluate(fake_index, protocols=("family",), subset=Subset(offices=["US"])).protocols[0]
    assert family.queries == 0


def test_bad_subsets_are_refused(designs):
    with pytest.raises(ToolError, match="patent 'US1' is not in the index"):
        evaluate(designs, subset=Subset(patents=["US1"]))
    with pytest.raises(ToolError, match=r"no indexed sheet is in the subset \(offices EP\)"):
        evaluate(designs, subset=Subset(offices=["EP"]))
    with pytest.raises(ValueError, match="unknown document type 'plants'"):
        Subset(doc_types=["plants"])


def test_cli_prints_every_mode_in_one_table(design_root, monkeypatch):
    import json

    from typer.testing import CliRunner

    import patfig.wiring
    from patfig.cli import WIRING
    from tests.fakes import NoOcr, WordBagEncoder
    from ui.cli import build_app

    monkeypatch.setattr(patfig.wiring, "build_text_encoder", lambda settings: WordBagEncoder())
    monkeypatch.setattr(patfig.wiring, "NumeralReader", lambda settings: NoOcr())
    app = build_app(WIRING)
    res = CliRunner().invoke(app, ["eval", "--index", str(design_root), "--protocols", "design,reid", "--design"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "visual encoder that built the index: linedraw:lbp-v1" in out
    assert "evaluated set: document types design" in out
    assert "(1) design: design re-identification (DeepPatent)" in out
    assert "all protocols: mAP@50 / P@1 per mode (visual = linedraw:lbp-v1)" in out
    summary = out.split("all protocols:")[1].splitlines()
    assert summary[1].split() == ["protocol", "queries", *MODES]
    assert summary[2].split()[:2] == ["design", "13"] and summary[3].split()[:2] == ["reid", "13"]
    assert len(summary[2].split()) == 2 + 3 * len(MODES)  # "0.xxx / 0.xxx" per mode
    res = CliRunner().invoke(app, ["eval", "--index", str(design_root), "--protocols", "design", "--json",
                                   "--patents", "USD907292,USD919623", "--office", "US"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["visual_encoder"] == "linedraw:lbp-v1"
    assert data["subset"] == {"patents": ["USD907292", "USD919623"], "offices": ["US"], "doc_types": []}
    assert [(r["protocol"], r["mode"], r["queries"]) for r in data["table"]] == [("design", m, 13) for m in MODES]


def test_an_uploaded_view_brings_the_other_views_of_its_design(designs):
    from PIL import Image

    from tools.search import search_image

    views = [s for s in designs.store.sheets() if s.patent_id == "USD907292"]
    front = views[0]
    upload = Image.open(designs.store.image_path(front))  # a new picture of one view: the indexed copy left out
    others = {s.figure_id for s in views} - {front.figure_id}

    def found(**kw) -> int:
        hits = search_image(designs, upload, k=len(others), exclude=[front.figure_id], **kw)
        return len(others & {h.figure_id for h in hits})

    with_views, without = found(), found(views_weight=0.0)
    assert with_views >= without and with_views >= len(others) - 1
    hits = search_image(designs, upload, k=18, exclude=[front.figure_id])
    assert front.figure_id not in {h.figure_id for h in hits}
    # no other view is this drawing, so lines laid over tell nothing apart and do not reorder the views
    assert "none coincides" in str(hits[0].breakdown.query["verified"])
    assert all("lines" not in h.breakdown.modalities for h in hits)
    for pid in {h.patent_id for h in hits}:  # each unit also scores as its patent's best view
        mine = [h for h in hits if h.patent_id == pid]
        best = max(h.breakdown.modalities["visual"].raw for h in mine)
        assert all(h.breakdown.modalities["views"].raw == pytest.approx(best, abs=1e-5) for h in mine)
        assert all(h.breakdown.modalities["views"].path == "best_view_of_patent" for h in mine)


def test_cli_calibrate_prints_the_fitted_curves_as_json(design_root, tmp_path, monkeypatch):
    import json
    import shutil

    from typer.testing import CliRunner

    import patfig.wiring
    from patfig.cli import WIRING
    from tests.fakes import NoOcr, WordBagEncoder
    from ui.cli import build_app

    root = tmp_path / "idx"
    shutil.copytree(design_root, root)  # calibrating writes the curves: the module's index stays as it is
    monkeypatch.setattr(patfig.wiring, "build_text_encoder", lambda settings: WordBagEncoder())
    monkeypatch.setattr(patfig.wiring, "NumeralReader", lambda settings: NoOcr())
    res = CliRunner().invoke(build_app(WIRING), ["calibrate", "--index", str(root), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert "visual" in data["curves"]["curves"] and data["notes"]
