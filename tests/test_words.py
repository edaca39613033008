"""Words that find the figure: per-figure word matching (a real FTS5 table) and dense passages (a real Chroma).

A small index is written through the store's own API: two utility patents whose figures carry OCR-linked
components, and a design. The text encoder is the word-bag fake (cosine near the share of shared words).
"""

from __future__ import annotations

import sqlite3

import pytest

from core.errors import ToolError
from core.figure_text import figure_passages, passage_ids
from core.types import Box, Component, FigureDesc, Patent, RefSign, Sheet, SheetSource
from ingest.pipeline import backfill_figure_passages
from store import figure_lexical
from store.index import FIGURE_PASSAGES_FLAG, FigureStore
from tests.conftest import fake_services
from tools.explain import explain_hit
from tools.refsigns import find_component
from tools.search import search_image, search_text
from tools.words import FIELD_WEIGHTS, coverage, fts_query, part_factor


def _patent(pid: str, title: str, doc_type: str = "utility", signs: dict[str, str] | None = None) -> Patent:
    signs = signs or {}
    return Patent(
        patent_id=pid, office="US", number=pid[2:], kind="B2", doc_type=doc_type, pub_date=20250101, title=title,
        figures=[FigureDesc(fig="1", text="FIG. 1 is a side view."),
                 FigureDesc(fig="2", text="FIG. 2 is a plan view.")],
        refsigns={n: RefSign(numeral=n, labels=[lbl], sentences=[f"The {lbl} {n} is shown."])
                  for n, lbl in signs.items()},
        sheets=[SheetSource(sheet_no=1, member="D1.TIF"), SheetSource(sheet_no=2, member="D2.TIF")],
    )


def _sheet(pid: str, n: int, description: str, comps: dict[str, str]) -> Sheet:
    return Sheet(
        figure_id=f"{pid}-S{n}", patent_id=pid, sheet_no=n, image_path=f"sheets/{pid}-S{n}.png", figs=[str(n)],
        description=description, kind="drawing", view="side",
        components=[Component(numeral=k, label=v, boxes=[Box(x0=1, y0=1, x1=9, y1=9)]) for k, v in comps.items()],
        linked_sentences=[f"The {v} {k} is shown." for k, v in comps.items()],
    )


DOCS = [
    (_patent("US1000001", "Aircraft energy system", signs={"107": "hydrogen tanks", "110": "fuel cell"}),
     [_sheet("US1000001", 1, "FIG. 1 is a side view of the aircraft.", {"107": "hydrogen tanks", "110": "fuel cell"}),
      _sheet("US1000001", 2, "FIG. 2 is a plan view of the wing.", {"110": "fuel cell"})]),
    (_patent("US1000002", "Overhead hoist", signs={"10": "gripping unit", "12": "rail"}),
     [_sheet("US1000002", 1, "FIG. 1 is a side view of the hoist.", {"10": "gripping unit", "12": "rail"}),
      _sheet("US1000002", 2, "FIG. 2 shows a water tank of the hoist.", {})]),
    (_patent("USD900001", "Shoe", doc_type="design"),
     [_sheet("USD900001", 1, "FIG. 1 is a side view of a shoe (Shoe)", {}),
      _sheet("USD900001", 2, "FIG. 2 is a top view thereof (Shoe)", {})]),
]


def _write(store: FigureStore, services, *, passages: bool = True) -> None:
    for patent, sheets in DOCS:
        texts = [s.linked_text() for s in sheets]
        fp = figure_passages(patent, sheets) if passages else []
        store.add_patent(
            patent, sheets, [[1.0] + [0.0] * 7 for _ in sheets], services.text.embed_texts(texts), [], [],
            figure_passages=fp, figure_passage_vectors=services.text.embed_texts([p.text for p in fp]) if fp else [],
        )


@pytest.fixture
def words_index(tmp_path):
    from patfig.wiring import build_services
    from tests.conftest import fake_settings
    from tests.fakes import FixedVisual, NoOcr, WordBagEncoder

    services = build_services(fake_settings(tmp_path / "idx"), create=True, visual=FixedVisual(),
                              text=WordBagEncoder(), ocr=NoOcr())
    services.store.bind_encoders(*_encoders(services))
    _write(services.store, services)
    yield services
    services.close()


def _encoders(services):
    from store.index import EncoderId

    return EncoderId(services.visual.name, services.visual.dim), EncoderId(services.text.name, services.text.dim)


def test_a_component_name_finds_the_figure_that_draws_it(words_index):
    hits = search_text(words_index, "hydrogen tank", k=5)
    top = hits[0]
    assert top.figure_id == "US1000001-S1"
    assert set(top.breakdown.modalities) == {"words", "text"}
    # every word, in the name of one of its two parts
    one_of_two = FIELD_WEIGHTS["components"] * part_factor({"hydrogen", "tank"}, [("107", "hydrogen tanks"),
                                                                                   ("110", "fuel cell")])
    assert one_of_two < FIELD_WEIGHTS["components"]
    assert top.breakdown.modalities["words"].raw == pytest.approx(one_of_two, abs=1e-5)
    assert top.breakdown.matched_in == {"hydrogen": "component 107 'hydrogen tanks'",
                                        "tank": "component 107 'hydrogen tanks'"}
    assert top.breakdown.passage == "hydrogen tanks" and top.breakdown.passage_kind == "component"
    # FIG. 2 of the hoist mentions a water tank in its description: a partial match, ranked below
    other = next(h for h in hits if h.figure_id == "US1000002-S2")
    assert other.breakdown.matched_in == {"tank": "description"}
    assert other.rank > top.rank and other.score < top.score


