"""GFactorCL (full factorization), the shared pairwise baseline, and the cost profiler."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import torch
from shapely.geometry import box

from cookie.config import DatasetConfig, MethodConfig
from cookie.dataset.dataset import RegionDataset
from cookie.features.view import ViewData, ViewSpec
from cookie.losses import club_upper_bound, infonce_loss
from cookie.methods.gfactorcl import GFactorCLObjective, factor_key
from cookie.methods.pairwise import SharedPairwiseObjective
from cookie.methods.registry import build_objective
from cookie.nn.basis import block_rotation
from tests.reference_formulas import club, nce

CFG = MethodConfig(proxy="augment", embedding_dim=60, encoder_dim=8, hidden_dim=16, critic_dim=8)


def specs_for(m: int) -> list[ViewSpec]:
    return [ViewSpec(f"v{i}", "table", (3 + i,), 0) for i in range(m)]


def batch_for(specs: list[ViewSpec], n: int = 6) -> dict:
    return {s.name: (torch.randn(n, *s.input_shape), None, torch.ones(n, dtype=torch.bool))
            for s in specs}


def make(m: int, cfg: MethodConfig = CFG) -> tuple[GFactorCLObjective, dict]:
    torch.manual_seed(0)
    specs = specs_for(m)
    return GFactorCLObjective(specs, cfg), batch_for(specs)


def kinds_of(terms: dict) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for key in terms:
        kinds[key.split("/")[0]] = kinds.get(key.split("/")[0], 0) + 1
    return kinds


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.item() == pytest.approx(b.item(), abs=1e-6)


# ---------------------------------------------------------------------------- GFactorCL
@pytest.mark.parametrize("m", [2, 3, 4])
def test_inventory_grows_exponentially(m: int) -> None:
    obj, batch = make(m)
    terms, cache = obj.terms(batch, stage=2)
    pairs_in_subsets = m * (m - 1) // 2 * 2 ** (m - 2)  # sum_k C(M,k) C(k,2)
    assert len(obj.factors) == 2 ** m - m - 1
    assert len(obj.unique_heads) + len(obj.factors) == 2 ** m - 1
    assert kinds_of(terms) == {"intra": m, "unique_nce": m, "unique_club": m, "unique_cond": m,
                               "shared_nce": pairs_in_subsets, "shared_club": pairs_in_subsets}
    assert len(terms) == 4 * m + 2 * pairs_in_subsets == 4 * m + m * (m - 1) * 2 ** (m - 2)
    assert obj.term_count()["critics"] == len(terms)  # one critic per term
    assert len(obj.club_critics()) == m + pairs_in_subsets
    assert len(obj.critic_terms(cache)) == len(obj.club_critics())
    heads = len(obj.unique_heads) + sum(len(h) for h in obj.shared_heads.values())
    assert heads == m * 2 ** (m - 1)
    assert obj.embed(batch).shape == (6, 60)


def test_stage_one_has_only_intra_terms() -> None:
    obj, batch = make(3)
    terms, cache = obj.terms(batch, stage=1)
    assert set(terms) == {"intra/v0", "intra/v1", "intra/v2"}
    assert obj.critic_terms(cache) == {}  # stage 1 has no heads in the cache


def test_two_views_is_factorcl() -> None:
    """M = 2: one shared factor S_12 (no conditioning view) and two unique factors."""
    obj, batch = make(2)
    assert obj.factors == [(("v0", "v1"), ())]
    assert list(obj.unique_heads) == ["v0", "v1"]
    terms, _ = obj.terms(batch, stage=2)
    assert set(terms) == {
        "intra/v0", "intra/v1", "unique_nce/v0", "unique_nce/v1", "unique_club/v0",
        "unique_club/v1", "unique_cond/v0", "unique_cond/v1", "shared_nce/v0~v1/v0~v1",
        "shared_club/v0~v1/v0~v1"}
    k = obj.unique_heads["v0"][-1].out_features
    # the unique CLUB critic of v0 scores (u_0, e_1); its conditional NCE ([u_0, u_0'], [e_1, e_1'])
    assert obj.unique_club["v0"].g[0].in_features == k
    assert obj.unique_club["v0"].h[0].in_features == CFG.encoder_dim
    assert obj.unique_cond["v0"].h[0].in_features == 2 * CFG.encoder_dim
    # the shared CLUB critic conditions on y only: [s, s'] on both sides
    ks = obj.shared_heads["v0~v1"]["v0"][-1].out_features
    assert obj.shared_club["v0~v1"]["v0~v1"].g[0].in_features == 2 * ks


def test_factor_names_and_conditioning_sets() -> None:
    obj, _ = make(3)
    assert [factor_key(s, r) for s, r in obj.factors] == [
        "v0~v1|v2", "v0~v2|v1", "v1~v2|v0", "v0~v1~v2"]
    d = CFG.encoder_dim
    for members, rest in obj.factors:
        key = factor_key(members, rest)
        assert set(obj.shared_heads[key]) == set(members)
        k = obj.shared_heads[key][members[0]][-1].out_features
        for a, b in combinations(members, 2):
            assert obj.shared_club[key][f"{a}~{b}"].g[0].in_features == 2 * k + d * len(rest)


class SumCritic(torch.nn.Module):
    """A parameter-free critic for inputs of any sizes: S_kl = (sum_i a_ki) (sum_j b_lj)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a.sum(1, keepdim=True) @ b.sum(1, keepdim=True).T


