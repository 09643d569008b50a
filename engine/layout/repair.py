"""Turn what an LLM planner answers into a valid :class:`~engine.layout.model.VideoLayout`, saying what was fixed.

Every fix appends one human-readable line to ``RepairResult.repairs``. In those lines "keyframe k" counts
the answer's keyframes from 1, in the order the answer lists them (as the paper's "Frame k" does).

Policies, in the order they are applied:

* **Text**: JSON is taken from a ```` ``` ```` code fence or from the first ``{...}``/``[...]`` in the answer;
  prose around it is ignored. Single quotes, Python ``True``/``False``/``None``, trailing commas, comments and
  raw line breaks in strings are fixed (:func:`engine.layout.textformat.relaxed_json_loads`). An answer in the
  paper's ``Frame k: {...} ... Video Caption: ...`` format is read by :mod:`engine.layout.textformat`.
* **Numbers** given as text (``"12.5"``) are read as numbers; an id like ``1.0`` or ``"1"`` as 1.
* **Names** are stripped of white space around them; an object without a name (or a blank one) is "object".
* **Canvas**: when every box coordinate lies in [0, 1] (and there is at least one box, and one of them is
  narrower or lower than :data:`MIN_BOX_PX`, so that it cannot be meant in pixels), the boxes are read as
  fractions of the canvas and scaled to it. Otherwise, when the answer states a canvas other than the requested
  one, its boxes are scaled from that canvas to the requested one.
* **Boxes**: swapped corners (x0 > x1 or y0 > y1) are put back in order; boxes reaching outside the canvas are
  clipped to it; boxes narrower or lower than :data:`MIN_BOX_PX` after that (including boxes wholly outside the
  canvas) are dropped, as are boxes that are not four finite numbers.
* **Ids**: an id used twice in one keyframe is **renumbered, not dropped** (every box is taken to be a sounding
  object): the entry whose name is the id's usual name across the layout keeps it; the others get fresh ids
  (one above the largest id), the same fresh id in every keyframe for the same (old id, name, repeat) so that
  correspondence across keyframes survives. An object without an id takes the id its name has elsewhere in
  the layout when that id is free in its keyframe, else a fresh id.
* **Times**: a keyframe without ``time_s`` takes the time of its slot on the grid ``k·D/(N−1)`` (slot = its
  frame number in the paper's format, else its position). Times in the wrong order are sorted; times that are
  not distinct or lie outside [0, D] are all replaced by the grid. When the answer states another duration than
  the requested one, its times are scaled to the requested duration.
* **Missing keyframes** (fewer than N): each grid time with no keyframe near it (within a quarter of the grid
  spacing) gets a new keyframe with an empty caption. Its objects follow :mod:`engine.layout.interp`'s rule:
  an object listed by both neighbouring keyframes is interpolated linearly between them; before the first or
  after the last keyframe, the objects of the nearest keyframe are carried unchanged. More keyframes than
  N are all kept (that is no repair, so nothing is reported).
* **Captions and reasoning** that are missing become empty strings.
* **Recording and sounds off screen** (``audio``, ``offscreen``: written by this program, not by LLMs) are kept
  as they are; an off-screen entry that is not valid is dropped.

If nothing usable remains (no JSON, no keyframes, or every box unusable) :class:`InputError` says why.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from engine.errors import InputError
from engine.layout.model import (
    DEFAULT_N_KEYFRAMES,
    TIME_TOLERANCE_S,
    VSL_FORMAT,
    VSL_VERSION,
    Canvas,
    OffscreenSource,
    VideoLayout,
    keyframe_times,
    validation_message,
)
from engine.layout.textformat import (
    find_balanced,
    looks_like_paper_text,
    parse_paper_text_with_notes,
    relaxed_json_loads,
)

#: A box narrower or lower than this many canvas pixels (after clipping) cannot be drawn or rendered: dropped.
MIN_BOX_PX = 1.0
# A box this little below MIN_BOX_PX is a rounding error (an interpolated box between two boxes of 1 px), not
# a smaller box: it is kept, so that repairing a repaired layout drops nothing.
_SIZE_TOLERANCE_PX = 1e-9

_KEYFRAME_KEYS = ("keyframes", "key_frames", "frames", "layouts")
_OBJECT_KEYS = ("objects", "frame layout", "frame_layout", "layout", "boxes")
_CAPTION_KEYS = ("caption", "frame caption", "frame_caption")
_TIME_KEYS = ("time_s", "time", "t")
_NAME_KEYS = ("name", "label", "object", "class")
_BOX_KEYS = ("box", "bbox", "bounding_box")
_VIDEO_CAPTION_KEYS = ("video_caption", "video caption", "Video Caption", "videoCaption")
_NESTED_LAYOUT_KEYS = ("layout", "vsl", "video_layout", "video_scene_layout")
_FENCE = re.compile(r"```[^\n`]*\n?(.*?)(?:```|\Z)", re.DOTALL)


@dataclass(frozen=True)
class RepairResult:
    """A valid layout and one line per repair that was needed to get it (empty when none was)."""

    layout: VideoLayout
    repairs: list[str] = field(default_factory=list)


@dataclass
class _Object:
    id: int | None
    name: str
    box: list[float]


@dataclass
class _Frame:
    label: int  # 1-based position in the answer, for the notes
    time_s: float | None
    caption: str
    objects: list[_Object]
    slot: int  # 0-based slot on the keyframe grid when the time has to be guessed


class _Repairer:
    """One repair run: the notes so far and counters of fixes that are reported once, summed."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.numbers_from_text = 0
        self.dropped: list[str] = []
        self.raw_objects = 0  # object entries seen in the answer, to tell "all dropped" from "none given"

    def note(self, line: str) -> None:
        self.notes.append(_one_line(line))

    def number(self, value: Any) -> float | None:
        """A finite float from a number or a numeric string; None for anything else."""
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return float(value) if math.isfinite(value) else None
        if isinstance(value, str):
            try:
                parsed = float(value.strip())
            except ValueError:
                return None
            if math.isfinite(parsed):
                self.numbers_from_text += 1
                return parsed
        return None


