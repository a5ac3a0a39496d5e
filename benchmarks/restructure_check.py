"""Equality check for code moves: fit every method a few epochs with a fixed seed on tiny
synthetic datasets through the `cookie fit` command line (an interface that a move must not
change) and print the SHA-256 of each embedding table (values and region ids).

    PYTHONPATH=$PWD/src python benchmarks/restructure_check.py --out /tmp/eq/before.json
    PYTHONPATH=$PWD/src python benchmarks/restructure_check.py --out /tmp/eq/after.json \
        --compare /tmp/eq/before.json

Two datasets: ``full`` (every region has every view) and ``gaps`` (a third of the regions lack
view v1, so the methods' handling of a missing view shows). Seconds per method on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.synthetic import make_dataset, write_config  # noqa: E402

METHODS = ("cookie", "cookie_paper", "gfactorcl", "raw", "intra", "shared_pairwise",
           "cookie_no_pretrain", "cookie_shared_only", "cookie_unique_only")
SETTINGS = {"embedding_dim": 14, "pretrain_epochs": 2, "epochs": 3, "batch_size": 8, "seed": 3}


def datasets(root: Path) -> dict[str, Path]:
    full, cfg = make_dataset(root / "full", n=24, dims=(4, 3, 5), method=SETTINGS)
    gaps_cfg, cfg = make_dataset(root / "gaps", n=24, dims=(4, 3, 5), method=SETTINGS)
    table = pd.read_csv(root / "gaps" / "view1.csv")
    table.iloc[::3].to_csv(root / "gaps" / "view1.csv", index=False)  # 8 of 24 regions keep v1
    write_config(gaps_cfg, cfg)
    return {"full": full, "gaps": gaps_cfg}


def digest(path: Path) -> tuple[str, float]:
    emb = pd.read_parquet(path)
    emb = emb.drop(columns=[c for c in ("geometry",) if c in emb])
    values = np.ascontiguousarray(emb.to_numpy(dtype=np.float32))
    h = hashlib.sha256(values.tobytes())
    h.update(str(list(emb.index)).encode())
    return h.hexdigest(), float(values.sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    env = dict(os.environ, COOKIE_FEATURIZE_WORKERS="1")
    results: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dname, config in datasets(Path(tmp)).items():
            for method in METHODS:
                out = Path(tmp) / f"run-{dname}-{method}"
                cmd = [sys.executable, "-m", "cookie.cli", "fit", str(config), "--out", str(out),
                       "--method", method, "--no-evaluate"]
                res = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if res.returncode != 0:
                    raise SystemExit(f"{dname} {method}: {res.stderr or res.stdout}")
                sha, total = digest(out / "embeddings.parquet")
                results[f"{dname}/{method}"] = {"sha256": sha, "sum": f"{total:.6f}"}
                print(f"{dname:5s} {method:20s} {sha[:16]} sum={total:.6f}", flush=True)
    args.out.write_text(json.dumps(results, indent=1))
    if args.compare:
        before = json.loads(args.compare.read_text())
        diff = [k for k in before if before[k] != results.get(k)]
        print("identical" if not diff else f"DIFFERENT: {diff}")
        raise SystemExit(1 if diff else 0)


if __name__ == "__main__":
    main()
