"""Ingest on a real multi-node Ray cluster: the same index as the local process pool, a lost node loses nothing.

The cluster is Ray's own `ray.cluster_utils.Cluster`: a head (no CPUs; the driver connects to it) and two
worker raylets with one CPU each, on this machine, in a temp dir of their own. Real readers on real sample
documents (ZIPs, a PDF, a USPTO folder, and members of a weekly bundle); the encoders are the deterministic
fakes of tests/fakes.py and OCR is the real default engine where it is on. The fast tier runs without Ray:
`--ray` with no cluster, and a run without `--ray` that never imports Ray.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from core.errors import ClusterUnavailable
from ingest.discover import discover
from ingest.pipeline import ingest_paths, join_cluster
from tests.bundle_util import make_bundle
from tests.conftest import REPO, sample
from tests.fakes import fake_models
from tests.test_parallel_ingest import _done, _services, snapshot
from tools.status import ingest_progress

DOCS = ("uspto/US12448527-20251021.ZIP", "pdf/EP1577413A1.pdf", "uspto/USD0907292-20210105",
        "uspto/US12448730-20251021.ZIP")
BUNDLED = ("US12448895-20251021.ZIP", "US12448135-20251021.ZIP")
MB = 1 << 20


# ---------------------------------------------------------------- fast: no cluster, no Ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_with_no_cluster_is_one_clear_line_at_once(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # where `ray start` would have left its address: nothing
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for address in ("auto", f"127.0.0.1:{_free_port()}"):
        t0 = time.perf_counter()
        with pytest.raises(ClusterUnavailable) as e:
            join_cluster(address)
        assert time.perf_counter() - t0 < 20
        assert "\n" not in str(e.value) and "ray start --head" in str(e.value) and address in str(e.value)


NO_RAY = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from core.settings import Settings
from ingest.discover import discover
from ingest.pipeline import ingest_paths, join_cluster
from patfig.wiring import build_services
from tests.fakes import HashEncoder
import ui.cli_index
s = build_services(Settings(index_dir=Path({root!r}), visual_encoder="linedraw"), create=True,
                   visual=HashEncoder("fake:img16"), text=HashEncoder())
docs, problems = discover([{doc!r}])
report = ingest_paths(s, docs, use_ocr=False)
assert report.summary()["indexed"] == 1, report.summary()
print("ray imported:", "ray" in sys.modules)
"""


def test_without_ray_nothing_imports_ray(tmp_path):
    script = NO_RAY.format(repo=str(REPO), root=str(tmp_path / "idx"), doc=str(sample("uspto/US12448895-20251021.ZIP")))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ray imported: False" in run.stdout


# ---------------------------------------------------------------- slow: a real cluster