def repair_layout_text(text: str, canvas: Canvas | None = None, duration_s: float | None = None,
                       n_keyframes: int | None = DEFAULT_N_KEYFRAMES) -> RepairResult:
    """Read an LLM's answer (JSON VSL, possibly sloppy, or the paper's textual format) as a valid layout.

    ``canvas`` (default 454×256) and ``duration_s`` are what was asked for; the answer's own values are used only
    to rescale (see the module docstring). Without ``duration_s`` the answer must state one. ``n_keyframes``
    (None: as many as the answer has) is the number of keyframes wanted; missing ones are filled in.
    Raises :class:`InputError` when nothing usable is found.
    """
    run = _Repairer()
    canvas = canvas or Canvas()
    if not text.strip():
        raise InputError("the answer is empty; expected a video scene layout as JSON")
    if looks_like_paper_text(text) and not re.search(r"""["']keyframes["']\s*:""", text):
        data, fixes = parse_paper_text_with_notes(text, None, duration_s, n_keyframes)
        run.note("read the answer in the paper's textual format ('Frame k: {...}')")
    else:
        data, fixes = _extract_json(text, run)
    for fix in fixes:
        run.note(f"JSON: {fix}")
    return _repair(data, canvas, duration_s, n_keyframes, run)


def repair_layout(layout_dict: Any, canvas: Canvas | None = None, duration_s: float | None = None,
                  n_keyframes: int | None = None) -> RepairResult:
    """Repair an already parsed layout (a dict, or a bare list of keyframes) with the same policies.

    Without ``canvas`` / ``duration_s`` the dict's own are used (its canvas defaults to 454×256);
    ``n_keyframes`` None keeps the keyframe count as it is.
    """
    run = _Repairer()
    own_canvas = _canvas_of(layout_dict, run) if isinstance(layout_dict, Mapping) else None
    return _repair(layout_dict, canvas or own_canvas or Canvas(), duration_s, n_keyframes, run)


# ------------------------------------------------------------------------------------ text → value