def test_plurals_and_stems_match(words_index):
    assert search_text(words_index, "fuel cells", k=3)[0].figure_id.startswith("US1000001")
    top = search_text(words_index, "gripping units", k=1)[0]
    assert top.figure_id == "US1000002-S1" and top.breakdown.matched_in["gripping"].startswith("component 10 ")


def test_the_explanation_quotes_where_the_words_matched(words_index):
    hits = search_text(words_index, "hydrogen tanks", k=5)
    text = explain_hit(words_index, hits, 1).text
    assert "in component 107 'hydrogen tanks'" in text
    assert 'closest passage (the name of a part drawn in it): "hydrogen tanks"' in text


def test_syntax_characters_are_plain_words_and_change_nothing(words_index):
    before = words_index.store.db.execute("SELECT count(*) FROM figure_lexical").fetchone()[0]
    for q in ('a/b', '"hydrogen', 'NEAR tank', 'tank*', 'rail AND (hoist', 'x:y', "it's a -tank", "^shoe"):
        hits = search_text(words_index, q, k=5)
        assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert search_text(words_index, "NEAR tank", k=1)[0].breakdown.matched_in.get("tank")
    after = words_index.store.db.execute("SELECT count(*) FROM figure_lexical").fetchone()[0]
    assert before == after == 6
    with pytest.raises(ToolError):
        search_text(words_index, "   ")


def test_fts_query_quotes_every_word():
    assert fts_query(["hydrogen", "near", "tank"]) == '"hydrogen" OR "near" OR "tank"'


def test_coverage_weighs_words_by_where_they_were_found():
    idf = {"hydrogen": 2.0, "aircraft": 1.0}
    fields = {"description": "", "components": "107 hydrogen tanks", "sentences": "", "title": "Aircraft system"}
    score, places = coverage(["hydrogen", "aircraft"], idf, fields)
    assert places == {"hydrogen": "component 107 'hydrogen tanks'", "aircraft": "title"}
    w = FIELD_WEIGHTS
    assert score == pytest.approx((2.0 * w["components"] + 1.0 * w["title"]) / 3.0)


def test_a_design_is_found_by_its_plain_name(words_index):
    hits = search_text(words_index, "shoes", k=4)
    assert {h.figure_id for h in hits[:2]} == {"USD900001-S1", "USD900001-S2"}


def test_image_search_with_words_carries_word_evidence(words_index, tmp_path):
    from PIL import Image, ImageDraw

    img = tmp_path / "q.png"
    picture = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(picture).ellipse((8, 8, 56, 56), outline="black", width=3)
    picture.save(img)
    hits = search_image(words_index, img, text="hydrogen tank", text_weight=0.5, k=3)
    assert hits[0].figure_id == "US1000001-S1"
    assert {"visual", "words", "text"} <= set(hits[0].breakdown.modalities)
    assert hits[0].breakdown.matched_in


def test_component_scores_are_calibrated(words_index):
    hits = find_component(words_index, "hydrogen tank", k=3)
    assert hits and all(0.0 <= h.score <= 1.0 for h in hits)
    assert hits[0].figure_id == "US1000001-S1"
    assert hits[0].breakdown.modalities["component"].calibrated == hits[0].score


def test_an_old_index_gets_its_per_figure_rows(tmp_path):
    services = fake_services(tmp_path / "old", create=True)
    services.store.bind_encoders(*_encoders(services))
    patent, sheets = DOCS[0]
    vecs = services.text.embed_texts([s.linked_text() for s in sheets])
    services.store.add_patent(patent, sheets, [[1.0] + [0.0] * (services.visual.dim - 1)] * 2, vecs, [], [])
    db = services.store.db
    with db:  # as an index written before the per-figure table was
        db.execute("DELETE FROM figure_lexical")
        db.execute("DELETE FROM meta WHERE key=?", (figure_lexical.META_KEY,))
    services.close()
    services = fake_services(tmp_path / "old")
    rows = services.store.db.execute("SELECT count(*) FROM figure_lexical").fetchone()[0]
    assert rows == 2
    # its figure passages come from the next ingest: from the stored text, with no document read again
    assert not services.store.has_figure_passages()
    assert backfill_figure_passages(services) == 1
    assert services.store.meta_flag(FIGURE_PASSAGES_FLAG)
    sims = services.store.figure_passage_similarities(services.text.embed_texts(["hydrogen tanks"])[0],
                                                      passage_ids(sheets[0]))
    assert max(sims.values()) == pytest.approx(1.0)
    assert backfill_figure_passages(services) == 0  # once
    services.close()


def test_deleting_a_patent_removes_its_figure_rows(words_index):
    store = words_index.store
    store.delete_patent("US1000002")
    left = {r[0] for r in store.db.execute(
        "SELECT s.figure_id FROM figure_lexical f JOIN sheets s ON s.rowid = f.rowid")}
    assert left == {"US1000001-S1", "US1000001-S2", "USD900001-S1", "USD900001-S2"}
    assert store.db.execute("SELECT count(*) FROM figure_lexical").fetchone()[0] == 4
    with pytest.raises(sqlite3.OperationalError):
        store.db.execute("SELECT * FROM figure_lexical WHERE figure_lexical MATCH 'NEAR('").fetchall()
