"""One self-contained interactive HTML map: inline SVG of the (simplified) region polygons
in the regions' metric CRS, inline JavaScript, no network at view time (no CDN, no tiles).

Hovering a region names it; clicking it shows its id, its values (observed and predicted
task values, errors, urban type) and its nearest neighbours in embedding space (cosine
similarity, computed in Python by `cookie.evaluation.analysis.nearest_neighbours`), which
are highlighted on the map and listed (click one to move to it). A selector recolours the
map by embedding (PCA as RGB), urban type or any per-region value.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cookie.evaluation.analysis import UrbanTypes, nearest_neighbours
from cookie.io.atomic import atomic_file

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from shapely.geometry.base import BaseGeometry

    from cookie.apps.maps import Backdrop
    from cookie.config import DatasetConfig
    from cookie.evaluation.report import EvaluationReport

N_NEIGHBOURS = 5
WIDTH = 1000.0


class _Projector:
    """Metric coordinates -> SVG pixels (y down), rounded to 0.1 px."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        minx, miny, maxx, maxy = bounds
        span = max(maxx - minx, maxy - miny, 1e-9)
        self.minx, self.maxy, self.scale = minx, maxy, WIDTH / span
        self.width = round((maxx - minx) * self.scale, 1)
        self.height = round((maxy - miny) * self.scale, 1)

    def ring(self, coords: ArrayLike) -> str:
        pts = np.asarray(coords)[:, :2]
        xs = np.round((pts[:, 0] - self.minx) * self.scale, 1)
        ys = np.round((self.maxy - pts[:, 1]) * self.scale, 1)
        return "M" + "L".join(f"{x:g} {y:g}" for x, y in zip(xs, ys, strict=True))

    def path(self, geom: BaseGeometry) -> str:
        parts: list[str] = []
        for g in getattr(geom, "geoms", [geom]):
            if g.is_empty:
                continue
            if g.geom_type == "Polygon":
                parts.append(self.ring(g.exterior.coords) + "Z")
                parts += [self.ring(r.coords) + "Z" for r in g.interiors]
            elif g.geom_type in ("LineString", "LinearRing"):
                parts.append(self.ring(g.coords))
            elif hasattr(g, "geoms"):
                parts.append(self.path(g))
        return "".join(parts)


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def region_values(report: EvaluationReport | None, cfg: DatasetConfig | None,
                  errors: dict[str, pd.Series] | None, ids: pd.Index) -> dict[str, pd.Series]:
    """Per-region values shown on click: each regression task's observed and predicted value
    (label scale) and error, each other task's observed and predicted class."""
    from cookie.apps.maps import task_errors

    out: dict[str, pd.Series] = {}
    if report is None or cfg is None:
        return out
    for task in cfg.tasks:
        keys = [k for k in report.predictions if k[0] == task.name]
        if not keys:
            continue
        if task.type == "regression":
            err, protocol, probe = task_errors(report, task)
            oof = report.oof(task.name, protocol, probe)
            true, pred = oof["y_true"].astype(float), oof["y_pred"].astype(float)
            if task.log:
                true, pred = np.expm1(true), np.expm1(pred)
            out[f"{task.name} observed"] = true.reindex(ids)
            out[f"{task.name} predicted"] = pred.reindex(ids)
            out[f"{task.name} error"] = (errors or {}).get(task.name, err).reindex(ids)
        else:
            oof = report.oof(*keys[0])
            out[f"{task.name} observed"] = oof["y_true"].reindex(ids)
            out[f"{task.name} predicted"] = oof["y_pred"].reindex(ids)
    return out


