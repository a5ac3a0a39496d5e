"""ablations.md from the job grid's `ablations` plan (the cells of `cookie experiment`).

    python benchmarks/ablations/report.py --grid benchmarks/results/raw/grid.jsonl.gz \
        --machine "..." [--grid-command "..."] [--note "..."]

Each (dataset, experiment) section is what `cookie experiment NAME CONFIG --seeds 5` computes
(same cells, same evaluation); the grid ran them all in parallel on one machine.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from cookie.apps.experiments import dependence_lines, markdown_table, plot_experiment, summarize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seedruns import read_grid  # noqa: E402 - benchmarks/seedruns.py

HERE = Path(__file__).parent
CONFIGS = {"manhattan180": "benchmarks/manhattan180/manhattan180.toml",
           "helsinki": "benchmarks/helsinki/helsinki.toml",
           "olinda_population": "benchmarks/olinda/olinda_population.toml",
           "olinda_greenness": "benchmarks/olinda/olinda_greenness.toml"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", type=Path, default=Path("benchmarks/results/raw/grid.jsonl.gz"))
    ap.add_argument("--machine", default="see the grid command")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--grid-command", default="python benchmarks/grid/run.py --frozen-root "
                    ".frozen --out grid.jsonl --plan methods ablations --seeds 5",
                    help="the command that ran the grid, for the report")
    ap.add_argument("--note", default="", help="a paragraph placed under the header")
    args = ap.parse_args()
    t = read_grid(args.grid, "ablations").rename(columns={"label": "cell"})
    from run import INTRO  # the experiment descriptions

    pics = args.out / "ablations"
    pics.mkdir(parents=True, exist_ok=True)
    lines = ["# Ablations: alpha, modality dropout, augmentations", "",
             f"Summary command: `python {shlex.join(sys.argv)}`  ",
             f"Grid command: `{args.grid_command}`  ",
             f"Grid machine: {args.machine}", "",
             *([args.note, ""] if args.note else []), INTRO]
    for dataset, config in CONFIGS.items():
        for exp in ("alpha", "dropout", "augment"):
            sub = t[(t.dataset == dataset) & (t.experiment == exp)]
            if sub.empty:
                continue
            seeds = sub.seed.nunique()
            summary = summarize(sub)
            pic = pics / f"{dataset}_{exp}.png"
            plot_experiment(exp, summary, pic, f"{exp} on {dataset}")
            lines += [f"## {exp} on {dataset} ({seeds} seeds)", "",
                      f"Same as `cookie experiment {exp} {config} --seeds {seeds}`.", "",
                      *markdown_table(summary), ""]
            if exp == "dropout":
                lines += ["Which views each task depends on (change against all views):", "",
                          *dependence_lines(summary), ""]
            lines += [f"![{exp} on {dataset}](ablations/{pic.name})", ""]
    (args.out / "ablations.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
