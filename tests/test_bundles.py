"""USPTO weekly bundles as published: a tar (or a tar in a zip) of per-patent ZIPs, read as a stream.

The bundles are built here, in a temp dir, from the sample ZIPs (tests/bundle_util.py); the ingest is the
real pipeline into a real index, with the deterministic fake encoders of tests/fakes.py and OCR off.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.bundle import Member, is_bundle, list_bundle, read_members
from ingest.discover import discover
from ingest.pipeline import ingest_paths
from tests.bundle_util import CORRUPT, DATED, make_bundle
from tests.conftest import REPO, sample
from tests.test_parallel_ingest import _done, _services, snapshot

SMALL = ("US12448895-20251021.ZIP", "US12448527-20251021.ZIP")


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "I20251021.tar", SMALL, corrupt=True)


def test_members_are_named_listed_and_hashed(bundle):
    members, problems = list_bundle(bundle)
    assert problems == []
    assert [m.name for m in members] == [f"{DATED}/{n}" for n in SMALL] + [CORRUPT]  # the README is no document
    first = members[0]
    assert first.source == f"{bundle.resolve()}!/{DATED}/{SMALL[0]}"
    original = sample(f"uspto/{SMALL[0]}").read_bytes()
    assert first.sig == hashlib.sha1(original).hexdigest() and first.size == len(original)
    got = dict(read_members(members[::-1]))  # asked in any order, read in bundle order, each once
    assert got[first] == original and len(got) == 3


def test_tar_inside_a_zip(tmp_path):
    zipped = make_bundle(tmp_path / "I20251021.zip", SMALL[:1], in_zip=True)
    assert is_bundle(zipped) and not is_bundle(sample(f"uspto/{SMALL[0]}"))
    docs, problems = discover([str(zipped)])
    assert problems == [] and len(docs) == 1
    assert isinstance(docs[0], Member)
    assert docs[0].source == f"{zipped.resolve()}!/I20251021.tar!/{DATED}/{SMALL[0]}"
    [(_, data)] = list(read_members(docs))
    assert data == sample(f"uspto/{SMALL[0]}").read_bytes()


def test_bundle_ingest_indexes_the_rest_and_names_the_corrupt_member(tmp_path, bundle):
    docs, problems = discover([str(bundle)])
    assert problems == [] and len(docs) == 3
    s = _services(tmp_path / "idx")
    report = ingest_paths(s, docs, use_ocr=False)
    sources = {p.patent_id: p.source for p in s.store.patents()}
    s.close()
    summary = report.summary()
    assert summary["indexed"] == 2 and summary["failed"] == 1 and summary["sheets"] > 0
    [failure] = summary["failures"]
    assert failure["source"] == f"{bundle.resolve()}!/{CORRUPT}" and "corrupt ZIP" in failure["error"]
    assert sorted(sources.values()) == sorted(f"{bundle.resolve()}!/{DATED}/{n}" for n in SMALL)


def _direct(root: Path, names) -> Path:
    s = _services(root)
    ingest_paths(s, [sample(f"uspto/{n}") for n in names], use_ocr=False)
    s.close()
    return root


KILLABLE = ("US12448895-20251021.ZIP", "US12448527-20251021.ZIP", "US12448730-20251021.ZIP",
            "US12448135-20251021.ZIP")


@pytest.mark.slow  # a subprocess ingest killed with SIGKILL, then the rest: a minute or so
def test_kill_9_mid_bundle_then_resume_equals_the_zips_from_disk(tmp_path):
    bundle = make_bundle(tmp_path / "I20251021.tar", KILLABLE, in_zip=False)
    docs, _ = discover([str(bundle)])
    root = tmp_path / "killed"
    script = RUN.format(repo=str(REPO), root=str(root), docs=[str(bundle)])
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not (root.exists() and _done(root / "patfig.sqlite")):
            time.sleep(0.2)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert 1 <= _done(root / "patfig.sqlite") < len(KILLABLE)
    s = _services(root)
    report = ingest_paths(s, docs, use_ocr=False)
    s.close()
    assert sorted({r.status for r in report.results}) == ["indexed", "skipped"]
    assert snapshot(root) == snapshot(_direct(tmp_path / "direct", KILLABLE))


RUN = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from core.settings import Settings
from ingest.discover import discover
from ingest.pipeline import ingest_paths
from patfig.wiring import build_services
from tests.fakes import HashEncoder
s = build_services(Settings(index_dir=Path({root!r}), visual_encoder="linedraw"), create=True,
                   visual=HashEncoder("fake:img16"), text=HashEncoder())
docs, _ = discover({docs!r})
ingest_paths(s, docs, use_ocr=False)
"""


@pytest.mark.slow  # two ingests of the same documents
def test_a_bundle_gives_the_index_its_zips_give(tmp_path, bundle):
    docs, _ = discover([str(bundle)])
    s = _services(tmp_path / "idx")
    ingest_paths(s, docs, use_ocr=False)
    s.close()
    assert snapshot(tmp_path / "idx") == snapshot(_direct(tmp_path / "direct", SMALL))


def test_second_run_skips_and_a_stopped_run_resumes(tmp_path, bundle):
    docs, _ = discover([str(bundle)])
    s = _services(tmp_path)
    stop = threading.Event()
    first = ingest_paths(s, docs, use_ocr=False, stop=stop, progress=lambda r: stop.set())
    assert [r.status for r in first.results] == ["indexed"]  # stopped after the first member
    second = ingest_paths(s, docs, use_ocr=False)
    third = ingest_paths(s, docs, use_ocr=False)
    patents = s.store.stats()["patents"]
    s.close()
    assert sorted(r.status for r in second.results) == ["failed", "indexed", "skipped"]
    assert sorted(r.status for r in third.results) == ["failed", "skipped", "skipped"]  # the bad one is tried again
    assert patents == 2


def test_not_a_tar_and_cut_short_are_one_line_each(tmp_path, bundle):
    data = bundle.read_bytes()
    cut = tmp_path / "I20251028.tar"
    cut.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "I20251104.tar"
    junk.write_bytes(b"this is no tar at all\n" * 40)
    empty = tmp_path / "I20251111.tar"
    empty.write_bytes(b"")
    docs, problems = discover([str(cut), str(junk), str(empty)])
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    cut_line, junk_line, empty_line = problems
    assert cut_line.startswith(f"bundle {cut.resolve()} is cut short") and "members read" in cut_line
    assert junk_line.startswith(f"not a tar bundle: {junk.resolve()}")
    assert empty_line.startswith(f"not a tar bundle: {empty.resolve()}")
    assert all(isinstance(d, Member) and d.bundle == cut.resolve() for d in docs)  # the whole members before the cut
    assert 0 < len(docs) < 3


def test_cli_names_each_bad_bundle_in_one_line(tmp_path):
    from patfig.cli import WIRING
    from ui.cli import build_app

    junk = tmp_path / "I20251104.tar"
    junk.write_bytes(b"this is no tar at all\n" * 40)
    res = CliRunner().invoke(build_app(WIRING), ["ingest", str(junk), "--index", str(tmp_path / "idx")])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert f"not a tar bundle: {junk.resolve()}" in text and "no patent documents found" in text
