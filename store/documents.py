"""Documents in the index's SQLite store: sources, patents, sheets and components; word matching over whole
patents (FTS5 ``lexical``) and per figure (`store.figure_lexical`); the index's counts.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.errors import StoreError
from core.figure_text import StoredStems
from core.types import Component, Patent, Sheet
from store import figure_lexical
from store.base import LEXICAL_FIELDS, PASSAGES, IndexStats, StoreBase, _chunks, _count


class DocumentStore(StoreBase):
    """The documents of the index: written in one transaction per patent, read by id."""

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

    def sheets_by_id(self, figure_ids: Sequence[str]) -> dict[str, Sheet]:
        """The sheets of complete patents among these figure ids, in one read."""
        out: dict[str, Sheet] = {}
        # CROSS JOIN: the sheets asked for first, then their patents. With a plain JOIN, SQLite (no ANALYZE
        # statistics) takes `status='complete'` for a selective lookup and walks every complete patent's sheets
        # from about 20 ids on: 7 ms for 20 sheets at 10k figures, ~70 ms at 100k, against 0.1 ms
        # (bench/results/query_latency_text_v2_calls.md).
        for chunk in _chunks(list(dict.fromkeys(figure_ids)), 500):
            marks = ",".join("?" * len(chunk))
            for (doc,) in self.db.execute(
                "SELECT s.doc FROM sheets s CROSS JOIN patents p ON p.patent_id=s.patent_id "
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
            for fid, doc in self.db.execute(  # CROSS JOIN: the labelled components first (see `sheets_by_id`)
                "SELECT c.figure_id, c.doc FROM components c CROSS JOIN patents p ON p.patent_id=c.patent_id "
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

    # ------------------------------------------------------------------ words

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

    def figure_stems(self, figure_ids: Sequence[str]) -> dict[str, dict[str, StoredStems]]:
        """Each word-matching field's stems of these figures, by id (`store.figure_lexical.stems_of`)."""
        return figure_lexical.stems_of(self.db, figure_ids)

    def figure_document_frequency(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many figures contain each term (up to its stem), and how many figures there are (cached per
        version of the index)."""
        cache = self._cached("figure_df", dict)
        missing = [t for t in terms if t not in cache]
        for t in missing:
            cache[t] = figure_lexical.documents_with(self.db, t)
        total = self._cached("figure_rows", lambda: figure_lexical.size(self.db))
        return {t: cache[t] for t in terms}, total

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

    # ------------------------------------------------------------------ stats

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

