"""What every `patfig` command module shares: the consoles, common options, errors, and opening the index.

The commands never build the index or the models themselves: the program entry point (`patfig.cli`) gives
the app a `Wiring`, which `ui.cli.build_app` puts in the Typer context; `open_services(ctx, ...)` uses it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from core.errors import StoreError
from core.settings import Settings, load_settings
from runtime.services import Services

if TYPE_CHECKING:  # ingest's modules load scipy: only the commands that ingest import them
    from ingest.prepare import PartsFactory

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)

IndexOpt = typer.Option(None, "--index", "-i", help="Index folder (default: $PATFIG_INDEX_DIR or data/index).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
WorkersOpt = typer.Option(
    os.cpu_count() or 1, "--workers", "-w", min=1, max=64,
    help="Worker processes that read, OCR and encode documents (default: one per core). One process writes.",
)


@dataclass(frozen=True)
class Wiring:
    """What the program entry point injects into the commands.

    Attributes:
        open_services: Opens the index named by the settings, with its models (built lazily); `create`
            makes a new index where there is none.
        describe_models: Each encoder patfig can use, as rows for `patfig models`.
        parts_factory: Builds the models inside an ingest worker process (a picklable top-level function).
        pull_models: Fetches the configured CLIP weights into the local cache; the weights file, or
            ModelUnavailable saying why not (no network, PATFIG_OFFLINE, a local checkpoint).
    """

    open_services: Callable[[Settings, bool], Services]
    describe_models: Callable[[Settings], list[dict[str, object]]]
    parts_factory: PartsFactory
    pull_models: Callable[[Settings], Path]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error and exit; never a stack trace for expected problems."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, however wide the terminal
    raise typer.Exit(code)


def wiring(ctx: typer.Context) -> Wiring:
    """The `Wiring` the app was built with (found in the Typer context)."""
    found = ctx.find_object(Wiring)
    if found is None:
        raise RuntimeError("no Wiring in the Typer context: build the app with ui.cli.build_app(wiring)")
    return found


def settings_for(index: Path | None, **extra: object) -> Settings:
    """The settings (environment, .env) with the index folder and command-line overrides."""
    return load_settings(index_dir=index, **extra)


def open_services(ctx: typer.Context, index: Path | None, create: bool = False, **extra: object) -> Services:
    """The index at `index` (default from the settings) with its models; a store problem ends the command."""
    try:
        return wiring(ctx).open_services(settings_for(index, **extra), create)
    except StoreError as e:
        fail(str(e))
