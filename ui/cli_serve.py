"""`patfig serve`: the web app (chat beside the figures) over an index, optionally ingesting in the background."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from ingest.background import BackgroundIngest
from ingest.discover import discover
from runtime.services import Services
from tools.status import ingest_progress
from ui.cli_common import IndexOpt, WorkersOpt, console, fail, open_services, wiring
from ui.cli_index import recalibrate


def serve(
    ctx: typer.Context,
    index: Path | None = IndexOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
    offline: bool = typer.Option(False, "--offline", help="Use the offline planner even if an Ollama server answers."),
    ingest: list[str] = typer.Option(
        [], "--ingest", help="Also ingest these files, folders or globs in the background (repeatable). The app "
        "answers at once; figures become searchable as their documents complete. Stopping the server loses "
        "nothing: the next start resumes.",
    ),
    workers: int = WorkersOpt,
    ocr: bool = typer.Option(True, "--ocr/--no-ocr", help="With --ingest: read numerals on the sheets."),
) -> None:
    """Serve the web app: chat, drawing upload with crop, results, groups, explanations and export."""
    from agent.loop import Agent  # LangChain: only for this command and the chat
    from ui.web.app import launch  # imports gradio, which takes seconds: only for this command

    background = _start_ingest(ctx, index, ingest, workers, ocr) if ingest else None
    services = open_services(ctx, index, offline=True if offline else None)
    stats = services.store.stats()
    if not stats["sheets"] and background is None:
        fail(f"the index at {services.store.root} holds no figures yet: run `patfig ingest PATH --index "
             f"{services.store.root}` first, or serve with --ingest PATH")
    agent = Agent(services)
    status = agent.status()
    mode = (f"chat with {status['model']} via Ollama" if status.get("backend") == "ollama"
            else f"offline planner ({status.get('reason') or 'no LLM'})")
    console.print(f"index {stats['index']}: {stats['patents']} patents, {stats['sheets']} drawing sheets, "
                  f"{stats['figures']} figures; {mode}")
    if background is not None:
        console.print(ingest_progress(services).line())
    console.print(f"open http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port} in a browser "
                  "(Ctrl+C stops)")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` or a service manager stops it as Ctrl+C does
    try:
        launch(services, agent, host=host, port=port, block=True)
    except OSError as e:
        fail(f"cannot serve on {host}:{port}: {e}")
    finally:
        if background is not None:  # the ingest ends after the document being written, and its workers with it;
            background.stop.set()  # exiting with its thread still in the store's native code can crash the exit
            background.join(STOP_WAIT_SECONDS)
        services.close()


STOP_WAIT_SECONDS = 30  # how long a stopping server waits for its background ingest to put down its work


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_ingest(ctx: typer.Context, index: Path | None, paths: list[str], workers: int,
                  ocr: bool) -> BackgroundIngest:
    """Discover the documents and start ingesting them in a background thread with worker processes."""
    docs, problems = discover(paths)
    for p in problems:
        console.print(f"[yellow]warning:[/] {p}")
    if not docs:
        fail("no patent documents found in " + ", ".join(paths) + " (looked for USPTO .ZIP, USPTO folders, .pdf)")
    writer: Services = open_services(ctx, index, create=True)  # the writer's own connection to the index
    console.print(f"ingesting {len(docs)} documents in the background with {min(workers, len(docs))} workers")
    return BackgroundIngest(writer, docs, workers=min(workers, len(docs)), parts_factory=wiring(ctx).parts_factory,
                            use_ocr=ocr and writer.settings.ocr.enabled, on_finish=recalibrate).start()


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the patfig CLI."""
    app.command("serve")(serve)
