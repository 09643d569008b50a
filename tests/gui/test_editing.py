"""Editing in the studio: the document's undo, the canvas → document → views loop, plan in the window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.document import LayoutDocument
from app.editor import EditorController
from engine.layout import edit
from engine.layout.model import VideoLayout

LAYOUT = {
    "format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256}, "duration_s": 4.0,
    "reasoning": "", "video_caption": "a car passes a violin",
    "keyframes": [
        {"time_s": 0.0, "caption": "car left", "objects": [{"id": 0, "name": "car", "box": [10, 150, 110, 200]},
                                                           {"id": 1, "name": "violin", "box": [380, 80, 430, 220]}]},
        {"time_s": 2.0, "caption": "car centre", "objects": [{"id": 0, "name": "car", "box": [180, 150, 280, 200]}]},
        {"time_s": 4.0, "caption": "car right", "objects": [{"id": 0, "name": "car", "box": [340, 150, 440, 200]}]},
    ],
}


def layout() -> VideoLayout:
    return VideoLayout.from_json_dict(LAYOUT)


def test_editing_between_keyframes_makes_a_keyframe_with_the_boxes_shown_there() -> None:
    edited = edit.set_box(layout(), 1.0, 0, (100, 140, 200, 190))
    assert [k.time_s for k in edited.keyframes] == [0.0, 1.0, 2.0, 4.0]
    inserted = edited.keyframes[1]
    assert inserted.caption == "car left"  # the caption of the keyframe before
    assert [o.box for o in inserted.objects] == [(100.0, 140.0, 200.0, 190.0)]
    # Boxes are kept inside the canvas and in order.
    assert edit.clamp_box(edited, (500, -5, 440, 10)) == (440.0, 0.0, 454.0, 10.0)


def test_a_drag_is_one_undo_step_and_undo_returns_to_its_frame(qtbot) -> None:
    doc = LayoutDocument()
    doc.set_layout(layout())
    doc.set_time(2.0)
    for x in (190, 200, 210):
        assert doc.move_box(0, (x, 150, x + 100, 200), finished=False)
    assert doc.undo_stack.count() == 0  # live steps change only what is shown
    assert doc.layout.keyframes[1].objects[0].box == (210.0, 150.0, 310.0, 200.0)
    doc.move_box(0, (220, 150, 320, 200), finished=True)
    assert doc.undo_stack.count() == 1 and doc.is_dirty
    doc.set_time(0.5)
    doc.undo_stack.undo()
    assert doc.layout.to_json_dict() == layout().to_json_dict()
    assert doc.time_s == 2.0  # back where the change was made
    doc.undo_stack.redo()
    assert doc.layout.keyframes[1].objects[0].box == (220.0, 150.0, 320.0, 200.0)


def test_locked_objects_refuse_edits_and_nudges_merge(qtbot) -> None:
    doc = LayoutDocument()
    doc.set_layout(layout())
    doc.set_locked(1, True)
    assert doc.move_box(1, (0, 0, 50, 50), finished=True) is False and doc.undo_stack.count() == 0
    doc.set_selected(0)
    for _ in range(3):
        doc.nudge(1, 0)
    assert doc.undo_stack.count() == 1
    assert doc.layout.keyframes[0].objects[0].box == (13.0, 150.0, 113.0, 200.0)


def test_a_box_dragged_on_the_canvas_lands_in_the_layout(qtbot) -> None:
    editor = EditorController()
    editor.canvas.resize(640, 400)
    editor.canvas.show()
    qtbot.waitExposed(editor.canvas)
    editor.document.set_layout(layout())
    editor.set_time(2.0)
    viewport = editor.canvas.viewport()
    start = editor.canvas.mapFromScene(230, 175)
    end = editor.canvas.mapFromScene(260, 175)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(viewport, start + QPoint(round((end.x() - start.x()) * step / 5), 0))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    box = editor.document.layout.keyframes[1].objects[0].box
    assert box[0] == pytest.approx(210, abs=3) and editor.document.undo_stack.count() == 1
    editor.document.undo_stack.undo()
    assert editor.document.layout.keyframes[1].objects[0].box == (180.0, 150.0, 280.0, 200.0)
    editor.shutdown()


def test_the_views_follow_the_document(qtbot) -> None:
    editor = EditorController()
    editor.document.set_layout(layout())
    editor.set_time(1.0)  # between keyframes: the car is interpolated, the violin is gone
    shown = {b.object_id: b for b in editor.canvas.boxes()}
    assert set(shown) == {0} and not shown[0].is_keyframe
    assert [lane.name for lane in editor.timeline.lanes] == ["car", "violin"]
    editor.document.rename(0, "truck")
    assert editor.canvas.boxes()[0].name == "truck"
    editor.shutdown()


def _reopened(qtbot, window, saved: Path):
    """A second studio window, like ``window``, with the project ``saved`` opened and shown."""
    from app.window import StudioWindow

    other = StudioWindow(player=window.player.__class__(stream_factory=lambda *a: None), analyze_fn=window.analyze_fn)
    qtbot.addWidget(other)
    other.ask_to_save = False
    other.open_file(saved)
    qtbot.waitUntil(lambda: other.editor.document.layout is not None and not other.runner.busy, timeout=10000)
    return other


def test_the_window_plans_on_open_and_a_saved_project_reopens_the_same(qtbot, window, stereo_wav, tmp_path,
                                                                        monkeypatch) -> None:
    from engine.project import load_project
    from tests.gui.conftest import load_and_wait

    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))  # recovery files stay in the test's folder
    window.ask_to_save = False
    load_and_wait(qtbot, window, stereo_wav)
    doc = window.editor.document
    qtbot.waitUntil(lambda: doc.layout is not None, timeout=10000)  # the first plan, offline
    assert not doc.is_dirty  # the first plan is where editing starts, not an edit
    object_id = doc.layout.object_ids()[0]
    doc.move_box(object_id, (20, 30, 120, 130), finished=True)
    doc.set_colour(object_id, "#123456")
    assert doc.is_dirty and window.windowTitle().startswith("*")
    saved = tmp_path / "scene.spa2v"
    assert window._write_project(saved) and not doc.is_dirty
    project, _warnings = load_project(saved)
    assert project.layout.to_json_dict() == doc.layout.to_json_dict()

    other = _reopened(qtbot, window, saved)
    assert other.editor.document.layout.to_json_dict() == doc.layout.to_json_dict()
    assert other.editor.document.colour(object_id) == "#123456"
    assert other.project_path == saved and "scene.spa2v" in other.windowTitle()
    other.shutdown()


def test_every_editing_shortcut_is_in_its_tooltip_and_the_cheat_sheet(qtbot, window) -> None:
    sheet = window.shortcuts_text()
    for action in window.shortcut_actions:
        key = action.shortcut().toString()
        assert key and key in sheet, action.text()
        if action.toolTip() and action.toolTip() != action.text().replace("&", ""):
            assert key in action.toolTip(), action.text()
    for key in ("Ctrl+Z", "Ctrl+Shift+Z", "Right", "Left", ".", ",", "K", "Del", "Space"):
        assert key in sheet


def test_after_a_crash_the_autosaved_project_is_offered_and_restored(qtbot, window, stereo_wav, tmp_path,
                                                                      monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.project_store import Autosaver
    from engine.project import Project

    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    crashed = Autosaver(lambda: Project.new(stereo_wav, layout=layout()))
    crashed.mark_dirty()
    assert crashed.save_now()
    crashed.close(keep_recovery=True)  # the studio died: the recovery file stays
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.ask_to_save = False
    assert window.offer_recovery()
    qtbot.waitUntil(lambda: window.editor.document.layout is not None and not window.runner.busy, timeout=10000)
    assert window.editor.document.layout.to_json_dict() == layout().to_json_dict()


def test_the_rendered_video_plays_on_the_canvas_at_the_playhead(qtbot, tmp_path) -> None:
    from app.tasks import RenderOutcome

    editor = EditorController()
    editor.document.set_layout(layout())
    frames = np.zeros((32, 80, 128, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(32, dtype=np.uint8)[:, None, None] * 8  # each frame its own red
    editor._on_render(RenderOutcome({"frames_array": frames, "fps": 8.0, "frames": 32}, tmp_path / "x.mp4"))
    editor.set_time(2.0)  # frame 16 at 8 fps
    assert editor._shown_frame == 16
    image = editor.canvas._background.pixmap().toImage()
    assert image.pixelColor(10, 10).red() == 16 * 8
    editor.set_show_video(False)
    assert not editor.canvas._background.isVisible()
    editor.shutdown()


def _with_violin_at(layout: VideoLayout, azimuth_deg: float) -> VideoLayout:
    """``layout`` with the violin's (object 1's) box standing at ``azimuth_deg`` in every keyframe."""
    from engine.planner.camera import Camera

    box = list(Camera().box(azimuth_deg, 6.0, "violin"))
    data = layout.to_json_dict()
    for frame in data["keyframes"]:
        frame["objects"] = [{**obj, "box": box} if obj["id"] == 1 else obj for obj in frame["objects"]]
    return VideoLayout.from_json_dict(data)


def _agreeing_layout() -> VideoLayout:
    """Boxes where build_analysis's sources are heard: the car stays at −40°, the violin goes −30° → +45°."""
    from engine.planner.camera import Camera

    camera = Camera()
    frames = []
    for k, t in enumerate((0.0, 2.0, 4.0)):
        violin_az = -30.0 + 75.0 * t / 4.0
        frames.append({"time_s": t, "caption": f"frame {k}", "objects": [
            {"id": 0, "name": "car", "box": list(camera.box(-40.0, 6.0, "car"))},
            {"id": 1, "name": "violin", "box": list(camera.box(violin_az, 6.0, "violin"))}]})
    return VideoLayout.from_json_dict({**LAYOUT, "keyframes": frames})


