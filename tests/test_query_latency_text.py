"""bench/query_latency_text.py pads a real index with copies of its patents: the copies must be searchable by
words exactly like their originals (per-figure word rows, figure passages, components, facets), or the latency
it measures would be that of an index where words find nothing. A real Chroma and a real FTS5 (the
`words_index` of tests/test_words.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.query_latency_text import copy_real, measure, pad, read_source, text_filters
from store import figure_lexical
from store.index import FIGURE_PASSAGES, TEXT, VISUAL, FigureStore
from tests.test_words import words_index  # noqa: F401  (the fixture)
from tools.search import search_text


def test_padded_copies_are_found_by_words_like_their_originals(words_index, tmp_path):  # noqa: F811
    src = words_index.store
    source = read_source(src)
    dst = FigureStore.open(tmp_path / "padded", create=True)
    try:
        count = copy_real(src, dst, source)
        assert count == 6
        count = pad(dst, source, count, 30, [0], np.random.default_rng(0))
        assert count >= 30
        assert figure_lexical.size(dst.db) == count
        assert len(dst._table(VISUAL) or []) == len(dst._table(TEXT) or []) == count
        assert len(dst._table(FIGURE_PASSAGES) or []) > len(source.passages)
        padded = dataclasses.replace(words_index, store=dst)
        hits = search_text(padded, "hydrogen tank", k=10)
        # the original and its copies share the top, each explained by the component that names it
        tops = [h for h in hits if h.figure_id.endswith("-S1") and h.breakdown.matched_in]
        assert {h.patent_id for h in tops} >= {"US1000001", "SYN0000000"}
        assert all("107" in str(h.breakdown.matched_in) for h in tops[:2])
        # a filter on a copied facet passes copies as it passes originals
        design = [h.figure_id for h in search_text(padded, "shoe", k=10, filters=text_filters(
            list(dst.all_metadata().values()))["broad"])]
        assert design
    finally:
        dst.close()


def test_measure_reports_every_query_and_filter(words_index):  # noqa: F811
    filters = {"none": None}
    out = measure(words_index, words_index.text, filters, reps=2)
    assert out["figures"] == 6 and out["figure_lexical_rows"] == 6
    for q in out["queries"].values():
        f = q["filters"]["none"]
        assert f["search"]["n"] == 2 and f["search"]["p95_ms"] >= f["search"]["p50_ms"] > 0
        assert "figure_lexical" in f["stages_ms"] and "query_text" in f["stages_ms"]


def test_word_side_reads_no_documents_from_chroma(words_index):  # noqa: F811
    v = words_index.text.embed_texts(["hydrogen tanks"])[0]
    bare = words_index.store.query_text(v, 3, documents=False)
    full = words_index.store.query_text(v, 3)
    assert [h.id for h in bare] == [h.id for h in full]
    assert all(h.document is None for h in bare) and all(h.document for h in full)
