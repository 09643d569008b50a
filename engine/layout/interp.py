"""Boxes between keyframes: what the generator renders and the editor shows as in-between frames.

Frame i of n sits at ``i·D/(n−1)`` (one frame: at 0), the same even spread as the keyframes (SPEC.md).

**Presence rule.** An object is present at time t when

* a keyframe lies at t (within :data:`AT_KEYFRAME_S`) and lists it: its box is that keyframe's box, exactly
  (``is_keyframe`` True); or
* t lies strictly between two *consecutive* keyframes that both list it: its box is linear in the four box
  coordinates between those two boxes (``is_keyframe`` False); the name is the earlier keyframe's.

So an object appears and disappears exactly where the keyframes say: absent from a keyframe means absent
from that keyframe's time and from the gaps on either side of it; before the first keyframe and after the
last nothing is shown. There is no extrapolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.layout.model import Canvas, VideoLayout, keyframe_times

#: A frame this close to a keyframe shows that keyframe's boxes. Keyframe times are written rounded to
#: milliseconds, so a frame at exactly D still finds the last keyframe written as, say, 3.333 for 10/3.
AT_KEYFRAME_S = 1e-3


@dataclass(frozen=True)
class FrameBox:
    """One object's box in one frame: ``box = (x0, y0, x1, y1)``; ``is_keyframe`` False for interpolated boxes."""

    id: int
    name: str
    box: tuple[float, float, float, float]
    is_keyframe: bool


def frame_times(duration_s: float, n_frames: int) -> list[float]:
    """The times of ``n_frames`` frames spread evenly over the clip: frame i at ``i·D/(n−1)``."""
    return keyframe_times(duration_s, n_frames)


def boxes_at_times(layout: VideoLayout, times_s: Sequence[float]) -> list[list[FrameBox]]:
    """The boxes present at each of ``times_s`` (any times, any order), by the module's presence rule.

    Each frame's boxes are sorted by id.
    """
    t = np.asarray(times_s, dtype=np.float64)
    kf_t = np.asarray(layout.times, dtype=np.float64)
    n_kf = kf_t.shape[0]
    # For each frame: the keyframe at or before it (-1 when before the first), and whether it sits on one.
    before = np.searchsorted(kf_t, t + AT_KEYFRAME_S, side="right") - 1
    nearest = np.clip(np.searchsorted(kf_t, t), 0, n_kf - 1)
    nearest = np.where(np.abs(kf_t[np.maximum(nearest - 1, 0)] - t) < np.abs(kf_t[nearest] - t),
                       np.maximum(nearest - 1, 0), nearest)
    on_keyframe = np.abs(kf_t[nearest] - t) <= AT_KEYFRAME_S
    in_gap = ~on_keyframe & (before >= 0) & (before < n_kf - 1)
    a = np.clip(before, 0, n_kf - 1)  # earlier keyframe of the gap
    b = np.clip(before + 1, 0, n_kf - 1)  # later keyframe of the gap
    span = np.where(in_gap, kf_t[b] - kf_t[a], 1.0)
    weight = np.where(in_gap, (t - kf_t[a]) / span, 0.0)

    frames: list[list[FrameBox]] = [[] for _ in range(t.shape[0])]
    for object_id, appearances in layout.objects_by_id().items():
        listed = np.zeros(n_kf, dtype=bool)
        boxes = np.zeros((n_kf, 4), dtype=np.float64)
        names = [""] * n_kf
        for k, obj in appearances:
            listed[k] = True
            boxes[k] = obj.box
            names[k] = obj.name
        at_key = on_keyframe & listed[nearest]
        between = in_gap & listed[a] & listed[b]
        lerped = (1.0 - weight)[:, None] * boxes[a] + weight[:, None] * boxes[b]
        for i in np.flatnonzero(at_key | between):
            if at_key[i]:
                k = int(nearest[i])
                frames[i].append(FrameBox(object_id, names[k], _box_tuple(boxes[k]), is_keyframe=True))
            else:
                frames[i].append(FrameBox(object_id, names[a[i]], _box_tuple(lerped[i]), is_keyframe=False))
    return frames  # objects_by_id is ascending by id, so each frame's list is too


def boxes_at(layout: VideoLayout, time_s: float) -> list[FrameBox]:
    """The boxes present at one time (see :func:`boxes_at_times`)."""
    return boxes_at_times(layout, [time_s])[0]


def interpolate(layout: VideoLayout, n_frames: int) -> list[list[FrameBox]]:
    """Boxes for ``n_frames`` frames spread evenly over the clip (frame i at ``i·D/(n−1)``), in canvas pixels.

    Returns one list per frame, each sorted by id; see the module docstring for when an object is present.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    return boxes_at_times(layout, frame_times(layout.duration_s, n_frames))


def scale_box(box: Sequence[float], from_canvas: Canvas | tuple[int, int], to_size: tuple[int, int]
              ) -> tuple[float, float, float, float]:
    """One box from canvas pixels to ``to_size = (width, height)`` pixels, each axis by its own factor."""
    from_w, from_h = from_canvas.size if isinstance(from_canvas, Canvas) else from_canvas
    sx, sy = to_size[0] / from_w, to_size[1] / from_h
    x0, y0, x1, y1 = box
    return (x0 * sx, y0 * sy, x1 * sx, y1 * sy)


def scale_boxes(boxes: Sequence[FrameBox], from_canvas: Canvas | tuple[int, int], to_size: tuple[int, int]
                ) -> list[FrameBox]:
    """Frame boxes from the planner's canvas (454×256) to the render size (512×320 by default).

    The two axes scale independently (the aspect ratios differ), as the paper maps its layouts to the
    generator's frames; a box that fills the canvas fills the rendered frame.
    """
    return [FrameBox(b.id, b.name, scale_box(b.box, from_canvas, to_size), b.is_keyframe) for b in boxes]


def _box_tuple(row: np.ndarray) -> tuple[float, float, float, float]:
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
