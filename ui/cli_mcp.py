"""`patfig mcp`: the search tools served to an MCP client over stdin/stdout; `--mcp` of `patfig serve` serves
them over HTTP beside the web app (`start_mcp_http`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.errors import PatfigError
from runtime.services import Services
from ui.cli_common import IndexOpt, console, fail, open_services

if TYPE_CHECKING:
    from ui.mcp_server import HttpServer

MCP_HELP = """Serve patfig's figure search to an AI assistant or editor through MCP (Model Context Protocol), over
stdin/stdout. The MCP client starts this command itself; register it in the client's configuration, e.g.:

    {"mcpServers": {"patfig": {"command": "patfig",
        "args": ["mcp", "--index", "/data/index", "--allow-dir", "/home/me/drawings"]}}}

Tools: search_text, search_image (an image path or base64 data, with an optional crop and words),
more_like_figure, find_component ("which figures show a hydrogen tank"), reference_sign ("what is 107 in
US12448135"), explain_hit and figure_image (a figure's PNG). Results carry figure ids, calibrated scores with
their breakdowns, and image references (patfig://figure/<id> resources, and the sheet's path).

A query image may be named by path only inside the folders given with --allow-dir (or PATFIG_MCP__ALLOWED_DIRS,
separated by ':'); none is allowed by default, and clients then send images as base64. For HTTP instead of
stdin/stdout, use `patfig serve --mcp` (see its --help)."""

AllowDirOpt = typer.Option(
    [], "--allow-dir", help="A folder whose image files MCP clients may name as query images (repeatable; added "
    "to PATFIG_MCP__ALLOWED_DIRS). None by default: clients then send images as base64.",
)


def allowed_dirs(services: Services, extra: list[Path]) -> list[Path]:
    """The folders of the settings and of the command line, each checked to exist."""
    dirs = [*services.settings.mcp.allowed_dirs, *extra]
    missing = [d for d in dirs if not Path(d).expanduser().is_dir()]
    if missing:
        fail(f"the allowed image folder {missing[0]} (--allow-dir or PATFIG_MCP__ALLOWED_DIRS) is not a folder")
    return dirs


def mcp_cmd(ctx: typer.Context, index: Path | None = IndexOpt, allow_dir: list[Path] = AllowDirOpt) -> None:
    from ui.mcp_server import run_stdio  # the mcp SDK takes seconds to import: only for this command

    services = open_services(ctx, index)
    if not services.store.stats()["figures"]:
        fail(f"the index at {services.store.root} holds no figures yet: run `patfig ingest PATH --index "
             f"{services.store.root}` first")
    dirs = allowed_dirs(services, allow_dir)
    console.print(f"patfig MCP server on stdin/stdout over {services.store.root}; image folders allowed: "
                  f"{', '.join(map(str, dirs)) or 'none (base64 images only)'}")
    try:
        run_stdio(services, dirs)
    except KeyboardInterrupt:
        pass
    finally:
        services.close()


def start_mcp_http(services: Services, host: str, port: int) -> HttpServer:
    """`patfig serve --mcp`: the MCP server over HTTP at http://HOST:PORT/mcp in a background thread (its
    handle has `stop()`); a clear error ends the command when it cannot start."""
    from ui.mcp_server import start_http  # the mcp SDK takes seconds to import: only with --mcp

    try:
        handle = start_http(services, host, port, allowed_dirs(services, []))
    except PatfigError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot serve MCP on {host}:{port}: {e}")
    console.print(f"MCP (streamable HTTP) at {handle.url}")
    return handle


def register(app: typer.Typer) -> None:
    """Add `mcp` to the patfig CLI."""
    app.command("mcp", help=MCP_HELP)(mcp_cmd)
