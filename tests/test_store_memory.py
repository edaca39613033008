"""The index's query path without corpus scans, on real embedded ChromaDB and SQLite.

- the in-memory exact path returns the same figures and similarities as Chroma's own `where` pre-filter,
  on many random filters over a real index (the fast index built from the sample documents), and the
  nearest neighbours a brute-force scan finds on a larger synthetic one (including the HNSW route);
- the caches (complete patents, facets, component labels, the in-memory tables) follow every write, also
  one made by another process;
- components are a table with an indexed lookup, and an index from before that table gets it on open.
"""

from __future__ import annotations

import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import store.vectors as index_module  # the vector search: its thresholds and loaders
from core.filters import Filters
from core.types import Component
from store.index import VISUAL, EncoderId, FigureStore, Passage
from store.matrix import VectorTable
from tests.fakes import HashEncoder, make_patent, make_sheet

ENC = HashEncoder()


def _random_filters(rng: random.Random, facets: dict) -> Filters:
    """A random mix of filter fields, with values drawn from those the index holds (and a few it lacks)."""
    def some(values: list) -> list:
        return rng.sample(values, rng.randint(1, min(3, len(values)))) if values else []

    lo, hi = facets["date_range"] or [20000101, 20250101]
    choices = {
        "kinds": lambda: some(facets["kinds"]),
        "views": lambda: some(facets["views"]),
        "cpc": lambda: some([c for c in facets["cpc"] if len(c) <= 4] + ["F03D"]),
        "offices": lambda: some(facets["offices"]),
        "kind_codes": lambda: some([c for c in facets["kind_codes"] if c] + ["B1"]),
        "date_from": lambda: rng.randint(lo - 10000, hi + 10000),
        "date_to": lambda: rng.randint(lo - 10000, hi + 10000),
        "include_ids": lambda: some([*facets["patent_ids"], "US999"]),
        "exclude_ids": lambda: some([*facets["patent_ids"], "US999"]),
        "has_components": lambda: rng.random() < 0.5,
        "exclude_kinds": lambda: some(facets["kinds"]),
        "exclude_views": lambda: some(facets["views"]),
        "exclude_cpc": lambda: some([c for c in facets["cpc"] if len(c) <= 4]),
        "exclude_offices": lambda: some(facets["offices"]),
        "exclude_kind_codes": lambda: some([c for c in facets["kind_codes"] if c]),
        # figure ids: the sheets of some patents (sheet numbers 1-3 exist for most) and one that does not
        "figure_ids": lambda: some([f"{p}-S{n}" for p in facets["patent_ids"][:6] for n in (1, 2, 3)] + ["US9-S1"]),
        "exclude_figures": lambda: some([f"{p}-S{n}" for p in facets["patent_ids"][:6] for n in (1, 2)]),
    }
    return Filters(**{name: make() for name, make in choices.items() if rng.random() < 0.3})


def test_memory_path_and_chroma_where_agree_on_a_real_index(fake_index):
    store = fake_index.store
    n = len(store.all_metadata())
    assert n > 20 and store._table(VISUAL) is not None
    facets = store.facets()
    rng = random.Random(3)
    sample = store.vectors("visual", sorted(store.all_metadata())[:5])
    cut = 0
    for _ in range(300):
        f = _random_filters(rng, facets)
        query = sample[rng.choice(sorted(sample))]
        memory = {h.id: h.similarity for h in store.query_visual(query, n, f)}
        chroma = {h.id: h.similarity for h in store._query_chroma(VISUAL, query, n, f)}
        assert memory.keys() == chroma.keys(), f.describe()
        assert all(memory[i] == pytest.approx(chroma[i], abs=1e-4) for i in memory)
        top = [h.id for h in store.query_visual(query, 5, f)]
        assert top == sorted(memory, key=lambda i: -memory[i])[:5]
        cut += 0 < len(memory) < n
    assert cut > 50  # the filters really cut: neither nothing nor everything passes


