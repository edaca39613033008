"""The store's reads on a text query's path: what they return, and that their work does not grow with the index.

A real store (SQLite with FTS5, Chroma in a temp folder) written through its own API (`tests.test_words`).
"""

from __future__ import annotations

import pytest

from core.figure_text import FIELDS
from store import figure_lexical
from tests.test_words import DOCS, _encoders, _patent, _sheet, _write
from tools.words import BM25_WEIGHTS, fts_query


@pytest.fixture
def index(tmp_path):
    """The small index of `tests.test_words`, written through the store's API."""
    from patfig.wiring import build_services
    from tests.conftest import fake_settings
    from tests.fakes import FixedVisual, NoOcr, WordBagEncoder

    services = build_services(fake_settings(tmp_path / "idx"), create=True, visual=FixedVisual(),
                              text=WordBagEncoder(), ocr=NoOcr())
    services.store.bind_encoders(*_encoders(services))
    _write(services.store, services)
    yield services
    services.close()


def _plans(db, read) -> list[list[str]]:
    """The query plan of each SELECT that `read()` runs on `db` (caught by SQLite's trace callback)."""
    sqls: list[str] = []
    db.set_trace_callback(sqls.append)
    try:
        read()
    finally:
        db.set_trace_callback(None)
    return [[row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)] for sql in sqls if sql.startswith("SELECT")]


def test_sheets_by_id_reads_the_asked_sheets_first_and_skips_pending_patents(index):
    store = index.store
    store.record_pending(_patent("US1000009", "Pending thing"))
    with store.db:
        store.db.execute("INSERT INTO sheets VALUES('US1000009-S1', 'US1000009', 1, ?)",
                         (_sheet("US1000009", 1, "FIG. 1", {}).model_dump_json(),))
    got = store.sheets_by_id(["USD900001-S2", "US1000002-S1", "US1000009-S1", "nope"])
    assert set(got) == {"USD900001-S2", "US1000002-S1"}
    assert got["US1000002-S1"].components[0].label == "gripping unit"
    # the read starts from the figure ids asked for, not from every complete patent (which grows with the index)
    asked = ["US1000002-S1", "US1000001-S2", *(f"US1000002-S{n}" for n in range(3, 23))]  # as a query's 2k hits
    [plan] = _plans(store.db, lambda: store.sheets_by_id(asked))
    assert plan[0].startswith("SEARCH s USING INDEX sqlite_autoindex_sheets_1 (figure_id=?)")


def test_components_labelled_starts_from_the_labels(index):
    store = index.store
    found = store.components_labelled(["fuel cell", "rail"])
    assert set(found) == {"US1000001-S1", "US1000001-S2", "US1000002-S1"}
    [plan] = _plans(store.db, lambda: store.components_labelled(["rail", "fuel cell", "mast"]))
    assert plan[0].startswith("SEARCH c USING INDEX components_label")


def _naive_match(db, query: str, weights) -> list[tuple[str, float, dict[str, str]]]:
    """Every matching row scored with its fields read, complete figures only: what `match` must equal."""
    w = ", ".join(str(x) for x in weights)
    rows = db.execute(f"SELECT s.figure_id, -bm25(figure_lexical, {w}), {', '.join('f.' + c for c in FIELDS)} "
                      "FROM figure_lexical f JOIN sheets s ON s.rowid = f.rowid "
                      "JOIN patents p ON p.patent_id = s.patent_id "
                      "WHERE figure_lexical MATCH ? AND p.status='complete'", (query,)).fetchall()
    return [(r[0], float(r[1]), dict(zip(FIELDS, r[2:], strict=True))) for r in rows]


@pytest.mark.parametrize("words", [["hydrogen", "tank"], ["gripping", "unit", "hoist"], ["shoe"], ["view"]])
def test_figure_lexical_match_equals_ranking_every_matching_row(index, words):
    db = index.store.db
    query = fts_query(words)
    full = sorted(_naive_match(db, query, BM25_WEIGHTS), key=lambda m: (-m[1], m[0]))
    assert full
    for k in (1, 3, 100):
        got = figure_lexical.match(db, query, k, BM25_WEIGHTS)
        assert [m[1] for m in got] == [m[1] for m in full[:k]]  # the k best scores, best first
        assert all(m in full for m in got)  # each with its own fields


