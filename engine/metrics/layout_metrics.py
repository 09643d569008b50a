"""Layout similarity between a predicted and a ground-truth Video Scene Layout: MaxIoU, LTSim, DocSim.

The three metrics of the SpA2V paper's Stage 1 evaluation (Table 1), computed per keyframe and averaged over
keyframes. Each compares two sets of labelled boxes: it matches the boxes of one layout to those of the other and
accumulates a box-agreement score over the matches.

Inputs are plain data (:class:`FrameLayout`): ``(label, (x0, y0, x1, y1))`` pairs in canvas pixels and the canvas
size. Boxes are divided by the canvas width/height first, so every metric works in [0, 1] coordinates as the
reference implementations do (MaxIoU and LTSim are invariant to that scaling; DocSim is not).

Soft label match
    The reference metrics were written for closed label sets: a pair of boxes with different categories is never
    matched (indicator ``1[c == c']``). The paper replaces the indicator by the cosine similarity of the two labels'
    embeddings, ``f_soft(c, c')``, and keeps the rest of each metric. Here that similarity comes from a
    ``label_sim`` callable (``label_sim(a, b) -> float`` in [0, 1]; see :mod:`engine.metrics.labels`), and it
    enters each metric exactly where the indicator did:

    * MaxIoU: the pair score is ``IoU · f_soft``. (The reference runs one Hungarian matching per label class; that
      equals one matching over all pairs with score ``IoU · 1[c == c']``, because cross-class pairs add nothing.)
    * LTSim: the label part of the ground cost, ``1 − 1[c == c']``, becomes ``1 − f_soft``.
    * DocSim: the pair weight, zero across classes in the reference, becomes ``weight · f_soft``.

    With :class:`~engine.metrics.labels.ExactLabelSimilarity` each metric reduces to its reference definition.

Normalisation
    * MaxIoU: sum of the matched scores divided by ``max(n_pred, n_gt)``. The reference divides by the box count
      of layouts with identical composition (so n_pred == n_gt there); ``max`` keeps that value and makes missing
      or extra boxes cost, since an unmatched box contributes 0 to the sum but 1 to the count.
    * LTSim: ``exp(−W)`` where ``W`` is the exact optimal-transport cost with uniform masses (each layout sums to 1),
      so a set size mismatch is paid through the transport plan.
    * DocSim: as the reference (the CyberAgent LTSim/LayoutDM evaluation code): 0 when the box counts differ by
      3 or more, otherwise the *mean* weight over the ``min(n_pred, n_gt)`` matched pairs. So up to two extra or
      missing boxes are not penalised by DocSim itself (MaxIoU and LTSim do penalise them). Note the weight is
      ``sqrt(min area)·2^(…)``, so even identical layouts score below 1 (sqrt of the box's area fraction).

Empty layouts (a keyframe with no boxes)
    Both empty → 1.0 for every metric (perfect agreement: nothing predicted, nothing there). Exactly one empty →
    0.0 for every metric. (The LTSim reference returns ``exp(−1)`` ≈ 0.368 there; we use 0 so that all three
    metrics agree that predicting nothing for a scene with objects, or objects for an empty scene, is a miss.)

All functions return values in [0, 1] except :func:`keyframe_scores`, which reports ×100 like the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment, linprog

__all__ = [
    "DOCSIM_MAX_COUNT_DIFF",
    "PLANNER_CANVAS_WH",
    "Box",
    "FrameLayout",
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
    "pair_keyframes",
]

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in canvas pixels, origin top-left."""

LabelledBox = tuple[str, Box]

LabelSimilarityFn = Callable[[str, str], float]
"""``label_sim(a, b)`` → similarity in [0, 1]. An object that also has ``matrix(labels_a, labels_b)`` returning an
``(len(a), len(b))`` array is asked for the whole matrix at once (lets an embedding model batch its work)."""

PLANNER_CANVAS_WH: tuple[float, float] = (454.0, 256.0)
"""The planner's canvas (SPEC.md), the default canvas of a :class:`FrameLayout`."""

