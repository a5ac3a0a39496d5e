"""Maps people can read: the regions over a backdrop drawn from the run's own layers.

No tile server is reachable offline, so the backdrop is what the config points at: land-use
/ area polygons and building footprints in light tones under the regions, roads as thin grey
lines over them. Every map has a scale bar, a north arrow and a legend:

- ``embedding_map.png``: the first three principal components of the embedding as RGB;
- ``clusters_map.png``: k-means urban types, each described by its top raw features per view;
- ``errors_map.png`` (one per regression task, ``errors_map_<task>.png`` after the first):
  out-of-fold prediction - observed value in the label's units, regions with no value
  hatched grey (distinct from a zero error, which is white);
- ``similar_map.png`` (`cookie similar`): a query region and its most similar regions.

Figures are drawn on a bare ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state).
"""

from __future__ import annotations

import logging
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from cookie.errors import CookieError
from cookie.evaluation.analysis import UrbanTypes
from cookie.io.atomic import atomic_file

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from pyproj import CRS

    from cookie.config import DatasetConfig, TaskConfig
    from cookie.evaluation.report import EvaluationReport

log = logging.getLogger(__name__)

MISSING_FACE = "#ececec"
MISSING_HATCH = "////"
MISSING_EDGE = "#b0b0b0"
ROAD_COLOR = "#7f7f7f"
AREA_COLOR = "#e6eedc"
WATER_COLOR = "#cfe2f3"
BUILDING_COLOR = "#4d4d4d"
TYPE_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
               "#1f78b4", "#b15928", "#666666"]
WATER_WORDS = re.compile(r"water|lake|sea|river|reservoir|basin|pond|canal|wetland|marsh",
                         re.IGNORECASE)
DPI = 110


# ---------------------------------------------------------------- the backdrop
@dataclass
class Backdrop:
    """Layers drawn under (areas, buildings) and over (roads) the regions, in their CRS."""

    areas: list[tuple[str, gpd.GeoDataFrame]] = field(default_factory=list)
    water: list[gpd.GeoDataFrame] = field(default_factory=list)
    buildings: list[tuple[str, gpd.GeoDataFrame]] = field(default_factory=list)
    roads: list[tuple[str, gpd.GeoDataFrame]] = field(default_factory=list)

    def draw_under(self, ax: Axes) -> None:
        for _, gdf in self.areas:
            gdf.plot(ax=ax, color=AREA_COLOR, edgecolor="none", zorder=1)
        for gdf in self.water:
            gdf.plot(ax=ax, color=WATER_COLOR, edgecolor="none", zorder=1.1)

    def draw_over(self, ax: Axes) -> None:
        for _, gdf in self.buildings:  # the built fabric, seen through the regions' colours
            gdf.plot(ax=ax, color=BUILDING_COLOR, edgecolor="none", alpha=0.3, zorder=3.5)
        for _, gdf in self.roads:
            gdf.plot(ax=ax, color=ROAD_COLOR, linewidth=0.35, alpha=0.8, zorder=4)

    def legend_handles(self) -> list:
        out: list = []
        if self.roads:
            out.append(Line2D([], [], color=ROAD_COLOR, linewidth=0.8,
                              label=", ".join(n for n, _ in self.roads)))
        if self.areas:
            out.append(Patch(color=AREA_COLOR, label=", ".join(n for n, _ in self.areas)))
        if self.water:
            out.append(Patch(color=WATER_COLOR, label="water"))
        if self.buildings:
            out.append(Patch(color=BUILDING_COLOR, alpha=0.3,
                             label=", ".join(n for n, _ in self.buildings)))
        return out


def _read_layer(path: Path, layer: str | None, crs: str | None, target: CRS | None,
                box: tuple[float, float, float, float]) -> gpd.GeoDataFrame | None:
    from cookie.sources.readers import read_vector

    try:
        gdf = read_vector(Path(path), layer, crs)
    except CookieError as exc:
        log.warning("map backdrop: %s left out (%s)", path, exc)
        return None
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.crs != target:
        gdf = gdf.to_crs(target)
    minx, miny, maxx, maxy = box
    return gdf.cx[minx:maxx, miny:maxy]


