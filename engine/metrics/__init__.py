"""Layout metrics: MaxIoU, LTSim and DocSim between a predicted and a ground-truth Video Scene Layout.

Pure numpy/scipy. The soft label match (:class:`LabelSimilarity`) loads its embedding model (torch,
sentence-transformers) lazily, on first use, never on import. See :mod:`engine.metrics.layout_metrics` for the
definitions, normalisations and the empty-layout policy.
"""

from engine.metrics.labels import ExactLabelSimilarity, LabelSimilarity, normalise_label, shared_label_similarity
from engine.metrics.layout_metrics import (
    DOCSIM_MAX_COUNT_DIFF,
    PLANNER_CANVAS_WH,
    Box,
    FrameLayout,
    LabelledBox,
    LabelSimilarityFn,
    aggregate_scores,
    docsim,
    docsim_weight_matrix,
    generalized_iou_matrix,
    iou_matrix,
    keyframe_scores,
    ltsim,
    ltsim_cost_matrix,
    ltsim_transport,
    max_iou,
    pair_keyframes,
)

__all__ = [
    "DOCSIM_MAX_COUNT_DIFF",
    "PLANNER_CANVAS_WH",
    "Box",
    "ExactLabelSimilarity",
    "FrameLayout",
    "LabelSimilarity",
    "LabelSimilarityFn",
    "LabelledBox",
    "aggregate_scores",
    "docsim",
    "docsim_weight_matrix",
    "generalized_iou_matrix",
    "iou_matrix",
    "keyframe_scores",
    "ltsim",
    "ltsim_cost_matrix",
    "ltsim_transport",
    "max_iou",
    "normalise_label",
    "pair_keyframes",
    "shared_label_similarity",
]
