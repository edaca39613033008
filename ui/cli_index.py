"""`patfig ingest`, `patfig stats` and `patfig models`: build the index, see what it holds and what encodes it."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.table import Table
from tqdm import tqdm

from core.errors import ClusterUnavailable, ModelUnavailable, StoreError
from core.settings import load_settings
from ingest.discover import discover
from ingest.pipeline import DocResult, IngestReport, ingest_paths, join_cluster
from runtime.services import Services
from tools import regions
from tools.calibrate import calibrate_index
from tools.status import ingest_progress
from ui.cli_common import IndexOpt, JsonOpt, WorkersOpt, console, fail, open_services, out, wiring

log = logging.getLogger(__name__)

STATS_ROWS = ("patents", "sheets", "figures", "figures_with_components", "reference_signs", "linked_numerals",
              "distinct_linked_signs", "passages", "pending_patents")


def ingest(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        ..., help="Files (USPTO .ZIP, .pdf), weekly bundles (.tar, or a .zip holding one), folders (searched "
        "recursively) or globs."),
    index: Path | None = IndexOpt,
    ocr: bool = typer.Option(
        True, "--ocr/--no-ocr", help="Read the numerals and FIG labels on the sheets (engine: PATFIG_OCR__ENGINE)."
    ),
    force: bool = typer.Option(False, "--force", help="Re-index documents even if already indexed."),
    encoder: str | None = typer.Option(
        None, "--visual-encoder",
        help="auto (CLIP if its weights load, else linedraw), clip or linedraw. A new index fetches missing CLIP "
        "weights first when online and PATFIG_OFFLINE is not set (see `patfig models`)."
    ),
    workers: int = WorkersOpt,
    ray: str | None = typer.Option(
        None, "--ray", metavar="ADDRESS",
        help="Prepare the documents as Ray tasks on the cluster at ADDRESS (`auto`: the one `ray start` made "
        "here; HOST:6379) instead of --workers; this process still writes the index. Needs the cluster extra: "
        "pip install -e '.\\[cluster]'."),
    as_json: bool = JsonOpt,
) -> None:
    """Read patent documents, OCR their drawing sheets, and add them to the index.

    Documents are read, OCRed and encoded in parallel worker processes (--workers, default one per core);
    one process writes the index. Idempotent (a document already indexed is skipped) and resumable (an
    interrupted run, even a killed one, is cleaned up and completed by running the same command again).
    Bad documents are reported and skipped; the exit code is 1 if any failed. `patfig stats` shows the
    progress of a running ingest. A weekly bundle is read as a stream (never unpacked to disk), each
    per-patent ZIP in it a document of its own. With --ray, the work runs on a Ray cluster's nodes.
    """
    if ray:  # before anything else: no cluster is one line at once, not a wait
        try:
            join_cluster(ray)
        except ClusterUnavailable as e:
            fail(str(e))
    docs, problems = discover(paths)
    for p in problems:
        console.print(f"[yellow]warning:[/] {p}")
    if not docs:
        fail("no patent documents found in " + ", ".join(paths)
             + " (looked for USPTO .ZIP, USPTO folders, .pdf, .tar bundles)")
    services = open_services(ctx, index, create=True, visual_encoder=encoder)
    bar = tqdm(total=len(docs), unit="doc", desc="ingest", file=sys.stderr, dynamic_ncols=True)
    workers = min(workers, len(docs))
    try:
        if ray:
            console.print(f"{len(docs)} documents, prepared on the Ray cluster at {ray}")
        elif workers == 1:  # in this process: say which encoders before the work starts
            console.print(f"visual encoder: [bold]{services.visual.name}[/]; text encoder: {services.text.name}")
        else:
            console.print(f"{len(docs)} documents, {workers} worker processes")
        report = ingest_paths(services, docs, use_ocr=ocr and services.settings.ocr.enabled, force=force,
                              progress=_progress(bar), workers=workers, parts_factory=wiring(ctx).parts_factory,
                              ray_address=ray)
    except (ModelUnavailable, StoreError, ClusterUnavailable) as e:
        bar.close()
        fail(str(e))
    bar.close()
    if (workers > 1 or ray) and (enc := services.store.encoders()):
        console.print("encoders: " + "; ".join(f"{k} [bold]{v.name}[/]" for k, v in enc.items()))
    _print_report(report, problems, as_json)
    _build_word_index(services)
    if recalibrate(services, report) and not as_json:
        console.print("scores recalibrated on the updated index (`patfig calibrate` shows how)")
    services.close()
    if report.failed or problems:
        raise typer.Exit(1)


def _progress(bar: tqdm) -> Callable[[DocResult], None]:
    """The per-document progress callback: the bar, the sheet count, and failures as they happen."""
    sheets_done = 0
    by_node: dict[str, int] = {}

    def progress(r: DocResult) -> None:
        nonlocal sheets_done
        sheets_done += r.sheets
        by_node[r.node] = by_node.get(r.node, 0) + 1
        nodes = f"; by node {', '.join(f'{k} {v}' for k, v in sorted(by_node.items()) if k)}" if r.node else ""
        bar.set_postfix_str(f"{r.patent_id or Path(r.source).name} {r.status}, {sheets_done} sheets{nodes}")
        if r.status == "failed":
            bar.write(f"failed: {r.source}: {r.message}", file=sys.stderr)
        bar.update(1)

    return progress


def _print_report(report: IngestReport, problems: list[str], as_json: bool) -> None:
    """What an ingest run did: counts, speed, time shares, recovered and failed documents."""
    summary = report.summary()
    summary["problems"] = problems
    if as_json:
        out.print_json(json.dumps(summary))
        return
    counts = f"indexed {summary['indexed']}, skipped {summary['skipped']}, failed {summary['failed']}"
    if summary["sheets"]:
        counts += (f"; {summary['sheets']} sheets ({summary['figures']} figures) at {summary['sheets_per_minute']} "
                   f"sheets/min (time share: {', '.join(f'{k} {v:.0%}' for k, v in summary['share'].items())})")
    elif summary["skipped"] and not summary["indexed"]:
        counts += " (every document was already indexed; --force re-indexes)"
    out.print(counts)
    if summary["documents_per_node"]:
        out.print("by node: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["documents_per_node"].items())))
    if report.recovered:
        out.print(f"cleaned up half-indexed patents from an interrupted run: {', '.join(report.recovered)}")
    for f in summary["failures"]:
        out.print(f"[red]failed[/] {f['source']}: {f['error']}")


def stats(ctx: typer.Context, index: Path | None = IndexOpt, as_json: bool = JsonOpt) -> None:
    """Counts of what the index holds (patents, sheets, linked numerals), the encoders that built it, and the
    progress of a running (or the last) ingest: documents done of total, the current ones, ETA, failures."""
    services = open_services(ctx, index)
    st = services.store.stats()
    progress = ingest_progress(services)
    services.close()
    if as_json:
        out.print_json(json.dumps(st | {"ingest": progress.model_dump()}))
        return
    t = Table(title=f"patfig index {st['index']}", show_header=False)
    t.add_row("ingest", progress.line())
    for key in STATS_ROWS:
        t.add_row(key.replace("_", " "), str(st[key]))
    t.add_row("by office", ", ".join(f"{k} {v}" for k, v in st["by_office"].items()))
    t.add_row("by figure kind", ", ".join(f"{k} {v}" for k, v in st["by_kind"].items()))
    for k, v in st["encoders"].items():
        t.add_row(f"{k} encoder", f"{v['name']} (dim {v['dim']})")
    t.add_row("failed sources", str(len(st["failed_sources"])))
    out.print(t)


def models(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Show which encoders are available here, which one `auto` picks, where their weights are or why not.

    The default visual encoder is PatentCLIP ViT-B (hf-hub:patentclip/PatentCLIP_Vit_B); `patfig models pull`
    fetches its weights, and so does the first `patfig ingest` of a new index when the machine is online and
    PATFIG_OFFLINE is not set. Any open_clip model can be chosen instead: PATFIG_CLIP__MODEL (an hf-hub: name
    or an architecture such as ViT-B-16) with PATFIG_CLIP__PRETRAINED (a tag such as laion400m_e32), or a
    local file with PATFIG_CLIP__CHECKPOINT.
    """
    if ctx.invoked_subcommand:
        return
    rows = wiring(ctx).describe_models(load_settings())
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


