"""The pure layout edits: each operation, valid and unchanged inputs, in-between frames, clamping, errors."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InputError
from engine.layout import edit
from engine.layout.interp import boxes_at
from engine.layout.model import Canvas, LayoutObject, VideoLayout


def layout_dict() -> dict[str, Any]:
    """4 s, keyframes at 0, 2 and 4 s: the car everywhere, the violin on the first two, a bird (id 3) last."""
    return {
        "format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256}, "duration_s": 4.0,
        "reasoning": "", "video_caption": "a car passes a violin",
        "keyframes": [
            {"time_s": 0.0, "caption": "car left", "objects": [
                {"id": 0, "name": "car", "box": [10.0, 150.0, 110.0, 200.0]},
                {"id": 1, "name": "violin", "box": [380.0, 80.0, 430.0, 220.0]}]},
            {"time_s": 2.0, "caption": "car centre", "objects": [
                {"id": 0, "name": "car", "box": [180.0, 150.0, 280.0, 200.0]},
                {"id": 1, "name": "violin", "box": [370.0, 80.0, 420.0, 220.0]}]},
            {"time_s": 4.0, "caption": "car right", "objects": [
                {"id": 0, "name": "car", "box": [340.0, 150.0, 440.0, 200.0]},
                {"id": 3, "name": "bird", "box": [200.0, 10.0, 240.0, 40.0]}]},
        ],
    }


ORIGINAL = VideoLayout.from_json_dict(layout_dict())


@pytest.fixture
def layout() -> VideoLayout:
    return VideoLayout.from_json_dict(layout_dict())


def valid(result: VideoLayout) -> VideoLayout:
    """``result`` survives a round trip through its JSON form, i.e. it is a valid VSL."""
    assert VideoLayout.from_json_dict(result.to_json_dict()) == result
    return result


def boxes(result: VideoLayout) -> list[dict[int, tuple[float, ...]]]:
    return [{o.id: o.box for o in k.objects} for k in result.keyframes]


@pytest.fixture(autouse=True)
def inputs_never_change(layout: VideoLayout):
    """Every edit returns a new layout: the one passed in is left exactly as it was."""
    yield
    assert layout.to_json_dict() == layout_dict()


# ------------------------------------------------------------------------------------ lookups and boxes


def test_keyframe_index_at_finds_the_keyframe_within_a_millisecond(layout: VideoLayout) -> None:
    assert edit.keyframe_index_at(layout, 2.0) == 1
    assert edit.keyframe_index_at(layout, 2.0009) == 1
    assert edit.keyframe_index_at(layout, 3.9995) == 2
    assert edit.keyframe_index_at(layout, 2.002) is None
    assert edit.keyframe_index_at(layout, 1.0) is None
    assert edit.keyframe_index_at(layout, -5.0) is None


def test_object_names_and_box_at(layout: VideoLayout) -> None:
    assert edit.object_names(layout) == {0: "car", 1: "violin", 3: "bird"}
    assert edit.box_at(layout, 1.0, 0) == (95.0, 150.0, 195.0, 200.0)
    assert edit.box_at(layout, 3.0, 1) is None  # the violin is not on the last keyframe


def test_clamp_box_orders_corners_keeps_boxes_inside_and_at_least_2_px() -> None:
    canvas = Canvas(454, 256)
    assert edit.clamp_box(canvas, (10, 20, 30, 40)) == (10.0, 20.0, 30.0, 40.0)
    assert edit.clamp_box(canvas, (30, 40, 10, 20)) == (10.0, 20.0, 30.0, 40.0)
    assert edit.clamp_box(canvas, (-20, -5, 500, 300)) == (0.0, 0.0, 454.0, 256.0)
    assert edit.clamp_box(canvas, (100, 50, 100, 50.5)) == (100.0, 50.0, 102.0, 52.0)
    # A sliver at the far edge grows inwards.
    assert edit.clamp_box(canvas, (460, 300, 470, 310)) == (452.0, 254.0, 454.0, 256.0)
    assert edit.clamp_box(ORIGINAL, (500, -5, 440, 10)) == (440.0, 0.0, 454.0, 10.0)
    for bad in [(1, 2, 3), (0, 0, float("nan"), 10), (0, 0, "10", 10), (True, 0, 10, 10)]:
        with pytest.raises(InputError, match="box"):
            edit.clamp_box(canvas, bad)


def test_moved_box_stops_at_the_canvas_edge_without_changing_size() -> None:
    canvas = Canvas(454, 256)
    assert edit.moved_box(canvas, (10, 10, 50, 30), 5, -3) == (15.0, 7.0, 55.0, 27.0)
    assert edit.moved_box(canvas, (10, 10, 50, 30), -100, 500) == (0.0, 236.0, 40.0, 256.0)


# ------------------------------------------------------------------------------------ keyframes


def test_insert_keyframe_between_keyframes_holds_the_boxes_shown_there(layout: VideoLayout) -> None:
    result, index = edit.insert_keyframe(layout, 1.0)
    valid(result)
    assert index == 1 and result.times == [0.0, 1.0, 2.0, 4.0]
    inserted = result.keyframes[1]
    assert inserted.caption == "car left"  # the keyframe before's caption
    assert boxes(result)[1] == {0: (95.0, 150.0, 195.0, 200.0), 1: (375.0, 80.0, 425.0, 220.0)}
    assert [o.name for o in inserted.objects] == ["car", "violin"]
    # Nothing moved: every frame shows what it showed before; only 1 s is now a keyframe.
    for t in (0.0, 0.25, 0.5, 1.0, 1.5, 1.9, 2.0, 3.0, 4.0):
        shown_before, shown_after = boxes_at(layout, t), boxes_at(result, t)
        assert [(b.id, b.name) for b in shown_after] == [(b.id, b.name) for b in shown_before]
        for after, before in zip(shown_after, shown_before, strict=True):
            assert after.box == pytest.approx(before.box, abs=1e-9)
            assert after.is_keyframe == (before.is_keyframe or t == 1.0)


def test_insert_keyframe_follows_the_presence_rule(layout: VideoLayout) -> None:
    result, index = edit.insert_keyframe(layout, 3.0)
    assert index == 2 and result.keyframes[2].caption == "car centre"
    # The violin is gone after 2 s and the bird only appears at 4 s: neither is present at 3 s.
    assert boxes(result)[2] == {0: (260.0, 150.0, 360.0, 200.0)}


def test_insert_keyframe_on_a_keyframe_changes_nothing(layout: VideoLayout) -> None:
    result, index = edit.insert_keyframe(layout, 2.0004)
    assert result is layout and index == 1


def test_insert_keyframe_before_the_first_takes_the_video_caption_and_rounds_to_the_millisecond() -> None:
    data = layout_dict()
    data["keyframes"][0]["time_s"] = 1.0
    late_start = VideoLayout.from_json_dict(data)
    result, index = edit.insert_keyframe(late_start, 1 / 3)
    valid(result)
    assert index == 0 and result.keyframes[0].time_s == 0.333
    assert result.keyframes[0].caption == "a car passes a violin"
    assert result.keyframes[0].objects == ()  # nothing is shown before the first keyframe


@pytest.mark.parametrize("time_s", [-0.5, 4.5, float("nan")])
def test_insert_keyframe_outside_the_clip_is_refused(layout: VideoLayout, time_s: float) -> None:
    with pytest.raises(InputError, match="outside the clip"):
        edit.insert_keyframe(layout, time_s)


def test_remove_keyframe(layout: VideoLayout) -> None:
    result = valid(edit.remove_keyframe(layout, 1))
    assert result.times == [0.0, 4.0]
    assert boxes(result) == [boxes(layout)[0], boxes(layout)[2]]
    with pytest.raises(InputError, match="keyframe index 3"):
        edit.remove_keyframe(layout, 3)
    with pytest.raises(InputError, match="keyframe index -1"):
        edit.remove_keyframe(layout, -1)
    single = edit.remove_keyframe(edit.remove_keyframe(layout, 2), 1)
    with pytest.raises(InputError, match="at least one keyframe"):
        edit.remove_keyframe(single, 0)


def test_hold_copies_the_previous_keyframe(layout: VideoLayout) -> None:
    result = valid(edit.hold(layout, 2))
    assert boxes(result)[2] == boxes(layout)[1]
    assert result.keyframes[2].caption == "car right" and result.keyframes[2].time_s == 4.0
    assert boxes(result)[:2] == boxes(layout)[:2]
    with pytest.raises(InputError, match="first keyframe"):
        edit.hold(layout, 0)


def test_hold_leaves_kept_objects_as_they_were(layout: VideoLayout) -> None:
    result = valid(edit.hold(layout, 2, keep={0, 1}))
    # The car keeps its own box, the violin (kept) stays absent, the bird (not kept) goes as on keyframe 1.
    assert boxes(result)[2] == {0: (340.0, 150.0, 440.0, 200.0)}


def test_propagate_copies_a_box_to_the_later_keyframes_that_list_it(layout: VideoLayout) -> None:
    car = valid(edit.propagate(layout, 0, 0))
    assert [b[0] for b in boxes(car)] == [(10.0, 150.0, 110.0, 200.0)] * 3
    violin = valid(edit.propagate(layout, 0, 1))
    assert boxes(violin)[1][1] == (380.0, 80.0, 430.0, 220.0)
    assert 1 not in boxes(violin)[2]  # absent stays absent
    everywhere = valid(edit.propagate(layout, 0, 1, add_missing=True))
    assert boxes(everywhere)[2][1] == (380.0, 80.0, 430.0, 220.0)
    assert [o.id for o in everywhere.keyframes[2].objects] == [0, 1, 3]
    with pytest.raises(InputError, match="last keyframe"):
        edit.propagate(layout, 2, 0)
    with pytest.raises(InputError, match="does not list object 3"):
        edit.propagate(layout, 0, 3)


def test_captions(layout: VideoLayout) -> None:
    result = valid(edit.set_caption(layout, 1, "the car in the middle"))
    assert [k.caption for k in result.keyframes] == ["car left", "the car in the middle", "car right"]
    assert valid(edit.set_video_caption(layout, "a street")).video_caption == "a street"
    with pytest.raises(InputError, match="keyframe index 5"):
        edit.set_caption(layout, 5, "x")


# ------------------------------------------------------------------------------------ objects


def test_set_box_on_a_keyframe_changes_that_box_only(layout: VideoLayout) -> None:
    result = valid(edit.set_box(layout, 2.0, 0, (200, 140, 300, 190)))
    expected = boxes(layout)
    expected[1][0] = (200.0, 140.0, 300.0, 190.0)
    assert boxes(result) == expected
    assert result.times == layout.times


def test_set_box_on_an_in_between_frame_makes_that_frame_a_keyframe(layout: VideoLayout) -> None:
    result = valid(edit.set_box(layout, 1.0, 0, (100, 140, 200, 190)))
    assert result.times == [0.0, 1.0, 2.0, 4.0]
    # The edited box is kept; the other objects shown there keep their interpolated boxes.
    assert boxes(result)[1] == {0: (100.0, 140.0, 200.0, 190.0), 1: (375.0, 80.0, 425.0, 220.0)}
    assert result.keyframes[1].caption == "car left"
    # The neighbours are untouched and the frames around interpolate towards the edit.
    assert [boxes(result)[k] for k in (0, 2, 3)] == boxes(layout)
    assert edit.box_at(result, 0.5, 0) == (55.0, 145.0, 155.0, 195.0)
    assert edit.box_at(result, 1.5, 0) == (140.0, 145.0, 240.0, 195.0)


def test_set_box_clamps_and_adds_the_object_where_a_keyframe_lacks_it(layout: VideoLayout) -> None:
    result = valid(edit.set_box(layout, 0.0, 3, (440, -10, 500, 20)))
    assert boxes(result)[0][3] == (440.0, 0.0, 454.0, 20.0)
    assert result.keyframes[0].object_by_id(3).name == "bird"
    thin = valid(edit.set_box(layout, 0.0, 0, (50, 60, 50, 60)))
    assert boxes(thin)[0][0] == (50.0, 60.0, 52.0, 62.0)


def test_set_box_errors(layout: VideoLayout) -> None:
    with pytest.raises(InputError, match=r"object id 7 is not in the layout; its objects are: 0 \(car\)"):
        edit.set_box(layout, 0.0, 7, (0, 0, 10, 10))
    with pytest.raises(InputError, match="outside the clip"):
        edit.set_box(layout, 9.0, 0, (0, 0, 10, 10))
    with pytest.raises(InputError, match="x1 must be a finite number"):
        edit.set_box(layout, 1.0, 0, (0, 0, float("inf"), 10))


def test_add_object_takes_the_next_id_and_a_clean_name(layout: VideoLayout) -> None:
    result, new_id = edit.add_object(layout, 2.0, "  grand   piano ", (10, 10, 60, 60))
    valid(result)
    assert new_id == 4  # one above the largest id (3), not the count
    assert result.keyframes[1].object_by_id(4) == LayoutObject(id=4, name="grand piano", box=(10, 10, 60, 60))
    assert all(k.object_by_id(4) is None for i, k in enumerate(result.keyframes) if i != 1)
    between, _ = edit.add_object(layout, 3.0, "dog", (0, 0, 5, 5))
    assert valid(between).times == [0.0, 2.0, 3.0, 4.0]
    assert set(boxes(between)[2]) == {0, 4}
    with pytest.raises(InputError, match="name must not be empty"):
        edit.add_object(layout, 2.0, "  ", (10, 10, 60, 60))


def test_add_object_to_an_empty_layout_gets_id_0() -> None:
    empty = VideoLayout(duration_s=2.0, keyframes=[{"time_s": 0.0}])
    result, new_id = edit.add_object(empty, 0.0, "car", (0, 0, 10, 10))
    assert new_id == 0 and valid(result).keyframes[0].object_ids() == [0]


def test_remove_object_at_takes_the_object_off_one_keyframe(layout: VideoLayout) -> None:
    result = valid(edit.remove_object_at(layout, 2.0, 1))
    assert boxes(result)[1] == {0: (180.0, 150.0, 280.0, 200.0)}
    assert 1 in boxes(result)[0]
    between = valid(edit.remove_object_at(layout, 1.0, 1))
    assert between.times == [0.0, 1.0, 2.0, 4.0]
    assert boxes(between)[1] == {0: (95.0, 150.0, 195.0, 200.0)}
    assert 1 in boxes(between)[0] and 1 in boxes(between)[2]
    with pytest.raises(InputError, match=r"object 1 \(violin\) is not shown at 3.000 s"):
        edit.remove_object_at(layout, 3.0, 1)


def test_delete_and_rename_act_on_every_keyframe(layout: VideoLayout) -> None:
    deleted = valid(edit.delete_object(layout, 1))
    assert edit.object_names(deleted) == {0: "car", 3: "bird"}
    assert deleted.times == layout.times
    renamed = valid(edit.rename_object(layout, 0, " red  car "))
    assert [k.object_by_id(0).name for k in renamed.keyframes] == ["red car"] * 3
    assert boxes(renamed) == boxes(layout)
    with pytest.raises(InputError, match="object id 9"):
        edit.delete_object(layout, 9)
    with pytest.raises(InputError, match="object id 9"):
        edit.rename_object(layout, 9, "x")
    with pytest.raises(InputError, match="must not be empty"):
        edit.rename_object(layout, 0, "")


def test_paste_box_onto_its_object_or_as_a_new_one(layout: VideoLayout) -> None:
    onto, object_id = edit.paste_box(layout, 4.0, 1, "violin", (380, 80, 430, 220))
    assert object_id == 1 and boxes(valid(onto))[2][1] == (380.0, 80.0, 430.0, 220.0)
    new, new_id = edit.paste_box(layout, 4.0, None, "violin", (10, 10, 20, 20))
    assert new_id == 4 and valid(new).keyframes[2].object_by_id(4).name == "violin"
    gone = edit.delete_object(layout, 1)
    back, back_id = edit.paste_box(gone, 0.0, 1, "violin", (1, 2, 3, 4))
    assert back_id == 4 and edit.object_names(valid(back))[4] == "violin"


def test_paste_keyframe_shows_exactly_the_copied_boxes(layout: VideoLayout) -> None:
    copied = layout.keyframes[0].objects
    result = valid(edit.paste_keyframe(layout, 3.0, copied))
    assert result.times == [0.0, 2.0, 3.0, 4.0]
    assert boxes(result)[2] == boxes(layout)[0]
    assert result.keyframes[2].caption == "car centre"
    # Interpolated boxes (FrameBox) paste too, onto an existing keyframe whose caption stays.
    onto = valid(edit.paste_keyframe(layout, 4.0, boxes_at(layout, 1.0)))
    assert boxes(onto)[2] == {0: (95.0, 150.0, 195.0, 200.0), 1: (375.0, 80.0, 425.0, 220.0)}
    assert onto.keyframes[2].caption == "car right"


def test_paste_keyframe_gives_clashing_ids_new_ones_and_leaves_kept_objects(layout: VideoLayout) -> None:
    foreign = [LayoutObject(id=0, name="truck", box=(0, 0, 10, 10)),
               LayoutObject(id=1, name="violin", box=(5, 5, 9, 9)),
               LayoutObject(id=1, name="violin", box=(6, 6, 9, 9))]
    result = valid(edit.paste_keyframe(layout, 0.0, foreign, keep={1}))
    names = {o.id: o.name for o in result.keyframes[0].objects}
    # "truck" cannot be id 0 (the car); the second id 1 repeats; the kept violin stays as it was.
    assert names == {1: "violin", 4: "truck"}
    assert boxes(result)[0][1] == (380.0, 80.0, 430.0, 220.0)
    assert edit.object_names(result)[0] == "car"


def test_a_chain_of_edits_stays_valid(layout: VideoLayout) -> None:
    result = layout
    result = edit.set_box(result, 0.5, 0, (-50, 100, 40, 130))
    result, dog = edit.add_object(result, 1.25, "dog", (300, 200, 280, 260))
    result = edit.remove_object_at(result, 2.0, 1)
    result = edit.hold(result, 3)
    result = edit.propagate(result, 1, 0, add_missing=True)
    result = edit.paste_keyframe(result, 3.5, result.keyframes[0].objects)
    result = edit.delete_object(result, dog)
    result = edit.remove_keyframe(result, 0)
    valid(result)
    assert result.times == [0.5, 1.25, 2.0, 3.5, 4.0]
    assert boxes(result)[0][0] == (0.0, 100.0, 40.0, 130.0)


def test_set_offscreen_marks_and_unmarks_a_source_once(layout: VideoLayout) -> None:
    marked = valid(edit.set_offscreen(layout, 2, True, "narrator"))
    assert [(e.name, e.source_id) for e in marked.offscreen] == [("narrator", 2)]
    again = valid(edit.set_offscreen(marked, 2, True))  # marking twice keeps one entry, renamed
    assert [(e.name, e.source_id) for e in again.offscreen] == [("sound 2", 2)]
    assert valid(edit.set_offscreen(marked, 2, False)).offscreen == ()
    assert marked.keyframes == layout.keyframes  # no box changes


def test_follow_sounds_shows_each_object_only_where_it_is_heard() -> None:
    frames = [{"time_s": t, "caption": "", "objects": [
        {"id": 0, "name": "car", "box": [10 + 20 * k, 150, 110 + 20 * k, 200]},
        {"id": 1, "name": "dog", "box": [300, 150, 340, 200]}]} for k, t in enumerate((0.0, 2.0, 4.0, 6.0, 8.0))]
    frames[0]["objects"] = frames[0]["objects"][:1]  # the dog is missing at 0 s
    layout = VideoLayout.from_json_dict({"format": "spa2v.vsl", "version": 1, "duration_s": 8.0, "keyframes": frames})
    # The car is heard 0–3 s, the dog 0–8 s; an object with no span anywhere near a keyframe stays as it is.
    followed = valid(edit.follow_sounds(layout, {0: [(0.0, 3.0)], 1: [(0.0, 8.0)], 2: []}))
    shown = [sorted(o.id for o in frame.objects) for frame in followed.keyframes]
    assert shown == [[0, 1], [0, 1], [0, 1], [1], [1]]  # 4 s lies within half a spacing of 3 s
    assert followed.keyframes[0].object_by_id(1).box == (300.0, 150.0, 340.0, 200.0)  # from the nearest keyframe
    assert valid(edit.follow_sounds(layout, {0: [(20.0, 30.0)]})) == layout  # never heard: left alone
