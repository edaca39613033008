"""Ingest: documents → sheets with OCR-linked components → vectors → the index.

Reading, OCR and encoding (`ingest.prepare`) are a pure map per document; with `workers > 1` they run
in worker processes, and this module is the single writer that puts each finished document into the
index, completely or not at all (see store/index.py on consistency). Running ingest twice adds nothing
twice: a source whose content signature is already indexed is skipped, and a run killed half-way is
cleaned up and resumed by the next one.

Members of a weekly bundle (`ingest.bundle`) reach the preparers as bytes, read from the bundle as one
stream; with `ray_address`, every document does, and the preparers are Ray tasks on a cluster
(`ingest.cluster`), while this process stays the one writer.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from core.errors import ClusterUnavailable, ModelUnavailable, StoreError
from core.figure_text import figure_passages
from core.settings import Settings
from ingest.bundle import Member, read_members
from ingest.prepare import (
    Parts,
    PartsFactory,
    Prepared,
    init_worker,
    make_passages,
    prepare_document,
    prepare_in_worker,
)
from ingest.read import Blob, blob_of
from models import keypoints, visual_words
from runtime.services import Services
from store.index import FIGURE_PASSAGES_FLAG, FigureStore
from store.local_features import DETAILS, FEATURES, LocalFeatureStore

__all__ = ["DocResult", "IngestReport", "ingest_paths", "make_passages", "source_signature"]

log = logging.getLogger(__name__)


@dataclass
class DocResult:
    """What happened to one input."""

    source: str
    status: str  # "indexed", "skipped", "failed"
    patent_id: str = ""
    sheets: int = 0
    figures: int = 0  # its indexed units: a sheet that shows several figures gives one per figure
    message: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # read, ocr, encode, store
    worker: int = 0  # pid of the process that read, OCRed and encoded it
    node: str = ""  # the cluster node it was prepared on (ingest on Ray)
    peak_rss_mb: float = 0.0  # that process's peak memory


@dataclass
class IngestReport:
    """The outcome of a run: per-document results and where the time went."""

    results: list[DocResult] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # half-indexed patents cleaned up first
    problems: list[str] = field(default_factory=list)  # inputs that named no documents
    workers: int = 1
    wall_seconds: float = 0.0
    backfilled: int = 0  # patents of an older index given their per-figure passages

    @property
    def failed(self) -> list[DocResult]:
        return [r for r in self.results if r.status == "failed"]

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.results:
            for k, v in r.seconds.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def peak_memory_mb(self) -> dict[int, float]:
        """Peak resident memory of each process that prepared documents, by pid."""
        out: dict[int, float] = {}
        for r in self.results:
            if r.worker:
                out[r.worker] = max(out.get(r.worker, 0.0), r.peak_rss_mb)
        return out

    def per_node(self) -> dict[str, int]:
        """Documents prepared on each cluster node (ingest on Ray); empty for a local run."""
        out: dict[str, int] = {}
        for r in self.results:
            if r.node:
                out[r.node] = out.get(r.node, 0) + 1
        return out

    def summary(self) -> dict:
        t = self.totals()
        sheets = sum(r.sheets for r in self.results if r.status == "indexed")
        busy = sum(t.values())
        wall = self.wall_seconds or busy
        return {
            "indexed": sum(1 for r in self.results if r.status == "indexed"),
            "skipped": sum(1 for r in self.results if r.status == "skipped"),
            "failed": len(self.failed),
            "sheets": sheets,
            "figures": sum(r.figures for r in self.results if r.status == "indexed"),
            "workers": self.workers,
            "seconds": round(wall, 1),
            "sheets_per_minute": round(sheets / wall * 60, 1) if wall and sheets else 0.0,
            "share": {k: round(v / busy, 3) for k, v in t.items()} if busy else {},
            "peak_memory_mb_per_worker": [round(v) for v in self.peak_memory_mb().values()],
            "documents_per_node": self.per_node(),
            "recovered": self.recovered,
            "problems": self.problems,
            "failures": [{"source": r.source, "error": r.message} for r in self.failed],
        }


def source_signature(path: Path) -> str:
    """A content signature: sha1 of a file, or of the names, sizes and bytes of a folder's files."""
    h = hashlib.sha1()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- the writer


