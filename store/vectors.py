"""Vectors of the index: the Chroma collections, their in-memory copies (`store.matrix.VectorTable`) kept
current per version of the index, nearest-neighbour search, facets, and writing a patent's vectors.
"""

from __future__ import annotations

import base64
import copy
import gc
import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np

from core.errors import StoreError
from core.figure_text import FigurePassage
from core.filters import CPC_FLAG, Facets, Filters, Metadata, patent_metadata, sheet_metadata
from core.types import Patent, Sheet
from core.whitening import Whitening, expand_query
from store import figure_lexical
from store.base import (
    FIGURE_PASSAGES,
    PAGE,
    PASSAGES,
    RELOAD_SHARE,
    TABLES,
    TEXT,
    VISUAL,
    Passage,
    VectorHit,
    _chunks,
    _metadata,
)
from store.documents import DocumentStore
from store.matrix import VectorTable

if TYPE_CHECKING:
    from chromadb.api.types import GetResult, Include, Where
    from chromadb.api.types import Metadata as ChromaMetadata

log = logging.getLogger(__name__)
T = TypeVar("T")

EXACT_MAX_FLOATS = 150_000_000  # scan exactly up to this many vector components (rows x dim); else HNSW.
# Measured at 1M figures of dim 139 (139M): exact 55 / 61 ms p50 unfiltered / broad, recall 1; Chroma HNSW
# 62 / 69 ms, recall@100 0.88 / 0.86 (bench/results/query_latency.md). The crossover is near 150M.
OVERFETCH = 2.0  # HNSW with a filter: ask for k / (share passing) x this, then keep those that pass


