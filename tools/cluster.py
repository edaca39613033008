"""Group a result set into clusters of similar drawings, name each cluster, and draw a 2-D map of them.

Clustering is k-means on the hits' stored visual vectors; with no k given, k is chosen by the best
silhouette score. Each cluster gets keywords from its sheets' component labels and FIG descriptions,
weighted tf-idf style against the other clusters, and a title: from a `titler` (the agent passes one
backed by an LLM, `agent.titles`) or else the top keywords joined by " · ".
"""

from __future__ import annotations

import logging
import math
import re
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from core.errors import ToolError
from core.textnorm import CONTENT_STOPWORDS, content_words, normalise_label
from core.types import Hit, Sheet
from runtime.services import Services

log = logging.getLogger(__name__)

MAX_AUTO_K = 8
N_KEYWORDS = 6
TITLE_KEYWORDS = 3
MAX_TITLE_CHARS = 80
Titler = Callable[[list[str], list[str]], str]


class Cluster(BaseModel):
    """One group of hits."""

    cluster_id: int  # 1-based; cluster 1 holds the best-ranked hit
    title: str
    title_source: str  # "llm" when a titler named it, "keywords" otherwise
    keywords: list[str] = Field(default_factory=list)
    hits: list[Hit] = Field(default_factory=list)


class ClusterResult(BaseModel):
    """The clusters of a result set and how they were made."""

    k: int
    k_method: str  # "given: k=3" or "silhouette over 2..8: best k=3 (0.41)"
    silhouette: float | None = None  # of the chosen k, when k was chosen by silhouette
    clusters: list[Cluster]
    map_png: str  # the 2-D map (PCA of the visual vectors), an absolute path
    notes: list[str] = Field(default_factory=list)  # e.g. why an LLM title was not used


# ---------------------------------------------------------------- clustering


def _choose_k(vectors: np.ndarray, n: int) -> tuple[int, str, list[int], float | None]:
    """k, how it was chosen, labels and the silhouette of k by silhouette over 2..min(8, n-1), or the trivial
    answers for tiny sets (no silhouette)."""
    from sklearn.metrics import silhouette_score

    distinct = len({tuple(np.round(v, 6)) for v in vectors})
    if distinct < 2:
        return 1, "all hits have the same visual vector: k=1", [0] * n, None
    if n < 3:
        return 2, f"only {n} hits, too few for a silhouette score: k=2", list(range(n)), None
    top = min(MAX_AUTO_K, n - 1, distinct)
    best: tuple[float, int, list[int]] | None = None
    scores = []
    for k in range(2, top + 1):
        labels = _kmeans(vectors, k)
        if len(set(labels)) < 2:
            continue
        s = float(silhouette_score(vectors, labels, metric="cosine"))
        scores.append(f"{k}:{s:.2f}")
        if best is None or s > best[0] + 1e-9:
            best = (s, k, labels)
    if best is None:
        return 1, "k-means found no split: k=1", [0] * n, None
    s, k, labels = best
    return k, f"silhouette over 2..{top}: best k={k} ({s:.2f}); tried {' '.join(scores)}", labels, round(s, 4)


def _kmeans(vectors: np.ndarray, k: int) -> list[int]:
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate points: fewer distinct clusters than k
        model = KMeans(n_clusters=k, n_init=10, random_state=0)  # pyright: ignore[reportArgumentType] (sklearn is untyped)
        return [int(x) for x in model.fit_predict(vectors)]


def _sheet_terms(sheet: Sheet | None, hit: Hit) -> list[str]:
    """The distinct terms one sheet contributes: its component labels (as phrases) and description words."""
    terms: list[str] = []
    if sheet is not None:
        for c in sheet.components:
            label = normalise_label(c.label)
            if label and not label.isdigit() and any(w not in CONTENT_STOPWORDS for w in label.split()):
                terms.append(label)
    description = sheet.description if sheet is not None else hit.description
    terms.extend(content_words(description))
    return list(dict.fromkeys(terms))


def cluster_keywords(groups: Sequence[Sequence[list[str]]], n: int = N_KEYWORDS) -> list[list[str]]:
    """Keywords per cluster: terms frequent in its sheets and rare in the other clusters.

    `groups` holds, per cluster, each sheet's distinct terms. A term's weight in a cluster is the number
    of its sheets that have it times log((1 + K) / (1 + clusters having it)) + 1; a word already inside
    a chosen phrase ("unit" after "gripping unit") is skipped.
    """
    k = len(groups)
    df: Counter[str] = Counter()
    tfs = []
    for sheets in groups:
        tf = Counter(t for terms in sheets for t in terms)
        tfs.append(tf)
        df.update(tf.keys())
    out = []
    for tf in tfs:
        weight = {t: c * (math.log((1 + k) / (1 + df[t])) + 1) for t, c in tf.items()}
        ranked = sorted(weight, key=lambda t: (-weight[t], -len(t.split()), t))
        chosen: list[str] = []
        for t in ranked:
            if any(t in c.split() or c in t.split() for c in chosen):
                continue
            chosen.append(t)
            if len(chosen) == n:
                break
        out.append(chosen)
    return out


def _title(titler: Titler | None, keywords: list[str], descriptions: list[str], cid: int,
           notes: list[str]) -> tuple[str, str]:
    if titler is not None:
        try:
            raw = titler(keywords, descriptions)
        except Exception as e:  # an LLM call can fail in many ways; the keyword title still serves
            log.warning("cluster titler failed: %s", e)
            notes.append(f"Group {cid} is named by its keywords: the language model did not answer.")
        else:
            title = clean_title(raw)
            if title:
                return title, "llm"
            notes.append(f"Group {cid} is named by its keywords: the language model gave an empty title.")
    if keywords:
        return " · ".join(keywords[:TITLE_KEYWORDS]), "keywords"
    return f"group {cid} (no part names or descriptions)", "keywords"


