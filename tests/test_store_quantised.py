"""The in-memory table's int8 planes (store/matrix.py): bounded error, the float32 scan's rankings and
scores after re-scoring, on real vectors of the fast sample index and on random ones; old snapshots are
converted, unknown ones refused; compaction keeps the planes as they are."""

from __future__ import annotations

import json

import numpy as np
import pytest

from store.matrix import FINE, SNAPSHOT_FORMAT, VectorTable, dequantise, quantise

TOL = 1e-4  # a re-scored cosine against float32


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _table(vectors: np.ndarray, ids: list[str] | None = None) -> VectorTable:
    ids = ids or [f"P{i // 10}-S{i % 10}" for i in range(len(vectors))]
    table = VectorTable(vectors.shape[1])
    table.add(ids, vectors, [{"patent_id": i.split("-")[0], "sheet_no": n % 7, "kind": "drawing" if n % 3 else "graph"}
                             for n, i in enumerate(ids)])
    return table


def _truth(vectors: np.ndarray, q: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[list[int], np.ndarray]:
    """Rows of the k nearest by a float32 scan (ties: the earlier row), and every row's float32 cosine."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ (q / np.linalg.norm(q))
    pool = np.arange(len(vectors)) if rows is None else rows
    order = pool[np.argsort(-sims[pool], kind="stable")]
    return order[:k].tolist(), sims


def _same_ranking(got: list[tuple[str, float]], table: VectorTable, want: list[int], sims: np.ndarray) -> None:
    """The float32 scan's rows, in its order but for neighbours whose float32 cosines differ by < TOL (they
    may swap: measured up to 4e-6 apart; duplicate sheets tie), with scores within TOL of float32."""
    rows = [table.row_of[i] for i, _ in got]
    assert len(rows) == len(want)
    assert all(abs(sims[r] - sims[want[-1]]) < TOL for r in set(rows) ^ set(want))  # ties at the k-th
    assert (np.diff(sims[rows]) < TOL).all()
    assert np.allclose(sims[rows], sims[want], atol=TOL, rtol=0)  # rank by rank
    assert np.allclose([s for _, s in got], sims[rows], atol=TOL, rtol=0)


@pytest.mark.parametrize("dim", [64, 139, 384])
def test_decoded_rows_are_within_the_bound(dim):
    vec = _unit(np.random.default_rng(dim), 2000, dim)
    coarse, fine, scale = quantise(vec)
    assert coarse.dtype == fine.dtype == np.int8 and scale.dtype == np.float32
    err = np.abs(dequantise(coarse, fine, scale) - vec)
    assert (err <= scale[:, None] / (2 * FINE) + 1e-7).all()
    assert np.abs((dequantise(coarse, fine, scale) * vec).sum(axis=1) - 1).max() < TOL


@pytest.mark.parametrize("dim", [64, 384])
def test_search_equals_the_float32_scan(dim):
    rng = np.random.default_rng(7)
    vec = _unit(rng, 20_000, dim)
    vec[5000:5100] = vec[:100] + 0.01 * _unit(rng, 100, dim)  # near-duplicates: close scores to tell apart
    table = _table(vec)
    for j in range(25):
        q = vec[rng.integers(len(vec))] + 0.3 * _unit(rng, 1, dim)[0]
        mask = table.mask({"kind": "drawing"}) if j % 2 else None
        rows = np.flatnonzero(mask) if mask is not None else None
        want, sims = _truth(vec, q, 100, rows)
        _same_ranking(table.search(q.tolist(), 100, mask), table, want, sims)


def test_rankings_equal_on_the_real_sample_index(fake_index):
    """Every sheet of the fast index queries its visual and its text vectors, as stored in Chroma."""
    store = fake_index.store
    ids = sorted(store.all_metadata())
    for kind in ("visual", "text"):
        stored = store.vectors(kind, ids)
        vec = np.asarray([stored[i] for i in ids], dtype=np.float32)
        table = _table(vec, ids)
        for r in range(len(ids)):
            want, sims = _truth(vec, vec[r], 20)
            _same_ranking(table.search(vec[r].tolist(), 20), table, want, sims)
        sub = ids[::3]
        _, sims = _truth(vec, vec[0], 1)
        got_sims = table.similarities(vec[0].tolist(), sub)
        assert np.allclose([got_sims[i] for i in sub], sims[[ids.index(i) for i in sub]], atol=TOL, rtol=0)
        assert np.abs(table.rows(sub) - vec[::3] / np.linalg.norm(vec[::3], axis=1, keepdims=True)).max() < 1e-4


def test_snapshot_keeps_the_planes_and_converts_the_float32_format(tmp_path):
    vec = _unit(np.random.default_rng(3), 3000, 64)
    table = _table(vec)
    table.save(tmp_path / "t.npz", {"version": 4})
    loaded, stamp = VectorTable.load(tmp_path / "t.npz")
    assert stamp == {"version": 4}
    assert (loaded._coarse == table._coarse[: table.n]).all() and (loaded._fine == table._fine[: table.n]).all()
    q = vec[17].tolist()
    assert loaded.search(q, 50) == table.search(q, 50)
    # a snapshot from before the planes: float32 "vectors" and no "format" in its header
    with np.load(tmp_path / "t.npz") as z:
        arrays = {k: z[k] for k in z.files if k not in ("coarse", "fine", "scale", "header")}
        header = json.loads(str(z["header"]))
    del header["format"]
    arrays["vectors"] = vec
    kind = [key for key, _ in header["columns"]].index("kind")
    arrays[f"nums{kind}"] = np.full(len(vec), np.nan)  # format 1 wrote a float column for every key
    np.savez(tmp_path / "old.npz", header=np.asarray(json.dumps(header)), **arrays)
    old, _ = VectorTable.load(tmp_path / "old.npz")
    got, want = old.search(q, 50), table.search(q, 50)
    assert [i for i, _ in got] == [i for i, _ in want]  # quantised from the unnormalised rows: codes may differ
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=TOL, rtol=0)
    assert old.values("kind") == table.values("kind") and old.mask({"sheet_no": {"$gt": 3}}).sum() > 0
    # a format this code does not know is refused, never read
    np.savez(tmp_path / "new.npz", header=np.asarray(json.dumps(header | {"format": SNAPSHOT_FORMAT + 1})), **arrays)
    with pytest.raises(ValueError, match="format"):
        VectorTable.load(tmp_path / "new.npz")


def test_compaction_and_replacement_keep_search_exact():
    rng = np.random.default_rng(11)
    vec = _unit(rng, 4000, 139)
    table = _table(vec)
    q = _unit(rng, 1, 139)[0]
    before = table.search(q.tolist(), 30)
    dropped = [f"P{p}" for p in range(0, 400, 2)]  # half the patents: the table compacts
    table.drop_patents(dropped)
    assert table.n == len(table) == 2000
    keep = np.asarray([i // 10 % 2 == 1 for i in range(len(vec))])
    want, sims = _truth(vec, q, 30, np.flatnonzero(keep))
    got = table.search(q.tolist(), 30)
    assert [i for i, _ in got] == [f"P{r // 10}-S{r % 10}" for r in want]
    assert [h for h in before if h[0].split("-")[0] not in dropped][:10] == got[:10]
    table.add(["P1-S0"], -vec[10:11], [{"patent_id": "P1"}])  # replaced by its opposite
    assert table.similarities(vec[10].tolist(), ["P1-S0"])["P1-S0"] == pytest.approx(-1.0, abs=TOL)


def test_a_column_without_numbers_holds_no_float_array():
    table = _table(_unit(np.random.default_rng(1), 100, 64))
    assert table._columns["kind"].nums is None and table._columns["sheet_no"].nums is not None
    assert not table.mask({"kind": {"$gt": 1}}).any()
    assert table.mask({"sheet_no": {"$gte": 6}}).sum() == sum(1 for n in range(100) if n % 7 >= 6)


def test_codes_widen_as_a_key_gets_more_values():
    n = 40_000
    ids = [f"P{i}-S1" for i in range(n)]
    table = VectorTable(8)
    table.add(ids[:100], np.eye(8, dtype=np.float32)[np.arange(100) % 8], [{"patent_id": f"P{i}"} for i in range(100)])
    assert table._columns["patent_id"].codes.dtype == np.int8
    table.add(ids[100:], np.eye(8, dtype=np.float32)[np.arange(100, n) % 8],
              [{"patent_id": f"P{i}"} for i in range(100, n)])
    assert table._columns["patent_id"].codes.dtype == np.int32 and table.patents() == n
    assert table.meta(39_999)["patent_id"] == "P39999" and table.mask({"patent_id": "P130"}).sum() == 1
    table.drop_patents(["P5", "P39999", "nope"])
    assert len(table) == n - 2 and "P5-S1" not in table.row_of and "P6-S1" in table.row_of
