"""The index: ChromaDB collections for vectors and facets, SQLite (FTS5) for documents and lexical search.

This is the only module that imports chromadb or opens the SQLite database.

Layout of an index folder::

    chroma/          Chroma persistent store: sheets_visual, sheets_text, passages (none with a Chroma server,
                     where the collections are named with this index's namespace, kept in meta)
    patfig.sqlite    patents, sheets, sources, meta and the FTS5 table
    sheets/          the stored drawing sheets as PNG

Consistency: a patent is first recorded as ``pending``, then its vectors go to Chroma, then one SQLite
transaction writes its sheets and lexical rows and marks it ``complete``. A run that dies in between
leaves a pending patent, which `recover()` removes from every collection before the next run; queries
only ever return complete patents.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from core.errors import IndexMismatch, StoreError
from core.filters import CPC_FLAG, Facets, Filters, Metadata, patent_metadata, sheet_metadata
from core.types import Patent, Sheet

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Include, Where
    from chromadb.api.types import Metadata as ChromaMetadata

log = logging.getLogger(__name__)

VISUAL, TEXT, PASSAGES = "sheets_visual", "sheets_text", "passages"
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
"""


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
    sheets_with_components: int
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

    def __init__(self, root: Path, client: ClientAPI, dbfile: Path) -> None:
        self.root = root
        self._client = client
        self._dbfile = dbfile
        self._local = threading.local()  # this thread's SQLite connection (see `db`)
        self._connections: list[sqlite3.Connection] = []  # every thread's, to close them all
        self._lock = threading.Lock()
        self._cols: dict[str, Collection] = {}
        self._prefix = ""  # a Chroma server's collections carry the index's namespace (see `open`)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        create: bool = False,
        chroma_host: str | None = None,
        chroma_port: int = 8000,
    ) -> FigureStore:
        """Open the index at `root`. With `create`, make it if missing; otherwise a missing index is an error."""
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
        store = cls(root, client, dbfile)
        store.db.execute("PRAGMA journal_mode=WAL")
        store.db.executescript(SCHEMA)
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
        """Complete patents and their sheets: two counts, cheap enough to ask every few seconds."""
        patents = self.db.execute("SELECT count(*) FROM patents WHERE status='complete'").fetchone()[0]
        sheets = self.db.execute(
            "SELECT count(*) FROM sheets s JOIN patents p ON p.patent_id = s.patent_id WHERE p.status='complete'"
        ).fetchone()[0]
        return {"patents": patents, "sheets": sheets}

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

    def recover(self) -> list[str]:
        """Remove every half-indexed (pending) patent. Returns their ids."""
        ids = [r[0] for r in self.db.execute("SELECT patent_id FROM patents WHERE status='pending'")]
        for pid in ids:
            self.delete_patent(pid)
        return ids

    def delete_patent(self, patent_id: str) -> None:
        """Remove a patent from every collection and table."""
        for name in (VISUAL, TEXT, PASSAGES):
            self._col(name).delete(where={"patent_id": patent_id})
        with self.db:
            self.db.execute("DELETE FROM sheets WHERE patent_id=?", (patent_id,))
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
        if passages:
            pmeta = patent_metadata(patent)
            self._col(PASSAGES).upsert(
                ids=[f"{pid}:{i}" for i in range(len(passages))],
                embeddings=[list(v) for v in passage_vectors],
                metadatas=[cast("ChromaMetadata", pmeta | {"field": p.field, "pid": p.pid}) for p in passages],
                documents=[p.text for p in passages],
            )
        self.complete_patent(patent, sheets)

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
        return {r[0] for r in self.db.execute("SELECT patent_id FROM patents WHERE status='complete'")}

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
        sql += " ORDER BY s.patent_id, s.sheet_no"
        return [Sheet.model_validate_json(r[0]) for r in self.db.execute(sql, args)]

    def image_path(self, sheet: Sheet) -> Path:
        return self.root / sheet.image_path

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
        col = self._col(name)
        count = col.count()
        if count == 0 or (ids is not None and not ids):
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
        complete = self.complete_ids()
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
        self, vector: Sequence[float], k: int, filters: Filters | None = None, ids: Sequence[str] | None = None
    ) -> list[VectorHit]:
        """Nearest sheets by their linked-text vector."""
        return self._query(TEXT, vector, k, filters, ids, with_documents=True)

    def query_passages(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[VectorHit]:
        """Nearest passages of patent text (filters on patent-level facets only)."""
        if filters is not None:
            filters = filters.patent_level()
        return self._query(PASSAGES, vector, k, filters, with_documents=True)

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
        """Stored facet metadata by figure id."""
        if not ids:
            return {}
        res = self._col(VISUAL).get(ids=list(ids), include=["metadatas"])
        return {i: _metadata(m) for i, m in zip(res["ids"], res["metadatas"] or [], strict=False)}

    def all_metadata(self) -> dict[str, Metadata]:
        """Stored facet metadata of every completely indexed sheet, by figure id."""
        res = self._col(VISUAL).get(include=["metadatas"])
        complete = self.complete_ids()
        return {i: _metadata(m) for i, m in zip(res["ids"], res["metadatas"] or [], strict=False)
                if m.get("patent_id") in complete}

    def ids(self, filters: Filters | None = None) -> list[str]:
        """The completely indexed figures that pass the filters (all of them without), sorted."""
        where = filters.where() if filters is not None else None
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
        """The filter values that occur in the index."""
        metas = self.all_metadata().values()
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
            "cpc_counts": cpc,
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
            "sheets": len(sheets),
            "sheets_with_components": sum(1 for s in sheets if s.components),
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

