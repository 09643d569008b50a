"""Property-based tests (hypothesis) of the engine's pure stages: the VSL file, the repair of LLM answers,
interpolation between keyframes, the paper's textual format, and the spatial cue analysis.

Each property is a promise the code makes to its callers:

* the VSL reader returns a layout that keeps every invariant of SPEC.md, or raises one clear
  :class:`~engine.errors.InputError` line, for *any* JSON value;
* repair turns near-valid LLM answers into valid layouts (or a clear error), is idempotent, and leaves a
  valid layout as it is;
* interpolation shows a keyframe's own boxes on it and linear boxes between keyframes;
* the paper's text format round-trips a layout (keyframe times land on the grid, as documented);
* the analysis never crashes on any signal, keeps its outputs finite where documented, and treats left and
  right alike: swapping the channels flips the sign of ILD, ITD and azimuth and the side of every source.

Example counts are kept modest so that the whole file runs in well under a minute.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from engine.audio.hear import MAX_SAMPLE_ABS, analyze
from engine.audio.model import SIDE_THRESHOLD_DEG, Analysis, Motion, Side, side_for_azimuth
from engine.errors import AudioInputError, InputError
from engine.layout.interp import AT_KEYFRAME_S, boxes_at, boxes_at_times, frame_times, interpolate
from engine.layout.model import (
    BOX_TOLERANCE_PX,
    TIME_TOLERANCE_S,
    VSL_FORMAT,
    VSL_VERSION,
    Canvas,
    VideoLayout,
    keyframe_times,
)
from engine.layout.repair import MIN_BOX_PX, repair_layout, repair_layout_text
from engine.layout.textformat import format_paper_text, parse_paper_text

# Hypothesis settings shared by the layout properties: no deadline (the first example pays for imports and
# pydantic's schema build), and a modest number of examples so the file stays fast.
LAYOUT_SETTINGS = settings(max_examples=150, deadline=None)
AUDIO_SETTINGS = settings(max_examples=40, deadline=None)


# ------------------------------------------------------------------------------------ shared checks


def check_layout(layout: VideoLayout, exact_clip: bool = False) -> None:
    """Assert every invariant SPEC.md promises of a VSL (the model checks them; this re-checks from outside).

    At least one keyframe; times finite, strictly ascending, within ``[0, duration_s]`` (a file may overshoot
    the end by the model's documented millisecond tolerance; ``exact_clip``: not even that, as for layouts the
    program makes itself); every box four finite numbers with x0 < x1, y0 < y1, inside the canvas (up to the
    documented rounding tolerance); ids non-negative and unique within each keyframe; names non-empty. The
    layout's own JSON also reads back as the same layout.
    """
    assert isinstance(layout, VideoLayout)
    width, height = layout.canvas.width, layout.canvas.height
    assert isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0
    assert math.isfinite(layout.duration_s) and layout.duration_s > 0
    assert len(layout.keyframes) >= 1
    previous: float | None = None
    end = layout.duration_s if exact_clip else layout.duration_s + TIME_TOLERANCE_S
    for frame in layout.keyframes:
        t = frame.time_s
        assert math.isfinite(t) and 0.0 <= t <= end, (t, layout.duration_s)
        assert previous is None or t > previous, (previous, t)
        previous = t
        ids = [obj.id for obj in frame.objects]
        assert len(ids) == len(set(ids)), f"ids repeat within a keyframe: {ids}"
        for obj in frame.objects:
            assert isinstance(obj.id, int) and obj.id >= 0
            assert isinstance(obj.name, str) and obj.name
            x0, y0, x1, y1 = obj.box
            assert all(math.isfinite(v) for v in obj.box), obj.box
            assert x0 < x1 and y0 < y1, obj.box
            tol = BOX_TOLERANCE_PX
            assert -tol <= x0 and -tol <= y0 and x1 <= width + tol and y1 <= height + tol, (obj.box, width, height)
    assert VideoLayout.from_json_dict(json.loads(json.dumps(layout.to_json_dict()))) == layout


def check_one_line_error(exc: BaseException) -> str:
    """The message of an InputError is one non-empty line (no traceback, no internal markers)."""
    assert isinstance(exc, InputError), f"expected an InputError, got {type(exc).__name__}: {exc}"
    message = str(exc)
    assert message.strip(), "the error message is empty"
    assert len(message.splitlines()) == 1, f"the message is not one line: {message!r}"
    assert "\x00" not in message and "Traceback" not in message, message
    return message


def outcome_of(fn: Callable[[], Any]) -> Any:
    """``fn()``, or the InputError it raised (checked to be one line); any other exception fails the test."""
    try:
        return fn()
    except InputError as exc:
        check_one_line_error(exc)
        return exc


# ------------------------------------------------------------------------------------ strategies: JSON


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
VSL_KEYS = ("format", "version", "canvas", "width", "height", "duration_s", "reasoning", "video_caption",
            "keyframes", "time_s", "caption", "objects", "id", "name", "box", "audio", "offscreen", "source_id")
JSON_KEYS = st.sampled_from(VSL_KEYS) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(JSON_KEYS, children, max_size=6),
    max_leaves=40,
)


@st.composite
def boxes(draw: st.DrawFn, width: int, height: int, min_px: float = MIN_BOX_PX) -> list[float]:
    """A box inside a ``width`` × ``height`` canvas, at least ``min_px`` wide and high."""
    x0 = draw(st.floats(0.0, width - min_px))
    x1 = draw(st.floats(x0 + min_px, float(width)))
    y0 = draw(st.floats(0.0, height - min_px))
    y1 = draw(st.floats(y0 + min_px, float(height)))
    box = [x0, y0, x1, y1]
    if draw(st.booleans()):  # LLMs and people often write whole pixels
        box = [float(math.floor(x0)), float(math.floor(y0)), float(math.ceil(x1)), float(math.ceil(y1))]
    # x0 + min_px - x0 can come out a hair below min_px in floating point; such a box is narrower than asked.
    assume(box[2] - box[0] >= min_px and box[3] - box[1] >= min_px)
    return box


#: Object names as the editor makes them (white space collapsed, not blank). The file reader takes any non-empty
#: string, but the repair strips names and names a blank one "object" (documented), so the properties that
#: pass a layout through the repair draw names that are already clean.
CLEAN_NAMES = st.text(min_size=1, max_size=10).map(lambda text: " ".join(text.split())).filter(bool)


@st.composite
def valid_vsl_dicts(draw: st.DrawFn, max_keyframes: int = 6, max_objects: int = 4,
                    names: st.SearchStrategy[str] = CLEAN_NAMES) -> dict[str, Any]:
    """The JSON object of a valid ``.vsl.json`` file, exactly as :meth:`VideoLayout.to_json_dict` writes one."""
    width = draw(st.integers(8, 1200))
    height = draw(st.integers(8, 1200))
    duration = draw(st.floats(0.05, 600.0))
    fractions = draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=max_keyframes))
    times = sorted({f * duration for f in fractions})
    names_by_id = draw(st.lists(names, min_size=max_objects, max_size=max_objects))
    keyframes = []
    for t in times:
        ids = draw(st.lists(st.integers(0, max_objects + 3), unique=True, max_size=max_objects))
        objects = [{"id": i, "name": names_by_id[i % len(names_by_id)], "box": draw(boxes(width, height))}
                   for i in ids]
        keyframes.append({"time_s": t, "caption": draw(st.text(max_size=20)), "objects": objects})
    data: dict[str, Any] = {
        "format": VSL_FORMAT,
        "version": VSL_VERSION,
        "canvas": {"width": width, "height": height},
        "duration_s": duration,
        "reasoning": draw(st.text(max_size=30)),
        "video_caption": draw(st.text(max_size=30)),
        "keyframes": keyframes,
    }
    if draw(st.booleans()):
        data["audio"] = draw(st.text(min_size=1, max_size=12))
    if draw(st.booleans()):
        data["offscreen"] = [{"name": draw(st.text(min_size=1, max_size=8)), "source_id": draw(st.none()
                                                                                              | st.integers(0, 9))}]
    return data


VALID_LAYOUTS = valid_vsl_dicts().map(VideoLayout.from_json_dict)
ANY_NAMES = st.text(min_size=1, max_size=10)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, as a tuple of keys and indexes (the root is ``()``)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _path_text(path: tuple[Any, ...]) -> str:
    """The field path as the reader's messages spell it: ``keyframes[2].objects[0].box``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _retyped(value: Any) -> list[Any]:
    """Values of another JSON type that a sloppy writer might put in place of ``value``."""
    if isinstance(value, bool):
        return [int(value), str(value).lower(), None]
    if isinstance(value, int):
        return [float(value), str(value), [value], value + 0.5, -value - 1, True]
    if isinstance(value, float):
        return [str(value), [value], None, math.nan, math.inf, -value - 1.0]
    if isinstance(value, str):
        return [len(value), None, [value], {"text": value}]
    if isinstance(value, list):
        return [{str(i): v for i, v in enumerate(value)}, json.dumps(value), value[:-1], [*value, value[:1]]]
    if isinstance(value, dict):
        return [list(value.values()), json.dumps(value), {}]
    return ["null", 0, []]