def test_text_hits_keep_their_documents(fake_index):
    store = fake_index.store
    vec = fake_index.text.embed_texts(["wind turbine blade"])[0]
    n = len(store.all_metadata())
    memory = store.query_text(vec, 10)
    chroma = {h.id: h for h in store._query_chroma("sheets_text", vec, n, None, with_documents=True)}
    assert [h.similarity for h in memory] == pytest.approx(sorted((h.similarity for h in chroma.values()),
                                                                  reverse=True)[:10], abs=1e-4)
    assert all(h.document and h.document == chroma[h.id].document for h in memory)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A store of 1,500 sheets (50 patents) with random vectors and varied facets."""
    rng = random.Random(5)
    nrng = np.random.default_rng(5)
    s = FigureStore.open(tmp_path_factory.mktemp("big") / "idx", create=True)
    s.bind_encoders(EncoderId("fake:rand32", 32), EncoderId("fake:rand32", 32))
    cpcs = [(), ("B66C1/42",), ("B64D27/353", "H01M8/04"), ("A61B5/00",), ("G06F3/01",)]
    for i in range(50):
        office = ("US", "EP", "WO")[i % 3]
        p = make_patent(f"{office}{1000 + i}", office=office, date=rng.choice([0, 20100101, 20180505, 20230101]),
                        cpc=cpcs[i % len(cpcs)])
        sheets = [make_sheet(p.patent_id, n, kind=rng.choice(["drawing", "flowchart", "graph"]),
                             view=rng.choice(["perspective", "side", "plan"])) for n in range(1, 31)]
        for sh in sheets[::3]:
            sh.components = []
        vecs = nrng.standard_normal((30, 32)).tolist()
        s.add_patent(p, sheets, vecs, vecs, [], [])
    yield s
    s.close()


def _brute_force(store: FigureStore, query: np.ndarray, k: int, f: Filters | None) -> list[str]:
    metas = store.all_metadata()
    ids = [i for i, m in metas.items() if f is None or f.match(m)]
    if not ids:
        return []
    vecs = store.vectors("visual", ids)
    mat = np.asarray([vecs[i] for i in ids], dtype=np.float64)
    sims = mat @ query / np.linalg.norm(mat, axis=1) / np.linalg.norm(query)
    return [ids[j] for j in np.argsort(-sims, kind="stable")[:k]]


def test_exact_path_finds_the_brute_force_neighbours(big):
    rng, nrng = random.Random(9), np.random.default_rng(9)
    facets = big.facets()
    for _ in range(60):
        f = _random_filters(rng, facets)
        q = nrng.standard_normal(32)
        assert [h.id for h in big.query_visual(q.tolist(), 20, f)] == _brute_force(big, q, 20, f), f.describe()


def test_hnsw_route_keeps_the_filter_and_most_neighbours(big, monkeypatch):
    monkeypatch.setattr(index_module, "EXACT_MAX_FLOATS", 0)  # every query goes through HNSW + post-filter
    nrng = np.random.default_rng(2)
    recalls = []
    for f in (None, Filters(kinds=["drawing", "graph"]), Filters(offices=["US"]), Filters(cpc=["B"])):
        for _ in range(10):
            q = nrng.standard_normal(32)
            hits = big.query_visual(q.tolist(), 20, f)
            metas = big.metadata([h.id for h in hits])
            assert len(hits) == 20 and all(f is None or f.match(metas[h.id]) for h in hits)
            recalls.append(len({h.id for h in hits} & set(_brute_force(big, q, 20, f))) / 20)
    assert np.mean(recalls) > 0.9


# ---------------------------------------------------------------- caches follow writes


def add(store: FigureStore, pid: str, **kw) -> None:
    p = make_patent(pid, **kw)
    sheets = [make_sheet(pid, 1), make_sheet(pid, 2, kind="flowchart")]
    vecs = ENC.embed_texts([s.figure_id for s in sheets])
    store.add_patent(p, sheets, vecs, vecs, [Passage("abstract", p.abstract)], ENC.embed_texts([p.abstract]))


@pytest.fixture
def store(tmp_path):
    s = FigureStore.open(tmp_path / "idx", create=True)
    s.bind_encoders(EncoderId(ENC.name, ENC.dim), EncoderId(ENC.name, ENC.dim))
    yield s
    s.close()


def _ids(store: FigureStore, f: Filters | None = None) -> set[str]:
    return {h.id for h in store.query_visual(ENC.embed_texts(["x"])[0], 50, f)}


def test_caches_follow_add_delete_and_recover(store):
    add(store, "US1", cpc=("B66C1/42",))
    assert _ids(store) == {"US1-S1", "US1-S2"} and store.facets()["cpc"] == ["B", "B66", "B66C"]
    v = store.version()
    add(store, "EP2", office="EP", cpc=("H01M8/04",))
    assert store.version() > v
    assert _ids(store, Filters(offices=["EP"])) == {"EP2-S1", "EP2-S2"}
    assert store.complete_ids() == {"US1", "EP2"} and "H01M" in store.facets()["cpc"]
    assert store.facets()["cpc_counts"]["B"] == 2
    store.delete_patent("US1")
    assert _ids(store) == {"EP2-S1", "EP2-S2"} and "B" not in store.facets()["cpc"]
    assert store.metadata(["US1-S1"]) == {} and store.facets()["patent_ids"] == ["EP2"]
    store.db.execute("UPDATE patents SET status='pending' WHERE patent_id='EP2'")  # a run died mid-way
    store.db.commit()
    assert _ids(store) == set() and store.facets()["patent_ids"] == []
    assert store.recover() == ["EP2"] and store.complete_ids() == set()


def test_facets_equal_those_read_from_chroma(store):
    for i, office in enumerate(("US", "EP", "WO", "US")):
        add(store, f"{office}{i}", office=office, date=20100101 + i * 10000, cpc=(("B66C1/42",), ("H01M8/04",))[i % 2])
    memory = store.facets()
    store.in_memory = False
    store._cache.clear()
    assert store._facets() == memory


def test_a_write_through_another_handle_is_seen(store):
    """Another FigureStore on the same index (as another thread of the UI, or the ingest writer, holds)."""
    add(store, "US1")
    assert _ids(store) == {"US1-S1", "US1-S2"}
    other = FigureStore.open(store.root)
    add(other, "EP7", office="EP")
    other.delete_patent("US1")
    other.close()
    assert _ids(store) == {"EP7-S1", "EP7-S2"} and store.facets()["offices"] == ["EP"]
    assert store.complete_ids() == {"EP7"}


@pytest.fixture
def chroma_server(tmp_path):
    """A real `chroma run` server on a free port, stopped after the test."""
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        pytest.skip("the chroma CLI is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(exe), "run", "--path", str(tmp_path / "server"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_server_mode_loads_from_the_server_and_follows_another_host(tmp_path, chroma_server):
    """Two hosts on one Chroma server: the reader's in-memory copy comes from the server and follows the
    writer's changes (the version stamp lives in the shared SQLite file)."""
    reader = FigureStore.open(tmp_path / "idx", create=True, chroma_host="127.0.0.1", chroma_port=chroma_server)
    reader.bind_encoders(EncoderId(ENC.name, ENC.dim), EncoderId(ENC.name, ENC.dim))
    writer = FigureStore.open(tmp_path / "idx", chroma_host="127.0.0.1", chroma_port=chroma_server)
    add(writer, "US1")
    add(writer, "EP2", office="EP")
    assert _ids(reader, Filters(offices=["EP"])) == {"EP2-S1", "EP2-S2"}
    assert _ids(reader) == {h.id for h in reader._query_chroma(VISUAL, ENC.embed_texts(["x"])[0], 50, None)}
    writer.delete_patent("EP2")
    add(writer, "WO3", office="WO")
    assert _ids(reader) == {"US1-S1", "US1-S2", "WO3-S1", "WO3-S2"} and reader.facets()["offices"] == ["US", "WO"]
    writer.close()
    reader.close()


