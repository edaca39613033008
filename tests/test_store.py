"""The index on a real embedded ChromaDB and SQLite, with deterministic fake vectors."""

import pytest

from core.errors import IndexMismatch, StoreError
from core.filters import Filters
from store.index import EncoderId, FigureStore, Passage
from tests.fakes import HashEncoder, make_patent, make_sheet

ENC = HashEncoder()


def add(store, pid, **kw):
    p = make_patent(pid, **kw)
    sheets = [make_sheet(pid, 1, kind=kw.get("kind", "drawing"))]
    vecs = ENC.embed_texts([pid])
    store.add_patent(p, sheets, vecs, ENC.embed_texts([s.linked_text() for s in sheets]),
                     [Passage("abstract", p.abstract)], ENC.embed_texts([p.abstract]), source_sig=pid)


@pytest.fixture
def store(tmp_path):
    s = FigureStore.open(tmp_path / "idx", create=True)
    s.bind_encoders(EncoderId(ENC.name, ENC.dim), EncoderId(ENC.name, ENC.dim))
    yield s
    s.close()


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="patfig ingest"):
        FigureStore.open(tmp_path / "nothing")


def test_add_query_filter_and_replace(store):
    add(store, "US1", office="US", date=20190101)
    add(store, "EP2", office="EP", date=20120101, cpc=("H01M10/44",))
    assert store.complete_ids() == {"US1", "EP2"}
    hits = store.query_visual(ENC.embed_texts(["US1"])[0], k=5)
    assert hits[0].id == "US1-S1" and hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    only_ep = store.query_visual(ENC.embed_texts(["US1"])[0], k=5, filters=Filters(offices=["EP"]))
    assert [h.id for h in only_ep] == ["EP2-S1"]
    assert [h.id for h in store.query_visual(ENC.embed_texts(["x"])[0], 5, Filters(cpc=["H01"]))] == ["EP2-S1"]
    assert [h.id for h in store.query_visual(ENC.embed_texts(["x"])[0], 5, Filters(date_from=20150101))] == ["US1-S1"]
    add(store, "US1", office="US", date=20190101)  # re-adding replaces, never duplicates
    assert store.stats()["sheets"] == 2 and store.stats()["passages"] == 2
    facets = store.facets()
    assert facets["offices"] == ["EP", "US"] and "H01M" in facets["cpc"]
    assert facets["date_range"] == [20120101, 20190101]


def test_pending_patent_is_invisible_and_recovered(store):
    add(store, "US1")
    # a run that died after writing vectors but before completing: status stays pending
    store.db.execute("UPDATE patents SET status='pending' WHERE patent_id='US1'")
    store.db.commit()
    assert store.query_visual(ENC.embed_texts(["US1"])[0], k=5) == []
    assert store.patent("US1") is None
    assert store.recover() == ["US1"]
    assert store._col("sheets_visual").count() == 0 and store._col("passages").count() == 0


def test_encoder_mismatch_is_refused(store):
    with pytest.raises(IndexMismatch, match="built with fake:sha16"):
        store.bind_encoders(EncoderId("open_clip:ViT-B-16/laion400m_e32", 512), EncoderId(ENC.name, ENC.dim))
    with pytest.raises(IndexMismatch, match="re-index"):
        store.check_encoder("visual", EncoderId("linedraw:other", 16))


def test_lexical_fts(store):
    add(store, "US1")
    rows = store.lexical('abstract:"gripping unit" AND hoist')
    assert rows[0][0] == "US1" and "abstract" in rows[0][2]
    with pytest.raises(StoreError, match="malformed query"):
        store.lexical('"unclosed')