def _write(store: FigureStore, prep: Prepared, force: bool) -> DocResult:
    """Put one prepared document into the index (the only place ingest writes)."""
    base = {"worker": prep.worker, "node": prep.node, "peak_rss_mb": prep.peak_rss_mb,
            "seconds": dict(prep.seconds)}
    if prep.error or prep.patent is None:
        store.record_source(prep.source, prep.sig, None, "failed", prep.error)
        return DocResult(prep.source, "failed", message=prep.error, **base)
    patent = prep.patent
    if not force and store.patent_status(patent.patent_id) == "complete":
        other = store.patent_source(patent.patent_id)
        if other != prep.source:
            store.record_source(prep.source, prep.sig, patent.patent_id, "complete")
            return DocResult(prep.source, "skipped", patent.patent_id, message=f"already indexed from {other}", **base)
    assert prep.encoders is not None
    store.bind_encoders(*prep.encoders)
    t0 = time.perf_counter()
    for image_path, png in prep.pngs.items():
        (store.root / image_path).write_bytes(png)
    store.add_patent(
        patent, prep.sheets, prep.visual_vectors, prep.text_vectors, prep.passages, prep.passage_vectors,
        source_sig=prep.sig, figure_passages=prep.figure_passages, figure_passage_vectors=prep.figure_passage_vectors,
    )
    if prep.local_features:
        _put_local_features(LocalFeatureStore(store.root), patent.patent_id, prep.local_features, prep.unit_lines,
                            prep.details)
    store.record_source(prep.source, prep.sig, patent.patent_id, "complete")
    base["seconds"]["store"] = time.perf_counter() - t0
    return DocResult(prep.source, "indexed", patent.patent_id, len(prep.pngs), len(prep.sheets), **base)


def _put_local_features(fs: LocalFeatureStore, patent_id: str, blobs: dict[str, bytes],
                        unit_lines: dict[str, bytes], details: dict[str, bytes]) -> None:
    """A patent's local features (ORB's, and verification's SIFT `details`) and its units' lines, and their visual
    words under the index's vocabularies once it has them (`tools.regions` learns them and gives the units written
    before them theirs)."""
    fs.put_patent(patent_id, keypoints.NAME, blobs, unit_lines, (keypoints.SIFT_NAME, details))
    for table, name, feats in ((FEATURES, keypoints.NAME, blobs), (DETAILS, keypoints.SIFT_NAME, details)):
        vocab = visual_words.stored_vocabulary(fs.vocabulary(table), name)
        if vocab is None:  # none yet, or of older features: `tools.regions.build` learns it
            continue
        fs.put_words([(fid, patent_id, visual_words.pack(visual_words.words(vocab, keypoints.unpack(blob))))
                      for fid, blob in feats.items()], vocab.name, table)


DocRef = Path | Member  # a document on disk, or a member of a weekly bundle


@dataclass
class _Todo:
    path: DocRef
    source: str
    sig: str = ""


@dataclass(frozen=True)
class _Unread:
    """A document whose bytes could not be had; it is recorded as failed with the reason."""

    source: str
    error: str


def _triage(store: FigureStore, paths: Sequence[DocRef], force: bool) -> tuple[list[_Todo], list[DocResult]]:
    """Split the inputs into documents to prepare and results known at once (unreadable, already done)."""
    todo: list[_Todo] = []
    done: list[DocResult] = []
    for path in paths:
        if isinstance(path, Member):
            source, sig = path.source, path.sig  # a bundle's listing hashed each member's bytes
        else:
            source = str(Path(path).resolve())
            try:
                sig = source_signature(Path(path))
            except OSError as e:
                done.append(DocResult(source, "failed", message=f"cannot read: {e}"))
                continue
        pid = store.source_done(source, sig)
        if pid and not force:
            done.append(DocResult(source, "skipped", pid, message="already indexed"))
        else:
            todo.append(_Todo(path, source, sig))
    return todo, done


Payload = Path | Blob | _Unread


def _payloads(todo: Sequence[_Todo], as_bytes: bool) -> Iterator[tuple[_Todo, Payload]]:
    """What each document is sent to a preparer as, lazily and in order: its path, or its bytes.

    Bundle members are always bytes, read from their bundle as one stream; with `as_bytes` (a cluster,
    whose nodes share no disk) every document is.
    """
    i = 0
    while i < len(todo):
        t = todo[i]
        if isinstance(t.path, Member):
            group: dict[Member, _Todo] = {}
            while i < len(todo) and isinstance(m := todo[i].path, Member) and m.bundle == t.path.bundle:
                group[m] = todo[i]
                i += 1
            for m, data in read_members(list(group)):
                x = group[m]
                yield x, Blob(x.source, data, "zip") if isinstance(data, bytes) else _Unread(x.source, data)
            continue
        if as_bytes:
            try:
                yield t, blob_of(t.path)
            except OSError as e:
                yield t, _Unread(t.source, f"cannot read: {e}")
        else:
            yield t, t.path
        i += 1


