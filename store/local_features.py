"""Each indexed unit's local features (`models.keypoints`), kept beside the index for spatial verification.

One small SQLite file in the index folder, ``local_features.sqlite``: a row per figure id with its patent
id, the features' name and the packed bytes, in two tables: ``features`` (ORB) and ``details`` (SIFT, what
verification matches); for each of the two, a vocabulary of visual words learned from them
(`models.visual_words`; ``vocabulary`` and ``detail_vocabulary``, one row each) and each unit's words under it
(2 bytes a keypoint; ``words`` and ``detail_words``), which `tools.regions` reads into inverted indexes; and
each unit's lines at the scale of its features (`models.lines`, a two-tone PNG), which verification lays over a
query's without decoding the sheet. It is apart from ``patfig.sqlite`` so that the index's own schema and
transactions stay as they are, and an index made before it simply has no such file (search then describes
candidates, and reads their lines, from their stored sheet images, `tools.verify`). A patent's rows are replaced
whole when it is written again; rows of a deleted patent are never asked for (queries only name complete units).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

FILENAME = "local_features.sqlite"
FEATURES, DETAILS = "features", "details"  # the tables of packed features: ORB's and SIFT's
# a table of features → the tables of its vocabulary and of the units' words under it
_WORDS = {FEATURES: ("vocabulary", "words"), DETAILS: ("detail_vocabulary", "detail_words")}
SCHEMA = """
CREATE TABLE IF NOT EXISTS features(
    figure_id TEXT PRIMARY KEY, patent_id TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS features_patent ON features(patent_id);
CREATE TABLE IF NOT EXISTS details(
    figure_id TEXT PRIMARY KEY, patent_id TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS details_patent ON details(patent_id);
CREATE TABLE IF NOT EXISTS vocabulary(name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS words(
    figure_id TEXT PRIMARY KEY, patent_id TEXT NOT NULL, vocabulary TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS words_patent ON words(patent_id);
CREATE TABLE IF NOT EXISTS detail_vocabulary(name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS detail_words(
    figure_id TEXT PRIMARY KEY, patent_id TEXT NOT NULL, vocabulary TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS detail_words_patent ON detail_words(patent_id);
CREATE TABLE IF NOT EXISTS lines(figure_id TEXT PRIMARY KEY, patent_id TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS lines_patent ON lines(patent_id);
"""


class LocalFeatureStore:
    """Packed local features by figure id, in the index folder at `root`."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / FILENAME
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            self._local.con = con
        return con

    def exists(self) -> bool:
        return self.path.exists()

    def put_patent(self, patent_id: str, name: str, blobs: Mapping[str, bytes],
                   lines: Mapping[str, bytes] | None = None, details: tuple[str, Mapping[str, bytes]] | None = None,
                   ) -> None:
        """Replace a patent's features with these (figure id → packed bytes), its units' lines, and its
        verification's features (`details`: their name, and figure id → packed bytes)."""
        con = self._db()
        with con:
            for table in (FEATURES, DETAILS, "words", "detail_words", "lines"):
                con.execute(f"DELETE FROM {table} WHERE patent_id=?", (patent_id,))
            con.executemany("INSERT OR REPLACE INTO features VALUES(?, ?, ?, ?)",
                            [(fid, patent_id, name, blob) for fid, blob in blobs.items()])
            if details:
                con.executemany("INSERT OR REPLACE INTO details VALUES(?, ?, ?, ?)",
                                [(fid, patent_id, details[0], blob) for fid, blob in details[1].items()])
            con.executemany("INSERT OR REPLACE INTO lines VALUES(?, ?, ?)",
                            [(fid, patent_id, blob) for fid, blob in (lines or {}).items()])

    def put_lines(self, rows: Sequence[tuple[str, str, bytes]]) -> None:
        """Add or replace units' lines: (figure id, patent id, packed lines)."""
        con = self._db()
        with con:
            con.executemany("INSERT OR REPLACE INTO lines VALUES(?, ?, ?)", rows)

    def get_lines(self, figure_ids: Sequence[str]) -> dict[str, bytes]:
        """The packed lines of these figures (those without are absent)."""
        if not figure_ids or not self.exists():
            return {}
        ids, out = list(dict.fromkeys(figure_ids)), {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out |= {f: bytes(d) for f, d in self._db().execute(
                f"SELECT figure_id, data FROM lines WHERE figure_id IN ({marks})", chunk)}
        return out

    def put(self, rows: Sequence[tuple[str, str, bytes]], name: str, table: str = FEATURES) -> None:
        """Add or replace single units' features: (figure id, patent id, packed bytes), in `table` (`FEATURES`
        or `DETAILS`)."""
        con = self._db()
        with con:
            con.executemany(f"INSERT OR REPLACE INTO {_table(table)} VALUES(?, ?, ?, ?)",
                            [(fid, pid, name, blob) for fid, pid, blob in rows])

    def get(self, figure_ids: Sequence[str], name: str, table: str = FEATURES) -> dict[str, bytes]:
        """The packed features of these figures made by the features `name`, from `table` (others are absent)."""
        if not figure_ids or not self.exists():
            return {}
        out: dict[str, bytes] = {}
        ids = list(dict.fromkeys(figure_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for fid, data in self._db().execute(
                    f"SELECT figure_id, data FROM {_table(table)} WHERE name=? AND figure_id IN ({marks})",
                    [name, *chunk]):
                out[fid] = bytes(data)
        return out

    def described(self, name: str, table: str = FEATURES) -> set[str]:
        """The figure ids that have features `name` in `table` (without reading the features)."""
        if not self.exists():
            return set()
        return {f for (f,) in self._db().execute(f"SELECT figure_id FROM {_table(table)} WHERE name=?", (name,))}

    def features(self, name: str, after: str = "", limit: int = 500, table: str = FEATURES,
                 ) -> list[tuple[str, str, bytes]]:
        """(figure id, patent id, packed features) from `table` by figure id after `after`, at most `limit`: the
        whole table read in pages."""
        if not self.exists():
            return []
        return [(f, p, bytes(d)) for f, p, d in self._db().execute(
            f"SELECT figure_id, patent_id, data FROM {_table(table)} WHERE name=? AND figure_id>? "
            "ORDER BY figure_id LIMIT ?", (name, after, limit))]

    # The words of each table of features (`FEATURES` or `DETAILS`) are kept apart, under its own vocabulary.

    def vocabulary(self, table: str = FEATURES) -> tuple[str, bytes] | None:
        """The vocabulary of visual words of `table`'s features (its name and packed centres), if one was learned."""
        if not self.exists():
            return None
        row = self._db().execute(f"SELECT name, data FROM {_words(table)[0]} LIMIT 1").fetchone()
        return (row[0], bytes(row[1])) if row else None

    def set_vocabulary(self, name: str, data: bytes, table: str = FEATURES) -> None:
        """Keep this vocabulary for `table`'s features (its only one: words under another are dropped)."""
        vocab, words = _words(table)
        con = self._db()
        with con:
            con.execute(f"DELETE FROM {vocab}")
            con.execute(f"DELETE FROM {words} WHERE vocabulary<>?", (name,))
            con.execute(f"INSERT INTO {vocab} VALUES(?, ?)", (name, data))

    def put_words(self, rows: Sequence[tuple[str, str, bytes]], vocabulary: str, table: str = FEATURES) -> None:
        """Add or replace units' words of `table`'s features: (figure id, patent id, packed words)."""
        con = self._db()
        with con:
            con.executemany(f"INSERT OR REPLACE INTO {_words(table)[1]} VALUES(?, ?, ?, ?)",
                            [(fid, pid, vocabulary, blob) for fid, pid, blob in rows])

    def without_words(self, features: str, vocabulary: str, table: str = FEATURES) -> list[str]:
        """Figure ids that have features named `features` in `table` but no words under `vocabulary`."""
        if not self.exists():
            return []
        return [r[0] for r in self._db().execute(
            f"SELECT f.figure_id FROM {_table(table)} f LEFT JOIN {_words(table)[1]} w ON w.figure_id=f.figure_id "
            "AND w.vocabulary=? WHERE f.name=? AND w.figure_id IS NULL ORDER BY f.figure_id", (vocabulary, features))]

    def all_words(self, vocabulary: str, table: str = FEATURES) -> list[tuple[str, bytes]]:
        """Every unit's words of `table`'s features under `vocabulary`: (figure id, packed words)."""
        if not self.exists():
            return []
        return [(f, bytes(d)) for f, d in self._db().execute(
            f"SELECT figure_id, data FROM {_words(table)[1]} WHERE vocabulary=?", (vocabulary,))]

    def words_after(self, vocabulary: str, rowid: int, limit: int = -1, table: str = FEATURES,
                    ) -> list[tuple[str, bytes]]:
        """Units' words of `table`'s features under `vocabulary` written after row `rowid` (`words_version`'s
        second number), in the order they were written (at most `limit`; -1: all)."""
        if not self.exists():
            return []
        return [(f, bytes(d)) for f, d in self._db().execute(
            f"SELECT figure_id, data FROM {_words(table)[1]} WHERE vocabulary=? AND rowid>? ORDER BY rowid LIMIT ?",
            (vocabulary, rowid, limit))]

    def words_version(self, table: str = FEATURES) -> tuple[int, int]:
        """Changes whenever units' words of `table`'s features are added, replaced or removed (for an in-memory
        index to refresh)."""
        if not self.exists():
            return (0, 0)
        n, top = self._db().execute(
            f"SELECT count(*), coalesce(max(rowid), 0) FROM {_words(table)[1]}").fetchone()
        return int(n), int(top)

    def stats(self) -> dict[str, float]:
        """Units with features and their mean size in bytes, in each table (`FEATURES`, and `DETAILS` as
        ``details_units``, ``details_mean_bytes``)."""
        out: dict[str, float] = {}
        for table, key in ((FEATURES, ""), (DETAILS, "details_")):
            n, total = self._db().execute(
                f"SELECT count(*), coalesce(sum(length(data)), 0) FROM {table}").fetchone() if self.exists() else (0, 0)
            out |= {f"{key}units": int(n), f"{key}mean_bytes": total / n if n else 0.0}
        return out

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def _words(table: str) -> tuple[str, str]:
    return _WORDS[_table(table)]


def _table(table: str) -> str:
    if table not in (FEATURES, DETAILS):
        raise ValueError(f"no table of features {table!r}")
    return table