def _extract_json(text: str, run: _Repairer) -> tuple[Any, list[str]]:
    """The JSON value in an answer: from a code fence if there is one, else the first bracketed span."""
    fences = [m for m in _FENCE.finditer(text) if re.search(r"[\[{]", m.group(1))]
    if fences:
        run.note("removed the ``` code fence around the JSON")
    # (where to look, the text outside that place) for each candidate, first to last
    places = [(m.group(1), text[:m.start()] + text[m.end():]) for m in fences] or [(text, "")]
    first_error: InputError | None = None
    for place, outside in places:
        starts = [i for i in (place.find("{"), place.find("[")) if i >= 0]
        if not starts:
            continue
        span = find_balanced(place, min(starts), place[min(starts)])
        assert span is not None  # place[min(starts)] is an opening bracket
        try:
            value, fixes = relaxed_json_loads(place[span[0]:span[1]])
        except InputError as exc:
            first_error = first_error or exc
            continue
        if (outside + place[:span[0]] + place[span[1]:]).strip():
            run.note("ignored the text around the JSON")
        return value, fixes
    if first_error is not None:
        raise first_error
    raise InputError("no JSON found in the answer; expected a video scene layout like "
                     '{"keyframes": [{"time_s": 0.0, "caption": "...", "objects": [...]}]}')


# ------------------------------------------------------------------------------------ value → layout


def _repair(data: Any, canvas: Canvas, duration_s: float | None, n_keyframes: int | None,
            run: _Repairer) -> RepairResult:
    data = _top_level(data, run)
    answer_canvas = _canvas_of(data, run)
    duration, time_scale = _duration(data, duration_s, run)

    raw_frames = _first(data, _KEYFRAME_KEYS)
    if not isinstance(raw_frames, list) or not raw_frames:
        raise InputError("the layout has no keyframes; expected 'keyframes': a list of "
                         '{"time_s": ..., "caption": "...", "objects": [{"id": 0, "name": "...", "box": [...]}]}')
    frames: list[_Frame] = []
    for position, raw in enumerate(raw_frames):
        frame = _frame(raw, position, run)
        if frame is not None:
            if frame.time_s is not None and time_scale != 1.0:
                frame.time_s *= time_scale
            frames.append(frame)
    n_raw_objects = run.raw_objects
    if not frames:
        raise InputError("none of the keyframes could be read: each must be an object with 'objects'")

    _rescale_boxes(frames, canvas, answer_canvas, run)
    for frame in frames:
        frame.objects = [obj for obj in (_fix_box(obj, frame.label, canvas, run) for obj in frame.objects) if obj]
    n_objects = sum(len(f.objects) for f in frames)
    if n_raw_objects and not n_objects:
        reasons = "; ".join(run.dropped[:3]) + ("; ..." if len(run.dropped) > 3 else "")
        raise InputError(f"none of the {n_raw_objects} boxes in the answer could be used ({reasons})")
    _fix_ids(frames, run)
    _fix_times(frames, duration, n_keyframes, run)
    # More keyframes than asked for are all kept, silently: nothing was wrong with them, and a note here
    # would come back each time the (valid) result is repaired again.
    frames = _fill_missing(frames, duration, n_keyframes, run)
    if run.numbers_from_text:
        run.note(f"{run.numbers_from_text} number(s) given as text (like \"12.5\") read as numbers")

    layout_dict = {
        "format": VSL_FORMAT,
        "version": VSL_VERSION,
        "canvas": {"width": canvas.width, "height": canvas.height},
        "duration_s": duration,
        "reasoning": _text(data, ("reasoning",), "the layout has no reasoning; left empty", run),
        "video_caption": _text(data, _VIDEO_CAPTION_KEYS, "the layout has no video caption; left empty", run),
        "keyframes": [
            {"time_s": f.time_s, "caption": f.caption,
             "objects": [{"id": o.id, "name": o.name, "box": o.box} for o in f.objects]}
            for f in frames
        ],
    }
    # A layout written by this program (not an LLM) may name its recording and sounds off screen: kept.
    audio = data.get("audio")
    if isinstance(audio, str) and audio:
        layout_dict["audio"] = audio
    offscreen = _offscreen(data.get("offscreen"), run)
    if offscreen:
        layout_dict["offscreen"] = offscreen
    try:
        layout = VideoLayout.model_validate(layout_dict)
    except ValidationError as exc:  # a gap in the policies above; say what is left rather than crash
        raise InputError(f"the layout is still invalid after repairs: {validation_message(exc)}") from None
    return RepairResult(layout=layout, repairs=run.notes)


