"""Candidates for an image query by shared details: inverted indexes over the units' visual words.

The global descriptor of a region (a crop, a screenshot of part of a sheet) does not resemble its whole sheet's,
so the sheet it was cut from is often not among the candidates spatial verification (`tools.verify`) sees.
This finds candidates the other way: the query's local features (`models.keypoints`), ORB's and SIFT's, become
visual words (`models.visual_words`, a vocabulary for each), and each unit is scored by the words it shares
with the query, a word counting idf² times the smaller of its two counts (a histogram intersection with tf-idf
weights; not normalised by the unit's length, as a region holds only part of its unit's details). The first
`TOP` by ORB's words and `DETAILS_TOP` by SIFT's join the global descriptor's first candidates for verification.

Each index lives in memory per serving process, built from ``local_features.sqlite`` on first use; units added
or written again since join it as a small second index, and it is rebuilt when units are removed (`word_index`).
Its postings are sorted by word (a unit's position, 4 bytes, and its count, 1 byte), about 3.7 KB per unit for
1000 keypoints. `build` gives an index its vocabularies and words (learned from its stored features once, then
assigned per unit; at ingest, `ingest.pipeline` assigns a new patent's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from models import keypoints, visual_words
from runtime.services import Services
from store.local_features import DETAILS, FEATURES, LocalFeatureStore
from tools import verify

log = logging.getLogger(__name__)

# candidates by shared words that join the global descriptor's for verification: 40 found the own unit among
# them for more region queries than 20 (bench/region_verify.py: held-out half-resolution sheet crops 0.714 →
# 0.762, sketches of half A 0.769 → 0.885); 60 found more, for a P@1 within a query or two of 40's, and took
# the warm image query at 100k figures to 1.16 s p95
TOP = 40
# candidates by SIFT's words: with them, the own unit was among the candidates for 346 of the 360 queries against
# 331 (`models.visual_words`), adding 12 candidates a query on average (40: 349, adding 26)
DETAILS_TOP = 20
MIN_UNITS = 50  # an index with fewer units' features learns no vocabulary (too few to learn from)
DELTA_SHARE = 0.1  # units written since the word index was built, as a share of it, kept beside it (`word_index`)
Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class WordIndex:
    """Postings of each word: the units that have it (positions into `ids`) and how often."""

    vocabulary: visual_words.Vocabulary
    ids: list[str]
    start: np.ndarray  # k + 1 offsets into units / counts, by word
    units: np.ndarray  # int32
    counts: np.ndarray  # uint8
    idf2: np.ndarray  # float32, k
    version: tuple[int, int]
    delta: WordIndex | None = None  # units written since this index was built (`word_index`), scored with its idf
    stale: np.ndarray | None = None  # positions into `ids` of units whose words were written again since (in delta)

    @property
    def units_indexed(self) -> int:
        stale = len(self.stale) if self.stale is not None else 0
        return len(self.ids) - stale + (len(self.delta.ids) if self.delta else 0)

    @property
    def current(self) -> tuple[int, int]:
        """The stored words' version this index answers for (its delta's, when it has one)."""
        return self.delta.version if self.delta else self.version

    @classmethod
    def from_rows(cls, vocab: visual_words.Vocabulary, rows: list[tuple[str, bytes]],
                  version: tuple[int, int]) -> WordIndex:
        k = len(vocab)
        ids, word_parts, count_parts, unit_parts = [], [], [], []
        for r, (fid, blob) in enumerate(rows):
            w, c = np.unique(visual_words.unpack(blob), return_counts=True)
            ids.append(fid)
            word_parts.append(w.astype(np.uint16))  # as stored (2 bytes a word)
            count_parts.append(np.minimum(c, 255).astype(np.uint8))
            unit_parts.append(np.full(len(w), r, dtype=np.int32))
        words = np.concatenate(word_parts) if word_parts else np.zeros(0, np.uint16)
        # stable, on uint16: numpy's radix sort (on int32 a merge sort: 3.1 of the 7.5 s at 100k units)
        order = np.argsort(words, kind="stable")
        per_word = np.bincount(words, minlength=k)
        start = np.concatenate([[0], np.cumsum(per_word)]).astype(np.int64)
        units = (np.concatenate(unit_parts) if unit_parts else np.zeros(0, np.int32))[order]
        counts = (np.concatenate(count_parts) if count_parts else np.zeros(0, np.uint8))[order]
        idf = np.log((len(ids) + 1) / (per_word + 1)).astype(np.float32)
        return cls(vocab, ids, start, units, counts, idf * idf, version)

    def search(self, query: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The n units sharing most (idf²-weighted) words with the query's words, best first."""
        if not len(query) or not self.units_indexed:
            return []
        qw, qc = np.unique(query, return_counts=True)
        found = self._top(qw, qc, self.idf2, n, self.stale)
        if self.delta is not None:
            found = sorted(found + self.delta._top(qw, qc, self.idf2, n), key=lambda t: -t[1])[:n]
        return found

    def _top(self, qw: np.ndarray, qc: np.ndarray, idf2: np.ndarray, n: int,
             stale: np.ndarray | None = None) -> list[tuple[str, float]]:
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for w, c in zip(qw.tolist(), qc.tolist(), strict=True):
            a, b = self.start[w], self.start[w + 1]
            if b > a:
                np.add.at(scores, self.units[a:b], idf2[w] * np.minimum(self.counts[a:b], c))
        if stale is not None:
            scores[stale] = 0.0  # their words now are the delta's
        top = np.argsort(-scores)[:n]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def nbytes(self) -> int:
        return int(self.start.nbytes + self.units.nbytes + self.counts.nbytes + self.idf2.nbytes
                   + self.vocabulary.centres.nbytes) + (self.delta.nbytes() if self.delta else 0)


