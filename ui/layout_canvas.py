"""The layout canvas: the boxes of one frame of a Video Scene Layout, edited with the mouse and the keys.

Scene coordinates are the planner's canvas pixels (454×256 by default, origin top-left), so every signal and
every setter speaks canvas pixels; only the view transform changes when the widget is resized. The frame is
shown at the render aspect (512×320 → 1.6) even though the boxes live on the planner canvas, which is what
the generator will draw. Thirds guides and a thin outline help placing.

The widget owns no document. It shows what it is given (:meth:`LayoutCanvas.set_boxes` and friends, which
never emit) and sends the user's intent back as signals: a drag emits ``boxChanged(id, box, False)`` on every
step and exactly one ``boxChanged(id, box, True)`` on release, which is where an undo command belongs.

Mouse and keys, as annotators know them from CVAT and Label Studio:

- click selects, click on empty canvas deselects; drag a box to move it, drag one of the 8 handles of the
  selected box to resize it (Shift keeps the aspect ratio, Alt resizes about the centre);
- edges snap to the canvas edges and to the other boxes' edges within a few screen pixels (hold Ctrl to
  place freely); boxes never leave the canvas;
- in draw mode (one shot) a drag draws a new box: ``boxDrawn``;
- ←↑→↓ nudge the selected box by 1 px (Shift: 10 px), Delete/Backspace delete it, Esc cancels a drag, leaves
  draw mode or deselects, a double click asks to rename. Arrows and Delete are claimed from window shortcuts
  only while a box is selected, so ←/→ still step frames otherwise.

Locked boxes can be selected but not moved, resized, nudged or deleted (Shift+Delete still deletes, as in
CVAT); they are hatched and carry a padlock. Interpolated boxes are dashed and faded. Items are created once
per object id and updated in place, so a drag never rebuilds the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QTransform,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from ui.palette import BACKGROUND, CURSOR, FLAG_COLOUR, FOREGROUND, source_colour

#: A box as ``(x0, y0, x1, y1)`` in canvas pixels.
Box = tuple[float, float, float, float]

#: The planner canvas of the paper (SPEC.md), used until :meth:`LayoutCanvas.set_canvas_size` is called.
DEFAULT_CANVAS_PX = (454.0, 256.0)
#: Space around the frame inside the widget (screen px).
FRAME_MARGIN_PX = 12
#: Side of a resize handle as drawn, and how far from its centre a press still grabs it (screen px).
HANDLE_SIZE_PX = 8.0
HANDLE_GRAB_PX = 7.0
#: An edge closer than this to a snap target (screen px) jumps onto it.
SNAP_DISTANCE_PX = 6.0
#: The pointer must move this far (screen px) before a press on a box becomes a drag.
DRAG_THRESHOLD_PX = 2.0
#: Smallest box a resize leaves and smallest box a draw creates (canvas px).
MIN_BOX_PX = 4.0
#: Arrow-key nudge, plain and with Shift (canvas px).
NUDGE_PX = 1
NUDGE_FAST_PX = 10
#: Height of a label tab (screen px).
TAB_HEIGHT_PX = 16.0

FRAME_FILL = "#20252c"
HANDLE_FILL = "#f5f7fa"
HANDLE_EDGE = "#0d1014"

# Stacking: frame < background image < guides < onion skins < paths < boxes < selected < draft < handles.
_Z_FRAME, _Z_IMAGE, _Z_GUIDES, _Z_ONION, _Z_PATHS = -100.0, -90.0, -80.0, -60.0, -50.0
_Z_SELECTED, _Z_SNAP, _Z_DRAFT, _Z_HANDLES = 10_000.0, 20_000.0, 20_001.0, 30_000.0

#: Handles as (x side, y side): −1 left/top edge, +1 right/bottom edge, 0 middle. Corners first: they win
#: when a small box puts handles on top of each other.
HANDLES: tuple[tuple[int, int], ...] = ((-1, -1), (1, -1), (1, 1), (-1, 1), (0, -1), (1, 0), (0, 1), (-1, 0))
_HANDLE_CURSORS = {
    (-1, -1): Qt.CursorShape.SizeFDiagCursor,
    (1, 1): Qt.CursorShape.SizeFDiagCursor,
    (1, -1): Qt.CursorShape.SizeBDiagCursor,
    (-1, 1): Qt.CursorShape.SizeBDiagCursor,
    (0, -1): Qt.CursorShape.SizeVerCursor,
    (0, 1): Qt.CursorShape.SizeVerCursor,
    (-1, 0): Qt.CursorShape.SizeHorCursor,
    (1, 0): Qt.CursorShape.SizeHorCursor,
}
_ARROWS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}
_DELETE_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
#: A modifier key's own press or release reports the modifier state before the key on some platforms (X11),
#: so the state is derived from the key itself.
_MODIFIER_KEYS = {
    Qt.Key.Key_Shift: Qt.KeyboardModifier.ShiftModifier,
    Qt.Key.Key_Control: Qt.KeyboardModifier.ControlModifier,
    Qt.Key.Key_Alt: Qt.KeyboardModifier.AltModifier,
    Qt.Key.Key_Meta: Qt.KeyboardModifier.MetaModifier,
}


@dataclass(frozen=True)
class CanvasBox:
    """One object's box in the frame shown.

    ``box`` is ``(x0, y0, x1, y1)`` in canvas pixels. ``is_keyframe`` False marks a box interpolated between
    keyframes (drawn dashed and faded); ``locked`` boxes cannot be moved or resized; invisible boxes are
    neither drawn nor hit. ``flag`` says how the box disagrees with the sound ("" when it agrees): the box
    is outlined in the warning colour and its tab starts with ⚠. ``sounding`` marks, among boxes sharing a
    label, the one the audio points to (its tab starts with ♪).
    """

    object_id: int
    name: str
    box: tuple[float, float, float, float]
    colour: QColor | str
    is_keyframe: bool
    locked: bool = False
    visible: bool = True
    flag: str = ""
    sounding: bool = False


# --- geometry (pure functions of canvas pixels) ------------------------------------------------------


def normalized_box(box: Box) -> Box:
    """``box`` with x0 ≤ x1 and y0 ≤ y1, as floats."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def rounded_box(box: Box) -> Box:
    """``box`` rounded to 1/100 px: what the signals carry (no float dust in saved layouts)."""
    return (round(box[0], 2), round(box[1], 2), round(box[2], 2), round(box[3], 2))


