#!/usr/bin/env bash
# Prepare the methods grid for a lent accelerator machine (run here, from the repository root).
# That machine's image has PyTorch, Lightning, scikit-learn, pandas and pyarrow but not
# geopandas, shapely, pyproj or pydantic, and reaches no registry. This freezes the benchmark
# datasets into .dev/frozen (already featurized, about 3 MB) and downloads the missing wheels
# for its Python 3.12 into .whl (about 15 MB); both folders are git-ignored through
# .git/info/exclude and travel with the run's `carry`. The packages the grid imports but never
# calls there (pyogrio, rasterio, h3, optuna, dask, ...) become stubs (sitecustomize.py beside
# this file). Then: the device tool's run with command `bash benchmarks/grid/device/run.sh`
# and carry [".dev", ".whl"].
set -euo pipefail
cd "$(dirname "$0")/../../.."
grep -qx '/.dev/' .git/info/exclude || echo '/.dev/' >> .git/info/exclude
grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
PY=${PY:-.venv/bin/python}
"$PY" benchmarks/grid/run.py --freeze --out /dev/null --frozen-root .dev/frozen \
  --datasets manhattan180 helsinki olinda_population olinda_greenness
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
for pkg in geopandas shapely pyproj pydantic pydantic_core annotated_types typing_inspection; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl "$pkg==$(version "$pkg")"
done
du -sh .dev .whl