@st.composite
def mutated_vsl_dicts(draw: st.DrawFn) -> tuple[dict[str, Any], str, tuple[Any, ...]]:
    """A valid VSL dict with one field dropped, replaced by any JSON value, or given another type."""
    data = draw(valid_vsl_dicts(names=ANY_NAMES))
    paths = _paths(data)[1:]  # not the root itself
    path = draw(st.sampled_from(paths))
    mutation = draw(st.sampled_from(["drop", "replace", "retype"]))
    mutated = copy.deepcopy(data)
    parent = _get(mutated, path[:-1])
    if mutation == "drop":
        del parent[path[-1]]
    elif mutation == "replace":
        parent[path[-1]] = draw(JSON_VALUES)
    else:
        parent[path[-1]] = draw(st.sampled_from(_retyped(parent[path[-1]])))
    return mutated, mutation, path


# ------------------------------------------------------------------------------------ the VSL reader


@LAYOUT_SETTINGS
@given(JSON_VALUES)
def test_the_reader_takes_any_json_value_without_a_traceback(value: Any) -> None:
    outcome = outcome_of(lambda: VideoLayout.from_json_dict(value, source="x.vsl.json"))
    if isinstance(outcome, InputError):
        assert str(outcome).startswith("x.vsl.json: "), str(outcome)
    else:
        check_layout(outcome)