def moved_box(box: Box, dx: float, dy: float, canvas_size: tuple[float, float]) -> Box:
    """``box`` shifted by ``(dx, dy)``, the shift cut short where the box would leave the canvas."""
    x0, y0, x1, y1 = box
    width, height = canvas_size
    dx = max(min(dx, width - x1), -x0)
    dy = max(min(dy, height - y1), -y0)
    return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)


def resized_box(
    box: Box,
    handle: tuple[int, int],
    pointer: tuple[float, float],
    canvas_size: tuple[float, float],
    keep_aspect: bool = False,
    from_centre: bool = False,
    min_size: float = MIN_BOX_PX,
) -> Box:
    """``box`` with the edges of ``handle`` brought to ``pointer``, kept inside the canvas.

    ``handle`` is a pair of sides in {-1, 0, 1} (see :data:`HANDLES`): only the edges it names move and the
    opposite ones stay put, unless ``from_centre`` (Alt), where both edges of a named axis move symmetrically
    about the box centre. ``keep_aspect`` (Shift) scales the box uniformly: by the larger of the two pointer
    scales at a corner; at an edge handle the other axis follows, centred. The box never crosses its anchor
    (it stops at ``min_size``) and never leaves the canvas (at the kept aspect too).
    """
    axes = []
    for axis in (0, 1):
        lo, hi = box[axis], box[axis + 2]
        side = handle[axis]
        limit = canvas_size[axis]
        start = max(hi - lo, 1e-6)
        centre = (lo + hi) / 2.0
        centred_room = max(0.0, 2.0 * min(centre, limit - centre))
        if side == 0:
            anchor, size, room = None, start, centred_room
        elif from_centre:
            anchor, size, room = None, 2.0 * abs(pointer[axis] - centre), centred_room
        else:
            anchor = hi if side < 0 else lo
            size = (pointer[axis] - anchor) * side
            room = max(0.0, anchor if side < 0 else limit - anchor)
        axes.append((lo, hi, side, start, centre, anchor, size, room))

    if keep_aspect:
        starts = [a[3] for a in axes]
        scale = max(size / start for (_, _, side, start, _, _, size, _) in axes if side != 0)
        smallest = min_size / min(starts)
        largest = min(room / start for (_, _, _, start, _, _, _, room) in axes)
        scale = min(max(scale, smallest), largest)  # staying inside the canvas wins over the minimum
        sizes = [start * scale for start in starts]
    else:
        sizes = [
            min(max(size, min_size), room) if side != 0 else start for (_, _, side, start, _, _, size, room) in axes
        ]

    edges = []
    for (lo, hi, side, _start, centre, anchor, _size, _room), size in zip(axes, sizes, strict=True):
        if side == 0 and not keep_aspect:
            edges.append((lo, hi))
        elif anchor is None:
            edges.append((centre - size / 2.0, centre + size / 2.0))
        elif side < 0:
            edges.append((anchor - size, anchor))
        else:
            edges.append((anchor, anchor + size))
    (x0, x1), (y0, y1) = edges
    return (x0, y0, x1, y1)


def snap_offset(values: list[float], targets: list[float], distance: float) -> tuple[float, float | None]:
    """The shift that brings the closest of ``values`` onto the closest of ``targets``.

    Returns ``(shift, target)``, or ``(0.0, None)`` when no value lies within ``distance`` of a target.
    """
    best_shift, best_target = 0.0, None
    for value in values:
        for target in targets:
            gap = target - value
            if abs(gap) <= distance and (best_target is None or abs(gap) < abs(best_shift)):
                best_shift, best_target = gap, target
    return best_shift, best_target


# --- items -------------------------------------------------------------------------------------------


def _label_font() -> QFont:
    font = QFont()
    font.setPixelSize(11)
    font.setWeight(QFont.Weight.DemiBold)
    return font


def _text_colour_on(colour: QColor) -> QColor:
    """Black or white, whichever reads on ``colour``."""
    luma = 0.299 * colour.red() + 0.587 * colour.green() + 0.114 * colour.blue()
    return QColor("#101214") if luma > 140 else QColor("#ffffff")


def _cosmetic_pen(colour: QColor | str, width: float = 1.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(colour), width, style)
    pen.setCosmetic(True)  # screen pixels whatever the zoom and the render-aspect stretch
    return pen