def _offscreen(raw: Any, run: _Repairer) -> list[OffscreenSource]:
    """The valid entries of a layout's ``offscreen`` list; the others are dropped with a note."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        run.note(f"offscreen must be a list of {{\"name\": ..., \"source_id\": ...}}, got {raw!r:.60}; ignored")
        return []
    kept = []
    for index, entry in enumerate(raw):
        try:
            kept.append(OffscreenSource.model_validate(entry))
        except ValidationError as exc:
            run.note(f"offscreen[{index}] dropped: {validation_message(exc)}")
    return kept


def _first_key(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key in mapping), None)


def _first(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    key = _first_key(mapping, keys)
    return None if key is None else mapping[key]


def _top_level(data: Any, run: _Repairer) -> Mapping[str, Any]:
    if isinstance(data, list):
        run.note("the answer is a bare list; read it as the list of keyframes")
        return {"keyframes": data}
    if not isinstance(data, Mapping):
        raise InputError(f"expected a JSON object holding a video scene layout, got {type(data).__name__}")
    if _first_key(data, _KEYFRAME_KEYS) is None:
        for key in _NESTED_LAYOUT_KEYS:
            inner = data.get(key)
            if isinstance(inner, Mapping) and _first_key(inner, _KEYFRAME_KEYS) is not None:
                run.note(f"the layout was nested under '{key}'; read from there")
                # Reasoning or a caption next to the nested layout still belongs to it.
                return {**{k: v for k, v in data.items() if k != key}, **inner}
    return data


def _canvas_of(data: Mapping[str, Any], run: _Repairer) -> Canvas | None:
    raw = data.get("canvas")
    if not isinstance(raw, Mapping):
        return None
    width, height = run.number(raw.get("width")), run.number(raw.get("height"))
    if width is None or height is None or width < 1 or height < 1:
        return None
    return Canvas(round(width), round(height))


def _duration(data: Mapping[str, Any], duration_s: float | None, run: _Repairer) -> tuple[float, float]:
    """The clip duration to use and the factor that scales the answer's times to it."""
    stated = run.number(data.get("duration_s"))
    if stated is not None and stated <= 0:
        stated = None
    if duration_s is None:
        if stated is None:
            raise InputError("duration_s: missing; the layout must say how long the clip is (seconds, > 0)")
        return stated, 1.0
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"duration_s: must be a positive number of seconds, got {duration_s!r}")
    if stated is not None and abs(stated - duration_s) > TIME_TOLERANCE_S:
        run.note(f"the answer's duration_s {stated:g} s replaced by the clip's {duration_s:g} s; "
                 "keyframe times scaled to match")
        return float(duration_s), duration_s / stated
    return float(duration_s), 1.0


def _text(data: Mapping[str, Any], keys: tuple[str, ...], missing_note: str, run: _Repairer) -> str:
    value = _first(data, keys)
    if value is None:
        run.note(missing_note)
        return ""
    return value if isinstance(value, str) else str(value)


def _frame(raw: Any, position: int, run: _Repairer) -> _Frame | None:
    label = position + 1
    if isinstance(raw, list):  # a keyframe given as its list of objects
        raw = {"objects": raw}
        run.note(f"keyframe {label}: given as a bare list; read as its objects")
    if not isinstance(raw, Mapping):
        run.note(f"keyframe {label}: dropped: expected an object, got {raw!r:.60}")
        return None
    time_s = None
    time_key = _first_key(raw, _TIME_KEYS)
    if time_key is not None and raw[time_key] is not None:
        time_s = run.number(raw[time_key])
        if time_s is None:
            run.note(f"keyframe {label}: time {raw[time_key]!r:.40} is not a number; ignored")
    caption = _first(raw, _CAPTION_KEYS)
    if caption is None:
        run.note(f"keyframe {label}: no caption; left empty")
        caption = ""
    elif not isinstance(caption, str):
        caption = str(caption)
    raw_objects = _first(raw, _OBJECT_KEYS)
    if raw_objects is None:
        run.note(f"keyframe {label}: no list of objects; read as showing none")
        raw_objects = []
    elif not isinstance(raw_objects, list):
        run.note(f"keyframe {label}: objects must be a list, got {raw_objects!r:.60}; read as none")
        raw_objects = []
    run.raw_objects += len(raw_objects)
    objects = [obj for obj in (_object(o, label, i, run) for i, o in enumerate(raw_objects)) if obj]
    # The paper's "Frame k" says which slot the keyframe fills, whatever its position in the answer.
    number = raw.get("frame_number")
    slot = number - 1 if isinstance(number, int) and not isinstance(number, bool) and number >= 1 else position
    return _Frame(label=label, time_s=time_s, caption=caption, objects=objects, slot=slot)


