"""The layout canvas under real mouse and key events (offscreen): move, resize, snap, draw, keys, looks.

Canvas coordinates are mapped to the viewport with ``mapFromScene`` (scene = canvas pixels), so one
viewport pixel is about 0.74 canvas px at 640×400: positions are checked to within 1 px.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from ui.layout_canvas import CanvasBox, LayoutCanvas, resized_box, snap_offset
from ui.palette import source_colour

CANVAS_W, CANVAS_H = 454.0, 256.0
NO_MODS = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier


def make_box(object_id: int, box, is_keyframe: bool = True, **kwargs) -> CanvasBox:
    return CanvasBox(
        object_id, f"obj{object_id}", tuple(float(v) for v in box), source_colour(object_id), is_keyframe, **kwargs
    )


class Recorder:
    """Every signal of a canvas, in order, as ``(name, args)``."""

    NAMES = (
        "boxChanged",
        "boxDrawn",
        "deleteRequested",
        "selectionChanged",
        "nudgeRequested",
        "renameRequested",
        "drawModeChanged",
    )

    def __init__(self, canvas: LayoutCanvas) -> None:
        self.events: list[tuple[str, tuple]] = []
        for name in self.NAMES:
            getattr(canvas, name).connect(lambda *args, name=name: self.events.append((name, args)))

    def of(self, name: str) -> list[tuple]:
        return [args for event, args in self.events if event == name]


@pytest.fixture
def canvas(qtbot):
    view = LayoutCanvas()
    qtbot.addWidget(view)
    view.resize(640, 400)
    with qtbot.waitExposed(view):
        view.show()
    view.set_boxes([make_box(1, (100, 80, 180, 140))])
    return view


def at(canvas: LayoutCanvas, x: float, y: float) -> QPoint:
    """The viewport pixel over canvas point (x, y)."""
    return canvas.mapFromScene(QPointF(x, y))


def move_mouse(canvas: LayoutCanvas, pos: QPoint, modifiers=NO_MODS) -> None:
    """A mouse move with the left button held and ``modifiers`` (QTest's mouseMove carries no modifiers)."""
    viewport = canvas.viewport()
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(pos),
        QPointF(viewport.mapToGlobal(pos)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
        modifiers,
    )
    QApplication.sendEvent(viewport, event)


def drag(
    qtbot,
    canvas: LayoutCanvas,
    start: tuple[float, float],
    end: tuple[float, float],
    modifiers=NO_MODS,
    steps: int = 6,
    release: bool = True,
) -> None:
    """Press at canvas point ``start``, move in ``steps`` to ``end``, release there."""
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, modifiers, at(canvas, *start))
    for k in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * k / steps
        y = start[1] + (end[1] - start[1]) * k / steps
        move_mouse(canvas, at(canvas, x, y), modifiers)
    if release:
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifiers, at(canvas, *end))


def assert_box(actual, expected, tol: float = 1.0) -> None:
    assert len(actual) == 4
    assert all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True)), f"{actual} != {expected}"


def finished(recorder: Recorder) -> list[tuple]:
    return [args for args in recorder.of("boxChanged") if args[2]]


# --- move --------------------------------------------------------------------------------------------


def test_drag_moves_the_box_with_steps_then_one_finish(qtbot, canvas):
    rec = Recorder(canvas)
    drag(qtbot, canvas, (140, 110), (180, 135))
    changes = rec.of("boxChanged")
    steps = [args for args in changes if not args[2]]
    assert len(steps) >= 3
    assert all(args[0] == 1 for args in changes)
    assert len(finished(rec)) == 1 and changes[-1][2] is True
    assert_box(changes[-1][1], (140, 105, 220, 165))
    assert rec.of("selectionChanged") == [(1,)]  # the press selected it
    assert_box(_item_box(canvas, 1), (140, 105, 220, 165))  # the view shows the move without an echo


def _item_box(canvas: LayoutCanvas, object_id: int) -> tuple[float, float, float, float]:
    rect = canvas.box_item(object_id).rect()
    return (rect.left(), rect.top(), rect.right(), rect.bottom())


