"""Olinda benchmark: CooKIE on Landsat imagery + elevation chips (470 census tracts).

    python benchmarks/olinda/run.py [--seeds 5]
        [--methods cookie gfactorcl shared_pairwise mvure_style hafusion_style]

Two configs: population density (all 6 bands) and greenness = mean NDVI (visible bands 1-3
only, since NDVI is computed from bands 3 and 4). CooKIE (5 seeds; with --methods, other
learned methods too, the same budget) against the raw featurized views (per-band mean / std,
and with the default `image_inputs = "quantiles"` per-band pixel quantiles and texture) and
the README floors. Writes olinda.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from cookie.config import load_config
from cookie.dataset.dataset import load_dataset
from cookie.evaluation.plots import plot_embedding_map, plot_predictions_map

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seedruns import budget_text, machine_description, method_table, run_seeds  # noqa: E402 - benchmarks/seedruns.py

HERE = Path(__file__).parent
RUNS = [("olinda_population.toml", "density", "log1p population density, all 6 bands", 0.522),
        ("olinda_greenness.toml", "greenness", "greenness (mean NDVI), bands 1-3", 0.888)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE.parent / "results")
    ap.add_argument("--frozen", type=Path, default=None,
                    help="read already featurized datasets (cookie.dataset.frozen) from "
                         "this folder")
    ap.add_argument("--accelerator", default=None, help="cpu, gpu (default: the config's)")
    ap.add_argument("--methods", nargs="+",
                    default=["cookie"],
                    help="learned methods to compare (the first is the headline method)")
    args = ap.parse_args()
    overrides = {"accelerator": args.accelerator} if args.accelerator else {}
    command = "python " + " ".join(sys.argv)
    seeds = list(range(args.seeds))
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lines = ["# Olinda: CooKIE on imagery and elevation chips", "",
             f"Command: `{command}`  ", f"Machine: {machine_description()}  ", ""]
    for config, task, text, floor in RUNS:
        if args.frozen:
            from cookie.dataset.frozen import load_frozen

            ds = load_frozen(args.frozen / config.removesuffix(".toml"))
        else:
            ds = load_dataset(load_config(HERE / config), cache_dir=None)
        cfg = ds.config
        runs = {("CooKIE" if m == "cookie" else m): run_seeds(ds, m, seeds, overrides)
                for m in args.methods}
        headline = next(iter(runs.values()))
        runs["raw views"] = run_seeds(ds, "raw", [0])
        picture = f"olinda_{task}_embedding.png"
        errors = f"olinda_{task}_errors.png"
        plot_embedding_map(ds.regions, headline.embeddings, args.out / picture)
        oof = headline.reports[-1].oof(task, "spatial", "ridge_cv")
        plot_predictions_map(ds.regions.loc[oof.index], oof["y_true"], oof["y_pred"],
                             args.out / errors, f"{task}: spatial-block residuals (ridge)")
        lines += [
            f"## {text} (`{config}`)", "",
            f"Views: {', '.join(f'{n} {tuple(v.input_shape)}' for n, v in ds.views.items())}; "
            f"{len(ds.regions)} tracts.", "", budget_text(cfg, seeds, headline), "",
            *method_table(runs, [task]),
            f"| floor (data README: band mean/std, RandomForest(300), 5-fold) | random_forest "
            f"| {floor:.3f} | n/a |", "", f"![embedding]({picture})", "",
            f"![errors]({errors})", "",
        ]
    lines.insert(4, f"Date: {date.today().isoformat()}; total {time.perf_counter() - t0:.0f} s")
    (args.out / "olinda.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