def score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.outer(a.sum(1), b.sum(1))


def test_every_term_matches_its_equation() -> None:
    """GFactorCL at M = 3 on a 3-region batch of fixed encodings (u_i: the first two
    coordinates of e_i, every shared head: the last two of its view's e), every critic
    `SumCritic`: each term against docs/method.md ("GFactorCL"), in plain numpy."""
    rng = np.random.default_rng(7)
    e = {f"v{i}": rng.uniform(-1, 1, (3, 4)).round(2) for i in range(3)}
    ea = {n: (x + rng.uniform(-0.2, 0.2, (3, 4))).round(2) for n, x in e.items()}
    specs = [ViewSpec(n, "table", (4,), 0) for n in e]
    obj = GFactorCLObjective(specs, MethodConfig(proxy="augment", embedding_dim=14,
                                                 encoder_dim=4, hidden_dim=4, critic_dim=4))
    for group in (obj.intra_critics, obj.unique_nce, obj.unique_club, obj.unique_cond):
        for key in list(group):
            group[key] = SumCritic()
    for group in (obj.shared_nce, obj.shared_club):
        for key in list(group):
            for pk in list(group[key]):
                group[key][pk] = SumCritic()
    tensors = {False: {n: torch.tensor(x) for n, x in e.items()},
               True: {n: torch.tensor(x) for n, x in ea.items()}}
    obj.encode = lambda batch, augmented: tensors[augmented]  # type: ignore[method-assign]
    keys = {factor_key(m, r): m for m, r in obj.factors}
    obj.heads = lambda x: {"u": {n: v[:, :2] for n, v in x.items()},  # type: ignore
                           "s": {k: {n: x[n][:, 2:] for n in m} for k, m in keys.items()}}
    batch = {n: (torch.zeros(3, 4), None, torch.ones(3, dtype=torch.bool)) for n in e}
    terms, _ = obj.terms(batch, stage=2)

    expected = {}
    for n in e:
        rest = [r for r in e if r != n]
        e_r, e_r2 = np.hstack([e[r] for r in rest]), np.hstack([ea[r] for r in rest])
        u, u2 = e[n][:, :2], ea[n][:, :2]
        expected[f"intra/{n}"] = nce(score(e[n], ea[n]))
        expected[f"unique_nce/{n}"] = nce(score(u, u2))
        expected[f"unique_club/{n}"] = club(score(u, e_r))
        expected[f"unique_cond/{n}"] = nce(score(np.hstack([u, u2]), np.hstack([e_r, e_r2])))
    for members, rest in obj.factors:
        key = factor_key(members, rest)
        e_r = np.hstack([e[r] for r in rest]) if rest else np.zeros((3, 0))
        for a, b in combinations(members, 2):
            sa, sb, sa2, sb2 = e[a][:, 2:], e[b][:, 2:], ea[a][:, 2:], ea[b][:, 2:]
            expected[f"shared_nce/{key}/{a}~{b}"] = nce(score(sa, sb))
            expected[f"shared_club/{key}/{a}~{b}"] = club(score(np.hstack([sa, e_r, sa2]),
                                                                np.hstack([sb, e_r, sb2])))
    assert set(terms) == set(expected) and len(expected) == 4 * 3 + 2 * 6  # 4M + 2 pairs
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, abs=1e-5), key


def test_conditioning_inputs_are_detached() -> None:
    """e_R only conditions: the unique CLUB of v0 sends no gradient into the other encoders."""
    obj, batch = make(3)
    terms, _ = obj.terms(batch, stage=2)
    terms["unique_club/v0"].backward()
    assert all(p.grad is None for p in obj.encoders["v1"].parameters())
    assert any(p.grad is not None for p in obj.encoders["v0"].parameters())


