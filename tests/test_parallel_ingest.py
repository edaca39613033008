"""Parallel ingest: worker processes prepare, one writer indexes; the result equals a one-process run.

Real readers on real sample documents, a real Chroma index in a temporary folder; the encoders are the
deterministic fakes of tests/fakes.py, and OCR is off (the slow module test_ingest_ocr covers OCR).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.settings import Settings
from ingest.pipeline import ingest_paths
from patfig.wiring import build_services
from tests.conftest import REPO, sample
from tests.fakes import HashEncoder, fake_models

DOCS = (
    "uspto/US12448527-20251021.ZIP",
    "uspto/US12448730-20251021.ZIP",
    "pdf/EP1577413A1.pdf",
    "pdf/WO2013173195A1.pdf",
    "uspto/US12448249-20251021.ZIP",
)


def _services(root: Path):
    settings = Settings(index_dir=root, visual_encoder="linedraw")
    return build_services(settings, create=True, visual=HashEncoder("fake:img16"), text=HashEncoder())


def snapshot(root: Path) -> dict:
    """Everything an index holds that a search can see: patents, sheets with components, all vectors."""
    s = _services(root)
    try:
        store = s.store
        units = store.sheets()
        sheets = {sh.figure_id: (sh.figs, sh.view, sh.kind, [c.numeral for c in sh.components], sh.width,
                                 sh.box.model_dump() if sh.box else None) for sh in units}
        ids = sorted(sheets)
        vectors = {kind: {k: [round(x, 6) for x in v] for k, v in store.vectors(kind, ids).items()}
                   for kind in ("visual", "text")}
        return {"patents": sorted(p.patent_id for p in store.patents()), "sheets": sheets, "vectors": vectors,
                "passages": store.stats()["passages"],
                "pngs": {sh.image_path: (root / sh.image_path).stat().st_size for sh in units}}
    finally:
        s.close()


@pytest.fixture(scope="module")
def docs() -> list[Path]:
    return [sample(d) for d in DOCS]


def _one_process(root: Path, docs: list[Path], use_ocr: bool) -> Path:
    s = _services(root)
    report = ingest_paths(s, docs, use_ocr=use_ocr)
    s.close()
    assert report.summary()["indexed"] == len(DOCS)
    return root


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory, docs) -> Path:
    """The documents indexed in one process, without OCR."""
    return _one_process(tmp_path_factory.mktemp("one"), docs, use_ocr=False)


@pytest.fixture(scope="module")
def one_worker_ocr(tmp_path_factory, docs) -> Path:
    """The same documents in one process with real OCR (the default engine)."""
    return _one_process(tmp_path_factory.mktemp("one-ocr"), docs, use_ocr=True)


@pytest.mark.slow  # real OCR, and worker processes that read and render real documents
def test_two_workers_equal_one(tmp_path, docs, one_worker_ocr):
    s = _services(tmp_path)
    report = ingest_paths(s, docs, use_ocr=True, workers=2, parts_factory=fake_models)
    s.close()
    summary = report.summary()
    assert summary["indexed"] == len(DOCS) and summary["failed"] == 0
    assert len(summary["peak_memory_mb_per_worker"]) == 2  # both workers took documents
    assert all(r.worker != os.getpid() for r in report.results)
    two, one = snapshot(tmp_path), snapshot(one_worker_ocr)
    assert sum(len(sheet[3]) for sheet in one["sheets"].values()) > 20  # OCR linked components to compare
    assert two == one


def test_progress_is_recorded(tmp_path, docs):
    s = _services(tmp_path)
    seen = []
    ingest_paths(s, docs[:2], use_ocr=False, progress=lambda r: seen.append(s.store.progress()))
    final = s.store.progress()
    s.close()
    assert [p["done"] for p in seen] == [1, 2] and seen[0]["running"] is True
    assert seen[0]["current"] == [docs[1].name] and seen[0]["eta_seconds"] is not None
    assert final["running"] is False and final["indexed"] == 2 and final["total"] == 2


def test_parallel_needs_a_factory(tmp_path, docs):
    s = _services(tmp_path)
    with pytest.raises(ValueError, match="parts_factory"):
        ingest_paths(s, docs, use_ocr=False, workers=2)
    s.close()


@pytest.mark.slow  # worker processes read and render real documents: a minute or more
def test_rerun_skips_everything(tmp_path, docs):
    s = _services(tmp_path)
    ingest_paths(s, docs[:2], use_ocr=False, workers=2, parts_factory=fake_models)
    again = ingest_paths(s, docs[:2], use_ocr=False, workers=2, parts_factory=fake_models)
    s.close()
    assert [r.status for r in again.results] == ["skipped", "skipped"]


RUN = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from core.settings import Settings
    from ingest.pipeline import ingest_paths
    from patfig.wiring import build_services
    from tests.fakes import HashEncoder, fake_models
    s = build_services(Settings(index_dir=Path({root!r}), visual_encoder="linedraw"), create=True,
                       visual=HashEncoder("fake:img16"), text=HashEncoder())
    ingest_paths(s, [Path(p) for p in {docs!r}], use_ocr=False, workers=2, parts_factory=fake_models)
""")


@pytest.mark.slow  # worker processes read and render real documents: a minute or more
def test_kill_9_mid_ingest_then_resume(tmp_path, docs, one_worker):
    root = tmp_path / "killed"
    script = RUN.format(repo=str(REPO), root=str(root), docs=[str(d) for d in docs])
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.time() + 300
    db = root / "patfig.sqlite"
    try:
        while time.time() < deadline and proc.poll() is None:  # wait until at least one document is written
            if db.exists() and _done(db) >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run finished before it could be killed; use more documents"
        os.killpg(proc.pid, signal.SIGKILL)  # the writer and its workers, as a crash or a power cut would
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert 1 <= _done(db) < len(DOCS)
    s = _services(root)
    report = ingest_paths(s, docs, use_ocr=False, workers=2, parts_factory=fake_models)
    s.close()
    statuses = sorted(r.status for r in report.results)
    assert "skipped" in statuses and "indexed" in statuses and "failed" not in statuses
    assert snapshot(root) == snapshot(one_worker)


def _done(db: Path) -> int:
    """Documents the (possibly killed) run has indexed, from the progress it keeps in the index."""
    con = sqlite3.connect(db, timeout=5)
    try:
        row = con.execute("SELECT value FROM meta WHERE key='ingest_progress'").fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        row = None
    finally:
        con.close()
    return json.loads(row[0])["indexed"] if row else 0