class VectorStore(DocumentStore):
    """Vectors and facets: written with a patent, searched exactly in memory or through Chroma's HNSW."""

    # ------------------------------------------------------------------ writing a patent

    def recover(self) -> list[str]:
        """Remove every half-indexed (pending) patent. Returns their ids."""
        ids = [r[0] for r in self.db.execute("SELECT patent_id FROM patents WHERE status='pending'")]
        for pid in ids:
            self.delete_patent(pid)
        return ids

    def delete_patent(self, patent_id: str) -> None:
        """Remove a patent from every collection and table."""
        for name in (VISUAL, TEXT, PASSAGES, FIGURE_PASSAGES):
            self._col(name).delete(where={"patent_id": patent_id})
        with self.db:
            figure_lexical.delete(self.db, patent_id)
            self.db.execute("DELETE FROM sheets WHERE patent_id=?", (patent_id,))
            self.db.execute("DELETE FROM components WHERE patent_id=?", (patent_id,))
            self.db.execute("DELETE FROM lexical WHERE patent_id=?", (patent_id,))
            self.db.execute("DELETE FROM patents WHERE patent_id=?", (patent_id,))

    def add_patent(
        self,
        patent: Patent,
        sheets: Sequence[Sheet],
        visual_vectors: Sequence[Sequence[float]],
        text_vectors: Sequence[Sequence[float]],
        passages: Sequence[Passage],
        passage_vectors: Sequence[Sequence[float]],
        *,
        source_sig: str = "",
        figure_passages: Sequence[FigurePassage] = (),
        figure_passage_vectors: Sequence[Sequence[float]] = (),
    ) -> None:
        """Index one patent completely, replacing any earlier version of it."""
        if len(sheets) != len(visual_vectors) or len(sheets) != len(text_vectors):
            raise StoreError("one visual and one text vector per sheet are needed")
        if len(passages) != len(passage_vectors):
            raise StoreError("one vector per passage is needed")
        pid = patent.patent_id
        if self.patent_status(pid) is not None:
            self.delete_patent(pid)
        self.record_pending(patent, source_sig)
        metas: list[ChromaMetadata] = [sheet_metadata(patent, s) for s in sheets]
        ids = [s.figure_id for s in sheets]
        if sheets:
            self._col(VISUAL).upsert(ids=ids, embeddings=[list(v) for v in visual_vectors], metadatas=metas)
            self._col(TEXT).upsert(
                ids=ids,
                embeddings=[list(v) for v in text_vectors],
                metadatas=metas,
                documents=[s.linked_text() for s in sheets],
            )
        if len(figure_passages) != len(figure_passage_vectors):
            raise StoreError("one vector per figure passage is needed")
        if figure_passages:
            self._col(FIGURE_PASSAGES).upsert(
                ids=[p.id for p in figure_passages],
                embeddings=[list(v) for v in figure_passage_vectors],
                metadatas=[cast("ChromaMetadata", {"patent_id": pid, "passage_kind": p.kind}) for p in figure_passages],
                documents=[p.text for p in figure_passages],
            )
        if passages:
            pmeta = patent_metadata(patent)
            self._col(PASSAGES).upsert(
                ids=[f"{pid}:{i}" for i in range(len(passages))],
                embeddings=[list(v) for v in passage_vectors],
                metadatas=[cast("ChromaMetadata", pmeta | {"field": p.field, "pid": p.pid}) for p in passages],
                documents=[p.text for p in passages],
            )
        self.complete_patent(patent, sheets)

    def add_figure_passages(self, patent: Patent, passages: Sequence[FigurePassage],
                            vectors: Sequence[Sequence[float]]) -> None:
        """Store (replace) a patent's figure passages: the back-fill of an index written before them."""
        if len(passages) != len(vectors):
            raise StoreError("one vector per figure passage is needed")
        col = self._col(FIGURE_PASSAGES)
        col.delete(where={"patent_id": patent.patent_id})
        if passages:
            col.upsert(ids=[p.id for p in passages], embeddings=[list(v) for v in vectors],
                       metadatas=[cast("ChromaMetadata", {"patent_id": patent.patent_id, "passage_kind": p.kind})
                                  for p in passages],
                       documents=[p.text for p in passages])
        with self._lock:  # reloaded from Chroma on the next query: the patents table (the version) did not move
            self._tables.pop(FIGURE_PASSAGES, None)
            self._cache.pop("figure_passages", None)
            (self.root / "memory" / f"{FIGURE_PASSAGES}.npz").unlink(missing_ok=True)

    # ------------------------------------------------------------------ whitening

    def set_whitening(self, white: Whitening | None) -> None:
        """Record the whitening of the visual vectors fitted on this index (`tools.whiten`), or remove it."""
        with self.db:
            self.db.execute("DELETE FROM meta WHERE key IN ('visual_whitening', 'visual_whitening_id')")
            if white is not None:
                blob = white.to_bytes()
                self.db.executemany("INSERT INTO meta VALUES(?, ?)", [
                    ("visual_whitening", base64.b64encode(blob).decode()),
                    ("visual_whitening_id", hashlib.sha1(blob).hexdigest()[:16])])

    def whitening(self) -> Whitening | None:
        """The whitening applied to visual vectors and queries on the in-memory path; None if none was fitted.

        Chroma's own HNSW path (``in_memory=False``) compares raw vectors: there are no whitened copies in
        Chroma, so its visual rankings are those of the unwhitened encoder. When a filter passes too many rows
        for an exact scan, HNSW picks the candidates by the raw query and the table scores them whitened.
        """
        row = self.db.execute("SELECT value FROM meta WHERE key='visual_whitening_id'").fetchone()
        if row is None:
            return None
        with self._lock:
            if self._white is None or self._white[0] != row[0]:
                blob = self.db.execute("SELECT value FROM meta WHERE key='visual_whitening'").fetchone()
                if blob is None:
                    return None
                self._white = (row[0], Whitening.from_bytes(base64.b64decode(blob[0])))
            return self._white[1]

    def _whitening_id(self, name: str) -> str:
        white = self.whitening() if name == VISUAL else None
        return self._white[0] if white is not None and self._white is not None else ""

    # ------------------------------------------------------------------ in-memory tables

    def _patched(self, name: str, table: VectorTable, changed: list[str]) -> VectorTable:
        """The table with the rows of changed patents replaced by what the collection holds for them now."""
        if len(changed) > max(1000, RELOAD_SHARE * table.patents()):
            return self._load(name)
        table.drop_patents(changed)
        complete = self._cached("complete", self._complete_ids)
        white = self.whitening() if self._table_white.get(name) else None
        transform = white.apply if white is not None else None
        for chunk in _chunks([p for p in changed if p in complete], 200):
            res = self._col(name).get(where={"patent_id": {"$in": list(chunk)}}, include=["embeddings", "metadatas"])
            _add_records(table, res, complete, transform)
        return table

    def _load(self, name: str) -> VectorTable:
        """A sheet collection's complete records: from the snapshot in ``memory/`` patched with the patents
        changed since it was taken, or else read from Chroma page by page (from a server too) and saved as
        the new snapshot, so the next process starts in seconds instead of minutes."""
        enc = self.encoders()["visual" if name == VISUAL else "text"]
        col = self._col(name)
        path = self.root / "memory" / f"{name}.npz"
        white_id = self._whitening_id(name)
        white = self.whitening() if white_id else None
        self._table_white[name] = white_id
        stamp = {"encoder": enc.name, "collection": str(col.id), "version": self._version, "whitening": white_id}
        table = self._from_snapshot(name, path, stamp)
        if table is not None:
            return table
        table = VectorTable(white.dim if white is not None else enc.dim)
        complete = self._cached("complete", self._complete_ids)
        offset = 0
        while True:
            res = col.get(include=["embeddings", "metadatas"], limit=PAGE, offset=offset)
            _add_records(table, res, complete, white.apply if white is not None else None)
            if len(res["ids"]) < PAGE:
                break
            offset += PAGE
        try:
            table.save(path, stamp)
        except OSError as e:  # a read-only index: every process loads from Chroma
            log.warning("could not save the in-memory snapshot %s: %s", path, e)
        return table

    def _from_snapshot(self, name: str, path: Path, stamp: dict[str, object]) -> VectorTable | None:
        """The snapshot at `path` brought up to date, or None when it is missing, foreign or too old."""
        if not path.is_file():
            return None
        try:
            table, saved = VectorTable.load(path)
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring the unreadable in-memory snapshot %s: %s", path, e)
            return None
        version = saved.get("version")
        same = all(saved.get(k, "") == stamp[k] for k in ("encoder", "collection", "whitening"))
        if not same or not isinstance(version, int) or version > self._version:
            return None
        changed = [r[0] for r in self.db.execute("SELECT DISTINCT patent_id FROM changes WHERE seq > ?", (version,))]
        if len(changed) > max(1000, RELOAD_SHARE * table.patents()):
            return None
        return self._patched(name, table, changed)

    def _table(self, name: str) -> VectorTable | None:
        """The in-memory copy of a sheet collection, current with the index; None when that path is off."""
        if not self.in_memory or name not in TABLES:
            return None
        with self._lock:
            self._refresh()
            if name in self._tables and self._table_white.get(name, "") != self._whitening_id(name):
                del self._tables[name]  # the whitening was refitted: every row changes
            if name not in self._tables:
                if ("visual" if name == VISUAL else "text") not in self.encoders():
                    return None
                self._tables[name] = self._load(name)
                # Everything alive now leaves the cyclic collector's sight: a table's id list and id→row map hold
                # a reference per row, and a full collection walked them all in 75-90 ms at 100k figures (410k rows),
                # on one text query in ten: its p95 (measured with gc.callbacks; 3-4 ms once frozen). Rows added
                # later go into the same frozen containers. The cost: cyclic garbage alive at this moment is kept.
                gc.freeze()
            return self._tables[name]

    # ------------------------------------------------------------------ vector search

    def _query(
        self,
        name: str,
        vector: Sequence[float],
        k: int,
        filters: Filters | None,
        ids: Sequence[str] | None = None,
        with_documents: bool = False,
        expand: bool = True,
        with_meta: bool = True,
    ) -> list[VectorHit]:
        """The k nearest of a collection: from its in-memory table when that is on, else from Chroma. Without
        `with_meta` the hits from the table carry no metadata (building it costs ~15 µs a hit: 5-10 ms for the
        few hundred hits a text query reads)."""
        if ids is not None and not ids:
            return []
        with self._lock:
            table = self._table(name)
            if table is None:
                hits = None
            else:
                white = self.whitening() if self._table_white.get(name) else None
                query = vector if white is None else _whitened_query(table, white, vector, expand)
                found = self._search_table(name, table, query, k, filters, ids, raw=vector)
                hits = [VectorHit(i, s, table.meta(table.row_of[i]) if with_meta else {}) for i, s in found]
        if hits is None:
            return self._query_chroma(name, vector, k, filters, ids, with_documents)
        if with_documents and hits:
            res = self._col(name).get(ids=[h.id for h in hits], include=["documents"])
            docs = dict(zip(res["ids"], res["documents"] or [], strict=False))
            for h in hits:
                h.document = docs.get(h.id)
        return hits

    def _search_table(self, name: str, table: VectorTable, vector: Sequence[float], k: int,
                      filters: Filters | None, ids: Sequence[str] | None,
                      raw: Sequence[float] | None = None) -> list[tuple[str, float]]:
        """(id, similarity) of the k nearest: exact over the rows that pass, or HNSW when they are many.

        ``raw`` is the query as Chroma holds its vectors when the table's are whitened (``vector`` is then
        the whitened query): HNSW finds the candidates with it, and the table scores them.
        """
        if ids is not None:
            return sorted(table.similarities(vector, ids).items(), key=lambda x: -x[1])[:k]
        mask = table.mask(filters.where() if filters is not None else None)
        passing = int(mask.sum())
        if passing * table.dim <= EXACT_MAX_FLOATS:
            return table.search(vector, k, mask)
        share = passing / max(1, len(table))
        n = min(self._col(name).count(), math.ceil(min(k, passing) / share * OVERFETCH))
        probe = vector if raw is None else raw  # what HNSW compares with Chroma's (raw) vectors
        whitened = probe is not vector
        res = self._col(name).query(query_embeddings=[list(probe)], n_results=n, include=["distances"])
        out = []
        for i, d in zip(res["ids"][0], (res["distances"] or [[]])[0], strict=False):
            row = table.row_of.get(i)
            if row is not None and mask[row]:
                out.append((i, 1.0 - float(d)))
        if whitened:
            sims = table.similarities(vector, [i for i, _ in out])
            out = sorted(((i, sims[i]) for i, _ in out), key=lambda x: -x[1])
        if len(out) >= min(k, passing):
            return out[:k]
        return table.search(vector, k, mask)  # too few of HNSW's candidates passed: scan them all

    def _query_chroma(
        self,
        name: str,
        vector: Sequence[float],
        k: int,
        filters: Filters | None,
        ids: Sequence[str] | None = None,
        with_documents: bool = False,
    ) -> list[VectorHit]:
        """The query through Chroma alone: its HNSW, with its own `where` pre-filter."""
        col = self._col(name)
        count = col.count()
        if count == 0:
            return []
        include: Include = ["distances", "metadatas", "documents"] if with_documents else ["distances", "metadatas"]
        where = filters.where() if filters is not None else None
        res = col.query(
            query_embeddings=[list(vector)],
            n_results=min(k, count, len(ids)) if ids is not None else min(k, count),
            where=cast("Where", where) if where else None,
            ids=list(ids) if ids is not None else None,
            include=include,
        )
        found = res["ids"][0]
        distances = (res["distances"] or [[]])[0]
        metas = (res["metadatas"] or [[]])[0]
        docs: list[str | None] = list((res["documents"] or [[None] * len(found)])[0])
        complete = self._cached("complete", self._complete_ids)
        out = []
        for i, d, m, doc in zip(found, distances, metas, docs, strict=False):
            if m.get("patent_id") in complete:
                out.append(VectorHit(i, 1.0 - float(d), _metadata(m), doc))
        return out

    def query_visual(
        self, vector: Sequence[float], k: int, filters: Filters | None = None, ids: Sequence[str] | None = None,
        *, expand: bool = True,
    ) -> list[VectorHit]:
        """Nearest sheets by visual vector; with `expand` False, by the whitened query alone (no α-query
        expansion), the descriptor's own similarity."""
        return self._query(VISUAL, vector, k, filters, ids, expand=expand)

    def query_text(
        self, vector: Sequence[float], k: int, filters: Filters | None = None, ids: Sequence[str] | None = None,
        *, documents: bool = True, meta: bool = True,
    ) -> list[VectorHit]:
        """Nearest sheets by their linked-text vector, with their linked text unless `documents` is False (the
        texts are read from Chroma: ~0.2 ms per hit, 20-60 ms for a pool of 100-300), and with their metadata
        unless `meta` is False (on the in-memory path; see `_query`)."""
        return self._query(TEXT, vector, k, filters, ids, with_documents=documents, with_meta=meta)

    def query_passages(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[VectorHit]:
        """Nearest passages of patent text (filters on patent-level facets only)."""
        if filters is not None:
            filters = filters.patent_level()
        return self._query(PASSAGES, vector, k, filters, with_documents=True)

    def query_figure_passages(self, vector: Sequence[float], k: int) -> list[VectorHit]:
        """Nearest figure passages (core.figure_text) of complete patents; their figures (and their kind) are
        found by id, so the hits carry no metadata on the in-memory path."""
        return self._query(FIGURE_PASSAGES, vector, k, None, with_meta=False)

    def figure_passage_similarities(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        """Cosine of the query with each of these figure passages that exists, by passage id."""
        if not ids:
            return {}
        with self._lock:
            table = self._table(FIGURE_PASSAGES)
            if table is not None:
                return table.similarities(vector, ids)
        res = self._col(FIGURE_PASSAGES).get(ids=list(dict.fromkeys(ids)), include=["embeddings"])
        if res["embeddings"] is None or not len(res["ids"]):
            return {}
        sims = np.asarray(res["embeddings"], dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
        return {i: float(s) for i, s in zip(res["ids"], sims, strict=True)}

    def figure_passage_texts(self, ids: Sequence[str]) -> dict[str, str]:
        """The text of each of these figure passages, by id."""
        if not ids:
            return {}
        res = self._col(FIGURE_PASSAGES).get(ids=list(dict.fromkeys(ids)), include=["documents"])
        return {i: d or "" for i, d in zip(res["ids"], res["documents"] or [], strict=False)}

    def has_figure_passages(self) -> bool:
        """Whether any figure passage is stored (an index from before them has none until re-ingested)."""
        return self._cached("figure_passages", lambda: self._col(FIGURE_PASSAGES).count() > 0)

    def vectors(self, kind: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors by figure id; kind is "visual" or "text"."""
        if not ids:
            return {}
        col = self._col(VISUAL if kind == "visual" else TEXT)
        res = col.get(ids=list(ids), include=["embeddings"])
        embeddings = res["embeddings"]
        if embeddings is None:
            return {}
        return {i: [float(x) for x in e] for i, e in zip(res["ids"], embeddings, strict=False)}

    def metadata(self, ids: Sequence[str]) -> dict[str, Metadata]:
        """Stored facet metadata by figure id (of complete sheets, when the in-memory path is on)."""
        if not ids:
            return {}
        with self._lock:
            table = self._table(VISUAL)
            if table is not None:
                return {i: table.meta(r) for i in ids if (r := table.row_of.get(i)) is not None}
        res = self._col(VISUAL).get(ids=list(ids), include=["metadatas"])
        return {i: _metadata(m) for i, m in zip(res["ids"], res["metadatas"] or [], strict=False)}

    def all_metadata(self) -> dict[str, Metadata]:
        """Stored facet metadata of every completely indexed sheet, by figure id."""
        with self._lock:
            table = self._table(VISUAL)
            if table is not None:
                return {i: table.meta(r) for i, r in table.row_of.items()}
        res = self._col(VISUAL).get(include=["metadatas"])
        complete = self._cached("complete", self._complete_ids)
        return {i: _metadata(m) for i, m in zip(res["ids"], res["metadatas"] or [], strict=False)
                if m.get("patent_id") in complete}

    def ids(self, filters: Filters | None = None) -> list[str]:
        """The completely indexed figures that pass the filters (all of them without), sorted: from the
        in-memory table's facet masks when it is on, else from Chroma."""
        where = filters.where() if filters is not None else None
        with self._lock:
            table = self._table(VISUAL)
            if table is not None:
                rows = np.flatnonzero(table.mask(where))
                return sorted(table.ids[r] for r in rows)
        res = self._col(VISUAL).get(where=cast("Where", where) if where else None, include=["metadatas"])
        complete = self.complete_ids()
        return sorted(i for i, m in zip(res["ids"], res["metadatas"] or [], strict=False)
                      if m.get("patent_id") in complete)

    # ------------------------------------------------------------------ facets

    def facets(self) -> Facets:
        """The filter values that occur in the index (computed once per version of the index)."""
        facets = self._cached("facets", self._facets)
        return cast(Facets, {k: copy.copy(v) for k, v in facets.items()})

    def _facets(self) -> Facets:
        table = self._table(VISUAL)
        if table is None:
            return self._facets_of(list(self.all_metadata().values()))
        cpc = {k.removeprefix(CPC_FLAG): n for k, n in table.flag_counts().items() if n}
        dates = sorted(int(v) for v in table.values("pub_date") if isinstance(v, int | float) and v)

        def values(key: str) -> list[str]:
            return sorted({str(v) for v in table.values(key) if v not in (None, "")})

        return {
            "kinds": values("kind"),
            "views": values("view"),
            "offices": values("office"),
            "kind_codes": values("kind_code"),
            "cpc": sorted(cpc),
            "cpc_counts": dict(sorted(cpc.items())),
            "date_range": [dates[0], dates[-1]] if dates else [],
            "patent_ids": values("patent_id"),
        }

    @staticmethod
    def _facets_of(metas: list[Metadata]) -> Facets:
        """Facets from every sheet's metadata (when the in-memory path is off)."""
        cpc: dict[str, int] = {}
        for m in metas:
            for key in m:
                if key.startswith(CPC_FLAG):
                    prefix = key.removeprefix(CPC_FLAG)
                    cpc[prefix] = cpc.get(prefix, 0) + 1
        dates = sorted(int(m["pub_date"]) for m in metas if m.get("pub_date"))

        def values(key: str) -> list[str]:
            return sorted({str(v) for m in metas if (v := m.get(key)) not in (None, "")})

        return {
            "kinds": values("kind"),
            "views": values("view"),
            "offices": values("office"),
            "kind_codes": values("kind_code"),
            "cpc": sorted(cpc),
            "cpc_counts": dict(sorted(cpc.items())),
            "date_range": [dates[0], dates[-1]] if dates else [],
            "patent_ids": sorted({str(m["patent_id"]) for m in metas}),
        }


def _add_records(table: VectorTable, res: GetResult, complete: set[str],
                 transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    """Add the records of a Chroma `get` (embeddings and metadatas) whose patent is complete, transformed
    (whitened) first if given."""
    metas = res["metadatas"] or []
    embeddings = res["embeddings"]
    keep = [j for j, m in enumerate(metas) if m.get("patent_id") in complete]
    if keep and embeddings is not None:
        vectors = np.asarray(embeddings, dtype=np.float32)[keep]
        table.add([res["ids"][j] for j in keep], transform(vectors) if transform else vectors,
                  [_metadata(metas[j]) for j in keep])


def _whitened_query(table: VectorTable, white: Whitening, vector: Sequence[float], expand: bool = True) -> list[float]:
    """The query whitened, then (`expand`) α-expanded with its nearest rows of the whole table (an identical
    row, the query's own sheet, is not a neighbour: it would only weigh the query twice)."""
    q = white.apply(np.asarray(vector, dtype=np.float32))
    if white.qe_k <= 0 or not expand:
        return q.tolist()
    near = [(i, s) for i, s in table.search(q.tolist(), white.qe_k + 1) if s < 1 - 1e-4][: white.qe_k]
    if not near:
        return q.tolist()
    rows = table.rows([i for i, _ in near])
    return expand_query(q, rows, np.array([s for _, s in near]), white.qe_alpha).tolist()