def test_a_box_dragged_away_from_its_sound_is_flagged_live_and_undo_clears_it(qtbot) -> None:
    from tests.gui.conftest import build_analysis

    editor = EditorController()
    editor.canvas.resize(640, 400)
    editor.canvas.show()
    qtbot.waitExposed(editor.canvas)
    editor.set_recording(None, build_analysis(4.0), 4.0)
    editor.document.set_layout(_agreeing_layout())
    editor.set_time(2.0)
    assert editor.check_report.ok and not any(b.flag for b in editor.canvas.boxes())
    assert [row[-1] for row in editor.objects.row_texts()] == ["✓ agrees", "✓ agrees"]

    car = next(b for b in editor.canvas.boxes() if b.object_id == 0)
    viewport = editor.canvas.viewport()
    start = editor.canvas.mapFromScene((car.box[0] + car.box[2]) / 2, (car.box[1] + car.box[3]) / 2)
    end = editor.canvas.mapFromScene(400, (car.box[1] + car.box[3]) / 2)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    flagged_mid_drag = []
    for step in range(1, 9):
        qtbot.mouseMove(viewport, start + QPoint(round((end.x() - start.x()) * step / 8), 0))
        flagged_mid_drag.append(bool(next(b for b in editor.canvas.boxes() if b.object_id == 0).flag))
    assert flagged_mid_drag[-1] and not flagged_mid_drag[0]  # the verdict follows the drag, before the release
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)

    shown = {b.object_id: b for b in editor.canvas.boxes()}
    assert "but its sound is heard at -39°" in shown[0].flag and not shown[1].flag  # the dragged box, not its neighbour
    assert not editor.check_report.ok
    rows = editor.objects.row_texts()
    assert rows[0][-1] == "⚠ 1 issue" and rows[1][-1] == "✓ agrees"
    editor.document.undo_stack.undo()
    assert editor.check_report.ok and not any(b.flag for b in editor.canvas.boxes())
    editor.shutdown()


