"""Word matching per figure: the ``figure_lexical`` FTS5 table, one row per indexed figure.

Its rowid is the figure's rowid in the ``sheets`` table, so a patent's rows are found (and deleted) through the
indexed ``sheets.patent_id``, and a match joins back to its figure and patent with no scan. Columns are the
fields of `core.figure_text.figure_fields`, tokenised with the Porter stemmer ("tanks" matches "tank").

Beside it, ``figure_stems`` (same rowid) holds each field's Snowball stems (`core.figure_text.field_stems`,
space-separated), written with the fields: `tools.words.coverage` reads them instead of tokenising and stemming
every candidate's fields per query (~30 ms of a query with 200 candidates, measured at 100k figures).

Only `store.index` calls these functions, inside its own transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from core.figure_text import FIELD_WORD, FIELDS, StoredStems, field_stems, figure_fields
from core.types import Patent, Sheet

SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS figure_lexical USING fts5(
    description, components, sentences, title, tokenize='porter unicode61');
CREATE INDEX IF NOT EXISTS components_figure ON components(figure_id);
CREATE TABLE IF NOT EXISTS figure_stems(rowid INTEGER PRIMARY KEY, {", ".join(f"{c} TEXT NOT NULL" for c in FIELDS)});
"""
META_KEY = "figure_lexical"  # set in meta once every complete patent has its rows
STEMS_KEY = "figure_stems"  # in meta: how the stems were made, once every figure_lexical row has its stems
# another tokeniser or stemmer (`core.figure_text.field_stems`): the stems are made anew
STEMS_MADE = f"snowball-english {FIELD_WORD.pattern} hyphen-parts"


def write(db: sqlite3.Connection, patent: Patent, sheets: Sequence[Sheet]) -> None:
    """The rows of a patent's figures (its sheets rows must be written already)."""
    rowid = dict(db.execute("SELECT figure_id, rowid FROM sheets WHERE patent_id=?", (patent.patent_id,)))
    rows = []
    for s in sheets:
        fields = figure_fields(patent, s)
        rows.append((rowid[s.figure_id], *(fields[f] for f in FIELDS)))
    db.executemany(f"INSERT OR REPLACE INTO figure_lexical(rowid, {', '.join(FIELDS)}) VALUES(?, ?, ?, ?, ?)", rows)
    _write_stems(db, rows)


def _write_stems(db: sqlite3.Connection, rows: Iterable[Sequence[object]]) -> None:
    """The ``figure_stems`` rows of (rowid, *fields) rows."""
    db.executemany(f"INSERT OR REPLACE INTO figure_stems(rowid, {', '.join(FIELDS)}) VALUES(?, ?, ?, ?, ?)",
                   [(r[0], *(" ".join(sorted(field_stems(str(t)))) for t in r[1:])) for r in rows])


def delete(db: sqlite3.Connection, patent_id: str) -> None:
    """Remove a patent's rows (before its sheets rows go)."""
    db.execute("DELETE FROM figure_lexical WHERE rowid IN (SELECT rowid FROM sheets WHERE patent_id=?)", (patent_id,))
    db.execute("DELETE FROM figure_stems WHERE rowid IN (SELECT rowid FROM sheets WHERE patent_id=?)", (patent_id,))


def backfill(db: sqlite3.Connection) -> int:
    """Give an index written before this table its rows, from the stored patents and sheets (once; marked in
    meta). Returns the number of figures written."""
    if db.execute("SELECT 1 FROM meta WHERE key=?", (META_KEY,)).fetchone():
        return 0
    written = 0
    with db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM meta WHERE key=?", (META_KEY,)).fetchone():
            return 0  # another process did it meanwhile
        db.execute("DELETE FROM figure_lexical")
        db.execute("DELETE FROM meta WHERE key=?", (STEMS_KEY,))  # made anew from the new rows (`backfill_stems`)
        for (pdoc,) in db.execute("SELECT doc FROM patents WHERE status='complete'").fetchall():
            patent = Patent.model_validate_json(pdoc)
            sheets = [Sheet.model_validate_json(d) for (d,) in db.execute(
                "SELECT doc FROM sheets WHERE patent_id=?", (patent.patent_id,))]
            write(db, patent, sheets)
            written += len(sheets)
        db.execute("INSERT INTO meta VALUES(?, '1')", (META_KEY,))
    return written


