"""Edits of a Video Scene Layout as pure functions: a layout and an intent in, a new valid layout out.

Nothing here changes its input (the models are frozen) and every result has been validated again, so the
editor can keep the layout before and after an edit and swap them for undo. An edit that cannot be made
(an unknown object id, a time outside the clip, removing the last keyframe, …) raises
:class:`~engine.errors.InputError` with one line saying why and what would be accepted.

**Editing between keyframes.** The editor shows every frame of the clip, most of them in-between frames
whose boxes are interpolated (:mod:`engine.layout.interp`). An edit made on such a frame — moving,
resizing, adding or removing a box — first makes that frame a keyframe (:func:`insert_keyframe`: the boxes
present there by the presence rule, exactly as they were shown, and the caption of the keyframe before),
then applies the edit to the new keyframe. So what the user sees is what is kept, the neighbouring
keyframes are untouched, and the frames around the edit interpolate towards it.

**Boxes.** Every box that comes in is clamped into the canvas with its corners put in order, and a box
thinner than :data:`MIN_BOX_PX` on an axis is widened to that size (towards the inside of the canvas).
Times of new keyframes are rounded to the millisecond, as the VSL writers do.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Collection, Sequence
from typing import Protocol

from pydantic import ValidationError

from engine.errors import InputError
from engine.layout.interp import AT_KEYFRAME_S, boxes_at
from engine.layout.model import (
    TIME_TOLERANCE_S,
    Box,
    Canvas,
    Keyframe,
    LayoutObject,
    OffscreenSource,
    VideoLayout,
    validation_message,
)

#: The smallest width and height an edited box keeps, in canvas pixels.
MIN_BOX_PX = 2.0


class BoxLike(Protocol):
    """Anything with an object's id, name and box: a :class:`LayoutObject` or an interpolated ``FrameBox``."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def box(self) -> tuple[float, float, float, float]: ...


# ------------------------------------------------------------------------------------ boxes and lookups


def clamp_box(canvas: Canvas | VideoLayout, box: Sequence[float]) -> Box:
    """``box`` as ``(x0, y0, x1, y1)`` inside ``canvas`` (or a layout's canvas), x0 < x1 and y0 < y1.

    Corners are put in order, each coordinate is clamped into the canvas, and a side shorter than
    :data:`MIN_BOX_PX` is widened to it, staying inside the canvas. Raises :class:`InputError` unless
    ``box`` is four finite numbers.
    """
    if isinstance(canvas, VideoLayout):
        canvas = canvas.canvas
    if isinstance(box, (str, bytes)) or len(box) != 4:
        raise InputError(f"a box is 4 numbers [x0, y0, x1, y1], got {box!r}")
    values = []
    for name, value in zip(("x0", "y0", "x1", "y1"), box, strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"box {name} must be a finite number, got {value!r}")
        values.append(float(value))
    x0, x1 = _clamped_span(values[0], values[2], float(canvas.width))
    y0, y1 = _clamped_span(values[1], values[3], float(canvas.height))
    return (x0, y0, x1, y1)


def _clamped_span(a: float, b: float, size: float) -> tuple[float, float]:
    low, high = min(max(min(a, b), 0.0), size), min(max(max(a, b), 0.0), size)
    minimum = min(MIN_BOX_PX, size)
    if high - low < minimum:
        high = min(low + minimum, size)
        low = high - minimum
    return low, high


def moved_box(canvas: Canvas | VideoLayout, box: Sequence[float], dx: float, dy: float) -> Box:
    """``box`` shifted by ``(dx, dy)`` px, the shift cut short at the canvas edge so the size never changes."""
    if isinstance(canvas, VideoLayout):
        canvas = canvas.canvas
    x0, y0, x1, y1 = clamp_box(canvas, box)
    dx = max(min(float(dx), canvas.width - x1), -x0)
    dy = max(min(float(dy), canvas.height - y1), -y0)
    return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)