def test_a_box_dragged_from_its_sound_is_still_the_flagged_one_when_the_project_is_opened_again(
        qtbot, window, stereo_wav, tmp_path, monkeypatch) -> None:
    from tests.gui.conftest import load_and_wait

    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    window.ask_to_save = False
    load_and_wait(qtbot, window, stereo_wav)
    editor = window.editor
    qtbot.waitUntil(lambda: editor.document.layout is not None, timeout=10000)
    editor.document.replace_layout(_agreeing_layout())
    assert editor.check_report.ok
    # The violin's box dragged far to the left, onto the car's side: matched afresh, the car's box would take the
    # violin's moving sound and the car be flagged; the editor keeps the matching, so the violin is.
    dragged = _with_violin_at(_agreeing_layout(), -60.0)
    editor.document.replace_layout(dragged, text="Drag")
    flagged = [o.id for o in editor.check_report.objects if o.flags]
    assert flagged == [1]
    saved = tmp_path / "scene.spa2v"
    assert window._write_project(saved)

    other = _reopened(qtbot, window, saved)
    assert other.editor.document.layout.to_json_dict() == dragged.to_json_dict()
    assert [o.id for o in other.editor.check_report.objects if o.flags] == flagged
    other.shutdown()


def test_the_user_says_which_sound_a_box_stands_for_in_one_undoable_step(qtbot) -> None:
    from tests.gui.conftest import build_analysis

    offered = []

    def pick_source_1(choices, current, _parent):
        offered.append((list(choices), current))
        return True, 1

    editor = EditorController()
    editor.objects.source_picker = pick_source_1
    editor.set_recording(None, build_analysis(4.0), 4.0)
    # The violin's box stands far left; matched afresh (as a layout opened from a file is), the car's box takes
    # the violin's moving sound and the car is the one flagged.
    editor.document.set_layout(_with_violin_at(_agreeing_layout(), -60.0))
    assert editor.checker.matches == {0: 1, 1: 0}
    assert [row[-1] for row in editor.objects.row_texts()] == ["⚠ 2 issues", "✓ agrees"]

    violin_row = editor.objects.row_of(1)
    sound_column = editor.objects.table.columnCount() - 1
    assert "double-click to choose" in editor.objects.table.item(violin_row, sound_column).toolTip()
    editor.objects._on_double_click(violin_row, sound_column)
    choices, current = offered[-1]
    assert current == 0 and [c[0] for c in choices] == [0, 1, None]
    assert choices[1][1] == "#1: right, moving right (-30° → +45°)"
    assert editor.checker.matches == {1: 1, 0: 0}  # the car is matched anew, to the sound left over
    assert [row[-1] for row in editor.objects.row_texts()] == ["✓ agrees", "⚠ 2 issues"]
    assert editor.document.is_dirty
    editor.document.undo_stack.undo()
    assert editor.checker.matches == {1: 0, 0: 1}
    assert [row[-1] for row in editor.objects.row_texts()] == ["⚠ 2 issues", "✓ agrees"]
    editor.shutdown()


