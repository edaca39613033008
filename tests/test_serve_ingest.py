"""`patfig serve --ingest`: the app answers while documents are still arriving, and a stop loses nothing.

The real command in a subprocess on a free loopback port, the real readers on real sample documents, a
real Chroma index in a temporary folder; queried through the app's own HTTP API (gradio_client), as a
browser would. OCR is off and the visual encoder is the weight-free one, to keep the run short.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.slow

N_DOCS = 82  # the whole sample folder: 33 PDFs, 9 USPTO ZIPs, 40 design folders (long enough to query mid-way)
DONE = re.compile(r"Indexing: (\d+) of (\d+) documents done")


def samples_dir():
    if not SAMPLES.is_dir():
        pytest.skip(f"sample data not found at {SAMPLES} (set PATFIG_SAMPLE_DATA)")
    return SAMPLES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(index: Path, port: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "patfig", "serve", "--index", str(index), "--port", str(port), "--no-ocr",
            "--workers", "2", "--offline"]
    args += ["--ingest", str(samples_dir())]
    env = os.environ | {"PATFIG_VISUAL_ENCODER": "linedraw", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def client(port: int, proc: subprocess.Popen, timeout: float = 180):
    from gradio_client import Client

    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        try:
            return Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:
            time.sleep(1)
    raise AssertionError(f"the app did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)  # as `kill` or a service manager would; the server stops its workers
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def group_alive(pgid: int) -> bool:
    """Whether any process of the server's process group (its ingest workers) is still running."""
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.5)
    return True


def wait_status(c, predicate, timeout: float = 600) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = c.predict(api_name="/ingest_status")
        if predicate(line):
            return line
        time.sleep(0.5)
    raise AssertionError(f"ingest status never matched; last: {line!r}")


def patents_in(gallery: dict) -> set[str]:
    return {re.match(r"#\d+ (\S+)", tile["caption"]).group(1) for tile in gallery["value"]}


def test_serve_answers_while_ingesting_and_resumes_after_a_stop(tmp_path):
    index, port = tmp_path / "idx", free_port()
    proc = start(index, port)
    try:
        c = client(port, proc)
        line = wait_status(c, lambda s: (m := DONE.search(s)) and 1 <= int(m.group(1)) < int(m.group(2)) - 20)
        reply = c.predict("a device", 0.5, 50, api_name="/send")
        found = patents_in(reply[3])
        assert found, "a search during ingest returns the figures of the documents done so far"
        assert "Results cover only the documents indexed so far" in line
        done_after = int(DONE.search(c.predict(api_name="/ingest_status")).group(1))
        assert len(found) <= done_after < N_DOCS
        stop(proc)  # mid-ingest
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        assert not group_alive(proc.pid), "the ingest workers outlived the server"
        proc = start(index, port)  # the same command again resumes
        c = client(port, proc)
        final = wait_status(c, lambda s: s.startswith("Ingest finished"))
        m = re.search(r"Ingest finished: (\d+) indexed, (\d+) already there, 0 failed", final)
        assert m and int(m.group(1)) + int(m.group(2)) == N_DOCS, final
        assert int(m.group(2)) >= done_after, "what was indexed before the stop is not done again"
        assert f"{N_DOCS} patents (" in final, final
    finally:
        stop(proc)