def object_names(layout: VideoLayout) -> dict[int, str]:
    """Each object id (ascending) and its name, taken from its first appearance."""
    return layout.names_by_id()


def keyframe_index_at(layout: VideoLayout, time_s: float) -> int | None:
    """The index of the keyframe at ``time_s`` (within :data:`~engine.layout.interp.AT_KEYFRAME_S`), or None.

    When two keyframes are that close, the nearer one.
    """
    times = layout.times
    right = bisect.bisect_left(times, time_s)
    candidates = [k for k in (right - 1, right) if 0 <= k < len(times)]
    nearest = min(candidates, key=lambda k: abs(times[k] - time_s))
    return nearest if abs(times[nearest] - time_s) <= AT_KEYFRAME_S else None


def box_at(layout: VideoLayout, time_s: float, object_id: int) -> Box | None:
    """The box of ``object_id`` shown at ``time_s`` (a keyframe's or an interpolated one), or None if absent."""
    return next((b.box for b in boxes_at(layout, time_s) if b.id == object_id), None)


# ------------------------------------------------------------------------------------ keyframes


def insert_keyframe(layout: VideoLayout, time_s: float) -> tuple[VideoLayout, int]:
    """A keyframe at ``time_s`` holding the boxes shown there; returns the new layout and the keyframe's index.

    The new keyframe lists exactly the objects present at ``time_s`` by the presence rule of
    :mod:`engine.layout.interp`, at their interpolated boxes, and takes the caption of the keyframe before
    it (the video caption when it comes first). Where a keyframe already lies at ``time_s`` the layout
    comes back unchanged with that keyframe's index. Raises :class:`InputError` for a time outside the clip.
    """
    existing = keyframe_index_at(layout, time_s)
    if existing is not None:
        return layout, existing
    time_s = _time_in_clip(layout, time_s)
    # Rounded like the writers round; the rounding moves it by 0.5 ms at most, less than the 1 ms that
    # separates it from every other keyframe, so the order of the keyframes cannot change.
    kf_time_s = min(max(round(time_s, 3), 0.0), layout.duration_s)
    index = bisect.bisect_left(layout.times, kf_time_s)
    caption = layout.keyframes[index - 1].caption if index > 0 else layout.video_caption
    objects = tuple(LayoutObject(id=b.id, name=b.name, box=clamp_box(layout.canvas, b.box))
                    for b in boxes_at(layout, time_s))
    frame = Keyframe(time_s=kf_time_s, caption=caption, objects=objects)
    keyframes = [*layout.keyframes[:index], frame, *layout.keyframes[index:]]
    return _with_keyframes(layout, keyframes), index


def remove_keyframe(layout: VideoLayout, index: int) -> VideoLayout:
    """The layout without keyframe ``index``; the last remaining keyframe cannot be removed."""
    index = _check_index(layout, index)
    if len(layout.keyframes) == 1:
        raise InputError("the only keyframe cannot be removed: a layout keeps at least one keyframe")
    return _with_keyframes(layout, [k for i, k in enumerate(layout.keyframes) if i != index])


def hold(layout: VideoLayout, index: int, keep: Collection[int] = ()) -> VideoLayout:
    """Keyframe ``index`` showing a copy of the previous keyframe's objects (its caption and time stay).

    Objects whose ids are in ``keep`` stay on keyframe ``index`` as they were (or stay absent): the
    editor passes its locked objects. Raises :class:`InputError` for the first keyframe, which has no
    keyframe before it.
    """
    index = _check_index(layout, index)
    if index == 0:
        raise InputError("the first keyframe has no keyframe before it to hold")
    target = layout.keyframes[index]
    copied = [o for o in layout.keyframes[index - 1].objects if o.id not in keep]
    kept = [o for o in target.objects if o.id in keep]
    return _with_frame(layout, index, target.replaced(objects=_by_id([*copied, *kept])))


