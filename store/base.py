"""The index's foundation: its SQLite schema and connections, the Chroma collections and the encoders that
built them, the caches kept per version of the index, and the small records the store hands out.

See `store.index` for the layout of an index folder and the consistency and query-path rules.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, cast

from core.errors import IndexMismatch, StoreError
from core.filters import Metadata
from core.whitening import Whitening
from store.matrix import VectorTable

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

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


class StoreBase(ABC):
    """Connections, collections, encoders, meta and the per-version caches (see `store.index.FigureStore`)."""

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

    # ------------------------------------------------------------------ encoders and collections

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

    # ------------------------------------------------------------------ meta

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

    def meta_flag(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM meta WHERE key=?", (key,)).fetchone() is not None

    def set_meta_flag(self, key: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES(?, '1')", (key,))

    # ------------------------------------------------------------------ versions and caches

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

    def complete_ids(self) -> set[str]:
        """The ids of the completely indexed patents (a copy of a set cached until the next write)."""
        return set(self._cached("complete", self._complete_ids))

    def _complete_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT patent_id FROM patents WHERE status='complete'")}

    @abstractmethod
    def _patched(self, name: str, table: VectorTable, changed: list[str]) -> VectorTable:
        """The in-memory table brought up to date with the changed patents (`store.vectors.VectorStore`)."""


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

