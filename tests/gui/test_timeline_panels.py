"""The Edit stage's timeline and side panels under real mouse and key events (offscreen).

The timeline: a layout of 3 objects and 5 keyframes over 8 s at 8 fps, 800 px wide, so one frame is about
5 px. Positions come from the widget's own geometry helpers; the ◆ are checked in a grabbed image.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QLineEdit,
    QStyle,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from ui.caption_panel import BETWEEN_KEYFRAMES_HINT, CaptionPanel
from ui.log_panel import MAX_LINES, LogPanel
from ui.object_panel import COL_COLOUR, COL_LABEL, COL_LOCKED, COL_VISIBLE, ObjectPanel, ObjectRow
from ui.palette import FOREGROUND, source_colour
from ui.timeline import NAME_WIDTH_PX, RIGHT_MARGIN_PX, TIME_PAD_PX, Lane, Timeline

NO_MODS = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
LEFT = Qt.MouseButton.LeftButton
KEYFRAMES = (0.0, 2.0, 4.0, 6.0, 8.0)
LANES = [
    Lane(0, "car", source_colour(0), KEYFRAMES, ((0.0, 8.0),)),
    Lane(1, "piano", source_colour(1), (0.0, 2.0, 4.0), ((0.0, 4.0),)),
    Lane(2, "dog", source_colour(2), (4.0, 6.0, 8.0), ((4.0, 8.0),)),
]


class Recorder:
    """Every emission of the named signals of ``widget``, in order, as ``(name, args)``."""

    def __init__(self, widget: QWidget, names: tuple[str, ...]) -> None:
        self.events: list[tuple[str, tuple]] = []
        for name in names:
            getattr(widget, name).connect(lambda *args, name=name: self.events.append((name, args)))

    def of(self, name: str) -> list[tuple]:
        return [args for event, args in self.events if event == name]


# --- timeline -------------------------------------------------------------------------------------


@pytest.fixture
def timeline(qtbot):
    widget = Timeline()
    qtbot.addWidget(widget)
    widget.resize(800, 140)
    widget.set_duration(8.0, fps=8.0)
    widget.set_keyframes(list(KEYFRAMES))
    widget.set_lanes(LANES)
    with qtbot.waitExposed(widget):
        widget.show()
    return widget


def timeline_recorder(widget: Timeline) -> Recorder:
    return Recorder(widget, ("timeChanged", "keyframeClicked", "objectClicked", "scrubFinished"))


def point(x: float, y: float) -> QPoint:
    return QPoint(round(x), round(y))


def move_with_button(widget: QWidget, pos: QPoint, modifiers=NO_MODS) -> None:
    """A mouse move with the left button held (QTest's mouseMove carries neither buttons nor modifiers)."""
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                        Qt.MouseButton.NoButton, LEFT, modifiers)
    QApplication.sendEvent(widget, event)


def test_geometry_maps_time_to_x_and_back(timeline):
    assert timeline.x_for_time(0.0) == NAME_WIDTH_PX + TIME_PAD_PX
    assert timeline.x_for_time(8.0) == 800 - RIGHT_MARGIN_PX
    for seconds in (0.0, 1.3, 4.0, 7.99):
        assert timeline.time_for_x(timeline.x_for_time(seconds)) == pytest.approx(seconds)
    assert timeline.time_for_x(0) == 0.0 and timeline.time_for_x(10_000) == 8.0  # clamped to the clip
    assert timeline.lane_at(timeline.lane_rect(2).center().y()) == 2
    assert timeline.lane_at(timeline.ruler_rect().center().y()) is None
    assert timeline.snap_time(3.3) == 3.25  # the nearest frame at 8 fps
    assert timeline.snap_time(2.02) == 2.0  # a keyframe within a few pixels wins


