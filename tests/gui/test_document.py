"""The undoable layout document: drags as one step, exact undo/redo of every command, time, locks, dirt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.document import (
    PALETTE,
    AddObject,
    DeleteObject,
    Hold,
    InsertKeyframe,
    LayoutDocument,
    MoveBox,
    Nudge,
    PasteBox,
    PasteKeyframe,
    Propagate,
    RemoveKeyframe,
    RemoveObjectAt,
    Rename,
    ReplaceLayout,
    SetCaption,
    SetColour,
    SetOffscreen,
    SetVideoCaption,
)
from engine.layout import edit
from engine.layout.model import VideoLayout

LAYOUT = {
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
            {"id": 0, "name": "car", "box": [340.0, 150.0, 440.0, 200.0]}]},
    ],
}


def layout() -> VideoLayout:
    return VideoLayout.from_json_dict(LAYOUT)


def car_box(doc: LayoutDocument, keyframe: int) -> tuple[float, ...]:
    return doc.layout.keyframes[keyframe].object_by_id(0).box


@pytest.fixture
def doc(qapp) -> LayoutDocument:
    document = LayoutDocument()
    document.set_layout(layout())
    return document


class Recorder:
    """Collects a signal's emissions."""

    def __init__(self, signal: Any) -> None:
        self.calls: list[tuple] = []
        signal.connect(lambda *args: self.calls.append(args))


# ------------------------------------------------------------------------------------------ drags


def test_a_drag_is_one_undo_step_and_undo_restores_the_exact_box_and_time(doc: LayoutDocument) -> None:
    original = doc.layout
    doc.set_time(2.0)
    changes = Recorder(doc.layoutChanged)
    for step in range(1, 21):
        assert doc.move_box(0, (180 + step, 150 - step / 3, 280 + step, 200 - step / 3), finished=False)
    assert len(changes.calls) == 20  # each step is shown…
    assert doc.undo_stack.count() == 0 and not doc.is_dirty  # …but none is a command
    assert car_box(doc, 1) == (200.0, 150 - 20 / 3, 300.0, 200 - 20 / 3)
    assert doc.move_box(0, (221.25, 140.5, 321.25, 190.5), finished=True)
    assert doc.undo_stack.count() == 1 and doc.is_dirty
    command = doc.undo_stack.command(0)
    assert isinstance(command, MoveBox) and command.text() == "Move box"
    dragged = doc.layout
    assert car_box(doc, 1) == (221.25, 140.5, 321.25, 190.5)

    doc.set_time(0.5)  # the user went elsewhere before undoing
    doc.undo_stack.undo()
    assert doc.layout is original  # the very layout from before the drag
    assert doc.time_s == 2.0
    assert not doc.is_dirty
    doc.set_time(3.0)
    doc.undo_stack.redo()
    assert doc.layout is dragged and doc.time_s == 2.0


def test_a_drag_on_an_in_between_frame_makes_one_keyframe_and_undo_removes_it(doc: LayoutDocument) -> None:
    doc.set_time(1.0)
    for x in (100, 110, 120):
        doc.move_box(0, (x, 150, x + 100, 200), finished=False)
    assert doc.layout.times == [0.0, 1.0, 2.0, 4.0]  # shown live as a keyframe…
    doc.move_box(0, (130, 150, 230, 200), finished=True)
    assert doc.layout.times == [0.0, 1.0, 2.0, 4.0]  # …and kept once
    assert doc.layout.keyframes[1].object_by_id(0).box == (130.0, 150.0, 230.0, 200.0)
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.layout.to_json_dict() == LAYOUT and doc.time_s == 1.0


def test_a_drag_that_ends_where_it_started_leaves_no_command(doc: LayoutDocument) -> None:
    original = doc.layout
    doc.set_time(1.0)  # the car is interpolated at (95, 150, 195, 200)
    doc.move_box(0, (120, 150, 220, 200), finished=False)
    # Esc: the canvas sends the starting box, rounded to 1/100 px.
    assert doc.move_box(0, (95.0, 150.0, 195.0, 200.0), finished=True)
    assert doc.undo_stack.count() == 0 and doc.layout is original


def test_another_command_during_a_drag_starts_from_the_layout_before_the_drag(doc: LayoutDocument) -> None:
    doc.move_box(0, (50, 150, 150, 200), finished=False)
    assert doc.set_video_caption("a street")
    assert car_box(doc, 0) == (10.0, 150.0, 110.0, 200.0)  # the drag was dropped, not committed
    doc.undo_stack.undo()
    assert doc.layout.to_json_dict() == LAYOUT


