"""Design P@1 misses and the ways of scoring views together, from an index's stored visual vectors.

`patfig eval --modes visual,visual_views` (design and re-identification protocols) is reproduced here in
numpy from the same stored vectors, the index's whitening and its α-query expansion (as
`store.vectors._whitened_query` expands a query), so that many variants can be measured in seconds; the
first rows must equal the eval's. Then:

1. every P@1 miss of the design protocol (each view of a design queries; the design's other views are
   relevant; the query itself is left out), with its first three hits, classified as
   - ``sibling``: the first hit's design shares a priority number with the query's (a family) or the
     applicant and the publication day (designs filed together: one article's variants);
   - ``far``: the query's own design is not in its first 10 (the descriptor does not see its views as
     alike);
   - ``look-alike``: another design's view ranks above the own design's, which is in the first 10;
   and the ink share of the query's picture, for views that are nearly empty;
2. how the patent's best view is weighted against the candidate's own similarity (``views``, `BETA`), and
   other aggregations: the best *other* view of the candidate's patent, the mean of its two or three best
   views, and k-reciprocal re-ranking (Zhong et al., 2017) of the first 100;
3. issue 18's learned step on the frozen features: a learned whitening (Radenović et al., 2018) whose
   matching pairs are the units of one patent (known from the documents, no labelling), fitted on one
   half of the patents and measured on the other, both ways.

Each variant is measured on the whole index and on each half of the patents as its own gallery (md5 of
the id, as bench/region_verify.py and `patfig eval --patents <half>` do); half A is the tuning half.

    python bench/design_aggregation.py --index /tmp/copy_of_index [--out design_aggregation.txt]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.settings import Settings  # noqa: E402
from ingest.segment import figure_crop  # noqa: E402
from models.linedraw import ink_box  # noqa: E402
from patfig.wiring import build_services  # noqa: E402
from tools import views  # noqa: E402
from tools.evaluate import K, _doc_info  # noqa: E402
from tools.fusion import clipped_logit  # noqa: E402
from tools.relevance import curves_for  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
Ranker = Callable[[int, np.ndarray], np.ndarray]  # (query row, gallery mask) -> gallery rows, best first


def half(patent_id: str) -> str:
    return "A" if int(hashlib.md5(patent_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def expanded(w: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Each row's αQE query as the store makes it: its k nearest rows of the whole table (identical rows,
    such as the query's own, skipped among the first k + 1) added with weight similarity^alpha."""
    s = w @ w.T
    out = np.empty_like(w)
    for r in range(len(w)):
        near = [j for j in np.argsort(-s[r])[: k + 1] if s[r, j] < 1 - 1e-4][:k]
        out[r] = unit(w[r] + (np.clip(s[r, near], 0, None) ** alpha) @ w[near])
    return out


