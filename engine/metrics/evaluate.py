"""Score a folder of predicted layouts against a folder of ground truth, in the shape of the paper's Table 1.

Files are paired by name: ``X.vsl.json`` in both folders (SPEC.md). Each pair gets MaxIoU, LTSim and
DocSim averaged over keyframes (×100, soft label match); files are then grouped by the ground truth's
motion — *stationary* (no object moves) or *translational* (some object moves across the frame or in
depth) — and by object count — *single* or *multiple* — and each group is averaged, plus *combined*.

What moves comes from make-bench's scene file beside the ground truth (``X.json``, its sources'
``motion``) when there is one, else from the ground-truth layout itself: an object whose box centre
shifts by more than 5% of the canvas width or whose area changes by more than half is moving.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.layout.model import load_vsl
from engine.metrics.layout_metrics import FrameLayout, LabelSimilarityFn, aggregate_scores, keyframe_scores

MOTION_GROUPS = ("stationary", "translational")
COUNT_GROUPS = ("single", "multiple", "combined")


def _frames(layout: dict[str, Any]) -> list[FrameLayout]:
    canvas = (float(layout["canvas"]["width"]), float(layout["canvas"]["height"]))
    return [
        FrameLayout([(o["name"], tuple(o["box"])) for o in kf["objects"]], canvas, float(kf["time_s"]))
        for kf in layout["keyframes"]
    ]


def layout_groups(gt_layout: dict[str, Any], scene: dict[str, Any] | None) -> tuple[str, str]:
    """(``stationary``/``translational``, ``single``/``multiple``) of a ground truth."""
    ids = {o["id"] for kf in gt_layout["keyframes"] for o in kf["objects"]}
    count = "multiple" if len(ids) > 1 else "single"
    if scene is not None and isinstance(scene.get("sources"), list) and scene["sources"]:
        moving = any(s.get("motion") not in (None, "stationary") for s in scene["sources"])
        return ("translational" if moving else "stationary"), count
    width = float(gt_layout["canvas"]["width"])
    tracks: dict[int, list[list[float]]] = {}
    for kf in gt_layout["keyframes"]:
        for obj in kf["objects"]:
            tracks.setdefault(obj["id"], []).append(obj["box"])
    for boxes in tracks.values():
        b = np.asarray(boxes, dtype=float)
        centres = 0.5 * (b[:, 0] + b[:, 2])
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        if np.ptp(centres) > 0.05 * width or areas.max() > 1.5 * max(areas.min(), 1e-9):
            return "translational", count
    return "stationary", count


def evaluate_folders(
    pred_dir: str | Path,
    gt_dir: str | Path,
    label_sim: LabelSimilarityFn,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Scores of every ``X.vsl.json`` found in both folders; see the module docstring.

    Returns ``{"overall": {...}, "per_file": {X: {...}}, "table": {motion: {count: {...}}}, "missing": [...]}``
    (metrics ×100). Raises :class:`InputError` when a folder is missing or no file pairs up.
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for folder, what in ((pred_dir, "--pred"), (gt_dir, "--gt")):
        if not folder.is_dir():
            raise InputError(f"{folder}: {what} must be a folder of .vsl.json files")
    gt_files = {p.name[: -len(".vsl.json")]: p for p in sorted(gt_dir.glob("*.vsl.json"))}
    pred_files = {p.name[: -len(".vsl.json")]: p for p in sorted(pred_dir.glob("*.vsl.json"))}
    names = sorted(set(gt_files) & set(pred_files))
    if not names:
        raise InputError(
            f"no layout pairs up: {pred_dir} has {len(pred_files)} and {gt_dir} has {len(gt_files)} .vsl.json "
            "files, and none share a name"
        )
    per_file: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        gt = load_vsl(gt_files[name]).to_json_dict()
        pred = load_vsl(pred_files[name]).to_json_dict()
        scene_path = gt_dir / f"{name}.json"
        scene = None
        if scene_path.exists():
            try:
                scene = json.loads(scene_path.read_text())
            except (OSError, ValueError):
                scene = None
        motion, count = layout_groups(gt, scene if isinstance(scene, dict) else None)
        scores = keyframe_scores(_frames(pred), _frames(gt), label_sim)
        per_file[name] = {**{k: round(float(v), 3) for k, v in scores.items()}, "motion": motion, "count": count}
        if progress is not None:
            progress((i + 1) / len(names))
    table: dict[str, dict[str, dict[str, float]]] = {}
    for motion in (*MOTION_GROUPS, "all"):
        table[motion] = {}
        for count in COUNT_GROUPS:
            rows = [
                s for s in per_file.values()
                if (motion == "all" or s["motion"] == motion) and (count == "combined" or s["count"] == count)
            ]
            table[motion][count] = aggregate_scores(rows)
    return {
        "overall": table["all"]["combined"],
        "per_file": per_file,
        "table": table,
        "missing": {
            "no_prediction": sorted(set(gt_files) - set(pred_files)),
            "no_ground_truth": sorted(set(pred_files) - set(gt_files)),
        },
    }


def _table_rows(result: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """``(motion, count, scores)`` of every non-empty cell of the table, in the paper's order."""
    return [
        (motion, count, result["table"][motion][count])
        for motion in (*MOTION_GROUPS, "all")
        for count in COUNT_GROUPS
        if result["table"][motion][count]["count"]
    ]


def table_markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table: rows = motion × count, columns = MaxIoU / LTSim / DocSim / files."""
    lines = ["| subset | | MaxIoU | LTSim | DocSim | files |", "| --- | --- | --- | --- | --- | --- |"]
    for motion, count, s in _table_rows(result):
        lines.append(f"| {motion} | {count} | {s['maxiou']:.2f} | {s['ltsim']:.2f} | {s['docsim']:.2f} "
                     f"| {s['count']} |")
    return "\n".join(lines)


def table_text(result: dict[str, Any]) -> str:
    """The result as a plain-text table for the terminal."""
    lines = [f"{'subset':<28}{'MaxIoU':>8}{'LTSim':>8}{'DocSim':>8}{'files':>7}"]
    for motion, count, s in _table_rows(result):
        lines.append(f"{motion + ' / ' + count:<28}{s['maxiou']:8.2f}{s['ltsim']:8.2f}{s['docsim']:8.2f}"
                     f"{s['count']:7d}")
    return "\n".join(lines)