def test_two_boxes_with_one_label_show_which_one_is_heard(qtbot) -> None:
    from engine.planner.camera import Camera
    from tests.gui.conftest import build_analysis

    camera = Camera()
    analysis = build_analysis(4.0)
    analysis.sources[:] = analysis.sources[:1]  # one car heard, at −40°
    two_cars = VideoLayout.from_json_dict({**LAYOUT, "keyframes": [{"time_s": 0.0, "caption": "", "objects": [
        {"id": 0, "name": "car", "box": list(camera.box(35.0, 6.0, "car"))},
        {"id": 1, "name": "car", "box": list(camera.box(-40.0, 6.0, "car"))}]}]})
    editor = EditorController()
    editor.set_recording(None, analysis, 4.0)
    editor.document.set_layout(two_cars)
    editor.set_time(0.0)
    assert {b.object_id: b.sounding for b in editor.canvas.boxes()} == {0: False, 1: True}
    editor.shutdown()


def test_objects_follow_their_sounds_in_one_undoable_step(qtbot) -> None:
    from engine.audition.events import SourceEvents
    from tests.gui.conftest import build_analysis

    editor = EditorController()
    editor.set_recording(None, build_analysis(4.0), 4.0)
    editor.document.set_layout(_agreeing_layout())
    # The car (source 0) is heard only at the start.
    editor.events = [SourceEvents(0, [(0.0, 0.5)]), SourceEvents(1, [(0.0, 4.0)])]
    assert editor.follow_sounds()
    shown = [sorted(o.id for o in frame.objects) for frame in editor.document.layout.keyframes]
    assert shown == [[0, 1], [1], [1]]
    assert editor.document.undo_stack.undoText() == "Follow the sounds"
    editor.document.undo_stack.undo()
    assert editor.document.layout == _agreeing_layout()
    empty = EditorController()
    assert not empty.follow_sounds()  # nothing open: a message, no change
    empty.shutdown()
    editor.shutdown()