def test_club_critics_train_separately() -> None:
    obj, batch = make(3)
    critic_ids = {id(p) for p in obj.critic_parameters()}
    assert critic_ids and not critic_ids & {id(p) for p in obj.main_parameters()}
    _, cache = obj.terms(batch, stage=2)
    critic_terms = obj.critic_terms(cache)
    assert all(k.startswith(("critic/unique_club/", "critic/shared_club/")) for k in critic_terms)
    sum(critic_terms.values()).backward()
    # critic-training terms use detached inputs: no gradient reaches encoders or heads
    assert all(p.grad is None for p in obj.encoders.parameters())
    assert all(p.grad is None for p in obj.shared_heads.parameters())
    assert all(p.grad is None for p in obj.unique_heads.parameters())
    assert all(p.grad is not None for p in obj.critic_parameters())


def test_critic_terms_are_nce_of_the_club_critics() -> None:
    obj, batch = make(2)
    _, cache = obj.terms(batch, stage=2)
    out = obj.critic_terms(cache)
    e, h, h_aug = cache.e, cache.h, cache.h_aug
    close(out["critic/unique_club/v0"], infonce_loss(obj.unique_club["v0"](h["u"]["v0"], e["v1"])))
    s, s2 = h["s"]["v0~v1"], h_aug["s"]["v0~v1"]
    close(out["critic/shared_club/v0~v1/v0~v1"], infonce_loss(obj.shared_club["v0~v1"]["v0~v1"](
        torch.cat([s["v0"], s2["v0"]], 1), torch.cat([s["v1"], s2["v1"]], 1))))


def test_masked_regions_are_left_out_of_conditioned_terms() -> None:
    obj, batch = make(3)
    x, aux, mask = batch["v2"]
    mask = mask.clone()
    mask[:3] = False
    batch["v2"] = (x, aux, mask)
    terms, cache = obj.terms(batch, stage=2)
    e, h, h_aug = cache.e, cache.h, cache.h_aug
    key = "v0~v1|v2"
    s, s2 = h["s"][key], h_aug["s"][key]
    # the pair's own InfoNCE keeps every row; the CLUB conditioned on v2 drops the missing ones
    close(terms[f"shared_nce/{key}/v0~v1"],
          infonce_loss(obj.shared_nce[key]["v0~v1"](s["v0"], s["v1"])))
    a = torch.cat([s["v0"], e["v2"], s2["v0"]], 1)[mask]
    b = torch.cat([s["v1"], e["v2"], s2["v1"]], 1)[mask]
    close(terms[f"shared_club/{key}/v0~v1"],
          club_upper_bound(obj.shared_club[key]["v0~v1"](a, b)))


def test_embedding_is_the_factor_heads() -> None:
    obj, batch = make(3)
    obj.eval()
    emb = obj.embed(batch)
    h = obj.heads(obj.encode(batch, False))
    parts = [h["u"][n] for n in obj.names]
    parts += [sum(h["s"][factor_key(s, r)].values()) / len(s) for s, r in obj.factors]
    rotated = [p @ block_rotation(p.shape[1]).to(p.dtype) for p in parts]  # the output basis
    assert torch.allclose(emb, torch.cat(rotated, 1), atol=1e-6)
    assert emb.shape[1] == obj.embedding_dim == 60
    sizes = [p.shape[1] for p in parts]
    assert len(sizes) == 7 and max(sizes) - min(sizes) <= 1


def test_embedding_too_small_for_the_factors() -> None:
    cfg = CFG.model_copy(update={"embedding_dim": 30})
    with pytest.raises(ValueError, match="31 factors"):
        make(5, cfg)


def test_registered_by_name() -> None:
    specs = specs_for(2)
    assert isinstance(build_objective("gfactorcl", specs, CFG), GFactorCLObjective)
    assert isinstance(build_objective("shared_pairwise", specs, CFG), SharedPairwiseObjective)


# ---------------------------------------------------------------------------- shared pairwise
@pytest.mark.parametrize("m", [2, 3, 4])
def test_shared_pairwise_terms(m: int) -> None:
    torch.manual_seed(0)
    specs = specs_for(m)
    obj, batch = SharedPairwiseObjective(specs, CFG), batch_for(specs)
    terms, cache = obj.terms(batch, stage=2)
    assert len(terms) == m * (m - 1) // 2
    assert obj.uses_pretraining is False
    assert obj.club_critics() == [] and obj.critic_terms(cache) == {}
    assert len(obj.intra_critics) == 0
    h = cache.h
    for a, b in obj.pairs:
        close(terms[f"pair_nce/{a}~{b}"], infonce_loss(obj.pair_critics[f"{a}~{b}"](h[a], h[b])))
    assert obj.total(terms, 2).item() == pytest.approx(sum(t.item() for t in terms.values()),
                                                       rel=1e-6)
    assert obj.embed(batch).shape == (6, 60)


