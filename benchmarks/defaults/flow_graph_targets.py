"""Flow-graph targets for the mobility view, probed as features with no training
(Manhattan-180, seed 0): the shipped target of the mobility block (kernel-PCA coordinates of
the RBF kernel of each region's standardized log1p out- and in-flow rows) against two
graph embeddings of the trip matrix W that see multi-hop structure, as MGFN and MVURE's
mobility graphs do: PPMI-SVD (the positive pointwise mutual information of origin and
destination, its top singular vectors times the root singular values, out side and in side)
and a spectral embedding of the symmetrized, degree-normalized trip graph. Each set is probed
alone and in place of the mobility unique block in the full target set. An evaluation-fold
look, disclosed in defaults.md; nothing ships from it.

    cd benchmarks/defaults && python flow_graph_targets.py
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from common import CONFIG, manhattan, three_probes

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)


def trip_matrix(ds) -> np.ndarray:
    """Raw trips, origin position x destination position (no log1p)."""
    frame = pd.read_parquet(CONFIG.parent / "../../../shared/data/manhattan180/mobility.parquet")
    index = ds.region_ids if not callable(ds.region_ids) else ds.region_ids()
    pos = pd.Series(np.arange(len(index)), index=index)
    w = np.zeros((len(index), len(index)))
    np.add.at(w, (pos[frame["origin"]].to_numpy(), pos[frame["destination"]].to_numpy()),
              frame["trips"].to_numpy(float))
    return w


def ppmi_svd(w: np.ndarray, k: int) -> np.ndarray:
    """[U sqrt(S), V sqrt(S)] of the PPMI matrix, k/2 singular vectors each side."""
    p = w / w.sum()
    pi, pj = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(p / (pi * pj))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    u, s, vt = np.linalg.svd(ppmi)
    h = k // 2
    return np.concatenate([u[:, :h] * np.sqrt(s[:h]), vt[:h].T * np.sqrt(s[:h])], 1)


def spectral(w: np.ndarray, k: int) -> np.ndarray:
    """Top-k eigenvectors of D^-1/2 (W + W^T) D^-1/2 (the trivial one dropped), times their
    eigenvalues."""
    a = w + w.T
    d = a.sum(1)
    dn = 1 / np.sqrt(np.where(d > 0, d, 1))
    m = dn[:, None] * a * dn[None, :]
    val, vec = np.linalg.eigh(m)
    order = np.argsort(-np.abs(val))[1:k + 1]
    return vec[:, order] * val[order]


def scaled_like(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``x`` centred and scaled to the mean squared row norm of ``ref`` (what REL sees)."""
    x = x - x.mean(0)
    return x * np.sqrt((ref ** 2).sum(1).mean() / (x ** 2).sum(1).mean())


ds = manhattan()
model = CookieEmbedder(name="cookie", seed=0, pretrain_epochs=0, epochs=1).fit(ds)
o = model.objective_
keys = list(o.target_blocks())
shipped = {k: o.targets[k].numpy() for k in keys}
mob = shipped["unique/mobility"]
w = trip_matrix(ds)
candidates = {"shipped kPCA": mob, "PPMI-SVD": scaled_like(ppmi_svd(w, mob.shape[1]), mob),
              "spectral": scaled_like(spectral(w, mob.shape[1]), mob)}
for label, t in candidates.items():
    print(f"mobility block alone, {label}:", three_probes(ds, t), flush=True)
for label, t in candidates.items():
    blocks = [torch.as_tensor(t if k == "unique/mobility" else shipped[k]) for k in keys]
    print(f"all targets, mobility block = {label}:",
          three_probes(ds, o.assemble(blocks).numpy()), flush=True)