def _object(raw: Any, label: int, index: int, run: _Repairer) -> _Object | None:
    where = f"keyframe {label}: objects[{index}]"
    if not isinstance(raw, Mapping):
        _drop(run, f"{where} dropped: expected an object with id, name and box, got {raw!r:.60}")
        return None
    object_id = _object_id(raw.get("id"), where, run)
    name = _first(raw, _NAME_KEYS)
    if not isinstance(name, str) or not name.strip():
        if name is not None and not isinstance(name, str):
            name = str(name)
        else:
            run.note(f"{where} has no name; named 'object'")
            name = "object"
    name = name.strip()
    what = f"keyframe {label}: object {'' if object_id is None else f'{object_id} '}'{name}'"
    raw_box = _first(raw, _BOX_KEYS)
    if not isinstance(raw_box, (list, tuple)) or len(raw_box) != 4:
        _drop(run, f"{what} dropped: its box must be 4 numbers [x0, y0, x1, y1], got {raw_box!r:.60}")
        return None
    box = [run.number(v) for v in raw_box]
    if any(v is None for v in box):
        _drop(run, f"{what} dropped: its box {raw_box!r:.60} holds something that is not a finite number")
        return None
    return _Object(id=object_id, name=name, box=[float(v) for v in box if v is not None])


def _object_id(value: Any, where: str, run: _Repairer) -> int | None:
    if value is None:
        return None
    number = run.number(value)
    if number is None or number < 0 or number != int(number):
        run.note(f"{where}: id {value!r:.20} is not a non-negative integer; a new one is given")
        return None
    return int(number)


def _drop(run: _Repairer, line: str) -> None:
    run.note(line)
    line = _one_line(line)
    run.dropped.append(line.partition("dropped: ")[2] or line)


def _one_line(text: str) -> str:
    """``text`` with its line breaks made spaces: a note quotes names and captions, which may hold them."""
    return " ".join(text.splitlines())


