"""The validity check: always shapely's answer, proven in numpy for small simple rings."""

from __future__ import annotations

import warnings

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from cookie.sources.validity import is_valid, simple_rings

SHAPES = [
    box(0, 0, 10, 5),                                           # valid quad
    Polygon([(0, 0), (10, 0), (0, 10)]),                        # valid triangle
    Polygon([(0, 0), (2, 2), (2, 0), (0, 2)]),                  # bowtie
    Polygon([(0, 0), (4, 0), (4, 4), (4, 8), (4, 4), (0, 4)]),  # spike
    Polygon([(0, 0), (4, 0), (4, 0), (4, 4), (0, 4)]),          # repeated point: valid
    Polygon([(0, 0), (2, 0), (4, 0), (4, 4), (0, 4)]),          # collinear vertex: valid
    Polygon([(0, 0), (4, 0), (2, 2), (4, 4), (0, 4), (2, 2)]),  # touches itself at (2, 2)
    Polygon([(0, 0), (4, 0), (8, 0)]),                          # collapsed
    box(0, 0, 10, 10).difference(box(2, 2, 4, 4)),              # hole: GEOS path
    MultiPolygon([box(0, 0, 1, 1), box(0.5, 0.5, 2, 2)]),       # overlapping parts
    shapely.Point(0, 0).buffer(5),                              # many vertices: GEOS path
    None,
]


def test_matches_shapely_on_hand_made_shapes():
    with warnings.catch_warnings():  # shapely warns when it builds a ring with a NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        nan_ring = Polygon([(0, 0), (4, 0), (4, 4), (np.nan, 4)])  # invalid coordinate
    geoms = np.array([*SHAPES, nan_ring], dtype=object)
    np.testing.assert_array_equal(is_valid(geoms), shapely.is_valid(geoms))
    assert is_valid(geoms).tolist()[:3] == [True, True, False]


def test_matches_shapely_on_random_rings():
    rng = np.random.default_rng(0)
    geoms = []
    for _ in range(5000):
        n = int(rng.integers(3, 10))
        # half on a coarse integer grid (collinear, touching, repeated vertices are common)
        pts = np.round(rng.uniform(0, 4, (n, 2))) if rng.random() < 0.5 else \
            rng.uniform(0, 10, (n, 2)) + 6.7e6
        geoms.append(Polygon(pts))
    geoms = np.array(geoms, dtype=object)
    expected = shapely.is_valid(geoms)
    assert 0.1 < expected.mean() < 0.9
    np.testing.assert_array_equal(is_valid(geoms), expected)


def ring(polygon: Polygon) -> np.ndarray:
    return shapely.get_coordinates(polygon).reshape(1, -1, 2)


def test_proof_is_conservative():
    assert simple_rings(ring(box(0, 0, 10, 5))).tolist() == [True]
    # valid, but with a collinear vertex: not proven, so GEOS decides
    collinear = Polygon([(0, 0), (2, 0), (4, 0), (4, 4), (0, 4)])
    assert simple_rings(ring(collinear)).tolist() == [False]
    assert is_valid(np.array([collinear], dtype=object)).tolist() == [True]