DOCSIM_MAX_COUNT_DIFF = 3
"""DocSim is 0 when the two box counts differ by this much or more (READ / reference code)."""

_EPS = 1e-12


@dataclass(frozen=True)
class FrameLayout:
    """One keyframe's layout: labelled boxes in canvas pixels, the canvas size, and optionally its time.

    ``time_s`` is only used to pair keyframes when a prediction and its ground truth have different keyframe
    counts (see :func:`pair_keyframes`).
    """

    objects: Sequence[LabelledBox]
    canvas_wh: tuple[float, float] = PLANNER_CANVAS_WH
    time_s: float | None = None

    def __post_init__(self) -> None:
        width, height = self.canvas_wh
        if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
            raise ValueError(f"canvas_wh must be two positive numbers, got {self.canvas_wh!r}")
        for index, item in enumerate(self.objects):
            if len(item) != 2 or len(item[1]) != 4:
                raise ValueError(f"objects[{index}] must be (label, (x0, y0, x1, y1)), got {item!r}")
            if not all(np.isfinite(float(v)) for v in item[1]):
                raise ValueError(f"objects[{index}] box has a non-finite coordinate: {item[1]!r}")

    @property
    def labels(self) -> list[str]:
        """The box labels, in order."""
        return [str(label) for label, _ in self.objects]

    def normalised_boxes(self) -> np.ndarray:
        """``(n, 4)`` array of ``(x0, y0, x1, y1)`` divided by the canvas size, so in [0, 1] for in-canvas boxes."""
        if not self.objects:
            return np.zeros((0, 4))
        width, height = self.canvas_wh
        boxes = np.asarray([box for _, box in self.objects], dtype=float).reshape(-1, 4)
        return boxes / np.array([width, height, width, height], dtype=float)


# --------------------------------------------------------------------------------------------------------------
# box geometry (normalised coordinates)


