"""Real data: the four Helsinki vector views over the 802 population cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from cookie.config import load_config
from cookie.features import featurize, featurize_all
from cookie.sources.readers import read_vector
from cookie.sources.regions import load_regions
from tests.conftest import SHARED, shared_dataset

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED / "helsinki"
CONFIG = ROOT / "benchmarks" / "helsinki" / "helsinki.toml"


@pytest.fixture(scope="module")
def featurized():
    shared_dataset("helsinki")
    cfg = load_config(CONFIG)
    regions = load_regions(cfg)
    views = {v.name: featurize(v, regions) for v in cfg.views}
    cells_union = shapely.union_all(regions.geometry.to_numpy())
    return cfg, regions, views, cells_union


def layer(name: str) -> np.ndarray:
    return read_vector(DATA / f"{name}.gpkg").geometry.to_numpy()


def test_shapes_and_masks(featurized):
    _, regions, views, _ = featurized
    assert len(regions) == 802 and regions.index.name == "region_id"
    assert set(views) == {"buildings", "landcover", "roads", "stops"}
    b = views["buildings"]
    assert b.values.shape == (802, 1, 32, 32) and b.aux.shape == (802, 7)
    assert ((b.values >= 0) & (b.values <= 1)).all()
    for name in ("landcover", "roads", "stops"):
        v = views[name]
        assert v.values.ndim == 2 and v.values.shape[0] == 802
        assert len(v.feature_names) == v.values.shape[1]
        assert (v.values[~v.mask] == 0).all()
    # nearly every populated cell has buildings and roads; stops are sparser
    assert b.mask.sum() >= 790 and views["roads"].mask.sum() >= 780
    assert 100 <= views["stops"].mask.sum() < 802
    for v in views.values():
        assert (list(v.region_ids) == list(regions.index))


def test_building_area_matches_clip(featurized):
    _, regions, views, cells_union = featurized
    b = views["buildings"]
    ours = np.expm1(b.aux[:, b.aux_names.index("total_area_m2")].astype(float)).sum()
    expected = shapely.area(shapely.intersection(layer("buildings"), cells_union)).sum()
    assert ours == pytest.approx(expected, rel=0.01)
    # the images carry the same area: pixel fractions x pixel area (the cells are slightly
    # rotated squares, so each image spans the cell's bounding square, ~257 m)
    minx, miny, maxx, maxy = regions.geometry.bounds.to_numpy().T
    side = np.maximum(maxx - minx, maxy - miny)
    img_area = b.values.sum(axis=(1, 2, 3)) * (side / 32) ** 2
    assert img_area.sum() == pytest.approx(expected, rel=0.02)


def test_landcover_roads_stops_totals(featurized):
    _, regions, views, cells_union = featurized
    area = regions.geometry.area.to_numpy()
    lc = views["landcover"]
    assert lc.feature_names[0] == "covered" and ((lc.values >= 0) & (lc.values <= 1)).all()
    lc_expected = shapely.intersection(shapely.union_all(layer("landcover")), cells_union).area
    assert (lc.values[:, 0] * area).sum() == pytest.approx(lc_expected, rel=0.01)

    roads = views["roads"]
    km = np.expm1(roads.values[:, 0].astype(float)) * area / 1e6
    expected_km = shapely.length(shapely.intersection(layer("roads"), cells_union)).sum() / 1e3
    assert km.sum() == pytest.approx(expected_km, rel=0.01)
    assert np.expm1(roads.values[:, 2]).sum() > 100  # intersections

    stops = views["stops"]
    count = np.rint(np.expm1(stops.values[:, 0].astype(float)))
    inside = shapely.intersects(layer("stops"), cells_union).sum()
    assert count.sum() == inside


def test_parallel_featurization_equals_serial(featurized):
    cfg, regions, views, _ = featurized
    parallel = featurize_all(cfg.views, regions, workers=3)
    for view_cfg, view in zip(cfg.views, parallel, strict=True):
        expected = views[view_cfg.name]
        np.testing.assert_array_equal(view.values, expected.values)
        np.testing.assert_array_equal(view.mask, expected.mask)
        if expected.aux is not None:
            np.testing.assert_array_equal(view.aux, expected.aux)
