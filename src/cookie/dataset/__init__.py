"""A featurized dataset (regions, views, labels) and its stores: the feature cache, frozen
copies, partitioned (tiled) views."""
