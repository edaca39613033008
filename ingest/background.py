"""Ingest in the background of a running server: the UI answers at once, figures arrive as documents finish.

The writer runs in a thread of the serving process, so the index it writes is the very one the searches
read (an embedded Chroma index is not shared between processes); reading, OCR and encoding run in worker
processes. Stopping the server mid-ingest loses nothing: what was not written is done by the next start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from ingest.pipeline import DocRef, IngestReport, ingest_paths
from ingest.prepare import PartsFactory
from runtime.services import Services

log = logging.getLogger(__name__)


class BackgroundIngest:
    """One ingest run in a daemon thread, with its own connection to the index."""

    def __init__(
        self,
        services: Services,
        paths: Sequence[DocRef],
        *,
        workers: int,
        parts_factory: PartsFactory,
        use_ocr: bool = True,
        on_finish: Callable[[Services, IngestReport], None] | None = None,
    ) -> None:
        self.services, self.paths = services, list(paths)
        self.on_finish = on_finish  # e.g. refit the score calibration once the new documents are in
        self.workers, self.parts_factory, self.use_ocr = workers, parts_factory, use_ocr
        self.stop = threading.Event()
        self.report: IngestReport | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="patfig-ingest", daemon=True)

    def start(self) -> BackgroundIngest:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.report = ingest_paths(self.services, self.paths, use_ocr=self.use_ocr, workers=self.workers,
                                       parts_factory=self.parts_factory, stop=self.stop)
            if self.on_finish is not None:
                self.on_finish(self.services, self.report)
        except BaseException as e:  # the server goes on serving what is indexed; the progress says why
            self.error = e
            log.error("background ingest stopped: %s", e)
        finally:
            self.services.close()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