def _fmt_box(box: list[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def _rescale_boxes(frames: list[_Frame], canvas: Canvas, answer_canvas: Canvas | None, run: _Repairer) -> None:
    """Normalised 0–1 boxes, or boxes on another canvas than the requested one, scaled to the canvas."""
    boxes = [o.box for f in frames for o in f.objects]
    coords = [v for box in boxes for v in box]
    # Read as pixels, a box within [0, 1] is at most 1 px: fractions unless every box is then usable, which
    # makes every box exactly [0, 0, 1, 1] px, as in a valid layout (that must pass through as it is).
    smallest = MIN_BOX_PX - _SIZE_TOLERANCE_PX
    too_small_as_pixels = any(abs(b[2] - b[0]) < smallest or abs(b[3] - b[1]) < smallest for b in boxes)
    if coords and all(0.0 <= v <= 1.0 for v in coords) and any(v > 0.0 for v in coords) and too_small_as_pixels:
        sx, sy = float(canvas.width), float(canvas.height)
        run.note(f"every box coordinate lies in [0, 1]: read as fractions of the canvas and scaled to "
                 f"{canvas.width}x{canvas.height}")
    elif answer_canvas is not None and answer_canvas != canvas:
        sx, sy = canvas.width / answer_canvas.width, canvas.height / answer_canvas.height
        run.note(f"boxes given on a {answer_canvas.width}x{answer_canvas.height} canvas; scaled to "
                 f"{canvas.width}x{canvas.height}")
    else:
        return
    for frame in frames:
        for obj in frame.objects:
            obj.box = [obj.box[0] * sx, obj.box[1] * sy, obj.box[2] * sx, obj.box[3] * sy]


def _fix_box(obj: _Object, label: int, canvas: Canvas, run: _Repairer) -> _Object | None:
    """Corners in order, clipped to the canvas; None (with a note) when too small to keep."""
    what = f"keyframe {label}: object {'' if obj.id is None else f'{obj.id} '}'{obj.name}'"
    x0, y0, x1, y1 = obj.box
    if x0 > x1 or y0 > y1:
        x0, x1 = min(x0, x1), max(x0, x1)
        y0, y1 = min(y0, y1), max(y0, y1)
        run.note(f"{what} box {_fmt_box(obj.box)} had its corners swapped; put in order as "
                 f"{_fmt_box([x0, y0, x1, y1])}")
    ordered = [x0, y0, x1, y1]
    w, h = canvas.width, canvas.height
    clipped = [min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h)]
    smallest = MIN_BOX_PX - _SIZE_TOLERANCE_PX
    if clipped[2] - clipped[0] < smallest or clipped[3] - clipped[1] < smallest:
        if clipped != ordered:
            reason = f"it lies (almost) wholly outside the {w}x{h} canvas"
        else:
            reason = f"it is less than {MIN_BOX_PX:g} px wide or high"
        _drop(run, f"{what} box {_fmt_box(ordered)} dropped: {reason}")
        return None
    if clipped != ordered:
        run.note(f"{what} box {_fmt_box(ordered)} clipped to the canvas: {_fmt_box(clipped)}")
    obj.box = clipped
    return obj


def _fix_ids(frames: list[_Frame], run: _Repairer) -> None:
    """Renumber ids used twice within a keyframe and give ids to objects without one (module docstring)."""
    names_per_id: dict[int, Counter[str]] = {}
    for frame in frames:
        for obj in frame.objects:
            if obj.id is not None:
                names_per_id.setdefault(obj.id, Counter())[obj.name.lower()] += 1
    # most_common keeps first-seen order among equal counts, so ties go to the name seen first.
    usual_name = {object_id: names.most_common(1)[0][0] for object_id, names in names_per_id.items()}
    id_for_name: dict[str, int] = {}
    for object_id, name in usual_name.items():
        id_for_name.setdefault(name, object_id)
    next_id = max(names_per_id, default=-1) + 1
    fresh: dict[tuple[Any, ...], int] = {}

    def fresh_id(key: tuple[Any, ...], name: str) -> int:
        nonlocal next_id
        if key not in fresh:
            fresh[key] = next_id
            id_for_name.setdefault(name, next_id)
            next_id += 1
        return fresh[key]

    for frame in frames:
        by_id: dict[int, list[_Object]] = {}
        for obj in frame.objects:
            if obj.id is not None:
                by_id.setdefault(obj.id, []).append(obj)
        for object_id, group in by_id.items():
            if len(group) < 2:
                continue
            keeper = next((o for o in group if o.name.lower() == usual_name[object_id]), group[0])
            repeats: Counter[str] = Counter()
            for obj in group:
                if obj is keeper:
                    continue
                repeats[obj.name.lower()] += 1
                obj.id = fresh_id((object_id, obj.name.lower(), repeats[obj.name.lower()]), obj.name.lower())
                run.note(f"keyframe {frame.label}: id {object_id} was used twice ('{keeper.name}' and "
                         f"'{obj.name}'); '{obj.name}' renumbered to id {obj.id}")
        used = {obj.id for obj in frame.objects if obj.id is not None}
        missing_repeats: Counter[str] = Counter()
        for obj in frame.objects:
            if obj.id is not None:
                continue
            known = id_for_name.get(obj.name.lower())
            if known is not None and known not in used:
                obj.id = known
            else:
                missing_repeats[obj.name.lower()] += 1
                obj.id = fresh_id(("no id", obj.name.lower(), missing_repeats[obj.name.lower()]), obj.name.lower())
            used.add(obj.id)
            run.note(f"keyframe {frame.label}: object '{obj.name}' had no id; given id {obj.id}")


def _fix_times(frames: list[_Frame], duration_s: float, n_keyframes: int | None, run: _Repairer) -> None:
    """Every keyframe gets a time; times end up distinct, ascending and within [0, duration] (module docstring)."""
    n_slots = max(n_keyframes or 0, len(frames), max(f.slot for f in frames) + 1)
    grid = keyframe_times(duration_s, n_slots)
    missing = [f for f in frames if f.time_s is None]
    if len(missing) == len(frames):
        for frame in frames:
            frame.time_s = grid[frame.slot]
        run.note(f"no keyframe has a time; placed at the evenly spread times k·D/(N−1) (N = {n_slots})")
    else:
        for frame in missing:
            frame.time_s = grid[frame.slot]
            run.note(f"keyframe {frame.label}: no time; set to {frame.time_s:g} s (its slot on the keyframe grid)")
    times = [f.time_s for f in frames]
    in_clip = all(t is not None and -TIME_TOLERANCE_S <= t <= duration_s + TIME_TOLERANCE_S for t in times)
    # Distinct as the model counts them (exactly), once a tolerated overshoot past either end is pulled in: two
    # times a rounding error past the end would otherwise both become the end.
    distinct = len({min(max(t or 0.0, 0.0), duration_s) for t in times}) == len(times)
    if not (in_clip and distinct):
        slot_times = [grid[f.slot] for f in frames]
        if len(set(slot_times)) < len(slot_times):  # two keyframes claim one slot: spread them instead
            slot_times = keyframe_times(duration_s, len(frames))
        run.note(f"keyframe times {[round(t or 0.0, 3) for t in times]} are not distinct times within "
                 f"[0, {duration_s:g}] s; replaced by the keyframe grid k·D/(N−1)")
        for frame, t in zip(frames, slot_times, strict=True):
            frame.time_s = t
    elif any(b < a for a, b in itertools.pairwise(times)):  # type: ignore[operator]
        run.note("keyframes were not in time order; sorted by time")
    frames.sort(key=lambda f: f.time_s or 0.0)  # stable: already ordered keyframes stay as they are
    for frame in frames:  # tolerated rounding overshoot, made exact
        frame.time_s = min(max(frame.time_s or 0.0, 0.0), duration_s)


def _fill_missing(frames: list[_Frame], duration_s: float, n_keyframes: int | None,
                  run: _Repairer) -> list[_Frame]:
    """Add keyframes at grid times that no keyframe is near, when fewer than ``n_keyframes`` were given."""
    if n_keyframes is None or len(frames) >= n_keyframes:
        return frames
    grid = keyframe_times(duration_s, n_keyframes)
    spacing = duration_s / (n_keyframes - 1) if n_keyframes > 1 else duration_s
    near = max(TIME_TOLERANCE_S, 0.25 * spacing)
    given = list(frames)
    added: list[_Frame] = []
    for t in grid:
        if any(abs((f.time_s or 0.0) - t) <= near for f in given):
            continue
        before = [f for f in given if (f.time_s or 0.0) < t]
        after = [f for f in given if (f.time_s or 0.0) > t]
        prev, nxt = (before[-1] if before else None), (after[0] if after else None)
        if prev is not None and nxt is not None:
            objects = _between(prev, nxt, t)
            how = f"interpolated between the keyframes at {prev.time_s:g} s and {nxt.time_s:g} s"
        else:
            source = prev or nxt
            assert source is not None
            objects = [_Object(o.id, o.name, list(o.box)) for o in source.objects]
            how = f"carried from the keyframe at {source.time_s:g} s"
        added.append(_Frame(label=0, time_s=t, caption="", objects=objects, slot=0))
        run.note(f"keyframe at {t:g} s was missing: added with {len(objects)} object(s) {how}, and an empty caption")
    return sorted(given + added, key=lambda f: f.time_s or 0.0)


def _between(prev: _Frame, nxt: _Frame, t: float) -> list[_Object]:
    """Objects listed by both keyframes, linearly interpolated at ``t`` (the rule of engine.layout.interp)."""
    t0, t1 = prev.time_s or 0.0, nxt.time_s or 0.0
    w = (t - t0) / (t1 - t0)
    later = {o.id: o for o in nxt.objects}
    return [
        _Object(o.id, o.name, [(1.0 - w) * a + w * b for a, b in zip(o.box, later[o.id].box, strict=True)])
        for o in prev.objects
        if o.id in later
    ]
