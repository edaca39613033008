"""`patfig search ...`, `patfig facets` and `patfig eval`: every search tool from the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from core.defaults import DEFAULT_MORE_LIKE_TEXT_WEIGHT, DEFAULT_TEXT_WEIGHT, WEAK_SCORE
from core.errors import StoreError, ToolError
from core.request import nothing_to_search, query_of, shortened
from core.types import Hit
from tools.evaluate import MODES, PROTOCOLS, Subset, evaluate, format_table
from tools.filtering import facet_values, make_filters
from tools.fusion import DEFAULT_METHOD
from tools.lexical import search_lexical, search_passages
from tools.refsigns import find_component, lookup_refsign
from tools.relevance import strength_note
from tools.search import more_like, search_image, search_text
from ui.cli_common import IndexOpt, JsonOpt, console, fail, open_services, out

search_app = typer.Typer(
    help="Search the index once, without the chat. Each subcommand prints a ranked table, or JSON with --json "
    "(every hit with its score breakdown).",
    no_args_is_help=True,
)

KOpt = typer.Option(10, "--k", "-k", help="How many hits (1-100).")
MethodOpt = typer.Option(DEFAULT_METHOD, "--method", help="Fusion of modalities: odds (default: weighted mean of "
                         "the calibrated scores' log-odds), avg (their weighted mean), max, rrf, or minmax (the older "
                         "min-max normalised average).")
MinScoreOpt = typer.Option(0.0, "--min-score", min=0.0, max=1.0, help=(
    "Keep only hits scoring at least this (0-1). Scores are calibrated relevances, the same for every query; "
    f"below {WEAK_SCORE} a match is weak."))
KindOpt = typer.Option(None, "--kind", help="Only figure kinds, comma-separated (see `patfig facets`).")
ViewOpt = typer.Option(None, "--view", help="Only views, comma-separated (perspective, sectional, ...).")
CpcOpt = typer.Option(None, "--cpc", help="Only CPC prefixes, comma-separated: B, B66, B66C.")
OfficeOpt = typer.Option(None, "--office", help="Only offices, comma-separated: US, EP, WO.")
AfterOpt = typer.Option(None, "--after", help="Published on or after (2018 or 2018-05-01).")
BeforeOpt = typer.Option(None, "--before", help="Published on or before.")
ExcludeOpt = typer.Option(None, "--exclude", help="Drop these patent ids, comma-separated.")


def _filters(services, kind, view, cpc, office, after, before, exclude):
    return make_filters(services, kinds=kind, views=view, cpc=cpc, offices=office, date_from=after,
                        date_to=before, exclude_ids=exclude)


def print_hits(hits: list[Hit], as_json: bool, title: str) -> None:
    if as_json:
        out.print_json(json.dumps([h.model_dump(mode="json") for h in hits]))
        return
    if not hits:
        out.print(f"{title}: no hits")
        return
    t = Table(title=title)
    for col in ("#", "patent", "sheet", "FIG", "kind", "view", "score", "by modality: raw→score (#rank)", "matched"):
        t.add_column(col)
    for h in hits:
        mods = " ".join(f"{m} {s.raw:.3f}→{s.calibrated if s.calibrated is not None else s.norm:.2f} (#{s.rank})"
                        for m, s in h.breakdown.modalities.items())
        matched = ", ".join(h.breakdown.matched_terms[:4] + [f"{c.numeral} {c.label}" for c in
                                                             h.breakdown.matched_components[:3]])
        t.add_row(str(h.rank), h.patent_id, str(h.sheet_no), ",".join(h.figs) or "?", h.kind, h.view,
                  f"{h.score:.3f}", mods, escape(matched))
    out.print(t)
    if note := strength_note(hits):
        out.print(note)
    for h in hits:
        for p in h.passages[:2]:
            out.print(f"  #{h.rank} {h.patent_id}: {escape(p[:200])}")


def _run(fn, *args, **kwargs):
    """Call a tool; its error ends the command with the message."""
    try:
        return fn(*args, **kwargs)
    except (ToolError, StoreError) as e:
        fail(str(e))


@search_app.command("text")
def text_cmd(ctx: typer.Context, query: str, index: Path | None = IndexOpt, k: int = KOpt, method: str = MethodOpt,
             kind: str | None = KindOpt, view: str | None = ViewOpt, cpc: str | None = CpcOpt,
             office: str | None = OfficeOpt, after: str | None = AfterOpt, before: str | None = BeforeOpt,
             exclude: str | None = ExcludeOpt, min_score: float = MinScoreOpt, as_json: bool = JsonOpt) -> None:
    """Figures matching words (linked text; plus CLIP text→image when CLIP weights are configured)."""
    words = _words(query, as_json)
    if not words:
        fail(nothing_to_search(" ".join(query.split())))
    s = open_services(ctx, index)
    f = _run(_filters, s, kind, view, cpc, office, after, before, exclude)
    print_hits(_run(search_text, s, words, k=k, filters=f, method=method, min_score=min_score), as_json,
               f"text: {shortened(words)}")


def _words(text: str, as_json: bool) -> str:
    """The words to search with (request words dropped, a long paste cut), said on stderr when they differ."""
    words, note = query_of(" ".join(text.split()))
    if not as_json and (note or (words and words != " ".join(text.split()))):
        console.print(note or f"Searching for '{shortened(words)}' (request words dropped).")
    return words


@search_app.command("image")
def image_cmd(
    ctx: typer.Context,
    image: Path,
    crop: str | None = typer.Option(None, "--crop", help="Region x0,y0,x1,y1 in the image's pixels."),
    text: str | None = typer.Option(None, "--text", help="Words that condition the image query."),
    text_weight: float = typer.Option(DEFAULT_TEXT_WEIGHT, "--text-weight",
                                      help="Weight of the words, 0-1 (with --text)."),
    index: Path | None = IndexOpt, k: int = KOpt, method: str = MethodOpt, kind: str | None = KindOpt,
    view: str | None = ViewOpt, cpc: str | None = CpcOpt, office: str | None = OfficeOpt,
    after: str | None = AfterOpt, before: str | None = BeforeOpt, exclude: str | None = ExcludeOpt,
    min_score: float = MinScoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Figures like an image (a sketch, a figure, or a crop of one), optionally conditioned on words."""
    box = None
    if crop:
        try:
            box = tuple(float(x) for x in crop.split(","))
        except ValueError:
            fail(f"--crop must be four numbers x0,y0,x1,y1, not {crop!r}")
        if len(box) != 4:
            fail(f"--crop must be four numbers x0,y0,x1,y1, not {crop!r}")
    if text:
        given, text = text, _words(text, as_json) or None
        if text is None and not as_json:
            console.print(f"{shortened(given)!r} says nothing about the drawing: searching by the image alone.")
    s = open_services(ctx, index)
    f = _run(_filters, s, kind, view, cpc, office, after, before, exclude)
    hits = _run(search_image, s, str(image), crop=box, text=text, text_weight=text_weight if text else 0.0, k=k,
                filters=f, method=method, min_score=min_score)
    print_hits(hits, as_json, f"image: {image.name}" + (f" + '{text}'" if text else ""))


