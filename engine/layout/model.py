"""The Video Scene Layout (VSL) of SPEC.md as an immutable, validated model, and its versioned JSON file.

A VSL is N keyframes of labelled boxes on the planner's canvas (454×256 by default, origin top-left,
boxes ``[x0, y0, x1, y1]`` in canvas pixels). Each object carries an id that stays the same across
keyframes; an object absent from a keyframe is simply not listed there. Keyframe k of N sits at
``k·D/(N−1)`` for a clip of duration D (see :func:`keyframe_times`).

The models are frozen pydantic models: an instance is always valid, and a change makes a new one
(:meth:`_Model.replaced` re-validates). A bad file never gives a traceback: :meth:`VideoLayout.from_json_dict`
and :func:`load_vsl` raise :class:`~engine.errors.InputError` with one line naming the file, the field
(``keyframes[2].objects[0].box``, 0-based like the JSON) and what is accepted.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from engine.errors import InputError
from engine.fileio import atomic_write_text, read_json_file

VSL_FORMAT = "spa2v.vsl"
VSL_VERSION = 1

#: The paper's planner canvas (SPEC.md).
DEFAULT_CANVAS_WIDTH = 454
DEFAULT_CANVAS_HEIGHT = 256
DEFAULT_N_KEYFRAMES = 5

#: Writers round times to milliseconds; a keyframe this close past the clip's end is still inside it.
TIME_TOLERANCE_S = 1e-3
#: Boxes computed in floating point may overshoot an edge by a rounding error; that is not "outside".
BOX_TOLERANCE_PX = 1e-3
#: The longest clip a layout may describe: the longest recording the Hear stage accepts
#: (engine.audio.io.MAX_DURATION_S). A longer one is a slip (milliseconds for seconds, say), and a huge one
#: would overflow the renderer's frame count.
MAX_DURATION_S = 6 * 3600.0
#: A ``.vsl.json`` file larger than this is refused before it is read: a layout of thousands of keyframes
#: takes a few MB, so a larger file is the wrong file (and reading it could fill the memory).
MAX_FILE_BYTES = 32 * 2**20
#: Values quoted in error messages are cut to this many characters, so that a message stays one short line.
MAX_QUOTED_CHARS = 60

# A validator that knows a more precise place than the one pydantic reports (a model-level check on one
# box, say) starts its message with this mark, then the path relative to the model, then ": ".
_PATH_MARK = "\x00"

FiniteFloat = Annotated[StrictFloat, Field(allow_inf_nan=False)]
Box = tuple[float, float, float, float]


def keyframe_times(duration_s: float, n: int) -> list[float]:
    """The N keyframe times of SPEC.md: keyframe k at ``k·D/(N−1)``; a single keyframe sits at 0."""
    if n < 1:
        raise InputError(f"the number of keyframes is {n}; a layout needs at least one")
    if n == 1:
        return [0.0]
    # k * D / (N-1) rather than k * step; and the last one is D itself, since (N-1) * D / (N-1) need not be
    # (3 * 0.05 / 3 is 0.05000000000000001): a time past D would be clamped to D by the next repair or edit.
    duration_s = float(duration_s)
    return [k * duration_s / (n - 1) for k in range(n - 1)] + [duration_s]


def _fmt(value: float) -> str:
    return repr(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def _at(relative_path: str, problem: str) -> ValueError:
    return ValueError(f"{_PATH_MARK}{relative_path}: {problem}")


def _box_from_input(value: Any) -> Box:
    """Four finite numbers as a tuple; lists are accepted because that is how JSON spells them."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ValueError(f"must be 4 numbers [x0, y0, x1, y1], got {quoted(value)}")
    out = []
    for name, v in zip(("x0", "y0", "x1", "y1"), value, strict=True):
        # bool is an int in Python, but `true` is never a coordinate.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {quoted(v)}")
        out.append(float(v))
    x0, y0, x1, y1 = out
    if not x0 < x1:
        raise ValueError(f"x0 ({_fmt(x0)}) must be less than x1 ({_fmt(x1)})")
    if not y0 < y1:
        raise ValueError(f"y0 ({_fmt(y0)}) must be less than y1 ({_fmt(y1)})")
    return (x0, y0, x1, y1)


