"""The index: ChromaDB collections for vectors and facets, SQLite (FTS5) for documents and lexical search.

The `store` package is the only code that imports chromadb or opens the SQLite database. By concern:
`store.base` (connections, collections, encoders, meta, the per-version caches), `store.documents` (patents,
sheets, components, word matching, stats), `store.vectors` (writing a patent's vectors, the in-memory tables,
nearest-neighbour search, facets), `store.figure_lexical` (the per-figure FTS5 table), `store.matrix` (the
in-memory table), `store.local_features` (keypoints for spatial verification); `FigureStore` here joins them
and opens an index.

Layout of an index folder::

    chroma/          Chroma persistent store: sheets_visual, sheets_text, passages, figure_passages (none with a
                     Chroma server, where the collections are named with this index's namespace, kept in meta)
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

import uuid
from pathlib import Path

from core.errors import StoreError
from store import figure_lexical
from store.base import (
    FIGURE_PASSAGES,
    FIGURE_PASSAGES_FLAG,
    LEXICAL_FIELDS,
    PASSAGES,
    SCHEMA,
    TEXT,
    VISUAL,
    EncoderId,
    IndexStats,
    Passage,
    VectorHit,
    _http_client,
    _release_http,
)
from store.documents import _backfill_components
from store.vectors import VectorStore

__all__ = ["FIGURE_PASSAGES", "FIGURE_PASSAGES_FLAG", "LEXICAL_FIELDS", "PASSAGES", "TEXT", "VISUAL", "EncoderId",
           "FigureStore", "IndexStats", "Passage", "VectorHit"]


class FigureStore(VectorStore):
    """Vectors, facets and documents of indexed patents: documents (`store.documents`), vectors
    (`store.vectors`) and what they share (`store.base`)."""

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
        figure_lexical.backfill_stems(store.db)
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