def propagate(layout: VideoLayout, index: int, object_id: int, add_missing: bool = False) -> VideoLayout:
    """The box of ``object_id`` on keyframe ``index`` copied to every later keyframe that lists the object.

    With ``add_missing`` the object is also added to the later keyframes that do not list it (so it stays
    present to the end of the clip); without it, where the object is absent it stays absent. Raises
    :class:`InputError` when keyframe ``index`` does not list the object or is the last keyframe.
    """
    index = _check_index(layout, index)
    source = layout.keyframes[index].object_by_id(object_id)
    if source is None:
        raise InputError(f"keyframe {index} (at {layout.keyframes[index].time_s:g} s) does not list object "
                         f"{object_id}; propagate from a keyframe that shows it")
    if index == len(layout.keyframes) - 1:
        raise InputError(f"keyframe {index} is the last keyframe: there is no later keyframe to propagate to")
    keyframes = list(layout.keyframes)
    for k in range(index + 1, len(keyframes)):
        frame = keyframes[k]
        if frame.object_by_id(object_id) is not None:
            keyframes[k] = frame.replaced(objects=tuple(
                o.replaced(box=source.box) if o.id == object_id else o for o in frame.objects))
        elif add_missing:
            keyframes[k] = frame.replaced(objects=_by_id([*frame.objects, source]))
    return _with_keyframes(layout, keyframes)


def follow_sounds(layout: VideoLayout, sounding: dict[int, Sequence[tuple[float, float]]],
                  slack_s: float | None = None) -> VideoLayout:
    """Each object in ``sounding`` (object id → the spans, in seconds, when its sound is heard) shown on the
    keyframes where it sounds and on no other: taken off the keyframes where it is silent, put on those where
    it sounds but is missing (at the box it has on the nearest keyframe that lists it).

    A keyframe counts as sounding when a span comes within ``slack_s`` of it (default: half the keyframe
    spacing, so a sound between two keyframes keeps the object on both). An object that would sound on no
    keyframe at all is left as it is (deleting it is the user's call); objects not in ``sounding`` too.
    """
    times = layout.times
    if slack_s is None:
        slack_s = 0.5 * (times[-1] - times[0]) / max(1, len(times) - 1)
    keyframes = list(layout.keyframes)
    for object_id, spans in sounding.items():
        shown = [k for k, frame in enumerate(keyframes) if frame.object_by_id(object_id) is not None]
        heard = [k for k, t in enumerate(times)
                 if any(start - slack_s <= t <= end + slack_s for start, end in spans)]
        if not shown or not heard:
            continue
        for k in range(len(keyframes)):
            frame = keyframes[k]
            present = frame.object_by_id(object_id)
            if k not in heard and present is not None:
                keyframes[k] = frame.replaced(objects=tuple(o for o in frame.objects if o.id != object_id))
            elif k in heard and present is None:
                nearest = min(shown, key=lambda j, k=k: (abs(j - k), j))
                keyframes[k] = frame.replaced(objects=_by_id([*frame.objects,
                                                             layout.keyframes[nearest].object_by_id(object_id)]))
    return _with_keyframes(layout, keyframes)


def set_caption(layout: VideoLayout, index: int, text: str) -> VideoLayout:
    """Keyframe ``index`` with the caption ``text``."""
    index = _check_index(layout, index)
    return _with_frame(layout, index, layout.keyframes[index].replaced(caption=str(text)))


def set_video_caption(layout: VideoLayout, text: str) -> VideoLayout:
    """The layout with the video caption ``text``."""
    return _validated(layout, video_caption=str(text))


def set_offscreen(layout: VideoLayout, source_id: int, offscreen: bool, name: str = "") -> VideoLayout:
    """The layout with measured source ``source_id`` marked off screen (heard, not seen: no box, left out of the
    check and the render's grounding) or back on screen. ``name`` (default "sound <id>") labels the entry."""
    kept = tuple(entry for entry in layout.offscreen if entry.source_id != source_id)
    if offscreen:
        kept = (*kept, OffscreenSource(name=name.strip() or f"sound {source_id}", source_id=int(source_id)))
        kept = tuple(sorted(kept, key=lambda entry: (entry.source_id is None, entry.source_id or 0, entry.name)))
    return _validated(layout, offscreen=kept)


