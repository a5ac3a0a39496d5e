"""DDP: negatives gathered across processes give the single-process objective and gradients.

Two CPU processes (gloo on 127.0.0.1) each hold a part of a fixed global batch, compute CooKIE's
stage-2 encoder loss and the CLUB-critic loss, back-propagate, and average the gradients over
the ranks as DDP does. A single process computes the same on the whole global batch. The
augmentation is replaced by a deterministic row-wise map, so that both runs see the same x'.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import cookie.nn.view_encoder as encoders_module
from cookie.config import AugmentConfig, MethodConfig
from cookie.features.view import ViewSpec
from cookie.losses.distributed import gather_rows
from cookie.methods.cookie import CookieObjective
from cookie.training.distributed import per_process_batch, trainer_strategy

DIMS = {"a": 5, "b": 4, "c": 3}
N = 12
SPLIT = 5  # rank 0 holds rows [0, 5), rank 1 rows [5, 12): unequal shares on purpose


def fixed_augment(x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """A deterministic stand-in for the random augmentation (row-wise, batch independent)."""
    return 0.8 * x + 0.3 * torch.tanh(x.roll(1, dims=1))


def build() -> CookieObjective:
    torch.manual_seed(0)
    cfg = MethodConfig(embedding_dim=12, hidden_dim=8, encoder_dim=6, critic_dim=4, alpha=0.7)
    specs = [ViewSpec(n, "table", (d,), 0) for n, d in DIMS.items()]
    return CookieObjective(specs, cfg)


def global_batch() -> dict[str, tuple[torch.Tensor, None, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    batch = {}
    for k, (name, d) in enumerate(DIMS.items()):
        mask = torch.ones(N, dtype=torch.bool)
        if k == 1:
            mask[[2, 7, 8]] = False  # some regions lack view b
        batch[name] = (torch.randn(N, d, generator=gen), None, mask)
    return batch


def part(batch: dict, rows: slice) -> dict:
    return {k: (x[rows], None, m[rows]) for k, (x, _, m) in batch.items()}


def loss_and_grads(batch: dict) -> dict:
    """Stage-2 encoder loss + gradients, then the critic loss + critic gradients."""
    encoders_module.augment = fixed_augment
    objective = build()
    terms, cache = objective.terms(batch, stage=2)
    loss = objective.total(terms, stage=2)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None}
    objective.zero_grad()
    critic_loss = sum(objective.critic_terms(cache).values())
    critic_loss.backward()
    critic_grads = {n: p.grad.clone() for n, p in objective.named_parameters()
                    if p.grad is not None}
    return {"loss": loss.detach(), "grads": grads, "critic_loss": critic_loss.detach(),
            "critic_grads": critic_grads, "terms": {k: v.detach() for k, v in terms.items()}}


def ddp_average(grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What DDP does to parameter gradients: all-reduce and divide by the world size."""
    out = {}
    for name in sorted(grads):
        g = grads[name].clone()
        dist.all_reduce(g)
        out[name] = g / dist.get_world_size()
    return out


def worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))
    try:
        rows = slice(0, SPLIT) if rank == 0 else slice(SPLIT, N)
        res = loss_and_grads(part(global_batch(), rows))
        res["grads"] = ddp_average(res["grads"])
        res["critic_grads"] = ddp_average(res["critic_grads"])
        # unequal row counts (3 and 2): values in rank order; the backward sums every rank's
        # gradient into the local rows (here each rank's loss is the same weighted sum)
        x = torch.arange(3.0 if rank == 0 else 2.0).add(10 * rank).unsqueeze(1)
        x.requires_grad_(True)
        (g,) = gather_rows(x)
        (g.squeeze(1) * torch.arange(1.0, 6.0)).sum().backward()
        res["gathered"], res["gather_grad"] = g.detach().squeeze(1), x.grad.squeeze(1)
        torch.save(res, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


@pytest.fixture(scope="module")
def single() -> dict:
    saved, threads = encoders_module.augment, torch.get_num_threads()
    torch.set_num_threads(1)  # like each rank; OpenMP spin-waits crawl on a busy 2-core box
    try:
        return loss_and_grads(global_batch())
    finally:
        encoders_module.augment = saved
        torch.set_num_threads(threads)


def test_gather_rows_concatenates_in_rank_order(two_ranks) -> None:
    expected = torch.tensor([0.0, 1.0, 2.0, 10.0, 11.0])
    for res in two_ranks:
        torch.testing.assert_close(res["gathered"], expected)
    torch.testing.assert_close(two_ranks[0]["gather_grad"], 2 * torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(two_ranks[1]["gather_grad"], 2 * torch.tensor([4.0, 5.0]))


def test_loss_equals_single_process_on_global_batch(two_ranks, single) -> None:
    for res in two_ranks:
        assert abs(float(res["loss"]) - float(single["loss"])) < 1e-5
        assert abs(float(res["critic_loss"]) - float(single["critic_loss"])) < 1e-5
        assert res["terms"].keys() == single["terms"].keys()
        for k, v in single["terms"].items():
            assert abs(float(res["terms"][k]) - float(v)) < 1e-5, k


@pytest.mark.parametrize("which", ["grads", "critic_grads"])
def test_ddp_averaged_gradients_equal_single_process(two_ranks, single, which) -> None:
    ref = single[which]
    assert len(ref) > 10
    for res in two_ranks:
        assert res[which].keys() == ref.keys()
        for name, g in ref.items():
            assert torch.allclose(res[which][name], g, rtol=1e-5, atol=1e-5), name


def test_batch_size_is_global_and_strategy_tolerates_unused_parameters() -> None:
    assert per_process_batch(256, 2) == 128
    assert per_process_batch(0, 2) == 0  # full batch: each process its whole shard
    assert per_process_batch(64, 1) == 64
    assert trainer_strategy("ddp") == "ddp_find_unused_parameters_true"
    assert trainer_strategy("auto") == "auto"


@pytest.mark.slow
def test_cli_fit_with_two_ddp_processes(tmp_path) -> None:
    """`cookie fit --devices 2 --strategy ddp --accelerator cpu` trains and writes one run."""
    import subprocess
    import sys

    from tests.synthetic import make_dataset

    config, _ = make_dataset(tmp_path / "data", n=32,
                             method={"pretrain_epochs": 1, "epochs": 1, "batch_size": 16})
    out = tmp_path / "run"
    cli = Path(sys.executable).with_name("cookie")
    proc = subprocess.run([str(cli), "fit", str(config), "--out", str(out), "--devices", "2",
                           "--strategy", "ddp", "--accelerator", "cpu", "--no-evaluate",
                           "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "embeddings.parquet").is_file() and (out / "model" / "model.pt").is_file()