# ---------------------------------------------------------------- components


def test_components_are_looked_up_by_label(store):
    add(store, "US1")
    assert store.component_labels() == ["gripping unit"]
    found = store.components_labelled(["gripping unit", "no such part"])
    assert sorted(found) == ["US1-S1", "US1-S2"]
    boxes = make_sheet("US1").components[0].boxes
    assert found["US1-S1"] == [Component(numeral="10", label="gripping unit", boxes=boxes)]
    plan = store.db.execute("EXPLAIN QUERY PLAN SELECT figure_id FROM components WHERE label IN ('a', 'b')").fetchall()
    assert any("components_label" in row[-1] for row in plan)
    store.delete_patent("US1")
    assert store.component_labels() == [] and store.components_labelled(["gripping unit"]) == {}


def _strip_to_old_schema(root: Path) -> None:
    """Turn an index into one written before the components table, the change log and its triggers."""
    db = sqlite3.connect(root / "patfig.sqlite")
    db.executescript("DROP TABLE components; DROP TABLE changes; DROP TRIGGER patents_inserted; "
                     "DROP TRIGGER patents_updated; DROP TRIGGER patents_deleted; DROP INDEX patents_status; "
                     "DELETE FROM meta WHERE key='components_table';")
    db.close()


def test_an_index_from_before_gets_its_components_on_open(tmp_path):
    s = FigureStore.open(tmp_path / "idx", create=True)
    s.bind_encoders(EncoderId(ENC.name, ENC.dim), EncoderId(ENC.name, ENC.dim))
    add(s, "US1")
    add(s, "EP2", office="EP")
    s.close()
    _strip_to_old_schema(tmp_path / "idx")
    s = FigureStore.open(tmp_path / "idx")
    assert sorted(s.components_labelled(["gripping unit"])) == ["EP2-S1", "EP2-S2", "US1-S1", "US1-S2"]
    assert _ids(s, Filters(offices=["EP"])) == {"EP2-S1", "EP2-S2"}
    s.delete_patent("EP2")  # the triggers exist again: the in-memory table follows
    assert _ids(s) == {"US1-S1", "US1-S2"} and s.component_labels() == ["gripping unit"]
    s.close()