# ------------------------------------------------------------------------------------ objects


def set_box(layout: VideoLayout, time_s: float, object_id: int, box: Sequence[float]) -> VideoLayout:
    """Object ``object_id`` at ``box`` (clamped, see :func:`clamp_box`) on the frame at ``time_s``.

    On an in-between frame a keyframe is made there first (:func:`insert_keyframe`); a keyframe that does
    not list the object gets it added, under the object's name. Raises :class:`InputError` for an id the
    layout does not know.
    """
    name = _name_of(layout, object_id)
    box = clamp_box(layout.canvas, box)
    layout, index = insert_keyframe(layout, time_s)
    frame = layout.keyframes[index]
    if frame.object_by_id(object_id) is not None:
        objects = tuple(o.replaced(box=box) if o.id == object_id else o for o in frame.objects)
    else:
        objects = (*frame.objects, LayoutObject(id=object_id, name=name, box=box))
    return _with_frame(layout, index, frame.replaced(objects=objects))


def add_object(layout: VideoLayout, time_s: float, name: str, box: Sequence[float]) -> tuple[VideoLayout, int]:
    """A new object called ``name`` at ``box`` on the frame at ``time_s`` (made a keyframe if in-between).

    Returns the new layout and the new object's id: one above the largest id in the layout (0 for the
    first). Raises :class:`InputError` for an empty name.
    """
    name = _clean_name(name)
    box = clamp_box(layout.canvas, box)
    new_id = max(layout.object_ids(), default=-1) + 1
    layout, index = insert_keyframe(layout, time_s)
    frame = layout.keyframes[index]
    added = LayoutObject(id=new_id, name=name, box=box)
    return _with_frame(layout, index, frame.replaced(objects=(*frame.objects, added))), new_id


def remove_object_at(layout: VideoLayout, time_s: float, object_id: int) -> VideoLayout:
    """Object ``object_id`` taken off the frame at ``time_s`` only (made a keyframe if in-between).

    By the presence rule the object then also disappears from the gaps on either side of that keyframe;
    the other keyframes keep it. Raises :class:`InputError` when the object is not shown at ``time_s``.
    """
    name = _name_of(layout, object_id)
    time_s = _time_in_clip(layout, time_s)
    if box_at(layout, time_s, object_id) is None:
        raise InputError(f"object {object_id} ({name}) is not shown at {time_s:.3f} s: there is no box to remove")
    layout, index = insert_keyframe(layout, time_s)
    frame = layout.keyframes[index]
    return _with_frame(layout, index, frame.replaced(objects=tuple(o for o in frame.objects if o.id != object_id)))


def delete_object(layout: VideoLayout, object_id: int) -> VideoLayout:
    """Object ``object_id`` removed from every keyframe."""
    _name_of(layout, object_id)
    return _with_keyframes(layout, [k.replaced(objects=tuple(o for o in k.objects if o.id != object_id))
                                    for k in layout.keyframes])


def rename_object(layout: VideoLayout, object_id: int, name: str) -> VideoLayout:
    """Object ``object_id`` called ``name`` (whitespace collapsed) on every keyframe."""
    _name_of(layout, object_id)
    name = _clean_name(name)
    return _with_keyframes(layout, [
        k.replaced(objects=tuple(o.replaced(name=name) if o.id == object_id else o for o in k.objects))
        for k in layout.keyframes
    ])


def paste_box(layout: VideoLayout, time_s: float, object_id: int | None, name: str, box: Sequence[float]
              ) -> tuple[VideoLayout, int]:
    """A copied box pasted on the frame at ``time_s``; returns the new layout and the id the box went to.

    When ``object_id`` is an object of the layout, that object takes the box there (as :func:`set_box`);
    otherwise (None, or an object deleted since the copy) a new object called ``name`` is added (as
    :func:`add_object`).
    """
    if object_id is not None and object_id in object_names(layout):
        return set_box(layout, time_s, object_id, box), object_id
    return add_object(layout, time_s, name, box)


