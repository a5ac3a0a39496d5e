"""The vectorized geometry kernels behind the vector featurizers: rings, convex clipping and
the scanline rasterizer, against hand-computed values and against shapely."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from cookie.features.clip import clipped_areas, clipped_lengths, region_halfplanes
from cookie.features.footprints import main_axis_angle
from cookie.features.rasterize import Frames, polygon_edges, sample_counts
from cookie.features.rings import polygon_rings, ragged_arange

SQUARE = box(0, 0, 10, 10)
TRIANGLE = Polygon([(0, 0), (10, 0), (0, 10)])
L_SHAPE = SQUARE.difference(box(5, 5, 10, 10))  # not convex: the shapely path
HOLED = box(-5, -5, 5, 5).difference(box(-1, -1, 1, 1))
U_SHAPE = SQUARE.difference(box(3, 2, 7, 10))  # concave, opens upwards


def arr(*geoms) -> np.ndarray:
    return np.array(geoms, dtype=object)


def test_ragged_arange():
    assert ragged_arange(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist() == [5, 6, 9, 10, 11]
    assert ragged_arange(np.array([], dtype=int), np.array([], dtype=int)).tolist() == []


def test_polygon_rings_keep_geometry_order_and_roles():
    multi = MultiPolygon([box(20, 0, 21, 1), HOLED])
    rings = polygon_rings(arr(box(0, 0, 1, 1), multi, Polygon(), TRIANGLE))
    assert rings.count.tolist() == [1, 3, 0, 1]
    assert rings.geom.tolist() == [0, 1, 1, 1, 3]
    assert rings.exterior.tolist() == [True, True, True, False, True]
    assert np.diff(rings.offsets).tolist() == [5, 5, 5, 5, 4]


def test_halfplanes_detect_convex_regions():
    planes = region_halfplanes(arr(SQUARE, TRIANGLE, L_SHAPE, affinity.rotate(SQUARE, 17)))
    assert planes.convex.tolist() == [True, True, False, True]


@pytest.mark.parametrize(("feature", "region", "expected"), [
    (box(5, 5, 15, 15), SQUARE, 25.0),
    (HOLED, SQUARE, 24.0),                  # 5 x 5 corner minus the 1 x 1 part of the hole
    (SQUARE, TRIANGLE, 50.0),
    (U_SHAPE, box(0, 5, 10, 10), 30.0),     # two arms; Sutherland-Hodgman bridges them
    (box(20, 20, 30, 30), SQUARE, 0.0),
    (box(2, 2, 4, 4), SQUARE, 4.0),         # wholly inside
    (SQUARE, L_SHAPE, 75.0),
    # many vertices outside the region's box: runs of them are dropped before clipping
    (shapely.Point(5, 5).buffer(50, quad_segs=64), SQUARE, 100.0),
    (shapely.Point(5, 5).buffer(50).difference(shapely.Point(5, 5).buffer(20)), SQUARE, 0.0),
    (shapely.Point(0, 0).buffer(50, quad_segs=64).difference(box(0, 0, 60, 60)), SQUARE, 0.0),
    (shapely.Point(10, 10).buffer(50, quad_segs=64).difference(box(0, 0, 5, 5)), SQUARE,
     75.0),
    (box(4, 4, 8, 8), L_SHAPE, 16.0 - 9.0),
])
def test_clipped_areas_hand_computed(feature, region, expected):
    got = clipped_areas(arr(feature), np.array([0]), arr(region), np.array([0]))
    assert got[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("line", "region", "expected"), [
    (LineString([(-5, 5), (15, 5)]), SQUARE, 10.0),
    (LineString([(-5, 5), (5, 5), (5, 20)]), SQUARE, 10.0),
    (LineString([(0, 0), (10, 10)]), TRIANGLE, math.hypot(5, 5)),
    (LineString([(0, 10), (10, 10)]), SQUARE, 10.0),  # along the edge: on the boundary
    (LineString([(20, 0), (20, 10)]), SQUARE, 0.0),
    (LineString([(0, 7), (10, 7)]), L_SHAPE, 5.0),
])
def test_clipped_lengths_hand_computed(line, region, expected):
    got = clipped_lengths(arr(line), np.array([0]), arr(region), np.array([0]))
    assert got[0] == pytest.approx(expected, abs=1e-9)


def random_polygons(rng: np.random.Generator, n: int, spread: float) -> np.ndarray:
    out = []
    for _ in range(n):
        c = rng.uniform(-spread, spread, 2)
        p = shapely.Point(c).buffer(rng.uniform(1, 30), quad_segs=int(rng.integers(1, 5)))
        if rng.random() < 0.3:
            p = p.difference(shapely.Point(c).buffer(0.5))
        if rng.random() < 0.3:
            p = p.union(box(*(c + 5), *(c + 25)))  # concave
        if rng.random() < 0.5:
            p = shapely.orient_polygons(p, exterior_cw=True)
        out.append(p)
    return np.array(out, dtype=object)


def test_clipping_matches_shapely_on_random_shapes():
    rng = np.random.default_rng(3)
    hexagon = shapely.Point(0, 0).buffer(40, quad_segs=1).convex_hull
    regions = arr(affinity.rotate(box(-40, -40, 40, 40), 12), hexagon, TRIANGLE, L_SHAPE)
    regions = np.array([affinity.translate(r, 6.7e5, 6.6e6) for r in regions], dtype=object)
    polys = np.array([affinity.translate(p, 6.7e5, 6.6e6)
                      for p in random_polygons(rng, 80, 60)], dtype=object)
    lines = np.array([LineString(rng.uniform(-70, 70, (4, 2)) + [6.7e5, 6.6e6])
                      for _ in range(80)], dtype=object)
    fi, ri = np.repeat(np.arange(80), 4), np.tile(np.arange(4), 80)
    np.testing.assert_allclose(clipped_areas(polys, fi, regions, ri),
                               shapely.area(shapely.intersection(polys[fi], regions[ri])),
                               atol=1e-6)
    np.testing.assert_allclose(clipped_lengths(lines, fi, regions, ri),
                               shapely.length(shapely.intersection(lines[fi], regions[ri])),
                               atol=1e-6)


def test_sample_counts_hand_computed():
    # 4 x 4 samples of 1 m, top-left corner (0, 4): box(0, 0, 2, 2) covers rows 2-3, cols 0-1
    frames = Frames(np.array([0.0]), np.array([4.0]), np.array([1.0]), samples=4)
    edges = polygon_edges(arr(box(0, 0, 2, 2)))
    fine = sample_counts(edges, np.array([0]), np.array([0]), frames, block=1)
    expected = np.zeros((4, 4), dtype=int)
    expected[2:, :2] = 1
    np.testing.assert_array_equal(fine[0], expected)
    coarse = sample_counts(edges, np.array([0]), np.array([0]), frames, block=2)
    np.testing.assert_array_equal(coarse[0], [[0, 0], [4, 0]])
    # a window keeps only the samples inside it; two overlapping squares count once
    edges = polygon_edges(arr(box(0, 0, 2, 2), box(1, 0, 3, 2), box(0, 0, 4, 1)))
    both = sample_counts(edges, np.array([0, 1]), np.array([0, 0]), frames, block=1,
                         window=polygon_edges(arr(box(0, 0, 4, 1))))
    np.testing.assert_array_equal(both[0], [[0] * 4, [0] * 4, [0] * 4, [1, 1, 1, 0]])


def test_sample_counts_match_point_in_polygon():
    rng = np.random.default_rng(0)
    geoms = random_polygons(rng, 60, 50)
    n, size = 6, 40
    frames = Frames(rng.uniform(-40, 0, n), rng.uniform(0, 40, n), rng.uniform(0.5, 2.5, n),
                    size)
    windows = arr(*[shapely.Point(frames.left[m] + 20 * frames.res[m],
                                  frames.top[m] - 20 * frames.res[m]).buffer(15 * frames.res[m])
                    if m % 2 else Polygon() for m in range(n)])
    grid = np.repeat(np.arange(n), 25)
    geom = rng.integers(0, len(geoms), len(grid))
    got = sample_counts(polygon_edges(geoms), geom, grid, frames, 4, polygon_edges(windows))
    for m in range(n):
        shape = shapely.union_all(geoms[geom[grid == m]])
        if m % 2:
            shape = shape.intersection(windows[m])
        xs = frames.left[m] + (np.arange(size) + 0.5) * frames.res[m]
        ys = frames.top[m] - (np.arange(size) + 0.5) * frames.res[m]
        inside = shapely.contains_xy(shape, *np.meshgrid(xs, ys))
        np.testing.assert_array_equal(got[m], inside.reshape(10, 4, 10, 4).sum(axis=(1, 3)))


def test_main_axis_angle():
    rect = box(0, 0, 20, 8)
    shapes = arr(affinity.rotate(rect, 30), affinity.rotate(rect, 120), rect,
                 affinity.rotate(box(0, 0, 20, 4).union(box(0, 0, 4, 12)), 10))
    got = np.degrees(main_axis_angle(polygon_edges(shapes), len(shapes)))
    np.testing.assert_allclose(got, [30, 30, 0, 10], atol=1e-9)


def test_clipping_matches_shapely_on_grid_snapped_shapes():
    # vertices on a 0.5 m grid: many lie exactly on region edges or run along them
    rng = np.random.default_rng(7)
    regions = [box(i * 10, j * 10, (i + 1) * 10, (j + 1) * 10) for i in range(4) for j in range(4)]
    regions += [affinity.rotate(box(0, 0, 20, 20), 30),
                shapely.Point(20, 20).buffer(12, quad_segs=2)]  # an octagon
    regions = np.array(regions, dtype=object)
    polys, lines = [], []
    for _ in range(100):
        ring = np.round(rng.uniform(-5, 45, (int(rng.integers(3, 9)), 2)) * 2) / 2
        polys += [p for p in shapely.get_parts(shapely.make_valid(Polygon(ring)))
                  if p.geom_type == "Polygon" and p.area > 0]
        line = LineString(np.round(rng.uniform(-5, 45, (int(rng.integers(2, 6)), 2)) * 2) / 2)
        if line.length > 0:
            lines.append(line)
    for geoms, clip, measure in ((np.array(polys, dtype=object), clipped_areas, shapely.area),
                                 (np.array(lines, dtype=object), clipped_lengths,
                                  shapely.length)):
        fi = np.repeat(np.arange(len(geoms)), len(regions))
        ri = np.tile(np.arange(len(regions)), len(geoms))
        np.testing.assert_allclose(clip(geoms, fi, regions, ri),
                                   measure(shapely.intersection(geoms[fi], regions[ri])),
                                   atol=1e-9)
