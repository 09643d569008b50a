"""The VSL model and file, the repair of LLM answers, the paper's textual format, and interpolation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engine.errors import InputError
from engine.layout import (
    Canvas,
    FrameBox,
    Keyframe,
    LayoutObject,
    VideoLayout,
    boxes_at,
    format_paper_text,
    interpolate,
    keyframe_times,
    load_vsl,
    parse_paper_text,
    repair_layout,
    repair_layout_text,
    save_vsl,
    scale_boxes,
)


def vsl_dict() -> dict[str, Any]:
    """A valid VSL of 3 keyframes over 10 s with two objects; the violin appears at the second keyframe."""
    return {
        "format": "spa2v.vsl",
        "version": 1,
        "canvas": {"width": 454, "height": 256},
        "duration_s": 10.0,
        "reasoning": "Engine noise moves from left to right.",
        "video_caption": "A car drives past a violinist.",
        "keyframes": [
            {"time_s": 0.0, "caption": "The car enters.",
             "objects": [{"id": 0, "name": "car", "box": [12.0, 140.0, 96.0, 190.0]}]},
            {"time_s": 5.0, "caption": "The car is in the middle.",
             "objects": [{"id": 0, "name": "car", "box": [180.0, 140.0, 264.0, 190.0]},
                         {"id": 1, "name": "violin", "box": [300.0, 60.0, 340.0, 200.0]}]},
            {"time_s": 10.0, "caption": "The car leaves.",
             "objects": [{"id": 0, "name": "car", "box": [360.0, 140.0, 444.0, 190.0]},
                         {"id": 1, "name": "violin", "box": [300.0, 60.0, 340.0, 200.0]}]},
        ],
    }


def boxes_of(layout: VideoLayout) -> list[dict[int, tuple[float, ...]]]:
    return [{o.id: o.box for o in kf.objects} for kf in layout.keyframes]


def has_note(repairs: list[str], *words: str) -> bool:
    return any(all(w in line for w in words) for line in repairs)


# ------------------------------------------------------------------------------------ model


def test_keyframe_times_follow_k_d_over_n_minus_1() -> None:
    assert keyframe_times(10.0, 5) == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert keyframe_times(3.0, 4) == [0.0, 1.0, 2.0, 3.0]
    assert keyframe_times(7.0, 1) == [0.0]
    with pytest.raises(InputError, match="number of keyframes"):
        keyframe_times(7.0, 0)


def test_save_then_load_gives_the_same_layout(tmp_path: Path) -> None:
    layout = VideoLayout.from_json_dict(vsl_dict())
    path = tmp_path / "scene.vsl.json"
    save_vsl(layout, path)
    assert path.is_file()
    assert json.loads(path.read_text(encoding="utf-8")) == vsl_dict()
    assert load_vsl(path) == layout
    # Saving again replaces the file through a temporary one that does not stay behind.
    save_vsl(layout.replaced(video_caption="changed"), path)
    assert load_vsl(path).video_caption == "changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.vsl.json"]


def test_to_json_dict_round_trips_and_model_is_frozen() -> None:
    layout = VideoLayout.from_json_dict(vsl_dict())
    assert layout.to_json_dict() == vsl_dict()
    with pytest.raises(ValidationError):
        layout.duration_s = 3.0  # type: ignore[misc]
    assert isinstance(layout.keyframes, tuple) and isinstance(layout.keyframes[0].objects[0].box, tuple)
    with pytest.raises(ValidationError):  # replaced() validates again
        layout.replaced(duration_s=4.0)  # keyframes at 5 s and 10 s would lie after the end


def test_conveniences() -> None:
    layout = VideoLayout.from_json_dict(vsl_dict())
    assert layout.object_ids() == [0, 1]
    assert layout.times == [0.0, 5.0, 10.0]
    tracks = layout.objects_by_id()
    assert [k for k, _ in tracks[0]] == [0, 1, 2] and [k for k, _ in tracks[1]] == [1, 2]
    assert layout.names_by_id() == {0: "car", 1: "violin"}
    assert layout.keyframes[1].object_by_id(1).name == "violin"  # type: ignore[union-attr]
    assert layout.keyframes[0].object_by_id(1) is None
    assert Canvas(512, 320) == Canvas(width=512, height=320) and Canvas().size == (454, 256)
    obj = LayoutObject(id=0, name="car", box=[10, 20, 30, 60])
    assert (obj.width, obj.height, obj.center) == (20.0, 40.0, (20.0, 40.0))
    assert Keyframe(time_s=0.0).objects == ()


def _set(path: str, value: Any):
    """A change to vsl_dict(): set the item at a dotted path with [i] indices."""
    def change(d: dict[str, Any]) -> None:
        parts = path.replace("[", ".").replace("]", "").split(".")
        target: Any = d
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return change


_DELETE = object()


@pytest.mark.parametrize(("change", "expected"), [
    (_set("keyframes[2].objects[0].box", [120.0, 140.0, 80.0, 190.0]),
     "x.vsl.json: keyframes[2].objects[0].box: x0 (120.0) must be less than x1 (80.0)"),
    (_set("keyframes[1].objects[1].box", [300.0, 200.0, 340.0, 60.0]),
     "x.vsl.json: keyframes[1].objects[1].box: y0 (200.0) must be less than y1 (60.0)"),
    (_set("keyframes[1].objects[0].box", [180.0, 140.0, 500.0, 190.0]),
     "x.vsl.json: keyframes[1].objects[0].box: [180, 140, 500, 190] reaches outside the 454x256 canvas"),
    (_set("keyframes[0].objects[0].box", [1.0, 2.0, 3.0]),
     "x.vsl.json: keyframes[0].objects[0].box: must be 4 numbers"),
    (_set("keyframes[0].objects[0].box", [1.0, "2", 3.0, 4.0]),
     "x.vsl.json: keyframes[0].objects[0].box: y0 must be a finite number, got '2'"),
    (_set("keyframes[2].objects[1].id", 0),
     "x.vsl.json: keyframes[2].objects[1].id: id 0 is already used by objects[0]"),
    (_set("keyframes[1].time_s", 0.0),
     "x.vsl.json: keyframes[1].time_s: 0.0 must be later than keyframes[0].time_s (0.0)"),
    (_set("keyframes[2].time_s", 12.0), "x.vsl.json: keyframes[2].time_s: 12.0 lies after the end of the clip"),
    (_set("keyframes[0].time_s", -1.0), "x.vsl.json: keyframes[0].time_s: must be at least 0.0"),
    (_set("keyframes[0].objects[0].id", "0"), "x.vsl.json: keyframes[0].objects[0].id: must be an integer"),
    (_set("keyframes[0].objects[0].name", ""), "x.vsl.json: keyframes[0].objects[0].name: must not be empty"),
    (_set("keyframes[0].objects[0].name", _DELETE), "x.vsl.json: keyframes[0].objects[0].name: is missing"),
    (_set("keyframes[1].caption", 3), "x.vsl.json: keyframes[1].caption: must be a string"),
    (_set("keyframes", []), "x.vsl.json: keyframes: must hold at least one keyframe"),
    (_set("keyframes[1]", "frame"), "x.vsl.json: keyframes[1]: must be an object"),
    (_set("duration_s", 0.0), "x.vsl.json: duration_s: must be greater than 0"),
    (_set("duration_s", _DELETE), "x.vsl.json: duration_s: is missing"),
    (_set("canvas.width", 0), "x.vsl.json: canvas.width: must be greater than 0"),
    (_set("format", "other"), "x.vsl.json: format: must be 'spa2v.vsl'"),
    (_set("version", 2), "x.vsl.json: version: 2 is not supported"),
])
def test_each_validation_error_names_file_and_field(change, expected: str) -> None:
    data = vsl_dict()
    change(data)
    with pytest.raises(InputError) as info:
        VideoLayout.from_json_dict(data, source="x.vsl.json")
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_load_reports_bad_files_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.vsl.json"
    broken.write_text('{"format": "spa2v.vsl",\n "version": 1,,}', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.vsl\.json: not valid JSON \(line 2"):
        load_vsl(broken)
    with pytest.raises(InputError, match="no such file"):
        load_vsl(tmp_path / "absent.vsl.json")
    listed = tmp_path / "list.vsl.json"
    listed.write_text("[]", encoding="utf-8")
    with pytest.raises(InputError, match=r"list\.vsl\.json: expected a JSON object"):
        load_vsl(listed)


def test_engine_layout_imports_no_qt() -> None:
    code = ("import sys, engine.layout; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# ------------------------------------------------------------------------------------ repair


def test_a_valid_layout_needs_no_repair() -> None:
    result = repair_layout(vsl_dict())
    assert result.repairs == []
    assert result.layout == VideoLayout.from_json_dict(vsl_dict())
    text_result = repair_layout_text(json.dumps(vsl_dict()), duration_s=10.0, n_keyframes=3)
    assert text_result.repairs == [] and text_result.layout == result.layout


def test_json_in_prose_and_code_fence() -> None:
    text = "Here is the layout you asked for:\n```json\n" + json.dumps(vsl_dict()) + "\n```\nEnjoy!"
    result = repair_layout_text(text, duration_s=10.0, n_keyframes=3)
    assert result.layout == VideoLayout.from_json_dict(vsl_dict())
    assert has_note(result.repairs, "code fence") and has_note(result.repairs, "text around the JSON")
    # Without a fence: the first {...} in the prose.
    result = repair_layout_text("Sure. " + json.dumps(vsl_dict()) + " Done.", duration_s=10.0, n_keyframes=3)
    assert result.layout == VideoLayout.from_json_dict(vsl_dict())
    assert has_note(result.repairs, "text around the JSON") and not has_note(result.repairs, "fence")


def test_python_style_json_single_quotes_trailing_commas_literals() -> None:
    text = """{'duration_s': 10.0, 'reasoning': "It's a car", 'video_caption': 'The driver's car',
      'keyframes': [
        {'time_s': 0.0, 'caption': None, 'objects': [{'id': 0, 'name': 'car', 'box': [10, 20, 50, 60],},],
         'visible': True},
        {'time_s': 10.0, 'caption': 'gone', 'objects': [],},  // the car left
      ],
    }"""
    result = repair_layout_text(text, n_keyframes=None)
    layout = result.layout
    assert layout.reasoning == "It's a car"
    assert layout.video_caption == "The driver's car"  # an apostrophe inside single quotes survives
    assert boxes_of(layout) == [{0: (10.0, 20.0, 50.0, 60.0)}, {}]
    assert layout.keyframes[0].caption == ""
    for words in ("single quotes", "trailing commas", "Python literals", "comments"):
        assert has_note(result.repairs, words), words
    assert has_note(result.repairs, "keyframe 1", "no caption")


def test_box_outside_canvas_is_clipped_with_a_note() -> None:
    data = vsl_dict()
    data["keyframes"][2]["objects"][0]["box"] = [400, -10, 500, 40]
    result = repair_layout(data)
    assert result.layout.keyframes[2].objects[0].box == (400.0, 0.0, 454.0, 40.0)
    assert result.repairs == ["keyframe 3: object 0 'car' box [400, -10, 500, 40] clipped to the canvas: "
                              "[400, 0, 454, 40]"]


def test_swapped_corners_are_put_back() -> None:
    data = vsl_dict()
    data["keyframes"][0]["objects"][0]["box"] = [96, 190, 12, 140]
    result = repair_layout(data)
    assert result.layout.keyframes[0].objects[0].box == (12.0, 140.0, 96.0, 190.0)
    assert has_note(result.repairs, "keyframe 1", "'car'", "corners swapped")


@pytest.mark.parametrize(("box", "why"), [
    ([460, 10, 500, 40], "outside"),  # wholly right of the canvas: nothing left after clipping
    ([100, 100, 100.5, 150], "less than 1 px"),
    ([100, 100, 100, 150], "less than 1 px"),  # zero width
])
def test_degenerate_boxes_are_dropped(box: list[float], why: str) -> None:
    data = vsl_dict()
    data["keyframes"][1]["objects"][1]["box"] = box
    result = repair_layout(data)
    assert result.layout.keyframes[1].object_ids() == [0]
    assert result.layout.keyframes[2].object_ids() == [0, 1]  # the same id elsewhere is untouched
    assert has_note(result.repairs, "keyframe 2", "'violin'", "dropped", why)


def test_duplicate_ids_are_renumbered_consistently_across_keyframes() -> None:
    data = vsl_dict()
    for k in (1, 2):  # the violin shares id 0 with the car in both keyframes where it appears
        data["keyframes"][k]["objects"][1]["id"] = 0
    data["keyframes"][2]["objects"].reverse()  # and is listed first in the last one
    result = repair_layout(data)
    layout = result.layout
    # The car (id 0's usual name) keeps id 0; the violin gets one fresh id, the same in both keyframes.
    assert layout.names_by_id() == {0: "car", 1: "violin"}
    assert [kf.object_by_id(1) is not None for kf in layout.keyframes] == [False, True, True]
    assert layout.keyframes[2].object_by_id(0).box == (360.0, 140.0, 444.0, 190.0)  # type: ignore[union-attr]
    assert sum("renumbered to id 1" in line for line in result.repairs) == 2


def test_object_without_id_takes_the_id_of_its_name() -> None:
    data = vsl_dict()
    del data["keyframes"][2]["objects"][1]["id"]
    data["keyframes"][2]["objects"].append({"name": "drum", "box": [20, 20, 60, 60]})
    result = repair_layout(data)
    last = result.layout.keyframes[2]
    assert last.object_by_id(1).name == "violin"  # type: ignore[union-attr]
    assert last.object_by_id(2).name == "drum"  # type: ignore[union-attr]
    assert has_note(result.repairs, "keyframe 3", "'violin' had no id", "id 1")
    assert has_note(result.repairs, "'drum' had no id", "id 2")


def test_numbers_given_as_text_are_read() -> None:
    data = vsl_dict()
    data["duration_s"] = "10"
    data["keyframes"][1]["time_s"] = "5.0"
    data["keyframes"][1]["objects"][1] = {"id": "1", "name": "violin", "box": ["300", "60.0", 340, "200"]}
    result = repair_layout(data)
    assert result.layout == VideoLayout.from_json_dict(vsl_dict())
    assert has_note(result.repairs, "6 number(s) given as text")


def test_missing_times_come_from_the_keyframe_grid() -> None:
    data = vsl_dict()
    for kf in data["keyframes"]:
        del kf["time_s"]
    result = repair_layout(data, duration_s=10.0, n_keyframes=3)
    assert result.layout.times == [0.0, 5.0, 10.0]
    assert has_note(result.repairs, "no keyframe has a time")
    data = vsl_dict()
    del data["keyframes"][1]["time_s"]
    result = repair_layout(data)
    assert result.layout.times == [0.0, 5.0, 10.0]
    assert has_note(result.repairs, "keyframe 2: no time; set to 5 s")


def test_unordered_times_are_sorted_and_impossible_times_replaced() -> None:
    data = vsl_dict()
    data["keyframes"][0]["time_s"], data["keyframes"][1]["time_s"] = 5.0, 0.0
    result = repair_layout(data)
    assert result.layout.times == [0.0, 5.0, 10.0]
    assert result.layout.keyframes[0].caption == "The car is in the middle."
    assert has_note(result.repairs, "not in time order")
    data = vsl_dict()
    for kf, t in zip(data["keyframes"], (0, 5000, 10000), strict=True):  # milliseconds, not seconds
        kf["time_s"] = t
    result = repair_layout(data)
    assert result.layout.times == [0.0, 5.0, 10.0]
    assert result.layout.keyframes[2].caption == "The car leaves."
    assert has_note(result.repairs, "not distinct times within [0, 10] s")


def test_missing_keyframes_are_interpolated_or_carried() -> None:
    data = vsl_dict()  # keyframes at 0, 5 and 10 s; five are wanted, at 0, 2.5, 5, 7.5, 10
    result = repair_layout(data, n_keyframes=5)
    layout = result.layout
    assert layout.times == [0.0, 2.5, 5.0, 7.5, 10.0]
    # 2.5 s: the car halfway between its boxes at 0 and 5 s; the violin is not in the keyframe at 0 s.
    assert boxes_of(layout)[1] == {0: (96.0, 140.0, 180.0, 190.0)}
    # 7.5 s: the car halfway between 5 and 10 s; the violin stays where it is in both.
    assert boxes_of(layout)[3] == {0: (270.0, 140.0, 354.0, 190.0), 1: (300.0, 60.0, 340.0, 200.0)}
    assert layout.keyframes[1].caption == "" and layout.keyframes[3].caption == ""
    assert has_note(result.repairs, "keyframe at 2.5 s was missing", "1 object(s) interpolated")
    assert has_note(result.repairs, "keyframe at 7.5 s was missing", "2 object(s) interpolated")
    # A missing last keyframe: its objects are carried from the one before.
    data = vsl_dict()
    del data["keyframes"][2]
    data["keyframes"][1]["time_s"] = 2.5
    result = repair_layout(data, duration_s=10.0, n_keyframes=5)
    assert result.layout.times == [0.0, 2.5, 5.0, 7.5, 10.0]
    assert boxes_of(result.layout)[4] == boxes_of(result.layout)[1] == {
        0: (180.0, 140.0, 264.0, 190.0), 1: (300.0, 60.0, 340.0, 200.0)}
    assert has_note(result.repairs, "keyframe at 10 s was missing", "carried from the keyframe at 2.5 s")


def test_normalised_boxes_are_scaled_to_the_canvas() -> None:
    data = vsl_dict()
    for kf in data["keyframes"]:
        for obj in kf["objects"]:
            x0, y0, x1, y1 = obj["box"]
            obj["box"] = [x0 / 454, y0 / 256, x1 / 454, y1 / 256]
    result = repair_layout(data)
    for got, want in zip(boxes_of(result.layout), boxes_of(VideoLayout.from_json_dict(vsl_dict())), strict=True):
        assert got.keys() == want.keys()
        for object_id in got:
            assert got[object_id] == pytest.approx(want[object_id])
    assert has_note(result.repairs, "lies in [0, 1]", "454x256")


def test_boxes_on_another_canvas_are_scaled_to_the_requested_one() -> None:
    data = vsl_dict()
    data["canvas"] = {"width": 908, "height": 512}
    for kf in data["keyframes"]:
        for obj in kf["objects"]:
            obj["box"] = [2 * v for v in obj["box"]]
    result = repair_layout(data, canvas=Canvas(454, 256))
    assert result.layout == VideoLayout.from_json_dict(vsl_dict())
    assert has_note(result.repairs, "908x512", "scaled to 454x256")


def test_another_duration_scales_the_times() -> None:
    data = vsl_dict()
    data["duration_s"] = 5.0
    for kf, t in zip(data["keyframes"], (0.0, 2.5, 5.0), strict=True):
        kf["time_s"] = t
    result = repair_layout(data, duration_s=10.0)
    assert result.layout.duration_s == 10.0 and result.layout.times == [0.0, 5.0, 10.0]
    assert has_note(result.repairs, "duration_s 5 s replaced by the clip's 10 s")


def test_missing_captions_and_reasoning_become_empty() -> None:
    data = vsl_dict()
    del data["video_caption"], data["reasoning"], data["keyframes"][0]["caption"]
    result = repair_layout(data)
    assert (result.layout.video_caption, result.layout.reasoning, result.layout.keyframes[0].caption) == ("", "", "")
    assert has_note(result.repairs, "no video caption") and has_note(result.repairs, "no reasoning")
    assert has_note(result.repairs, "keyframe 1: no caption")


@pytest.mark.parametrize(("text", "expected"), [
    ("", "empty"),
    ("I cannot help with that.", "no JSON found"),
    ('{"keyframes": []}', "no keyframes"),
    ('{"keyframes": [{"objects": [{"id": 0, "name": "car", "box": [1, 2, 3]}]}]}', "none of the 1 boxes"),
    ('{"keyframes": [{"objects": [{"id": 0, "name": "car", "box": [500, 300, 600, 400]}]}]}', "outside"),
    ('{"keyframes": [{"time_s": 0, "objects": [}]}', "not valid JSON"),
])
def test_unusable_answers_raise_input_error(text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        repair_layout_text(text, duration_s=10.0)


def test_answer_without_duration_needs_one() -> None:
    with pytest.raises(InputError, match="duration_s: missing"):
        repair_layout_text('{"keyframes": [{"objects": []}]}')


def test_repair_reads_the_papers_text_format() -> None:
    layout = VideoLayout.from_json_dict(vsl_dict())
    text = "Reasoning: " + layout.reasoning + "\nVSL: " + format_paper_text(layout, include_reasoning=False)
    result = repair_layout_text(text, duration_s=10.0, n_keyframes=3)
    assert result.layout == layout
    assert has_note(result.repairs, "paper's textual format")


# ------------------------------------------------------------------------------------ paper text


PAPER_STYLE_ANSWER = """**Reasoning:** A trumpet plays steadily on the left; a cello answers from the right.

