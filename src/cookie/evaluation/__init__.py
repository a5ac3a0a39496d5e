"""Honest downstream evaluation of region embeddings (literature, robust and spatial-block
protocols; regression, classification and clustering tasks)."""

from __future__ import annotations

from cookie.evaluation.aggregate import aggregate_seeds, combine_reports
from cookie.evaluation.analysis import nearest_neighbours, similar_regions, urban_types
from cookie.evaluation.evaluate import evaluate_dataset, evaluate_embeddings
from cookie.evaluation.report import EvaluationReport

__all__ = ["EvaluationReport", "aggregate_seeds", "combine_reports", "evaluate_dataset",
           "evaluate_embeddings", "nearest_neighbours", "similar_regions", "urban_types"]