@pytest.fixture(scope="module")
def cluster():
    """A head without CPUs and two worker raylets with one CPU each; stopped (only these) at the end."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    tmp = tempfile.mkdtemp(prefix="pfray", dir="/tmp")  # short: Ray's socket paths must stay under 107 chars
    old = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = tmp  # `ray start`'s address file goes here, not to the machine's /tmp/ray
    os.makedirs(f"{tmp}/ray")
    small = {"object_store_memory": 80 * MB}
    c = None
    try:
        c = Cluster(initialize_head=True, connect=False,
                    head_node_args={"num_cpus": 0, "include_dashboard": False, "temp_dir": tmp, **small})
        workers = [c.add_node(num_cpus=1, **small) for _ in range(2)]
        c.wait_for_nodes()
        yield c, workers
    finally:
        if c is not None:
            c.shutdown()
        if old is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = old
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    """The sample documents, and a weekly bundle built here from two more sample ZIPs."""
    bundle = make_bundle(tmp_path_factory.mktemp("bundle") / "I20251021.tar", BUNDLED)
    return [str(sample(d)) for d in DOCS] + [str(bundle)]


@pytest.fixture(scope="module")
def local_pool(tmp_path_factory, inputs) -> Path:
    """The inputs indexed by the local process pool, without OCR."""
    root = tmp_path_factory.mktemp("pool")
    docs, problems = discover(inputs)
    assert not problems
    s = _services(root)
    report = ingest_paths(s, docs, use_ocr=False, workers=2, parts_factory=fake_models)
    s.close()
    assert report.summary()["indexed"] == len(DOCS) + len(BUNDLED)
    return root


def _nodes(cluster) -> dict[str, object]:
    c, workers = cluster
    return {w.node_id[:8]: w for w in workers}


@pytest.mark.slow  # a three-raylet cluster and real documents: a minute or two
def test_ray_equals_local_pool(tmp_path, cluster, inputs, local_pool):
    c, workers = cluster
    docs, _ = discover(inputs)
    s = _services(tmp_path)
    report = ingest_paths(s, docs, use_ocr=False, parts_factory=fake_models, ray_address=c.address)
    progress = s.store.progress()
    line = ingest_progress(s).line()  # what `patfig stats` and the web page show
    s.close()
    summary = report.summary()
    assert summary["indexed"] == len(docs) and summary["failed"] == 0
    per_node = summary["documents_per_node"]
    assert sum(per_node.values()) == len(docs)
    assert {k.split("/")[-1] for k in per_node} <= set(_nodes(cluster))
    assert progress["nodes"] == per_node and progress["running"] is False
    assert line.startswith(f"Ingest finished: {len(docs)} indexed") and "by node: " in line
    assert all(f"{k} {v}" in line for k, v in per_node.items())
    assert all(r.worker != os.getpid() for r in report.results)  # prepared in Ray workers, written here
    assert snapshot(tmp_path) == snapshot(local_pool)
    again = _services(tmp_path)
    rerun = ingest_paths(again, docs, use_ocr=False, parts_factory=fake_models, ray_address=c.address)
    again.close()
    assert {r.status for r in rerun.results} == {"skipped"}


@pytest.mark.slow  # real OCR in the Ray workers
def test_ray_with_ocr_equals_one_process(tmp_path, cluster):
    c, _ = cluster
    doc = [sample("uspto/US12448527-20251021.ZIP")]
    one = _services(tmp_path / "one")
    ingest_paths(one, doc, use_ocr=True)
    one.close()
    s = _services(tmp_path / "ray")
    report = ingest_paths(s, doc, use_ocr=True, parts_factory=fake_models, ray_address=c.address)
    s.close()
    assert report.summary()["indexed"] == 1
    got, want = snapshot(tmp_path / "ray"), snapshot(tmp_path / "one")
    assert sum(len(sheet[3]) for sheet in want["sheets"].values()) > 3  # OCR linked components to compare
    assert got == want


@pytest.mark.slow  # kills one worker raylet of the cluster mid-run
def test_a_node_lost_mid_run_loses_nothing(tmp_path, cluster, inputs, local_pool):
    c, workers = cluster
    nodes = _nodes(cluster)
    docs, _ = discover(inputs)
    killed: list[str] = []

    def kill_the_other(r):  # at the first document back, the other node is still in the middle of one
        if not killed and r.node:
            victim = next(k for k in nodes if k != r.node.split("/")[-1])
            c.remove_node(nodes[victim], allow_graceful=False)
            killed.append(victim)

    s = _services(tmp_path)
    try:
        report = ingest_paths(s, docs, use_ocr=False, parts_factory=fake_models, ray_address=c.address,
                              progress=kill_the_other)
    finally:
        s.close()
        if killed:  # give the next test its two nodes back
            workers.remove(nodes[killed[0]])
            workers.append(c.add_node(num_cpus=1, object_store_memory=80 * MB))
            c.wait_for_nodes()
    summary = report.summary()
    assert killed and summary["failed"] == 0 and summary["indexed"] == len(docs)
    assert sorted(r.source for r in report.results) == sorted(d.source if hasattr(d, "source") else str(d)
                                                              for d in docs)  # each once
    survivor = next(k for k in nodes if k != killed[0])
    done_by = {k.split("/")[-1]: v for k, v in summary["documents_per_node"].items()}
    assert sum(done_by.values()) == len(docs) and done_by[survivor] > done_by.get(killed[0], 0)
    assert snapshot(tmp_path) == snapshot(local_pool)


DRIVER = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from core.settings import Settings
from ingest.discover import discover
from ingest.pipeline import ingest_paths
from patfig.wiring import build_services
from tests.fakes import HashEncoder, fake_models
s = build_services(Settings(index_dir=Path({root!r}), visual_encoder="linedraw"), create=True,
                   visual=HashEncoder("fake:img16"), text=HashEncoder())
docs, _ = discover({inputs!r})
ingest_paths(s, docs, use_ocr=False, parts_factory=fake_models, ray_address={address!r})
"""


@pytest.mark.slow  # a driver process killed with SIGKILL mid-run, then the run again
def test_driver_killed_then_rerun_resumes(tmp_path, cluster, inputs, local_pool):
    c, _ = cluster
    root = tmp_path / "killed"
    script = DRIVER.format(repo=str(REPO), root=str(root), inputs=inputs, address=c.address)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, cwd=REPO)
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
    docs, _ = discover(inputs)
    assert 1 <= _done(root / "patfig.sqlite") < len(docs)
    s = _services(root)
    report = ingest_paths(s, docs, use_ocr=False, parts_factory=fake_models, ray_address=c.address)
    s.close()
    assert sorted({r.status for r in report.results}) == ["indexed", "skipped"]
    assert snapshot(root) == snapshot(local_pool)