class _LabelTab(QGraphicsItem):
    """The name of a box on a tab in its colour, at its top-left corner, drawn in screen pixels.

    The tab sits on top of the box's top edge, or just inside it (``inside``) where there is no room above
    the frame. Locked boxes get a padlock before the name.
    """

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._font = _label_font()
        self._text = ""
        self._colour = QColor()
        self._locked = False
        self._inside = False
        self._rect = QRectF()

    def set_content(self, text: str, colour: QColor, locked: bool, inside: bool) -> None:
        if (text, colour, locked, inside) == (self._text, self._colour, self._locked, self._inside):
            return
        self.prepareGeometryChange()
        self._text, self._colour, self._locked, self._inside = text, QColor(colour), locked, inside
        width = QFontMetricsF(self._font).horizontalAdvance(text) + 10.0 + (11.0 if locked else 0.0)
        top = 0.0 if inside else -TAB_HEIGHT_PX
        self._rect = QRectF(0.0, top, math.ceil(width), TAB_HEIGHT_PX)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._rect.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._colour)
        painter.drawRoundedRect(self._rect, 2.5, 2.5)
        ink = _text_colour_on(self._colour)
        left = self._rect.left() + 5.0
        if self._locked:
            self._draw_padlock(painter, QPointF(left, self._rect.center().y()), ink)
            left += 11.0
        painter.setPen(ink)
        painter.setFont(self._font)
        text_rect = QRectF(left, self._rect.top(), self._rect.right() - left, self._rect.height())
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self._text)

    @staticmethod
    def _draw_padlock(painter: QPainter, at: QPointF, ink: QColor) -> None:
        """A 7×9 px padlock whose left edge is at ``at.x()``, centred on ``at.y()``."""
        painter.setPen(QPen(ink, 1.4))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        shackle = QPainterPath()
        shackle.moveTo(at.x() + 1.5, at.y())
        shackle.lineTo(at.x() + 1.5, at.y() - 2.0)
        shackle.arcTo(QRectF(at.x() + 1.5, at.y() - 4.5, 4.0, 4.0), 180.0, -180.0)
        shackle.lineTo(at.x() + 5.5, at.y())
        painter.drawPath(shackle)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ink)
        painter.drawRoundedRect(QRectF(at.x(), at.y() - 0.5, 7.0, 5.0), 1.0, 1.0)


class _BoxItem(QGraphicsRectItem):
    """One object's box with its label tab; restyled only when its look changes."""

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # the view does the hit-testing
        self.label = _LabelTab(self)
        self._style: tuple | None = None

    def show_box(
        self,
        box: CanvasBox,
        rect: Box,
        selected: bool,
        hovered: bool,
        label_inside: bool,
        label_right_px: float,
        scale_x: float,
    ) -> None:
        """Bring the item to ``box`` drawn at ``rect`` (which differs from ``box.box`` during a drag).

        ``label_right_px`` is the canvas edge the tab must not cross, ``scale_x`` screen px per canvas px.
        """
        self.setVisible(box.visible)
        colour = QColor(box.colour)
        flagged = bool(box.flag)
        style = (colour.rgba(), box.is_keyframe, box.locked, selected, hovered, flagged)
        if style != self._style:
            self._style = style
            self.setPen(self._pen(QColor(FLAG_COLOUR) if flagged else colour, box.is_keyframe, selected, flagged))
            self.setBrush(self._brush(colour, box.is_keyframe, box.locked, selected, hovered))
            self.label.setOpacity(1.0 if box.is_keyframe else 0.7)
        x0, y0, x1, y1 = rect
        qrect = QRectF(x0, y0, x1 - x0, y1 - y0)
        if qrect != self.rect():
            self.setRect(qrect)
        marks = ("⚠ " if flagged else "") + ("♪ " if box.sounding else "")
        self.label.set_content(marks + box.name, colour, box.locked, label_inside)
        self.setToolTip(box.flag)
        # A long name near the right edge slides left rather than leave the frame.
        self.label.setPos(max(0.0, min(x0, label_right_px - self.label.boundingRect().width() / scale_x)), y0)

    @staticmethod
    def _pen(colour: QColor, is_keyframe: bool, selected: bool, flagged: bool = False) -> QPen:
        ink = QColor(colour)
        if not is_keyframe:
            ink.setAlpha(180)
        style = Qt.PenStyle.SolidLine if is_keyframe else Qt.PenStyle.DashLine
        pen = _cosmetic_pen(ink, 2.5 if selected or flagged else 1.6, style)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        return pen

    @staticmethod
    def _brush(colour: QColor, is_keyframe: bool, locked: bool, selected: bool, hovered: bool) -> QBrush:
        fill = QColor(colour)
        alpha = 38 if is_keyframe else 16
        alpha += 30 if selected else 0
        alpha += 18 if hovered else 0
        if locked:  # hatched: visibly not editable
            fill.setAlpha(min(255, alpha + 60))
            brush = QBrush(fill, Qt.BrushStyle.BDiagPattern)
            brush.setTransform(QTransform())  # keep the hatch in screen pixels
            return brush
        fill.setAlpha(alpha)
        return QBrush(fill)