@LAYOUT_SETTINGS
@given(st.fixed_dictionaries(
    {"format": st.just(VSL_FORMAT), "version": st.just(VSL_VERSION)},
    optional={key: JSON_VALUES for key in VSL_KEYS[2:]},
))
def test_the_reader_takes_any_vsl_shaped_object_without_a_traceback(value: dict[str, Any]) -> None:
    outcome = outcome_of(lambda: VideoLayout.from_json_dict(value))
    if not isinstance(outcome, InputError):
        check_layout(outcome)


@LAYOUT_SETTINGS
@given(valid_vsl_dicts(names=ANY_NAMES))
def test_a_valid_file_reads_as_a_valid_layout_and_writes_back_the_same(data: dict[str, Any]) -> None:
    layout = VideoLayout.from_json_dict(data)
    check_layout(layout)
    assert layout.to_json_dict() == data


REQUIRED_FIELDS = {"format", "version", "duration_s", "keyframes", "time_s", "id", "name", "box"}


@LAYOUT_SETTINGS
@given(mutated_vsl_dicts())
def test_one_broken_field_gives_a_valid_layout_or_one_line_naming_the_field(
        case: tuple[dict[str, Any], str, tuple[Any, ...]]) -> None:
    data, mutation, path = case
    outcome = outcome_of(lambda: VideoLayout.from_json_dict(data))
    if not isinstance(outcome, InputError):
        check_layout(outcome)
        return
    message = str(outcome)
    # A required field dropped, or a box that lost a coordinate: the message starts with that field's path.
    if mutation == "drop" and path[-1] in REQUIRED_FIELDS:
        assert message.startswith(_path_text(path) + ":"), (message, path)
    elif mutation == "drop" and len(path) >= 2 and path[-2] == "box":
        assert message.startswith(_path_text(path[:-1]) + ":"), (message, path)


# ------------------------------------------------------------------------------------ repair


def _frames(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The keyframe objects of an answer (under "keyframes", or "frames" once renamed by a mistake)."""
    frames = data.get("keyframes", data.get("frames", []))
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def _objects(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for frame in _frames(data) if isinstance(frame.get("objects"), list)
            for o in frame["objects"] if isinstance(o, dict)]


def _with_numeric_box(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects whose box is still four numbers (an earlier mistake may have written them as text)."""
    return [o for o in _objects(data) if isinstance(o.get("box"), list) and len(o["box"]) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in o["box"])]


# Each mistake below is one an LLM planner makes; ``draw`` picks its details. They edit ``data`` in place.

def _box_out_of_canvas(data: dict[str, Any], draw: st.DrawFn) -> None:
    objects = _with_numeric_box(data)
    if objects:
        obj = draw(st.sampled_from(objects))
        dx, dy = draw(st.floats(-3000, 3000)), draw(st.floats(-3000, 3000))
        obj["box"] = [obj["box"][0] + dx, obj["box"][1] + dy, obj["box"][2] + dx, obj["box"][3] + dy]


def _swapped_corners(data: dict[str, Any], draw: st.DrawFn) -> None:
    objects = _with_numeric_box(data)
    if objects:
        box = draw(st.sampled_from(objects))["box"]
        if draw(st.booleans()):
            box[0], box[2] = box[2], box[0]
        else:
            box[1], box[3] = box[3], box[1]


def _degenerate_box(data: dict[str, Any], draw: st.DrawFn) -> None:
    objects = _with_numeric_box(data)
    if objects:
        box = draw(st.sampled_from(objects))["box"]
        box[2] = box[0] + draw(st.sampled_from([0.0, 0.25, -0.0]))


def _duplicate_id(data: dict[str, Any], draw: st.DrawFn) -> None:
    frames = [f for f in _frames(data) if isinstance(f.get("objects"), list) and len(f["objects"]) >= 2
              and all(isinstance(o, dict) for o in f["objects"][:2])]
    if frames:
        objects = draw(st.sampled_from(frames))["objects"]
        objects[1]["id"] = objects[0].get("id", 0)
        if draw(st.booleans()):
            objects[1]["name"] = objects[0].get("name", "x")


def _unsorted_times(data: dict[str, Any], draw: st.DrawFn) -> None:
    key = "keyframes" if "keyframes" in data else "frames"
    data[key] = draw(st.permutations(data.get(key, [])))


def _bad_time(data: dict[str, Any], draw: st.DrawFn) -> None:
    frames = _frames(data)
    if frames:
        frame = draw(st.sampled_from(frames))
        duration = data.get("duration_s", 1.0)
        duration = duration if isinstance(duration, float) else 1.0
        choice = draw(st.sampled_from(["drop", "after", "overshoot", "negative", "same", "text", "null"]))
        if choice == "drop":
            frame.pop("time_s", None)
        elif choice == "after":
            frame["time_s"] = duration * draw(st.floats(1.01, 10))
        elif choice == "overshoot":  # a rounding error past the end, within the model's tolerance
            frame["time_s"] = duration + draw(st.floats(0.0, 0.9 * TIME_TOLERANCE_S))
        elif choice == "negative":
            frame["time_s"] = -draw(st.floats(0.01, 100))
        elif choice == "same":
            frame["time_s"] = frames[0].get("time_s", 0.0)
        elif choice == "text":
            frame["time_s"] = str(frame.get("time_s"))
        else:
            frame["time_s"] = None