def pull(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", help="open_clip model to fetch (default: PATFIG_CLIP__MODEL, PatentCLIP ViT-B): an "
        "hf-hub:org/name model, or an architecture such as ViT-B-16 with --pretrained."),
    pretrained: str | None = typer.Option(
        None, "--pretrained", help="open_clip pretrained tag for an architecture --model, e.g. laion400m_e32."),
) -> None:
    """Fetch the CLIP weights into the local Hugging Face cache, so search works offline afterwards.

    Needs internet; without it this says so within seconds. PATFIG_OFFLINE=1 or HF_HUB_OFFLINE=1 forbid it.
    A model other than the configured one is used only when PATFIG_CLIP__MODEL names it too.
    """
    settings = load_settings()
    if model is not None or pretrained is not None:
        clip = settings.clip.model_copy(update={"model": model or settings.clip.model, "checkpoint": None,
                                                "pretrained": pretrained or ""})
        settings = settings.model_copy(update={"clip": clip})
    console.print(f"fetching CLIP {settings.clip.model} {settings.clip.pretrained}".rstrip())
    started = time.perf_counter()
    try:
        weights = wiring(ctx).pull_models(settings)
    except ModelUnavailable as e:
        fail(str(e))
    size = weights.stat().st_size / 1e6
    out.print(f"CLIP weights in {weights} ({size:.0f} MB, {time.perf_counter() - started:.0f} s)")


