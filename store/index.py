"""The index: ChromaDB collections for vectors and facets, SQLite (FTS5) for documents and lexical search.

This is the only module that imports chromadb or opens the SQLite database.

Layout of an index folder::

    chroma/          Chroma persistent store: sheets_visual, sheets_text, passages (none with a Chroma server,
                     where the collections are named with this index's namespace, kept in meta)
    patfig.sqlite    patents, sheets, sources, meta and the FTS5 table
    sheets/          the stored drawing sheets as PNG
    memory/          snapshots of the in-memory tables (a cache: safe to delete)

Consistency: a patent is first recorded as ``pending``, then its vectors go to Chroma, then one SQLite
transaction writes its sheets and lexical rows and marks it ``complete``. A run that dies in between
leaves a pending patent, which `recover()` removes from every collection before the next run; queries
only ever return complete patents.

Query path, with no scan of the corpus per query:

- Every write to the patents table (from any process or host) appends the patent id to the ``changes``
  table, by SQLite triggers. Its largest sequence number is the index's version, read once per query
  (an indexed max). The set of complete patents, the facets and the component labels are cached until
  it moves.
- Each sheet collection is copied lazily into memory (`store.matrix.VectorTable`: unit vectors and facet
  columns of the complete sheets, loaded from the embedded store or from the Chroma server alike, or
  from the snapshot in ``memory/`` that the last full load wrote) and patched with the patents that
  changed since. A query scans the rows its filter passes exactly, or
  asks Chroma's HNSW (unfiltered, or with over-fetching and the filter applied after) when the rows to
  scan exceed `EXACT_MAX_FLOATS` vector components: the choice measured in bench/query_latency.py.
- Components are a table (``components``, indexed by label), filled at write time and back-filled when an
  index from before it is opened.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import math
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, cast

import numpy as np

from core.errors import IndexMismatch, StoreError
from core.figure_text import FigurePassage
from core.filters import CPC_FLAG, Facets, Filters, Metadata, patent_metadata, sheet_metadata
from core.types import Component, Patent, Sheet
from core.whitening import Whitening, expand_query
from store import figure_lexical
from store.matrix import VectorTable

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import GetResult, Include, Where
    from chromadb.api.types import Metadata as ChromaMetadata

log = logging.getLogger(__name__)
T = TypeVar("T")

VISUAL, TEXT, PASSAGES = "sheets_visual", "sheets_text", "passages"
FIGURE_PASSAGES = "figure_passages"  # per-figure text passages (core.figure_text), for dense word matching
TABLES = (VISUAL, TEXT, FIGURE_PASSAGES)  # the collections with an in-memory copy
FIGURE_PASSAGES_FLAG = "figure_passages"  # meta: every complete patent has its figure passages
LEXICAL_FIELDS = ("title", "abstract", "claims", "description", "figures")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patents(
    patent_id TEXT PRIMARY KEY, status TEXT NOT NULL, source TEXT, source_sig TEXT,
    doc TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sheets(
    figure_id TEXT PRIMARY KEY, patent_id TEXT NOT NULL, sheet_no INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sheets_patent ON sheets(patent_id);
CREATE TABLE IF NOT EXISTS sources(
    source TEXT PRIMARY KEY, sig TEXT NOT NULL, patent_id TEXT, status TEXT NOT NULL, error TEXT,
    updated REAL NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS lexical USING fts5(
    patent_id UNINDEXED, title, abstract, claims, description, figures, tokenize='porter unicode61');
CREATE INDEX IF NOT EXISTS patents_status ON patents(status, patent_id);
CREATE TABLE IF NOT EXISTS components(
    figure_id TEXT NOT NULL, patent_id TEXT NOT NULL, numeral TEXT NOT NULL, label TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS components_label ON components(label);
CREATE INDEX IF NOT EXISTS components_patent ON components(patent_id);
CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, patent_id TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS patents_inserted AFTER INSERT ON patents
    BEGIN INSERT INTO changes(patent_id) VALUES (new.patent_id); END;
CREATE TRIGGER IF NOT EXISTS patents_updated AFTER UPDATE ON patents
    BEGIN INSERT INTO changes(patent_id) VALUES (new.patent_id), (old.patent_id); END;
CREATE TRIGGER IF NOT EXISTS patents_deleted AFTER DELETE ON patents
    BEGIN INSERT INTO changes(patent_id) VALUES (old.patent_id); END;
"""
PAGE = 5_000  # records per Chroma `get` when loading a collection into memory
RELOAD_SHARE = 0.1  # more changed patents than this share of those in memory: reload instead of patching
EXACT_MAX_FLOATS = 150_000_000  # scan exactly up to this many vector components (rows x dim); else HNSW.
# Measured at 1M figures of dim 139 (139M): exact 55 / 61 ms p50 unfiltered / broad, recall 1; Chroma HNSW
# 62 / 69 ms, recall@100 0.88 / 0.86 (bench/results/query_latency.md). The crossover is near 150M.
OVERFETCH = 2.0  # HNSW with a filter: ask for k / (share passing) x this, then keep those that pass