@dataclass(frozen=True)
class Kind:
    """A kind of local features with words of its own: where they are stored, and how its vocabulary is learned."""

    table: str  # `FEATURES` or `DETAILS`
    features: str  # the features' name
    learn: Callable[[np.ndarray], visual_words.Vocabulary]
    width: int  # bytes a descriptor


ORB = Kind(FEATURES, keypoints.NAME, visual_words.learn, keypoints.DESC_BYTES)
SIFT = Kind(DETAILS, keypoints.SIFT_NAME, visual_words.learn_details, keypoints.SIFT_BYTES)
KINDS = (ORB, SIFT)
_BY_TABLE = {k.table: k for k in KINDS}


def load_vocabulary(fs: LocalFeatureStore, table: str = FEATURES) -> visual_words.Vocabulary | None:
    """The vocabulary of `table`'s features; None when none was learned or it was learned from features of another
    version than the current (`build` learns it again)."""
    return visual_words.stored_vocabulary(fs.vocabulary(table), _BY_TABLE[table].features)


def word_index(services: Services, table: str = FEATURES) -> WordIndex | None:
    """The index's word index, kept per services; None when the index has no vocabulary yet (`build` makes one).

    When units were added or written again since it was built (an ingest running beside the server, a patent
    ingested again), their words go into a small second index scored with the first one's idf, and the first
    one's old words of those written again stop counting, instead of rebuilding the whole (7–11 s at 100k
    units); once they are more than `DELTA_SHARE` of it, or when units were removed, it is rebuilt. One index for
    the words of each table of features (`FEATURES`: ORB's, `DETAILS`: SIFT's)."""
    fs = verify.feature_store(services)
    version = fs.words_version(table)
    key = "word_index" if table == FEATURES else f"word_index:{table}"
    cached = services.extras.get(key)
    if isinstance(cached, WordIndex) and cached.current == version:
        return cached
    vocab = load_vocabulary(fs, table)
    if vocab is None:
        return None
    if isinstance(cached, WordIndex) and cached.vocabulary.name == vocab.name:
        new = fs.words_after(vocab.name, cached.version[1], table=table)
        position = {f: i for i, f in enumerate(cached.ids)}
        again = [position[f] for f, _ in new if f in position]  # written again: their old words stop counting
        if version[0] == cached.version[0] + len(new) - len(again) and len(new) <= DELTA_SHARE * len(cached.ids):
            index = replace(cached, delta=WordIndex.from_rows(vocab, new, version),
                            stale=np.array(again, dtype=np.int64) if again else None)
            services.extras[key] = index
            return index
    t0 = time.perf_counter()
    index = WordIndex.from_rows(vocab, fs.all_words(vocab.name, table), version)
    log.info("word index of %d units (%s) built in %.2f s (%.1f MB)", len(index.ids), vocab.name,
             time.perf_counter() - t0, index.nbytes() / 1e6)
    services.extras[key] = index
    return index