# ---------------------------------------------------------------------------- end to end
def tiny_dataset(n: int = 24, m: int = 3) -> RegionDataset:
    rng = np.random.default_rng(0)
    ids = pd.Index([f"r{i}" for i in range(n)], name="region_id")
    regions = gpd.GeoDataFrame(geometry=[box(i, 0, i + 1, 1) for i in range(n)], index=ids,
                               crs="EPSG:3857")
    latent = rng.normal(size=(n, 2))
    views = {}
    for j in range(m):
        values = latent @ rng.normal(size=(2, 4 + j)) + 0.1 * rng.normal(size=(n, 4 + j))
        views[f"v{j}"] = ViewData(f"v{j}", "table", ids, values, np.ones(n, dtype=bool))
    cfg = DatasetConfig.model_validate({
        "name": "tiny",
        "regions": {"grid": {"size_m": 1.0, "bounds": [0, 0, n, 1]}},
        "views": [{"name": f"v{j}", "kind": "table", "path": Path(f"v{j}.parquet")}
                  for j in range(m)],
        "method": {"embedding_dim": 14, "encoder_dim": 8, "hidden_dim": 16, "critic_dim": 8},
    })
    return RegionDataset(cfg, regions, views)


@pytest.mark.parametrize("name", ["gfactorcl", "shared_pairwise"])
def test_fit_end_to_end(name: str) -> None:
    from cookie.training.embedder import CookieEmbedder

    ds = tiny_dataset()
    model = CookieEmbedder.from_config(ds.config, name=name, epochs=2,
                                       pretrain_epochs=1).fit(ds)
    emb = model.transform(ds)
    assert emb.shape == (24, 14)
    assert list(emb.index) == list(ds.region_ids)
    assert np.isfinite(emb.to_numpy()).all()
    assert all(np.isfinite(v) for v in model.final_terms_.values())


# ---------------------------------------------------------------------------- profiling
def test_profile_methods_counts() -> None:
    from cookie.apps.profile import profile_methods

    rows = profile_methods(max_views=3, n=32)
    assert [(r.views, r.method) for r in rows] == [
        (2, "cookie"), (2, "gfactorcl"), (3, "cookie"), (3, "gfactorcl")]
    for r in rows:
        assert r.params_total > 0 and r.flops_step > 0 and r.flops_critic > 0
        assert r.params_encoders > 0 and r.params_heads > 0 and r.params_critics > 0
        assert r.params_total == r.params_encoders + r.params_heads + r.params_critics
        assert r.n == 32
    by = {(r.method, r.views): r for r in rows}
    g, c = by[("gfactorcl", 3)], by[("cookie", 3)]
    assert g.params_total > c.params_total and g.flops_step > c.flops_step
    assert (g.factors, g.terms, c.factors, c.terms) == (7, 24, 6, 18)
    # identical encoders: the difference comes from the factorization only
    assert g.params_encoders == c.params_encoders


def test_profile_report_files(tmp_path: Path) -> None:
    from cookie.apps.profile import profile_methods, write_profile

    rows = profile_methods(max_views=4, n=16, repeats=1)
    md, png = write_profile(rows, tmp_path, "cookie profile --max-views 4", "synthetic", 1.0)
    text = md.read_text()
    assert "56.7%" in text and "63.0%" in text and "cookie profile --max-views 4" in text
    assert "| 4 | gfactorcl | separable | 15 | 64 |" in text
    assert png.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.md", "profile.png"]


def test_profile_isolated_worker() -> None:
    from cookie.apps.profile import profile_inputs, view_inputs

    specs, data, cfg, _ = view_inputs(None, 16, None, 2)
    cfg = cfg.model_copy(update={"hidden_dim": 16, "encoder_dim": 8, "embedding_dim": 12})
    (row,) = profile_inputs(specs, data, cfg, [2], methods=("cookie",), repeats=1,
                            isolate=True)
    assert row.memory_kind == "rss-worker" and row.peak_memory_mb >= 0
    assert row.params_total > 0 and row.flops_step > 0 and row.terms == 8


