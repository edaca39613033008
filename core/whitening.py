"""PCA whitening learned on an index's own visual vectors, and α-query expansion (Radenović et al., 2018).

Whitening centres the vectors on the gallery mean, rotates them onto the principal axes, keeps ``dims`` of
them and divides each by its standard deviation to the power ``power`` (1: full whitening), then
L2-normalises. It removes what every drawing shares (white paper, thin lines), which dominates a raw cosine.
αQE replaces a query by the normalised sum of itself and its ``k`` nearest gallery vectors, each weighted
by its similarity to the power ``alpha``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

MIN_ROWS = 8  # fewer gallery vectors than this fit no whitening


@dataclass(frozen=True)
class Whitening:
    """A fitted whitening: x ↦ unit((x - mean) @ proj.T), and the query expansion to use with it."""

    mean: np.ndarray  # (D,) float32
    proj: np.ndarray  # (d, D) float32
    encoder: str  # the encoder whose vectors it was fitted on
    rows: int  # how many vectors it was fitted on
    qe_k: int = 0  # α-query expansion of image queries: neighbours added (0: none)
    qe_alpha: float = 3.0

    @property
    def dim(self) -> int:
        """Dimensions after whitening."""
        return int(self.proj.shape[0])

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Whitened unit rows of ``x`` ((n, D) or (D,)), float32."""
        y = (np.asarray(x, dtype=np.float32) - self.mean) @ self.proj.T
        norm = np.linalg.norm(y, axis=-1, keepdims=True)
        return (y / np.maximum(norm, 1e-12)).astype(np.float32)

    def to_bytes(self) -> bytes:
        """The whitening as an .npz blob (for the index's meta table)."""
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, proj=self.proj, encoder=np.array(self.encoder), rows=np.array(self.rows),
                 qe=np.array([self.qe_k, self.qe_alpha], dtype=np.float64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Whitening:
        """The whitening saved by :meth:`to_bytes`."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            qe = z["qe"]
            return cls(z["mean"].astype(np.float32), z["proj"].astype(np.float32), str(z["encoder"]), int(z["rows"]),
                       int(qe[0]), float(qe[1]))


def fit_whitening(x: np.ndarray, dims: int, power: float = 1.0, encoder: str = "", qe_k: int = 0,
                  qe_alpha: float = 3.0) -> Whitening:
    """PCA whitening of the rows of ``x`` keeping ``dims`` axes (at most rows - 1 and the input dim)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < MIN_ROWS:
        raise ValueError(f"whitening needs at least {MIN_ROWS} vectors, got {len(x)}")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    d = max(1, min(dims, len(x) - 1, x.shape[1], int((s > 1e-9 * s[0]).sum())))
    std = s[:d] / np.sqrt(len(x) - 1)
    proj = vt[:d] / (std[:, None] ** power)
    return Whitening(mean.astype(np.float32), proj.astype(np.float32), encoder, len(x), qe_k, qe_alpha)


def expand_query(q: np.ndarray, neighbours: np.ndarray, sims: np.ndarray, alpha: float) -> np.ndarray:
    """One αQE step: unit(q + Σ max(s_i, 0)^α · n_i) for a query ``q`` and its neighbour rows and similarities."""
    w = np.clip(np.asarray(sims, dtype=np.float32), 0, None) ** alpha
    out = np.asarray(q, dtype=np.float32) + w @ np.asarray(neighbours, dtype=np.float32).reshape(len(w), -1)
    return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)


def alpha_qe(q: np.ndarray, db: np.ndarray, k: int = 3, alpha: float = 3.0,
             exclude: np.ndarray | None = None) -> np.ndarray:
    """α-query expansion of unit query rows ``q`` (n, D) over unit gallery rows ``db`` (m, D).

    ``exclude`` (n,) gives, per query, a gallery row to leave out of its neighbours (the query itself in a
    leave-one-out evaluation), or -1.
    """
    q = np.atleast_2d(np.asarray(q, dtype=np.float32))
    if k <= 0 or len(db) == 0:
        return q
    sims = q @ db.T
    if exclude is not None:
        rows = np.flatnonzero(exclude >= 0)
        sims[rows, exclude[rows]] = -np.inf
    k = min(k, db.shape[0] - (1 if exclude is not None else 0))
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    w = np.clip(np.take_along_axis(sims, top, axis=1), 0, None) ** alpha
    out = q + np.einsum("nk,nkd->nd", w, db[top])
    return (out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)).astype(np.float32)