@dataclass(frozen=True)
class EncoderId:
    """The identity of an encoder as recorded in the index."""

    name: str
    dim: int


@dataclass
class Passage:
    """A chunk of a patent's text, embedded for semantic text search."""

    field: str  # "abstract", "claims", "description"
    text: str
    pid: str = ""


@dataclass
class VectorHit:
    """A raw nearest-neighbour result: the id, cosine similarity and stored metadata."""

    id: str
    similarity: float
    meta: Metadata
    document: str | None = None


class IndexStats(TypedDict):
    """What `FigureStore.stats` reports."""

    index: str
    patents: int
    pending_patents: int
    sheets: int
    figures: int  # the indexed units: one per sheet, or one per figure of a sheet that shows several
    figures_with_components: int
    reference_signs: int
    linked_numerals: int
    distinct_linked_signs: int
    passages: int
    by_office: dict[str, int]
    by_kind: dict[str, int]
    encoders: dict[str, dict[str, str | int]]
    failed_sources: list[dict[str, str]]


class FigureStore:
    """Vectors, facets and documents of indexed patents."""

    def __init__(self, root: Path, client: ClientAPI, dbfile: Path, *, in_memory: bool = True) -> None:
        self.root = root
        self._client = client
        self._dbfile = dbfile
        self._local = threading.local()  # this thread's SQLite connection (see `db`)
        self._connections: list[sqlite3.Connection] = []  # every thread's, to close them all
        self._lock = threading.RLock()  # guards the connection list, the caches and tables below across UI threads
        self._cols: dict[str, Collection] = {}
        self._prefix = ""  # a Chroma server's collections carry the index's namespace (see `open`)
        self.in_memory = in_memory  # the exact in-memory path for sheet queries (see the module docstring)
        self._version = -1  # the `changes` sequence number the caches below reflect
        self._cache: dict[str, object] = {}  # complete ids, facets, component labels at that version
        self._tables: dict[str, VectorTable] = {}
        self._white: tuple[str, Whitening] | None = None  # the visual whitening in use, with its id
        self._table_white: dict[str, str] = {}  # the whitening id each in-memory table was built with

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        create: bool = False,
        chroma_host: str | None = None,
        chroma_port: int = 8000,
        in_memory: bool = True,
    ) -> FigureStore:
        """Open the index at `root`. With `create`, make it if missing; otherwise a missing index is an error.

        An index from before the components table gets it filled from its sheets here, once.
        """
        root = Path(root)
        dbfile = root / "patfig.sqlite"
        if not dbfile.exists() and not create:
            raise StoreError(f"no index at {root}: run `patfig ingest PATH --index {root}` first")
        root.mkdir(parents=True, exist_ok=True)
        (root / "sheets").mkdir(exist_ok=True)
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise StoreError("the index needs chromadb: pip install 'chromadb==1.5.9'") from e
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_host:
            client = _http_client(chromadb, chroma_host, chroma_port, chroma_settings)
        else:
            client = chromadb.PersistentClient(path=str(root / "chroma"), settings=chroma_settings)
        store = cls(root, client, dbfile, in_memory=in_memory)
        store.db.execute("PRAGMA journal_mode=WAL")
        store.db.executescript(SCHEMA)
        store.db.executescript(figure_lexical.SCHEMA)
        _backfill_components(store.db)
        figure_lexical.backfill(store.db)
        try:
            store._prefix = store._namespace(server=bool(chroma_host))
        except StoreError:
            store.close()
            if chroma_host:
                _release_http(client)
            raise
        return store

    def _namespace(self, *, server: bool) -> str:
        """The prefix of this index's collection names: "" embedded; on a Chroma server, one made for this
        index and kept in meta, so that several indexes on one server never share (and clobber) collections.

        Raises StoreError when the index's vectors live elsewhere than where they are asked for: an index
        built on a server opened without one, or an embedded index with patents opened with a server.
        """
        row = self.db.execute("SELECT value FROM meta WHERE key='chroma_namespace'").fetchone()
        if row and not server:
            raise StoreError(f"the index at {self.root} keeps its vectors on a Chroma server (collections "
                             f"{row[0]}*): set PATFIG_CHROMA_HOST and PATFIG_CHROMA_PORT to that server")
        if not server:
            return ""
        if row is None and self.db.execute("SELECT count(*) FROM patents").fetchone()[0]:
            raise StoreError(f"the index at {self.root} keeps its vectors in its own folder (embedded Chroma): "
                             "unset PATFIG_CHROMA_HOST, or ingest into a new index folder for the server")
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES('chroma_namespace', ?)",
                            (f"patfig-{uuid.uuid4().hex[:12]}-",))
        return self.db.execute("SELECT value FROM meta WHERE key='chroma_namespace'").fetchone()[0]

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection to the SQLite store, opened on its first use in the thread.

        One connection per thread: the web app runs several sessions' turns at once in a pool of threads,
        and a connection shared between threads would share its transactions and cursors too.
        """
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self._dbfile, timeout=30, check_same_thread=False)  # `close` may run elsewhere
            with self._lock:
                self._connections.append(con)
            self._local.con = con
        return con

    def close(self) -> None:
        """Close every thread's connection to the SQLite store."""
        with self._lock:
            for con in self._connections:
                con.close()
            self._connections.clear()
        self._local = threading.local()
        if self._prefix:  # a Chroma server's client
            _release_http(self._client)

    # ------------------------------------------------------------------ encoders

    def encoders(self) -> dict[str, EncoderId]:
        """The encoders recorded for this index ("visual", "text"), if any."""
        out = {}
        for key in ("visual", "text"):
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (f"encoder_{key}",)).fetchone()
            if row:
                d = json.loads(row[0])
                out[key] = EncoderId(d["name"], int(d["dim"]))
        return out

    def bind_encoders(self, visual: EncoderId, text: EncoderId) -> None:
        """Record the encoders on a new index, or check they match the recorded ones."""
        recorded = self.encoders()
        for key, enc in (("visual", visual), ("text", text)):
            have = recorded.get(key)
            if have is None:
                self.db.execute(
                    "INSERT OR REPLACE INTO meta VALUES(?, ?)",
                    (f"encoder_{key}", json.dumps({"name": enc.name, "dim": enc.dim})),
                )
            elif have != enc:
                raise IndexMismatch(
                    f"this index's {key} vectors were built with {have.name} (dim {have.dim}), but the "
                    f"{key} encoder in use is {enc.name} (dim {enc.dim}). Use the same encoder settings, "
                    f"or build a new index with --index NEW_DIR."
                )
        self.db.commit()

    def check_encoder(self, key: str, enc: EncoderId) -> None:
        """Refuse to query `key` vectors with an encoder other than the one that built them."""
        have = self.encoders().get(key)
        if have is None:
            raise StoreError("the index is empty: ingest some patents first")
        if have != enc:
            raise IndexMismatch(
                f"this index's {key} vectors were built with {have.name}; querying them with {enc.name} "
                f"would give meaningless scores. Configure {have.name} or re-index."
            )

    def _col(self, name: str) -> Collection:
        if name not in self._cols:
            key = "visual" if name == VISUAL else "text"
            enc = self.encoders().get(key)
            meta: dict[str, str | int] = {"hnsw:space": "cosine"}
            if enc:
                meta |= {"embedder": enc.name, "dim": enc.dim}
            col = self._client.get_or_create_collection(self._prefix + name, metadata=meta, embedding_function=None)
            recorded = (col.metadata or {}).get("embedder")
            if enc and recorded and recorded != enc.name:
                raise IndexMismatch(f"collection {name} was built with {recorded}, the index says {enc.name}")
            self._cols[name] = col
        return self._cols[name]

    # ------------------------------------------------------------------ writing

    def source_done(self, source: str, sig: str) -> str | None:
        """The patent id if this exact source file was already indexed completely."""
        row = self.db.execute(
            "SELECT s.patent_id FROM sources s JOIN patents p ON p.patent_id = s.patent_id "
            "WHERE s.source=? AND s.sig=? AND s.status='complete' AND p.status='complete'",
            (source, sig),
        ).fetchone()
        return row[0] if row else None

    def patent_status(self, patent_id: str) -> str | None:
        row = self.db.execute("SELECT status FROM patents WHERE patent_id=?", (patent_id,)).fetchone()
        return row[0] if row else None

    def record_source(self, source: str, sig: str, patent_id: str | None, status: str, error: str = "") -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sources VALUES(?, ?, ?, ?, ?, ?)",
            (source, sig, patent_id, status, error, time.time()),
        )
        self.db.commit()

    def counts(self) -> dict[str, int]:
        """Complete patents, their drawing sheets and their figures (the indexed units): cheap enough to ask every
        few seconds."""
        patents = self.db.execute("SELECT count(*) FROM patents WHERE status='complete'").fetchone()[0]
        figures, sheets = self.db.execute(
            "SELECT count(*), count(DISTINCT s.patent_id || '-' || s.sheet_no) FROM sheets s "
            "JOIN patents p ON p.patent_id = s.patent_id WHERE p.status='complete'"
        ).fetchone()
        return {"patents": patents, "sheets": sheets, "figures": figures}

    def patent_source(self, patent_id: str) -> str | None:
        """The source file a patent was indexed from."""
        row = self.db.execute("SELECT source FROM patents WHERE patent_id=?", (patent_id,)).fetchone()
        return row[0] if row else None

    def set_progress(self, state: dict) -> None:
        """Record the state of the ingest run that writes this index (see `ingest.pipeline`)."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES('ingest_progress', ?)", (json.dumps(state),))

    def progress(self) -> dict | None:
        """The state of the latest ingest run, None if there never was one."""
        row = self.db.execute("SELECT value FROM meta WHERE key='ingest_progress'").fetchone()
        return json.loads(row[0]) if row else None

    def set_calibration(self, curves: dict) -> None:
        """Record the score calibration fitted on this index (`tools.calibrate`; JSON of `core.calibration`)."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES('calibration', ?)", (json.dumps(curves),))

    def calibration(self) -> dict | None:
        """The score calibration recorded for this index, None if it was never fitted."""
        row = self.db.execute("SELECT value FROM meta WHERE key='calibration'").fetchone()
        return json.loads(row[0]) if row else None

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

    def meta_flag(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM meta WHERE key=?", (key,)).fetchone() is not None

    def set_meta_flag(self, key: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES(?, '1')", (key,))

    def record_pending(self, patent: Patent, source_sig: str = "") -> None:
        """First step of `add_patent`: the patent's row, as pending (invisible to queries), in its own transaction."""
        with self.db:
            self.db.execute(
                "INSERT INTO patents VALUES(?, 'pending', ?, ?, ?, ?)",
                (patent.patent_id, patent.source, source_sig, patent.model_dump_json(), time.time()),
            )

    def complete_patent(self, patent: Patent, sheets: Sequence[Sheet]) -> None:
        """Last step of `add_patent`, after its vectors: sheets and lexical rows, and `complete`, in one transaction.

        With `record_pending`, this is everything a patent writes to the SQLite store (the single-node part of
        the index, whose write rate bench/sqlite_ceiling.py measures).
        """
        pid = patent.patent_id
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO sheets VALUES(?, ?, ?, ?)",
                [(s.figure_id, pid, s.sheet_no, s.model_dump_json()) for s in sheets],
            )
            self.db.executemany("INSERT INTO components VALUES(?, ?, ?, ?, ?)", _component_rows(sheets))
            figure_lexical.write(self.db, patent, sheets)
            self.db.execute(
                "INSERT INTO lexical VALUES(?, ?, ?, ?, ?, ?)",
                (
                    pid,
                    patent.title,
                    patent.abstract,
                    "\n".join(patent.claims),
                    "\n".join(p.text for p in patent.description),
                    "\n".join(s.linked_text() for s in sheets)
                    + "\n"
                    + "\n".join(f.text for f in patent.figures),
                ),
            )
            self.db.execute("UPDATE patents SET status='complete', updated=? WHERE patent_id=?", (time.time(), pid))

    # ------------------------------------------------------------------ reading documents

    def complete_ids(self) -> set[str]:
        """The ids of the completely indexed patents (a copy of a set cached until the next write)."""
        return set(self._cached("complete", self._complete_ids))

    def _complete_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT patent_id FROM patents WHERE status='complete'")}

    def sheets_by_id(self, figure_ids: Sequence[str]) -> dict[str, Sheet]:
        """The sheets of complete patents among these figure ids, in one read."""
        out: dict[str, Sheet] = {}
        for chunk in _chunks(list(dict.fromkeys(figure_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for (doc,) in self.db.execute(
                "SELECT s.doc FROM sheets s JOIN patents p ON p.patent_id=s.patent_id "
                f"WHERE p.status='complete' AND s.figure_id IN ({marks})", chunk):
                sheet = Sheet.model_validate_json(doc)
                out[sheet.figure_id] = sheet
        return out

    def patents_by_id(self, patent_ids: Sequence[str]) -> dict[str, Patent]:
        """The complete patents among these ids, in one read."""
        out: dict[str, Patent] = {}
        for chunk in _chunks(list(dict.fromkeys(patent_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for (doc,) in self.db.execute(
                f"SELECT doc FROM patents WHERE status='complete' AND patent_id IN ({marks})", chunk):
                patent = Patent.model_validate_json(doc)
                out[patent.patent_id] = patent
        return out

    def component_labels(self) -> list[str]:
        """Every distinct label of an OCR-linked component on a complete sheet (cached until the next write)."""
        return self._cached("labels", lambda: [r[0] for r in self.db.execute(
            "SELECT DISTINCT c.label FROM components c JOIN patents p ON p.patent_id=c.patent_id "
            "WHERE p.status='complete' AND c.label != '' ORDER BY c.label")])

    def components_labelled(self, labels: Sequence[str]) -> dict[str, list[Component]]:
        """The components (boxes included) carrying any of these labels, by figure id: an indexed lookup."""
        out: dict[str, list[Component]] = {}
        for chunk in _chunks(list(dict.fromkeys(labels)), 500):
            marks = ",".join("?" * len(chunk))
            for fid, doc in self.db.execute(
                "SELECT c.figure_id, c.doc FROM components c JOIN patents p ON p.patent_id=c.patent_id "
                f"WHERE p.status='complete' AND c.label IN ({marks})", chunk):
                out.setdefault(fid, []).append(Component.model_validate_json(doc))
        return out

    def patent(self, patent_id: str) -> Patent | None:
        row = self.db.execute(
            "SELECT doc FROM patents WHERE patent_id=? AND status='complete'", (patent_id.upper(),)
        ).fetchone()
        return Patent.model_validate_json(row[0]) if row else None

    def patents(self) -> Iterable[Patent]:
        for (doc,) in self.db.execute("SELECT doc FROM patents WHERE status='complete' ORDER BY patent_id"):
            yield Patent.model_validate_json(doc)

    def sheet(self, figure_id: str) -> Sheet | None:
        row = self.db.execute(
            "SELECT s.doc FROM sheets s JOIN patents p ON p.patent_id=s.patent_id "
            "WHERE s.figure_id=? AND p.status='complete'",
            (figure_id,),
        ).fetchone()
        return Sheet.model_validate_json(row[0]) if row else None

    def sheets(self, patent_id: str | None = None) -> list[Sheet]:
        sql = (
            "SELECT s.doc FROM sheets s JOIN patents p ON p.patent_id=s.patent_id WHERE p.status='complete'"
        )
        args: tuple[str, ...] = ()
        if patent_id:
            sql += " AND s.patent_id=?"
            args = (patent_id.upper(),)
        sql += " ORDER BY s.patent_id, s.sheet_no, s.rowid"  # a sheet's figures in reading order
        return [Sheet.model_validate_json(r[0]) for r in self.db.execute(sql, args)]

    def image_path(self, sheet: Sheet) -> Path:
        return self.root / sheet.image_path

    # ------------------------------------------------------------------ caches and in-memory tables

    def version(self) -> int:
        """The index's version: the last sequence number in ``changes`` (every write to a patent moves it)."""
        return int(self.db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])

    def _cached(self, key: str, compute: Callable[[], T]) -> T:
        """A value computed once per version of the index."""
        with self._lock:
            self._refresh()
            if key not in self._cache:
                self._cache[key] = compute()
            return cast(T, self._cache[key])

    def _refresh(self) -> None:
        """If the index changed since the caches were made: drop them and patch the in-memory tables."""
        version = self.version()
        if version == self._version:
            return
        changed = [r[0] for r in self.db.execute(
            "SELECT DISTINCT patent_id FROM changes WHERE seq > ?", (self._version,))] if self._tables else []
        self._cache.clear()
        self._version = version
        try:
            for name, table in list(self._tables.items()):
                self._tables[name] = self._patched(name, table, changed)
        except Exception:
            self._tables.clear()
            self._version = -1
            raise

    def _patched(self, name: str, table: VectorTable, changed: list[str]) -> VectorTable:
        """The table with the rows of changed patents replaced by what the collection holds for them now."""
        if len(changed) > max(1000, RELOAD_SHARE * len(table.rows_of_patent)):
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
        if len(changed) > max(1000, RELOAD_SHARE * len(table.rows_of_patent)):
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
    ) -> list[VectorHit]:
        if ids is not None and not ids:
            return []
        with self._lock:
            table = self._table(name)
            if table is None:
                hits = None
            else:
                white = self.whitening() if self._table_white.get(name) else None
                query = vector if white is None else _whitened_query(table, white, vector)
                found = self._search_table(name, table, query, k, filters, ids, raw=vector)
                hits = [VectorHit(i, s, table.meta(table.row_of[i])) for i, s in found]
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
        self, vector: Sequence[float], k: int, filters: Filters | None = None, ids: Sequence[str] | None = None
    ) -> list[VectorHit]:
        """Nearest sheets by visual vector."""
        return self._query(VISUAL, vector, k, filters, ids)

    def query_text(
        self, vector: Sequence[float], k: int, filters: Filters | None = None, ids: Sequence[str] | None = None,
        *, documents: bool = True,
    ) -> list[VectorHit]:
        """Nearest sheets by their linked-text vector, with their linked text unless `documents` is False (the
        texts are read from Chroma: ~0.2 ms per hit, 20-60 ms for a pool of 100-300)."""
        return self._query(TEXT, vector, k, filters, ids, with_documents=documents)

    def query_passages(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[VectorHit]:
        """Nearest passages of patent text (filters on patent-level facets only)."""
        if filters is not None:
            filters = filters.patent_level()
        return self._query(PASSAGES, vector, k, filters, with_documents=True)

    def query_figure_passages(self, vector: Sequence[float], k: int) -> list[VectorHit]:
        """Nearest figure passages (core.figure_text) of complete patents; their figures are found by id."""
        return self._query(FIGURE_PASSAGES, vector, k, None)

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

    def figures_with_components(self, patent_numerals: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """(patent id, numeral) → the figures that show that sign, for these pairs: indexed lookups."""
        out: dict[tuple[str, str], list[str]] = {}
        pairs = list(dict.fromkeys(patent_numerals))
        by_patent: dict[str, list[str]] = {}
        for pid, num in pairs:
            by_patent.setdefault(pid, []).append(num)
        for pid, nums in by_patent.items():
            marks = ",".join("?" * len(nums))
            for fid, num in self.db.execute(
                    f"SELECT DISTINCT figure_id, numeral FROM components WHERE patent_id=? AND numeral IN ({marks})",
                    (pid, *nums)):
                out.setdefault((pid, num), []).append(fid)
        return out

    def figures_of_patents(self, patent_ids: Iterable[str]) -> dict[str, list[str]]:
        """patent id → its figure ids, for these patents."""
        out: dict[str, list[str]] = {}
        for chunk in _chunks(list(dict.fromkeys(patent_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for fid, pid in self.db.execute(
                    f"SELECT figure_id, patent_id FROM sheets WHERE patent_id IN ({marks})", chunk):
                out.setdefault(pid, []).append(fid)
        return out

    def figure_numerals(self, figure_ids: Iterable[str]) -> dict[str, list[str]]:
        """figure id → the numerals of the signs OCR linked inside it."""
        out: dict[str, list[str]] = {}
        for chunk in _chunks(list(dict.fromkeys(figure_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for fid, num in self.db.execute(
                    f"SELECT figure_id, numeral FROM components WHERE figure_id IN ({marks})", chunk):
                out.setdefault(fid, []).append(num)
        return out

    # ------------------------------------------------------------------ words per figure

    def figure_lexical(self, fts_query: str, k: int, weights: Sequence[float]) -> list[figure_lexical.Match]:
        """(figure id, bm25, fields) of the best k figures for an FTS5 query (store.figure_lexical.match).

        Raises StoreError with SQLite's message for a malformed query.
        """
        try:
            return figure_lexical.match(self.db, fts_query, k, weights)
        except sqlite3.OperationalError as e:
            raise StoreError(f"malformed query {fts_query!r}: {e}") from e

    def figure_fields(self, figure_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The word-matching fields of these figures, by id."""
        return figure_lexical.fields_of(self.db, figure_ids)

    def figure_document_frequency(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many figures contain each term (up to its stem), and how many figures there are (cached per
        version of the index)."""
        cache = self._cached("figure_df", dict)
        missing = [t for t in terms if t not in cache]
        for t in missing:
            cache[t] = figure_lexical.documents_with(self.db, t)
        total = self._cached("figure_rows", lambda: figure_lexical.size(self.db))
        return {t: cache[t] for t in terms}, total

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

    # ------------------------------------------------------------------ lexical search

    def lexical(self, fts_query: str, k: int = 50) -> list[tuple[str, float, dict[str, str]]]:
        """Run an FTS5 query. Returns (patent_id, bm25 score (higher is better), snippets per field).

        Raises StoreError with SQLite's message for a malformed query.
        """
        cols = ", ".join(
            f"snippet(lexical, {i + 1}, '[', ']', ' … ', 12)" for i in range(len(LEXICAL_FIELDS))
        )
        sql = (
            f"SELECT l.patent_id, -bm25(lexical), {cols} FROM lexical l "
            "JOIN patents p ON p.patent_id = l.patent_id "
            "WHERE lexical MATCH ? AND p.status='complete' ORDER BY bm25(lexical) LIMIT ?"
        )
        try:
            rows = self.db.execute(sql, (fts_query, k)).fetchall()
        except sqlite3.OperationalError as e:
            raise StoreError(f"malformed query {fts_query!r}: {e}") from e
        out = []
        for row in rows:
            snippets = {f: s for f, s in zip(LEXICAL_FIELDS, row[2:], strict=True) if s and "[" in s}
            out.append((row[0], float(row[1]), snippets))
        return out

    # ------------------------------------------------------------------ facets and stats

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

    def stats(self) -> IndexStats:
        """Counts of what the index holds, and the encoders that built it."""
        sheets = self.sheets()
        patents = list(self.patents())
        linked = sum(len(c.boxes) for s in sheets for c in s.components)
        return {
            "index": str(self.root),
            "patents": len(patents),
            "pending_patents": self.db.execute(
                "SELECT count(*) FROM patents WHERE status='pending'"
            ).fetchone()[0],
            "sheets": len({(s.patent_id, s.sheet_no) for s in sheets}),
            "figures": len(sheets),
            "figures_with_components": sum(1 for s in sheets if s.components),
            "reference_signs": sum(len(p.refsigns) for p in patents),
            "linked_numerals": linked,
            "distinct_linked_signs": sum(len({c.numeral for c in s.components}) for s in sheets),
            "passages": self._col(PASSAGES).count(),
            "by_office": _count(p.office for p in patents),
            "by_kind": _count(s.kind for s in sheets),
            "encoders": {k: {"name": v.name, "dim": v.dim} for k, v in self.encoders().items()},
            "failed_sources": [
                {"source": r[0], "error": r[1]}
                for r in self.db.execute("SELECT source, error FROM sources WHERE status='failed'")
            ],
        }


def _http_client(chromadb: Any, host: str, port: int, settings: Any) -> ClientAPI:
    """A client of the Chroma server at host:port; a server that does not answer is a StoreError that says so."""
    try:
        return chromadb.HttpClient(host=host, port=port, settings=settings)
    except Exception as e:  # connection refused, a timeout, a proxy's error page: chromadb raises several kinds
        raise StoreError(
            f"no Chroma server answers at {host}:{port} ({type(e).__name__}: {e}); start one with "
            f"`chroma run --path DIR --host {host} --port {port}`, or unset PATFIG_CHROMA_HOST for the embedded store"
        ) from e


def _release_http(client: ClientAPI) -> None:
    """Close an HttpClient's pooled connections and drop chromadb's cache entry for it.

    chromadb 1.3 gives every HttpClient a System of its own and keeps it in a class-level cache for the life
    of the process, so a closed store would otherwise hold its sockets to the server until exit.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(getattr(client, "_identifier", ""), None)
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is not None:
        session.close()


def _metadata(meta: Mapping[str, object]) -> Metadata:
    """Chroma's metadata as patfig's: the str, int, float and bool values (patfig stores no others)."""
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}


def _count(values: Iterable[str]) -> dict[str, int]:
    """How often each value occurs, by value."""
    return dict(sorted(Counter(values).items()))


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for lo in range(0, len(items), size):
        yield items[lo : lo + size]


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


def _whitened_query(table: VectorTable, white: Whitening, vector: Sequence[float]) -> list[float]:
    """The query whitened, then α-expanded with its nearest rows of the whole table (an identical row, the
    query's own sheet, is not a neighbour: it would only weigh the query twice)."""
    q = white.apply(np.asarray(vector, dtype=np.float32))
    if white.qe_k <= 0:
        return q.tolist()
    near = [(i, s) for i, s in table.search(q.tolist(), white.qe_k + 1) if s < 1 - 1e-4][: white.qe_k]
    if not near:
        return q.tolist()
    rows = table.rows([i for i, _ in near])
    return expand_query(q, rows, np.array([s for _, s in near]), white.qe_alpha).tolist()


def _component_rows(sheets: Iterable[Sheet]) -> list[tuple[str, str, str, str, str]]:
    """Rows of the components table for these sheets."""
    return [(s.figure_id, s.patent_id, c.numeral, c.label, c.model_dump_json()) for s in sheets for c in s.components]


def _backfill_components(db: sqlite3.Connection) -> None:
    """Fill the components table of an index written before it existed (once; marked in meta)."""
    if db.execute("SELECT 1 FROM meta WHERE key='components_table'").fetchone():
        return
    with db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM meta WHERE key='components_table'").fetchone():
            return  # another process did it meanwhile
        db.execute("DELETE FROM components")
        for (doc,) in db.execute("SELECT doc FROM sheets").fetchall():
            db.executemany("INSERT INTO components VALUES(?, ?, ?, ?, ?)",
                           _component_rows([Sheet.model_validate_json(doc)]))
        db.execute("INSERT INTO meta VALUES('components_table', '1')")

