"""The `patfig` command line: ingest, stats, models, search, facets, eval, chat and serve.

`build_app(wiring)` assembles the Typer app from the command modules; the program entry point
(`patfig.cli:main`, also `python -m patfig`) gives it the `Wiring` that opens the index.
"""

from __future__ import annotations

import typer

from ui import cli_chat, cli_index, cli_mcp, cli_search, cli_serve, cli_users
from ui.cli_common import Wiring

HELP = (
    "patfig: search patent drawings by sketch, figure, words, or all of them.\n\n"
    "Start with `patfig ingest PATH...` to build an index, then `patfig serve` for the web chat, "
    "`patfig chat` in the terminal, or `patfig search ...` for single queries."
)


def build_app(wiring: Wiring) -> typer.Typer:
    """The `patfig` Typer app; its commands open the index through `wiring`."""
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = wiring

    for module in (cli_index, cli_search, cli_chat, cli_serve, cli_users, cli_mcp):
        module.register(app)
    return app
