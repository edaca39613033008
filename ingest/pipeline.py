"""Ingest: documents → sheets with OCR-linked components → vectors → the index.

Reading, OCR and encoding (`ingest.prepare`) are a pure map per document; with `workers > 1` they run
in worker processes, and this module is the single writer that puts each finished document into the
index, completely or not at all (see store/index.py on consistency). Running ingest twice adds nothing
twice: a source whose content signature is already indexed is skipped, and a run killed half-way is
cleaned up and resumed by the next one.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ModelUnavailable, StoreError
from core.settings import Settings
from ingest.prepare import (
    Parts,
    PartsFactory,
    Prepared,
    init_worker,
    make_passages,
    prepare_document,
    prepare_in_worker,
)
from models import keypoints
from runtime.services import Services
from store.index import FigureStore
from store.local_features import LocalFeatureStore

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
    peak_rss_mb: float = 0.0  # that process's peak memory


@dataclass
class IngestReport:
    """The outcome of a run: per-document results and where the time went."""

    results: list[DocResult] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # half-indexed patents cleaned up first
    problems: list[str] = field(default_factory=list)  # inputs that named no documents
    workers: int = 1
    wall_seconds: float = 0.0

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
    base = {"worker": prep.worker, "peak_rss_mb": prep.peak_rss_mb, "seconds": dict(prep.seconds)}
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
        source_sig=prep.sig,
    )
    if prep.local_features:
        LocalFeatureStore(store.root).put_patent(patent.patent_id, keypoints.NAME, prep.local_features)
    store.record_source(prep.source, prep.sig, patent.patent_id, "complete")
    base["seconds"]["store"] = time.perf_counter() - t0
    return DocResult(prep.source, "indexed", patent.patent_id, len(prep.pngs), len(prep.sheets), **base)


@dataclass
class _Todo:
    path: Path
    source: str
    sig: str = ""


def _triage(store: FigureStore, paths: Sequence[Path], force: bool) -> tuple[list[_Todo], list[DocResult]]:
    """Split the inputs into documents to prepare and results known at once (unreadable, already done)."""
    todo: list[_Todo] = []
    done: list[DocResult] = []
    for path in paths:
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
            todo.append(_Todo(Path(path), source, sig))
    return todo, done


def _prepared_in_process(parts: Parts, todo: Sequence[_Todo], use_ocr: bool) -> Iterator[Prepared]:
    for t in todo:
        yield prepare_document(parts, t.path, t.sig, use_ocr)


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
    try:
        yield from pool.imap_unordered(_prepare_task, [(t.path, t.sig, use_ocr) for t in todo], chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _prepare_task(args: tuple[Path, str, bool]) -> Prepared:
    return prepare_in_worker(*args)


Progress = Callable[[DocResult], None]


def ingest_paths(
    services: Services,
    paths: Sequence[Path],
    *,
    use_ocr: bool = True,
    force: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
    parts_factory: PartsFactory | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Ingest many documents: clean up after an interrupted run, then prepare and write each one.

    With `workers > 1`, documents are read, OCRed and encoded in that many worker processes, each
    building its own models with `parts_factory(settings)`; this process alone writes the index.
    Progress (done of total, the documents in flight, failures, ETA) is kept in the index, where
    `patfig stats` and the web app read it. Setting `stop` ends the run after the current document;
    what was not written is picked up by the next run.
    """
    if workers > 1 and parts_factory is None:
        raise ValueError("parallel ingest needs a parts_factory to build the models in each worker")
    started = time.perf_counter()
    store = services.store
    report = IngestReport(workers=workers)
    report.recovered = store.recover()
    if report.recovered:
        log.warning("removed %d half-indexed patent(s) from an interrupted run: %s",
                    len(report.recovered), ", ".join(report.recovered))
    todo, known = _triage(store, [Path(p) for p in paths], force)
    tracker = _Tracker(store, total=len(paths), queue=[t.source for t in todo], workers=workers)
    for r in known:
        _record(report, tracker, r, progress)
    if workers > 1 and len(todo) > 1:
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
        stream.close()  # ends the worker processes, if any are left
    report.wall_seconds = time.perf_counter() - started
    tracker.finish("")
    return report


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
            "updated": self.started, "eta_seconds": None, "last": "", "error": "",
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
        s["updated"] = now = time.time()
        if r.seconds:  # only documents that were prepared say how long the rest will take
            self._prepared += 1
            left = s["total"] - s["done"]
            s["eta_seconds"] = round((now - self.started) / self._prepared * left) if left else 0
        self.store.set_progress(s)

    def finish(self, error: str) -> None:
        self.state.update(running=False, current=[], updated=time.time(), eta_seconds=0, error=error)
        self.store.set_progress(self.state)
