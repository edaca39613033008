"""The ingest command end to end: idempotent, resumable after a crash or a kill, bad documents skipped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from core.settings import Settings
from ingest.pipeline import ingest_paths
from patfig.wiring import build_services
from store.index import FigureStore
from tests.conftest import REPO, sample
from tests.fakes import WordBagEncoder

SMALL = ("uspto/US12448527-20251021.ZIP", "uspto/US12448730-20251021.ZIP", "uspto/US12448895-20251021.ZIP")


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATFIG_VISUAL_ENCODER": "linedraw"}
    return subprocess.run([sys.executable, "-m", "patfig", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def consistent(index: Path) -> dict:
    """Check that Chroma and SQLite agree on what is indexed; return the stats."""
    where = Settings()  # the Chroma server of the environment, if any (PATFIG_TEST_CHROMA=server)
    store = FigureStore.open(index, chroma_host=where.chroma_host, chroma_port=where.chroma_port)
    try:
        st = store.stats()
        assert st["pending_patents"] == 0
        sheet_ids = {s.figure_id for s in store.sheets()}
        for name in ("sheets_visual", "sheets_text"):
            got = store._col(name).get(include=[])["ids"]
            assert sorted(got) == sorted(sheet_ids), name
        pids = {m["patent_id"] for m in store._col("passages").get(include=["metadatas"])["metadatas"]}
        assert pids == store.complete_ids()
        return st
    finally:
        store.close()


@pytest.mark.slow  # `patfig ingest` in a subprocess loads the real text encoder
def test_ingest_is_idempotent_and_reports_bad_documents(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.ZIP").write_bytes(b"PK\x03\x04 this is not really a zip file" * 20)
    good = sample(SMALL[0])
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad / "US99999999-malformed.ZIP", "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.upper().endswith(".XML"):
                data = data[: len(data) // 2]  # truncated XML
            zout.writestr(item, data)
    (bad / "notes.pdf").write_bytes(b"%PDF-1.4\n% not a patent, and not even a complete PDF\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    index = tmp_path / "idx"

    r1 = cli("ingest", str(good), str(sample(SMALL[1])), str(bad), str(empty), "--index", str(index), "--json",
             "--no-ocr")
    assert r1.returncode == 1, r1.stderr + r1.stdout  # something failed → non-zero, but the good ones are indexed
    summary = json.loads(r1.stdout)
    assert summary["indexed"] == 2 and summary["failed"] == 3
    errors = " ".join(f["error"] for f in summary["failures"]).lower()
    assert "zip" in errors and "xml" in errors and "pdf" in errors
    assert any("empty" in p for p in summary["problems"])
    st1 = consistent(index)
    assert st1["patents"] == 2

    r2 = cli("ingest", str(good), str(sample(SMALL[1])), "--index", str(index), "--json", "--no-ocr")
    assert r2.returncode == 0, r2.stderr
    again = json.loads(r2.stdout)
    assert again["indexed"] == 0 and again["skipped"] == 2
    st2 = consistent(index)
    assert (st2["patents"], st2["sheets"], st2["passages"]) == (st1["patents"], st1["sheets"], st1["passages"])

    r2 = cli("ingest", str(good), "--index", str(index), "--no-ocr")  # the line a person reads
    assert r2.returncode == 0, r2.stderr
    assert "indexed 0, skipped 1, failed 0 (every document was already indexed; --force re-indexes)" in r2.stdout

    r3 = cli("stats", "--index", str(index), "--json")
    assert json.loads(r3.stdout)["encoders"]["visual"]["name"].startswith("linedraw:")


def test_crash_mid_patent_leaves_nothing_half_indexed(tmp_path, monkeypatch):
    """A failure after the vectors are written but before the patent completes is cleaned up next run."""
    settings = Settings(index_dir=tmp_path / "idx", visual_encoder="linedraw", ocr={"enabled": False})
    services = build_services(settings, create=True, text=WordBagEncoder())
    docs = [sample(d) for d in SMALL]
    col = services.store._col("passages")
    original = type(col).upsert
    calls = {"n": 0}

    class Crash(BaseException):
        pass

    def crashing_upsert(self, *args, **kwargs):
        if self.name == "passages" or self.name.endswith("-passages"):  # a server's names start with a namespace
            calls["n"] += 1
            if calls["n"] == 2:  # the second patent's sheet vectors are written, its passages are not
                raise Crash("killed while indexing the second patent")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(col), "upsert", crashing_upsert)
    with pytest.raises(Crash):
        ingest_paths(services, docs, use_ocr=False)
    monkeypatch.undo()
    assert services.store.db.execute("SELECT count(*) FROM patents WHERE status='pending'").fetchone()[0] == 1
    report = ingest_paths(services, docs, use_ocr=False)
    assert len(report.recovered) == 1
    assert [r.status for r in report.results] == ["skipped", "indexed", "indexed"]
    services.close()
    assert consistent(settings.index_dir)["patents"] == 3


@pytest.mark.slow  # `patfig ingest` in a subprocess loads the real text encoder
def test_killed_ingest_resumes_to_a_complete_index(tmp_path):
    """SIGKILL a real `patfig ingest` while it writes, run it again: complete and consistent."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for d in SMALL + ("uspto/US12448135-20251021.ZIP", "uspto/US12448249-20251021.ZIP"):
        shutil.copy(sample(d), folder)
    index = tmp_path / "idx"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATFIG_VISUAL_ENCODER": "linedraw"}
    proc = subprocess.Popen([sys.executable, "-m", "patfig", "ingest", str(folder), "--index", str(index),
                             "--no-ocr"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_file = index / "patfig.sqlite"
    deadline = time.time() + 300
    killed_while = None
    while time.time() < deadline and proc.poll() is None:
        if db_file.exists():
            try:
                con = sqlite3.connect(db_file, timeout=0.05)
                rows = dict(con.execute("SELECT status, count(*) FROM patents GROUP BY status").fetchall())
                con.close()
            except sqlite3.Error:
                rows = {}
            if rows.get("pending") or rows.get("complete", 0) >= 2:
                proc.send_signal(signal.SIGKILL)
                killed_while = rows
                break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert killed_while is not None, "ingest finished before it could be killed"
    r = cli("ingest", str(folder), "--index", str(index), "--json", "--no-ocr")
    assert r.returncode == 0, r.stderr
    st = consistent(index)
    assert st["patents"] == 5
