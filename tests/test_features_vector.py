"""Vector featurizers (points, polygons, footprints, lines) on tiny layers with known answers."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box

from cookie.config import FootprintsView, LinesView, PointsView, PolygonsView
from cookie.errors import DataError
from cookie.features import featurize, featurize_all, fork_is_safe
from cookie.features.footprints import STAT_NAMES, featurize_footprints
from cookie.features.lines import featurize_lines, intersection_nodes
from cookie.features.points import featurize_points
from cookie.features.polygons import featurize_polygons

CRS = "EPSG:3067"


def make_regions(boxes: dict[str, tuple[float, float, float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"geometry": [box(*b) for b in boxes.values()]},
        index=pd.Index(list(boxes), name="region_id"), crs=CRS,
    )


@pytest.fixture
def regions() -> gpd.GeoDataFrame:
    """Two 100 m x 100 m squares side by side: a = [0, 100], b = [100, 200]."""
    return make_regions({"a": (0, 0, 100, 100), "b": (100, 0, 200, 100)})


def write(path: Path, geoms: list, crs: str | None = CRS, **columns) -> Path:
    gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geoms, crs=crs)).to_file(
        path, engine="pyogrio")
    return path


def col(view, name: str) -> np.ndarray:
    return view.values[:, view.feature_names.index(name)]


def aux(view, name: str) -> np.ndarray:
    return view.aux[:, view.aux_names.index(name)]


# ---------------------------------------------------------------- points
def test_points_counts_shares_density(tmp_path, regions):
    p = write(tmp_path / "poi.gpkg", [Point(10, 10), Point(20, 20), Point(30, 30)],
              cat=["a", "a", "b"])
    v = featurize_points(
        PointsView(name="poi", kind="points", path=p, class_column="cat", transform="none"),
        regions)
    assert v.kind == "points" and list(v.region_ids) == ["a", "b"]
    assert v.feature_names == ["count", "density_km2", "count_a", "count_b", "share_a",
                               "share_b"]
    np.testing.assert_allclose(v.values[0], [3, 300, 2, 1, 2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_array_equal(v.values[1], 0)
    assert v.mask.tolist() == [True, False]


def test_points_log1p_applies_to_counts_not_shares(tmp_path, regions):
    p = write(tmp_path / "poi.gpkg", [Point(10, 10), Point(20, 20), Point(30, 30)],
              cat=["a", "a", "b"])
    v = featurize_points(PointsView(name="poi", kind="points", path=p, class_column="cat"),
                         regions)
    np.testing.assert_allclose(col(v, "count"), [math.log1p(3), 0], rtol=1e-6)
    np.testing.assert_allclose(col(v, "density_km2"), [math.log1p(300), 0], rtol=1e-6)
    np.testing.assert_allclose(col(v, "share_a"), [2 / 3, 0], rtol=1e-6)


def test_points_top_classes_and_other(tmp_path, regions):
    p = write(tmp_path / "poi.gpkg", [Point(10, 10), Point(20, 20), Point(30, 30),
                                      Point(150, 50)], cat=["a", "a", "b", "c"])
    v = featurize_points(PointsView(name="poi", kind="points", path=p, class_column="cat",
                                    max_classes=1, transform="none"), regions)
    assert v.feature_names == ["count", "density_km2", "count_a", "count_other", "share_a",
                               "share_other"]
    np.testing.assert_allclose(v.values, [[3, 300, 2, 1, 2 / 3, 1 / 3], [1, 100, 0, 1, 0, 1]],
                               rtol=1e-6)


def test_points_without_class_column_edge_and_polygons(tmp_path, regions):
    # a point on the shared edge counts once; a polygon counts via a representative point
    p = write(tmp_path / "poi.gpkg", [Point(100, 50), box(140, 40, 160, 60), Point(500, 500)])
    v = featurize_points(PointsView(name="poi", kind="points", path=p, transform="none"),
                         regions)
    assert v.feature_names == ["count", "density_km2"]
    assert col(v, "count").sum() == 2
    assert col(v, "count")[1] >= 1


def test_points_missing_class_column(tmp_path, regions):
    p = write(tmp_path / "poi.gpkg", [Point(10, 10)], kind=["x"])
    with pytest.raises(DataError, match="poi.gpkg.*'cat'"):
        featurize_points(PointsView(name="poi", kind="points", path=p, class_column="cat"),
                         regions)


# ---------------------------------------------------------------- polygons
def test_polygons_half_cover_and_overlaps(tmp_path, regions):
    p = write(tmp_path / "lu.gpkg",
              [box(0, 0, 50, 100), box(0, 0, 50, 100), box(10, 10, 40, 40), box(0, 0, 100, 30)],
              landuse=["x", "x", "x", "y"])
    v = featurize_polygons(
        PolygonsView(name="lu", kind="polygons", path=p, class_column="landuse"), regions)
    assert v.feature_names == ["covered", "share_x", "share_y"]
    # x: three overlapping polygons, union = left half; y: bottom 30 %, union with x = 65 %
    np.testing.assert_allclose(v.values[0], [0.65, 0.5, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(v.values[1], 0)
    assert v.mask.tolist() == [True, False]


def test_polygons_no_class_column_and_crossing(tmp_path, regions):
    p = write(tmp_path / "lu.gpkg", [box(50, 0, 150, 100)])
    v = featurize_polygons(PolygonsView(name="lu", kind="polygons", path=p), regions)
    assert v.feature_names == ["covered"]
    np.testing.assert_allclose(v.values[:, 0], [0.5, 0.5], rtol=1e-6)
    assert v.mask.all()


def test_polygons_bowtie_is_repaired_and_counted(tmp_path, regions):
    bowtie = Polygon([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)])
    assert not bowtie.is_valid
    p = write(tmp_path / "lu.gpkg", [bowtie], landuse=["x"])
    v = featurize_polygons(
        PolygonsView(name="lu", kind="polygons", path=p, class_column="landuse"), regions)
    np.testing.assert_allclose(v.values[0], [0.5, 0.5], rtol=1e-6)  # two triangles


def test_polygons_spike_collection_keeps_polygon_part(tmp_path, regions):
    spike = Polygon([(0, 0), (50, 0), (50, 50), (50, 80), (50, 50), (0, 50), (0, 0)])
    assert shapely.make_valid(spike).geom_type == "GeometryCollection"
    p = write(tmp_path / "lu.gpkg", [spike])
    v = featurize_polygons(PolygonsView(name="lu", kind="polygons", path=p), regions)
    np.testing.assert_allclose(v.values[:, 0], [0.25, 0], rtol=1e-6)


def test_polygons_wrong_geometry_type(tmp_path, regions):
    p = write(tmp_path / "lu.gpkg", [Point(1, 1)], landuse=["x"])
    with pytest.raises(DataError, match=r"lu\.gpkg.*Polygon.*Point") as exc:
        featurize_polygons(PolygonsView(name="lu", kind="polygons", path=p), regions)
    assert "\n" not in str(exc.value)


def test_empty_layer(tmp_path, regions):
    p = write(tmp_path / "empty.gpkg", [], landuse=[])
    with pytest.raises(DataError, match=r"empty\.gpkg.*empty"):
        featurize_polygons(PolygonsView(name="lu", kind="polygons", path=p), regions)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_layer_without_crs(tmp_path, regions):
    p = write(tmp_path / "nocrs.gpkg", [box(0, 0, 50, 100)], crs=None)
    with pytest.raises(DataError, match=r"nocrs\.gpkg.*no CRS"):
        featurize_polygons(PolygonsView(name="lu", kind="polygons", path=p), regions)
    v = featurize_polygons(PolygonsView(name="lu", kind="polygons", path=p, crs=CRS), regions)
    np.testing.assert_allclose(v.values[:, 0], [0.5, 0], rtol=1e-6)


def test_layer_is_reprojected(tmp_path, regions):
    poly = gpd.GeoSeries([box(0, 0, 50, 100)], crs=CRS).to_crs(4326).iloc[0]
    p = write(tmp_path / "ll.gpkg", [poly], crs="EPSG:4326")
    v = featurize_polygons(PolygonsView(name="lu", kind="polygons", path=p), regions)
    np.testing.assert_allclose(v.values[:, 0], [0.5, 0], atol=1e-3)


# ---------------------------------------------------------------- footprints
def test_footprints_single_building(tmp_path, regions):
    p = write(tmp_path / "b.gpkg", [box(10, 10, 20, 20)])
    v = featurize_footprints(FootprintsView(name="b", kind="footprints", path=p, image_size=10),
                             regions)
    assert v.values.shape == (2, 1, 10, 10) and v.is_image
    assert v.aux_names == STAT_NAMES and v.aux.shape == (2, len(STAT_NAMES))
    assert len(v.feature_names) == 100
    assert v.mask.tolist() == [True, False]
    np.testing.assert_allclose(np.expm1(aux(v, "count")), [1, 0], atol=1e-5)
    np.testing.assert_allclose(np.expm1(aux(v, "total_area_m2")), [100, 0], rtol=1e-5)
    np.testing.assert_allclose(np.expm1(aux(v, "mean_area_m2")), [100, 0], rtol=1e-5)
    np.testing.assert_allclose(aux(v, "coverage"), [0.01, 0], rtol=1e-5)
    np.testing.assert_allclose(np.expm1(aux(v, "mean_perimeter_m")), [40, 0], rtol=1e-5)
    np.testing.assert_allclose(aux(v, "mean_compactness"), [math.pi / 4, 0], rtol=1e-5)
    np.testing.assert_allclose(aux(v, "orientation_std_deg"), [0, 0], atol=1e-3)
    # 10 m pixels, row 0 at the top: x 10..20 -> column 1, y 10..20 -> row 8
    img = v.values[0, 0]
    assert img[8, 1] == pytest.approx(1.0)
    assert img.sum() == pytest.approx(1.0)
    assert v.values[1].sum() == 0


def test_footprints_partial_pixels_and_clipping(tmp_path, regions):
    # half a pixel covered in a; a building across the a|b edge is clipped to each side
    p = write(tmp_path / "b.gpkg", [box(10, 10, 15, 20), box(95, 40, 105, 50)])
    v = featurize_footprints(FootprintsView(name="b", kind="footprints", path=p, image_size=10),
                             regions)
    img = v.values[:, 0]
    assert img[0, 8, 1] == pytest.approx(0.5)
    assert img[0, 5, 9] == pytest.approx(0.5) and img[1, 5, 0] == pytest.approx(0.5)
    np.testing.assert_allclose(np.expm1(aux(v, "count")), [2, 1], atol=1e-5)
    np.testing.assert_allclose(np.expm1(aux(v, "total_area_m2")), [100, 50], rtol=1e-5)
    np.testing.assert_allclose(img.sum(axis=(1, 2)) * 100, [100, 50], rtol=1e-5)


def test_footprints_orientation_spread(tmp_path, regions):
    square = box(-5, -5, 5, 5)
    rot = [shapely.affinity.rotate(square, a, origin=(0, 0)) for a in (0, 30, 90)]
    geoms = [shapely.affinity.translate(g, 30, 50) for g in rot[:2]]  # 0 and 30 degrees in a
    geoms += [shapely.affinity.translate(g, x, 50) for g, x in ((rot[0], 130), (rot[2], 170))]
    p = write(tmp_path / "b.gpkg", geoms)
    v = featurize_footprints(FootprintsView(name="b", kind="footprints", path=p, image=False),
                             regions)
    assert v.values.shape == (2, len(STAT_NAMES)) and v.aux is None
    assert v.feature_names == STAT_NAMES
    # angles 0 and 30 (period 90): R = |1 + exp(i 4 pi/6)| / 2 = 0.5
    expected = math.degrees(math.sqrt(-2 * math.log(0.5)) / 4)
    np.testing.assert_allclose(col(v, "orientation_std_deg"), [expected, 0], atol=1e-3)


def test_footprints_bowtie_is_repaired_and_counted(tmp_path, regions):
    bowtie = Polygon([(10, 10), (30, 30), (30, 10), (10, 30), (10, 10)])
    p = write(tmp_path / "b.gpkg", [bowtie])
    v = featurize_footprints(FootprintsView(name="b", kind="footprints", path=p), regions)
    np.testing.assert_allclose(np.expm1(aux(v, "count")), [1, 0], atol=1e-5)
    np.testing.assert_allclose(np.expm1(aux(v, "total_area_m2")), [200, 0], rtol=1e-5)


def test_footprints_wrong_type(tmp_path, regions):
    p = write(tmp_path / "b.gpkg", [LineString([(0, 0), (10, 10)])])
    with pytest.raises(DataError, match=r"b\.gpkg.*LineString"):
        featurize_footprints(FootprintsView(name="b", kind="footprints", path=p), regions)


# ---------------------------------------------------------------- lines
def test_lines_length_per_km2(tmp_path, regions):
    p = write(tmp_path / "r.gpkg", [LineString([(0, 50), (100, 50)])], cls=["main"])
    v = featurize_lines(
        LinesView(name="r", kind="lines", path=p, class_column="cls", transform="none"), regions)
    assert v.feature_names == ["length_km_per_km2", "segments", "intersections",
                               "length_main_km_per_km2"]
    np.testing.assert_allclose(v.values[0], [10, 1, 0, 10], rtol=1e-6)
    np.testing.assert_array_equal(v.values[1], 0)
    assert v.mask.tolist() == [True, False]


def test_lines_plus_crossing_is_one_intersection(tmp_path, regions):
    arms = [LineString([(50, 50), (50 + dx, 50 + dy)])
            for dx, dy in ((40, 0), (-40, 0), (0, 40), (0, -40))]
    p = write(tmp_path / "r.gpkg", arms, cls=["a", "a", "b", "b"])
    v = featurize_lines(
        LinesView(name="r", kind="lines", path=p, class_column="cls", transform="none"), regions)
    np.testing.assert_allclose(v.values[0], [16, 4, 1, 8, 8], rtol=1e-6)
    v = featurize_lines(LinesView(name="r", kind="lines", path=p), regions)
    np.testing.assert_allclose(v.values[0], np.log1p([16, 4, 1]), rtol=1e-6)


def test_lines_t_junction_bridge_and_crossing_regions(tmp_path, regions):
    lines = [
        LineString([(10, 20), (50, 20), (90, 20)]),  # through road, not split
        LineString([(50, 20), (50, 5)]),             # branch ending on it: T junction
        LineString([(20, 80), (80, 80)]),            # two lines crossing without a node:
        LineString([(30, 70), (30, 95)]),            # a bridge, no intersection
        MultiLineString([[(150, 50), (160, 50)], [(170, 50), (180, 50)]]),
        LineString([(90, 60), (110, 60)]),           # crosses the a|b edge
    ]
    p = write(tmp_path / "r.gpkg", lines)
    v = featurize_lines(LinesView(name="r", kind="lines", path=p, transform="none"), regions)
    np.testing.assert_allclose(col(v, "intersections"), [1, 0])
    np.testing.assert_allclose(col(v, "segments"), [5, 3])
    np.testing.assert_allclose(col(v, "length_km_per_km2"),
                               [(80 + 15 + 60 + 25 + 10) / 1000 / 0.01, 30 / 1000 / 0.01],
                               rtol=1e-6)


def test_intersection_nodes_degree():
    star = [LineString([(0, 0), (x, y)]) for x, y in ((1, 0), (0, 1), (-1, 0))]
    assert len(intersection_nodes(np.array(star, dtype=object))) == 1
    chain = [LineString([(0, 0), (1, 0)]), LineString([(1, 0), (2, 0)])]
    assert len(intersection_nodes(np.array(chain, dtype=object))) == 0


def test_lines_wrong_type(tmp_path, regions):
    p = write(tmp_path / "r.gpkg", [box(0, 0, 10, 10)])
    with pytest.raises(DataError, match=r"r\.gpkg.*LineString.*Polygon"):
        featurize_lines(LinesView(name="r", kind="lines", path=p), regions)


def test_registry_dispatch(tmp_path, regions):
    p = write(tmp_path / "poi.gpkg", [Point(10, 10)])
    v = featurize(PointsView(name="poi", kind="points", path=p), regions)
    assert v.mask.tolist() == [True, False]


# ---------------------------------------------------------------- properties
GRID = make_regions({f"c{i}{j}": (i * 100, j * 100, (i + 1) * 100, (j + 1) * 100)
                     for i in range(3) for j in range(3)})
EXTENT = box(0, 0, 300, 300)
# coordinates on a micrometre grid: far below it (1e-188 m off an edge), GEOS snaps a point
# onto the edge while exact arithmetic keeps it outside, and the two answers differ
coord = st.integers(-50_000_000, 350_000_000).map(lambda v: v / 1e6)
rects = st.lists(
    st.tuples(coord, coord, st.floats(1, 150), st.floats(1, 150), st.sampled_from("ab")),
    min_size=1, max_size=6,
)
PROPS = settings(max_examples=30, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPS
@given(rects)
def test_polygon_shares_property(tmp_path_factory, items):
    geoms = [box(x, y, x + w, y + h) for x, y, w, h, _ in items]
    classes = [c for *_, c in items]
    p = write(tmp_path_factory.mktemp("poly") / "lu.gpkg", geoms, landuse=classes)
    v = featurize_polygons(
        PolygonsView(name="lu", kind="polygons", path=p, class_column="landuse"), GRID)
    assert ((v.values >= 0) & (v.values <= 1)).all()
    covered, shares = v.values[:, 0], v.values[:, 1:]
    assert (covered + 1e-6 >= shares.max(axis=1, initial=0)).all()
    area = shapely.area(GRID.geometry.to_numpy())
    for k, name in enumerate(v.feature_names[1:]):
        cls = name.removeprefix("share_")
        union = shapely.union_all([g for g, c in zip(geoms, classes, strict=True) if c == cls])
        expected = shapely.area(shapely.intersection(union, EXTENT))
        assert (shares[:, k] * area).sum() == pytest.approx(expected, rel=1e-4, abs=1e-3)
    total = shapely.area(shapely.intersection(shapely.union_all(geoms), EXTENT))
    assert (covered * area).sum() == pytest.approx(total, rel=1e-4, abs=1e-3)
    assert (v.mask == (covered > 0)).all()


@PROPS
@given(st.lists(st.tuples(coord, coord, st.sampled_from("abc")), min_size=1, max_size=20))
def test_points_property(tmp_path_factory, items):
    pts = [Point(x, y) for x, y, _ in items]
    p = write(tmp_path_factory.mktemp("pts") / "poi.gpkg", pts, cat=[c for *_, c in items])
    v = featurize_points(PointsView(name="poi", kind="points", path=p, class_column="cat",
                                    transform="none"), GRID)
    assert (v.values >= 0).all()
    count = col(v, "count")
    inside = sum(EXTENT.intersects(q) for q in pts)
    assert count.sum() == inside
    shares = v.values[:, [n.startswith("share_") for n in v.feature_names]]
    np.testing.assert_allclose(shares.sum(axis=1), (count > 0).astype(float), atol=1e-5)
    assert (v.mask == (count > 0)).all()


@PROPS
@given(st.lists(st.tuples(coord, coord, coord, coord), min_size=1, max_size=8))
def test_lines_property(tmp_path_factory, items):
    lines = [LineString([(a, b), (c, d)]) for a, b, c, d in items if (a, b) != (c, d)]
    if not lines:
        return
    p = write(tmp_path_factory.mktemp("lines") / "r.gpkg", lines)
    v = featurize_lines(LinesView(name="r", kind="lines", path=p, transform="none"), GRID)
    assert (v.values >= 0).all()
    expected = sum(ln.intersection(EXTENT).length for ln in lines) / 1000
    assert (col(v, "length_km_per_km2") * 0.01).sum() == pytest.approx(expected, rel=1e-4,
                                                                       abs=1e-6)


@PROPS
@given(st.lists(st.tuples(coord, coord, st.floats(1, 60), st.floats(1, 60)), min_size=1,
                max_size=8))
def test_footprints_property(tmp_path_factory, items):
    geoms = [box(x, y, x + w, y + h) for x, y, w, h in items]
    p = write(tmp_path_factory.mktemp("b") / "b.gpkg", geoms)
    v = featurize_footprints(FootprintsView(name="b", kind="footprints", path=p, image_size=8),
                             GRID)
    assert ((v.values >= 0) & (v.values <= 1)).all()
    cov = aux(v, "coverage")
    assert ((cov >= 0) & (cov <= 1)).all()
    assert (aux(v, "count") >= 0).all()
    expected = sum(shapely.area(shapely.intersection(g, EXTENT)) for g in geoms)
    assert np.expm1(aux(v, "total_area_m2").astype(float)).sum() == pytest.approx(
        expected, rel=1e-3, abs=1e-2)
    assert (v.mask == (aux(v, "count") > 0)).all()


# ---------------------------------------------------------------- several views at once
def test_featurize_all_side_by_side(tmp_path, regions):
    import gc

    b = write(tmp_path / "b.gpkg", [box(10, 10, 20, 20), box(95, 40, 105, 50)])
    lu = write(tmp_path / "lu.gpkg", [box(0, 0, 50, 100)], landuse=["park"])
    poi = write(tmp_path / "poi.gpkg", [Point(10, 10), Point(150, 50)])
    cfgs = [PointsView(name="poi", kind="points", path=poi),
            FootprintsView(name="b", kind="footprints", path=b, image_size=10),
            PolygonsView(name="lu", kind="polygons", path=lu, class_column="landuse")]
    one_by_one = [featurize(c, regions) for c in cfgs]

    def check(views):
        assert [v.name for v in views] == ["poi", "b", "lu"]  # config order
        for got, expected in zip(views, one_by_one, strict=True):
            np.testing.assert_array_equal(got.values, expected.values)
            np.testing.assert_array_equal(got.mask, expected.mask)

    for workers in (1, 2, 3):
        check(featurize_all(cfgs, regions, workers=workers))
    assert gc.isenabled()
    # with another thread alive, forking is unsafe: the workers are threads instead
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not fork_is_safe()
        check(featurize_all(cfgs, regions, workers=3))
    finally:
        stop.set()
        other.join()


def test_featurize_all_reports_a_worker_error(tmp_path, regions):
    b = write(tmp_path / "b.gpkg", [box(10, 10, 20, 20)])
    bad = write(tmp_path / "bad.gpkg", [LineString([(0, 0), (10, 10)])])
    cfgs = [FootprintsView(name="b", kind="footprints", path=b),  # here: fine
            PolygonsView(name="lu", kind="polygons", path=bad)]  # in the worker: lines
    with pytest.raises(DataError, match=r"bad\.gpkg.*needs Polygon"):
        featurize_all(cfgs, regions, workers=2)
