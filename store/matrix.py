"""An in-memory copy of one sheet collection: a matrix of unit vectors and columnar facets, for exact search.

Why: Chroma applies a `where` filter by collecting the ids of every matching record from its metadata
store before the HNSW search, so a filtered query grows with the number of matches (652–977 ms p95 at
100k figures in bench/query_latency.py). Here a filter is a boolean mask over facet columns, and the
search is an exact cosine scan of the rows that pass, whose cost grows with the rows scanned only.

A filter is the `where` clause that `core.filters.Filters.where()` builds from its one FIELDS table,
evaluated by `VectorTable.mask` on the columns with the meaning `core.filters.holds` gives each operator
(the same meaning as Chroma's): a key a row lacks fails every positive test and passes every negative one,
and values of different types are never equal.

Columns: every metadata key is a categorical column (a code per row, -1 where the row lacks the key: int8
while the key has at most 127 values, then int16 or int32) plus, for a key that has numbers, a float64
column (NaN where the row lacks one). A patent's rows are found by its code in the ``patent_id`` column.
Flag keys (CPC prefixes, ``cpc_B64D``: thousands of distinct keys, each on few rows) are kept as row lists
instead, one per key. The row's own id is not stored a second time as its ``figure_id``.

Vectors are held in two int8 planes and a float32 scale per row, ``row ≈ scale · (coarse + fine / 254)``
(2 bytes a component instead of 4; ``scale`` is the row's largest |component| / 127, so each coarse code is
within half a step and the fine plane holds the rest to 1/254 of a step). A search scans the coarse plane
alone (int8 widens to float32 about ten times faster than float16 here: 33 ms against 320 ms for 1M rows of
dim 139, measured), then re-scores its best `_rescored(k)` candidates from both planes, whose error is at
most ``scale / 508`` a component (a cosine off by < 1e-4 at dim 64-384). bench/results/serving_memory.md
has the options measured (float32, float16, int8 alone, int8 with re-scoring): memory, recall, latency.

Rows are appended into buffers that grow by a quarter and deleted by clearing their `alive` bit; the table
compacts itself when a quarter of its rows are dead.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from core.filters import CPC_FLAG, Metadata, Scalar, Where

ID_KEY = "figure_id"  # equals the row's id; not stored twice
CHUNK = 32_768  # rows gathered per matrix product when scanning a subset
BLOCK_BYTES = 4 << 20  # int8 rows are widened to float32 this many bytes at a time per matrix product: the block
# stays in the cache. Measured (CPU ms of one product): 1M rows of dim 139, 26.6 at 4 MiB (7,544 rows), 26.7 at 8,192
# rows, 30.2 at 16,384; 211k rows of dim 384, 14.1 at 4 MiB (2,730 rows) against 21.2 at the former 8,192 rows.
STEP = 127  # coarse codes span [-STEP, STEP]
FINE = 254  # the fine plane divides a coarse step into this many
SNAPSHOT_FORMAT = 2  # 1 (no "format" in the header): float32 "vectors"; 2: "coarse", "fine", "scale"
TypedValue = tuple[str, Scalar]  # a value with its type class: ("s", "US"), ("b", True), ("n", 3.0)


def _typed(value: Scalar) -> TypedValue:
    """A value keyed so that equal keys mean equal values as `core.filters._same` decides."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, str):
        return ("s", value)
    return ("n", float(value))


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def _product(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """matrix @ q in float32 on one BLAS thread: a matrix-vector product is bound by memory, and waking
    OpenBLAS's other threads cost 14 ms for a 0.3 ms product at 10k rows on a busy 2-core machine
    (measured). An int8 matrix is widened to float32 `BLOCK_BYTES` at a time."""
    with _blas().limit(limits=1, user_api="blas"):
        if matrix.dtype == np.float32:
            return matrix @ q
        out = np.empty(len(matrix), dtype=np.float32)
        block = max(1, BLOCK_BYTES // (4 * matrix.shape[1]))
        buf = np.empty((min(block, len(matrix)), matrix.shape[1]), dtype=np.float32)
        for lo in range(0, len(matrix), block):
            part = matrix[lo : lo + block]
            wide = buf[: len(part)]
            wide[...] = part
            np.matmul(wide, q, out=out[lo : lo + len(part)])
        return out


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float rows as (coarse int8, fine int8, scale float32): ``row ≈ scale · (coarse + fine / FINE)``."""
    vec = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(vec).max(axis=1) if vec.size else np.zeros(len(vec), dtype=np.float32)
    scale = np.where(peak > 0, peak / STEP, 1.0).astype(np.float32)
    steps = vec / scale[:, None]
    coarse = np.clip(np.rint(steps), -STEP, STEP)
    fine = np.clip(np.rint((steps - coarse) * FINE), -STEP, STEP)
    return coarse.astype(np.int8), fine.astype(np.int8), scale


def dequantise(coarse: np.ndarray, fine: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The float32 rows that `quantise` encoded (each component within scale / (2 · FINE)); computed in place
    in one buffer (2.4x faster than with temporaries for 4,000 rows of dim 384, and equal to the bit)."""
    out = fine.astype(np.float32)
    out /= FINE
    out += coarse
    out *= scale[:, None]
    return out


def _rescored(k: int) -> int:
    """How many of the coarse scan's best rows are re-scored from both planes to find the k nearest:
    recall@100 of 1.000 against float32 at 1M rows (bench/results/serving_memory.md)."""
    return 2 * k + 64


def _grow(arr: np.ndarray, size: int) -> np.ndarray:
    """`arr` with room for at least `size` rows; the new rows are not set (the caller sets each row it
    uses), so the pages past them are never written and stay out of resident memory. It grows by a quarter
    at least (not doubling: at 1M rows of dim 139 a doubled, filled buffer held 0.5 GB unused, measured)."""
    if len(arr) >= size:
        return arr
    cap = max(size, len(arr) + len(arr) // 4, 1024)
    out = np.empty((cap, *arr.shape[1:]), dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def _codes_for(codes: np.ndarray, code: int) -> np.ndarray:
    """`codes` wide enough to hold `code`: int8 while a key has at most 127 values, then int16, int32."""
    if code <= np.iinfo(codes.dtype).max:
        return codes
    return codes.astype(np.int16 if code <= np.iinfo(np.int16).max else np.int32)


@dataclass
class _Column:
    """One metadata key: a code per row into `values`, and the value as a number where it is one."""

    codes: np.ndarray  # int8, int16 or int32 (as many values as the key has), -1 where the row lacks the key
    nums: np.ndarray | None  # float64, NaN where the row lacks a (non-bool) number; None: no row has one
    values: list[Scalar] = field(default_factory=list)
    code_of: dict[TypedValue, int] = field(default_factory=dict)

    def code(self, value: Scalar) -> int:
        key = _typed(value)
        if key not in self.code_of:
            self.code_of[key] = len(self.values)
            self.values.append(value)
        return self.code_of[key]


class VectorTable:
    """Unit vectors, ids and facet columns of the complete sheets of one collection."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.n = 0  # rows used, dead ones included
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self._coarse = np.zeros((0, dim), dtype=np.int8)
        self._fine = np.zeros((0, dim), dtype=np.int8)
        self._scale = np.zeros(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._columns: dict[str, _Column] = {}
        self._flags: dict[str, array] = {}  # flag key -> rows that carry it (True), as int32
        self._flag_rows: dict[str, np.ndarray] = {}  # the same as arrays, rebuilt when rows change
        self._flagsets: list[tuple[str, ...]] = []  # each row's flag keys (interned tuples)
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self.row_of)

    # ---------------------------------------------------------------- writing

    def add(self, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[Mapping[str, Scalar]]) -> None:
        """Append rows (replacing rows with the same ids). Vectors are normalised to unit length."""
        self.drop_ids([i for i in ids if i in self.row_of])
        start, end = self.n, self.n + len(ids)
        vec = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        norms = np.linalg.norm(vec, axis=1, keepdims=True)
        self._coarse, self._fine = _grow(self._coarse, end), _grow(self._fine, end)
        self._scale = _grow(self._scale, end)
        self._coarse[start:end], self._fine[start:end], self._scale[start:end] = quantise(
            vec / np.where(norms > 0, norms, 1.0))
        self._alive = _grow(self._alive, end)
        self._alive[start:end] = True
        for col in self._columns.values():
            col.codes = _grow(col.codes, end)
            col.codes[start:end] = -1
            if col.nums is not None:
                col.nums = _grow(col.nums, end)
                col.nums[start:end] = np.nan
        for row, (fid, meta) in enumerate(zip(ids, metas, strict=True), start):
            self._add_meta(row, meta)
            self.ids.append(fid)
            self.row_of[fid] = row
        self.n = end
        self._flag_rows.clear()

    def _add_meta(self, row: int, meta: Mapping[str, Scalar]) -> None:
        flags = []
        for key, value in meta.items():
            if key == ID_KEY:
                continue
            if key.startswith(CPC_FLAG) and value is True:
                flags.append(key)
                self._flags.setdefault(key, array("i")).append(row)
                continue
            col = self._columns.get(key)
            if col is None:
                size = len(self._alive)
                col = self._columns[key] = _Column(np.full(size, -1, np.int8), None)
            code = col.code(value)
            col.codes = _codes_for(col.codes, code)
            col.codes[row] = code
            if isinstance(value, int | float) and not isinstance(value, bool):
                if col.nums is None:
                    col.nums = np.full(len(col.codes), np.nan)
                col.nums[row] = float(value)
        key = tuple(sorted(flags))
        self._flagsets.append(self._interned.setdefault(key, key))

    def drop_ids(self, ids: Iterable[str]) -> None:
        for fid in ids:
            row = self.row_of.pop(fid, None)
            if row is not None:
                self._alive[row] = False

    def drop_patents(self, patent_ids: Iterable[str]) -> None:
        """Remove every row of these patents (found by their ``patent_id`` column: one pass over it)."""
        col = self._columns.get("patent_id")
        codes = [c for p in patent_ids if (c := col.code_of.get(_typed(p))) is not None] if col else []
        if codes:
            assert col is not None
            rows = np.flatnonzero(np.isin(col.codes[: self.n], codes) & self._alive[: self.n])
            for row in rows.tolist():
                if self.row_of.get(self.ids[row]) == row:
                    del self.row_of[self.ids[row]]
            self._alive[rows] = False
        if self.n > 1024 and len(self.row_of) < 0.75 * self.n:
            self._compact()

    def _compact(self) -> None:
        """Rebuild without dead rows."""
        keep = np.flatnonzero(self._alive[: self.n])
        fresh = VectorTable(self.dim)
        fresh.add([self.ids[r] for r in keep], np.zeros((len(keep), self.dim), np.float32),
                  [self.meta(int(r)) for r in keep])
        n = len(keep)  # the planes are copied as they are: re-quantising a decoded row could move it
        fresh._coarse[:n], fresh._fine[:n], fresh._scale[:n] = self._coarse[keep], self._fine[keep], self._scale[keep]
        self.__dict__.update(fresh.__dict__)

    # ---------------------------------------------------------------- reading

    def patents(self) -> int:
        """How many patents the table has held rows of (dropped ones included: a bound, cheap to read)."""
        col = self._columns.get("patent_id")
        return len(col.values) if col is not None else 0

    def meta(self, row: int) -> Metadata:
        """The stored metadata of a row, as Chroma returns it."""
        out: Metadata = {ID_KEY: self.ids[row]}
        for key, col in self._columns.items():
            code = int(col.codes[row])
            if code >= 0:
                out[key] = col.values[code]
        out |= dict.fromkeys(self._flagsets[row], True)
        return out

    def mask(self, where: Where | None) -> np.ndarray:
        """The live rows that pass a `where` clause (None: every live row)."""
        alive = self._alive[: self.n]
        return alive.copy() if where is None else self._where(where) & alive

    def _where(self, where: Where) -> np.ndarray:
        out = np.ones(self.n, dtype=bool)
        for key, operand in where.items():
            if key in ("$and", "$or"):
                parts = [self._where(w) for w in operand]  # type: ignore[union-attr]
                out &= np.logical_and.reduce(parts) if key == "$and" else np.logical_or.reduce(parts)
            else:
                tests = operand if isinstance(operand, dict) else {"$eq": operand}
                for op, arg in tests.items():
                    out &= self._test(key, op, arg)  # type: ignore[arg-type]
        return out

    def _test(self, key: str, op: str, arg: Scalar | list[Scalar]) -> np.ndarray:
        if op in ("$ne", "$nin"):
            return ~self._test(key, "$eq" if op == "$ne" else "$in", arg)
        if op not in ("$eq", "$in", "$gt", "$gte", "$lt", "$lte"):
            raise ValueError(f"unknown where operator {op!r}")
        if op == "$in" and not isinstance(arg, list) or op != "$in" and isinstance(arg, list):
            raise ValueError(f"{op} takes {'a list' if op == '$in' else 'one value'}, not {arg!r}")
        wanted = arg if isinstance(arg, list) else [arg]
        if key == ID_KEY:  # the figure id is the row's id, not a column
            return self._id_test(op, wanted)
        if key.startswith(CPC_FLAG) or key not in self._columns:
            return self._flag_test(key, op, wanted)
        col = self._columns[key]
        if op in ("$eq", "$in"):
            codes = [c for v in wanted if (c := col.code_of.get(_typed(v))) is not None]
            return np.isin(col.codes[: self.n], codes)
        value = wanted[0]
        if isinstance(value, bool) or not isinstance(value, int | float) or col.nums is None:
            return np.zeros(self.n, dtype=bool)
        nums = col.nums[: self.n]
        with np.errstate(invalid="ignore"):
            return {"$gt": nums > value, "$gte": nums >= value, "$lt": nums < value, "$lte": nums <= value}[op]

    def _id_test(self, op: str, wanted: list[Scalar]) -> np.ndarray:
        """`figure_id` equal to (or among) the wanted ids; ids compare as strings only, as in Chroma."""
        out = np.zeros(self.n, dtype=bool)
        if op in ("$eq", "$in"):
            rows = [r for v in wanted if isinstance(v, str) and (r := self.row_of.get(v)) is not None]
            out[rows] = True
        return out

    def _flag_test(self, key: str, op: str, wanted: list[Scalar]) -> np.ndarray:
        """A flag key holds True on its rows and is missing elsewhere: only `== True` can pass."""
        out = np.zeros(self.n, dtype=bool)
        if op in ("$eq", "$in") and any(v is True for v in wanted):
            out[self._rows_with(key)] = True
        return out

    def _rows_with(self, key: str) -> np.ndarray:
        if key not in self._flag_rows:
            self._flag_rows[key] = np.asarray(self._flags.get(key, []), dtype=np.int64)
        return self._flag_rows[key]

    def search(self, vector: Sequence[float], k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The k rows (of those in `mask`, default all live rows) nearest by cosine: (id, similarity)."""
        q = np.asarray(vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        if mask is None:
            mask = self._alive[: self.n]
        rows = np.flatnonzero(mask)
        if len(rows) == 0 or k <= 0:
            return []
        if len(rows) > 0.6 * self.n:  # most rows: one product over all, then drop the rest
            coarse = _product(self._coarse[: self.n], q)[rows]
        else:
            coarse = np.empty(len(rows), dtype=np.float32)
            for lo in range(0, len(rows), CHUNK):
                coarse[lo : lo + CHUNK] = _product(self._coarse[rows[lo : lo + CHUNK]], q)
        coarse *= self._scale[rows]
        m = _rescored(k)
        cand = rows[np.argpartition(-coarse, m - 1)[:m]] if m < len(rows) else rows
        sims = _product(self._exact(cand), q)
        top = np.argpartition(-sims, k - 1)[:k] if k < len(cand) else np.arange(len(cand))
        top = top[np.lexsort((cand[top], -sims[top]))]  # ties: the earlier row first
        return [(self.ids[cand[i]], float(sims[i])) for i in top]

    def _exact(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """These rows decoded from both planes (float32, each component within scale / 508)."""
        idx = np.asarray(rows, dtype=np.intp)
        return dequantise(self._coarse[idx], self._fine[idx], self._scale[idx])

    def similarities(self, vector: Sequence[float], ids: Iterable[str]) -> dict[str, float]:
        """Cosine similarity to each of these ids that the table holds."""
        rows = [(i, r) for i in ids if (r := self.row_of.get(i)) is not None]
        if not rows:
            return {}
        q = np.asarray(vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        sims = _product(self._exact([r for _, r in rows]), q)
        return {i: float(s) for (i, _), s in zip(rows, sims, strict=True)}

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """The unit vectors of these ids (all must be in the table), one row each, as float32."""
        return self._exact([self.row_of[i] for i in ids])

    def values(self, key: str) -> dict[Scalar, int]:
        """Live rows per value of a (non-flag) key."""
        col = self._columns.get(key)
        if col is None:
            return {}
        codes = col.codes[: self.n][self._alive[: self.n]]
        counts = np.bincount(codes[codes >= 0], minlength=len(col.values))
        return {col.values[c]: int(n) for c, n in enumerate(counts) if n}

    def flag_counts(self) -> dict[str, int]:
        """Live rows per flag key."""
        alive = self._alive
        return {k: int(alive[self._rows_with(k)].sum()) for k in self._flags} if self.n else {}

    # ---------------------------------------------------------------- a snapshot on disk

    def save(self, path: Path, stamp: Mapping[str, object]) -> None:
        """Write the live rows to `path` (.npz, written aside then renamed), with `stamp` (JSON) beside them."""
        keep = np.flatnonzero(self._alive[: self.n])
        interned = {fs: i for i, fs in enumerate(dict.fromkeys(self._flagsets[r] for r in keep))}
        arrays = {"coarse": self._coarse[keep], "fine": self._fine[keep], "scale": self._scale[keep],
                  "ids": np.asarray([self.ids[r] for r in keep], dtype=str),
                  "flagset": np.asarray([interned[self._flagsets[r]] for r in keep], dtype=np.int32)}
        for i, col in enumerate(self._columns.values()):
            arrays[f"codes{i}"] = col.codes[keep]
            if col.nums is not None:
                arrays[f"nums{i}"] = col.nums[keep]
        header = {"format": SNAPSHOT_FORMAT, "stamp": dict(stamp), "dim": self.dim,
                  "flagsets": [list(fs) for fs in interned],
                  "columns": [[key, col.values] for key, col in self._columns.items()]}
        arrays["header"] = np.asarray(json.dumps(header))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> tuple[VectorTable, dict[str, object]]:
        """A table saved by `save`, and its stamp. A format-1 snapshot (float32 vectors, from before the
        int8 planes) is converted; a format this code does not know raises ValueError."""
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            fmt = header.get("format", 1)
            table = cls(int(header["dim"]))
            table.ids = z["ids"].tolist()
            if fmt == 1:
                table._coarse, table._fine, table._scale = quantise(z["vectors"])
            elif fmt == SNAPSHOT_FORMAT:
                table._coarse, table._fine, table._scale = z["coarse"].copy(), z["fine"].copy(), z["scale"].copy()
            else:
                raise ValueError(f"snapshot format {fmt!r} is not one of 1, {SNAPSHOT_FORMAT}")
            table.n = len(table.ids)
            if table._coarse.dtype != np.int8 or table._coarse.shape != (table.n, table.dim) \
                    or table._fine.shape != table._coarse.shape or table._scale.shape != (table.n,):
                raise ValueError(f"snapshot arrays do not match {table.n} rows of dim {table.dim}")
            table._alive = np.ones(table.n, dtype=bool)
            for i, (key, values) in enumerate(header["columns"]):
                nums = z[f"nums{i}"] if f"nums{i}" in z.files else None
                nums = nums.copy() if nums is not None and not np.isnan(nums).all() else None
                col = table._columns[key] = _Column(z[f"codes{i}"].copy(), nums)
                for v in values:
                    col.code(v)
            flagsets = [tuple(fs) for fs in header["flagsets"]]
            table._interned = {fs: fs for fs in flagsets}
            table._flagsets = [flagsets[c] for c in z["flagset"].tolist()]
        table.row_of = {fid: r for r, fid in enumerate(table.ids)}
        for r, fs in enumerate(table._flagsets):
            for key in fs:
                table._flags.setdefault(key, array("i")).append(r)
        return table, header["stamp"]

    def nbytes(self) -> int:
        """Memory held by the arrays (not the id strings and dicts)."""
        cols = sum(c.codes.nbytes + (c.nums.nbytes if c.nums is not None else 0) for c in self._columns.values())
        return self._coarse.nbytes + self._fine.nbytes + self._scale.nbytes + self._alive.nbytes + cols
