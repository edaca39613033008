"""The web app serves several sessions at once, each with its own state: the real `patfig serve` over the real
sample index on a loopback port, three concurrent sessions through its HTTP API (bench/load_test.py, bounded:
one search → refine → explain round each)."""

from __future__ import annotations

import pytest

from bench.load_test import load, running_app

pytestmark = pytest.mark.slow


def test_three_concurrent_sessions_see_only_their_own_state(sample_index_dir, tmp_path):
    log = tmp_path / "serve.log"
    with running_app(sample_index_dir, log=log) as (url, pid):
        report = load(url, sessions=3, rounds=1, server_pid=pid, limit=300)
    assert report["turns"] == 9 and report["unfinished_turns"] == 0
    # A turn's first warning shows in its session's later turns too: the first sample and the app's stack trace
    # say what failed.
    assert report["errors"] == 0, (report["error_samples"][:1], log.read_text()[-4000:])
    assert report["violations"] == []
    assert report["per_kind"]["explain"]["n"] == 3
