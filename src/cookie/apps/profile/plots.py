"""The profile as a figure (parameters, FLOPs, time and memory against M)."""

from __future__ import annotations

from pathlib import Path

from cookie.apps.profile.rows import GB24_MB, ProfileRow, _pair, term_count


def plot_profile(rows: list[ProfileRow], target: Path) -> None:
    """Parameters, FLOPs, time and memory against M (log scale, one line per method and
    critic; hollow markers: estimated), and the CooKIE / GFactorCL ratio curves against the
    ratio of term counts 2M^2 / (4M + M(M-1) 2^(M-2)), O(M^2) against O(2^M)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from cookie.io.atomic import atomic_file

    panels = [("params_total", "trainable parameters"), ("flops_step", "FLOPs per training step"),
              ("seconds_per_epoch", "seconds per epoch"), ("peak_memory_mb", "peak memory (MB)")]
    fig, axes = plt.subplots(1, 5, figsize=(21, 4.2))
    styles = {"separable": "-", "concat": "--"}
    colors = {"cookie": "tab:blue", "gfactorcl": "tab:orange"}
    combos = list(dict.fromkeys((r.method, r.critic) for r in rows))
    for ax, (attr, title) in zip(axes[:4], panels, strict=True):
        for method, critic in combos:
            sub = [r for r in rows if (r.method, r.critic) == (method, critic)]
            xs = [r.views for r in sub]
            ys = [max(float(getattr(r, attr)), 1e-3) for r in sub]
            ax.plot(xs, ys, styles.get(critic, ":"), color=colors.get(method),
                    label=f"{method} ({critic})")
            for r, y in zip(sub, ys, strict=True):
                ax.plot(r.views, y, "o", color=colors.get(method),
                        markerfacecolor="white" if r.estimated else colors.get(method))
        if attr == "peak_memory_mb":
            ax.axhline(GB24_MB, color="grey", lw=0.8, ls=":")
            ax.text(2, GB24_MB * 1.1, "24 GB", color="grey", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(title)
    ax = axes[4]
    ms = sorted({r.views for r in rows})
    ax.plot(ms, [term_count("cookie", m) / term_count("gfactorcl", m) for m in ms], "k:",
            marker="s", label="terms 2M^2 / (4M + M(M-1)2^(M-2))")
    for critic in dict.fromkeys(r.critic for r in rows):
        for attr, marker in (("flops_step", "o"), ("params_total", "^"),
                             ("flops_materialized", "x")):
            pts = [(m, p) for m in ms if (p := _pair(rows, m, critic)) is not None
                   and getattr(p[1], attr)]
            label = {"flops_step": "FLOPs", "params_total": "params",
                     "flops_materialized": "FLOPs, concatenations built"}[attr]
            if pts:
                ax.plot([m for m, _ in pts],
                        [getattr(c, attr) / getattr(g, attr) for _, (c, g) in pts],
                        styles.get(critic, ":"), marker=marker, label=f"{label} ({critic})")
    ax.set_yscale("log")
    ax.set_title("CooKIE / GFactorCL")
    ax.legend(fontsize=7)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("number of views M")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_file(target) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