@search_app.command("like")
def like_cmd(ctx: typer.Context, figure_id: str, index: Path | None = IndexOpt, k: int = KOpt, method: str = MethodOpt,
             text_weight: float = typer.Option(DEFAULT_MORE_LIKE_TEXT_WEIGHT, "--text-weight",
                                               help="Weight of linked text, 0-1."),
             min_score: float = MinScoreOpt, as_json: bool = JsonOpt) -> None:
    """Figures like an indexed figure (id like US12448135-S1)."""
    s = open_services(ctx, index)
    print_hits(_run(more_like, s, figure_id, k=k, text_weight=text_weight, method=method, min_score=min_score),
               as_json,
               f"more like {figure_id}")


@search_app.command("lexical")
def lexical_cmd(ctx: typer.Context, query: str,
                index: Path | None = IndexOpt, k: int = KOpt, as_json: bool = JsonOpt) -> None:
    """Boolean search: 'windmill AND turbine', 'description:nacelle NOT claims:blade', 'title:"wind turbine"'."""
    s = open_services(ctx, index)
    print_hits(_run(search_lexical, s, query, k=k), as_json, f"lexical: {query}")


@search_app.command("passages")
def passages_cmd(ctx: typer.Context, query: str,
                 index: Path | None = IndexOpt, k: int = KOpt, as_json: bool = JsonOpt) -> None:
    """Semantic search over the patents' text: patents and the passages that matched."""
    s = open_services(ctx, index)
    print_hits(_run(search_passages, s, query, k=k), as_json, f"passages: {query}")