def candidates(services: Services, query: keypoints.Features, n: int = TOP) -> list[tuple[str, float]]:
    """The units sharing most visual words with the query's features, ORB's or SIFT's (none without a
    vocabulary)."""
    kind = ORB if query.descriptors.shape[1] == ORB.width else SIFT
    index = word_index(services, kind.table)
    if index is None or not len(query):
        return []
    return index.search(visual_words.query_words(index.vocabulary, query), n)


def build(services: Services, progress: Progress | None = None, batch: int = 200, min_units: int | None = None) -> int:
    """Give the index what word candidates and verification need: every unit's local features, ORB's and SIFT's
    (described from its sheet image when an older ingest stored none), a vocabulary of each kind's words learned
    from its features once, and every unit's words of both kinds.
    Returns the number of units given words (of either kind). Progress is reported as (done, total) units.
    `min_units`: fewer units learn no vocabulary (default `MIN_UNITS`)."""
    min_units = MIN_UNITS if min_units is None else min_units
    fs = verify.feature_store(services)
    ids = [s.figure_id for s in services.store.sheets()]
    have = [fs.described(k.features, k.table) for k in KINDS]
    missing = [i for i in ids if not all(i in h for h in have)]
    vocabs = {k.table: load_vocabulary(fs, k.table) for k in KINDS}
    learns = len(ids) >= min_units

    def remaining() -> int:  # units each kind still has to give words (all of them, for a vocabulary to learn)
        return sum(len(fs.without_words(k.features, v.name, k.table)) if (v := vocabs[k.table]) else
                   len(ids) if learns else 0 for k in KINDS)

    total = len(missing) + remaining()
    done = 0
    if progress and total:
        progress(done, total)  # shown at once: learning a vocabulary (a minute on the sample) reports nothing
    for i in range(0, len(missing), batch):  # an index made before local features (or SIFT's) were stored
        chunk = missing[i:i + batch]
        verify.unit_features(services, chunk, float("inf"))
        done += len(chunk)
        if progress:
            progress(done, total)
    given: set[str] = set()
    for kind in KINDS:
        vocab = vocabs[kind.table]
        if vocab is None:
            if not learns:
                continue
            vocab = kind.learn(_descriptors(fs, len(ids), kind))
            fs.set_vocabulary(vocab.name, visual_words.pack_vocabulary(vocab), kind.table)
            vocabs[kind.table] = vocab
        todo = fs.without_words(kind.features, vocab.name, kind.table)
        total = done + remaining()
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            feats = fs.get(chunk, kind.features, kind.table)
            pids = services.store.sheets_by_id(chunk)
            fs.put_words([(fid, pids[fid].patent_id if fid in pids else "", visual_words.pack(
                visual_words.words(vocab, keypoints.unpack(blob)))) for fid, blob in feats.items()], vocab.name,
                kind.table)
            given |= set(feats)
            done += len(chunk)
            if progress:
                progress(done, total)
    return len(given)


def _descriptors(fs: LocalFeatureStore, units: int, kind: Kind = ORB, seed: int = 0) -> np.ndarray:
    """A sample of the stored units' descriptors of one kind, read in pages, about twice what the vocabulary learns
    from (`visual_words.SAMPLE`) spread over the `units` units: at 100k units, all of them would be 3.2 GB."""
    rng = np.random.default_rng(seed)
    each = max(8, -(-2 * visual_words.SAMPLE // max(1, units)))
    parts, after = [], ""
    while rows := fs.features(kind.features, after, table=kind.table):
        for _, _, blob in rows:
            d = keypoints.unpack(blob).descriptors
            parts.append(d[rng.choice(len(d), each, replace=False)] if len(d) > each else d)
        after = rows[-1][0]
    return np.concatenate(parts) if parts else np.zeros((0, kind.width), np.uint8)