def _margin_box(regions: gpd.GeoDataFrame,
                frac: float = 0.04) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = regions.total_bounds
    pad = frac * max(maxx - minx, maxy - miny, 1.0)
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


def load_backdrop(cfg: DatasetConfig | None, regions: gpd.GeoDataFrame) -> Backdrop:
    """The backdrop of a dataset config: its line views (roads), polygon views (land use,
    water classes in blue), footprint views (buildings) and the polygon file a grid or H3
    tiling covers; other views (points, rasters, tables, flows) draw nothing."""
    back = Backdrop()
    if cfg is None:
        return back
    box = _margin_box(regions)
    seen: set[Path] = set()
    for view in cfg.views:
        if view.kind not in ("lines", "polygons", "footprints"):
            continue
        gdf = _read_layer(view.path, view.layer, view.crs, regions.crs, box)
        seen.add(Path(view.path))
        if gdf is None or gdf.empty:
            continue
        if view.kind == "lines":
            back.roads.append((view.name, gdf))
        elif view.kind == "footprints":
            back.buildings.append((view.name, gdf))
        else:
            col = view.class_column
            if col and col in gdf.columns:
                wet = gdf[col].astype(str).str.contains(WATER_WORDS)
                if wet.any():
                    back.water.append(gdf[wet])
                gdf = gdf[~wet]
            back.areas.append((view.name, gdf))
    tiling = cfg.regions.grid or cfg.regions.h3
    area = getattr(tiling, "area", None) if tiling is not None else None
    if area is not None and Path(area) not in seen:
        gdf = _read_layer(area, None, cfg.crs, regions.crs, box)
        if gdf is not None and len(gdf) and gdf.geom_type.isin(["Polygon",
                                                                "MultiPolygon"]).all():
            back.buildings.append((Path(area).stem.replace("_", " "), gdf))
    return back


# ---------------------------------------------------------------- map furniture
def _nice_length(span_m: float) -> float:
    """A 1-2-5 length near a fifth of ``span_m``."""
    target = max(span_m / 5.0, 1e-9)
    exp = math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * 10**exp <= target:
            return step * 10**exp
    return 10**exp


def _metres_per_unit(crs: CRS | None) -> float | None:
    if crs is None or crs.is_geographic:
        return None
    try:
        return float(crs.axis_info[0].unit_conversion_factor)
    except (IndexError, AttributeError):
        return 1.0


def add_scale_bar(ax: Axes, crs: CRS | None) -> None:
    """A two-tone bar in the lower left, labelled in m or km (projected CRSs only)."""
    factor = _metres_per_unit(crs)
    if factor is None:
        return
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length_m = _nice_length((x1 - x0) * factor)
    length = length_m / factor
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    h = 0.012 * (y1 - y0)
    half = length / 2
    ax.add_patch(Rectangle((bx, by), half, h, facecolor="black", edgecolor="black", zorder=6))
    ax.add_patch(Rectangle((bx + half, by), half, h, facecolor="white", edgecolor="black",
                           zorder=6))
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.text(bx + length / 2, by + 1.8 * h, label, ha="center", va="bottom", fontsize=8,
            zorder=6, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7,
                            "pad": 1})


def add_north_arrow(ax: Axes) -> None:
    ax.annotate("N", xy=(0.95, 0.97), xytext=(0.95, 0.87), xycoords="axes fraction",
                textcoords="axes fraction", ha="center", va="center", fontsize=11,
                fontweight="bold", zorder=7,
                arrowprops={"facecolor": "black", "edgecolor": "black", "width": 3,
                            "headwidth": 9, "headlength": 8})


def missing_patch(label: str = "no value / not evaluated") -> Patch:
    return Patch(facecolor=MISSING_FACE, edgecolor=MISSING_EDGE, hatch=MISSING_HATCH,
                 label=label)


def _draw_missing(ax: Axes, regions: gpd.GeoDataFrame) -> None:
    if len(regions):
        regions.plot(ax=ax, facecolor=MISSING_FACE, edgecolor=MISSING_EDGE, hatch=MISSING_HATCH,
                     linewidth=0.3, zorder=2)