def test_click_emits_the_time_under_the_pointer_snapped_to_a_frame(qtbot, timeline):
    rec = timeline_recorder(timeline)
    y = timeline.lane_rect(1).center().y()  # the piano lane, where it has no ◆ near 3.3 s
    qtbot.mouseClick(timeline, LEFT, NO_MODS, point(timeline.x_for_time(3.3), y))
    assert rec.of("timeChanged") == [(3.25,)]
    assert rec.of("scrubFinished") == [(3.25,)]
    assert timeline.time_s == 3.25
    assert rec.of("keyframeClicked") == []

    qtbot.mouseClick(timeline, LEFT, NO_MODS, point(timeline.x_for_time(6.0) + 3, timeline.ruler_rect().center().y()))
    assert rec.of("timeChanged")[-1] == (6.0,)  # the ruler scrubs too, and a keyframe is a magnet

    x = round(timeline.x_for_time(3.3))
    qtbot.mouseClick(timeline, LEFT, SHIFT, QPoint(x, round(y)))
    free = rec.of("timeChanged")[-1][0]
    assert free == pytest.approx(timeline.time_for_x(x))
    assert free * 8.0 != round(free * 8.0)  # Shift: not on a frame


def test_drag_emits_the_time_continuously(qtbot, timeline):
    rec = timeline_recorder(timeline)
    y = timeline.ruler_rect().center().y()
    start, end = timeline.x_for_time(1.0), timeline.x_for_time(5.0)
    qtbot.mousePress(timeline, LEFT, NO_MODS, point(start, y))
    assert timeline.scrubbing
    timeline.set_time(7.0)  # the playback clock does not fight the hand
    assert timeline.time_s == 1.0
    for k in range(1, 9):
        move_with_button(timeline, point(start + (end - start) * k / 8, y))
    qtbot.mouseRelease(timeline, LEFT, NO_MODS, point(end, y))
    times = [args[0] for args in rec.of("timeChanged")]
    assert len(times) >= 6
    assert times == sorted(times) and len(set(times)) == len(times)  # one emission per new time
    assert all(t * 8.0 == round(t * 8.0) for t in times)  # every one on a frame
    assert times[0] == 1.0 and times[-1] == 5.0
    assert rec.of("scrubFinished") == [(5.0,)]
    assert not timeline.scrubbing


def test_setters_emit_nothing(qtbot, timeline):
    rec = timeline_recorder(timeline)
    timeline.set_time(3.0)
    timeline.set_time(99.0)
    timeline.set_selected(2)
    timeline.set_lanes(LANES[:2])
    timeline.set_keyframes([0.0, 8.0])
    timeline.set_duration(8.0, 16.0)
    assert rec.events == []
    assert timeline.time_s == 8.0  # clamped to the clip


def test_lanes_draw_a_diamond_at_each_keyframe_and_nothing_elsewhere(timeline):
    timeline.set_time(1.0)  # the playhead away from every ◆
    image = timeline.grab().toImage()
    for lane in LANES:
        expected = QColor(lane.colour)
        for seconds in lane.keyframe_times:
            centre = timeline.keyframe_point(lane.object_id, seconds)
            assert image.pixelColor(round(centre.x()), round(centre.y())) == expected, (lane.name, seconds)
    for seconds in KEYFRAMES:  # the layout's ◆ row
        centre = timeline.layout_keyframe_point(seconds)
        assert image.pixelColor(round(centre.x()), round(centre.y())) == QColor(FOREGROUND)
    centre = timeline.keyframe_point(1, 6.0)  # the piano is not listed at 6 s
    assert image.pixelColor(round(centre.x()), round(centre.y())) != QColor(LANES[1].colour)
    centre = timeline.keyframe_point(0, 3.0)  # between the car's ◆: its translucent bar, not a ◆
    bar = image.pixelColor(round(centre.x()), round(centre.y()))
    assert bar != QColor(LANES[0].colour) and bar.red() > bar.blue()


def test_click_on_a_diamond_jumps_to_its_keyframe(qtbot, timeline):
    rec = timeline_recorder(timeline)
    centre = timeline.keyframe_point(1, 2.0)
    press_at = point(centre.x() + 3, centre.y() + 2)  # a little off the centre still grabs it
    qtbot.mousePress(timeline, LEFT, NO_MODS, press_at)
    move_with_button(timeline, press_at + QPoint(1, 0))  # a shaky hand stays on the keyframe
    qtbot.mouseRelease(timeline, LEFT, NO_MODS, press_at + QPoint(1, 0))
    assert rec.of("timeChanged") == [(2.0,)]
    assert rec.of("keyframeClicked") == [(1, 2.0)]
    assert [name for name, _ in rec.events] == ["timeChanged", "keyframeClicked", "scrubFinished"]


