"""Partitioned featurization: tiles computed apart (dask) give the single-process features.

Real data: the Helsinki views over 3 km tiles with the threaded dask scheduler (2 workers);
synthetic: points and road crossings exactly on tile edges and corners (the "first region
wins" rule across tiles); and the partitioned GeoParquet output reading back.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import tomli_w
from shapely.geometry import LineString, Point, Polygon, box
from typer.testing import CliRunner

from cookie.cli import app
from cookie.config import LinesView, PointsView, PolygonsView, load_config
from cookie.dataset.partitioned import read_manifest, read_partitioned_view, write_partitioned_views
from cookie.features import featurize, get_kind
from cookie.features.tiling import dask_runner, featurize_tiled, tile_count, tile_keys
from cookie.features.view import ViewData
from cookie.sources.regions import load_regions
from tests.conftest import SHARED, shared_dataset

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED / "helsinki"
CONFIG = ROOT / "benchmarks" / "helsinki" / "helsinki.toml"
CRS = "EPSG:3067"


def assert_same(a: ViewData, b: ViewData) -> None:
    assert a.feature_names == b.feature_names and a.kind == b.kind
    assert list(a.region_ids) == list(b.region_ids)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert np.allclose(a.values, b.values, rtol=1e-6, atol=1e-9)
    assert (a.aux is None) == (b.aux is None)
    if a.aux is not None:
        assert a.aux_names == b.aux_names
        assert np.allclose(a.aux, b.aux, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def helsinki():
    shared_dataset("helsinki")
    cfg = load_config(CONFIG)
    # a small vocabulary too, so that the 'other' column and the global ranking are exercised
    few = PolygonsView(name="landcover5", kind="polygons", path=DATA / "landcover.gpkg",
                       class_column="class", max_classes=5)
    views_cfg = [*cfg.views, few]
    regions = load_regions(cfg)
    single = {v.name: featurize(v, regions) for v in views_cfg}
    keys = tile_keys(regions, size_m=3000)
    with dask_runner("threads", workers=2) as run:
        tiled = {v.name: featurize_tiled(v, regions, keys, run) for v in views_cfg}
    return regions, keys, single, tiled


@pytest.mark.parametrize("name", ["stops", "landcover", "landcover5", "roads", "buildings"])
def test_tiled_equals_single_process(helsinki, name) -> None:
    regions, keys, single, tiled = helsinki
    assert tile_count(keys) > 10
    assert_same(tiled[name], single[name])
    if name == "landcover5":
        assert tiled[name].feature_names[-1] == "share_other"
        assert len(tiled[name].feature_names) == 1 + 5 + 1


def test_partitioned_output_reads_back(helsinki, tmp_path) -> None:
    regions, keys, _, tiled = helsinki
    write_partitioned_views(tiled, regions, keys, tmp_path, {"note": "test"})
    manifest = read_manifest(tmp_path)
    assert manifest["note"] == "test" and len(manifest["tiles"]) == tile_count(keys)
    assert sum(t["regions"] for t in manifest["tiles"]) == len(regions)
    for name, view in tiled.items():
        files = list((tmp_path / name).glob("tile=*/part.parquet"))
        assert len(files) == tile_count(keys)
        assert_same(read_partitioned_view(tmp_path, name), view)
    part = gpd.read_parquet(files[0])  # each tile file is GeoParquet in the regions' CRS
    assert part.crs == regions.crs and "region_id" in part.columns


def test_cli_featurize_h3_tiles_reads_back(helsinki, tmp_path) -> None:
    _, _, single, _ = helsinki
    cfg = {
        "name": "helsinki", "crs": CRS,
        "regions": {"path": str(DATA / "cells.gpkg"), "id_column": "cell_id"},
        "views": [
            {"name": "roads", "kind": "lines", "path": str(DATA / "roads.gpkg"),
             "class_column": "class", "transform": "log1p"},
            {"name": "stops", "kind": "points", "path": str(DATA / "stops.gpkg"),
             "transform": "log1p"},
        ],
    }
    config = tmp_path / "helsinki.toml"
    config.write_text(tomli_w.dumps(cfg))
    out = tmp_path / "features"
    result = CliRunner().invoke(app, ["featurize", str(config), "--h3", "7", "--workers", "2",
                                      "--scheduler", "threads", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest["tiling"]["h3_resolution"] == 7 and len(manifest["tiles"]) > 10
    for name in ("roads", "stops"):
        assert_same(read_partitioned_view(out, name), single[name])


# ---------------------------------------------------------------- edges and corners
def grid_regions(n: int = 4, cell: float = 100.0) -> gpd.GeoDataFrame:
    ids = [f"c{i}_{j}" for j in range(n) for i in range(n)]
    geoms = [box(i * cell, j * cell, (i + 1) * cell, (j + 1) * cell)
             for j in range(n) for i in range(n)]
    return gpd.GeoDataFrame(geometry=geoms, index=pd.Index(ids, name="region_id"), crs=CRS)


def test_points_and_crossings_on_tile_edges_count_once(tmp_path) -> None:
    regions = grid_regions()
    keys = tile_keys(regions, size_m=200.0)  # tile edges at x = 200 and y = 200
    assert tile_count(keys) == 4
    pts = [Point(200, 50), Point(200, 200), Point(150, 200), Point(10, 10), Point(390, 390)]
    gpd.GeoDataFrame({"cat": ["a", "b", "a", "c", "b"]}, geometry=pts, crs=CRS).to_file(
        tmp_path / "p.gpkg")
    # a plus crossing at the corner of four tiles, and a T junction on a tile edge
    lines = [LineString([(200, 200), (200 + dx, 200 + dy)])
             for dx, dy in ((60, 0), (-60, 0), (0, 60), (0, -60))]
    lines += [LineString([(200, 20), (200, 380)]), LineString([(200, 300), (330, 300)])]
    gpd.GeoDataFrame({"cls": ["x"] * 4 + ["y", "z"]}, geometry=lines, crs=CRS).to_file(
        tmp_path / "r.gpkg")
    cfgs = [PointsView(name="p", kind="points", path=tmp_path / "p.gpkg", class_column="cat",
                       max_classes=2, transform="none"),
            LinesView(name="r", kind="lines", path=tmp_path / "r.gpkg", class_column="cls",
                      transform="none")]
    with dask_runner("sync") as run:
        for cfg in cfgs:
            single = featurize(cfg, regions)
            tiled = featurize_tiled(cfg, regions, keys, run)
            assert_same(tiled, single)
    points = featurize(cfgs[0], regions)
    assert points.values[:, 0].sum() == 5  # every point counted exactly once
    roads = featurize(cfgs[1], regions)
    # nodes of degree >= 3, all on the tile edge x = 200: the plus at the four-tile corner
    # (200, 200), the arm ends (200, 140) and (200, 260) and the T end (200, 300) on the
    # long line; each counted once, in the region listed first
    assert roads.values[:, 2].sum() == 4


# ---------------------------------------------------------------- threads share geometries
def test_featurizing_never_prepares_the_callers_geometries(tmp_path) -> None:
    """Tiles featurized in threads share the layer's and the guard regions' shapely objects.
    GEOS builds a prepared geometry's indexes lazily and not thread-safely, so a featurizer
    that prepared them in place raced on them (a segmentation fault of the test session in
    CI). Overlapping land-use polygons and non-convex regions take both prepared paths."""
    ell = Polygon([(0, 0), (200, 0), (200, 100), (100, 100), (100, 200), (0, 200)])
    regions = gpd.GeoDataFrame(
        geometry=[ell, box(200, 0, 400, 200)],
        index=pd.Index(["ell", "square"], name="region_id"), crs=CRS)
    polygons = [box(50, 50, 250, 150), box(120, 60, 300, 120), Point(150, 150).buffer(40)]
    gpd.GeoDataFrame({"cls": ["a", "a", "b"]}, geometry=polygons, crs=CRS).to_file(
        tmp_path / "lu.gpkg")
    cfg = PolygonsView(name="lu", kind="polygons", path=tmp_path / "lu.gpkg",
                       class_column="cls")
    module = get_kind("polygons").tiled_featurizer()
    layer = module.load_layer(cfg, regions)
    view = module.featurize_layer(cfg, regions, layer, module.layer_vocabulary(cfg, layer))
    assert view.mask.all()
    assert not shapely.is_prepared(layer.geometry.to_numpy()).any()
    assert not shapely.is_prepared(regions.geometry.to_numpy()).any()
    # the two "a" boxes overlap inside the square, counted once: the first box's part there,
    # [200, 250] x [50, 150], plus the second box's part beyond it, [250, 300] x [60, 120]
    square = view.values[list(view.region_ids).index("square")]
    assert np.isclose(square[view.feature_names.index("share_a")] * 200 * 200,
                      50 * 100 + 50 * 60)