def test_a_recovered_project_whose_recording_moved_can_be_pointed_at_it(qtbot, window, stereo_wav, tmp_path,
                                                                      monkeypatch) -> None:
    import shutil

    from PySide6.QtWidgets import QMessageBox

    from app.project_store import Autosaver
    from engine.project import Project

    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    gone = tmp_path / "gone.wav"
    shutil.copy(stereo_wav, gone)
    crashed = Autosaver(lambda: Project.new(gone, layout=layout()))
    crashed.mark_dirty()
    assert crashed.save_now()
    crashed.close(keep_recovery=True)
    gone.unlink()  # the recording moved after the crash
    asked: list[Path | None] = []
    window.locate_recording = lambda project, audio: (asked.append(audio), stereo_wav)[1]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.ask_to_save = False
    assert window.offer_recovery()
    qtbot.waitUntil(lambda: window.editor.document.layout is not None and not window.runner.busy, timeout=10000)
    assert asked == [gone] and window.loaded.path == stereo_wav
    assert window.editor.document.layout.to_json_dict() == layout().to_json_dict()
    assert window.editor.document.is_dirty  # restored work is unsaved work


def test_a_layout_file_opens_on_the_recording_it_names_as_a_new_project(qtbot, window, stereo_wav, tmp_path,
                                                                       monkeypatch) -> None:
    """File → Open on a ``.vsl.json`` (from ``plan --out`` or edited by hand): its recording is analysed and the
    layout shown as it is, not re-planned; it is a new project, so saving never writes over the one open before."""
    import json

    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    errors: list[str] = []
    window.show_error = errors.append
    window.ask_to_save = False
    data = layout().to_json_dict()
    data["audio"] = str(stereo_wav)
    path = tmp_path / "planned.vsl.json"
    path.write_text(json.dumps(data))
    window.project_path = tmp_path / "earlier.spa2v"
    window.open_file(path)
    qtbot.waitUntil(lambda: window.editor.document.layout is not None and not window.runner.busy, timeout=10000)
    assert errors == [] and window.loaded.path == stereo_wav
    assert window.editor.document.layout.to_json_dict() == VideoLayout.from_json_dict(data).to_json_dict()
    assert window.project_path is None and "earlier" not in window.windowTitle()

    broken = tmp_path / "broken.vsl.json"
    broken.write_text(json.dumps({**data, "keyframes": "none"}))
    window.open_file(broken)
    assert len(errors) == 1 and "broken.vsl.json" in errors[0] and "keyframes" in errors[0]
    assert window.editor.document.layout.to_json_dict() == VideoLayout.from_json_dict(data).to_json_dict()

    nowhere = tmp_path / "nowhere.vsl.json"
    nowhere.write_text(json.dumps({**data, "audio": str(tmp_path / "gone.wav")}))
    window.locate_recording = lambda _path, _audio: None  # the user declines to look for it
    window.open_file(nowhere)
    assert len(errors) == 2 and "gone.wav" in errors[1] and "which is not there" in errors[1]


def test_a_saved_project_keeps_its_planner_render_analysis_and_view_settings(qtbot, window, stereo_wav, tmp_path,
                                                                            monkeypatch) -> None:
    """Saving wrote only the layout and the boxes' looks: the planner's label hints, the render settings, the
    analysis settings (a forced recording kind) and the view toggles went back to the defaults."""
    from app.playback import Player
    from app.window import StudioWindow
    from engine.project import (
        AnalysisOptions,
        EditState,
        PlannerOptions,
        Project,
        RenderOptions,
        load_project,
        save_project,
    )
    from tests.gui.conftest import fast_analyze

    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    heard_with: list = []

    def analyze(audio, settings=None, progress=None, is_cancelled=None):
        heard_with.append(settings)
        return fast_analyze(audio, settings, progress, is_cancelled)

    project = Project.new(
        stereo_wav, layout=layout(),
        analysis_settings=AnalysisOptions(kind="panpot", level_change_db=5.0),
        planner=PlannerOptions(kind="llm", labels=("car@left", "violin"), keyframes=4, k=2, temperature=0.8,
                               provider="gemini", model="gemini-2.0-flash"),
        render=RenderOptions(generator="animatic", steps=7, seed=3, fps=12.0, frames=24, size=(384, 240),
                             grounding="soft", grounding_strength=2.5, grounding_steps=0.6, scheduler="euler"),
        edit_state=EditState(time_s=1.5, selected=(1,), onion=True, paths=False))
    original = tmp_path / "original.spa2v"
    save_project(project, original)

    studio = StudioWindow(player=Player(stream_factory=lambda *a: None), analyze_fn=analyze)
    qtbot.addWidget(studio)
    studio.ask_to_save = False
    studio.open_file(original)
    qtbot.waitUntil(lambda: studio.editor.document.layout is not None and not studio.runner.busy, timeout=10000)
    assert heard_with[-1].kind.value == "panpot" and heard_with[-1].level_change_db == 5.0
    assert studio.editor.planner.settings().labels == "car@left, violin"
    assert studio.editor.render.settings().steps == 7 and studio.editor.render.settings().scheduler == "euler"
    assert studio.editor.document.selected == 1
    assert studio.view_actions["onion"].isChecked() and not studio.view_actions["paths"].isChecked()

    resaved = tmp_path / "resaved.spa2v"
    assert studio._write_project(resaved)
    again, _warnings = load_project(resaved)
    for section in ("analysis_settings", "planner", "render"):
        assert getattr(again, section) == getattr(project, section), section
    assert again.edit_state.onion and not again.edit_state.paths and again.edit_state.selected == (1,)
    assert again.layout.to_json_dict() == project.layout.to_json_dict()
    studio.shutdown()


