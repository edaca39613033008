"""`patfig serve`: the web app (chat beside the figures) over an index."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.loop import Agent
from ui.cli_common import IndexOpt, console, fail, open_services


def serve(
    ctx: typer.Context,
    index: Path | None = IndexOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
    offline: bool = typer.Option(False, "--offline", help="Use the offline planner even if an Ollama server answers."),
) -> None:
    """Serve the web app: chat, drawing upload with crop, results, groups, explanations and export."""
    from ui.web.app import launch  # imports gradio, which takes seconds: only for this command

    services = open_services(ctx, index, offline=True if offline else None)
    stats = services.store.stats()
    if not stats["sheets"]:
        fail(f"the index at {services.store.root} holds no figures yet: run `patfig ingest PATH --index "
             f"{services.store.root}` first")
    agent = Agent(services)
    status = agent.status()
    mode = (f"chat with {status['model']} via Ollama" if status.get("backend") == "ollama"
            else f"offline planner ({status.get('reason') or 'no LLM'})")
    console.print(f"index {stats['index']}: {stats['patents']} patents, {stats['sheets']} figure sheets; {mode}")
    console.print(f"open http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port} in a browser "
                  "(Ctrl+C stops)")
    try:
        launch(services, agent, host=host, port=port, block=True)
    except OSError as e:
        fail(f"cannot serve on {host}:{port}: {e}")
    finally:
        services.close()


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the patfig CLI."""
    app.command("serve")(serve)
