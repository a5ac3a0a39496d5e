"""Raster views and raster labels on a tiny synthetic GeoTIFF with known answers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import Point, Polygon, box

from cookie.config import RasterLabel, RasterView
from cookie.errors import DataError
from cookie.features import featurize
from cookie.features.raster import featurize_raster
from cookie.sources.raster import raster_label_values, read_raster_regions
from tests.conftest import SHARED, shared_dataset

CRS = "EPSG:32633"
X0, Y0, PX = 1000.0, 2000.0, 10.0  # 10 x 10 pixels of 10 m: x 1000..1100, y 1900..2000
TRIANGLE = Polygon([(1000, 1900), (1063, 1900), (1000, 1963)])
SQUARE_A = box(1000, 1980, 1020, 2000)  # cols 0-1, rows 0-1
SQUARE_B = box(1040, 1940, 1080, 1960)  # cols 4-7, rows 4-5
FAR = box(5000, 5000, 5010, 5010)
TINY = box(1041, 1941, 1043, 1943)  # inside pixel col 4, row 5; far smaller than a pixel
OLINDA = SHARED / "olinda"


def _grid() -> np.ndarray:
    """Band 1 = column index, band 2 = 10 + row index."""
    rows, cols = np.mgrid[0:10, 0:10]
    return np.stack([cols, 10 + rows]).astype(np.float32)


def _write_tif(path: Path, data: np.ndarray, crs: str | None = CRS,
               nodata: float | None = None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2],
                       count=data.shape[0], dtype=data.dtype, crs=crs, nodata=nodata,
                       transform=Affine(PX, 0, X0, 0, -PX, Y0)) as dst:
        dst.write(data)
    return path


def _regions(*geoms) -> gpd.GeoDataFrame:
    ids = pd.Index([f"r{i}" for i in range(len(geoms))], name="region_id")
    return gpd.GeoDataFrame(geometry=list(geoms), index=ids, crs=CRS)


def _pixels_in(geom) -> list[tuple[int, int]]:
    """(row, col) of the pixels whose centre is in `geom` (independent of rasterio)."""
    return [(r, c) for r in range(10) for c in range(10)
            if geom.contains(Point(X0 + PX * (c + 0.5), Y0 - PX * (r + 0.5)))]


def _view(path: Path, **kw) -> RasterView:
    return RasterView(name="img", kind="raster", path=path, **kw)


@pytest.fixture
def tif(tmp_path: Path) -> Path:
    return _write_tif(tmp_path / "scene.tif", _grid())


def test_chip_shape_aux_means_and_normalization(tif: Path) -> None:
    regions = _regions(SQUARE_A, SQUARE_B, TRIANGLE)
    view = featurize_raster(_view(tif, image_size=8), regions)
    assert view.values.shape == (3, 2, 8, 8)
    assert view.is_image and view.mask.all()
    assert view.aux.shape == (3, 5)
    assert view.aux_names == ["img_b1_mean", "img_b2_mean", "img_b1_std", "img_b2_std",
                              "img_valid_frac"]
    grid = _grid().astype(float)
    sets = [_pixels_in(g) for g in (SQUARE_A, SQUARE_B, TRIANGLE)]
    assert [len(s) for s in sets] == [4, 8, 21]
    known = np.array([[[grid[k, r, c] for r, c in s] for k in range(2)] for s in sets],
                     dtype=object)
    means = np.array([[np.mean(known[i, k]) for k in range(2)] for i in range(3)])
    stds = np.array([[np.std(known[i, k]) for k in range(2)] for i in range(3)])
    assert means[0].tolist() == [0.5, 10.5] and means[1].tolist() == [5.5, 14.5]
    # normalization: mean / std of every valid in-region pixel of every region
    pooled = [np.concatenate([known[i, k] for i in range(3)]) for k in range(2)]
    mu = np.array([p.mean() for p in pooled])
    sigma = np.array([p.std() for p in pooled])
    raw = read_raster_regions(_view(tif, image_size=8), regions)
    np.testing.assert_allclose(raw.means, means)
    np.testing.assert_allclose(raw.band_mean, mu)
    np.testing.assert_allclose(raw.band_std, sigma)
    # aux = normalized means and stds, then the valid fraction
    np.testing.assert_allclose(view.aux[:, :2] * sigma + mu, means, atol=1e-5)
    np.testing.assert_allclose(view.aux[:, 2:4] * sigma, stds, atol=1e-5)
    np.testing.assert_allclose(view.aux[:, 4], 1.0)


def test_pixels_outside_the_region_are_zero(tif: Path) -> None:
    size = 8
    view = featurize_raster(_view(tif, image_size=size), _regions(TRIANGLE))
    minx, miny, maxx, maxy = TRIANGLE.bounds  # a square bbox already: 63 x 63 m
    step = (maxx - minx) / size
    inside = np.array([[TRIANGLE.contains(Point(minx + step * (c + 0.5), maxy - step * (r + 0.5)))
                        for c in range(size)] for r in range(size)])
    assert 0 < inside.sum() < size * size
    chip = view.values[0]
    assert (chip[:, ~inside] == 0).all()
    assert (chip[:, inside] != 0).mean() > 0.8
    # band 1 = column index: inside the region values grow from left to right
    row = chip[0, size - 1][inside[size - 1]]
    assert (np.diff(row) > 0).all()


def test_band_selection(tif: Path) -> None:
    view = featurize_raster(_view(tif, bands=[2], image_size=4), _regions(SQUARE_A, SQUARE_B))
    assert view.values.shape == (2, 1, 4, 4)
    assert view.feature_names == ["img_b2"]
    raw = read_raster_regions(_view(tif, bands=[2]), _regions(SQUARE_A, SQUARE_B))
    np.testing.assert_allclose(raw.means[:, 0], [10.5, 14.5])
    with pytest.raises(DataError, match="band 3"):
        featurize_raster(_view(tif, bands=[3]), _regions(SQUARE_A))


def test_region_outside_the_raster_is_masked(tif: Path, caplog) -> None:
    view = featurize_raster(_view(tif), _regions(SQUARE_A, FAR, SQUARE_B))
    assert view.mask.tolist() == [True, False, True]
    assert (view.values[1] == 0).all() and (view.aux[1] == 0).all()
    assert "1 of 3 regions have no valid pixels" in caplog.text


def test_tiny_region_gets_a_chip(tif: Path) -> None:
    regions = _regions(TINY, SQUARE_A)
    view = featurize_raster(_view(tif, image_size=8), regions)
    assert view.mask.all()
    assert (view.values[0] != 0).any()
    raw = read_raster_regions(_view(tif), regions)
    np.testing.assert_allclose(raw.means[0], [4.0, 15.0])
    values = raster_label_values(_label(tif, "b1 + b2"), regions)
    np.testing.assert_allclose(values, [19.0, 11.0])


def test_nodata_is_excluded(tmp_path: Path) -> None:
    data = _grid()
    data[0, 0, 0] = -9999  # band 1, row 0, col 0: inside SQUARE_A
    path = _write_tif(tmp_path / "nd.tif", data, nodata=-9999)
    raw = read_raster_regions(_view(path), _regions(SQUARE_A))
    np.testing.assert_allclose(raw.means[0], [2 / 3, 10.5])
    np.testing.assert_allclose(raw.valid_frac, [0.75])
    # a nodata value stated in the config (file without one)
    path = _write_tif(tmp_path / "nd2.tif", data)
    raw = read_raster_regions(_view(path, nodata=-9999), _regions(SQUARE_A))
    np.testing.assert_allclose(raw.means[0], [2 / 3, 10.5])
    view = featurize_raster(_view(path, nodata=-9999), _regions(SQUARE_A, SQUARE_B))
    assert np.isfinite(view.values).all() and view.mask.all()


def test_raster_not_overlapping_names_both_extents(tif: Path) -> None:
    with pytest.raises(DataError) as exc:
        featurize_raster(_view(tif), _regions(FAR, box(6000, 6000, 6100, 6100)))
    msg = str(exc.value)
    assert "\n" not in msg and str(tif) in msg
    assert "(1000, 1900, 1100, 2000)" in msg  # the file's bounds
    assert "(5000, 5000, 6100, 6100)" in msg  # the regions' bounds
    with pytest.raises(DataError, match="does not overlap"):
        raster_label_values(_label(tif, "b1"), _regions(FAR))


def test_crs_override_for_mis_tagged_file(tmp_path: Path) -> None:
    path = _write_tif(tmp_path / "mistagged.tif", _grid(), crs="EPSG:4326")
    regions = _regions(SQUARE_A, SQUARE_B)
    with pytest.raises(DataError, match="does not overlap"):
        featurize_raster(_view(path), regions)
    view = featurize_raster(_view(path, crs=CRS), regions)
    assert view.mask.all()
    untagged = _write_tif(tmp_path / "untagged.tif", _grid(), crs=None)
    with pytest.raises(DataError, match="no CRS"):
        featurize_raster(_view(untagged), regions)
    assert featurize_raster(_view(untagged, crs=CRS), regions).mask.all()


def test_regions_in_another_crs_are_reprojected(tif: Path) -> None:
    regions = _regions(SQUARE_A, SQUARE_B)
    direct = read_raster_regions(_view(tif), regions)
    moved = read_raster_regions(_view(tif), regions.to_crs("EPSG:4326"))
    np.testing.assert_allclose(moved.means, direct.means, atol=1e-6)


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.tif"
    bad.write_bytes(b"this is not a tiff \x00\x01\x02" * 50)
    for call in (lambda p: featurize_raster(_view(p), _regions(SQUARE_A)),
                 lambda p: raster_label_values(_label(p, "b1"), _regions(SQUARE_A))):
        with pytest.raises(DataError) as exc:
            call(bad)
        assert str(bad) in str(exc.value) and "\n" not in str(exc.value)
        with pytest.raises(DataError, match="not found"):
            call(tmp_path / "missing.tif")
    plain = tmp_path / "plain.tif"
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        with rasterio.open(plain, "w", driver="GTiff", height=4, width=4, count=1,
                           dtype="uint8") as dst:
            dst.write(np.ones((1, 4, 4), dtype="uint8"))
    with pytest.raises(DataError, match="not georeferenced"):
        featurize_raster(_view(plain), _regions(SQUARE_A))


def _label(path: Path, expression: str) -> RasterLabel:
    return RasterLabel(name="lab", path=path, expression=expression)


def test_raster_label_values_known_means(tif: Path) -> None:
    regions = _regions(SQUARE_A, SQUARE_B, TRIANGLE, FAR)
    values = raster_label_values(_label(tif, "(b2 - b1) / (b2 + b1)"), regions)
    grid = _grid().astype(float)
    expected = [np.mean([(grid[1, r, c] - grid[0, r, c]) / (grid[1, r, c] + grid[0, r, c])
                         for r, c in _pixels_in(g)]) for g in (SQUARE_A, SQUARE_B, TRIANGLE)]
    # SQUARE_A by hand: pixels (b1, b2) = (0, 10), (1, 10), (0, 11), (1, 11)
    assert expected[0] == pytest.approx((1 + 9 / 11 + 1 + 10 / 12) / 4)
    np.testing.assert_allclose(values[:3], expected)
    assert np.isnan(values[3])


def test_raster_label_rejects_unknown_names(tif: Path) -> None:
    from cookie.errors import ConfigError

    with pytest.raises(ConfigError, match="ndvi"):
        raster_label_values(_label(tif, "ndvi * 2"), _regions(SQUARE_A))
    with pytest.raises(DataError, match="band 7"):
        raster_label_values(_label(tif, "b7 - b1"), _regions(SQUARE_A))


def test_registered_featurizer(tif: Path) -> None:
    view = featurize(_view(tif, image_size=4), _regions(SQUARE_A))
    assert view.kind == "raster" and view.values.shape == (1, 2, 4, 4)


# ---------------------------------------------------------------- real data
def test_olinda_real_data() -> None:
    shared_dataset("olinda")
    tracts = gpd.read_file(OLINDA / "tracts.gpkg").set_index("tract_id")
    regions = tracts.rename_axis("region_id").to_crs("EPSG:31985")
    assert len(regions) == 470
    img = featurize_raster(RasterView(name="imagery", kind="raster",
                                      path=OLINDA / "landsat7.tif", bands=[1, 2, 3]), regions)
    dem = featurize_raster(RasterView(name="elevation", kind="raster", path=OLINDA / "dem.tif",
                                      crs="EPSG:31985"), regions)
    assert img.values.shape == (470, 3, 16, 16) and img.aux.shape == (470, 7)
    assert dem.values.shape == (470, 1, 16, 16) and dem.aux.shape == (470, 3)
    assert img.mask.sum() >= 465 and dem.mask.sum() >= 465
    # normalized per band over all tracts: aux means are centred near 0
    assert np.abs(img.aux[img.mask, :3].mean(axis=0)).max() < 0.5
    ndvi = raster_label_values(RasterLabel(name="ndvi", path=OLINDA / "landsat7.tif",
                                           expression="(b4 - b3) / (b4 + b3)"), regions)
    ok = np.isfinite(ndvi) & (ndvi >= -1) & (ndvi <= 1)
    assert ok.mean() > 0.98


def test_large_windows_are_read_decimated(tif: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cookie.sources import raster

    regions = _regions(SQUARE_B, TRIANGLE)
    native = read_raster_regions(_view(tif), regions)
    monkeypatch.setattr(raster, "MAX_READ_PX", 4)  # windows of up to 9 px: read at half size
    coarse = read_raster_regions(_view(tif), regions)
    assert (coarse.counts < native.counts).all()
    np.testing.assert_allclose(coarse.means, native.means, atol=1.5)
    view = featurize_raster(_view(tif, image_size=8), regions)
    assert view.mask.all() and np.isfinite(view.values).all()
