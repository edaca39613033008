"""Ingest on a Ray cluster: the per-document work (read, OCR, split, encode) as Ray tasks on every node.

Documents travel as bytes through Ray's object store, so the nodes share no disk; each task returns the
prepared document, and the calling process stays the one writer (`ingest.pipeline`). At most a few tasks
per CPU of the cluster are in flight, so the driver's memory stays flat however many documents there are.
A task whose worker or node dies is retried by Ray on another node; a document that fails every try is
recorded as failed with the reason. Ray is imported only here; `ingest.pipeline` imports this module only
when `--ray` asks for it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError
from ray.job_config import JobConfig

from core.errors import ClusterUnavailable
from core.settings import Settings
from ingest import prepare
from ingest.pipeline import Payload, prepare_payload
from ingest.prepare import Parts, PartsFactory, Prepared

log = logging.getLogger(__name__)

RETRIES = 2  # a task is tried at most 1 + RETRIES times (a lost worker or node, an error in the task)
TASKS_PER_CPU = 2  # in flight: one running and one waiting per CPU, so no node idles between documents
PROBE_SECONDS = 3.0
PROJECT_ROOT = Path(prepare.__file__).resolve().parents[1]  # on a node with this checkout, tasks run its code


def start_hint(address: str) -> str:
    where = "running on this machine (--ray auto)" if address == "auto" else f"at {address}"
    return (f"no Ray cluster {where}: start one with `ray start --head` (and `ray start --address HEAD_IP:6379` "
            "on each other node), then run again; or ingest without --ray")


def _probe(address: str) -> None:
    """Fail fast when nothing listens at the cluster's address (ray.init would wait minutes)."""
    if address.startswith("ray://"):
        return
    resolved = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address  # finds `ray start`'s address

            resolved = canonicalize_bootstrap_address("auto") or ""
        except (ImportError, AttributeError, ConnectionError, ValueError):
            return  # ray.init("auto") says itself, at once, when it finds no cluster
        if not resolved:
            raise ClusterUnavailable(start_hint(address))
    host, _, port = resolved.rpartition(":")
    try:
        socket.create_connection((host or resolved, int(port) if port.isdigit() else 6379), PROBE_SECONDS).close()
    except (OSError, ValueError) as e:
        raise ClusterUnavailable(f"{start_hint(address)} ({e})") from e


def connect(address: str) -> dict[str, float]:
    """Join the Ray cluster at `address` ("auto": the one `ray start` made on this machine) as a driver.

    Returns the cluster's resources. Raises ClusterUnavailable in one line naming `ray start`.
    """
    _probe(address)
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False,
                     job_config=JobConfig(code_search_path=[str(PROJECT_ROOT)]))
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ClusterUnavailable(f"{start_hint(address)} ({str(e).splitlines()[0]})") from e
    resources = ray.cluster_resources()
    if resources.get("CPU", 0) < 1:
        raise ClusterUnavailable(f"the Ray cluster at {address} has no CPUs for ingest tasks: start its nodes "
                                 "with `ray start --num-cpus N`")
    return resources


def disconnect() -> None:
    ray.shutdown()


# ---------------------------------------------------------------- the task, on a node

_BUILT: tuple[str, Parts] | None = None  # the models this worker process built, and for which settings


def _parts(factory: PartsFactory, settings: Settings) -> Parts:
    """The models for these settings, built once per Ray worker process (Ray reuses its workers)."""
    global _BUILT
    key = f"{factory.__module__}.{factory.__qualname__}:{settings.model_dump_json()}"
    if _BUILT is None or _BUILT[0] != key:
        prepare.init_worker(factory, settings, threads=1)  # a task has one CPU
        assert prepare._WORKER_PARTS is not None
        _BUILT = (key, prepare._WORKER_PARTS)
    return _BUILT[1]


def prepare_task(factory: PartsFactory, settings: Settings, payload: Payload, sig: str, use_ocr: bool) -> Prepared:
    """One document on a cluster node: read it from its bytes, OCR, split, encode."""
    prep = prepare_payload(_parts(factory, settings), payload, sig, use_ocr)
    prep.node = f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:8]}"
    return prep


# ---------------------------------------------------------------- the driver


def in_flight_limit(resources: dict[str, float]) -> int:
    return max(2, TASKS_PER_CPU * int(resources.get("CPU", 1)))


def prepared_on_ray(
    factory: PartsFactory, settings: Settings, payloads: Iterator[tuple[str, str, Payload]], use_ocr: bool,
    limit: int,
) -> Iterator[Prepared]:
    """Prepared documents from Ray tasks, in the order they finish; `payloads` gives (source, sig, payload).

    Closing the iterator early cancels the tasks still in flight; what they were doing is done again by the
    next run.
    """
    task: Any = ray.remote(prepare_task).options(max_retries=RETRIES, retry_exceptions=True, num_cpus=1)
    settings_ref = ray.put(settings)
    pending: dict[Any, tuple[str, str]] = {}

    def submit() -> bool:
        item = next(payloads, None)
        if item is None:
            return False
        source, sig, payload = item
        pending[task.remote(factory, settings_ref, payload, sig, use_ocr)] = (source, sig)
        return True

    try:
        while len(pending) < limit and submit():
            pass
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            source, sig = pending.pop(ref)
            try:
                prep = ray.get(ref)
            except RayError as e:  # the task failed on every try: a lost node each time, or an error in it
                reason = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
                prep = Prepared(source=source, sig=sig,
                                error=f"failed on every try ({1 + RETRIES}) on the Ray cluster: {reason}")
            submit()
            yield prep
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
