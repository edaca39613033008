"""The `patfig` command line: ingest, stats, models, search, facets, eval, chat and serve."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ModelUnavailable, StoreError
from core.settings import Settings, load_settings

app = typer.Typer(
    help="patfig: search patent drawings by sketch, figure, words, or all of them.\n\n"
    "Start with `patfig ingest PATH...` to build an index, then `patfig serve` for the web chat, "
    "`patfig chat` in the terminal, or `patfig search ...` for single queries.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)

IndexOpt = typer.Option(None, "--index", "-i", help="Index folder (default: $PATFIG_INDEX_DIR or data/index).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")


def settings_for(index: Path | None, **extra: object) -> Settings:
    return load_settings(index_dir=index, **extra)


def fail(message: str, code: int = 2) -> None:
    """Print a clear error and exit; never a stack trace for expected problems."""
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def open_services(index: Path | None, create: bool = False, **extra: object):
    from patfig.wiring import build_services

    try:
        return build_services(settings_for(index, **extra), create=create)
    except StoreError as e:
        fail(str(e))


@app.command()
def ingest(
    paths: list[str] = typer.Argument(..., help="Files (USPTO .ZIP, .pdf), folders (searched recursively) or globs."),
    index: Path | None = IndexOpt,
    ocr: bool = typer.Option(True, "--ocr/--no-ocr", help="Read numerals on the sheets with EasyOCR."),
    force: bool = typer.Option(False, "--force", help="Re-index documents even if already indexed."),
    encoder: str | None = typer.Option(
        None, "--visual-encoder", help="auto (CLIP if weights load, else linedraw), clip or linedraw."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Read patent documents, OCR their drawing sheets, and add them to the index.

    Idempotent (a document already indexed is skipped) and resumable (an interrupted run is cleaned up
    and completed by running the same command again). Bad documents are reported and skipped; the exit
    code is 1 if any failed.
    """
    from tqdm import tqdm

    from ingest.discover import discover
    from ingest.pipeline import ingest_paths

    docs, problems = discover(paths)
    for p in problems:
        console.print(f"[yellow]warning:[/] {p}")
    if not docs:
        fail("no patent documents found in " + ", ".join(paths) + " (looked for USPTO .ZIP, USPTO folders, .pdf)")
    services = open_services(index, create=True, visual_encoder=encoder)
    bar = tqdm(total=len(docs), unit="doc", desc="ingest", file=sys.stderr, dynamic_ncols=True)
    sheets_done = 0

    def progress(r) -> None:
        nonlocal sheets_done
        sheets_done += r.sheets
        bar.set_postfix_str(f"{r.patent_id or Path(r.source).name} {r.status}, {sheets_done} sheets")
        if r.status == "failed":
            bar.write(f"failed: {r.source}: {r.message}", file=sys.stderr)
        bar.update(1)

    try:
        console.print(f"visual encoder: [bold]{services.visual.name}[/]; text encoder: {services.text.name}")
        report = ingest_paths(services, docs, use_ocr=ocr and services.settings.ocr.enabled, force=force,
                              progress=progress)
    except (ModelUnavailable, StoreError) as e:
        bar.close()
        fail(str(e))
    bar.close()
    summary = report.summary()
    summary["problems"] = problems
    if as_json:
        out.print_json(json.dumps(summary))
    else:
        out.print(
            f"indexed {summary['indexed']}, skipped {summary['skipped']}, failed {summary['failed']}; "
            f"{summary['sheets']} sheets at {summary['sheets_per_minute']} sheets/min "
            f"(time share: {', '.join(f'{k} {v:.0%}' for k, v in summary['share'].items())})"
        )
        if report.recovered:
            out.print(f"cleaned up half-indexed patents from an interrupted run: {', '.join(report.recovered)}")
        for f in summary["failures"]:
            out.print(f"[red]failed[/] {f['source']}: {f['error']}")
    services.close()
    if report.failed or problems:
        raise typer.Exit(1)


@app.command()
def stats(index: Path | None = IndexOpt, as_json: bool = JsonOpt) -> None:
    """Counts of what the index holds (patents, sheets, linked numerals) and the encoders that built it."""
    services = open_services(index)
    st = services.store.stats()
    services.close()
    if as_json:
        out.print_json(json.dumps(st))
        return
    t = Table(title=f"patfig index {st['index']}", show_header=False)
    for key in ("patents", "sheets", "sheets_with_components", "reference_signs", "linked_numerals",
                "distinct_linked_signs", "passages", "pending_patents"):
        t.add_row(key.replace("_", " "), str(st[key]))
    t.add_row("by office", ", ".join(f"{k} {v}" for k, v in st["by_office"].items()))
    t.add_row("by figure kind", ", ".join(f"{k} {v}" for k, v in st["by_kind"].items()))
    for k, v in st["encoders"].items():
        t.add_row(f"{k} encoder", f"{v['name']} (dim {v['dim']})")
    t.add_row("failed sources", str(len(st["failed_sources"])))
    out.print(t)


@app.command()
def models(as_json: bool = JsonOpt) -> None:
    """Show which encoders are available here, which one `auto` picks, and how to enable the others."""
    from models.factory import describe_models

    rows = describe_models(load_settings())
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    t = Table(title="patfig models")
    for col in ("role", "name", "available", "note"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r.get("role", "")), str(r.get("name", "")), "yes" if r.get("available") else "no",
                  str(r.get("note", "")))
    out.print(t)


def _register_subcommands() -> None:
    """Attach the command groups that live in their own modules."""
    import importlib

    for module in ("ui.cli_search", "ui.cli_chat", "ui.cli_serve"):
        importlib.import_module(module).register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register_subcommands()
    app()


if __name__ == "__main__":
    main()