def calibrate(ctx: typer.Context, index: Path | None = IndexOpt, as_json: bool = JsonOpt) -> None:
    """Fit the score calibration on the index and store it with the index.

    Scores are calibrated relevances on a fixed 0-1 scale: each modality's raw similarity is mapped by a
    curve fitted on the index's own evaluation protocols (re-identification for drawings, component names
    for words), so a score means the same for every query and `--min-score` is a real cut-off. `patfig
    ingest` refits after every run that adds documents; run this after changing encoders by hand.
    """
    services = open_services(ctx, index)
    _build_word_index(services)
    try:
        notes = calibrate_index(services)
    except (ModelUnavailable, StoreError) as e:
        fail(str(e))
    if as_json:
        out.print_json(json.dumps({"curves": services.store.calibration(), "notes": notes}, indent=2))
    else:
        for modality, note in notes.items():
            console.print(f"{modality}: {note}")
    services.close()


def _build_word_index(services: Services) -> None:
    """Give an index what region queries' word candidates need (`tools.regions.build`): local features for units
    an older ingest did not describe, a vocabulary of each kind (ORB's, SIFT's) learned once, every unit's words;
    with a progress bar when there is work (a new patent's words are written at ingest, so usually there is none)."""
    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="figure", desc="local features, visual words", file=sys.stderr,
                       dynamic_ncols=True)
        bar.total = total
        bar.update(done - bar.n)

    given = regions.build(services, progress)
    if bar is not None:
        bar.close()
    if given:
        console.print(f"{given} figures given visual words for region queries")


def finish_background_ingest(services: Services, report: IngestReport) -> None:
    """What `serve --ingest` does once its documents are in, as `patfig ingest` does: the visual words of region
    queries (`tools.regions.build`; a log line, no bar: the server's terminal is not the user's), then the score
    calibration refitted."""
    given = regions.build(services)
    if given:
        log.info("%d figures given visual words for region queries", given)
    recalibrate(services, report)


def recalibrate(services: Services, report: IngestReport) -> bool:
    """Refit the score calibration when an ingest run added documents. True if it was refitted."""
    if not any(r.status == "indexed" for r in report.results) and not report.backfilled:
        return False
    calibrate_index(services)
    return True


def register(app: typer.Typer) -> None:
    """Add `ingest`, `calibrate`, `stats` and `models` to the patfig CLI."""
    app.command("ingest")(ingest)
    app.command("calibrate")(calibrate)
    app.command("stats")(stats)
    models_app = typer.Typer()
    models_app.callback(invoke_without_command=True)(models)
    models_app.command("pull")(pull)
    app.add_typer(models_app, name="models")