# ------------------------------------------------------------------------------------------ every command


def copy_box_at(time_s: float, object_id: int) -> Callable[[LayoutDocument], Any]:
    def copy(doc: LayoutDocument) -> None:
        doc.set_time(time_s)
        assert doc.copy_box(object_id)
    return copy


def copy_keyframe_at(time_s: float) -> Callable[[LayoutDocument], Any]:
    def copy(doc: LayoutDocument) -> None:
        doc.set_time(time_s)
        assert doc.copy_keyframe()
    return copy


def select(object_id: int) -> Callable[[LayoutDocument], Any]:
    return lambda doc: doc.set_selected(object_id)


# (name, command type, set-up or None, time of the edit, the edit, time the command returns to)
COMMANDS = [
    ("move", MoveBox, None, 2.0, lambda d: d.move_box(0, (1, 2, 30, 40), finished=True), 2.0),
    ("move-in-between", MoveBox, None, 1.0, lambda d: d.move_box(1, (1, 2, 30, 40), finished=True), 1.0),
    ("nudge", Nudge, select(0), 0.0, lambda d: d.nudge(0, -10), 0.0),
    ("add", AddObject, None, 1.0, lambda d: d.add_object("dog", (5, 5, 25, 25)) == 2, 1.0),
    ("remove-at", RemoveObjectAt, None, 1.0, lambda d: d.remove_object_at(1), 1.0),
    ("delete", DeleteObject, None, 3.0, lambda d: d.delete_object(1), 3.0),
    ("rename", Rename, None, 0.0, lambda d: d.rename(1, "cello"), 0.0),
    ("insert-keyframe", InsertKeyframe, None, 3.0, lambda d: d.insert_keyframe(), 3.0),
    ("toggle-keyframe-on", InsertKeyframe, None, 0.5, lambda d: d.toggle_keyframe(), 0.5),
    ("toggle-keyframe-off", RemoveKeyframe, None, 2.0, lambda d: d.toggle_keyframe(), 2.0),
    ("remove-keyframe", RemoveKeyframe, None, 1.0, lambda d: d.remove_keyframe(2), 4.0),
    ("hold", Hold, None, 4.0, lambda d: d.hold(), 4.0),
    ("hold-in-between", Hold, None, 3.0, lambda d: d.hold(), 3.0),
    ("hold-by-index", Hold, None, 0.0, lambda d: d.hold(2), 4.0),
    ("propagate", Propagate, None, 0.0, lambda d: d.propagate(0, add_missing=True), 0.0),
    ("propagate-selected", Propagate, select(1), 0.0, lambda d: d.propagate(), 0.0),
    ("paste-box", PasteBox, copy_box_at(0.0, 1), 4.0, lambda d: d.paste_box(), 4.0),
    ("paste-box-new", PasteBox, copy_box_at(1.0, 1), 2.0, lambda d: d.paste_box(as_new=True), 2.0),
    ("paste-keyframe", PasteKeyframe, copy_keyframe_at(0.0), 3.0, lambda d: d.paste_keyframe(), 3.0),
    ("caption", SetCaption, None, 0.0, lambda d: d.set_caption(1, "the middle"), 2.0),
    ("caption-here", SetCaption, None, 4.0, lambda d: d.set_caption(None, "gone"), 4.0),
    ("video-caption", SetVideoCaption, None, 1.5, lambda d: d.set_video_caption("a street"), 1.5),
    ("offscreen", SetOffscreen, None, 1.0, lambda d: d.set_offscreen(3, True, "narrator"), 1.0),
    ("plan", ReplaceLayout, None, 1.0, lambda d: d.replace_layout(edit.delete_object(layout(), 0)), 1.0),
]


@pytest.mark.parametrize(("kind", "command_type", "setup", "edit_at_s", "action", "made_at_s"), COMMANDS,
                         ids=[c[0] for c in COMMANDS])