def test_the_recording_kind_set_in_the_analysis_menu_hears_the_recording_again_and_is_saved(
        qtbot, stereo_wav, tmp_path, monkeypatch) -> None:
    """When the detection gets the kind of stereo wrong, Analysis → Recording kind hears the recording again as
    the user says; the layout stays, the file line says so, and the project keeps the choice."""
    from app.playback import Player
    from app.window import StudioWindow
    from engine.project import load_project, save_project
    from tests.gui.conftest import fast_analyze, load_and_wait

    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    heard_with: list = []

    def analyze(audio, settings=None, progress=None, is_cancelled=None):
        heard_with.append(settings)
        return fast_analyze(audio, settings, progress, is_cancelled)

    studio = StudioWindow(player=Player(stream_factory=lambda *a: None), analyze_fn=analyze)
    qtbot.addWidget(studio)
    studio.ask_to_save = False
    load_and_wait(qtbot, studio, stereo_wav)
    doc = studio.editor.document
    qtbot.waitUntil(lambda: doc.layout is not None, timeout=10000)
    assert heard_with[-1] is None and "(detected)" in studio.file_label.text()
    assert studio.kind_actions[None].isChecked()
    before = doc.layout.to_json_dict()
    studio.seek(1.5)

    with qtbot.waitSignal(studio.runner.finished, timeout=10000):
        studio.kind_actions["spaced"].trigger()
    assert heard_with[-1].kind.value == "spaced" and studio.position_s == pytest.approx(1.5, abs=0.01)
    assert "as set in Analysis" in studio.file_label.text() and studio.kind_actions["spaced"].isChecked()
    assert studio.has_unsaved_changes() and studio.windowTitle().startswith("*")  # closing would ask
    assert doc.layout.to_json_dict() == before  # the layout is the user's work: it stays

    from PySide6.QtWidgets import QInputDialog

    monkeypatch.setattr(QInputDialog, "getDouble", lambda *args: (20.0, True))  # 20 cm typed, OK
    with qtbot.waitSignal(studio.runner.finished, timeout=10000):
        studio.ask_spacing()
    assert heard_with[-1].kind.value == "spaced" and heard_with[-1].spacing_m == pytest.approx(0.2)
    saved = tmp_path / "scene.spa2v"
    assert studio._write_project(saved) and not studio.has_unsaved_changes()
    project, _warnings = load_project(saved)
    assert project.analysis_settings.kind == "spaced" and project.analysis_settings.spacing_m == pytest.approx(0.2)

    with qtbot.waitSignal(studio.runner.finished, timeout=10000):
        studio.kind_actions[None].trigger()
    assert heard_with[-1].kind is None and "(detected)" in studio.file_label.text()
    # A project may force "mono" (no menu entry): it opens, and no kind is ticked.
    mono = tmp_path / "mono.spa2v"
    save_project(project.replaced(analysis_settings=project.analysis_settings.replaced(kind="mono")), mono)
    with qtbot.waitSignal(studio.runner.finished, timeout=10000):
        studio.open_file(mono)
    assert heard_with[-1].kind.value == "mono" and not any(a.isChecked() for a in studio.kind_actions.values())
    studio.shutdown()
