"""The estimators of docs/method.md written out in plain numpy, for the tests that check loss
terms against their equations (never the code's own estimators)."""

from __future__ import annotations

import numpy as np


def nce(s: np.ndarray) -> float:
    """NCE(a, b) = 1/2 [ -1/N sum_k log(exp S_kk / sum_l exp S_kl) - (the same over columns) ]."""
    rows = np.log(np.exp(np.diag(s)) / np.exp(s).sum(axis=1))
    cols = np.log(np.exp(np.diag(s)) / np.exp(s).sum(axis=0))
    return float(0.5 * (-rows.mean() - cols.mean()))


def club(s: np.ndarray) -> float:
    """CLUB(a, b) = 1/N sum_k S_kk - 1/N^2 sum_kl S_kl."""
    return float(np.diag(s).mean() - s.mean())
