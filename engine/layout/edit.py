"""Edits of a Video Scene Layout, as pure functions: a layout in, a new valid layout out.

The editor's one rule for time: **editing on an in-between frame makes that frame a keyframe.** The
keyframe is inserted at the frame's time with the boxes the viewer was looking at (the interpolated
ones, by :mod:`engine.layout.interp`'s presence rule) and the caption of the keyframe before it, and the
edit is applied there. So what the user dragged is exactly what is kept, and the frames around it still
interpolate towards it. Boxes are clamped into the canvas; an edit that cannot be made raises
:class:`~engine.errors.InputError` saying why.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import InputError
from engine.layout.interp import AT_KEYFRAME_S, boxes_at
from engine.layout.model import Box, Keyframe, LayoutObject, VideoLayout

MIN_BOX_PX = 2.0


def keyframe_index_at(layout: VideoLayout, time_s: float) -> int | None:
    """The index of the keyframe at ``time_s`` (within a millisecond), or None between keyframes."""
    for index, frame in enumerate(layout.keyframes):
        if abs(frame.time_s - time_s) <= AT_KEYFRAME_S:
            return index
    return None


def clamp_box(layout: VideoLayout, box: Sequence[float]) -> Box:
    """``box`` with corners in order, inside the canvas, at least :data:`MIN_BOX_PX` on each side."""
    w, h = float(layout.canvas.width), float(layout.canvas.height)
    x0, x1 = sorted((float(box[0]), float(box[2])))
    y0, y1 = sorted((float(box[1]), float(box[3])))
    x0, x1 = min(max(x0, 0.0), w - MIN_BOX_PX), min(max(x1, 0.0), w)
    y0, y1 = min(max(y0, 0.0), h - MIN_BOX_PX), min(max(y1, 0.0), h)
    return (round(x0, 2), round(y0, 2), round(max(x1, x0 + MIN_BOX_PX), 2), round(max(y1, y0 + MIN_BOX_PX), 2))


def _with_keyframes(layout: VideoLayout, keyframes: Sequence[Keyframe]) -> VideoLayout:
    return layout.replaced(keyframes=tuple(keyframes))


def insert_keyframe(layout: VideoLayout, time_s: float) -> tuple[VideoLayout, int]:
    """A keyframe at ``time_s`` holding the boxes shown there; returns the layout and its index.

    An existing keyframe at that time is returned as it is.
    """
    index = keyframe_index_at(layout, time_s)
    if index is not None:
        return layout, index
    if not 0.0 <= time_s <= layout.duration_s:
        raise InputError(f"time {time_s:.3f} s lies outside the clip (0 to {layout.duration_s:.3f} s)")
    before = [k for k in layout.keyframes if k.time_s < time_s]
    caption = before[-1].caption if before else layout.video_caption
    objects = tuple(LayoutObject(id=b.id, name=b.name, box=clamp_box(layout, b.box)) for b in boxes_at(layout, time_s))
    frame = Keyframe(time_s=round(float(time_s), 4), caption=caption, objects=objects)
    keyframes = sorted([*layout.keyframes, frame], key=lambda k: k.time_s)
    return _with_keyframes(layout, keyframes), keyframes.index(frame)


def remove_keyframe(layout: VideoLayout, index: int) -> VideoLayout:
    """The layout without keyframe ``index`` (the last one left cannot go)."""
    if len(layout.keyframes) <= 1:
        raise InputError("a layout keeps at least one keyframe")
    keyframes = list(layout.keyframes)
    del keyframes[index]
    return _with_keyframes(layout, keyframes)


def _replace_frame(layout: VideoLayout, index: int, objects: Sequence[LayoutObject]) -> VideoLayout:
    keyframes = list(layout.keyframes)
    keyframes[index] = keyframes[index].replaced(objects=tuple(sorted(objects, key=lambda o: o.id)))
    return _with_keyframes(layout, keyframes)


def object_names(layout: VideoLayout) -> dict[int, str]:
    """Each object id's name (from its first appearance)."""
    return layout.names_by_id()


def set_box(layout: VideoLayout, time_s: float, object_id: int, box: Sequence[float]) -> VideoLayout:
    """Object ``object_id`` at ``box`` at ``time_s`` (a keyframe is made there when it lies between keyframes)."""
    names = object_names(layout)
    if object_id not in names:
        raise InputError(f"object {object_id} is not in the layout")
    layout, index = insert_keyframe(layout, time_s)
    others = [o for o in layout.keyframes[index].objects if o.id != object_id]
    moved = LayoutObject(id=object_id, name=names[object_id], box=clamp_box(layout, box))
    return _replace_frame(layout, index, [*others, moved])


def add_object(layout: VideoLayout, time_s: float, name: str, box: Sequence[float]) -> tuple[VideoLayout, int]:
    """A new object (id one above the largest) with ``box`` on the keyframe at ``time_s``; returns its id."""
    name = " ".join(str(name).split()) or "object"
    new_id = max(layout.object_ids(), default=-1) + 1
    layout, index = insert_keyframe(layout, time_s)
    added = LayoutObject(id=new_id, name=name, box=clamp_box(layout, box))
    return _replace_frame(layout, index, [*layout.keyframes[index].objects, added]), new_id


def remove_object_at(layout: VideoLayout, time_s: float, object_id: int) -> VideoLayout:
    """Object ``object_id`` taken off the keyframe at ``time_s`` (made there if needed); elsewhere it stays."""
    layout, index = insert_keyframe(layout, time_s)
    objects = [o for o in layout.keyframes[index].objects if o.id != object_id]
    return _replace_frame(layout, index, objects)


def delete_object(layout: VideoLayout, object_id: int) -> VideoLayout:
    """Object ``object_id`` removed from every keyframe."""
    keyframes = [k.replaced(objects=tuple(o for o in k.objects if o.id != object_id)) for k in layout.keyframes]
    return _with_keyframes(layout, keyframes)


def rename_object(layout: VideoLayout, object_id: int, name: str) -> VideoLayout:
    """Object ``object_id`` called ``name`` in every keyframe."""
    name = " ".join(str(name).split())
    if not name:
        raise InputError("an object needs a name")
    keyframes = [
        k.replaced(objects=tuple(o.replaced(name=name) if o.id == object_id else o for o in k.objects))
        for k in layout.keyframes
    ]
    return _with_keyframes(layout, keyframes)


def set_caption(layout: VideoLayout, index: int, text: str) -> VideoLayout:
    """Keyframe ``index`` with the caption ``text``."""
    keyframes = list(layout.keyframes)
    keyframes[index] = keyframes[index].replaced(caption=str(text))
    return _with_keyframes(layout, keyframes)


def set_video_caption(layout: VideoLayout, text: str) -> VideoLayout:
    """The layout with the video caption ``text``."""
    return layout.replaced(video_caption=str(text))