def test_click_selects_and_click_on_empty_deselects(qtbot, canvas):
    rec = Recorder(canvas)
    viewport = canvas.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(canvas, 120, 100))
    assert canvas.selected() == 1
    assert all(h.isVisible() for h in canvas.handle_items())
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(canvas, 300, 200))
    assert canvas.selected() is None
    assert not any(h.isVisible() for h in canvas.handle_items())
    assert rec.of("selectionChanged") == [(1,), (None,)]
    assert rec.of("boxChanged") == []  # a click is not a move


def test_the_box_never_leaves_the_canvas(qtbot, canvas):
    rec = Recorder(canvas)
    drag(qtbot, canvas, (140, 110), (700, 500))  # far beyond the bottom-right corner
    assert_box(finished(rec)[-1][1], (CANVAS_W - 80, CANVAS_H - 60, CANVAS_W, CANVAS_H), tol=0.01)
    for _obj, box, _done in rec.of("boxChanged"):
        assert box[0] >= 0 and box[1] >= 0 and box[2] <= CANVAS_W and box[3] <= CANVAS_H
    canvas.set_boxes([make_box(1, (100, 80, 180, 140))])
    rec.events.clear()
    drag(qtbot, canvas, (180, 140), (-200, -200))  # the bottom-right handle dragged past the top-left
    (box,) = [args[1] for args in finished(rec)]
    assert box[0] == 100 and box[1] == 80  # the anchor stays; the box stops at its minimum size
    assert box[2] > box[0] and box[3] > box[1]
    canvas.set_boxes([make_box(1, (100, 80, 180, 140))])
    rec.events.clear()
    drag(qtbot, canvas, (100, 80), (-300, -300))  # the top-left handle dragged out of the frame
    assert_box(finished(rec)[-1][1], (0, 0, 180, 140), tol=0.01)


# --- resize ------------------------------------------------------------------------------------------


def test_corner_handle_moves_only_that_corner(qtbot, canvas):
    canvas.set_selected(1)
    rec = Recorder(canvas)
    drag(qtbot, canvas, (180, 140), (210, 160))
    assert len(finished(rec)) == 1
    assert_box(finished(rec)[0][1], (100, 80, 210, 160))
    box = finished(rec)[0][1]
    assert box[0] == 100 and box[1] == 80  # exactly: the opposite edges do not move


def test_edge_handle_moves_only_that_edge(qtbot, canvas):
    canvas.set_selected(1)
    rec = Recorder(canvas)
    drag(qtbot, canvas, (140, 80), (140, 50))  # the top edge's handle, up
    box = finished(rec)[0][1]
    assert_box(box, (100, 50, 180, 140))
    assert (box[0], box[2], box[3]) == (100, 180, 140)


def test_shift_keeps_the_aspect_ratio(qtbot, canvas):
    canvas.set_selected(1)
    rec = Recorder(canvas)
    drag(qtbot, canvas, (180, 140), (220, 145), modifiers=SHIFT)  # mostly sideways
    x0, y0, x1, y1 = finished(rec)[0][1]
    assert (x0, y0) == (100, 80)
    assert (x1 - x0) / (y1 - y0) == pytest.approx(80 / 60, rel=0.01)
    assert x1 - x0 == pytest.approx(120, abs=1.0)  # the larger pointer scale wins


def test_alt_resizes_about_the_centre(qtbot, canvas):
    canvas.set_selected(1)
    rec = Recorder(canvas)
    drag(qtbot, canvas, (180, 110), (200, 110), modifiers=ALT)  # the right edge, 20 px out
    x0, y0, x1, y1 = finished(rec)[0][1]
    assert_box((x0, y0, x1, y1), (80, 80, 200, 140))
    assert (x0 + x1) / 2 == pytest.approx(140, abs=0.01)
    assert (y0, y1) == (80, 140)


def test_shift_and_alt_together_scale_about_the_centre(qtbot, canvas):
    canvas.set_selected(1)
    rec = Recorder(canvas)
    drag(qtbot, canvas, (180, 140), (200, 150), modifiers=SHIFT | ALT)
    x0, y0, x1, y1 = finished(rec)[0][1]
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((140, 110), abs=0.01)
    assert (x1 - x0) / (y1 - y0) == pytest.approx(80 / 60, rel=0.01)