def backfill_stems(db: sqlite3.Connection) -> int:
    """Give every ``figure_lexical`` row its stems when the index has none yet or they were made another way
    (`STEMS_MADE`), from the stored fields (once; marked in meta). Returns the number of figures written."""
    if db.execute("SELECT 1 FROM meta WHERE key=? AND value=?", (STEMS_KEY, STEMS_MADE)).fetchone():
        return 0
    with db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM meta WHERE key=? AND value=?", (STEMS_KEY, STEMS_MADE)).fetchone():
            return 0  # another process did it meanwhile
        db.execute("DELETE FROM figure_stems")
        rows = db.execute(f"SELECT rowid, {', '.join(FIELDS)} FROM figure_lexical").fetchall()
        _write_stems(db, rows)
        db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", (STEMS_KEY, STEMS_MADE))
    return len(rows)


Match = tuple[str, float, dict[str, str]]  # figure id, bm25 (higher is better), its fields


def match(db: sqlite3.Connection, fts_query: str, k: int, weights: Sequence[float]) -> list[Match]:
    """(figure id, bm25 (higher is better), fields) of the best k complete figures matching an FTS5 query,
    bm25 weighing the columns by `weights` (one per field of FIELDS)."""
    w = ", ".join(f"{float(x):.6g}" for x in weights)
    cols = ", ".join(f"f.{c}" for c in FIELDS)
    # Ranked inside FTS5 first, by rowid and score alone: naming a field there would read every matching row's
    # text before the LIMIT (5-16x the time at 10k figures, measured). Only that pool (twice k: room for pending
    # patents) is joined to its figures and its fields read.
    sql = (f"SELECT s.figure_id, m.score, {cols} FROM (SELECT rowid, -bm25(figure_lexical, {w}) AS score "
           f"FROM figure_lexical WHERE figure_lexical MATCH ? ORDER BY bm25(figure_lexical, {w}) LIMIT ?) m "
           "CROSS JOIN sheets s ON s.rowid = m.rowid CROSS JOIN patents p ON p.patent_id = s.patent_id "
           "CROSS JOIN figure_lexical f ON f.rowid = m.rowid "
           "WHERE p.status='complete' ORDER BY m.score DESC LIMIT ?")
    rows = db.execute(sql, (fts_query, 2 * k, k))
    return [(r[0], float(r[1]), dict(zip(FIELDS, r[2:], strict=True))) for r in rows]


def fields_of(db: sqlite3.Connection, figure_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """The fields of these figures, by id (for scoring candidates that other modalities found)."""
    ids = list(dict.fromkeys(figure_ids))
    out: dict[str, dict[str, str]] = {}
    cols = ", ".join(f"f.{c}" for c in FIELDS)
    for lo in range(0, len(ids), 500):
        chunk = ids[lo:lo + 500]
        marks = ",".join("?" * len(chunk))
        for r in db.execute(f"SELECT s.figure_id, {cols} FROM sheets s JOIN figure_lexical f ON f.rowid = s.rowid "
                            f"WHERE s.figure_id IN ({marks})", chunk):
            out[r[0]] = dict(zip(FIELDS, r[1:], strict=True))
    return out


def stems_of(db: sqlite3.Connection, figure_ids: Iterable[str]) -> dict[str, dict[str, StoredStems]]:
    """Each field's stems of these figures, by id (those without stored stems are left out)."""
    ids = list(dict.fromkeys(figure_ids))
    out: dict[str, dict[str, StoredStems]] = {}
    cols = ", ".join(f"t.{c}" for c in FIELDS)
    for lo in range(0, len(ids), 500):
        chunk = ids[lo:lo + 500]
        marks = ",".join("?" * len(chunk))
        for r in db.execute(f"SELECT s.figure_id, {cols} FROM sheets s CROSS JOIN figure_stems t ON t.rowid = s.rowid "
                            f"WHERE s.figure_id IN ({marks})", chunk):
            out[r[0]] = {f: StoredStems(t) for f, t in zip(FIELDS, r[1:], strict=True)}
    return out


def documents_with(db: sqlite3.Connection, term: str) -> int:
    """How many figures contain a word (up to its stem), for its inverse document frequency."""
    return int(db.execute("SELECT count(*) FROM figure_lexical WHERE figure_lexical MATCH ?",
                          (f'"{term}"',)).fetchone()[0])


def size(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM figure_lexical").fetchone()[0])