def _base_axes(regions: gpd.GeoDataFrame, backdrop: Backdrop, title: str,
               size: tuple[float, float] = (8.0, 8.0)) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_aspect("equal")
    minx, miny, maxx, maxy = _margin_box(regions, 0.03)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#999999")
    ax.set_facecolor("white")
    ax.set_title(title, fontsize=11)
    backdrop.draw_under(ax)
    return fig, ax


def _finish(fig: Figure, ax: Axes, regions: gpd.GeoDataFrame, backdrop: Backdrop,
            handles: list, path: str | Path, legend_title: str = "", below: bool = False) -> Path:
    backdrop.draw_over(ax)
    ax.set_xlabel("")
    ax.set_ylabel("")
    minx, miny, maxx, maxy = _margin_box(regions, 0.03)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    add_scale_bar(ax, regions.crs)
    add_north_arrow(ax)
    handles = handles + backdrop.legend_handles()
    if handles:
        if below:
            ax.legend(handles=handles, title=legend_title or None, loc="upper left",
                      bbox_to_anchor=(0.0, -0.01), fontsize=7.5, title_fontsize=8,
                      frameon=False, ncol=1, alignment="left")
        else:
            ax.legend(handles=handles, title=legend_title or None, loc="lower right",
                      fontsize=7.5, title_fontsize=8, framealpha=0.85)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path) -> Path:
    """A PNG with a 256-colour palette (a third of the size of a full-colour one, with no
    visible difference on these maps), written atomically."""
    import io

    from PIL import Image

    path = Path(path)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    buf.seek(0)
    image = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    with atomic_file(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)
    return path


def _split(regions: gpd.GeoDataFrame, ids: pd.Index) -> tuple[gpd.GeoDataFrame,
                                                              gpd.GeoDataFrame]:
    has = regions.index.isin(ids)
    return regions[has], regions[~has]


# ---------------------------------------------------------------- the maps
def pca_rgb(embeddings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) colours in [0, 1] of the first three principal components of the standardized
    embedding (stretched between the 2nd and 98th percentile) and the share of the variance
    each component explains."""
    from cookie.evaluation.plots import embedding_rgb

    X = np.asarray(embeddings, dtype=float)
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    s = np.linalg.svd(Z, compute_uv=False)
    var = s**2 / max(float((s**2).sum()), 1e-12)
    return embedding_rgb(embeddings), np.pad(var[:3], (0, max(0, 3 - len(var[:3]))))


def embedding_map(regions: gpd.GeoDataFrame, embeddings: pd.DataFrame, path: str | Path,
                  backdrop: Backdrop | None = None, title: str = "") -> Path:
    """Regions coloured by their embedding's first three principal components."""
    backdrop = backdrop or Backdrop()
    emb = embeddings.loc[embeddings.index.intersection(regions.index)]
    if len(emb) < 2:
        raise CookieError("fewer than 2 regions have an embedding; nothing to map")
    rgb, var = pca_rgb(emb)
    colours = pd.DataFrame(rgb, index=emb.index)
    has, lacking = _split(regions, emb.index)
    fig, ax = _base_axes(regions, backdrop, title or "Embedding: similar colours = similar "
                         "regions")
    has.plot(ax=ax, color=colours.loc[has.index].to_numpy(), edgecolor="white",
             linewidth=0.15, alpha=0.85, zorder=2)
    _draw_missing(ax, lacking)
    handles = [
        Patch(color=(0.85, 0.2, 0.2), label=f"red: component 1 ({var[0]:.0%} of the variance)"),
        Patch(color=(0.2, 0.7, 0.2), label=f"green: component 2 ({var[1]:.0%})"),
        Patch(color=(0.2, 0.3, 0.85), label=f"blue: component 3 ({var[2]:.0%})"),
    ]
    if len(lacking):
        handles.append(missing_patch("no embedding"))
    return _finish(fig, ax, regions, backdrop, handles, path,
                   "Colour = the embedding's first three principal components:\n"
                   "regions of similar colour have similar embeddings", below=True)


