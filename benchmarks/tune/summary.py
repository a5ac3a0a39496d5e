"""Read a `cookie tune` run's tune.json: the mean inner-CV score of each value of each choice
parameter, and the correlation of each continuous parameter with the inner score, per task
(averaged over outer folds; descriptive only: no setting is chosen from it).

    python benchmarks/tune/summary.py runs/tune/tune.json
"""

from __future__ import annotations

import json
import sys

import numpy as np

run = json.loads(open(sys.argv[1]).read())
settings = [s["params"] for s in run["settings"]]
space = run["meta"]["space"]
for task in run["tasks"]:
    if task["task_type"] != "regression":
        continue
    per_setting: dict[int, list[float]] = {}
    for fold in task["folds"]:  # trials that re-proposed a setting score it again: keep one
        for setting, score in dict(fold["inner_trials"]).items():
            per_setting.setdefault(int(setting), []).append(score)
    trained = sorted(per_setting)
    inner = np.array([np.mean(per_setting[s]) for s in trained])
    parts = []
    for name, spec in space.items():
        values = np.array([settings[s][name] for s in trained], dtype=object)
        if spec[0] == "choice":
            means = {v: round(float(inner[values == v].mean()), 3) if (values == v).any()
                     else "not trained" for v in spec[1]}
            parts.append(f"{name} {means}")
        else:
            x = np.log(values.astype(float)) if spec[0] == "log" else values.astype(float)
            parts.append(f"{name} r={np.corrcoef(x, inner)[0, 1]:+.2f}")
    best = trained[int(np.argmax(inner))]
    print(f"{task['task']}: " + "; ".join(parts) + f"; best mean inner score: setting {best} "
          f"{settings[best]} ({inner.max():.3f})")