def test_click_on_a_name_selects_the_object(qtbot, timeline):
    rec = timeline_recorder(timeline)
    qtbot.mouseClick(timeline, LEFT, NO_MODS, point(30, timeline.lane_rect(2).center().y()))
    assert rec.of("objectClicked") == [(2,)]
    assert rec.of("timeChanged") == []


def test_playhead_repaints_reuse_the_cached_background(timeline, monkeypatch):
    timeline.repaint()
    rebuilds = []
    original = timeline._paint_static
    monkeypatch.setattr(timeline, "_paint_static", lambda: rebuilds.append(1) or original())
    started = time.perf_counter()
    for frame in range(2000):
        timeline.set_time((frame % 64) / 8.0)
        timeline.repaint()
    elapsed = time.perf_counter() - started
    assert rebuilds == []
    assert elapsed < 4.0, f"2000 playhead repaints took {elapsed:.2f} s"
    timeline.set_selected(1)
    timeline.repaint()
    assert rebuilds == [1]  # new content: one rebuild


# --- object panel ---------------------------------------------------------------------------------


ROWS = [
    ObjectRow(0, "car", source_colour(0), visible=True, locked=False, on_screen=True),
    ObjectRow(1, "piano", source_colour(1), visible=True, locked=True, on_screen=True),
    ObjectRow(2, "dog", source_colour(2), visible=False, locked=False, on_screen=False),
]
PANEL_SIGNALS = ("renameRequested", "colourRequested", "visibilityToggled", "lockToggled", "selectionChanged",
                 "addRequested", "deleteRequested")


@pytest.fixture
def panel(qtbot):
    widget = ObjectPanel()
    qtbot.addWidget(widget)
    widget.resize(480, 240)
    widget.set_rows(ROWS)
    with qtbot.waitExposed(widget):
        widget.show()
    return widget


def cell_centre(panel: ObjectPanel, row: int, column: int) -> QPoint:
    return panel.table.visualItemRect(panel.table.item(row, column)).center()


def check_indicator_centre(panel: ObjectPanel, row: int, column: int) -> QPoint:
    """Where the style draws the check box of a cell."""
    table = panel.table
    option = QStyleOptionViewItem()
    option.initFrom(table.viewport())
    option.rect = table.visualItemRect(table.item(row, column))
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    return table.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, table).center()


def double_click(qtbot, widget: QWidget, pos: QPoint) -> None:
    """Press, release, double click, release: what a mouse sends (QTest's mouseDClick sends only the third)."""
    qtbot.mouseClick(widget, LEFT, NO_MODS, pos)
    qtbot.mouseDClick(widget, LEFT, NO_MODS, pos)
    qtbot.mouseRelease(widget, LEFT, NO_MODS, pos)


def open_label_editor(qtbot, panel: ObjectPanel, row: int) -> QLineEdit:
    double_click(qtbot, panel.table.viewport(), cell_centre(panel, row, COL_LABEL))
    editor = panel.table.findChild(QLineEdit)
    assert editor is not None and editor.isVisible()
    return editor


def press_enter(qtbot, panel: ObjectPanel, editor: QLineEdit) -> None:
    """Enter in a label editor; the delegate commits on the next turn of the event loop."""
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.table.state() == QAbstractItemView.State.NoState)


def test_set_rows_and_set_selected_emit_nothing(panel):
    rec = Recorder(panel, PANEL_SIGNALS)
    panel.set_selected(1)
    panel.set_rows([ObjectRow(0, "red car", "#123456", False, True, False), *ROWS[1:]])
    panel.set_rows(ROWS[:2])
    panel.set_selected(None)
    assert rec.events == []
    assert panel.row_texts()[0] == ["0", "", "car", "☑", "☐", "on screen", "–"]