def _tuple_from_list(value: Any) -> Any:
    # JSON has lists; the model keeps tuples so that a frozen instance cannot be changed in place.
    return tuple(value) if isinstance(value, list) else value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def replaced(self, **changes: Any) -> Any:  # Any: the subclass's own type (Self needs 3.11)
        """A copy with ``changes`` applied, validated again (``model_copy`` would skip validation)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return type(self).model_validate(data)


class Canvas(_Model):
    """The planner's canvas in pixels; boxes live in ``[0, width] × [0, height]``."""

    width: Annotated[StrictInt, Field(gt=0)] = DEFAULT_CANVAS_WIDTH
    height: Annotated[StrictInt, Field(gt=0)] = DEFAULT_CANVAS_HEIGHT

    def __init__(self, width: Any = DEFAULT_CANVAS_WIDTH, height: Any = DEFAULT_CANVAS_HEIGHT, /,
                 **fields: Any) -> None:
        # Canvas(454, 256) reads better than Canvas(width=454, height=256) at call sites; keywords still work.
        fields.setdefault("width", width)
        fields.setdefault("height", height)
        super().__init__(**fields)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return (self.width, self.height)


class LayoutObject(_Model):
    """One sounding object's box in one keyframe: ``box = (x0, y0, x1, y1)`` with x0 < x1, y0 < y1."""

    id: Annotated[StrictInt, Field(ge=0)]
    name: Annotated[StrictStr, Field(min_length=1)]
    box: Annotated[Box, BeforeValidator(_box_from_input)]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def to_json_dict(self) -> dict[str, Any]:
        """The object as it appears in a ``.vsl.json`` file."""
        return {"id": self.id, "name": self.name, "box": list(self.box)}


class Keyframe(_Model):
    """One keyframe: its time in the clip, a caption and the objects it shows (ids unique within it)."""

    time_s: Annotated[FiniteFloat, Field(ge=0.0)]
    caption: StrictStr = ""
    objects: Annotated[tuple[LayoutObject, ...], BeforeValidator(_tuple_from_list)] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> Keyframe:
        first_index: dict[int, int] = {}
        for i, obj in enumerate(self.objects):
            if obj.id in first_index:
                raise _at(f"objects[{i}].id", f"id {obj.id} is already used by objects[{first_index[obj.id]}] "
                          "in this keyframe; ids must be unique within a keyframe")
            first_index[obj.id] = i
        return self

    def object_ids(self) -> list[int]:
        """The ids listed in this keyframe, in listing order."""
        return [obj.id for obj in self.objects]

    def object_by_id(self, object_id: int) -> LayoutObject | None:
        """The object with ``object_id``, or None when this keyframe does not list it."""
        return next((obj for obj in self.objects if obj.id == object_id), None)

    def to_json_dict(self) -> dict[str, Any]:
        """The keyframe as it appears in a ``.vsl.json`` file."""
        return {"time_s": self.time_s, "caption": self.caption, "objects": [o.to_json_dict() for o in self.objects]}


class OffscreenSource(_Model):
    """A sound heard but not seen (a narrator, wind, music): it gets no box, is listed apart, and is left out of
    the render's grounding and of the consistency check. ``source_id`` is the measured source it stands for
    (an id of the recording's analysis), or None when it stands for no one track (e.g. a diffuse sound)."""

    name: Annotated[StrictStr, Field(min_length=1)]
    source_id: Annotated[StrictInt, Field(ge=0)] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source_id": self.source_id}