class _PathItem(QGraphicsItem):
    """The path of one box centre over the clip: a polyline with a dot per point and an arrowhead at the end,
    drawn in screen pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(_Z_PATHS)
        self._points: list[QPointF] = []
        self._colour = QColor()
        self._bounds = QRectF()

    def set_path(self, points: list[tuple[float, float]], colour: QColor) -> None:
        new_points = [QPointF(float(x), float(y)) for x, y in points]
        if new_points == self._points and QColor(colour) == self._colour:
            return
        self.prepareGeometryChange()
        self._points, self._colour = new_points, QColor(colour)
        bounds = QPolygonF(new_points).boundingRect() if new_points else QRectF()
        self._bounds = bounds.adjusted(-12.0, -12.0, 12.0, 12.0)  # dots and the arrowhead stick out
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if len(self._points) < 2:
            return
        to_device = painter.worldTransform()
        device = [to_device.map(p) for p in self._points]
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        line = QColor(self._colour)
        line.setAlpha(170)
        painter.setPen(QPen(line, 1.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.drawPolyline(QPolygonF(device))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(line)
        for point in device:
            painter.drawEllipse(point, 2.0, 2.0)
        tip = device[-1]
        tail = next((p for p in reversed(device[:-1]) if QLineF(p, tip).length() > 1.0), None)
        if tail is not None:
            arrow = QLineF(tip, tail)
            arrow.setLength(8.0)
            head = QPolygonF([tip])
            for turn in (25.0, -25.0):
                wing = QLineF(arrow)
                wing.setAngle(arrow.angle() + turn)
                head.append(wing.p2())
            painter.setBrush(self._colour)
            painter.drawPolygon(head)
        painter.restore()


@dataclass
class _Drag:
    """A press that may become a move, a resize or a draw."""

    kind: str  # "move", "resize" or "draw"
    press_view: QPointF
    press_canvas: QPointF
    modifiers: Qt.KeyboardModifier
    object_id: int | None = None
    start_box: Box = (0.0, 0.0, 0.0, 0.0)
    handle: tuple[int, int] = (0, 0)
    handle_offset: QPointF = field(default_factory=QPointF)  # handle position − press position (canvas px)
    box: Box = (0.0, 0.0, 0.0, 0.0)
    last_view: QPointF = field(default_factory=QPointF)
    active: bool = False  # past the drag threshold
    emitted: bool = False  # at least one boxChanged(finished=False) went out


# --- the view ----------------------------------------------------------------------------------------


class LayoutCanvas(QGraphicsView):
    """The boxes of one frame on the canvas, scaled to fit the widget at the render aspect.

    Setters (:meth:`set_boxes`, :meth:`set_selected`, :meth:`set_onion`, :meth:`set_paths`,
    :meth:`set_background`, :meth:`set_canvas_size`, :meth:`set_draw_mode`) show state and never emit, so a
    document that echoes every change back into the view cannot loop. The user's edits come out as signals,
    all in canvas pixels:

    - ``boxChanged(object_id, (x0, y0, x1, y1), finished)``: False on each drag step, True once on release
      (and once with the starting box when Esc cancels a drag whose steps already went out). The view keeps
      showing the released box until the next :meth:`set_boxes`, so a queued echo does not flicker;
    - ``boxDrawn((x0, y0, x1, y1))``: a box drawn in draw mode; draw mode then ends (``drawModeChanged``);
    - ``deleteRequested(object_id)``, ``nudgeRequested(object_id, dx, dy)`` (cut short at the canvas edge),
      ``renameRequested(object_id)`` (double click), ``selectionChanged(object_id or None)``.
    """

    boxChanged = Signal(int, tuple, bool)
    boxDrawn = Signal(tuple)
    deleteRequested = Signal(int)
    selectionChanged = Signal(object)
    nudgeRequested = Signal(int, int, int)
    renameRequested = Signal(int)
    drawModeChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self._scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)  # few items that move often
        self.setScene(self._scene)
        self.setRenderHints(
            QPainter.RenderHint.Antialiasing
            | QPainter.RenderHint.TextAntialiasing
            | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setBackgroundBrush(QColor(BACKGROUND))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(160, 100)
        self.setToolTip(
            "Click: select · drag: move · handles: resize (Shift: keep aspect, Alt: from centre)\n"
            "Ctrl while dragging: no snapping · ←↑→↓: nudge 1 px (Shift: 10 px)\n"
            "Del/Backspace: delete (Shift+Del: also when locked) · double click: rename · Esc: cancel"
        )

        self._canvas_w, self._canvas_h = DEFAULT_CANVAS_PX
        self._render_aspect = self._canvas_w / self._canvas_h
        self._boxes: dict[int, CanvasBox] = {}
        self._items: dict[int, _BoxItem] = {}
        self._selected: int | None = None
        self._hovered: int | None = None
        self._drag: _Drag | None = None
        self._draw_mode = False
        self._snapping = True
        self._show_onion = True
        self._show_paths = True
        self._onion_items: list[QGraphicsRectItem] = []
        self._onion_count = 0
        self._path_items: dict[int, _PathItem] = {}
        self._path_points: dict[int, list[tuple[float, float]]] = {}
        self._path_colours: dict[int, QColor] = {}

        self._frame = QGraphicsRectItem()
        self._frame.setZValue(_Z_FRAME)
        self._frame.setBrush(QColor(FRAME_FILL))
        outline = QColor(FOREGROUND)
        outline.setAlpha(150)
        self._frame.setPen(_cosmetic_pen(outline, 1.0))
        self._background = QGraphicsPixmapItem()
        self._background.setZValue(_Z_IMAGE)
        self._background.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._background.setVisible(False)
        self._guides = QGraphicsPathItem()
        self._guides.setZValue(_Z_GUIDES)
        self._guides.setPen(_cosmetic_pen(QColor(255, 255, 255, 34), 1.0))
        snap_ink = QColor(CURSOR)
        snap_ink.setAlpha(210)
        self._snap_lines = [QGraphicsLineItem(), QGraphicsLineItem()]  # vertical (x), horizontal (y)
        for line in self._snap_lines:
            line.setPen(_cosmetic_pen(snap_ink, 1.0))
            line.setZValue(_Z_SNAP)
            line.setVisible(False)
        self._draft = QGraphicsRectItem()
        self._draft.setZValue(_Z_DRAFT)
        self._draft.setPen(_cosmetic_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
        self._draft.setBrush(QColor(255, 255, 255, 28))
        self._draft.setVisible(False)
        self._handles: list[QGraphicsRectItem] = []
        half = HANDLE_SIZE_PX / 2.0
        for _ in HANDLES:
            handle = QGraphicsRectItem(-half, -half, HANDLE_SIZE_PX, HANDLE_SIZE_PX)
            handle.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            handle.setBrush(QColor(HANDLE_FILL))
            handle.setPen(QPen(QColor(HANDLE_EDGE), 1.0))
            handle.setZValue(_Z_HANDLES)
            handle.setVisible(False)
            self._handles.append(handle)
        for item in (self._frame, self._background, self._guides, *self._snap_lines, self._draft, *self._handles):
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self._scene.addItem(item)
        self.set_canvas_size(self._canvas_w, self._canvas_h)

    # --- state in ---------------------------------------------------------------------------------

    def set_canvas_size(self, width: float, height: float, render_aspect: float | None = None) -> None:
        """Use a ``width``×``height`` px canvas, shown at ``render_aspect`` (width / height of the rendered
        video, e.g. 512 / 320) or at its own aspect when None. Boxes stay in canvas pixels."""
        if not (width > 0 and height > 0):
            raise ValueError(f"canvas size must be positive, got {width}x{height}")
        if render_aspect is not None and not render_aspect > 0:
            raise ValueError(f"render_aspect must be positive, got {render_aspect}")
        self._canvas_w, self._canvas_h = float(width), float(height)
        self._render_aspect = float(render_aspect) if render_aspect else self._canvas_w / self._canvas_h
        frame = QRectF(0.0, 0.0, self._canvas_w, self._canvas_h)
        self._frame.setRect(frame)
        thirds = QPainterPath()
        for k in (1, 2):
            x, y = self._canvas_w * k / 3.0, self._canvas_h * k / 3.0
            thirds.moveTo(x, 0.0)
            thirds.lineTo(x, self._canvas_h)
            thirds.moveTo(0.0, y)
            thirds.lineTo(self._canvas_w, y)
        self._guides.setPath(thirds)
        self._scene.setSceneRect(frame)
        self._fit_background()
        self._fit()

    def set_boxes(self, boxes: list[CanvasBox]) -> None:
        """Show ``boxes`` (the current frame; later ones on top). Items are reused per object id, nothing is
        emitted, and a box being dragged keeps the dragged geometry until the drag ends."""
        incoming: dict[int, CanvasBox] = {}
        for box in boxes:
            incoming[int(box.object_id)] = box
        for object_id in [i for i in self._items if i not in incoming]:
            self._scene.removeItem(self._items.pop(object_id))
        self._boxes = incoming
        if self._hovered not in incoming:
            self._hovered = None
        drag = self._drag
        if drag is not None and drag.object_id is not None:
            dragged = incoming.get(drag.object_id)
            if dragged is None or not dragged.visible or dragged.locked:
                self._end_drag()  # the object went away (an undo, a frame step): drop the drag silently
        for order, object_id in enumerate(incoming):
            item = self._items.get(object_id)
            if item is None:
                item = _BoxItem()
                self._items[object_id] = item
                self._scene.addItem(item)
            item.setZValue(_Z_SELECTED if object_id == self._selected else float(order))
            self._show_item(object_id)
        self._recolour_paths()
        self._update_handles()

    def set_selected(self, object_id: int | None) -> None:
        """Select ``object_id`` (None: nothing) without emitting. The selection is kept while the object is
        absent from the frame shown, so it is selected again when a frame that has it comes back."""
        self._select(object_id, emit=False)

    def set_onion(self, previous: list[CanvasBox], following: list[CanvasBox]) -> None:
        """Faint outlines of the neighbouring frames (previous: dotted, following: fainter dotted)."""
        shown = [(box, 110) for box in previous if box.visible] + [(box, 60) for box in following if box.visible]
        while len(self._onion_items) < len(shown):
            item = QGraphicsRectItem()
            item.setZValue(_Z_ONION)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self._scene.addItem(item)
            self._onion_items.append(item)
        for item, (box, alpha) in zip(self._onion_items, shown, strict=False):
            ink = QColor(box.colour)
            ink.setAlpha(alpha)
            item.setPen(_cosmetic_pen(ink, 1.2, Qt.PenStyle.DotLine))
            x0, y0, x1, y1 = normalized_box(box.box)
            item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            item.setVisible(self._show_onion)
        for item in self._onion_items[len(shown) :]:
            item.setVisible(False)
        self._onion_count = len(shown)

    def show_onion(self, on: bool) -> None:
        """Show or hide the onion skins given to :meth:`set_onion`."""
        self._show_onion = bool(on)
        for index, item in enumerate(self._onion_items):
            item.setVisible(self._show_onion and index < self._onion_count)

    def set_paths(self, paths: dict[int, list[tuple[float, float]]],
                  colours: dict[int, QColor | str] | None = None) -> None:
        """The path of each box centre over the clip, ``{object_id: [(x, y), ...]}`` in canvas px, drawn in
        the object's colour (``colours``, else its box's, else the palette's) with an arrowhead at the end."""
        self._path_points = {int(k): list(v) for k, v in paths.items()}
        self._path_colours = {int(k): QColor(v) for k, v in (colours or {}).items()}
        for object_id in [i for i in self._path_items if i not in self._path_points]:
            self._scene.removeItem(self._path_items.pop(object_id))
        for object_id in self._path_points:
            if object_id not in self._path_items:
                item = _PathItem()
                self._path_items[object_id] = item
                self._scene.addItem(item)
            self._path_items[object_id].setVisible(self._show_paths)
        self._recolour_paths()

    def show_paths(self, on: bool) -> None:
        """Show or hide the paths given to :meth:`set_paths`."""
        self._show_paths = bool(on)
        for item in self._path_items.values():
            item.setVisible(self._show_paths)

    def set_draw_mode(self, on: bool) -> None:
        """Arm (or disarm) draw mode: the next drag inside the frame draws a new box (``boxDrawn``)."""
        self._draw_mode = bool(on)
        if not on and self._drag is not None and self._drag.kind == "draw":
            self._end_drag()
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def set_snapping(self, on: bool) -> None:
        """Snap edges to the canvas edges and to the other boxes' edges while dragging (Ctrl overrides)."""
        self._snapping = bool(on)

    def set_background(self, image: QImage | None) -> None:
        """Draw ``image`` (e.g. a preview frame from the renderer) under the boxes, stretched to the frame;
        None removes it."""
        if image is None or image.isNull():
            self._background.setPixmap(QPixmap())
            self._background.setVisible(False)
            return
        self._background.setPixmap(QPixmap.fromImage(image))
        self._fit_background()
        self._background.setVisible(True)

    # --- state out (for the lead and the tests) ---------------------------------------------------

    def selected(self) -> int | None:
        """The selected object id, or None."""
        return self._selected

    def boxes(self) -> list[CanvasBox]:
        """The boxes last given to :meth:`set_boxes`."""
        return list(self._boxes.values())

    def draw_mode(self) -> bool:
        return self._draw_mode

    def snapping(self) -> bool:
        return self._snapping

    def canvas_size(self) -> tuple[float, float]:
        return (self._canvas_w, self._canvas_h)

    def box_item(self, object_id: int) -> QGraphicsRectItem | None:
        """The item that draws ``object_id`` (its pen tells keyframe from interpolated), or None."""
        return self._items.get(object_id)

    def handle_items(self) -> list[QGraphicsRectItem]:
        """The 8 resize handles, in the order of :data:`HANDLES`."""
        return list(self._handles)

    def frame_rect_in_view(self) -> QRectF:
        """Where the canvas frame lies in viewport pixels."""
        return self.viewportTransform().mapRect(QRectF(0.0, 0.0, self._canvas_w, self._canvas_h))

    # --- fitting ----------------------------------------------------------------------------------

    def _fit(self) -> None:
        """Scale the canvas to fill the viewport at the render aspect, with a margin."""
        viewport = self.viewport().rect()
        room_w = max(1.0, viewport.width() - 2.0 * FRAME_MARGIN_PX)
        room_h = max(1.0, viewport.height() - 2.0 * FRAME_MARGIN_PX)
        shown_w = min(room_w, room_h * self._render_aspect)
        shown_h = shown_w / self._render_aspect
        self.setTransform(QTransform.fromScale(shown_w / self._canvas_w, shown_h / self._canvas_h))
        for object_id in self._items:
            self._show_item(object_id)  # label tabs flip inside near the top, which depends on the scale
        self._update_handles()

    def _fit_background(self) -> None:
        pixmap = self._background.pixmap()
        if pixmap.isNull():
            return
        self._background.setTransform(
            QTransform.fromScale(self._canvas_w / pixmap.width(), self._canvas_h / pixmap.height())
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit()

    # --- drawing the state ------------------------------------------------------------------------

    def _scale(self) -> tuple[float, float]:
        """Screen pixels per canvas pixel, along x and y."""
        transform = self.transform()
        return (max(transform.m11(), 1e-9), max(transform.m22(), 1e-9))

    def _shown_box(self, object_id: int) -> Box:
        drag = self._drag
        if drag is not None and drag.object_id == object_id and drag.kind in ("move", "resize"):
            return drag.box
        return normalized_box(self._boxes[object_id].box)

    def _show_item(self, object_id: int) -> None:
        box = self._boxes.get(object_id)
        item = self._items.get(object_id)
        if box is None or item is None:
            return
        rect = self._shown_box(object_id)
        scale_x, scale_y = self._scale()
        label_inside = rect[1] * scale_y < TAB_HEIGHT_PX + 1.0  # no room above the frame
        item.show_box(
            box, rect, object_id == self._selected, object_id == self._hovered, label_inside, self._canvas_w, scale_x
        )

    def _update_handles(self) -> None:
        box = self._editable_selected()
        if box is None:
            for handle in self._handles:
                handle.setVisible(False)
            return
        x0, y0, x1, y1 = self._shown_box(box.object_id)
        xs = {-1: x0, 0: (x0 + x1) / 2.0, 1: x1}
        ys = {-1: y0, 0: (y0 + y1) / 2.0, 1: y1}
        for handle, (side_x, side_y) in zip(self._handles, HANDLES, strict=True):
            handle.setPos(xs[side_x], ys[side_y])
            handle.setVisible(True)

    def _recolour_paths(self) -> None:
        for object_id, item in self._path_items.items():
            box = self._boxes.get(object_id)
            colour = (QColor(box.colour) if box is not None
                      else self._path_colours.get(object_id, QColor(source_colour(object_id))))
            item.set_path(self._path_points.get(object_id, []), colour)

    def _select(self, object_id: int | None, emit: bool) -> None:
        previous = self._selected
        if object_id == previous:
            return
        self._selected = object_id
        order = {oid: float(i) for i, oid in enumerate(self._boxes)}
        for oid in (previous, object_id):
            if oid is not None and oid in self._items:
                self._items[oid].setZValue(_Z_SELECTED if oid == object_id else order[oid])
                self._show_item(oid)
        self._update_handles()
        if emit:
            self.selectionChanged.emit(object_id)

    def _editable_selected(self, allow_locked: bool = False) -> CanvasBox | None:
        """The selected box if it is in the frame shown, visible and (unless ``allow_locked``) unlocked."""
        box = self._boxes.get(self._selected) if self._selected is not None else None
        if box is None or not box.visible or (box.locked and not allow_locked):
            return None
        return box

    # --- hit-testing ------------------------------------------------------------------------------

    def _to_canvas(self, view_pos: QPointF) -> QPointF:
        inverse, _ok = self.viewportTransform().inverted()
        return inverse.map(view_pos)

    def _handle_at(self, view_pos: QPointF) -> tuple[int, int] | None:
        if self._editable_selected() is None:
            return None
        to_view = self.viewportTransform()
        best, best_distance = None, math.inf
        for handle, sides in zip(self._handles, HANDLES, strict=True):  # corners first: they win ties
            centre = to_view.map(handle.pos())
            distance = max(abs(centre.x() - view_pos.x()), abs(centre.y() - view_pos.y()))
            if distance <= HANDLE_GRAB_PX and distance < best_distance:
                best, best_distance = sides, distance
        return best

    def _box_at(self, view_pos: QPointF) -> int | None:
        """The object under ``view_pos``: the selected box first, then the topmost (label tabs count)."""
        to_view = self.viewportTransform()
        candidates = [oid for oid in reversed(self._boxes) if oid != self._selected]
        if self._selected in self._boxes:
            candidates.insert(0, self._selected)
        for object_id in candidates:
            if not self._boxes[object_id].visible:
                continue
            item = self._items[object_id]
            body = to_view.mapRect(QRectF(*self._rect_args(self._shown_box(object_id))))
            tab = item.label.deviceTransform(to_view).mapRect(item.label.boundingRect())
            if body.adjusted(-1.0, -1.0, 1.0, 1.0).contains(view_pos) or tab.contains(view_pos):
                return object_id
        return None

    @staticmethod
    def _rect_args(box: Box) -> tuple[float, float, float, float]:
        return (box[0], box[1], box[2] - box[0], box[3] - box[1])

    # --- dragging ---------------------------------------------------------------------------------

    def _snap_targets(self, exclude: int | None) -> tuple[list[float], list[float]]:
        xs, ys = [0.0, self._canvas_w], [0.0, self._canvas_h]
        for object_id, box in self._boxes.items():
            if object_id == exclude or not box.visible:
                continue
            x0, y0, x1, y1 = normalized_box(box.box)
            xs += [x0, x1]
            ys += [y0, y1]
        return xs, ys

    def _update_drag(self) -> None:
        """Recompute the dragged geometry from the last pointer position and modifiers; show it, emit it."""
        drag = self._drag
        if drag is None or not drag.active:
            return
        pointer = self._to_canvas(drag.last_view)
        snapping = self._snapping and not drag.modifiers & Qt.KeyboardModifier.ControlModifier
        scale_x, scale_y = self._scale()
        reach_x, reach_y = SNAP_DISTANCE_PX / scale_x, SNAP_DISTANCE_PX / scale_y
        targets_x, targets_y = self._snap_targets(drag.object_id) if snapping else ([], [])
        size = (self._canvas_w, self._canvas_h)
        snapped_x = snapped_y = None

        if drag.kind == "move":
            box = moved_box(
                drag.start_box, pointer.x() - drag.press_canvas.x(), pointer.y() - drag.press_canvas.y(), size
            )
            if snapping:
                shift_x, snapped_x = snap_offset([box[0], box[2]], targets_x, reach_x)
                shift_y, snapped_y = snap_offset([box[1], box[3]], targets_y, reach_y)
                box = moved_box(box, shift_x, shift_y, size)
        else:
            x = pointer.x() + drag.handle_offset.x()
            y = pointer.y() + drag.handle_offset.y()
            moving_x = drag.kind == "draw" or drag.handle[0] != 0
            moving_y = drag.kind == "draw" or drag.handle[1] != 0
            if snapping and moving_x:
                shift_x, snapped_x = snap_offset([x], targets_x, reach_x)
                x += shift_x
            if snapping and moving_y:
                shift_y, snapped_y = snap_offset([y], targets_y, reach_y)
                y += shift_y
            if drag.kind == "draw":
                x, y = min(max(x, 0.0), self._canvas_w), min(max(y, 0.0), self._canvas_h)
                box = normalized_box((drag.press_canvas.x(), drag.press_canvas.y(), x, y))
            else:
                box = resized_box(
                    drag.start_box,
                    drag.handle,
                    (x, y),
                    size,
                    keep_aspect=bool(drag.modifiers & Qt.KeyboardModifier.ShiftModifier),
                    from_centre=bool(drag.modifiers & Qt.KeyboardModifier.AltModifier),
                )

        self._show_snap(snapped_x, snapped_y)
        box = rounded_box(box)
        if box == drag.box:
            return
        drag.box = box
        if drag.kind == "draw":
            self._draft.setRect(QRectF(*self._rect_args(box)))
            self._draft.setVisible(True)
            return
        self._show_item(drag.object_id)
        self._update_handles()
        drag.emitted = True
        self.boxChanged.emit(drag.object_id, box, False)

    def _show_snap(self, x: float | None, y: float | None) -> None:
        vertical, horizontal = self._snap_lines
        if x is not None:
            vertical.setLine(x, 0.0, x, self._canvas_h)
        if y is not None:
            horizontal.setLine(0.0, y, self._canvas_w, y)
        vertical.setVisible(x is not None)
        horizontal.setVisible(y is not None)

    def _end_drag(self) -> _Drag | None:
        drag, self._drag = self._drag, None
        self._show_snap(None, None)
        self._draft.setVisible(False)
        if drag is not None and drag.object_id is not None:
            self._show_item(drag.object_id)
            self._update_handles()
        return drag

    def _cancel_drag(self) -> None:
        """Esc: put the box back where the drag started (telling the model, if it saw the steps)."""
        drag = self._end_drag()
        if drag is not None and drag.kind != "draw" and drag.emitted:
            self.boxChanged.emit(drag.object_id, rounded_box(drag.start_box), True)

    # --- mouse ------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        event.accept()
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._drag is not None:
            return
        view_pos = event.position()
        pointer = self._to_canvas(view_pos)
        drag = _Drag(
            kind="move",
            press_view=QPointF(view_pos),
            press_canvas=pointer,
            modifiers=event.modifiers(),
            last_view=QPointF(view_pos),
        )
        if self._draw_mode:
            drag.kind = "draw"
            drag.press_canvas = QPointF(
                min(max(pointer.x(), 0.0), self._canvas_w), min(max(pointer.y(), 0.0), self._canvas_h)
            )
            drag.box = (drag.press_canvas.x(), drag.press_canvas.y()) * 2
            self._drag = drag
            return
        handle = self._handle_at(view_pos)
        if handle is not None:
            box = self._editable_selected()
            drag.kind, drag.object_id, drag.handle = "resize", box.object_id, handle
            drag.start_box = drag.box = self._shown_box(box.object_id)
            x0, y0, x1, y1 = drag.start_box
            handle_x = {-1: x0, 0: (x0 + x1) / 2.0, 1: x1}[handle[0]]
            handle_y = {-1: y0, 0: (y0 + y1) / 2.0, 1: y1}[handle[1]]
            drag.handle_offset = QPointF(handle_x - pointer.x(), handle_y - pointer.y())
            self._drag = drag
            return
        hit = self._box_at(view_pos)
        self._select(hit, emit=True)
        if hit is not None and not self._boxes[hit].locked:
            drag.object_id = hit
            drag.start_box = drag.box = self._shown_box(hit)
            self._drag = drag
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        view_pos = event.position()
        drag = self._drag
        if drag is None:
            self._hover(view_pos)
            return
        event.accept()
        drag.last_view = QPointF(view_pos)
        drag.modifiers = event.modifiers()
        if not drag.active:
            moved = view_pos - drag.press_view
            if max(abs(moved.x()), abs(moved.y())) < DRAG_THRESHOLD_PX:
                return
            drag.active = True
        self._update_drag()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mouseReleaseEvent(event)
            return
        event.accept()
        drag = self._drag
        if drag is None:
            return
        if event.position() != drag.last_view:  # a release away from the last move counts as one more step
            drag.last_view = QPointF(event.position())
            drag.modifiers = event.modifiers()
            moved = drag.last_view - drag.press_view
            drag.active = drag.active or max(abs(moved.x()), abs(moved.y())) >= DRAG_THRESHOLD_PX
            self._update_drag()
        if drag.kind != "draw" and drag.box != rounded_box(drag.start_box):
            # Keep showing the released box until the model's echo (which may come queued) replaces it.
            self._boxes[drag.object_id] = replace(self._boxes[drag.object_id], box=drag.box)
        self._end_drag()
        self._hover(event.position())
        if drag.kind == "draw":
            x0, y0, x1, y1 = drag.box
            if drag.active and x1 - x0 >= MIN_BOX_PX and y1 - y0 >= MIN_BOX_PX:
                self.set_draw_mode(False)
                self.boxDrawn.emit(drag.box)
                self.drawModeChanged.emit(False)
            return
        if drag.box != rounded_box(drag.start_box):
            self.boxChanged.emit(drag.object_id, drag.box, True)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._draw_mode:
            super().mouseDoubleClickEvent(event)
            return
        event.accept()
        hit = self._box_at(event.position())
        if hit is not None:
            self.renameRequested.emit(hit)

    def wheelEvent(self, event) -> None:
        event.ignore()  # the canvas always fits; let a scroll area around it have the wheel

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        if self._drag is None:
            self._set_hovered(None)

    def _hover(self, view_pos: QPointF) -> None:
        """Cursor and hover highlight for what lies under the pointer."""
        if self._draw_mode:
            self._set_hovered(None)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
            return
        handle = self._handle_at(view_pos)
        if handle is not None:
            self._set_hovered(self._selected)
            self.viewport().setCursor(_HANDLE_CURSORS[handle])
            return
        hit = self._box_at(view_pos)
        self._set_hovered(hit)
        if hit is None:
            cursor = Qt.CursorShape.ArrowCursor
        elif self._boxes[hit].locked:
            cursor = Qt.CursorShape.ForbiddenCursor
        else:
            cursor = Qt.CursorShape.SizeAllCursor
        self.viewport().setCursor(cursor)

    def _set_hovered(self, object_id: int | None) -> None:
        previous, self._hovered = self._hovered, object_id
        if previous != object_id:
            for oid in (previous, object_id):
                if oid is not None:
                    self._show_item(oid)

    # --- keys -------------------------------------------------------------------------------------

    def _claims(self, event: QKeyEvent) -> bool:
        """Whether ``event`` is a canvas key now (so window shortcuts on the same key must wait)."""
        key = event.key()
        plain = not event.modifiers() & ~(Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier)
        if key == Qt.Key.Key_Escape:
            return self._drag is not None or self._draw_mode
        if key in _ARROWS or key in _DELETE_KEYS:
            # A locked selection claims the keys too: the user meant the box, not the next frame.
            return plain and self._editable_selected(allow_locked=True) is not None
        return False

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._claims(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self._drag is not None:
            if key == Qt.Key.Key_Escape:
                self._cancel_drag()
            elif key in _MODIFIER_KEYS:  # Shift/Alt/Ctrl pressed mid-drag act at once
                self._drag.modifiers = event.modifiers() | _MODIFIER_KEYS[key]
                self._update_drag()
            event.accept()
            return
        if key in _ARROWS or key in _DELETE_KEYS:
            if not self._claims(event):
                event.ignore()  # let the window use ←/→ for frames
                return
            event.accept()
            if key in _ARROWS:
                self._nudge(*_ARROWS[key], step=NUDGE_FAST_PX if shift else NUDGE_PX)
                return
            box = self._editable_selected(allow_locked=True)
            if not box.locked or shift:
                self.deleteRequested.emit(box.object_id)
            return
        if key == Qt.Key.Key_Escape:
            if self._draw_mode:
                self.set_draw_mode(False)
                self.drawModeChanged.emit(False)
                event.accept()
                return
            if self._selected is not None:
                self._select(None, emit=True)
                event.accept()
                return
        event.ignore()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if self._drag is not None and event.key() in _MODIFIER_KEYS:
            self._drag.modifiers = event.modifiers() & ~_MODIFIER_KEYS[event.key()]
            self._update_drag()
            event.accept()
            return
        event.ignore()

    def _nudge(self, sign_x: int, sign_y: int, step: int) -> None:
        box = self._editable_selected()
        if box is None:
            return
        x0, y0, x1, y1 = normalized_box(box.box)
        moved = moved_box((x0, y0, x1, y1), sign_x * step, sign_y * step, (self._canvas_w, self._canvas_h))
        dx, dy = round(moved[0] - x0), round(moved[1] - y0)  # cut short at the edge, whole pixels
        if dx or dy:
            self.nudgeRequested.emit(box.object_id, dx, dy)