class Bench:
    """The units, their patents and the query-by-gallery similarities of one vector space."""

    def __init__(self, pid: np.ndarray, design: np.ndarray, logit: Callable[[np.ndarray], np.ndarray]) -> None:
        self.pid, self.design, self.logit = pid, design, logit
        self.halves = np.array([half(p) for p in pid])
        self.sim = np.zeros((len(pid), len(pid)), dtype=np.float32)

    def queries(self, protocol: str, gallery: np.ndarray) -> list[int]:
        kinds = self.design if protocol == "design" else np.ones(len(self.pid), bool)
        n = Counter(self.pid[gallery & kinds])
        return [int(r) for r in np.flatnonzero(gallery & kinds) if n[self.pid[r]] > 1]

    def metrics(self, rank: Ranker, protocol: str, part: str | None = None) -> tuple[float, float, int]:
        """mAP@50 and P@1 as `tools.evaluate` computes them, with `part` ("A", "B") as the whole gallery."""
        gallery = np.ones(len(self.pid), bool) if part is None else self.halves == part
        aps, p1 = [], []
        for r in self.queries(protocol, gallery):
            mask = gallery.copy()
            mask[r] = False
            order = rank(r, mask)[:K]
            rel = self.pid[order] == self.pid[r]
            n_rel = int((mask & (self.pid == self.pid[r])).sum())
            aps.append(float((np.cumsum(rel) / np.arange(1, len(order) + 1) * rel).sum() / min(n_rel, K)))
            p1.append(float(rel[0]))
        return float(np.mean(aps)), float(np.mean(p1)), len(aps)

    def visual(self, r: int, mask: np.ndarray) -> np.ndarray:
        s = np.where(mask, self.sim[r], -np.inf)
        return np.argsort(-s, kind="stable")[: int(mask.sum())]

    def views(self, beta: float, agg: str = "max", m: int = 1) -> Ranker:
        """The visual score fused (odds, the visual curve for both) with an aggregate of the candidate's
        patent's views, over the first K candidates and every unit of the first `views.TOP_PATENTS` patents
        (as `tools.evaluate._views_ranking`). agg: "max" (the patent's best view, the candidate included:
        `tools.views.patent_best`), "other" (the best of its other views), "mean" (the mean of its m best)."""

        def rank(r: int, mask: np.ndarray) -> np.ndarray:
            order = self.visual(r, mask)
            first = list(order[:K])
            pats = list(dict.fromkeys(self.pid[j] for j in first))[: views.TOP_PATENTS]
            seen = set(first)
            cand = np.array(first + [j for j in np.flatnonzero(mask & np.isin(self.pid, pats)) if j not in seen])
            s = self.sim[r, cand]
            by: dict[str, list[float]] = defaultdict(list)
            for j, v in zip(cand, s, strict=True):
                by[str(self.pid[j])].append(float(v))
            for p in by:
                by[p].sort(reverse=True)
            agg_s = []
            for j, v in zip(cand, s, strict=True):
                g = by[str(self.pid[j])]
                if agg == "max":
                    agg_s.append(g[0])
                elif agg == "other":
                    rest = list(g)
                    rest.remove(float(v))
                    agg_s.append(rest[0] if rest else 0.0)
                else:
                    agg_s.append(float(np.mean(g[:m])))
            f = (1 - beta) * self.logit(s) + beta * self.logit(np.array(agg_s))
            return cand[np.lexsort((cand, -f))]

        return rank

    def k_reciprocal(self, gallery_sim: np.ndarray, k1: int, k2: int, lam: float, pool: int = 100) -> Ranker:
        """Zhong et al. (2017) re-ranking of the first `pool` candidates, on their own similarity graph."""

        def rank(r: int, mask: np.ndarray) -> np.ndarray:
            order = self.visual(r, mask)
            cand = order[:pool]
            n = len(cand) + 1
            loc = np.empty((n, n))
            loc[0, 0], loc[0, 1:], loc[1:, 0] = 1.0, self.sim[r, cand], self.sim[r, cand]
            loc[1:, 1:] = gallery_sim[np.ix_(cand, cand)]
            dist = np.clip(2 - 2 * loc, 0, None)
            dist = dist / np.max(dist, axis=0, keepdims=True)
            near = np.argsort(dist, axis=1)
            v = np.zeros((n, n))
            for i in range(n):
                fwd = near[i, : k1 + 1]
                recip = fwd[np.any(near[fwd, : k1 + 1] == i, axis=1)]
                grown = recip.copy()
                for c in recip:
                    h = int(np.around(k1 / 2)) + 1
                    cf = near[c, :h]
                    crec = cf[np.any(near[cf, :h] == c, axis=1)]
                    if len(np.intersect1d(crec, recip)) > 2 / 3 * len(crec):
                        grown = np.append(grown, crec)
                grown = np.unique(grown)
                w = np.exp(-dist[i, grown])
                v[i, grown] = w / w.sum()
            if k2 > 1:
                v = np.array([v[near[i, :k2]].mean(0) for i in range(n)])
            jac = 1 - np.minimum(v[0], v).sum(1) / np.maximum(np.maximum(v[0], v).sum(1), 1e-12)
            final = ((1 - lam) * jac + lam * dist[0])[1:]
            return np.concatenate([cand[np.argsort(final, kind="stable")], order[pool:]])

        return rank