def test_selection_survives_set_rows(panel):
    panel.set_selected(2)
    panel.set_rows([ROWS[2], ROWS[0], ROWS[1]])  # reordered
    assert panel.selected() == 2
    panel.set_rows(ROWS[:2])  # its object is gone
    assert panel.selected() is None
    assert not panel.delete_button.isEnabled()


def test_editing_a_label_emits_rename_once(qtbot, panel):
    rec = Recorder(panel, PANEL_SIGNALS)
    editor = open_label_editor(qtbot, panel, 0)
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, "red car")
    press_enter(qtbot, panel, editor)
    assert rec.of("renameRequested") == [(0, "red car")]
    assert [name for name, _ in rec.events if name != "selectionChanged"] == ["renameRequested"]


def test_an_empty_label_is_refused(qtbot, panel):
    rec = Recorder(panel, PANEL_SIGNALS)
    editor = open_label_editor(qtbot, panel, 1)
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(editor, Qt.Key.Key_Delete)
    press_enter(qtbot, panel, editor)
    assert rec.of("renameRequested") == []
    assert panel.table.item(1, COL_LABEL).text() == "piano"


def test_set_rows_while_typing_keeps_the_typing(qtbot, panel):
    rec = Recorder(panel, PANEL_SIGNALS)
    editor = open_label_editor(qtbot, panel, 0)
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, "truck")
    panel.set_rows([ObjectRow(0, "car", source_colour(0), True, False, on_screen=False), *ROWS[1:]])  # playback
    assert editor.text() == "truck"
    press_enter(qtbot, panel, editor)
    assert rec.of("renameRequested") == [(0, "truck")]
    assert panel.row_texts()[0][-2] == "off screen"


def test_check_boxes_emit_visibility_and_lock(qtbot, panel):
    rec = Recorder(panel, PANEL_SIGNALS)
    viewport = panel.table.viewport()
    qtbot.mouseClick(viewport, LEFT, NO_MODS, check_indicator_centre(panel, 0, COL_VISIBLE))
    qtbot.mouseClick(viewport, LEFT, NO_MODS, check_indicator_centre(panel, 2, COL_VISIBLE))
    qtbot.mouseClick(viewport, LEFT, NO_MODS, check_indicator_centre(panel, 1, COL_LOCKED))
    assert rec.of("visibilityToggled") == [(0, False), (2, True)]
    assert rec.of("lockToggled") == [(1, False)]
    assert rec.of("renameRequested") == []


def test_double_click_on_the_swatch_asks_for_a_colour(qtbot, panel):
    rec = Recorder(panel, PANEL_SIGNALS)
    asked = []

    def pick(initial: QColor, parent: QWidget, title: str) -> QColor:
        asked.append((initial.name(), title))
        return QColor("#123456") if len(asked) == 1 else QColor()  # the second time: cancelled

    panel.colour_picker = pick
    for _ in range(2):
        double_click(qtbot, panel.table.viewport(), cell_centre(panel, 1, COL_COLOUR))
    assert asked[0] == (source_colour(1).name(), "Colour of piano (#1)")
    assert rec.of("colourRequested") == [(1, QColor("#123456"))]
    assert panel.table.findChild(QLineEdit) is None or not panel.table.findChild(QLineEdit).isVisible()


def test_selection_add_and_delete(qtbot, panel):
    rec = Recorder(panel, PANEL_SIGNALS)
    assert not panel.delete_button.isEnabled()
    qtbot.mouseClick(panel.table.viewport(), LEFT, NO_MODS, cell_centre(panel, 2, COL_LABEL))
    assert rec.of("selectionChanged") == [(2,)]
    qtbot.mouseClick(panel.delete_button, LEFT)
    qtbot.mouseClick(panel.add_button, LEFT)
    assert rec.of("deleteRequested") == [(2,)]
    assert rec.of("addRequested") == [()]


# --- caption panel --------------------------------------------------------------------------------