def _numbers_as_text(data: dict[str, Any], draw: st.DrawFn) -> None:
    objects = _with_numeric_box(data)
    if objects:
        obj = draw(st.sampled_from(objects))
        obj["box"] = [str(v) for v in obj["box"]]
        obj["id"] = draw(st.sampled_from([str(obj.get("id")), float(obj.get("id", 0))]))


def _missing_fields(data: dict[str, Any], draw: st.DrawFn) -> None:
    objects = _objects(data)
    frames = _frames(data)
    choice = draw(st.sampled_from(["id", "name", "caption", "video_caption", "reasoning", "objects"]))
    if choice in ("id", "name") and objects:
        draw(st.sampled_from(objects)).pop(choice, None)
    elif choice in ("caption", "objects") and frames:
        draw(st.sampled_from(frames)).pop(choice, None)
    else:
        data.pop(choice, None)


def _synonym_keys(data: dict[str, Any], draw: st.DrawFn) -> None:
    for obj in _objects(data):
        if "box" in obj and draw(st.booleans()):
            obj["bbox"] = obj.pop("box")
        if "name" in obj and draw(st.booleans()):
            obj["label"] = obj.pop("name")
    if "keyframes" in data and draw(st.booleans()):
        data["frames"] = data.pop("keyframes")


def _normalised_boxes(data: dict[str, Any], draw: st.DrawFn) -> None:
    canvas = data.get("canvas", {"width": 454, "height": 256})
    for obj in _objects(data):
        box = obj.get("box")
        if isinstance(box, list) and all(isinstance(v, float) for v in box):
            obj["box"] = [box[0] / canvas["width"], box[1] / canvas["height"],
                          box[2] / canvas["width"], box[3] / canvas["height"]]


def _other_canvas(data: dict[str, Any], draw: st.DrawFn) -> None:
    scale = draw(st.sampled_from([0.5, 2.0, 3.0]))
    canvas = data.get("canvas", {"width": 454, "height": 256})
    data["canvas"] = {"width": max(1, round(canvas["width"] * scale)),
                      "height": max(1, round(canvas["height"] * scale))}
    for obj in _objects(data):
        box = obj.get("box")
        if isinstance(box, list) and all(isinstance(v, float) for v in box):
            obj["box"] = [v * scale for v in box]


def _junk_entries(data: dict[str, Any], draw: st.DrawFn) -> None:
    frames = [f for f in _frames(data) if isinstance(f.get("objects"), list)]
    if frames:
        draw(st.sampled_from(frames))["objects"].append(draw(st.sampled_from([
            "a car", None, {"id": 3, "name": "car", "box": [1, 2, 3]},
            {"id": -2, "name": "car", "box": [10, 10, 50, 50]}, {"id": 1, "name": "", "box": [math.nan, 0, 9, 9]},
            {"name": 7, "box": [5, 5, 60, 40]},
        ])))
    if draw(st.booleans()) and isinstance(data.get("keyframes"), list):
        data["keyframes"].append(draw(st.sampled_from(["Frame 6", 42, [], {"caption": "no objects"}])))


def _wrapped(data: dict[str, Any], draw: st.DrawFn) -> None:
    inner = dict(data)
    data.clear()
    data.update({"reasoning": inner.pop("reasoning", ""), "layout": inner})


LLM_MISTAKES = [_box_out_of_canvas, _swapped_corners, _degenerate_box, _duplicate_id, _unsorted_times, _bad_time,
                _numbers_as_text, _missing_fields, _synonym_keys, _normalised_boxes, _other_canvas, _junk_entries]


@st.composite
def near_valid_answers(draw: st.DrawFn) -> tuple[Any, Canvas | None, float | None, int | None]:
    """An LLM's answer: a valid layout's dict with a few typical mistakes, and what the planner asked for."""
    data = draw(valid_vsl_dicts())
    canvas = Canvas(data["canvas"]["width"], data["canvas"]["height"])
    duration = data["duration_s"]
    for mistake in draw(st.lists(st.sampled_from(LLM_MISTAKES), min_size=1, max_size=4)):
        mistake(data, draw)
    if draw(st.integers(0, 9)) == 0:  # the whole layout nested under a key, last (it moves everything)
        _wrapped(data, draw)
    asked_canvas = draw(st.sampled_from([canvas, None]))
    asked_duration = draw(st.sampled_from([duration, None, duration * 2]))
    n_keyframes = draw(st.none() | st.integers(1, 7))
    answer: Any = data
    if draw(st.integers(0, 9)) == 0 and "layout" not in data:  # now and then a bare list of keyframes
        answer = data.get("keyframes", data.get("frames", []))
        asked_duration = duration
    return answer, asked_canvas, asked_duration, n_keyframes


@LAYOUT_SETTINGS
@given(near_valid_answers())
def test_repair_of_a_near_valid_answer_is_valid_or_a_clear_error_and_idempotent(
        case: tuple[Any, Canvas | None, float | None, int | None]) -> None:
    answer, canvas, duration, n_keyframes = case
    result = outcome_of(lambda: repair_layout(answer, canvas=canvas, duration_s=duration, n_keyframes=n_keyframes))
    if isinstance(result, InputError):
        return
    layout = result.layout
    check_layout(layout, exact_clip=True)
    if canvas is not None:
        assert layout.canvas == canvas
    if duration is not None:
        assert layout.duration_s == duration
    if n_keyframes is not None:
        assert len(layout.keyframes) >= n_keyframes
    assert all(len(line.splitlines()) == 1 for line in result.repairs), result.repairs
    # Repairing the repaired layout, asking the same, changes nothing and reports nothing.
    again = repair_layout(layout.to_json_dict(), canvas=canvas, duration_s=duration, n_keyframes=n_keyframes)
    assert again.layout == layout
    assert again.repairs == []