def learned_whitening(x: np.ndarray, pid: np.ndarray, rows: np.ndarray, pre: int = 128, dims: int = 64,
                      eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Radenović et al.'s learned whitening fitted on `rows`: PCA to `pre` dims, whitening by the scatter of
    matching pairs (the units of one patent, each patent weighted alike), then the principal axes of the
    result. Returns (mean, projection)."""
    mu = x[rows].mean(0)
    xc = x - mu
    _, _, vt = np.linalg.svd(xc[rows], full_matrices=False)
    p0 = vt[:pre]
    z = xc @ p0.T
    groups: dict[str, list[int]] = defaultdict(list)
    for j in rows:
        groups[str(pid[j])].append(int(j))
    cs, n_groups = np.zeros((pre, pre)), 0
    for g in groups.values():
        if len(g) < 2:
            continue
        zg, n = z[g], len(g)
        total = zg.sum(0)
        cs += (2 * n * zg.T @ zg - 2 * np.outer(total, total)) / (n * (n - 1))
        n_groups += 1
    cs = cs / n_groups + eps * np.trace(cs / n_groups) / pre * np.eye(pre)
    ev, vec = np.linalg.eigh(cs)
    inv_sqrt = vec @ np.diag(ev**-0.5) @ vec.T
    y = z[rows] @ inv_sqrt.T
    ev2, vec2 = np.linalg.eigh(np.cov(y.T))
    top = np.argsort(-ev2)[:dims]
    return mu, vec2[:, top].T @ inv_sqrt @ p0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", default="design_aggregation.txt")
    args = ap.parse_args()
    services = build_services(Settings(index_dir=args.index))
    store = services.store
    units = store.sheets()
    ids = [u.figure_id for u in units]
    raw = store.vectors("visual", ids)
    x = np.array([raw[i] for i in ids], dtype=np.float64)
    white = store.whitening()
    if white is None:
        raise SystemExit("the index has no visual whitening: run `patfig calibrate` on it first")
    info = _doc_info(services, units)
    pid = np.array([u.patent_id for u in units])
    design = np.array([info[p][1] == "design" for p in pid])
    curve = curves_for(services, ("visual",))["visual"]
    logit = np.vectorize(lambda s: clipped_logit(curve(float(s))))
    b = Bench(pid, design, logit)
    w = white.apply(x.astype(np.float32))
    b.sim = expanded(w, white.qe_k, white.qe_alpha) @ w.T

    lines = [(__doc__ or '').splitlines()[0],
             f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores, "
             f"{platform.processor() or platform.machine()}, shared, load average {os.getloadavg()[0]:.2f}",
             f"index: {args.index}: {len(units)} units of {len(set(pid))} patents ({int(design.sum())} units of "
             f"{len(set(pid[design]))} designs); {white.encoder}, whitening {white.dim} dims, αQE k={white.qe_k}",
             "", "mAP@50 / P@1; whole index, then each half of the patents as its own gallery (A: tuning half)"]

    def row(name: str, rank: Ranker, protocols: tuple[str, ...] = ("design", "reid")) -> None:
        cells = []
        for p in protocols:
            for part in (None, "A", "B"):
                m, p1, n = b.metrics(rank, p, part)
                cells.append(f"{m:.3f} / {p1:.3f}")
        lines.append(f"  {name:<44} " + "  ".join(f"{c:>13}" for c in cells))
        print(lines[-1], flush=True)

    head = "  ".join(f"{p + ('' if h is None else ' ' + h):>13}" for p in ("design", "reid") for h in (None, "A", "B"))
    lines.append(f"  {'variant':<44} {head}")
    row("visual (patfig eval: visual)", b.visual)
    row(f"views, best view, beta {views.BETA} (eval: visual_views)", b.views(views.BETA))

    # 1. the misses
    vis = b.visual
    misses = []
    pats = {p.patent_id: p for p in store.patents()}

    def siblings(p: str, q: str) -> bool:
        a, c = pats[p], pats[q]
        family = bool(set(a.priority_numbers) & set(c.priority_numbers))
        return family or (bool(set(a.applicants) & set(c.applicants)) and a.pub_date == c.pub_date)

    kinds: Counter[str] = Counter()
    everyone = np.ones(len(ids), bool)
    for r in b.queries("design", everyone):
        mask = everyone.copy()
        mask[r] = False
        order = vis(r, mask)
        if pid[order[0]] == pid[r]:
            continue
        own = int(np.flatnonzero(pid[order] == pid[r])[0]) + 1
        kind = "sibling" if siblings(str(pid[r]), str(pid[order[0]])) else "far" if own > 10 else "look-alike"
        kinds[kind] += 1
        with Image.open(store.image_path(units[r])) as im:
            ink = float(ink_box(figure_crop(im.convert("RGB"), units[r].box)).mean())
        misses.append(f"  {ids[r]} [{half(pid[r])}] {units[r].view or '-'} of '{pats[str(pid[r])].title}': {kind}; "
                      f"own design first at {own}; ink share {ink:.3f}")
        for j in order[:3]:
            mark = "OWN" if pid[j] == pid[r] else "   "
            misses.append(f"      {mark} {ids[j]:<24} {units[j].view or '-':<12} {b.sim[r, j]:.3f}  "
                          f"{pats[str(pid[j])].title[:50]}")
    lines[3:3] = ["", f"design P@1 misses of the visual ranking (= those of visual_views): {sum(kinds.values())}: "
                  + ", ".join(f"{k} {v}" for k, v in kinds.most_common()), *misses]

    # 2. aggregations
    lines += ["", "the patent's best view weighted beta against the candidate's own similarity"]
    for beta in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9):
        row(f"views, best view, beta {beta}", b.views(beta))
    lines += ["", "other aggregations of the candidate's patent"]
    for beta in (0.5, 0.7):
        row(f"best other view, beta {beta}", b.views(beta, "other"))
        row(f"mean of the 2 best views, beta {beta}", b.views(beta, "mean", 2))
        row(f"mean of the 3 best views, beta {beta}", b.views(beta, "mean", 3))
    gallery_sim = w @ w.T
    for k1, k2, lam in ((20, 6, 0.3), (10, 3, 0.3), (6, 2, 0.5)):
        row(f"k-reciprocal k1 {k1} k2 {k2} lambda {lam}", b.k_reciprocal(gallery_sim, k1, k2, lam))

    # 3. learned whitening, fitted on one half, measured on the other
    lines += ["", "learned whitening (pairs: the units of one patent) in place of the PCA whitening, with the same "
              "αQE; fitted on one half (its own numbers are in-sample), measured on the other"]
    for fit in ("A", "B"):
        mu, proj = learned_whitening(x, pid, np.flatnonzero(b.halves == fit))
        lw = unit((x - mu) @ proj.T).astype(np.float32)
        b.sim = expanded(lw, white.qe_k, white.qe_alpha) @ lw.T
        row(f"learned whitening fitted on {fit}: visual", b.visual)
        row(f"learned whitening fitted on {fit}: views beta {views.BETA}", b.views(views.BETA))
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(text)
    services.close()


if __name__ == "__main__":
    main()
