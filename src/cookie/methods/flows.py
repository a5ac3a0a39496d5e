"""Flow-distribution terms of `flows` views: where a region's trips go and where they come from.

For a flows view with trip matrix W (origins x destinations, over the batch's regions B, as
featurized: log1p-damped when the view's ``transform`` is log1p) and encoder outputs e_r, a
linear source map s_r = A e_r and destination map d_q = D e_r give

    P_out(q | r) = softmax_{q in B}(s_r . d_q)      p_out(q | r) = W[r, q] / sum_q' W[r, q']
    P_in(r | q)  = softmax_{r in B}(d_q . s_r)      p_in(r | q)  = W[r, q] / sum_r' W[r', q]
    FLOW = 1/2 [ mean_r KL(p_out(. | r) || P_out(. | r)) + mean_q KL(p_in(. | q) || P_in(. | q)) ]

the means over the batch's regions with any trip (out, resp. in) inside the batch, present in
the view. KL is zero when the decoder reproduces the observed shares and at most log |B| - H(p)
at chance, on the scale of an InfoNCE term. With full batches B is every region; with
mini-batches, the distributions are those among the batch's regions (a sampled softmax).
"""

from __future__ import annotations

import torch
from torch import nn


class FlowDecoder(nn.Module):
    """The source and destination maps of one flows view's decoder."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.source = nn.Linear(dim, dim, bias=False)
        self.destination = nn.Linear(dim, dim, bias=False)


def flow_matrix(values: torch.Tensor) -> torch.Tensor:
    """The trip matrix of a flows view's values (out-flows then in-flows, one column per
    region): its first n columns, origins x destinations."""
    n = values.shape[0]
    if values.ndim != 2 or values.shape[1] != 2 * n:
        raise ValueError(f"a flows view has 2 x {n} columns per region; got {tuple(values.shape)}")
    return values[:, :n].to(torch.float32)


def _kl_rows(trips: torch.Tensor, logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean over ``rows`` of KL(trips-row shares || softmax(logits-row))."""
    total = trips.sum(1)
    keep = rows & (total > 0)
    if not bool(keep.any()):
        return logits.new_zeros(())
    p = trips[keep] / total[keep].unsqueeze(1)
    log_q = torch.log_softmax(logits[keep], dim=1)
    log_p = torch.log(p.clamp_min(1e-30))
    return torch.where(p > 0, p * (log_p - log_q), 0.0).sum(1).mean()


def flow_term(source: torch.Tensor, destination: torch.Tensor, trips: torch.Tensor,
              valid: torch.Tensor) -> torch.Tensor:
    """FLOW of one batch (see the module docstring): ``source`` / ``destination`` (B, d) maps
    of the batch's encodings, ``trips`` (B, B) the trips among them, ``valid`` (B,) the rows
    present in the view (absent regions neither send nor receive)."""
    trips = trips * (valid.unsqueeze(0) & valid.unsqueeze(1)).to(trips.dtype)
    logits = source @ destination.T  # [r, q] = s_r . d_q
    mask = ~(valid.unsqueeze(0) & valid.unsqueeze(1))
    logits_out = logits.masked_fill(mask, -1e9)  # absent regions: no probability
    out = _kl_rows(trips, logits_out, valid)
    into = _kl_rows(trips.T, logits_out.T, valid)
    return 0.5 * (out + into)