def clusters_map(regions: gpd.GeoDataFrame, types: UrbanTypes, path: str | Path,
                 backdrop: Backdrop | None = None, title: str = "") -> Path:
    """Regions coloured by urban type, each type described by its top features per view."""
    backdrop = backdrop or Backdrop()
    labels = types.labels[types.labels.index.isin(regions.index)]
    has, lacking = _split(regions, labels.index)
    fig, ax = _base_axes(regions, backdrop, title or f"Urban types: k-means on the embedding "
                         f"(k = {types.k})", size=(8.0, 8.0))
    colours = [TYPE_COLORS[int(t) % len(TYPE_COLORS)] for t in labels.loc[has.index]]
    has.plot(ax=ax, color=colours, edgecolor="white", linewidth=0.15, alpha=0.85, zorder=2)
    _draw_missing(ax, lacking)
    handles = [Patch(color=TYPE_COLORS[t % len(TYPE_COLORS)],
                     label=textwrap.fill(f"type {t + 1} ({types.sizes[t]} regions): "
                                         f"{types.describe(t, 200)}", 105,
                                         subsequent_indent="    "))
               for t in sorted(types.sizes)]
    if len(lacking):
        handles.append(missing_patch("no embedding"))
    rule = (f"k = {types.k}: best silhouette among k = "
            f"{', '.join(str(k) for k in sorted(types.silhouettes))}"
            if len(types.silhouettes) > 1 else f"k = {types.k}")
    return _finish(fig, ax, regions, backdrop, handles, path,
                   f"Urban types ({rule}); each described by the raw features\n"
                   "whose mean in the type is highest above the average region", below=True)


def target_units(task: TaskConfig) -> str:
    """The units of a task's target, as words: its ``units``, else its column or expression
    with underscores as spaces ('buildings_per_km2' -> 'buildings per km2')."""
    return task.units or str(task.target).replace("_", " ").strip()


def task_errors(report: EvaluationReport, task: TaskConfig, protocol: str | None = None,
                probe: str | None = None) -> tuple[pd.Series, str, str]:
    """Per-region out-of-fold prediction - observed value on the label's original scale
    (expm1 of both for a log1p task), and the protocol and probe they come from (default:
    spatial-block, else robust; random forest, else the first probe)."""
    keys = [k for k in report.predictions if k[0] == task.name]
    protocols = [k[1] for k in keys]
    protocol = protocol or next((p for p in ("spatial", "robust", "literature")
                                 if p in protocols), None)
    if protocol is None:
        raise CookieError(f"task {task.name!r}: the report has no regression predictions")
    probes = [k[2] for k in keys if k[1] == protocol]
    probe = probe or ("random_forest" if "random_forest" in probes else probes[0])
    oof = report.oof(task.name, protocol, probe)
    true, pred = oof["y_true"].astype(float), oof["y_pred"].astype(float)
    if task.log:
        true, pred = np.expm1(true), np.expm1(pred)
    return (pred - true).rename("error"), protocol, probe


def errors_map(regions: gpd.GeoDataFrame, errors: pd.Series, path: str | Path, units: str,
               backdrop: Backdrop | None = None, title: str = "") -> Path:
    """Choropleth of signed errors (prediction - observed), diverging around zero (white);
    regions with no value are hatched grey."""
    backdrop = backdrop or Backdrop()
    errors = errors.astype(float).reindex(regions.index)
    ok = np.isfinite(errors.to_numpy())
    has, lacking = regions[ok], regions[~ok]
    fig, ax = _base_axes(regions, backdrop, title or "Out-of-fold errors", size=(8.5, 8.0))
    if len(has):
        vals = errors[ok]
        m = float(np.nanpercentile(np.abs(vals), 98)) or float(np.abs(vals).max()) or 1.0
        frame = has.assign(error=vals.to_numpy())
        frame.plot(ax=ax, column="error", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -m, m),
                   edgecolor="#bbbbbb", linewidth=0.15, alpha=0.9, zorder=2)
        sm = ax.collections[-1]
        fig.colorbar(sm, ax=ax, shrink=0.6, extend="both",
                     label=f"prediction − observed ({units})\nblue: under-predicted, "
                     "red: over-predicted, white: no error")
    _draw_missing(ax, lacking)
    handles = [missing_patch("no value / not evaluated")] if len(lacking) else []
    return _finish(fig, ax, regions, backdrop, handles, path)


