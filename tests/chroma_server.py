"""A real Chroma server (`chroma run`, the CLI that ships in the chromadb wheel) on a free loopback port.

Tests start one with `running_chroma(path)`: it waits for the server's heartbeat, yields (host, port), and
stops it (SIGTERM, then SIGKILL), so no server outlives its test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def chroma_cli() -> str:
    """The `chroma` command of the running Python's environment (installed with chromadb)."""
    beside = Path(sys.executable).with_name("chroma")
    if beside.exists():
        return str(beside)
    found = shutil.which("chroma")
    if found is None:
        raise RuntimeError("the `chroma` command is missing: pip install chromadb (it ships the server)")
    return found


def _heartbeat(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api/v2/heartbeat", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_chroma(path: Path, timeout: float = 60) -> Iterator[tuple[str, int]]:
    """`chroma run --path PATH` on a free loopback port for the duration of the block: yields (host, port)."""
    port = free_port()
    log = open(Path(path).with_suffix(".log"), "wb")  # noqa: SIM115 - closed below, after the server stops
    proc = subprocess.Popen([chroma_cli(), "run", "--path", str(path), "--host", HOST, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + timeout
        while not _heartbeat(port):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"chroma run did not answer on port {port}: see {log.name}")
            time.sleep(0.2)
        yield HOST, port
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it has not ended within 15 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def forget_clients(port: int) -> None:
    """Drop chromadb's cached clients of the server at `port` and collect garbage with ResourceWarnings off, so
    that their pooled sockets to the stopped server close quietly now instead of warning at the interpreter's
    exit (chromadb keeps every HttpClient's System, under more than one key, for the life of the process)."""
    import gc
    import warnings

    from chromadb.api.shared_system_client import SharedSystemClient

    cache = SharedSystemClient._identifier_to_system
    for key in [k for k, system in cache.items() if str(system.settings.chroma_server_http_port) == str(port)]:
        cache.pop(key, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