def test_every_command_undoes_and_redoes_exactly(doc: LayoutDocument, kind: str, command_type: type,
                                                 setup: Callable | None, edit_at_s: float, action: Callable,
                                                 made_at_s: float) -> None:
    if setup is not None:
        setup(doc)
    doc.set_time(edit_at_s)
    assert action(doc) is True
    assert doc.undo_stack.count() == 1
    assert type(doc.undo_stack.command(0)) is command_type
    after = doc.layout
    assert after.to_json_dict() != LAYOUT
    assert doc.time_s == edit_at_s  # pushing a command never moves the time

    doc.set_time(0.25)
    doc.undo_stack.undo()
    assert doc.layout.to_json_dict() == LAYOUT
    assert doc.time_s == made_at_s  # back to the frame where the change was made
    doc.set_time(0.75)
    doc.undo_stack.redo()
    assert doc.layout is after and doc.layout.to_json_dict() == after.to_json_dict()
    assert doc.time_s == made_at_s
    assert doc.is_dirty


def test_set_colour_is_undoable_and_the_palette_is_fixed_by_id(doc: LayoutDocument) -> None:
    assert doc.colour(0) == PALETTE[0] and doc.colour(11) == PALETTE[1]
    states = Recorder(doc.objectStateChanged)
    doc.set_time(2.0)
    assert doc.set_colour(1, "#123456")
    assert doc.colour(1) == "#123456" and states.calls == [(1,)]
    assert isinstance(doc.undo_stack.command(0), SetColour) and doc.is_dirty
    doc.set_time(0.0)
    doc.undo_stack.undo()
    assert doc.colour(1) == PALETTE[1] and doc.time_s == 2.0
    doc.undo_stack.redo()
    assert doc.colour(1) == "#123456"
    assert doc.set_colour(1, "#123456") and doc.undo_stack.count() == 1  # no change, no command
    assert doc.set_colour(1, "not a colour") is False and doc.undo_stack.count() == 1
    assert doc.layout.to_json_dict() == LAYOUT


def test_commands_restore_the_selection_around_them(doc: LayoutDocument) -> None:
    selections = Recorder(doc.selectionChanged)
    doc.set_time(2.0)
    new_id = doc.add_object("dog", (5, 5, 25, 25))
    assert doc.selected == new_id and selections.calls[-1] == (new_id,)
    doc.undo_stack.undo()
    assert doc.selected is None  # the dog is gone
    doc.undo_stack.redo()
    assert doc.selected == new_id
    doc.set_selected(1)
    doc.delete_object(1)
    assert doc.selected is None
    doc.undo_stack.undo()
    assert doc.selected == 1


# ------------------------------------------------------------------------------------------ nudges and locks


def test_nudges_of_one_object_at_one_time_merge(doc: LayoutDocument) -> None:
    doc.set_selected(0)
    for _ in range(3):
        assert doc.nudge(1, 0)
    assert doc.nudge(0, 10)  # Shift: 10 px
    assert doc.undo_stack.count() == 1
    assert car_box(doc, 0) == (13.0, 160.0, 113.0, 210.0)
    doc.set_selected(1)
    doc.nudge(-1, 0)  # another object: another command
    doc.set_time(2.0)
    doc.nudge(-1, 0)  # another frame: another command
    assert doc.undo_stack.count() == 3
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.layout.to_json_dict() == LAYOUT and doc.time_s == 0.0


def test_nudging_back_to_the_start_leaves_no_command_and_the_edge_stops_a_nudge(doc: LayoutDocument) -> None:
    doc.set_selected(0)
    doc.nudge(5, 0)
    doc.nudge(-5, 0)
    assert doc.undo_stack.count() == 0 and doc.layout.to_json_dict() == LAYOUT
    doc.nudge(-100, 0)
    assert car_box(doc, 0) == (0.0, 150.0, 100.0, 200.0)  # stopped at the edge, size kept
    assert doc.nudge(-1, 0) and doc.undo_stack.count() == 1


def test_locked_objects_refuse_edits(doc: LayoutDocument) -> None:
    refusals = Recorder(doc.editRefused)
    doc.set_locked(0, True)
    doc.set_selected(0)
    doc.set_time(1.0)
    assert doc.copy_box()  # copying reads only
    attempts = [
        lambda: doc.move_box(0, (0, 0, 50, 50), finished=False),
        lambda: doc.move_box(0, (0, 0, 50, 50), finished=True),
        lambda: doc.nudge(1, 0),
        lambda: doc.remove_object_at(0),
        lambda: doc.delete_object(0),
        lambda: doc.rename(0, "truck"),
        lambda: doc.propagate(0),
        lambda: doc.paste_box(),
    ]
    for attempt in attempts:
        assert attempt() is False
    assert doc.undo_stack.count() == 0 and doc.layout.to_json_dict() == LAYOUT
    assert len(refusals.calls) == len(attempts)
    assert "car (0) is locked" in doc.last_refusal
    assert doc.paste_box(as_new=True)  # a new object is not locked
    doc.set_locked(0, False)
    assert doc.nudge(1, 0)