def test_pressing_shift_mid_drag_acts_at_once(qtbot, canvas):
    canvas.set_selected(1)
    rec = Recorder(canvas)
    drag(qtbot, canvas, (180, 140), (220, 145), release=False)
    box = rec.of("boxChanged")[-1][1]
    assert (box[2] - box[0]) / (box[3] - box[1]) != pytest.approx(80 / 60, rel=0.01)
    qtbot.keyPress(canvas, Qt.Key.Key_Shift, SHIFT)
    box = rec.of("boxChanged")[-1][1]
    assert (box[2] - box[0]) / (box[3] - box[1]) == pytest.approx(80 / 60, rel=0.01)
    qtbot.keyRelease(canvas, Qt.Key.Key_Shift)
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(canvas, 220, 145))
    assert len(finished(rec)) == 1


# --- snapping ----------------------------------------------------------------------------------------


def test_snapping_pulls_an_edge_onto_a_neighbour_and_ctrl_disables_it(qtbot, canvas):
    canvas.set_boxes([make_box(1, (50, 50, 130, 110)), make_box(2, (200, 60, 280, 120))])
    rec = Recorder(canvas)
    drag(qtbot, canvas, (90, 80), (157, 80))  # right edge to ≈197, 3 px short of the neighbour's left edge
    box = finished(rec)[0][1]
    assert box[2] == 200.0 and box[0] == 120.0  # snapped exactly, size kept
    assert (box[1], box[3]) == (50, 110)

    canvas.set_boxes([make_box(1, (50, 50, 130, 110)), make_box(2, (200, 60, 280, 120))])
    rec.events.clear()
    drag(qtbot, canvas, (90, 80), (157, 80), modifiers=CTRL)
    box = finished(rec)[0][1]
    assert_box(box, (117, 50, 197, 110))
    assert box[2] != 200.0


def test_snapping_to_the_canvas_edge_and_switching_it_off(qtbot, canvas):
    rec = Recorder(canvas)
    drag(qtbot, canvas, (140, 110), (43, 110))  # left edge to ≈3 px
    assert finished(rec)[0][1][0] == 0.0
    canvas.set_boxes([make_box(1, (100, 80, 180, 140))])
    canvas.set_snapping(False)
    rec.events.clear()
    drag(qtbot, canvas, (140, 110), (43, 110))
    assert finished(rec)[0][1][0] == pytest.approx(3, abs=1.0)


def test_resize_snaps_the_dragged_edge(qtbot, canvas):
    canvas.set_boxes([make_box(1, (50, 50, 130, 110)), make_box(2, (200, 60, 280, 120))])
    canvas.set_selected(1)
    rec = Recorder(canvas)
    drag(qtbot, canvas, (130, 80), (197, 80))  # the right edge handle to 3 px short of the neighbour
    assert finished(rec)[0][1] == (50, 50, 200, 110)


# --- the model → view direction ----------------------------------------------------------------------


def test_setters_emit_nothing_and_items_are_reused(qtbot, canvas):
    rec = Recorder(canvas)
    item = canvas.box_item(1)
    canvas.set_boxes([make_box(1, (10, 20, 60, 70), is_keyframe=False), make_box(2, (200, 60, 280, 120))])
    canvas.set_selected(2)
    canvas.set_selected(None)
    canvas.set_canvas_size(CANVAS_W, CANVAS_H, 512 / 320)
    canvas.set_onion([make_box(1, (0, 20, 50, 70))], [make_box(1, (20, 20, 70, 70))])
    canvas.set_paths({1: [(35, 45), (45, 45)]})
    canvas.set_draw_mode(True)
    canvas.set_draw_mode(False)
    canvas.set_background(QImage(64, 40, QImage.Format.Format_RGB32))
    assert rec.events == []
    assert canvas.box_item(1) is item
    assert _item_box(canvas, 1) == (10, 20, 60, 70)
    canvas.set_boxes([make_box(2, (200, 60, 280, 120))])
    assert canvas.box_item(1) is None and item.scene() is None


