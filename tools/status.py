"""The state of the index for a person: how much is searchable, and how far a running ingest has got."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from runtime.services import Services

STALE_SECONDS = 15 * 60  # a "running" ingest that has said nothing for this long was stopped without notice


class IngestProgress(BaseModel):
    """Progress of the latest ingest run, as the writer records it after every document."""

    running: bool = False
    total: int = 0
    done: int = 0
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    current: list[str] = Field(default_factory=list)  # documents being read now
    eta_seconds: int | None = None
    failures: list[dict[str, str]] = Field(default_factory=list)
    nodes: dict[str, int] = Field(default_factory=dict)  # ingest on a Ray cluster: documents done per node
    error: str = ""
    updated: float = 0.0

    def line(self) -> str:
        """One plain sentence: "Indexing: 12 of 82 documents done, 1 failed; now reading X; about 9 min left."."""
        if not self.total:
            return "No ingest has run on this index yet."
        if not self.running:
            verdict = f"Ingest finished: {self.indexed} indexed, {self.skipped} already there, {self.failed} failed"
            if self.error:
                verdict = f"Ingest stopped after {self.done} of {self.total} documents ({self.error})"
            return verdict + (f"; {self.nodes_line()}" if self.nodes else "") + "."
        parts = [f"Indexing: {self.done} of {self.total} documents done"]
        if self.failed:
            parts[0] += f", {self.failed} failed"
        if self.current:
            parts.append("now reading " + ", ".join(self.current))
        if self.eta_seconds:
            parts.append(f"about {_duration(self.eta_seconds)} left")
        if self.nodes:
            parts.append(self.nodes_line())
        return "; ".join(parts) + "."

    def nodes_line(self) -> str:
        """"by node: 10.0.0.5/1a2b3c4d 12, 10.0.0.6/5e6f7a8b 9" (ingest on a Ray cluster), or ""."""
        return ("by node: " + ", ".join(f"{k} {v}" for k, v in sorted(self.nodes.items()))) if self.nodes else ""


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def ingest_progress(services: Services) -> IngestProgress:
    """The latest ingest run's progress. A run that stopped reporting long ago is shown as stopped."""
    raw = services.store.progress()
    if not raw:
        return IngestProgress()
    prog = IngestProgress.model_validate(raw)
    if prog.running and time.time() - prog.updated > STALE_SECONDS:
        prog.running, prog.error = False, "interrupted; run the same ingest again to resume"
    return prog
