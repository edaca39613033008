"""`patfig serve`: the web app (chat beside the figures) over an index, optionally ingesting in the background."""

from __future__ import annotations

import ipaddress
import signal
from pathlib import Path

import typer

from ingest.background import BackgroundIngest
from ingest.discover import discover
from runtime.services import Services
from tools.status import ingest_progress
from ui.cli_common import IndexOpt, WorkersOpt, console, fail, open_services, wiring
from ui.cli_index import finish_background_ingest
from ui.cli_mcp import start_mcp_http
from ui.ratelimit import DEFAULT_PER_MINUTE
from ui.users import UsersFileError, Verifier


def serve(
    ctx: typer.Context,
    index: Path | None = IndexOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all: needs --auth, "
                             "or --no-auth on purpose)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
    offline: bool = typer.Option(False, "--offline", help="Use the offline planner even if an Ollama server answers."),
    ingest: list[str] = typer.Option(
        [], "--ingest", help="Also ingest these files, folders or globs in the background (repeatable). The app "
        "answers at once; figures become searchable as their documents complete. Stopping the server loses "
        "nothing: the next start resumes.",
    ),
    workers: int = WorkersOpt,
    ocr: bool = typer.Option(True, "--ocr/--no-ocr", help="With --ingest: read numerals on the sheets."),
    auth: Path | None = typer.Option(None, "--auth", help="Ask for a user name and password, checked against this "
                                     "users file (made with `patfig users add NAME --file FILE`)."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve a non-loopback --host without sign-in, on purpose."),
    max_upload_mb: float = typer.Option(25.0, "--max-upload-mb", min=0.001, help="Largest upload accepted, in MB "
                                        "(larger ones are refused with a message)."),
    rate_limit: int = typer.Option(DEFAULT_PER_MINUTE, "--rate-limit", min=0, help="Chat turns per user per minute "
                                   "(per signed-in name, else per client address); 0: no limit."),
    mcp: bool = typer.Option(False, "--mcp", help="Also serve the search tools to MCP clients over streamable HTTP "
                             "at http://HOST:MCP-PORT/mcp (its own port). Off loopback it needs a token "
                             "(PATFIG_MCP__TOKEN; clients send 'Authorization: Bearer <token>'). See `patfig mcp "
                             "--help` for the tools and allowed image folders."),
    mcp_port: int = typer.Option(7861, "--mcp-port", min=1, max=65535, help="Port of the MCP server (with --mcp)."),
) -> None:
    """Serve the web app: chat, drawing upload with crop, results, groups, explanations and export."""
    verifier = _access(host, auth, no_auth)  # before anything slow: a refused start says so at once
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
    limits = (f"uploads up to {max_upload_mb:g} MB, "
              + (f"{rate_limit} chat turns per user per minute" if rate_limit else "no limit on chat turns"))
    who = f"sign-in required ({len(verifier.names())} users in {verifier.path})" if verifier else "no sign-in"
    console.print(f"{who}; {limits}", soft_wrap=True)
    console.print(f"open http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port} in a browser "
                  "(Ctrl+C stops)")
    mcp_server = None
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` or a service manager stops it as Ctrl+C does
    try:
        if mcp:
            mcp_server = start_mcp_http(services, host, mcp_port)
        launch(services, agent, host=host, port=port, block=True, auth=verifier.gradio_auth if verifier else None,
               max_upload_mb=max_upload_mb, rate_limit=rate_limit)
    except OSError as e:
        fail(f"cannot serve on {host}:{port}: {e}")
    finally:
        if mcp_server is not None:
            mcp_server.stop()
        if background is not None:  # the ingest ends after the document being written, and its workers with it;
            background.stop.set()  # exiting with its thread still in the store's native code can crash the exit
            background.join(STOP_WAIT_SECONDS)
        services.close()


STOP_WAIT_SECONDS = 30  # how long a stopping server waits for its background ingest to put down its work


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _access(host: str, auth: Path | None, no_auth: bool) -> Verifier | None:
    """The sign-in checker of --auth (its file read and checked now); refuses an open non-loopback host."""
    if auth is not None and no_auth:
        fail("--auth and --no-auth contradict each other: give one of them")
    if auth is not None:
        try:
            return Verifier(auth)
        except UsersFileError as e:
            fail(str(e))
    if no_auth:
        console.print(f"[bold yellow]warning:[/] --no-auth: serving {host} without sign-in; anyone who can reach it "
                      "can search the index and upload files", soft_wrap=True)
    elif not is_loopback(host):
        fail(f"refusing to serve {host} without sign-in: anyone on the network could use it. Give --auth FILE "
             "(make one with `patfig users add NAME`), or --no-auth to serve it open on purpose")
    return None


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
                            use_ocr=ocr and writer.settings.ocr.enabled, on_finish=finish_background_ingest).start()


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the patfig CLI."""
    app.command("serve")(serve)
