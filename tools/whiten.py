"""Fit the whitening of an index's visual vectors on the index itself, and store it with the index.

An encoder that declares a `WhiteningPlan` (`models.lbp_craft.WHITENING_PLANS`, by the encoder name the index
records) gets a PCA whitening learned on the stored visual vectors of the index's sheets (up to `MAX_ROWS`,
spread evenly), with the plan's α-query expansion. The store applies both to its in-memory table and to
every visual query (`store.index.FigureStore.whitening`). Refitted with the score calibration
(`tools.calibrate.calibrate_index`), after every ingest run that adds documents and by `patfig calibrate`,
so the calibration curves are fitted on whitened scores.
"""

from __future__ import annotations

import numpy as np

from core.whitening import fit_whitening
from models.lbp_craft import WHITENING_PLANS
from runtime.services import Services

MAX_ROWS = 20_000
CHUNK = 1000


def fit_index_whitening(services: Services) -> str:
    """Fit (or remove) the index's visual whitening; a one-line note on what was done."""
    store = services.store
    enc = store.encoders().get("visual")
    plan = WHITENING_PLANS.get(enc.name) if enc is not None else None
    if enc is None or plan is None:
        store.set_whitening(None)
        return f"none for {enc.name if enc else 'an index without visual vectors'}"
    ids = [s.figure_id for s in store.sheets()]
    ids = [ids[int(i * len(ids) / MAX_ROWS)] for i in range(MAX_ROWS)] if len(ids) > MAX_ROWS else ids
    if len(ids) < plan.min_rows:
        store.set_whitening(None)
        return f"none: {len(ids)} sheets, fewer than {plan.min_rows} (raw cosine until then)"
    vectors: list[list[float]] = []
    for lo in range(0, len(ids), CHUNK):
        got = store.vectors("visual", ids[lo : lo + CHUNK])
        vectors += [got[i] for i in ids[lo : lo + CHUNK] if i in got]
    white = fit_whitening(np.asarray(vectors, dtype=np.float32), plan.dims, plan.power, enc.name,
                          plan.qe_k, plan.qe_alpha)
    store.set_whitening(white)
    return (f"PCA whitening {enc.dim}->{white.dim} dims (power {plan.power:g}) fitted on {white.rows} sheets; "
            f"image queries expanded with their {plan.qe_k} nearest (alpha {plan.qe_alpha:g})")
