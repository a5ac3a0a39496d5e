"""Generated regions: square grids and H3 cells."""

from __future__ import annotations

import geopandas as gpd
import h3
import pytest
import shapely
from shapely.geometry import Polygon, box

from cookie.config import GridSpec, H3Spec, RegionsConfig
from cookie.errors import ConfigError
from cookie.sources.grids import regions_from_grid, regions_from_h3

CRS = "EPSG:3067"


def test_grid_over_bounds():
    rc = RegionsConfig(grid=GridSpec(size_m=250, bounds=(368000, 6678000, 369000, 6679000)))
    g = regions_from_grid(rc, CRS)
    assert len(g) == 16 and g.index.name == "region_id" and g.index.is_unique
    assert g.crs == CRS
    assert set(g.index) == {f"g{r}_{c}" for r in range(4) for c in range(4)}
    assert shapely.area(g.geometry.to_numpy()) == pytest.approx([62500] * 16)
    assert g.geometry.union_all().area == pytest.approx(1e6)
    # row 0 is at the top, column 0 at the left
    assert g.loc["g0_0"].geometry.bounds == (368000, 6678750, 368250, 6679000)
    assert g.loc["g3_3"].geometry.bounds == (368750, 6678000, 369000, 6678250)


def test_grid_partial_cells_and_missing_crs():
    rc = RegionsConfig(grid=GridSpec(size_m=300, bounds=(0, 0, 1000, 1000)))
    assert len(regions_from_grid(rc, CRS)) == 16  # 4 x 4, the last ones overhang
    with pytest.raises(ConfigError, match="crs"):
        regions_from_grid(rc, None)


def test_grid_over_area_file_keeps_intersecting_cells(tmp_path):
    # an L-shaped area: cells touching it only along an edge are dropped
    area = Polygon([(0, 0), (1000, 0), (1000, 500), (500, 500), (500, 1000), (0, 1000)])
    path = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(geometry=[area], crs=CRS).to_file(path, engine="pyogrio")
    g = regions_from_grid(RegionsConfig(grid=GridSpec(size_m=250, area=path)), None)
    assert len(g) == 12 and g.crs == CRS
    assert "g0_3" not in g.index and "g3_3" in g.index and "g0_0" in g.index


def test_h3_over_area(tmp_path):
    poly = gpd.GeoSeries([box(368000, 6678000, 370000, 6680000)], crs=CRS)
    path = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(geometry=poly).to_file(path, engine="pyogrio")
    g = regions_from_h3(RegionsConfig(h3=H3Spec(resolution=8, area=path)), None)
    assert g.crs == "EPSG:4326" and g.index.name == "region_id" and g.index.is_unique
    assert len(g) > 4
    assert all(h3.is_valid_cell(c) and h3.get_resolution(c) == 8 for c in g.index)
    # the cells cover the area
    area_ll = poly.to_crs(4326).iloc[0]
    assert g.geometry.union_all().buffer(1e-9).covers(area_ll)
    # the polygon of a cell contains its centre (lng, lat order)
    lat, lng = h3.cell_to_latlng(g.index[0])
    assert g.geometry.iloc[0].contains(shapely.Point(lng, lat))


def test_h3_over_bounds():
    rc = RegionsConfig(h3=H3Spec(resolution=7, bounds=(24.90, 60.15, 24.95, 60.18)))
    g = regions_from_h3(rc, None)
    assert len(g) >= 1 and all(h3.is_valid_cell(c) for c in g.index)
    g2 = regions_from_h3(rc, "EPSG:4326")
    assert list(g.index) == list(g2.index)