@LAYOUT_SETTINGS
@given(near_valid_answers(), st.sampled_from(["{}", "```json\n{}\n```", "Here is the layout:\n{}\nHope it helps!",
                                              "```\n{}"]))
def test_repair_of_an_answer_as_text_matches_the_repair_of_its_value(
        case: tuple[Any, Canvas | None, float | None, int | None], wrapper: str) -> None:
    answer, canvas, duration, n_keyframes = case
    canvas = canvas or Canvas()  # the text reader's default; the dict reader would take the answer's own
    text = wrapper.replace("{}", json.dumps(answer, ensure_ascii=False))
    from_text = outcome_of(lambda: repair_layout_text(text, canvas=canvas, duration_s=duration,
                                                      n_keyframes=n_keyframes))
    from_value = outcome_of(lambda: repair_layout(answer, canvas=canvas, duration_s=duration,
                                                  n_keyframes=n_keyframes))
    if isinstance(from_value, InputError):
        assert isinstance(from_text, InputError), from_text
    else:
        assert not isinstance(from_text, InputError), from_text
        assert from_text.layout == from_value.layout
        check_layout(from_text.layout, exact_clip=True)


@LAYOUT_SETTINGS
@given(st.text(max_size=200) | JSON_VALUES.map(lambda v: json.dumps(v)[: len(json.dumps(v)) // 2 + 1]))
def test_repair_of_any_text_is_valid_or_a_clear_error(text: str) -> None:
    outcome = outcome_of(lambda: repair_layout_text(text, duration_s=4.0))
    if not isinstance(outcome, InputError):
        check_layout(outcome.layout, exact_clip=True)


@LAYOUT_SETTINGS
@given(VALID_LAYOUTS)
def test_repair_leaves_a_valid_layout_as_it_is(layout: VideoLayout) -> None:
    # Boxes below MIN_BOX_PX are documented to be dropped; the strategy draws none.
    result = repair_layout(layout.to_json_dict())
    assert result.layout == layout
    assert result.repairs == []
    asked = repair_layout(layout.to_json_dict(), canvas=layout.canvas, duration_s=layout.duration_s,
                          n_keyframes=len(layout.keyframes))
    assert asked.layout == layout and asked.repairs == []


# ------------------------------------------------------------------------------------ interpolation


def _key_boxes(layout: VideoLayout, k: int) -> list[tuple[int, str, tuple[float, ...], bool]]:
    return [(o.id, o.name, o.box, True) for o in sorted(layout.keyframes[k].objects, key=lambda o: o.id)]


def _as_tuples(frame_boxes: list[Any]) -> list[tuple[int, str, tuple[float, ...], bool]]:
    return [(b.id, b.name, b.box, b.is_keyframe) for b in frame_boxes]


@LAYOUT_SETTINGS
@given(VALID_LAYOUTS)
def test_each_keyframe_shows_exactly_its_own_boxes(layout: VideoLayout) -> None:
    for k, frame in enumerate(layout.keyframes):
        assert _as_tuples(boxes_at(layout, frame.time_s)) == _key_boxes(layout, k)


@LAYOUT_SETTINGS
@given(VALID_LAYOUTS, st.floats(0.0, 1.0))
def test_between_keyframes_boxes_are_linear_and_only_for_objects_on_both_sides(layout: VideoLayout,
                                                                              fraction: float) -> None:
    pairs = [(a, b) for a, b in zip(layout.keyframes, layout.keyframes[1:], strict=False)
             if b.time_s - a.time_s > 4 * AT_KEYFRAME_S]
    assume(pairs)
    for a, b in pairs:
        # A time strictly inside the gap, clear of both keyframes' snapping distance.
        t = a.time_s + 2 * AT_KEYFRAME_S + fraction * (b.time_s - a.time_s - 4 * AT_KEYFRAME_S)
        w = (t - a.time_s) / (b.time_s - a.time_s)
        shown = boxes_at(layout, t)
        later = {o.id: o for o in b.objects}
        expected_ids = sorted(o.id for o in a.objects if o.id in later)
        assert [box.id for box in shown] == expected_ids
        for box in shown:
            start, end = a.object_by_id(box.id), later[box.id]
            assert start is not None and box.name == start.name and not box.is_keyframe
            for v, p, q in zip(box.box, start.box, end.box, strict=True):
                slack = 1e-9 * (1.0 + abs(p) + abs(q))
                assert min(p, q) - slack <= v <= max(p, q) + slack, (v, p, q)
                assert v == pytest.approx((1 - w) * p + w * q, rel=1e-9, abs=1e-9)


@LAYOUT_SETTINGS
@given(VALID_LAYOUTS, st.lists(st.floats(-5.0, 650.0), max_size=12), st.integers(1, 20))
def test_many_times_at_once_agree_with_one_time_at_a_time(layout: VideoLayout, times: list[float],
                                                          n_frames: int) -> None:
    times = times + layout.times + [layout.times[0] - 2 * AT_KEYFRAME_S, layout.times[-1] + 2 * AT_KEYFRAME_S]
    together = boxes_at_times(layout, times)
    assert [_as_tuples(frame) for frame in together] == [_as_tuples(boxes_at(layout, t)) for t in times]
    # Nothing is shown before the first keyframe or after the last: there is no extrapolation.
    assert together[-2] == [] and together[-1] == []
    assert interpolate(layout, n_frames) == boxes_at_times(layout, frame_times(layout.duration_s, n_frames))


# ------------------------------------------------------------------------------------ paper text format


# Reasoning and the video caption are free text around the "Frame k: {...}" entries. The reader tolerates
# markdown emphasis around its marks ("**Frame 1:**", a caption ending in "**") and looks for "Frame k: {"
# anywhere, so free text holding ":", "{" or "*" is ambiguous in this format; those characters are left out.
FREE_TEXT = st.text(st.characters(blacklist_characters=":{*", blacklist_categories=("Cs",)), max_size=40)


def _words(text: str) -> str:
    # The writer puts reasoning and the video caption on one line each (documented); compare word by word.
    return " ".join(text.split())


@LAYOUT_SETTINGS
@given(valid_vsl_dicts(), FREE_TEXT, FREE_TEXT)
def test_the_paper_text_format_round_trips_with_times_on_the_grid(data: dict[str, Any], reasoning: str,
                                                                  video_caption: str) -> None:
    data = {**data, "reasoning": reasoning, "video_caption": video_caption}
    data.pop("audio", None)
    data.pop("offscreen", None)  # neither is part of the paper's format
    layout = VideoLayout.from_json_dict(data)
    n = len(layout.keyframes)
    text = format_paper_text(layout)
    parsed = parse_paper_text(text, canvas=layout.canvas, duration_s=layout.duration_s, n_keyframes=n)
    back = VideoLayout.from_json_dict(parsed)
    grid = keyframe_times(layout.duration_s, n)
    assert back.times == grid
    assert [(f.caption, f.objects) for f in back.keyframes] == [(f.caption, f.objects) for f in layout.keyframes]
    assert back.canvas == layout.canvas and back.duration_s == layout.duration_s
    assert _words(back.reasoning) == _words(layout.reasoning)
    assert _words(back.video_caption) == _words(layout.video_caption)
    # The planner reads LLM answers through the repair: the same text gives the same layout there.
    repaired = repair_layout_text(text, canvas=layout.canvas, duration_s=layout.duration_s, n_keyframes=n)
    assert repaired.layout == back


# ------------------------------------------------------------------------------------ cue analysis


RATES = [4000, 8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]
#: A peak this far below -90 dBFS is silence; this far above it, sound (resampling moves a peak a little).
SILENT_PEAK = 1e-6
AUDIBLE_PEAK = 1e-3


def _write(folder: Path, samples: np.ndarray, rate: int, name: str = "x.wav") -> Path:
    path = folder / name
    sf.write(str(path), samples.astype(np.float32), rate, subtype="FLOAT")
    return path


@st.composite
def any_signals(draw: st.DrawFn, audible_stereo: bool = False) -> tuple[np.ndarray, int, str]:
    """Any short recording: noise, tones, clicks, DC, silence, at levels from silent to absurd, 1–3 channels,
    0 to 1.5 s long (``audible_stereo``: two channels, at least one sample, a level the analysis accepts).

    Returns the samples ``(n, channels)``, the rate and the problem the analysis must report ('' for none).
    """
    rate = draw(st.sampled_from(RATES if audible_stereo else [*RATES, 3000]))
    n = draw(st.integers(1 if audible_stereo else 0, int(1.5 * rate)))
    channels = 2 if audible_stereo else draw(st.sampled_from([2, 2, 2, 1, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kinds = ["noise", "tone", "clicks", "dc", "nyquist", "one side", "silence"]
    kind = draw(st.sampled_from(kinds[:-1] if audible_stereo else kinds))
    t = np.arange(n) / rate
    if kind == "noise":
        x = rng.standard_normal((n, channels))
    elif kind == "tone":
        f = draw(st.floats(20.0, 0.49 * rate))
        x = np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 2 * np.pi, channels))
    elif kind == "clicks":
        x = np.zeros((n, channels))
        if n:
            x[rng.integers(0, n, 4)] = rng.choice([-1.0, 1.0], (4, channels))
    elif kind == "dc":
        x = np.ones((n, channels)) * rng.uniform(-1, 1, channels)
    elif kind == "nyquist":
        x = np.repeat(((-1.0) ** np.arange(n))[:, None], channels, axis=1)
    elif kind == "one side":
        x = np.zeros((n, channels))
        x[:, 0] = rng.standard_normal(n)
    else:
        x = np.zeros((n, channels))
    levels = [0.0, 1e-8, 1e-3, 0.1, 1.0, 1e3, 1e5, 1e8, 1e30]
    x = x * draw(st.sampled_from(levels[2:-2] if audible_stereo else levels))
    if n and not audible_stereo and draw(st.integers(0, 14)) == 0:
        x[draw(st.integers(0, n - 1)), 0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if n == 0:
        problem = "no audio samples"
    elif rate < 4000:
        problem = "sample rate"
    elif not np.all(np.isfinite(x)):
        problem = "NaN or infinite"
    elif peak > 10 * MAX_SAMPLE_ABS:
        problem = "beyond full scale"
    elif peak <= SILENT_PEAK:
        problem = "silent"
    else:
        problem = ""
    assume(problem or AUDIBLE_PEAK <= peak <= MAX_SAMPLE_ABS / 10)  # no peak on a threshold's edge
    return x, rate, problem


def check_analysis(analysis: Analysis) -> None:
    """What the analysis documents about its outputs: finite where defined, within range, JSON without NaN."""
    frames = analysis.frames
    for name in ("t", "level_dbfs", "level_left_dbfs", "level_right_dbfs", "loudness_lufs"):
        values = getattr(frames, name)
        assert values is not None and np.all(np.isfinite(values)), name
    assert np.all(np.diff(frames.t) > 0)
    # ILD, ITD and coherence are undefined (NaN) only on silent frames (below -90 dBFS).
    sounding = frames.level_dbfs > -89.9
    silent = frames.level_dbfs < -90.1
    for name in ("ild_db", "itd_ms", "coherence", "centroid_hz", "azimuth_deg"):
        values = getattr(frames, name)
        assert np.all(np.isfinite(values[sounding])), name
        assert np.all(np.isnan(values[silent])), name
    defined = np.isfinite(frames.itd_ms)
    assert np.all(np.abs(frames.itd_ms[defined]) <= 1.3)
    assert np.all((frames.coherence[defined] >= 0) & (frames.coherence[defined] <= 1))
    assert np.all(np.abs(frames.azimuth_deg[defined]) <= 90)
    for source in analysis.sources:
        assert source.motion in Motion and 0.0 <= source.confidence <= 1.0
        for values in (source.track.t, source.track.azimuth_deg, source.track.level_db):
            assert len(values) >= 1 and np.all(np.isfinite(values))
        assert np.all(np.abs(source.track.azimuth_deg) <= 90)
        assert -90 <= source.azimuth_start_deg <= 90 and -90 <= source.azimuth_end_deg <= 90
        # SPEC.md's sides: left below -15°, right above 15°, by where the track mostly is.
        assert source.side == side_for_azimuth(float(np.median(source.track.azimuth_deg)))
    text = json.dumps(analysis.to_dict(), allow_nan=False)  # valid JSON: NaN is written as null
    Analysis.from_dict(json.loads(text))


@AUDIO_SETTINGS
@given(any_signals())
def test_the_analysis_never_crashes_and_keeps_its_outputs_finite(case: tuple[np.ndarray, int, str]) -> None:
    samples, rate, problem = case
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), samples, rate)
        if problem:
            with pytest.raises(AudioInputError) as caught:
                analyze(path)
            message = check_one_line_error(caught.value)
            assert problem in message and str(path) in message, message
            return
        analysis = analyze(path)
    check_analysis(analysis)
    assert analysis.sample_rate == rate and analysis.channels == samples.shape[1]
    if samples.shape[1] == 1 or np.array_equal(samples[:, 0], samples[:, 1]):
        assert all(s.side is Side.CENTER and s.azimuth_start_deg == 0.0 for s in analysis.sources)


@st.composite
def directional_scenes(draw: st.DrawFn) -> tuple[np.ndarray, int, list[str]]:
    """One to three point sources (noise or a harmonic tone), each placed by a level pan or by a delay of up to
    1 ms between the ears, at a level from -60 to +80 dBFS: sources a stereo pair can place."""
    rate = draw(st.sampled_from(RATES[1:]))
    n = draw(st.integers(int(0.3 * rate), int(1.5 * rate)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pad = 100
    x = np.zeros((n, 2))
    described = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            s = rng.standard_normal(n + 2 * pad)
            what = "noise"
        else:
            f0 = draw(st.floats(100.0, 1000.0))
            tt = np.arange(n + 2 * pad) / rate
            s = sum(np.sin(2 * np.pi * f0 * h * tt + rng.uniform(0, 2 * np.pi)) / h
                    for h in range(1, 6) if f0 * h < rate / 2.2)
            what = f"tone {f0:.0f} Hz"
        if draw(st.booleans()):
            pan = draw(st.floats(-1.0, 1.0))
            phi = (pan + 1) * np.pi / 4  # the sine-cosine pan law
            x += np.stack([np.cos(phi) * s[pad:pad + n], np.sin(phi) * s[pad:pad + n]], axis=1)
            described.append(f"{what} panned {pan:+.2f}")
        else:
            delay = round(draw(st.floats(-1e-3, 1e-3)) * rate)  # > 0: the right ear hears it later
            x += np.stack([s[pad:pad + n], s[pad + delay:pad + delay + n]], axis=1)
            described.append(f"{what} delayed {1e3 * delay / rate:+.2f} ms on the right")
    x *= 10 ** (draw(st.sampled_from([-60, -20, 0, 20, 80])) / 20)
    return x, rate, described


MIRRORED_SIDE = {Side.LEFT: Side.RIGHT, Side.RIGHT: Side.LEFT, Side.CENTER: Side.CENTER}


def check_mirrored(original: Analysis, mirrored: Analysis, compare_sources: bool) -> None:
    """Swapping left and right flips the sign of ILD (frame by frame), of ITD (where the ears are coherent)
    and of azimuth, and (``compare_sources``) the side and azimuths of every source.

    Without ``compare_sources`` (any signal at all), a coherent frame's ITD may also stay as it was: where the
    cross-correlation is symmetric about zero lag (the channels in anti-phase, say) left and right cannot be
    told apart, and the measurement picks the same one of the two equal peaks either way.
    """
    a, b = original.frames, mirrored.frames
    assert np.array_equal(np.isnan(a.ild_db), np.isnan(b.ild_db))
    np.testing.assert_allclose(a.level_dbfs, b.level_dbfs, atol=1e-3)
    defined = np.isfinite(a.ild_db)
    np.testing.assert_allclose(b.ild_db[defined], -a.ild_db[defined], atol=1e-3)
    coherent = defined & (a.coherence >= 0.5) & (b.coherence >= 0.5)
    if coherent.any():
        flipped = np.abs(a.itd_ms[coherent] + b.itd_ms[coherent]) <= 0.01
        if not compare_sources:
            flipped |= np.abs(a.itd_ms[coherent] - b.itd_ms[coherent]) <= 0.01
        assert flipped.mean() >= 0.9, f"ITD flips on only {flipped.mean():.0%} of the coherent frames"
    if not compare_sources:
        return
    if coherent.any():
        assert abs(np.median(a.itd_ms[coherent]) + np.median(b.itd_ms[coherent])) <= 0.01
    assert original.kind == mirrored.kind
    if coherent.any():
        np.testing.assert_allclose(np.median(b.azimuth_deg[coherent]), -np.median(a.azimuth_deg[coherent]), atol=1.0)
    left_to_right = original.sources
    right_to_left = mirrored.sources[::-1]  # sources are listed by azimuth, left to right
    assert len(left_to_right) == len(right_to_left), (
        [(s.side.value, s.azimuth_start_deg) for s in left_to_right],
        [(s.side.value, s.azimuth_start_deg) for s in right_to_left])
    for s, m in zip(left_to_right, right_to_left, strict=True):
        assert m.side is MIRRORED_SIDE[s.side], (s.side, m.side, s.azimuth_start_deg, m.azimuth_start_deg)
        assert abs(s.azimuth_start_deg + m.azimuth_start_deg) <= 2.0
        assert abs(s.azimuth_end_deg + m.azimuth_end_deg) <= 2.0
        assert abs(float(np.median(s.track.azimuth_deg)) + float(np.median(m.track.azimuth_deg))) <= 2.0


@AUDIO_SETTINGS
@given(any_signals(audible_stereo=True))
def test_swapping_the_channels_of_any_signal_flips_ild_and_itd(case: tuple[np.ndarray, int, str]) -> None:
    samples, rate, _problem = case
    with tempfile.TemporaryDirectory() as folder:
        original = analyze(_write(Path(folder), samples, rate, "a.wav"))
        mirrored = analyze(_write(Path(folder), samples[:, ::-1], rate, "b.wav"))
    check_mirrored(original, mirrored, compare_sources=False)


@settings(AUDIO_SETTINGS, suppress_health_check=[HealthCheck.too_slow])  # a scene takes ~0.1 s to build
@given(directional_scenes())
def test_swapping_the_channels_of_a_scene_mirrors_every_source(case: tuple[np.ndarray, int, list[str]]) -> None:
    samples, rate, described = case
    note(f"the scene: {described} at {rate} Hz")
    with tempfile.TemporaryDirectory() as folder:
        original = analyze(_write(Path(folder), samples, rate, "a.wav"))
        mirrored = analyze(_write(Path(folder), samples[:, ::-1], rate, "b.wav"))
    check_analysis(original)
    check_mirrored(original, mirrored, compare_sources=True)


@AUDIO_SETTINGS
@given(st.sampled_from([8000, 16000, 48000]), st.floats(4.0, 20.0), st.floats(0.4, 0.8),
       st.integers(0, 2**32 - 1))
def test_the_louder_or_earlier_channel_is_the_side_the_cues_point_to(rate: int, gain_db: float, delay_ms: float,
                                                                    seed: int) -> None:
    # SPEC.md: for ILD, ITD and azimuth alike, positive means right.
    rng = np.random.default_rng(seed)
    n, pad = rate, 100
    s = rng.standard_normal(n + 2 * pad)
    delay = max(1, round(delay_ms * 1e-3 * rate))
    louder_right = np.stack([s[pad:pad + n], 10 ** (gain_db / 20) * s[pad:pad + n]], axis=1)
    earlier_right = np.stack([s[pad - delay:pad - delay + n], s[pad:pad + n]], axis=1)  # left hears it later
    with tempfile.TemporaryDirectory() as folder:
        by_level = analyze(_write(Path(folder), 0.1 * louder_right, rate, "level.wav"))
        by_time = analyze(_write(Path(folder), 0.1 * earlier_right, rate, "time.wav"))
    assert np.nanmedian(by_level.frames.ild_db) == pytest.approx(gain_db, abs=0.5)
    assert np.nanmedian(by_time.frames.itd_ms) == pytest.approx(1e3 * delay / rate, abs=0.05)
    for analysis in (by_level, by_time):
        assert analysis.sources and all(s.side is Side.RIGHT for s in analysis.sources), [
            (s.side, s.azimuth_start_deg) for s in analysis.sources]
        assert all(s.azimuth_start_deg > SIDE_THRESHOLD_DEG for s in analysis.sources)