def test_profile_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cookie.cli import app

    result = CliRunner().invoke(app, ["profile", "--max-views", "2", "--n", "16",
                                      "--no-isolate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "profile.md").is_file() and (tmp_path / "profile.png").is_file()
    assert "| 2 | gfactorcl | separable | 3 | 10 |" in (tmp_path / "profile.md").read_text()
    assert "| 2 | gfactorcl | concat | 3 | 10 |" in (tmp_path / "profile.md").read_text()


def test_profile_cli_refuses_an_unknown_critic(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cookie.cli import app

    result = CliRunner().invoke(app, ["profile", "--critic", "mlp", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--critic" in result.output
    assert not list(tmp_path.iterdir())


def _tiny_inputs(max_views: int, n: int = 32) -> tuple:
    from cookie.apps.profile import view_inputs

    specs, data, cfg, _ = view_inputs(None, n, None, max_views)
    cfg = cfg.model_copy(update={"hidden_dim": 16, "encoder_dim": 8, "embedding_dim": 30})
    return specs, data, cfg


def test_profile_both_critic_kinds_and_the_flop_fit() -> None:
    """Concat rows: same counts as separable ones, more FLOPs (the N^2 MLP), and FLOPs
    extrapolated from 8, 16, 24 regions equal to those counted on the full batch."""
    from cookie.apps.profile import profile_inputs

    specs, data, cfg = _tiny_inputs(3)
    rows = profile_inputs(specs, data, cfg, [2, 3], critics=("separable", "concat"), repeats=1)
    by = {(r.method, r.views, r.critic): r for r in rows}
    assert len(by) == 8
    for method in ("cookie", "gfactorcl"):
        sep, cat = by[(method, 3, "separable")], by[(method, 3, "concat")]
        assert (sep.terms, sep.critics) == (cat.terms, cat.critics)
        assert sep.params_encoders == cat.params_encoders
        assert cat.flops_step > 2 * sep.flops_step
        assert cat.flops_fit == cat.flops_step and sep.flops_fit == 0
        # building the N^2 concatenations costs first-layer FLOPs on N^2 rows
        assert cat.flops_materialized > cat.flops_step and sep.flops_materialized == 0
        assert not cat.estimated


def test_profile_estimates_rows_over_the_memory_cap(tmp_path: Path) -> None:
    """A concat row predicted above the cap is not run: exact counts, extrapolated FLOPs,
    time and memory scaled from the last measured row, marked with ~ in the report."""
    from cookie.apps.profile import profile_inputs, write_profile

    specs, data, cfg = _tiny_inputs(4)
    # a negative cap: every prediction exceeds it (in-process peaks may read 0 MB)
    rows = profile_inputs(specs, data, cfg, [2, 3, 4], methods=("gfactorcl", "cookie"),
                          critics=("concat",), repeats=1, max_memory_mb=-1.0)
    first = [r for r in rows if r.views == 2]
    assert not any(r.estimated for r in first)  # nothing measured to predict from
    later = [r for r in rows if r.views > 2]
    assert later and all(r.estimated and r.timing_steps == 0 for r in later)
    exact = profile_inputs(specs, data, cfg, [4], methods=("gfactorcl",),
                           critics=("concat",), repeats=1)[0]
    est = next(r for r in rows if (r.method, r.views) == ("gfactorcl", 4))
    assert (est.params_total, est.terms, est.critics) == (
        exact.params_total, exact.terms, exact.critics)
    assert est.flops_step == exact.flops_step
    prev = next(r for r in rows if (r.method, r.views) == ("gfactorcl", 2))
    assert est.seconds_per_epoch == pytest.approx(
        prev.seconds_per_epoch * est.flops_step / prev.flops_step)
    md, _ = write_profile(rows, tmp_path, "cookie profile", "synthetic", 1.0, epochs=5,
                          max_memory_mb=-1.0)
    text = md.read_text()
    assert "| 4 | gfactorcl | concat | 15 | 64 |" in text and "| ~" in text
    flat = " ".join(text.split())  # paragraphs are wrapped
    assert "gfactorcl (concat) M = 4" in flat and "Largest M within 24 GB" in text


def test_profile_report_gives_both_reductions_at_four_views(tmp_path: Path) -> None:
    from cookie.apps.profile import profile_inputs, reductions, write_profile

    specs, data, cfg = _tiny_inputs(4, n=16)
    rows = profile_inputs(specs, data, cfg, [4], critics=("separable", "concat"), repeats=1)
    text = write_profile(rows, tmp_path, "cookie profile", "synthetic", 1.0)[0].read_text()
    for kind in ("separable", "concat"):
        red = reductions(rows, 4, kind)
        assert red is not None and 0 < red["flops"] < 100
        assert f"**{red['flops']:.1f}%**" in text and f"**{red['params']:.1f}%**" in text
    assert "| 56.7% |" in text and "| 63.0% |" in text