def clean_title(raw: str) -> str:
    """The first line of a model's answer without quotes, a "Title:" prefix or a final full stop."""
    line = next((ln.strip() for ln in str(raw).splitlines() if ln.strip()), "")
    quotes = " \"'`*“”‘’"
    line = re.sub(r"^(title\s*:\s*)", "", line.strip(quotes), flags=re.IGNORECASE)
    line = line.strip(quotes).rstrip(".").strip(quotes)
    return line[:MAX_TITLE_CHARS].rstrip()


# ---------------------------------------------------------------- the map


def _draw_map(path: Path, points: list[list[float]], labels: list[int], ranks: list[int], titles: list[str],
              explained: Sequence[float]) -> None:
    try:
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("the cluster map needs matplotlib: pip install 'matplotlib>=3.8'") from e

    fig = Figure(figsize=(8, 6), dpi=110)  # no pyplot: no global state, safe in the UI's threads
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colours = colormaps["tab10"]
    for cid, title in enumerate(titles):
        idx = [i for i, lab in enumerate(labels) if lab == cid]
        ax.scatter([points[i][0] for i in idx], [points[i][1] for i in idx], s=70, color=colours(cid % 10),
                   label=f"{cid + 1}: {title}"[:60], edgecolors="black", linewidths=0.5)
    # One label per spot: points closer than 2% of the plot's extent share a label ("#2, #4").
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    spots: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        spots.setdefault((round(x / span * 50), round(y / span * 50)), []).append(i)
    for members in spots.values():
        i = members[0]
        text = ", ".join(f"#{ranks[j]}" for j in sorted(members, key=lambda j: ranks[j]))
        ax.annotate(text, (xs[i], ys[i]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)" if len(explained) > 0 else "PC 1")
    ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)" if len(explained) > 1 else "PC 2")
    ax.set_title("Result clusters: k-means on visual vectors, PCA map")
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


# ---------------------------------------------------------------- the tool


def cluster_hits(services: Services, hits: list[Hit], k: int | None = None,
                 titler: Titler | None = None) -> ClusterResult:
    """Cluster result hits by their stored visual vectors (k-means), name the clusters, draw a 2-D map.

    With `k` None, k is chosen by silhouette score over 2..min(8, n-1). Keywords come from each
    cluster's component labels and FIG descriptions (tf-idf against the other clusters); the title comes
    from `titler(keywords, descriptions)` when given, else from the top keywords. Clusters are numbered
    from 1 in the order of their best-ranked hit. The map (PCA of the vectors, coloured by cluster,
    points labelled with their rank) is saved under the index's ``renders`` folder.
    """
    try:
        from sklearn.decomposition import PCA
    except ImportError as e:
        raise ImportError("clustering needs scikit-learn: pip install 'scikit-learn>=1.4'") from e

    n = len(hits)
    if n < 2:
        raise ToolError(f"clustering needs at least 2 results; the current set has {n}")
    if k is not None and (not isinstance(k, int) or not 1 <= k <= n):
        raise ToolError(f"k must be a whole number from 1 to {n} (the number of results), not {k!r}")
    ids = [h.figure_id for h in hits]
    stored = services.store.vectors("visual", ids)
    missing = [i for i in ids if i not in stored]
    if missing:
        raise ToolError(f"figure {missing[0]!r} is not in the index (any more); run the search again")
    vectors = np.asarray([stored[i] for i in ids], dtype=np.float64)

    if k is None:
        k, k_method, labels, silhouette = _choose_k(vectors, n)
    else:
        silhouette = None
        labels = _kmeans(vectors, k) if k > 1 else [0] * n
        k_method = f"given: k={k}"
    # Renumber clusters by their best-ranked hit; k-means may leave a requested cluster empty.
    order = sorted(set(labels), key=lambda lab: min(h.rank for h, x in zip(hits, labels, strict=True) if x == lab))
    remap = {old: new for new, old in enumerate(order)}
    labels = [remap[x] for x in labels]
    k_found = len(order)
    notes: list[str] = []
    if k_found < k:
        notes.append(f"Only {k_found} groups could be made of {k}: some drawings look exactly alike.")

    sheets = {i: services.store.sheet(i) for i in dict.fromkeys(ids)}
    members = [[j for j in range(n) if labels[j] == c] for c in range(k_found)]
    groups = [[_sheet_terms(sheets[ids[j]], hits[j]) for j in m] for m in members]
    keywords = cluster_keywords(groups)

    clusters = []
    for c, m in enumerate(members):
        descriptions = list(dict.fromkeys(hits[j].description for j in m if hits[j].description))
        title, source = _title(titler, keywords[c], descriptions, c + 1, notes)
        clusters.append(Cluster(cluster_id=c + 1, title=title, title_source=source, keywords=keywords[c],
                                hits=sorted((hits[j] for j in m), key=lambda h: h.rank)))

    n_comp = max(1, min(2, n, vectors.shape[1]))
    pca = PCA(n_components=n_comp, random_state=0)
    points = pca.fit_transform(vectors)
    if points.shape[1] == 1:
        points = np.hstack([points, np.zeros((n, 1))])
    out_dir = services.store.root / "renders"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"clusters-{uuid.uuid4().hex[:12]}.png"
    explained = [float(x) for x in np.nan_to_num(pca.explained_variance_ratio_)]
    _draw_map(path, points.tolist(), labels, [h.rank for h in hits], [c.title for c in clusters], explained)
    return ClusterResult(k=k_found, k_method=k_method, silhouette=silhouette, clusters=clusters,
                         map_png=str(path), notes=notes)