def test_hold_and_paste_keyframe_leave_locked_objects_as_they_were(doc: LayoutDocument) -> None:
    doc.set_locked(0, True)
    doc.set_time(4.0)
    assert doc.hold()
    frame = doc.layout.keyframes[2]
    assert frame.object_by_id(0).box == (340.0, 150.0, 440.0, 200.0)  # locked: kept
    assert frame.object_by_id(1).box == (370.0, 80.0, 420.0, 220.0)  # held from keyframe 1
    doc.set_time(0.0)
    doc.copy_keyframe()
    doc.set_time(2.0)
    assert doc.paste_keyframe()
    assert car_box(doc, 1) == (180.0, 150.0, 280.0, 200.0)
    assert doc.layout.keyframes[1].object_by_id(1).box == (380.0, 80.0, 430.0, 220.0)


def test_a_lock_during_a_drag_drops_the_drag(doc: LayoutDocument) -> None:
    doc.move_box(0, (50, 150, 150, 200), finished=False)
    doc.set_locked(0, True)
    assert doc.layout.to_json_dict() == LAYOUT
    assert doc.move_box(0, (60, 150, 160, 200), finished=True) is False
    assert doc.undo_stack.count() == 0


def test_impossible_edits_are_refused_with_the_reason(doc: LayoutDocument) -> None:
    refusals = Recorder(doc.editRefused)
    doc.set_time(1.0)
    assert doc.remove_keyframe() is False and "no keyframe at 1.000 s" in doc.last_refusal
    assert doc.rename(0, "   ") is False and "must not be empty" in doc.last_refusal
    assert doc.hold(0) is False and "first keyframe" in doc.last_refusal
    assert doc.remove_object_at(7) is False and "object id 7" in doc.last_refusal
    assert doc.paste_keyframe() is False and "copy a keyframe first" in doc.last_refusal
    assert doc.nudge(1, 1) is False and "select a box" in doc.last_refusal
    assert len(refusals.calls) == 6
    single = LayoutDocument()
    single.set_layout(edit.remove_keyframe(edit.remove_keyframe(layout(), 2), 1))
    assert single.remove_keyframe() is False and "at least one keyframe" in single.last_refusal
    assert doc.undo_stack.count() == 0 and doc.layout.to_json_dict() == LAYOUT
    empty = LayoutDocument()
    assert empty.move_box(0, (0, 0, 1, 1), finished=True) is False and "no layout" in empty.last_refusal
    assert empty.add_object("car", (0, 0, 10, 10)) is None


# ------------------------------------------------------------------------------------------ plan, load, dirt


def test_replace_layout_is_one_command_called_plan(doc: LayoutDocument) -> None:
    planned = edit.set_video_caption(edit.delete_object(layout(), 1), "planned")
    doc.set_selected(1)
    assert doc.replace_layout(planned)
    assert doc.layout is planned and doc.undo_stack.undoText() == "Plan" and doc.selected is None
    doc.undo_stack.undo()
    assert doc.layout.to_json_dict() == LAYOUT and doc.selected == 1
    assert doc.replace_layout(planned, text="Revise") and doc.undo_stack.undoText() == "Revise"


def test_the_first_plan_can_be_undone_to_no_layout(qapp) -> None:
    doc = LayoutDocument()
    doc.set_layout(None)
    doc.replace_layout(layout())
    assert doc.layout is not None and doc.is_dirty
    doc.undo_stack.undo()
    assert doc.layout is None and not doc.is_dirty


def test_the_dirty_flag_follows_the_clean_state(doc: LayoutDocument) -> None:
    dirt = Recorder(doc.dirtyChanged)
    assert not doc.is_dirty
    doc.set_video_caption("a street")
    assert doc.is_dirty and dirt.calls == [(True,)]
    doc.undo_stack.undo()
    assert not doc.is_dirty and dirt.calls == [(True,), (False,)]
    doc.undo_stack.redo()
    doc.set_clean()  # saved
    assert not doc.is_dirty and dirt.calls[-1] == (False,)
    doc.undo_stack.undo()
    assert doc.is_dirty  # the saved file has the new caption
    doc.set_layout(layout())
    assert not doc.is_dirty and doc.undo_stack.count() == 0
    doc.set_layout(layout(), clean=False)  # recovered from an autosave: unsaved
    assert doc.is_dirty


