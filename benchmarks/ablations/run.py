"""The three experiments of the paper on every benchmark, collected in ablations.md.

    python benchmarks/ablations/run.py [--seeds 5] [--datasets manhattan180 helsinki ...]

Each experiment is exactly `cookie experiment NAME CONFIG --seeds N --out
benchmarks/results/experiments --overwrite` (resumable: finished (variant, seed) cells are
kept; --overwrite replaces the committed Markdown and picture). This
script runs them all and joins their Markdown into benchmarks/results/ablations.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from cookie.io.outputs import machine_description

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "manhattan180": "benchmarks/manhattan180/manhattan180.toml",
    "helsinki": "benchmarks/helsinki/helsinki.toml",
    "olinda_population": "benchmarks/olinda/olinda_population.toml",
    "olinda_greenness": "benchmarks/olinda/olinda_greenness.toml",
}
EXPERIMENTS = ("alpha", "dropout", "augment")
INTRO = """\
Three experiments, each one command (`cookie experiment NAME CONFIG`), on every benchmark.
Scores: the robust protocol (5-fold shuffled x 3 repeats) with ridge (internal alpha search)
for regression (R2), logistic regression for classification (accuracy), k-means for
clustering (NMI); mean ± std over training seeds. Nothing is selected by the folds: every
variant is reported.

- **alpha**: weight of the intra-view loss in stage 2, alpha in {0.1, 0.5, 1, 2}.
- **dropout**: (a) trained without each view in turn; (b) trained with all views and embedded
  with one view missing at inference. Missing at inference means the view's mask is false for
  every region: its encoder input is zero, its unique block is zero, and every shared block of
  a pair containing it falls back to the other view's shared head.
- **augment**: each augmentation type alone (all others off), none, and all together, applied
  to every view (vector views: noise, feature dropout, scaling, mixing; image views: flips,
  rotations, crops, noise).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", nargs="*", default=list(CONFIGS))
    ap.add_argument("--experiments", nargs="*", default=list(EXPERIMENTS))
    args = ap.parse_args()
    out = ROOT / "benchmarks" / "results" / "experiments"
    cookie = str(Path(sys.executable).with_name("cookie"))
    t0 = time.perf_counter()
    sections = []
    for ds in args.datasets:
        for name in args.experiments:
            cmd = [cookie, "experiment", name, CONFIGS[ds], "--seeds", str(args.seeds),
                   "--out", str(out), "--overwrite"]
            print("$", " ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True, cwd=ROOT)
            part = out / f"{ds}_{name}.md"
            text = part.read_text().replace("](", "](experiments/")
            sections.append(f"Command: `cookie {' '.join(cmd[2:])}`\n\n{text}")
    lines = ["# Ablations: alpha, modality dropout, augmentations", "",
             f"Command: `python {' '.join(sys.argv)}`  ", f"Machine: {machine_description()}  ",
             f"Date: {date.today().isoformat()}; wall time {time.perf_counter() - t0:.0f} s", "",
             INTRO, *sections]
    (ROOT / "benchmarks" / "results" / "ablations.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
