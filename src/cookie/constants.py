"""Names shared by every layer (SRAI's data contract: region-indexed frames in and out)."""

from __future__ import annotations

#: the name of the region index of every frame cookie reads or writes (regions, views,
#: labels, embeddings), and of the id column of the tables it writes
REGION_INDEX = "region_id"

#: the layers an OpenStreetMap extract (.osm.pbf) gives a view, by the view's kind
OSM_LAYER_OF_KIND = {"points": "pois", "polygons": "landuse", "footprints": "buildings",
                     "lines": "roads"}
#: the class column of each OSM layer (None: the layer has no classes)
OSM_CLASS_COLUMN = {"pois": "category", "landuse": "class", "buildings": None, "roads": "class"}


def is_osm_pbf(path: object) -> bool:
    """Whether a path names an OpenStreetMap PBF extract (``*.osm.pbf`` or ``*.pbf``)."""
    return str(path).lower().endswith(".pbf")