def test_an_echo_during_a_drag_does_not_disturb_it(qtbot, canvas):
    rec = Recorder(canvas)
    # A document that echoes every step back (even a stale one) through set_boxes.
    canvas.boxChanged.connect(lambda *_: canvas.set_boxes([make_box(1, (100, 80, 180, 140))]))
    drag(qtbot, canvas, (140, 110), (180, 135))
    assert len(finished(rec)) == 1
    assert_box(finished(rec)[0][1], (140, 105, 220, 165))


def test_escape_cancels_a_drag_and_puts_the_box_back(qtbot, canvas):
    rec = Recorder(canvas)
    drag(qtbot, canvas, (140, 110), (180, 135), release=False)
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert finished(rec) == [(1, (100.0, 80.0, 180.0, 140.0), True)]
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(canvas, 180, 135))
    assert len(finished(rec)) == 1
    assert _item_box(canvas, 1) == (100, 80, 180, 140)


def test_render_aspect_stretches_the_view_not_the_coordinates(qtbot, canvas):
    canvas.set_canvas_size(CANVAS_W, CANVAS_H, 512 / 320)
    frame = canvas.frame_rect_in_view()
    assert frame.width() / frame.height() == pytest.approx(1.6, rel=0.01)
    assert frame.left() >= 0 and frame.right() <= 640 and frame.top() >= 0 and frame.bottom() <= 400
    rec = Recorder(canvas)
    drag(qtbot, canvas, (140, 110), (170, 130))
    assert_box(finished(rec)[0][1], (130, 100, 210, 160))


# --- locked, hidden, interpolated --------------------------------------------------------------------


def test_a_locked_box_cannot_be_moved_resized_nudged_or_deleted(qtbot, canvas):
    canvas.set_boxes([make_box(1, (100, 80, 180, 140), locked=True)])
    rec = Recorder(canvas)
    drag(qtbot, canvas, (140, 110), (200, 150))
    assert canvas.selected() == 1  # it can still be selected
    assert not any(h.isVisible() for h in canvas.handle_items())
    drag(qtbot, canvas, (180, 140), (220, 170))  # where a handle would be
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
        qtbot.keyClick(canvas, key)
    assert rec.of("boxChanged") == [] and rec.of("nudgeRequested") == [] and rec.of("deleteRequested") == []
    assert _item_box(canvas, 1) == (100, 80, 180, 140)
    qtbot.keyClick(canvas, Qt.Key.Key_Delete, SHIFT)  # force, as in CVAT
    assert rec.of("deleteRequested") == [(1,)]


def test_an_invisible_box_is_not_drawn_and_not_hit(qtbot, canvas):
    canvas.set_boxes([make_box(1, (100, 80, 180, 140), visible=False)])
    rec = Recorder(canvas)
    assert not canvas.box_item(1).isVisible()
    drag(qtbot, canvas, (140, 110), (180, 135))
    assert rec.events == []


def test_interpolated_boxes_are_dashed_and_faded_keyframes_solid(canvas):
    canvas.set_boxes([make_box(1, (100, 80, 180, 140)), make_box(2, (200, 60, 280, 120), is_keyframe=False)])
    keyframe, interpolated = canvas.box_item(1), canvas.box_item(2)
    assert keyframe.pen().style() == Qt.PenStyle.SolidLine
    assert interpolated.pen().style() == Qt.PenStyle.DashLine
    assert interpolated.pen().color().alpha() < keyframe.pen().color().alpha()
    assert interpolated.brush().color().alpha() < keyframe.brush().color().alpha()
    canvas.set_boxes([make_box(1, (100, 80, 180, 140)), make_box(2, (200, 60, 280, 120))])  # became a keyframe
    assert interpolated.pen().style() == Qt.PenStyle.SolidLine


# --- draw mode ---------------------------------------------------------------------------------------


def test_draw_mode_emits_the_dragged_rectangle_once(qtbot, canvas):
    rec = Recorder(canvas)
    canvas.set_draw_mode(True)
    drag(qtbot, canvas, (360, 200), (300, 150))  # drawn up-left: still x0 < x1, y0 < y1
    (drawn,) = rec.of("boxDrawn")
    assert_box(drawn[0], (300, 150, 360, 200))
    assert rec.of("drawModeChanged") == [(False,)] and not canvas.draw_mode()
    assert rec.of("boxChanged") == []


