"""Result sets as CSV or JSON, for a search report: one row per hit with its full score breakdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from core.types import Hit

BASE_COLUMNS = ("rank", "figure_id", "patent_id", "sheet", "figs", "kind", "view", "office", "pub_date", "cpc",
                "title", "score")
TAIL_COLUMNS = ("box", "method", "weights", "matched_terms", "matched_components", "filters")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def modality_names(hits: Sequence[Hit]) -> list[str]:
    """The modalities that occur in any hit's breakdown, in order of first appearance."""
    return list(dict.fromkeys(m for h in hits for m in h.breakdown.modalities))


def hit_row(hit: Hit, modalities: Sequence[str]) -> dict[str, object]:
    """One hit as a flat dict of plain values (lists kept as lists)."""
    bd = hit.breakdown
    row: dict[str, object] = {
        "rank": hit.rank,
        "figure_id": hit.figure_id,
        "patent_id": hit.patent_id,
        "sheet": hit.sheet_no,
        "figs": list(hit.figs),
        "kind": hit.kind,
        "view": hit.view,
        "office": hit.office,
        "pub_date": hit.pub_date,
        "cpc": list(hit.cpc),
        "title": hit.title,
        "score": round(hit.score, 6),
    }
    for m in modalities:
        ms = bd.modalities.get(m)
        row[f"{m}_raw"] = ms.raw if ms else None
        row[f"{m}_norm"] = ms.norm if ms else None
        row[f"{m}_rank"] = ms.rank if ms else None
    row["box"] = [round(v) for v in (hit.box.x0, hit.box.y0, hit.box.x1, hit.box.y1)] if hit.box else None
    row["method"] = bd.method
    row["weights"] = dict(bd.weights)
    row["matched_terms"] = list(bd.matched_terms)
    row["matched_components"] = [f"{c.numeral} {c.label}".strip() for c in bd.matched_components]
    row["filters"] = dict(bd.filters)
    return row


def _cell(value: object) -> str:
    """A CSV cell: lists joined by "; ", dicts as k=v, text guarded against spreadsheet formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        text = "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
    elif isinstance(value, list | tuple):
        text = "; ".join(str(v) for v in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def hits_to_csv(hits: Sequence[Hit]) -> str:
    """CSV with a header: rank, figure_id, patent_id, sheet, figs, kind, view, office, pub_date, cpc, title,
    score, then <modality>_raw/_norm/_rank per modality, the figure's box on its sheet (x0; y0; x1; y1, empty for
    a whole sheet), method, weights, matched terms/components, filters."""
    modalities = modality_names(hits)
    columns = [*BASE_COLUMNS, *(f"{m}_{x}" for m in modalities for x in ("raw", "norm", "rank")), *TAIL_COLUMNS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for h in hits:
        row = hit_row(h, modalities)
        writer.writerow([_cell(row[c]) for c in columns])
    return buf.getvalue()


def hits_to_json(hits: Sequence[Hit]) -> str:
    """JSON report: the query, method and filters (when all hits share them) and one object per hit."""
    modalities = modality_names(hits)
    first = hits[0].breakdown if hits else None
    same = first is not None and all(h.breakdown.query == first.query and h.breakdown.filters == first.filters
                                     for h in hits)
    report = {
        "count": len(hits),
        "query": dict(first.query) if same and first else None,
        "filters": dict(first.filters) if same and first else None,
        "modalities": modalities,
        "hits": [hit_row(h, modalities) | {"passages": list(h.passages)} for h in hits],
    }
    return json.dumps(report, ensure_ascii=False, indent=2, default=str)