def prepare_payload(parts: Parts, payload: Payload, sig: str, use_ocr: bool) -> Prepared:
    """`prepare_document`, or the failure of a document that could not be read at all."""
    if isinstance(payload, _Unread):
        return _unread(payload, sig)
    return prepare_document(parts, payload, sig, use_ocr)


def _unread(payload: _Unread, sig: str) -> Prepared:
    return Prepared(source=payload.source, sig=sig, error=payload.error, worker=os.getpid())


def _prepared_in_process(parts: Parts, todo: Sequence[_Todo], use_ocr: bool) -> Iterator[Prepared]:
    for t, payload in _payloads(todo, as_bytes=False):
        yield prepare_payload(parts, payload, t.sig, use_ocr)


def _prepared_in_workers(
    factory: PartsFactory, settings: Settings, todo: Sequence[_Todo], use_ocr: bool, workers: int
) -> Iterator[Prepared]:
    """Prepared documents from a pool of worker processes, in the order they finish.

    Closing the iterator early (an error, a stop) terminates the workers at once: a half-prepared
    document is simply prepared again by the next run.
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state in the workers
    pool = ctx.Pool(workers, initializer=init_worker, initargs=(factory, settings, threads))
    tasks = ((payload, t.sig, use_ocr) for t, payload in _payloads(todo, as_bytes=False))  # read as sent
    try:
        yield from pool.imap_unordered(_prepare_task, tasks, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _prepare_task(args: tuple[Payload, str, bool]) -> Prepared:
    payload, sig, use_ocr = args
    return _unread(payload, sig) if isinstance(payload, _Unread) else prepare_in_worker(payload, sig, use_ocr)


Progress = Callable[[DocResult], None]


def ingest_paths(
    services: Services,
    paths: Sequence[DocRef],
    *,
    use_ocr: bool = True,
    force: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
    parts_factory: PartsFactory | None = None,
    stop: threading.Event | None = None,
    ray_address: str | None = None,
) -> IngestReport:
    """Ingest many documents: clean up after an interrupted run, then prepare and write each one.

    With `workers > 1`, documents are read, OCRed and encoded in that many worker processes, each
    building its own models with `parts_factory(settings)`; this process alone writes the index.
    Progress (done of total, the documents in flight, failures, ETA) is kept in the index, where
    `patfig stats` and the web app read it. Setting `stop` ends the run after the current document;
    what was not written is picked up by the next run.

    With `ray_address` ("auto", "HOST:6379"), the documents are prepared as Ray tasks on that cluster's
    nodes instead (`ingest.cluster`; raises ClusterUnavailable when there is none), still written here.
    """
    if (workers > 1 or ray_address) and parts_factory is None:
        raise ValueError("parallel ingest needs a parts_factory to build the models in each worker")
    if ray_address:
        workers = join_cluster(ray_address)
    try:
        return _ingest(services, [p if isinstance(p, Member) else Path(p) for p in paths], use_ocr, force, progress,
                       workers, parts_factory, stop, ray_address)
    finally:
        if ray_address:
            _cluster().disconnect()


def _cluster() -> ModuleType:
    """`ingest.cluster`, imported only when a run asks for a cluster: without `--ray`, Ray is never imported."""
    try:
        from ingest import cluster
    except ImportError as e:
        raise ClusterUnavailable(f"--ray needs Ray on every node: pip install -e '.[cluster]' ({e})") from e
    return cluster


def join_cluster(address: str) -> int:
    """Join the Ray cluster at `address` ("auto" or HOST:PORT) as its driver; how many tasks to keep in flight.

    Raises ClusterUnavailable, in one line that names `ray start`, when there is none (at once, no wait).
    """
    cluster = _cluster()
    return cluster.in_flight_limit(cluster.connect(address))


def _ingest(services: Services, paths: list[DocRef], use_ocr: bool, force: bool, progress: Progress | None,
            workers: int, parts_factory: PartsFactory | None, stop: threading.Event | None,
            ray_address: str | None) -> IngestReport:
    started = time.perf_counter()
    store = services.store
    report = IngestReport(workers=workers)
    report.recovered = store.recover()
    if report.recovered:
        log.warning("removed %d half-indexed patent(s) from an interrupted run: %s",
                    len(report.recovered), ", ".join(report.recovered))
    report.backfilled = backfill_figure_passages(services)
    todo, known = _triage(store, paths, force)
    tracker = _Tracker(store, total=len(paths), queue=[t.source for t in todo], workers=workers)
    for r in known:
        _record(report, tracker, r, progress)
    if ray_address:
        assert parts_factory is not None
        sent = ((t.source, t.sig, payload) for t, payload in _payloads(todo, as_bytes=True))
        stream = _cluster().prepared_on_ray(parts_factory, services.settings, sent, use_ocr, limit=workers)
    elif workers > 1 and len(todo) > 1:
        assert parts_factory is not None
        stream = _prepared_in_workers(parts_factory, services.settings, todo, use_ocr, workers)
    else:
        stream = _prepared_in_process(services, todo, use_ocr)
    try:
        for prep in stream:
            if prep.fatal:
                raise ModelUnavailable(prep.error)
            _record(report, tracker, _write(store, prep, force), progress)
            if stop is not None and stop.is_set():
                tracker.finish("stopped")
                return report
    except (ModelUnavailable, StoreError) as e:
        tracker.finish(str(e))
        raise
    finally:
        stream.close()  # ends the worker processes or Ray tasks, if any are left
    report.wall_seconds = time.perf_counter() - started
    tracker.finish("")
    return report


def backfill_figure_passages(services: Services) -> int:
    """Give the patents of an index written before per-figure passages (core.figure_text) theirs, from the
    stored text: only the text encoder runs, no document is read again. Once per index (marked in meta).
    Returns the number of patents given passages."""
    store = services.store
    if store.meta_flag(FIGURE_PASSAGES_FLAG):
        return 0
    done = 0
    patents = list(store.patents())
    if patents:
        log.warning("giving %d indexed patent(s) their per-figure text passages (once, text encoder only)",
                    len(patents))
    # a bar on a terminal only (disable=None): the web app's background ingest logs the warning line alone
    for patent in tqdm(patents, desc="figure passages", unit="patent", file=sys.stderr, disable=None):
        sheets = store.sheets(patent.patent_id)
        passages = figure_passages(patent, sheets)
        if passages:
            store.add_figure_passages(patent, passages, services.text.embed_texts([p.text for p in passages]))
            done += 1
    store.set_meta_flag(FIGURE_PASSAGES_FLAG)
    return done


def _record(report: IngestReport, tracker: _Tracker, result: DocResult, progress: Progress | None) -> None:
    report.results.append(result)
    tracker.step(result)
    if progress:
        progress(result)


class _Tracker:
    """Keeps the run's progress in the index, for `patfig stats` and the web app."""

    def __init__(self, store: FigureStore, total: int, queue: list[str], workers: int) -> None:
        self.store, self.started, self.workers = store, time.time(), workers
        self.queue = [Path(s).name for s in queue]  # documents still to prepare, in the order they are sent
        self.state: dict = {
            "running": True, "total": total, "done": 0, "indexed": 0, "skipped": 0, "failed": 0,
            "failures": [], "current": self.queue[:workers], "started": self.started,
            "updated": self.started, "eta_seconds": None, "last": "", "error": "", "nodes": {},
        }
        self._prepared = 0
        store.set_progress(self.state)

    def step(self, r: DocResult) -> None:
        s = self.state
        s["done"] += 1
        s[r.status] += 1
        name = Path(r.source).name
        if name in self.queue:
            self.queue.remove(name)
        s["current"] = self.queue[: self.workers]
        if r.status == "failed":
            s["failures"] = (s["failures"] + [{"source": name, "error": r.message}])[-20:]
        s["last"] = f"{r.patent_id or name} {r.status}"
        if r.node:  # ingest on a cluster: documents done per node
            s["nodes"][r.node] = s["nodes"].get(r.node, 0) + 1
        s["updated"] = now = time.time()
        if r.seconds:  # only documents that were prepared say how long the rest will take
            self._prepared += 1
            left = s["total"] - s["done"]
            s["eta_seconds"] = round((now - self.started) / self._prepared * left) if left else 0
        self.store.set_progress(s)

    def finish(self, error: str) -> None:
        self.state.update(running=False, current=[], updated=time.time(), eta_seconds=0, error=error)
        self.store.set_progress(self.state)