def similar_map(regions: gpd.GeoDataFrame, query: object, similar: pd.DataFrame,
                path: str | Path,
                backdrop: Backdrop | None = None) -> Path:
    """The query region (black outline, orange) and its most similar regions (shaded by
    rank) over the backdrop; other regions in a light outline."""
    backdrop = backdrop or Backdrop()
    fig, ax = _base_axes(regions, backdrop, f"Regions most similar to {query!r} "
                         "(cosine similarity of the embeddings)")
    regions.plot(ax=ax, facecolor="none", edgecolor="#c8c8c8", linewidth=0.2, zorder=2)
    ids = pd.Index(similar["region_id"])
    hits = regions.loc[regions.index.intersection(ids)]
    ranks = similar.set_index("region_id")["rank"].reindex(hits.index)
    if len(hits):
        hits.assign(rank=ranks.to_numpy()).plot(
            ax=ax, column="rank", cmap="Blues_r", vmin=1, vmax=max(len(ids) * 1.6, 2),
            edgecolor="#08306b", linewidth=0.5, alpha=0.9, zorder=3)
        for rid, geom in hits.geometry.items():
            p = geom.representative_point()
            ax.text(p.x, p.y, str(int(ranks.loc[rid])), ha="center", va="center", fontsize=6,
                    color="white", zorder=5)
    regions.loc[[query]].plot(ax=ax, color="#ff7f00", edgecolor="black", linewidth=1.0,
                              zorder=3.5)
    handles = [Patch(facecolor="#ff7f00", edgecolor="black", label=f"query region {query!r}"),
               Patch(facecolor="#2171b5", edgecolor="#08306b",
                     label=f"its {len(ids)} most similar regions (number = rank)")]
    return _finish(fig, ax, regions, backdrop, handles, path)


# ---------------------------------------------------------------- all maps of a run
def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-]+", "_", name).strip("_") or "task"


def write_maps(out: str | Path, regions: gpd.GeoDataFrame, embeddings: pd.DataFrame,
               report: EvaluationReport | None = None, cfg: DatasetConfig | None = None,
               features: dict[str, pd.DataFrame] | None = None,
               seed: int = 0, html: bool = True) -> dict[str, Path]:
    """Every map of a run into ``out``: embedding, urban types, one error map per regression
    task of ``report`` and (``html``) the interactive ``map.html``. ``cfg`` gives the
    backdrop layers and the tasks; ``features`` (view name -> raw features) describe the
    types. Returns the written paths by kind."""
    from cookie.evaluation.analysis import urban_types

    out = Path(out)
    backdrop = load_backdrop(cfg, regions)
    written: dict[str, Path] = {}
    emb = embeddings.loc[embeddings.index.intersection(regions.index)]
    written["embedding"] = embedding_map(regions, emb, out / "embedding_map.png", backdrop)
    types = urban_types(emb, features, seed=seed)
    written["clusters"] = clusters_map(regions, types, out / "clusters_map.png", backdrop)
    errors: dict[str, pd.Series] = {}
    tasks = [t for t in (cfg.tasks if cfg is not None else []) if t.type == "regression"]
    for i, task in enumerate(tasks):
        if report is None or not any(k[0] == task.name for k in report.predictions):
            continue
        err, protocol, probe = task_errors(report, task)
        errors[task.name] = err
        name = "errors_map.png" if i == 0 else f"errors_map_{_slug(task.name)}.png"
        where = {"spatial": "spatial-block folds", "robust": "shuffled folds"}.get(protocol,
                                                                                  protocol)
        written[f"errors:{task.name}"] = errors_map(
            regions, err, out / name, target_units(task), backdrop,
            f"{task.name}: out-of-fold errors ({probe.replace('_', ' ')}, {where})")
    if html:
        from cookie.apps.html_map import write_html_map

        written["html"] = write_html_map(out / "map.html", regions, emb, types=types,
                                         report=report, cfg=cfg, errors=errors,
                                         backdrop=backdrop)
    return written