def test_set_layout_resets_history_display_state_and_selection(doc: LayoutDocument) -> None:
    doc.set_colour(0, "#abcdef")
    doc.set_locked(1, True)
    doc.set_visible(0, False)
    doc.set_selected(1)
    state = doc.display_state()
    assert state == {"colours": {"0": "#abcdef"}, "hidden": [0], "locked": [1]}
    doc.set_layout(edit.delete_object(layout(), 1))
    assert doc.undo_stack.count() == 0 and doc.selected is None
    assert doc.colour(0) == PALETTE[0] and doc.is_visible(0) and not doc.is_locked(1)
    doc.set_display_state(state)
    assert doc.colour(0) == "#abcdef" and not doc.is_visible(0) and doc.is_locked(1)


# ------------------------------------------------------------------------------------------ time


def test_keyframe_navigation(doc: LayoutDocument) -> None:
    assert doc.next_keyframe_time(0.0) == 2.0
    assert doc.next_keyframe_time(2.0005) == 4.0  # on a keyframe (within 1 ms): the one after
    assert doc.next_keyframe_time(4.0) == 4.0  # none later: stay
    assert doc.previous_keyframe_time(3.0) == 2.0
    assert doc.previous_keyframe_time(2.0) == 0.0
    assert doc.previous_keyframe_time(0.0) == 0.0
    doc.set_time(1.0)
    assert doc.next_keyframe_time() == 2.0 and doc.keyframe_index() is None
    doc.set_time(2.0)
    assert doc.keyframe_index() == 1


def test_frame_times_and_stepping(doc: LayoutDocument) -> None:
    times = doc.frame_times()
    assert len(times) == 32  # round(4 s × 8 fps)
    assert times[0] == 0.0 and times[-1] == 4.0 and times[1] == pytest.approx(4 / 31)
    assert doc.step_frame(+1) == times[1]
    assert doc.step_frame(-1) == 0.0  # stays inside the clip
    doc.set_time(times[5])
    assert doc.step_frame(+1) == times[6] and doc.step_frame(-1) == times[4] and doc.step_frame(+3) == times[8]
    doc.set_time((times[5] + times[6]) / 2)  # between two frames
    assert doc.step_frame(+1) == times[6] and doc.step_frame(-1) == times[5]
    assert doc.step_frame(+100) == 4.0
    assert len(doc.frame_times(10.0)) == 80
    assert LayoutDocument(fps=2).frame_times(4.0) == [0.0, 4 / 7, 8 / 7, 12 / 7, 16 / 7, 20 / 7, 24 / 7, 4.0]
    assert LayoutDocument().frame_times() == [0.0]


def test_time_signals_come_once_per_change_and_from_undo(doc: LayoutDocument) -> None:
    times = Recorder(doc.timeChanged)
    doc.set_time(1.5)
    doc.set_time(1.5)
    assert times.calls == [(1.5,)]
    doc.set_video_caption("x")
    assert times.calls == [(1.5,)]
    doc.set_time(3.0)
    doc.undo_stack.undo()
    assert times.calls == [(1.5,), (3.0,), (1.5,)]


def test_menu_actions_can_call_the_document_directly(doc: LayoutDocument) -> None:
    """``QAction.triggered(checked)`` passes False to a slot: that must not mean object or keyframe 0."""
    from PySide6.QtGui import QAction

    doc.set_selected(1)
    doc.set_time(0.0)
    actions = {}
    for name in ("copy_box", "paste_box", "propagate", "hold", "remove_keyframe"):
        actions[name] = QAction(name)
        actions[name].triggered.connect(getattr(doc, name))
    actions["copy_box"].trigger()
    assert doc.can_paste_box and doc.copied_box.object_id == 1
    actions["propagate"].trigger()
    assert doc.undo_stack.undoText() == "Propagate box"
    # The violin (selected) was propagated, not the car (id 0 == False).
    assert doc.layout.keyframes[1].object_by_id(1).box == (380.0, 80.0, 430.0, 220.0)
    assert car_box(doc, 1) == (180.0, 150.0, 280.0, 200.0)
    doc.set_time(4.0)
    actions["hold"].trigger()
    assert doc.undo_stack.undoText() == "Hold keyframe" and doc.layout.keyframes[2].object_by_id(1) is not None
    actions["remove_keyframe"].trigger()
    assert doc.layout.times == [0.0, 2.0] and doc.undo_stack.count() == 3
