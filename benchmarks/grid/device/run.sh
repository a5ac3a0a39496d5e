#!/usr/bin/env bash
# The methods grid on a lent accelerator machine (see prepare.sh): installs the carried wheels,
# records the machine in $OUT/machine.txt and runs the image benchmarks' cells on the GPU,
# 15 workers, appending one json line per finished job to $OUT/grid.jsonl (a run cut short
# keeps what it finished; run.py skips finished jobs when that file is given back to it).
# Arguments after the script's name go to run.py (default: the three image benchmarks).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
  .whl/*.whl || echo "the carried wheels did not install (another Python?)"
export PYTHONPATH=$PWD/src:$PWD/benchmarks/grid/device:/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  lscpu | grep 'Model name'
  python3 -c "import torch, lightning; print('torch', torch.__version__, torch.cuda.is_available(), 'lightning', lightning.__version__)"
} 2>&1 | tee "$OUT/machine.txt"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--datasets olinda_population olinda_greenness helsinki)
timeout "${GRID_TIMEOUT:-575}" python3 benchmarks/grid/run.py --frozen-root .dev/frozen \
  --out "$OUT/grid.jsonl" --plan methods --seeds 5 --workers 15 --gpu \
  --deadline "${GRID_DEADLINE:-540}" "${args[@]}" 2>&1 | grep -v -i warning | tee "$OUT/log.txt"