def paste_keyframe(layout: VideoLayout, time_s: float, objects: Sequence[BoxLike], keep: Collection[int] = ()
                   ) -> VideoLayout:
    """The frame at ``time_s`` (made a keyframe if in-between) showing exactly ``objects``, boxes clamped.

    ``objects`` are :class:`LayoutObject` or ``FrameBox`` items, usually copied from another frame of the
    same layout, so they keep their ids. An id that the layout now gives to an object of another name
    (or that repeats within ``objects``) gets a new id instead. Objects whose ids are in ``keep`` stay on
    the target keyframe as they were (the editor passes its locked objects). The caption stays.
    """
    names = object_names(layout)
    next_id = max([*names, *(o.id for o in objects)], default=-1) + 1
    pasted: list[LayoutObject] = []
    for obj in objects:
        name = _clean_name(obj.name)
        object_id = int(obj.id)
        if (object_id in names and names[object_id] != name) or any(p.id == object_id for p in pasted):
            object_id, next_id = next_id, next_id + 1
        if object_id in keep:
            continue
        pasted.append(LayoutObject(id=object_id, name=name, box=clamp_box(layout.canvas, obj.box)))
    layout, index = insert_keyframe(layout, time_s)
    target = layout.keyframes[index]
    kept = [o for o in target.objects if o.id in keep]
    return _with_frame(layout, index, target.replaced(objects=_by_id([*pasted, *kept])))


# ------------------------------------------------------------------------------------ helpers


def _time_in_clip(layout: VideoLayout, time_s: float) -> float:
    """``time_s`` as a float in ``[0, duration_s]``; a rounding error past either end is pulled in."""
    t = float(time_s)
    if not math.isfinite(t) or t < -TIME_TOLERANCE_S or t > layout.duration_s + TIME_TOLERANCE_S:
        raise InputError(f"time {t:g} s lies outside the clip: edits are made at times within "
                         f"[0, {layout.duration_s:g}] s")
    return min(max(t, 0.0), layout.duration_s)


def _check_index(layout: VideoLayout, index: int) -> int:
    n = len(layout.keyframes)
    try:
        checked = operator.index(index)  # ints, numpy ints; not floats, not None
    except TypeError:
        checked = -1
    if isinstance(index, bool) or not 0 <= checked < n:
        raise InputError(f"keyframe index {index!r} does not exist: the layout has keyframes 0 to {n - 1}")
    return checked


def _name_of(layout: VideoLayout, object_id: int) -> str:
    names = object_names(layout)
    if object_id not in names:
        known = ", ".join(f"{i} ({n})" for i, n in names.items()) or "none"
        raise InputError(f"object id {object_id!r} is not in the layout; its objects are: {known}")
    return names[object_id]


def _clean_name(name: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise InputError("an object's name must not be empty")
    return cleaned


def _by_id(objects: Sequence[LayoutObject]) -> tuple[LayoutObject, ...]:
    return tuple(sorted(objects, key=lambda o: o.id))


def _with_frame(layout: VideoLayout, index: int, frame: Keyframe) -> VideoLayout:
    return _with_keyframes(layout, [frame if i == index else k for i, k in enumerate(layout.keyframes)])


def _with_keyframes(layout: VideoLayout, keyframes: Sequence[Keyframe]) -> VideoLayout:
    return _validated(layout, keyframes=tuple(keyframes))


def _validated(layout: VideoLayout, **changes: object) -> VideoLayout:
    # The edits above only make valid layouts; should one not, say so as bad input, never as a traceback.
    try:
        return layout.replaced(**changes)
    except ValidationError as exc:
        raise InputError(f"the edit would make an invalid layout: {validation_message(exc)}") from None
