"""Literature R2 of a saved embedding multiplied by 1, 2, 4, 8 and scaled to unit variance.

    python benchmarks/defaults/scale.py runs/defaults/Z_c300.npy
"""

from __future__ import annotations

import sys

import numpy as np
from common import literature_r2, manhattan

ds = manhattan()
z = np.load(sys.argv[1])
total = float((z.std(0) ** 2).sum())
print("total variance", round(total, 3))
for factor in (1, 2, 4, 8):
    print("x", factor, literature_r2(ds, z * factor))
print("unit mean variance per dimension", literature_r2(ds, z / np.sqrt(total / z.shape[1])))
print("each dimension standardized", literature_r2(ds, (z - z.mean(0)) / (z.std(0) + 1e-9)))