def test_draw_mode_draws_over_a_box_and_ignores_a_click(qtbot, canvas):
    rec = Recorder(canvas)
    canvas.set_draw_mode(True)
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(canvas, 300, 150))
    assert rec.events == [] and canvas.draw_mode()  # a click draws nothing and keeps draw mode
    drag(qtbot, canvas, (120, 100), (160, 130))  # starts on box 1: draws, does not move it
    assert_box(rec.of("boxDrawn")[0][0], (120, 100, 160, 130))
    assert rec.of("boxChanged") == []


def test_escape_leaves_draw_mode(qtbot, canvas):
    rec = Recorder(canvas)
    canvas.set_draw_mode(True)
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert not canvas.draw_mode() and rec.of("drawModeChanged") == [(False,)]


# --- keys --------------------------------------------------------------------------------------------


def test_arrows_nudge_and_delete_asks_to_delete(qtbot, canvas):
    canvas.set_selected(1)
    rec = Recorder(canvas)
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    qtbot.keyClick(canvas, Qt.Key.Key_Left)
    qtbot.keyClick(canvas, Qt.Key.Key_Up, SHIFT)
    qtbot.keyClick(canvas, Qt.Key.Key_Down, SHIFT)
    assert rec.of("nudgeRequested") == [(1, 1, 0), (1, -1, 0), (1, 0, -10), (1, 0, 10)]
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    qtbot.keyClick(canvas, Qt.Key.Key_Backspace)
    assert rec.of("deleteRequested") == [(1,), (1,)]


def test_nudge_stops_at_the_canvas_edge(qtbot, canvas):
    canvas.set_boxes([make_box(1, (4, 80, 84, 140))])
    canvas.set_selected(1)
    rec = Recorder(canvas)
    qtbot.keyClick(canvas, Qt.Key.Key_Left, SHIFT)
    canvas.set_boxes([make_box(1, (0, 80, 80, 140))])
    qtbot.keyClick(canvas, Qt.Key.Key_Left)
    assert rec.of("nudgeRequested") == [(1, -4, 0)]


def test_keys_without_a_selection_go_to_the_window(qtbot, canvas):
    rec = Recorder(canvas)
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert rec.events == []


def test_canvas_keys_win_over_window_shortcuts_only_with_a_selection(qtbot):
    window = QWidget()
    qtbot.addWidget(window)
    view = LayoutCanvas(window)
    QVBoxLayout(window).addWidget(view)
    stepped = []
    shortcut = QShortcut(QKeySequence(Qt.Key.Key_Right), window)
    shortcut.activated.connect(lambda: stepped.append(True))
    window.resize(640, 400)
    with qtbot.waitActive(window):  # window shortcuts only fire in the active window
        window.show()
        window.activateWindow()
    view.setFocus()
    view.set_boxes([make_box(1, (100, 80, 180, 140))])
    rec = Recorder(view)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert stepped == [True] and rec.of("nudgeRequested") == []  # nothing selected: the window's ←/→
    view.set_selected(1)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert stepped == [True] and rec.of("nudgeRequested") == [(1, 1, 0)]


def test_double_click_asks_to_rename(qtbot, canvas):
    rec = Recorder(canvas)
    qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(canvas, 120, 100))
    assert rec.of("renameRequested") == [(1,)]
    assert rec.of("boxChanged") == []


# --- onion skins, paths, background, looks ---------------------------------------------------------


def test_onion_and_paths_toggle_and_reuse_items(canvas):
    canvas.set_onion(
        [make_box(1, (90, 80, 170, 140))],
        [make_box(1, (110, 80, 190, 140)), make_box(2, (10, 10, 20, 20), visible=False)],
    )
    scene = canvas.scene()
    onion = [i for i in scene.items() if i.zValue() == -60 and i.isVisible()]
    assert len(onion) == 2
    assert all(i.pen().style() == Qt.PenStyle.DotLine for i in onion)
    canvas.show_onion(False)
    assert not any(i.isVisible() for i in onion)
    canvas.show_onion(True)
    assert all(i.isVisible() for i in onion)
    canvas.set_onion([], [])
    assert not any(i.isVisible() for i in onion)

    canvas.set_paths({1: [(140, 110), (150, 112), (160, 115)]})
    paths = [i for i in scene.items() if i.zValue() == -50]
    assert len(paths) == 1 and paths[0].isVisible()
    canvas.set_paths({1: [(140, 110), (170, 120)]})
    assert [i for i in scene.items() if i.zValue() == -50] == paths  # reused
    canvas.show_paths(False)
    assert not paths[0].isVisible()
    canvas.set_paths({})
    assert [i for i in scene.items() if i.zValue() == -50] == []