**VSL:** Frame 1: {"frame layout": [{"id": 0, "name": "trumpet", "box": [40.5, 90.0, 120.0, 200.0]}, {"id": 1, "name": "cello", "box": [300.0, 80.0, 380.0, 250.0]}], "frame caption": "Two players on a stage; Frame 2: comes next."}

Frame 2: {"frame layout": [{"id": 0, "name": "trumpet", "box": [42.0, 91.0, 121.0, 201.0]}], "frame caption": "The cellist pauses."}

Frame 3: {'frame layout': [{'id': 0, 'name': 'trumpet', 'box': [44.0, 92.0, 122.0, 202.0]}, {'id': 1, 'name': 'cello', 'box': [302.0, 80.0, 382.0, 250.0]},], 'frame caption': "Both play again."}

**Video Caption:** A trumpeter and a cellist play together on a small stage.

Anything after a blank line is not part of the caption.
"""  # noqa: E501 - one frame a line, as planners answer


def test_parse_paper_text() -> None:
    data = parse_paper_text(PAPER_STYLE_ANSWER, Canvas(), duration_s=6.0)
    assert data["reasoning"] == "A trumpet plays steadily on the left; a cello answers from the right."
    assert data["video_caption"] == "A trumpeter and a cellist play together on a small stage."
    assert [kf["time_s"] for kf in data["keyframes"]] == [0.0, 3.0, 6.0]
    # "Frame 2:" inside a caption is part of the caption, not a new frame.
    assert data["keyframes"][0]["caption"] == "Two players on a stage; Frame 2: comes next."
    layout = VideoLayout.from_json_dict(data, source="answer")
    assert boxes_of(layout)[1] == {0: (42.0, 91.0, 121.0, 201.0)}
    assert boxes_of(layout)[2][1] == (302.0, 80.0, 382.0, 250.0)  # single quotes, trailing comma read
    # Asked for 5 keyframes: Frame 3 of 5 sits at 2·D/4.
    data5 = parse_paper_text(PAPER_STYLE_ANSWER, Canvas(), duration_s=8.0, n_keyframes=5)
    assert [kf["time_s"] for kf in data5["keyframes"]] == [0.0, 2.0, 4.0]


def test_paper_text_round_trip() -> None:
    layout = VideoLayout.from_json_dict(vsl_dict())  # keyframes at 0, 5, 10: on the grid for N = 3
    text = format_paper_text(layout)
    assert text.startswith("Reasoning: Engine noise moves from left to right.\n")
    assert 'Frame 2: {"frame layout": [{"id": 0, "name": "car", "box": [180.0, 140.0, 264.0, 190.0]}' in text
    assert text.rstrip().endswith("Video Caption: A car drives past a violinist.")
    back = VideoLayout.from_json_dict(parse_paper_text(text, layout.canvas, layout.duration_s))
    assert back == layout


def test_paper_text_without_frames_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no 'Frame 1"):
        parse_paper_text("Video Caption: nothing here", Canvas(), 4.0)


# ------------------------------------------------------------------------------------ interpolation


def interp_layout() -> VideoLayout:
    """D = 4 s, keyframes at 0, 2, 4. Object 0 in all three; 1 from the second on; 2 at the ends only."""
    return VideoLayout.from_json_dict({
        "format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256}, "duration_s": 4.0,
        "keyframes": [
            {"time_s": 0.0, "objects": [{"id": 0, "name": "car", "box": [0, 0, 10, 10]},
                                        {"id": 2, "name": "bird", "box": [100, 0, 110, 10]}]},
            {"time_s": 2.0, "objects": [{"id": 0, "name": "car", "box": [20, 0, 30, 10]},
                                        {"id": 1, "name": "dog", "box": [200, 100, 240, 140]}]},
            {"time_s": 4.0, "objects": [{"id": 0, "name": "car", "box": [20, 20, 40, 40]},
                                        {"id": 1, "name": "dog", "box": [220, 100, 260, 160]},
                                        {"id": 2, "name": "bird", "box": [120, 0, 130, 10]}]},
        ],
    })


def test_interpolation_values_at_midpoints() -> None:
    frames = interpolate(interp_layout(), 5)  # frames at 0, 1, 2, 3, 4 s
    assert frames[1] == [FrameBox(0, "car", (10.0, 0.0, 20.0, 10.0), is_keyframe=False)]
    assert frames[3] == [FrameBox(0, "car", (20.0, 10.0, 35.0, 25.0), is_keyframe=False),
                         FrameBox(1, "dog", (210.0, 100.0, 250.0, 150.0), is_keyframe=False)]
    assert boxes_at(interp_layout(), 0.5) == [FrameBox(0, "car", (5.0, 0.0, 15.0, 10.0), is_keyframe=False)]


def test_keyframe_frames_show_the_keyframe_boxes() -> None:
    frames = interpolate(interp_layout(), 5)
    assert frames[0] == [FrameBox(0, "car", (0.0, 0.0, 10.0, 10.0), True),
                         FrameBox(2, "bird", (100.0, 0.0, 110.0, 10.0), True)]
    assert [b.id for b in frames[2]] == [0, 1] and all(b.is_keyframe for b in frames[2])
    assert [b.id for b in frames[4]] == [0, 1, 2] and all(b.is_keyframe for b in frames[4])
    assert interpolate(interp_layout(), 1) == [frames[0]]
    with pytest.raises(ValueError):
        interpolate(interp_layout(), 0)


def test_objects_appear_and_disappear_where_keyframes_say() -> None:
    layout = interp_layout()
    ids = [[b.id for b in frame] for frame in interpolate(layout, 9)]  # every 0.5 s
    # dog (1): absent until the keyframe at 2 s lists it. bird (2): only at the keyframes at 0 and 4 s, since
    # the keyframe at 2 s between them does not list it.
    assert ids == [[0, 2], [0], [0], [0], [0, 1], [0, 1], [0, 1], [0, 1], [0, 1, 2]]


def test_nothing_outside_the_keyframes_and_rounded_keyframe_times() -> None:
    data = interp_layout().to_json_dict()
    data["duration_s"] = 5.0  # keyframes at 0, 2, 4 in a 5 s clip: after 4 s nothing is shown
    layout = VideoLayout.from_json_dict(data)
    assert boxes_at(layout, 4.5) == []
    data = interp_layout().to_json_dict()
    data["duration_s"] = 10 / 3
    data["keyframes"][1]["time_s"], data["keyframes"][2]["time_s"] = 1.667, 3.333  # rounded to ms
    frames = interpolate(VideoLayout.from_json_dict(data), 3)
    assert all(b.is_keyframe for frame in frames for b in frame)
    assert [b.id for b in frames[2]] == [0, 1, 2]


def test_scale_boxes_canvas_to_render_size() -> None:
    boxes = [FrameBox(0, "car", (0.0, 0.0, 454.0, 256.0), True), FrameBox(1, "dog", (227.0, 64.0, 340.5, 128.0), False)]
    scaled = scale_boxes(boxes, Canvas(454, 256), (512, 320))
    assert scaled[0] == FrameBox(0, "car", (0.0, 0.0, 512.0, 320.0), True)
    assert scaled[1].box == pytest.approx((256.0, 80.0, 384.0, 160.0))
    assert (scaled[1].id, scaled[1].name, scaled[1].is_keyframe) == (1, "dog", False)
    assert scale_boxes(boxes, (454, 256), (454, 256)) == boxes



def test_offscreen_sounds_round_trip_and_stay_out_of_files_that_have_none() -> None:
    data = vsl_dict()
    assert "offscreen" not in VideoLayout.from_json_dict(data).to_json_dict()
    data["offscreen"] = [{"name": "narrator", "source_id": 2}, {"name": "wind", "source_id": None}]
    layout = VideoLayout.from_json_dict(data)
    assert layout.offscreen_source_ids() == {2}
    assert layout.to_json_dict()["offscreen"] == data["offscreen"]
    assert VideoLayout.from_json_dict(layout.to_json_dict()) == layout


@pytest.mark.parametrize(("entry", "expected"), [
    ({"name": "", "source_id": 1}, "offscreen[0].name"),
    ({"name": "wind", "source_id": -1}, "offscreen[0].source_id"),
    ({"name": "wind", "source_id": "1"}, "offscreen[0].source_id"),
    ("wind", "offscreen[0]"),
])
def test_a_bad_offscreen_entry_names_its_field(entry: Any, expected: str) -> None:
    data = vsl_dict()
    data["offscreen"] = [entry]
    with pytest.raises(InputError, match=re.escape(expected)):
        VideoLayout.from_json_dict(data, "x.vsl.json")
