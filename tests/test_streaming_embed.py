"""Streaming embedding: `cookie embed --partitioned --batch-size N` (one Parquet file per batch)
gives the same table as the single-file embed."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cookie.cli import app
from cookie.dataset.dataset import load_dataset
from cookie.dataset.partitioned import read_manifest, read_partitioned_embeddings
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import make_dataset

N_REGIONS = 23


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    config, _ = make_dataset(root / "data", n=N_REGIONS, dims=(4, 3))
    ds = load_dataset(config)
    model = CookieEmbedder.from_config(ds.config).fit(ds)
    model.save(root / "model")
    return root, config, ds, model


def embed(*args: str) -> None:
    result = CliRunner().invoke(app, ["embed", *args])
    assert result.exit_code == 0, result.output


def test_partitioned_embed_equals_single_file(trained) -> None:
    root, config, _, _ = trained
    single, parts = root / "emb.parquet", root / "emb_parts"
    cache = str(root / "cache")
    embed(str(root / "model"), str(config), "--out", str(single), "--cache-dir", cache)
    embed(str(root / "model"), str(config), "--out", str(parts), "--cache-dir", cache,
          "--partitioned", "--batch-size", "5", "--geometry")
    manifest = read_manifest(parts)
    assert [f["regions"] for f in manifest["files"]] == [5, 5, 5, 5, 3]
    assert manifest["regions"] == N_REGIONS and manifest["dim"] == 8
    got = read_partitioned_embeddings(parts).drop(columns="geometry")
    ref = pd.read_parquet(single)
    assert list(got.index) == list(ref.index) and list(got.columns) == list(ref.columns)
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-5, atol=1e-6)
    assert gpd.read_parquet(parts / manifest["files"][0]["file"]).crs.to_epsg() == 4326


def test_transform_batches_match_transform(trained) -> None:
    _, _, ds, model = trained
    for drop in ((), ("v0",)):
        whole = model.transform(ds, drop_views=drop)
        batches = list(model.transform_batches(ds, batch_size=4, drop_views=drop))
        assert len(batches) == 6
        np.testing.assert_allclose(pd.concat(batches).to_numpy(), whole.to_numpy(),
                                   rtol=1e-5, atol=1e-6)