@pytest.mark.slow
def test_a_real_index_from_before_migrates(sample_index_dir, tmp_path):
    """A copy of the real sample index (OCR-linked components): the backfilled table holds every component."""
    root = tmp_path / "copy"
    shutil.copytree(sample_index_dir, root)
    if _has_components_table(root):  # built by this version: make it an old one
        _strip_to_old_schema(root)
    s = FigureStore.open(root)
    sheets = s.sheets()
    expected = {(sh.figure_id, c.numeral, c.label) for sh in sheets for c in sh.components if c.label}
    assert expected, "the sample index should have OCR-linked components"
    found = s.components_labelled(s.component_labels())
    assert {(fid, c.numeral, c.label) for fid, comps in found.items() for c in comps} == expected
    s.close()


def _has_components_table(root: Path) -> bool:
    db = sqlite3.connect(root / "patfig.sqlite")
    try:
        return bool(db.execute("SELECT 1 FROM sqlite_master WHERE name='components'").fetchone())
    finally:
        db.close()


# ---------------------------------------------------------------- the snapshot of the in-memory table


def test_snapshot_round_trip_keeps_rows_facets_and_search(big, tmp_path):
    table = big._table(VISUAL)
    assert table is not None
    table.save(tmp_path / "t.npz", {"version": 1})
    loaded, stamp = type(table).load(tmp_path / "t.npz")
    assert stamp == {"version": 1} and len(loaded) == len(table)
    assert {i: loaded.meta(r) for i, r in loaded.row_of.items()} == {i: table.meta(r) for i, r in table.row_of.items()}
    assert loaded.flag_counts() == table.flag_counts() and loaded.values("kind") == table.values("kind")
    rng = random.Random(4)
    for _ in range(20):
        where = _random_filters(rng, big.facets()).where()
        q = np.random.default_rng(rng.randint(0, 99)).standard_normal(32)
        assert loaded.search(q, 10, loaded.mask(where)) == table.search(q, 10, table.mask(where))
    loaded.drop_patents(["US1000"])
    assert len(loaded) == len(table) - 30