@pytest.fixture
def captions(qtbot):
    host = QWidget()
    panel = CaptionPanel()
    other = QLineEdit()  # somewhere for the focus to go
    layout = QVBoxLayout(host)
    layout.addWidget(panel)
    layout.addWidget(other)
    qtbot.addWidget(host)
    host.resize(420, 320)
    with qtbot.waitExposed(host):
        host.show()
    host.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is host)
    panel.set_captions("A car passes.", 0, "The car enters on the left.", 0.0)
    panel.other = other
    yield panel
    host.close()


def caption_recorder(panel: CaptionPanel) -> Recorder:
    return Recorder(panel, ("videoCaptionEdited", "keyframeCaptionEdited"))


def type_at_end(qtbot, edit, text: str) -> None:
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    qtbot.keyClick(edit, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, text)


def focus_away(qtbot, panel) -> None:
    panel.other.setFocus()
    qtbot.waitUntil(panel.other.hasFocus)


def test_video_caption_is_sent_once_per_finished_edit(qtbot, captions):
    rec = caption_recorder(captions)
    type_at_end(qtbot, captions.video_edit, " Then a dog barks.")
    assert rec.events == []  # not per keystroke
    focus_away(qtbot, captions)
    assert rec.of("videoCaptionEdited") == [("A car passes. Then a dog barks.",)]
    captions.video_edit.setFocus()
    qtbot.waitUntil(captions.video_edit.hasFocus)
    focus_away(qtbot, captions)  # in and out without a change: nothing
    type_at_end(qtbot, captions.video_edit, "")
    qtbot.keyClick(captions.video_edit, Qt.Key.Key_Return)  # Enter is a new line in the video caption
    qtbot.keyClicks(captions.video_edit, "At night.")
    qtbot.keyClick(captions.video_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    focus_away(qtbot, captions)
    assert rec.of("videoCaptionEdited") == [("A car passes. Then a dog barks.",),
                                            ("A car passes. Then a dog barks.\nAt night.",)]
    assert rec.of("keyframeCaptionEdited") == []


def test_keyframe_caption_is_sent_on_enter_for_its_keyframe(qtbot, captions):
    rec = caption_recorder(captions)
    type_at_end(qtbot, captions.keyframe_edit, " It is red.")
    qtbot.keyClick(captions.keyframe_edit, Qt.Key.Key_Return)
    focus_away(qtbot, captions)
    assert rec.of("keyframeCaptionEdited") == [(0, "The car enters on the left. It is red.")]
    assert "\n" not in captions.keyframe_edit.toPlainText()


def test_escape_brings_the_shown_caption_back(qtbot, captions):
    rec = caption_recorder(captions)
    type_at_end(qtbot, captions.keyframe_edit, " typo")
    qtbot.keyClick(captions.keyframe_edit, Qt.Key.Key_Escape)
    focus_away(qtbot, captions)
    assert captions.keyframe_edit.toPlainText() == "The car enters on the left."
    assert rec.events == []


def test_keyframe_caption_is_disabled_between_keyframes(qtbot, captions):
    rec = caption_recorder(captions)
    captions.set_captions("A car passes.", None, "", None)
    assert not captions.keyframe_edit.isEnabled()
    assert captions.keyframe_edit.placeholderText() == BETWEEN_KEYFRAMES_HINT
    assert captions.keyframe_edit.toPlainText() == ""
    captions.set_captions("A car passes.", 2, "Halfway.", 4.0)
    assert captions.keyframe_edit.isEnabled() and captions.keyframe_edit.toPlainText() == "Halfway."
    assert "Keyframe 3" in captions.keyframe_title.text() and "0:04.00" in captions.keyframe_title.text()
    assert rec.events == []  # the setter never echoes


def test_refresh_keeps_typing_and_leaving_a_keyframe_sends_it(qtbot, captions):
    rec = caption_recorder(captions)
    type_at_end(qtbot, captions.keyframe_edit, " Fast.")
    captions.set_captions("A car passes.", 0, "The car enters on the left.", 0.0)  # a refresh, same values
    assert captions.keyframe_edit.toPlainText() == "The car enters on the left. Fast."
    assert rec.events == []
    captions.set_captions("A car passes.", 1, "In the middle.", 2.0)  # the playhead moved on
    assert rec.of("keyframeCaptionEdited") == [(0, "The car enters on the left. Fast.")]
    assert captions.keyframe_edit.toPlainText() == "In the middle."

    type_at_end(qtbot, captions.video_edit, " Loud.")  # (leaving the keyframe field sent nothing: no change)
    captions.set_captions("A car passes.", 1, "In the middle.", 2.0)
    assert captions.video_edit.toPlainText() == "A car passes. Loud."
    captions.set_captions("Undone.", 1, "In the middle.", 2.0)  # the document changed underneath: it wins
    assert captions.video_edit.toPlainText() == "Undone."
    assert len(rec.events) == 1


# --- log panel ------------------------------------------------------------------------------------


def test_log_keeps_the_last_lines(qtbot):
    log = LogPanel()
    qtbot.addWidget(log)
    for k in range(MAX_LINES + 5):
        log.add(f"message {k}\nsecond line" if k % 100 == 0 else f"message {k}")
    entries = log.entries()
    assert len(entries) == MAX_LINES
    assert entries[0].message == "message 5" and entries[-1].message == f"message {MAX_LINES + 4}"
    assert log.view.document().blockCount() == MAX_LINES  # a multi-line message is one entry in the view too


def test_log_levels_copy_and_clear(qtbot):
    log = LogPanel()
    qtbot.addWidget(log)
    log.add("Plan: repaired 2 things in the LLM answer: a box outside the canvas; a duplicate id")
    log.add("Low confidence", "warning")
    log.add("Render failed", "ERROR")
    log.add("Something", "verbose")
    assert [entry.level for entry in log.entries()] == ["info", "warning", "error", "info"]
    assert "1 error" in log.summary.text() and "1 warning" in log.summary.text()
    assert "Render failed" in log.view.toPlainText()
    qtbot.mouseClick(log.copy_button, LEFT)
    copied = QGuiApplication.clipboard().text()
    assert copied == log.text()
    assert copied.splitlines()[1].endswith("WARNING  Low confidence")
    qtbot.mouseClick(log.clear_button, LEFT)
    assert log.entries() == [] and log.view.toPlainText() == "" and log.summary.text() == ""
    assert not log.copy_button.isEnabled()


def test_the_sound_column_says_whether_each_box_agrees_with_the_recording(qtbot) -> None:
    panel = ObjectPanel()
    qtbot.addWidget(panel)
    flag = "keyframe 3 (4.0 s): the box is at −42° (left) but the sound is at +35° (right)"
    panel.set_rows([ObjectRow(0, "car", "#123456", flags=(), source_id=1),
                    ObjectRow(1, "dog", "#654321", flags=(flag,), source_id=0),
                    ObjectRow(2, "tree", "#abcdef")])
    assert [row[-1] for row in panel.row_texts()] == ["✓ agrees", "⚠ 1 issue", "–"]
    tips = [panel.table.item(row, panel.table.columnCount() - 1).toolTip() for row in range(3)]
    assert tips[0] == "Agrees with source #1" and flag in tips[1] and "source #0" in tips[1]


def test_the_sources_table_fits_its_width_and_keeps_long_sound_spans_in_the_tooltip(qtbot) -> None:
    """Many sounding spans make a long "Sounds" cell; it is elided to the width left, not a horizontal scroll."""
    from tests.gui.conftest import build_analysis
    from ui.sources import COL_SOUNDS, SourcesTable, sounding_text

    table = SourcesTable()
    qtbot.addWidget(table)
    table.resize(560, 160)
    table.show()
    long = sounding_text([(float(k), k + 0.5) for k in range(12)])
    table.set_sources(build_analysis().sources, sounds={0: long, 1: "0.0–4.0 s"})
    qtbot.waitUntil(lambda: table.isVisible())
    assert table.horizontalScrollBar().maximum() == 0
    assert table.item(0, COL_SOUNDS).text() == long and table.item(0, COL_SOUNDS).toolTip() == long