def _widths_heights(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # An inverted box would give a negative area and a nonsense IoU; treat it as degenerate (zero extent).
    return np.clip(boxes[:, 2] - boxes[:, 0], 0.0, None), np.clip(boxes[:, 3] - boxes[:, 1], 0.0, None)


def _overlap(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray) -> np.ndarray:
    """Pairwise overlap length ``(n, m)`` of 1-D intervals ``[lo_a, hi_a]`` and ``[lo_b, hi_b]`` (0 if apart)."""
    return np.clip(np.minimum(hi_a[:, None], hi_b[None, :]) - np.maximum(lo_a[:, None], lo_b[None, :]), 0.0, None)


def _span(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray) -> np.ndarray:
    """Pairwise length ``(n, m)`` of the smallest interval covering both."""
    return np.maximum(hi_a[:, None], hi_b[None, :]) - np.minimum(lo_a[:, None], lo_b[None, :])


def _intersection_union(boxes_a: np.ndarray, boxes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wa, ha = _widths_heights(boxes_a)
    wb, hb = _widths_heights(boxes_b)
    intersection = _overlap(boxes_a[:, 0], boxes_a[:, 2], boxes_b[:, 0], boxes_b[:, 2]) * _overlap(
        boxes_a[:, 1], boxes_a[:, 3], boxes_b[:, 1], boxes_b[:, 3]
    )
    union = (wa * ha)[:, None] + (wb * hb)[None, :] - intersection
    return intersection, union


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(n, 4)`` and ``(m, 4)`` ``(x0, y0, x1, y1)`` boxes → ``(n, m)``; 0 where the union is empty."""
    intersection, union = _intersection_union(boxes_a, boxes_b)
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > _EPS)


def generalized_iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise generalised IoU (Rezatofighi et al. 2019) → ``(n, m)`` in [−1, 1].

    ``GIoU = IoU − (C − U) / C`` with ``C`` the area of the smallest box enclosing both and ``U`` their union; it
    keeps growing as two disjoint boxes come closer, which plain IoU (stuck at 0) does not.
    """
    intersection, union = _intersection_union(boxes_a, boxes_b)
    iou = np.divide(intersection, union, out=np.zeros_like(union), where=union > _EPS)
    hull = _span(boxes_a[:, 0], boxes_a[:, 2], boxes_b[:, 0], boxes_b[:, 2]) * _span(
        boxes_a[:, 1], boxes_a[:, 3], boxes_b[:, 1], boxes_b[:, 3]
    )
    penalty = np.divide(hull - union, hull, out=np.zeros_like(hull), where=hull > _EPS)
    return iou - penalty


# --------------------------------------------------------------------------------------------------------------
# label similarity


def _label_matrix(label_sim: LabelSimilarityFn, labels_a: Sequence[str], labels_b: Sequence[str]) -> np.ndarray:
    """``(n, m)`` label similarities clipped to [0, 1] (a negative cosine means "unrelated", not "worse than")."""
    batch = getattr(label_sim, "matrix", None)
    if callable(batch):
        sims = np.asarray(batch(labels_a, labels_b), dtype=float).reshape(len(labels_a), len(labels_b))
    else:
        sims = np.array([[float(label_sim(a, b)) for b in labels_b] for a in labels_a], dtype=float)
        sims = sims.reshape(len(labels_a), len(labels_b))
    return np.clip(sims, 0.0, 1.0)


def _empty_policy(pred: FrameLayout, gt: FrameLayout) -> float | None:
    """1.0 when both layouts are empty, 0.0 when exactly one is, ``None`` when both have boxes."""
    n_pred, n_gt = len(pred.objects), len(gt.objects)
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    return None


# --------------------------------------------------------------------------------------------------------------
# the three metrics


def max_iou(pred: FrameLayout, gt: FrameLayout, label_sim: LabelSimilarityFn) -> float:
    """MaxIoU (Kikuchi et al. 2021) of one keyframe with the paper's soft label match, in [0, 1].

    One-to-one Hungarian matching of predicted to ground-truth boxes maximising ``IoU · label_sim``; the matched
    scores are summed and divided by ``max(n_pred, n_gt)`` so that a missing or an extra box costs.
    """
    empty = _empty_policy(pred, gt)
    if empty is not None:
        return empty
    scores = iou_matrix(pred.normalised_boxes(), gt.normalised_boxes())
    scores = scores * _label_matrix(label_sim, pred.labels, gt.labels)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return float(scores[rows, cols].sum() / max(len(pred.objects), len(gt.objects)))


def ltsim_cost_matrix(pred: FrameLayout, gt: FrameLayout, label_sim: LabelSimilarityFn) -> np.ndarray:
    """LTSim ground cost ``(n_pred, n_gt)``: ``0.5·(1 − (GIoU + 1)/2) + 0.5·(1 − label_sim)``, each part in [0, 1]."""
    giou = generalized_iou_matrix(pred.normalised_boxes(), gt.normalised_boxes())
    # (GIoU + 1) / 2 maps [-1, 1] to [0, 1], so the geometric part is a cost in [0, 1] like the label part.
    geometric_cost = 1.0 - (giou + 1.0) * 0.5
    label_cost = 1.0 - _label_matrix(label_sim, pred.labels, gt.labels)
    return 0.5 * geometric_cost + 0.5 * label_cost


def _exact_transport(cost: np.ndarray, source_mass: np.ndarray, target_mass: np.ndarray) -> np.ndarray:
    """Exact optimal transport plan (earth mover's distance) by linear programming (HiGHS).

    Variables are the ``n·m`` plan entries (row-major); constraints: row ``i`` sums to ``source_mass[i]``, column
    ``j`` sums to ``target_mass[j]``, entries ≥ 0. Layouts hold a handful of boxes, so the LP is tiny.
    """
    n, m = cost.shape
    row_sums = np.kron(np.eye(n), np.ones((1, m)))
    col_sums = np.kron(np.ones((1, n)), np.eye(m))
    # One equality is implied by the others (both masses sum to 1); HiGHS's presolve removes it.
    result = linprog(
        cost.ravel(),
        A_eq=np.vstack([row_sums, col_sums]),
        b_eq=np.concatenate([source_mass, target_mass]),
        bounds=(0.0, None),
        method="highs",
    )
    if not result.success:  # cannot happen for a feasible balanced problem; say so loudly if it does
        raise RuntimeError(f"optimal transport LP failed: {result.message}")
    return np.clip(result.x.reshape(n, m), 0.0, None)


def ltsim_transport(pred: FrameLayout, gt: FrameLayout, label_sim: LabelSimilarityFn) -> tuple[float, np.ndarray]:
    """The optimal-transport cost ``W`` between two non-empty layouts and its plan ``(n_pred, n_gt)``.

    Uniform masses: every predicted box carries ``1/n_pred``, every ground-truth box ``1/n_gt``.
    """
    if not pred.objects or not gt.objects:
        raise ValueError("ltsim_transport needs two non-empty layouts (ltsim() handles empty ones)")
    cost = ltsim_cost_matrix(pred, gt, label_sim)
    n, m = cost.shape
    plan = _exact_transport(cost, np.full(n, 1.0 / n), np.full(m, 1.0 / m))
    return float(np.sum(plan * cost)), plan


def ltsim(pred: FrameLayout, gt: FrameLayout, label_sim: LabelSimilarityFn) -> float:
    """LTSim (Otani et al. 2024) of one keyframe with the soft label match: ``exp(−W)``.

    ``W`` is the exact optimal-transport cost between the two box sets (uniform masses summing to 1 on each side)
    under the ground cost of :func:`ltsim_cost_matrix`. Because that cost is at most 1, a non-empty pair scores in
    [exp(−1), 1] ≈ [0.368, 1]; identical layouts score 1.
    """
    empty = _empty_policy(pred, gt)
    if empty is not None:
        return empty
    cost, _ = ltsim_transport(pred, gt, label_sim)
    return float(np.exp(-cost))


def docsim_weight_matrix(pred: FrameLayout, gt: FrameLayout, label_sim: LabelSimilarityFn) -> np.ndarray:
    """DocSim pair weights ``(n_pred, n_gt)``: ``sqrt(min area) · 2^(−Δcenter − 2·Δsize) · label_sim``.

    Normalised coordinates; ``Δcenter`` is the Euclidean distance of the two centres and ``Δsize`` is
    ``|w1 − w2| + |h1 − h2|`` (READ, Patil et al. 2020, with C_a = 1/2 and C_s = 2 as in the reference code).
    """
    boxes_p, boxes_g = pred.normalised_boxes(), gt.normalised_boxes()
    wp, hp = _widths_heights(boxes_p)
    wg, hg = _widths_heights(boxes_g)
    cxp, cyp = (boxes_p[:, 0] + boxes_p[:, 2]) / 2, (boxes_p[:, 1] + boxes_p[:, 3]) / 2
    cxg, cyg = (boxes_g[:, 0] + boxes_g[:, 2]) / 2, (boxes_g[:, 1] + boxes_g[:, 3]) / 2
    delta_center = np.hypot(cxp[:, None] - cxg[None, :], cyp[:, None] - cyg[None, :])
    delta_size = np.abs(wp[:, None] - wg[None, :]) + np.abs(hp[:, None] - hg[None, :])
    # sqrt(min area): a large box that agrees counts more than a tiny one that agrees.
    alpha = np.sqrt(np.minimum((wp * hp)[:, None], (wg * hg)[None, :]))
    weights = alpha * np.power(2.0, -delta_center - 2.0 * delta_size)
    return weights * _label_matrix(label_sim, pred.labels, gt.labels)


def docsim(pred: FrameLayout, gt: FrameLayout, label_sim: LabelSimilarityFn) -> float:
    """DocSim (Patil et al. 2020, READ) of one keyframe with the soft label match, in [0, 1].

    0 when the box counts differ by 3 or more; otherwise Hungarian matching maximising the pair weights of
    :func:`docsim_weight_matrix`, and the mean weight over the ``min(n_pred, n_gt)`` matched pairs (as the
    reference code normalises).
    """
    empty = _empty_policy(pred, gt)
    if empty is not None:
        return empty
    if abs(len(pred.objects) - len(gt.objects)) >= DOCSIM_MAX_COUNT_DIFF:
        return 0.0
    weights = docsim_weight_matrix(pred, gt, label_sim)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return float(weights[rows, cols].mean())


# --------------------------------------------------------------------------------------------------------------
# whole layouts: keyframes


def _evenly_spread(count: int) -> np.ndarray:
    """Keyframe k of N at k/(N−1) on [0, 1] (SPEC.md: keyframes spread evenly over the clip); one keyframe at 0."""
    return np.linspace(0.0, 1.0, count) if count > 1 else np.zeros(count)


def pair_keyframes(pred_keyframes: Sequence[FrameLayout], gt_keyframes: Sequence[FrameLayout]) -> list[tuple[int, int]]:
    """Pairs ``(pred_index, gt_index)``, one per ground-truth keyframe, in ground-truth order.

    Same counts: by index. Different counts: each ground-truth keyframe with the predicted keyframe nearest in
    time. Times are the keyframes' ``time_s`` when every keyframe on both sides has one; otherwise both sides use
    their evenly spread positions k/(N−1) on [0, 1] (SPEC.md keyframe convention). Ties go to the earlier keyframe.
    No predicted keyframes: every ground-truth keyframe is paired with index −1 (scored against an empty layout).
    """
    if len(pred_keyframes) == len(gt_keyframes):
        return [(k, k) for k in range(len(gt_keyframes))]
    if not pred_keyframes:
        return [(-1, k) for k in range(len(gt_keyframes))]
    if all(kf.time_s is not None for kf in [*pred_keyframes, *gt_keyframes]):
        pred_pos = np.array([kf.time_s for kf in pred_keyframes], dtype=float)
        gt_pos = np.array([kf.time_s for kf in gt_keyframes], dtype=float)
    else:
        pred_pos, gt_pos = _evenly_spread(len(pred_keyframes)), _evenly_spread(len(gt_keyframes))
    # argmin returns the first minimum, hence "ties go to the earlier keyframe".
    return [(int(np.argmin(np.abs(pred_pos - position))), k) for k, position in enumerate(gt_pos)]


def keyframe_scores(
    pred_keyframes: Sequence[FrameLayout],
    gt_keyframes: Sequence[FrameLayout],
    label_sim: LabelSimilarityFn,
) -> dict[str, float]:
    """MaxIoU, LTSim and DocSim of a whole layout, averaged over the ground-truth keyframes, ×100.

    Keyframes are paired by :func:`pair_keyframes`. Returns ``{"maxiou", "ltsim", "docsim"}`` (×100, like the
    paper's tables) and ``"keyframes"``, the number of pairs averaged. Raises ``ValueError`` when the ground truth
    has no keyframes (there is nothing to score against).
    """
    if not gt_keyframes:
        raise ValueError("the ground-truth layout has no keyframes to score against")
    totals = {"maxiou": 0.0, "ltsim": 0.0, "docsim": 0.0}
    pairs = pair_keyframes(pred_keyframes, gt_keyframes)
    for pred_index, gt_index in pairs:
        gt = gt_keyframes[gt_index]
        pred = pred_keyframes[pred_index] if pred_index >= 0 else FrameLayout((), gt.canvas_wh, gt.time_s)
        totals["maxiou"] += max_iou(pred, gt, label_sim)
        totals["ltsim"] += ltsim(pred, gt, label_sim)
        totals["docsim"] += docsim(pred, gt, label_sim)
    scores: dict[str, float] = {name: 100.0 * total / len(pairs) for name, total in totals.items()}
    scores["keyframes"] = len(pairs)
    return scores


def aggregate_scores(per_item: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over several :func:`keyframe_scores` results (one per file), plus ``"count"``.

    Each file counts once, whatever its keyframe count (the paper averages per VSL, then over VSLs). An empty
    input gives zeros with ``count`` 0.
    """
    names = ("maxiou", "ltsim", "docsim")
    if not per_item:
        return {**dict.fromkeys(names, 0.0), "count": 0}
    result: dict[str, float] = {name: float(np.mean([item[name] for item in per_item])) for name in names}
    result["count"] = len(per_item)
    return result