class VideoLayout(_Model):
    """A whole VSL (SPEC.md, "VSL"): canvas, clip duration, reasoning, captions and keyframes.

    Checked on construction: at least one keyframe; keyframe times strictly ascending within
    ``[0, duration_s]``; every box inside the canvas; ids unique within each keyframe.
    """

    format: Literal["spa2v.vsl"] = VSL_FORMAT
    version: Literal[1] = VSL_VERSION
    canvas: Canvas = Field(default_factory=Canvas)
    duration_s: Annotated[FiniteFloat, Field(gt=0.0, le=MAX_DURATION_S)]
    reasoning: StrictStr = ""
    video_caption: StrictStr = ""
    keyframes: Annotated[tuple[Keyframe, ...], BeforeValidator(_tuple_from_list), Field(min_length=1)]
    #: The recording the layout was planned from (as given to the planner; a relative path is relative to
    #: the layout file's folder). Optional: a hint for revision and rendering, not part of the layout itself.
    audio: StrictStr | None = None
    #: Sounds marked off screen (no box); optional, written only when there are some.
    offscreen: Annotated[tuple[OffscreenSource, ...], BeforeValidator(_tuple_from_list)] = ()

    @model_validator(mode="after")
    def _times_and_boxes(self) -> VideoLayout:
        previous: float | None = None
        for k, frame in enumerate(self.keyframes):
            if frame.time_s > self.duration_s + TIME_TOLERANCE_S:
                raise _at(f"keyframes[{k}].time_s", f"{_fmt(frame.time_s)} lies after the end of the clip "
                          f"(duration_s = {_fmt(self.duration_s)}); times must lie within [0, duration_s]")
            if previous is not None and not frame.time_s > previous:
                raise _at(f"keyframes[{k}].time_s", f"{_fmt(frame.time_s)} must be later than keyframes[{k - 1}]"
                          f".time_s ({_fmt(previous)}); keyframe times ascend")
            previous = frame.time_s
            for i, obj in enumerate(frame.objects):
                x0, y0, x1, y1 = obj.box
                w, h, tol = self.canvas.width, self.canvas.height, BOX_TOLERANCE_PX
                if x0 < -tol or y0 < -tol or x1 > w + tol or y1 > h + tol:
                    raise _at(f"keyframes[{k}].objects[{i}].box",
                              f"[{x0:g}, {y0:g}, {x1:g}, {y1:g}] reaches outside the {w}x{h} canvas; "
                              f"boxes must lie within x in [0, {w}] and y in [0, {h}]")
        return self

    # ------------------------------------------------------------------ conveniences

    @property
    def times(self) -> list[float]:
        """The keyframe times in seconds, ascending."""
        return [frame.time_s for frame in self.keyframes]

    def object_ids(self) -> list[int]:
        """Every id listed in any keyframe, ascending."""
        return sorted({obj.id for frame in self.keyframes for obj in frame.objects})

    def objects_by_id(self) -> dict[int, list[tuple[int, LayoutObject]]]:
        """For each id (ascending), its ``(keyframe index, object)`` appearances in time order."""
        tracks: dict[int, list[tuple[int, LayoutObject]]] = {}
        for k, frame in enumerate(self.keyframes):
            for obj in frame.objects:
                tracks.setdefault(obj.id, []).append((k, obj))
        return dict(sorted(tracks.items()))

    def names_by_id(self) -> dict[int, str]:
        """The name of each id, taken from its first appearance."""
        return {object_id: appearances[0][1].name for object_id, appearances in self.objects_by_id().items()}

    # ------------------------------------------------------------------ JSON

    def to_json_dict(self) -> dict[str, Any]:
        """The layout as the JSON object of a ``.vsl.json`` file (plain dicts, lists, numbers, strings)."""
        return {
            "format": self.format,
            "version": self.version,
            "canvas": {"width": self.canvas.width, "height": self.canvas.height},
            "duration_s": self.duration_s,
            "reasoning": self.reasoning,
            "video_caption": self.video_caption,
            "keyframes": [frame.to_json_dict() for frame in self.keyframes],
            **({"audio": self.audio} if self.audio else {}),
            **({"offscreen": [entry.to_json_dict() for entry in self.offscreen]} if self.offscreen else {}),
        }

    def offscreen_source_ids(self) -> set[int]:
        """The measured sources marked off screen."""
        return {entry.source_id for entry in self.offscreen if entry.source_id is not None}

    def audio_path(self, layout_path: str | Path | None = None) -> Path | None:
        """The recording named by :attr:`audio`, resolved against the layout file's folder; None if unset."""
        if not self.audio:
            return None
        path = Path(self.audio).expanduser()
        if not path.is_absolute() and layout_path is not None:
            path = Path(os.path.normpath(Path(layout_path).parent / path))
        return path

    @classmethod
    def from_json_dict(cls, data: Any, source: str | Path | None = None) -> VideoLayout:
        """Validate the JSON object of a ``.vsl.json`` file.

        ``source`` (a path, or any name) prefixes error messages. Raises :class:`InputError` with one line
        naming the field and what is accepted, e.g.
        ``x.vsl.json: keyframes[2].objects[0].box: x0 (120.0) must be less than x1 (80.0)``.
        """
        where = f"{source}: " if source is not None else ""
        if not isinstance(data, Mapping):
            raise InputError(f"{where}expected a JSON object holding a video scene layout, got {type(data).__name__}")
        # A file must say what it is; the model's defaults are for layouts built in code.
        if data.get("format") != VSL_FORMAT:
            raise InputError(f"{where}format: must be '{VSL_FORMAT}', got {quoted(data.get('format'))}")
        if data.get("version") != VSL_VERSION:
            raise InputError(f"{where}version: {quoted(data.get('version'))} is not supported; this program reads "
                             f"version {VSL_VERSION}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputError(where + validation_message(exc)) from None


_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "model_type": "an object",
    "dict_type": "an object",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    # A few levels and items: a value from a file may be a megabyte long or nested a thousand deep (whose
    # plain repr would run out of recursion).
    short.maxlevel, short.maxlist, short.maxtuple, short.maxdict = 3, 4, 4, 4
    short.maxstring = short.maxother = MAX_QUOTED_CHARS
    return short


_SHORT_REPR = _short_repr()


def quoted(value: Any, limit: int = MAX_QUOTED_CHARS) -> str:
    """``repr(value)`` shortened to at most ``limit`` characters (with "..."), for error messages."""
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def _path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_message(exc: ValidationError) -> str:
    """One line for the first problem in a pydantic ``ValidationError``: ``field.path: what is wrong``."""
    errors = exc.errors()
    error = errors[0]
    path = _path(error["loc"])
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "value_error":
        problem = str(ctx.get("error", error["msg"]))
        if problem.startswith(_PATH_MARK):
            relative, _, problem = problem[len(_PATH_MARK):].partition(": ")
            path = f"{path}.{relative}" if path and not relative.startswith("[") else path + relative
    elif kind == "missing":
        problem = "is missing"
    elif kind in _EXPECTED:
        problem = f"must be {_EXPECTED[kind]}, got {quoted(value)}"
    elif kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        problem = (f"must be {'at least' if kind == 'greater_than_equal' else 'greater than'} {bound}, "
                   f"got {quoted(value)}")
    elif kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        problem = f"must be {'at most' if kind == 'less_than_equal' else 'less than'} {bound:g}, got {quoted(value)}"
    elif kind == "literal_error":
        problem = f"must be {ctx.get('expected')}, got {quoted(value)}"
    elif kind == "too_short" and path == "keyframes":
        problem = "must hold at least one keyframe"
    elif kind == "string_too_short":
        problem = "must not be empty"
    else:
        problem = error["msg"][:1].lower() + error["msg"][1:]
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{path or 'layout'}: {problem}{more}"


def load_vsl(path: str | Path) -> VideoLayout:
    """Read and validate a ``.vsl.json`` file; any problem raises :class:`InputError` naming file and field."""
    path = Path(path)
    data = read_json_file(path, max_bytes=MAX_FILE_BYTES, what="layout file")
    return VideoLayout.from_json_dict(data, source=path)


def save_vsl(layout: VideoLayout, path: str | Path) -> None:
    """Write ``layout`` as a ``.vsl.json`` file atomically (the previous version survives a crash mid-save)."""
    atomic_write_text(path, json.dumps(layout.to_json_dict(), indent=2, ensure_ascii=False) + "\n")