def map_payload(regions: gpd.GeoDataFrame, embeddings: pd.DataFrame,
                types: UrbanTypes | None = None, report: EvaluationReport | None = None,
                cfg: DatasetConfig | None = None, errors: dict[str, pd.Series] | None = None,
                backdrop: Backdrop | None = None, k: int = N_NEIGHBOURS,
                tolerance: float | None = None) -> dict:
    """Everything the page draws, as JSON-ready data (also what the tests check against)."""
    from cookie.apps.maps import pca_rgb

    emb = embeddings.loc[embeddings.index.intersection(regions.index)]
    regions = regions.loc[emb.index]
    bounds = tuple(float(v) for v in regions.total_bounds)
    proj = _Projector(bounds)
    span = max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1e-9)
    tol = tolerance if tolerance is not None else span / 2000.0
    geoms = shapely.simplify(regions.geometry.to_numpy(), tol, preserve_topology=True)
    rgb, _ = pca_rgb(emb)
    nn = nearest_neighbours(emb, k)
    kk = sum(c.startswith("neighbour_") for c in nn.columns)
    pos = {rid: i for i, rid in enumerate(emb.index)}
    values = region_values(report, cfg, errors, emb.index)
    items = []
    for i, rid in enumerate(emb.index):
        item: dict[str, Any] = {
            "id": str(_jsonable(rid)),
            "d": proj.path(geoms[i]),
            "rgb": "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgb[i]),
            "nn": [[pos[nn.iat[i, j]], round(float(nn.iat[i, kk + j]), 4)] for j in range(kk)],
            "v": {name: _jsonable(s.iloc[i]) for name, s in values.items()},
        }
        if types is not None and rid in types.labels.index:
            item["type"] = int(types.labels.loc[rid])
        items.append(item)
    layers = []
    if backdrop is not None:
        for name, gdf in backdrop.roads:
            lines = shapely.simplify(gdf.geometry.to_numpy(), tol, preserve_topology=False)
            layers.append({"name": name, "d": "".join(proj.path(g) for g in lines)})
    legend = {}
    if types is not None:
        legend = {str(t): f"type {t + 1} ({types.sizes[t]} regions): {types.describe(t, 200)}"
                  for t in sorted(types.sizes)}
    return {"width": proj.width, "height": proj.height, "regions": items, "roads": layers,
            "types": legend, "values": list(values), "k": kk,
            "crs": regions.crs.to_string() if regions.crs is not None else None}


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>__TITLE__</title>
<style>
body{font:14px/1.35 system-ui,sans-serif;margin:0;display:flex;height:100vh}
#map{flex:1;overflow:hidden;background:#fafafa}
svg{width:100%;height:100%}
.r{stroke:#fff;stroke-width:.4;cursor:pointer}
.r:hover{stroke:#000;stroke-width:1.2}
.r.sel{stroke:#ff7f00;stroke-width:3}
.r.nb{stroke:#08306b;stroke-width:2.2}
.road{fill:none;stroke:#777;stroke-width:.5;opacity:.7;pointer-events:none}
#side{width:340px;padding:10px 14px;overflow:auto;border-left:1px solid #ccc}
table{border-collapse:collapse}td{padding:1px 6px 1px 0;vertical-align:top}
#nbs li{cursor:pointer}#nbs li:hover{text-decoration:underline}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;padding:2px 5px;
display:none;font-size:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
</style></head><body>
<div id="map"><svg id="svg" viewBox="0 0 __W__ __H__" preserveAspectRatio="xMidYMid meet">
<g id="regions"></g><g id="roads"></g></svg></div>
<div id="side"><h3 style="margin:4px 0">__TITLE__</h3>
<label>Colour: <select id="mode"></select></label>
<div id="legend" style="font-size:12px;margin:6px 0"></div>
<div id="panel"><p>Click a region to see its values and its most similar regions.</p></div>
</div><div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
const G = document.getElementById("regions"), tip = document.getElementById("tip");
const TC = ["#1b9e77","#d95f02","#7570b3","#e7298a","#66a61e","#e6ab02","#a6761d","#1f78b4",
            "#b15928","#666666"];
const shapes = D.regions.map((r, i) => {
  const p = document.createElementNS(NS, "path");
  p.setAttribute("d", r.d); p.setAttribute("class", "r"); p.dataset.i = i;
  p.dataset.id = r.id; G.appendChild(p); return p;
});
for (const l of D.roads) {
  const p = document.createElementNS(NS, "path");
  p.setAttribute("d", l.d); p.setAttribute("class", "road");
  document.getElementById("roads").appendChild(p);
}
const fmt = v => v === null || v === undefined ? "n/a" :
  (typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : String(v));
function ramp(t) {  // blue - white - red
  const a = t < 0 ? [33,102,172] : [178,24,43], w = Math.min(1, Math.abs(t));
  return "rgb(" + a.map(c => Math.round(255 + (c - 255) * w)).join(",") + ")";
}
function seq(t) { return "rgb(" + [255 - 200 * t, 255 - 120 * t, 255 - 40 * t].map(Math.round)
  .join(",") + ")"; }
const mode = document.getElementById("mode"), legend = document.getElementById("legend");
const modes = [["embedding", "embedding (similar colours = similar regions)"]];
if (Object.keys(D.types).length) modes.push(["type", "urban type"]);
for (const v of D.values) modes.push(["v:" + v, v]);
for (const [k, label] of modes) {
  const o = document.createElement("option"); o.value = k; o.textContent = label;
  mode.appendChild(o);
}
function colour() {
  const m = mode.value; let html = "";
  if (m === "embedding") {
    shapes.forEach((p, i) => p.style.fill = D.regions[i].rgb);
    html = "First three principal components of the embedding as red, green, blue.";
  } else if (m === "type") {
    shapes.forEach((p, i) => p.style.fill = D.regions[i].type === undefined ? "#ddd" :
      TC[D.regions[i].type % TC.length]);
    html = Object.entries(D.types).map(([t, s]) => '<div><span class="sw" style="background:' +
      TC[t % TC.length] + '"></span>' + s + "</div>").join("");
  } else {
    const name = m.slice(2), vals = D.regions.map(r => r.v[name]);
    const nums = vals.filter(v => typeof v === "number");
    const err = name.endsWith(" error");
    const lo = Math.min(...nums), hi = Math.max(...nums);
    const big = Math.max(...nums.map(Math.abs)) || 1;
    shapes.forEach((p, i) => {
      const v = vals[i];
      p.style.fill = typeof v !== "number" ? "#e6e6e6" :
        (err ? ramp(v / big) : seq(hi > lo ? (v - lo) / (hi - lo) : 0));
    });
    html = err ? "blue: under-predicted, white: no error, red: over-predicted (&plusmn;" +
      fmt(big) + "); grey: no value" : "light: " + fmt(lo) + ", dark: " + fmt(hi) +
      "; grey: no value";
  }
  legend.innerHTML = html;
}
mode.addEventListener("change", colour);
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",
  ">":"&gt;",'"':"&quot;"}[c])); }
function select(i) {
  shapes.forEach(p => p.classList.remove("sel", "nb"));
  const r = D.regions[i];
  r.nn.forEach(([j]) => { shapes[j].classList.add("nb"); G.appendChild(shapes[j]); });
  shapes[i].classList.add("sel"); G.appendChild(shapes[i]);  // outlines drawn on top
  let h = '<h4 style="margin:8px 0 4px">Region <span id="region-id">' + esc(r.id) +
    "</span></h4><table>";
  if (r.type !== undefined) h += "<tr><td>urban type</td><td>" + (r.type + 1) + "</td></tr>";
  for (const [k, v] of Object.entries(r.v)) h += "<tr><td>" + esc(k) + "</td><td>" +
    esc(fmt(v)) + "</td></tr>";
  h += "</table><p style=\\"margin:8px 0 2px\\">Most similar regions (cosine similarity of " +
    "the embeddings), outlined in blue:</p><ol id=\\"nbs\\">";
  for (const [j, s] of r.nn) h += '<li data-i="' + j + '" data-id="' +
    esc(D.regions[j].id) + '">' + esc(D.regions[j].id) + " (" + s.toFixed(3) + ")</li>";
  document.getElementById("panel").innerHTML = h + "</ol>";
  document.querySelectorAll("#nbs li").forEach(li => li.addEventListener("click",
    () => select(+li.dataset.i)));
}
G.addEventListener("click", e => { if (e.target.dataset.i !== undefined)
  select(+e.target.dataset.i); });
G.addEventListener("mousemove", e => {
  if (e.target.dataset.i === undefined) return;
  tip.style.display = "block"; tip.style.left = (e.clientX + 12) + "px";
  tip.style.top = (e.clientY + 12) + "px"; tip.textContent = "region " + e.target.dataset.id;
});
G.addEventListener("mouseleave", () => tip.style.display = "none");
colour();
</script></body></html>
"""


def render_html(payload: dict, title: str = "cookie: regions and their embeddings") -> str:
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    data = data.replace("</", "<\\/")  # no '</script>' inside the JSON block
    return (PAGE.replace("__TITLE__", html.escape(title))
            .replace("__W__", f"{payload['width']:g}").replace("__H__", f"{payload['height']:g}")
            .replace("__DATA__", data))


def write_html_map(path: str | Path, regions: gpd.GeoDataFrame, embeddings: pd.DataFrame,
                   types: UrbanTypes | None = None, report: EvaluationReport | None = None,
                   cfg: DatasetConfig | None = None,
                   errors: dict[str, pd.Series] | None = None, backdrop: Backdrop | None = None,
                   k: int = N_NEIGHBOURS, title: str | None = None) -> Path:
    """Write the interactive map (one .html file, nothing fetched when viewed)."""
    payload = map_payload(regions, embeddings, types, report, cfg, errors, backdrop, k)
    name = getattr(cfg, "name", None)
    text = render_html(payload, title or (f"cookie: {name}" if name else "cookie map"))
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