def test_a_background_image_is_stretched_to_the_frame(canvas):
    image = QImage(512, 320, QImage.Format.Format_RGB32)
    image.fill(QColor("#336699"))
    canvas.set_background(image)
    pixmap_item = next(i for i in canvas.scene().items() if i.zValue() == -90)
    assert pixmap_item.isVisible()
    assert pixmap_item.sceneBoundingRect().width() == pytest.approx(CANVAS_W)
    assert pixmap_item.sceneBoundingRect().height() == pytest.approx(CANVAS_H)
    canvas.set_background(None)
    assert not pixmap_item.isVisible()


def test_renders_three_kinds_of_box(qtbot, canvas, tmp_path):
    canvas.set_canvas_size(CANVAS_W, CANVAS_H, 512 / 320)
    canvas.set_boxes(
        [
            make_box(0, (30, 150, 150, 215)),
            make_box(1, (180, 40, 290, 140), is_keyframe=False),
            make_box(2, (320, 0, 420, 90), locked=True),
        ]
    )
    canvas.set_selected(0)
    image = canvas.grab().toImage()
    assert (image.width(), image.height()) == (640, 400)
    assert image.save(str(tmp_path / "canvas.png"))
    colours = {image.pixelColor(x, y).name() for x in range(0, 640, 4) for y in range(0, 400, 4)}
    assert len(colours) > 10  # frame, guides, three boxes in their colours, tabs, handles


# --- the geometry itself -----------------------------------------------------------------------------


def test_resized_box_geometry():
    size = (CANVAS_W, CANVAS_H)
    box = (100.0, 80.0, 180.0, 140.0)
    assert resized_box(box, (1, 1), (200.0, 150.0), size) == (100, 80, 200, 150)
    assert resized_box(box, (-1, 0), (90.0, 999.0), size) == (90, 80, 180, 140)
    assert resized_box(box, (1, 0), (0.0, 0.0), size, min_size=4) == (100, 80, 104, 140)  # no flip
    assert resized_box(box, (1, 0), (200.0, 0.0), size, from_centre=True) == (80, 80, 200, 140)
    # Keeping the aspect against the canvas edge: the scale stops where the box touches it.
    x0, y0, x1, y1 = resized_box(box, (1, 1), (1000.0, 1000.0), size, keep_aspect=True)
    assert y1 == pytest.approx(CANVAS_H) and (x1 - x0) / (y1 - y0) == pytest.approx(80 / 60)
    # An edge handle with Shift: the other axis follows, centred.
    x0, y0, x1, y1 = resized_box(box, (1, 0), (220.0, 0.0), size, keep_aspect=True)
    assert (x0, x1) == (100, 220) and (y0 + y1) / 2 == pytest.approx(110) and y1 - y0 == pytest.approx(90)


def test_snap_offset_picks_the_closest_pair():
    assert snap_offset([10.0, 50.0], [0.0, 53.0], 4.0) == (3.0, 53.0)
    assert snap_offset([10.0], [20.0], 4.0) == (0.0, None)


def test_a_path_keeps_its_objects_colour_when_the_box_is_not_on_the_frame(canvas):
    canvas.set_boxes([])  # the object is absent at this moment; its path still shows where it goes
    canvas.set_paths({1: [(10.0, 10.0), (40.0, 40.0)]}, {1: "#3cb44b"})
    assert canvas._path_items[1]._colour == QColor("#3cb44b")
    canvas.set_paths({1: [(10.0, 10.0), (40.0, 40.0)]})  # no colour given: the palette's
    assert canvas._path_items[1]._colour == QColor(source_colour(1))