def test_a_new_process_starts_from_the_snapshot_and_sees_later_writes(store, monkeypatch):
    add(store, "US1")
    add(store, "EP2", office="EP")
    assert _ids(store) == {"US1-S1", "US1-S2", "EP2-S1", "EP2-S2"}
    assert (store.root / "memory" / f"{VISUAL}.npz").is_file()
    store.delete_patent("EP2")
    add(store, "WO3", office="WO")
    fresh = FigureStore.open(store.root)
    reads = []
    monkeypatch.setattr(index_module, "_add_records", lambda t, res, c, *whiten: reads.append(len(res["ids"])))
    table = fresh._table(VISUAL)
    assert table is not None and sorted(table.row_of) == ["US1-S1", "US1-S2"]  # the snapshot, patched
    assert reads == [2]  # one read, of the changed patents (WO3); EP2's rows were dropped
    fresh.close()
    monkeypatch.undo()
    other = FigureStore.open(store.root)
    assert _ids(other) == {"US1-S1", "US1-S2", "WO3-S1", "WO3-S2"}
    other.close()


def test_a_foreign_or_broken_snapshot_is_ignored(store):
    add(store, "US1")
    assert _ids(store) == {"US1-S1", "US1-S2"}
    path = store.root / "memory" / f"{VISUAL}.npz"
    path.write_bytes(b"not a snapshot")
    other = FigureStore.open(store.root)
    assert _ids(other) == {"US1-S1", "US1-S2"}  # loaded from Chroma, and the snapshot written anew
    table, stamp = VectorTable.load(path)
    assert sorted(table.row_of) == ["US1-S1", "US1-S2"] and stamp["collection"] == str(other._col(VISUAL).id)
    other.close()


def _scan(services, name: str) -> dict[str, tuple[float, float]]:
    """The ranking score of every sheet as find_component computed it before the components table: a scan of all
    (the best label similarity, plus 0.01 per matching part up to 5 to break ties), and the best similarity."""
    from tools.refsigns import NAME_THRESHOLD

    sheets = [s for s in services.store.sheets() if s.components]
    labels = sorted({c.label for s in sheets for c in s.components if c.label})
    vecs = dict(zip(labels, services.text.embed_texts(labels), strict=True))
    q = np.asarray(services.text.embed_texts([name])[0])
    sim = {lbl: max(float(np.dot(vecs[lbl], q)), 1.0 if name.lower() in lbl.lower() else -1.0) for lbl in labels}
    out = {}
    for s in sheets:
        comps = [c for c in s.components if sim.get(c.label, 0.0) >= NAME_THRESHOLD]
        if comps:
            out[s.figure_id] = (round(max(sim[c.label] for c in comps) + 0.01 * min(len(comps), 5), 4),
                                min(1.0, round(max(sim[c.label] for c in comps), 4)))
    return out


def test_find_component_by_the_table_equals_the_scan_it_replaced(tmp_path):
    from tests.test_cluster import PATENTS, build_corpus
    from tests.test_explain import EXTRA
    from tools.refsigns import find_component

    services = build_corpus(tmp_path / "idx", PATENTS | EXTRA)
    try:
        for name in ("gripping unit", "rail", "crane trolley", "electric motor", "propeller", "nothing alike"):
            hits = find_component(services, name, k=100)
            scan = _scan(services, name)
            assert {h.figure_id for h in hits} == set(scan), name
            assert [scan[h.figure_id][0] for h in hits] == sorted((v[0] for v in scan.values()), reverse=True), name
            for h in hits:  # the raw score is the best label similarity; the score is its calibrated relevance
                ms = h.breakdown.modalities["component"]
                assert ms.raw == scan[h.figure_id][1] and ms.calibrated == h.score, name
        everywhere = {h.patent_id for h in find_component(services, "gripping unit", k=100)}
        assert everywhere == {"US1", "US3"}
        assert {h.patent_id for h in find_component(services, "gripping unit", k=100,
                                                    filters=Filters(exclude_ids=["US1"]))} == {"US3"}
        services.store.delete_patent("US3")
        assert "crane trolley" not in services.store.component_labels()
        assert find_component(services, "crane trolley", k=100) == []
    finally:
        services.close()