def test_figure_lexical_match_leaves_pending_patents_out(index):
    store = index.store
    patent, sheets = DOCS[0]
    with store.db:
        store.db.execute("UPDATE patents SET status='pending' WHERE patent_id=?", (patent.patent_id,))
    got = figure_lexical.match(store.db, fts_query(["hydrogen", "tank", "fuel"]), 10, BM25_WEIGHTS)
    assert {fid for fid, _, _ in got} == {"US1000002-S2"}  # "tank" in the hoist's FIG. 2 only


def test_hits_without_metadata_keep_their_ids_and_similarities(index):
    store = index.store
    vector = index.text.embed_texts(["hydrogen tanks of the aircraft"])[0]
    with_meta = store.query_text(vector, 6, documents=False)
    without = store.query_text(vector, 6, documents=False, meta=False)
    assert [(h.id, h.similarity) for h in with_meta] == [(h.id, h.similarity) for h in without]
    assert all(h.meta["patent_id"] for h in with_meta) and all(h.meta == {} for h in without)
    passages = store.query_figure_passages(vector, 4)
    assert passages and passages[0].id.startswith("US1000001")
    sims = store.figure_passage_similarities(vector, [h.id for h in passages])
    assert [round(sims[h.id], 6) for h in passages] == [round(h.similarity, 6) for h in passages]


def test_the_int8_product_over_several_blocks_equals_one_float_product():
    import numpy as np

    from store.matrix import BLOCK_BYTES, _product

    dim = 384
    rows = 3 * (BLOCK_BYTES // (4 * dim)) + 17  # three whole blocks and a tail
    rng = np.random.default_rng(1)
    matrix = rng.integers(-127, 128, (rows, dim), dtype=np.int8)
    q = rng.standard_normal(dim).astype(np.float32)
    assert np.allclose(_product(matrix, q), matrix.astype(np.float32) @ q, rtol=1e-5, atol=1e-3)


def test_stored_stems_are_the_stems_of_each_field(index):
    from core.figure_text import field_stems
    from tools.words import coverage

    store = index.store
    ids = ["US1000001-S1", "US1000002-S1", "USD900001-S1"]
    fields, stems = store.figure_fields(ids), store.figure_stems(ids)
    assert set(stems) == set(ids)
    for fid in ids:
        assert {f: set(stems[fid][f]) for f in FIELDS} == {f: field_stems(fields[fid][f]) for f in FIELDS}
        assert all(w in stems[fid][f] for f in FIELDS for w in field_stems(fields[fid][f]))
        assert "" not in stems[fid]["title"] and "tank hydrogen" not in stems[fid]["components"]
    assert "tank" in stems["US1000001-S1"]["components"]  # "hydrogen tanks" -> "tank"
    terms, idf = ["hydrogen", "tank", "aircraft"], {"hydrogen": 2.0, "tank": 1.5, "aircraft": 1.0}
    for fid in ids:
        assert coverage(terms, idf, fields[fid], stems=stems[fid]) == coverage(terms, idf, fields[fid])


def test_an_index_without_stems_gets_them_once_and_deletes_them_with_its_patent(index):
    from store.index import FigureStore

    store = index.store
    def stems(s: FigureStore) -> dict[str, set[str]]:
        return {f: set(v) for f, v in s.figure_stems(["US1000001-S1"]).get("US1000001-S1", {}).items()}

    want = stems(store)
    assert want["components"] >= {"hydrogen", "tank", "107"}
    with store.db:  # as an index written before the stems were
        store.db.execute("DELETE FROM figure_stems")
        store.db.execute("DELETE FROM meta WHERE key=?", (figure_lexical.STEMS_KEY,))
    assert stems(store) == {}
    where = index.settings  # the Chroma server of the environment, if any (PATFIG_TEST_CHROMA=server)
    reopened = FigureStore.open(store.root, chroma_host=where.chroma_host, chroma_port=where.chroma_port)
    try:
        assert stems(reopened) == want
        assert figure_lexical.backfill_stems(reopened.db) == 0  # once
        reopened.delete_patent("US1000001")
        assert reopened.db.execute("SELECT count(*) FROM figure_stems").fetchone()[0] == 4
    finally:
        reopened.close()


def test_a_loaded_table_is_out_of_the_collectors_sight(index):
    import gc

    from store.index import TEXT

    store = index.store
    store.query_text(index.text.embed_texts(["rail"])[0], 3)
    table = store._table(TEXT)
    assert table is not None and len(table.ids) == 6
    tracked = {id(o) for o in gc.get_objects()}
    assert id(table.ids) not in tracked and id(table.row_of) not in tracked  # frozen: a full collection skips them
