"""Names shared by every layer (SRAI's data contract: region-indexed frames in and out)."""

from __future__ import annotations

#: the name of the region index of every frame cookie reads or writes (regions, views,
#: labels, embeddings), and of the id column of the tables it writes
REGION_INDEX = "region_id"