@search_app.command("sign")
def sign_cmd(ctx: typer.Context, patent_id: str, sign: str,
             index: Path | None = IndexOpt, as_json: bool = JsonOpt) -> None:
    """A reference sign in a patent (numeral '104' or a name) → its sheets, boxes and sentences."""
    s = open_services(ctx, index)
    r = _run(lookup_refsign, s, patent_id, sign)
    if as_json:
        out.print_json(r.model_dump_json())
        return
    out.print(escape(r.summary()))
    for sent in r.sentences[:5]:
        out.print(f"  - {escape(sent)}")


@search_app.command("component")
def component_cmd(ctx: typer.Context, name: str,
                  index: Path | None = IndexOpt, k: int = KOpt, as_json: bool = JsonOpt) -> None:
    """Figures across the corpus whose OCR-linked components match a name ('nacelle', 'gripping unit')."""
    s = open_services(ctx, index)
    print_hits(_run(find_component, s, name, k=k), as_json, f"component: {name}")


def facets(ctx: typer.Context, index: Path | None = IndexOpt, as_json: bool = JsonOpt) -> None:
    """The filter values the index holds: figure kinds, views, offices, kind codes, CPC prefixes, dates."""
    s = open_services(ctx, index)
    fv = facet_values(s)
    if as_json:
        out.print_json(json.dumps(fv))
        return
    t = Table(title="facets", show_header=False)
    for key in ("kinds", "views", "offices", "kind_codes"):
        t.add_row(key, ", ".join(map(str, fv[key])))
    t.add_row("cpc", ", ".join(f"{c} ({fv['cpc_counts'][c]})" for c in fv["cpc"]))
    t.add_row("dates", " – ".join(map(str, fv["date_range"])))
    out.print(t)


def evaluate_cmd(
    ctx: typer.Context,
    index: Path | None = IndexOpt,
    modes: str = typer.Option(",".join(MODES), "--modes", help=f"Modes, comma-separated, of: {', '.join(MODES)}."),
    protocols: str = typer.Option(",".join(PROTOCOLS), "--protocols",
                                  help=f"Protocols, comma-separated, of: {', '.join(PROTOCOLS)}."),
    patents: str | None = typer.Option(None, "--patents", help=(
        "Only these patents, comma-separated ids (USD907292,EP1577413): their sheets alone query and are ranked.")),
    office: str | None = typer.Option(None, "--office", help=(
        "Only these offices, comma-separated (US,EP,WO): their sheets alone query and are ranked.")),
    design: bool = typer.Option(False, "--design", help=(
        "Only design patents: their sheets alone query and are ranked.")),
    utility: bool = typer.Option(False, "--utility", help=(
        "Only utility patents: their sheets alone query and are ranked.")),
    text_weight: float = typer.Option(DEFAULT_MORE_LIKE_TEXT_WEIGHT, "--text-weight", min=0.0, max=1.0, help=(
        "Weight of the linked text against the drawing in the fused modes (default: that of `search more-like`, "
        "which queries as these protocols do).")),
    as_json: bool = JsonOpt,
) -> None:
    """Retrieval quality on the index: re-identification (DeepPatent), patent families, components → figures,
    design re-identification (each view of a design queries the whole evaluated set; relevant = the other views of
    the same design).

    Reports mAP@50, P@1, R@10 and MRR@10 per mode: visual, linked text, fused odds/avg/max/RRF/min-max; then one
    table of every protocol and mode. --patents, --office and --design/--utility choose the evaluated
    set (combinable, all must hold; --design with --utility takes both): its sheets alone query, and its
    sheets alone are in the gallery that is ranked.
    """
    s = open_services(ctx, index)
    doc_types = [d for d, on in (("design", design), ("utility", utility)) if on]
    subset = Subset(patents=_listed(patents or ""), offices=_listed(office or ""), doc_types=doc_types)
    report = _run(evaluate, s, _listed(modes), _listed(protocols), subset, text_weight)
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        out.print(format_table(report))


def _listed(value: str) -> list[str]:
    """A comma-separated option as a list of its non-empty items."""
    return [x.strip() for x in value.split(",") if x.strip()]


def register(app: typer.Typer) -> None:
    """Add `search ...`, `facets` and `eval` to the patfig CLI."""
    app.add_typer(search_app, name="search")
    app.command("facets")(facets)
    app.command("eval")(evaluate_cmd)
