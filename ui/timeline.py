"""The timeline of a Video Scene Layout: a ruler, a keyframe row, one lane per object, the playhead.

From the top: a ruler with seconds and frame ticks (the current time and frame in its left corner); a row with
one ◆ per keyframe of the layout; then one lane per object: its name on the left in its colour, a bar where the
object is shown and a ◆ at each keyframe that lists it. A yellow playhead runs through all of them.

The widget is a scrubber. A press or a drag anywhere right of the names sets the time and emits
``timeChanged(seconds)`` on the press and on every move that changes it; the time snaps to the frames at the
given fps, and to a keyframe of the layout within a few pixels, since that is where captions and boxes are
edited. Shift places the playhead freely. A press on an object's ◆ jumps to that exact keyframe time and emits
``timeChanged`` then ``keyframeClicked(object_id, time)``; a press on a name emits
``objectClicked(object_id)``. The release emits ``scrubFinished(seconds)``. Keys are the window's.

The setters never emit. Everything but the playhead is painted once into a cached pixmap (rebuilt on a
resize or new data), so :meth:`Timeline.set_time` repaints two narrow strips and playback at any rate costs
next to nothing. Geometry helpers (:meth:`Timeline.x_for_time`, :meth:`Timeline.time_for_x`,
:meth:`Timeline.lane_rect`, :meth:`Timeline.keyframe_point`) tell tests and callers where things are drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QToolTip, QWidget

from ui.palette import BACKGROUND, CURSOR, FOREGROUND, format_time

#: Heights of the ruler, of the layout's keyframe row and of one object lane (px).
RULER_HEIGHT_PX = 26
KEYFRAME_ROW_HEIGHT_PX = 18
LANE_HEIGHT_PX = 22
#: Width of the names on the left, and the space between them and time 0 (so a ◆ at 0 is whole).
NAME_WIDTH_PX = 128
TIME_PAD_PX = 10
RIGHT_MARGIN_PX = 12
#: Half the diagonal of a lane's ◆, and how far from its centre a press still grabs it (px).
DIAMOND_RADIUS_PX = 5.5
DIAMOND_GRAB_PX = 7.0
#: Within this distance of a layout keyframe (px) the scrubber lands on the keyframe itself.
KEYFRAME_MAGNET_PX = 5.0
#: After a press on a ◆ the pointer must move this far before the press becomes a scrub (px).
DRAG_THRESHOLD_PX = 3.0
#: Frame ticks are drawn only when frames are at least this far apart, labels this far (px).
MIN_FRAME_TICK_SPACING_PX = 4.0
MIN_LABEL_SPACING_PX = 56.0
#: Label steps the ruler chooses from (seconds).
_LABEL_STEPS_S = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

_RULER_BG = QColor("#1d2128")
_LANE_BG_ODD = QColor("#191c22")
_GRID = QColor(201, 209, 217, 34)
_DIM_TEXT = QColor(201, 209, 217, 150)

HELP_TEXT = (
    "Click or drag to move the playhead: it snaps to frames and to keyframes (hold Shift to place it freely).\n"
    "Click a ◆ to jump to that keyframe and select its object; click a name to select the object."
)


@dataclass(frozen=True)
class Lane:
    """One object on the timeline.

    ``keyframe_times``: the keyframes (s) that list the object, drawn as ◆. ``visible_spans``: ``(start_s,
    end_s)`` where the object is shown (between consecutive keyframes that list it), drawn as a bar.
    ``colour`` is a ``QColor`` or anything ``QColor`` accepts (``"#ff6b6b"``).
    """

    object_id: int
    name: str
    colour: QColor | str
    keyframe_times: tuple[float, ...] = ()
    visible_spans: tuple[tuple[float, float], ...] = ()


@dataclass
class _Press:
    """A press in progress: where it began and the ◆ it grabbed, if any."""

    start: QPointF
    keyframe: tuple[int, float] | None
    scrubbing: bool


def _diamond(centre: QPointF, radius: float) -> QPolygonF:
    x, y = centre.x(), centre.y()
    return QPolygonF([QPointF(x, y - radius), QPointF(x + radius, y), QPointF(x, y + radius), QPointF(x - radius, y)])


def _label_step_s(px_per_s: float) -> float:
    """The smallest nice label step (s) that keeps ruler labels ``MIN_LABEL_SPACING_PX`` apart."""
    for step in _LABEL_STEPS_S:
        if step * px_per_s >= MIN_LABEL_SPACING_PX:
            return step
    return _LABEL_STEPS_S[-1]


def _tick_label(seconds: float, step_s: float) -> str:
    """``"2s"``, ``"2.5s"`` or ``"1:30"`` (minutes from a minute on)."""
    if seconds >= 60.0 and step_s >= 1.0:
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes}:{secs:02d}"
    decimals = 0 if float(step_s).is_integer() else len(f"{step_s:g}".split(".")[1])
    return f"{seconds:.{decimals}f}s"


class Timeline(QWidget):
    """Ruler, keyframe row, object lanes and playhead of a layout; a scrubber (see the module docstring).

    Signals: ``timeChanged(float)`` (s, while the user presses or drags), ``keyframeClicked(int, float)``
    (object id, keyframe time), ``objectClicked(int)`` (a lane's name), ``scrubFinished(float)`` (release).
    """

    timeChanged = Signal(float)
    keyframeClicked = Signal(int, float)
    objectClicked = Signal(int)
    scrubFinished = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._duration_s = 0.0
        self._fps = 8.0
        self._time_s = 0.0
        self._keyframe_times: tuple[float, ...] = ()
        self._lanes: tuple[Lane, ...] = ()
        self._selected: int | None = None
        self._press: _Press | None = None
        self._static: QPixmap | None = None  # everything but the playhead and the time read-out
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(7.0, self._font.pointSizeF() * 0.9))
        self._bold = QFont(self._font)
        self._bold.setBold(True)
        self.setMouseTracking(True)  # the hand cursor over a ◆
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # ←/→ and friends stay the window's shortcuts
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip(HELP_TEXT)

    # --- what it shows (no signals) ---------------------------------------------------------------

    @property
    def duration_s(self) -> float:
        return self._duration_s

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def time_s(self) -> float:
        """The playhead (s)."""
        return self._time_s

    @property
    def keyframe_times(self) -> tuple[float, ...]:
        return self._keyframe_times

    @property
    def lanes(self) -> tuple[Lane, ...]:
        return self._lanes

    @property
    def selected(self) -> int | None:
        return self._selected

    @property
    def scrubbing(self) -> bool:
        """True while the user holds the playhead."""
        return self._press is not None

    def set_duration(self, seconds: float, fps: float = 8.0) -> None:
        """The clip's length (s) and the frame rate the scrubber snaps to (0 or less: no frame snapping)."""
        self._duration_s = max(0.0, float(seconds))
        self._fps = max(0.0, float(fps))
        self._time_s = min(self._time_s, self._duration_s)
        self._invalidate()

    def set_keyframes(self, times: Sequence[float]) -> None:
        """The layout's keyframe times (s): the ◆ row under the ruler and faint guides through the lanes."""
        self._keyframe_times = tuple(sorted(float(t) for t in times))
        self._invalidate()

    def set_lanes(self, lanes: Sequence[Lane]) -> None:
        """One lane per object, top to bottom in the order given."""
        self._lanes = tuple(lanes)
        self.updateGeometry()
        self._invalidate()

    def set_time(self, seconds: float) -> None:
        """Move the playhead to ``seconds`` without emitting ``timeChanged``.

        Ignored while the user scrubs, so that a late echo or the playback clock does not fight the hand.
        """
        if self._press is not None:
            return
        self._move_playhead(float(seconds))

    def set_selected(self, object_id: int | None) -> None:
        """Highlight the lane of ``object_id`` (None: no lane)."""
        if object_id != self._selected:
            self._selected = object_id
            self._invalidate()

    # --- geometry ---------------------------------------------------------------------------------

    def _time_span_px(self) -> tuple[float, float]:
        x0 = float(NAME_WIDTH_PX + TIME_PAD_PX)
        return x0, max(x0 + 1.0, float(self.width() - RIGHT_MARGIN_PX))

    def x_for_time(self, seconds: float) -> float:
        """The widget x (px) of time ``seconds``."""
        x0, x1 = self._time_span_px()
        if self._duration_s <= 0.0:
            return x0
        return x0 + (float(seconds) / self._duration_s) * (x1 - x0)

    def time_for_x(self, x: float) -> float:
        """The time (s) under widget x, clamped to the clip, not snapped."""
        x0, x1 = self._time_span_px()
        if self._duration_s <= 0.0:
            return 0.0
        return min(max((float(x) - x0) / (x1 - x0) * self._duration_s, 0.0), self._duration_s)

    def snap_time(self, seconds: float) -> float:
        """``seconds`` on the nearest layout keyframe within ``KEYFRAME_MAGNET_PX``, else on the nearest frame."""
        seconds = min(max(float(seconds), 0.0), self._duration_s)
        if self._keyframe_times:
            x = self.x_for_time(seconds)
            nearest = min(self._keyframe_times, key=lambda t: abs(self.x_for_time(t) - x))
            if abs(self.x_for_time(nearest) - x) <= KEYFRAME_MAGNET_PX:
                return nearest
        if self._fps <= 0.0:
            return seconds
        last_frame = math.floor(self._duration_s * self._fps + 1e-6)
        return min(round(seconds * self._fps), last_frame) / self._fps

    def frame_index(self, seconds: float) -> int:
        """The frame shown at ``seconds`` (the nearest frame at the timeline's fps)."""
        return round(float(seconds) * self._fps) if self._fps > 0.0 else 0

    def ruler_rect(self) -> QRectF:
        return QRectF(0.0, 0.0, float(self.width()), float(RULER_HEIGHT_PX))

    def keyframe_row_rect(self) -> QRectF:
        return QRectF(0.0, float(RULER_HEIGHT_PX), float(self.width()), float(KEYFRAME_ROW_HEIGHT_PX))

    def lane_rect(self, object_id: int) -> QRectF:
        """The lane of ``object_id`` across the whole width (an empty rect when there is no such lane)."""
        for index, lane in enumerate(self._lanes):
            if lane.object_id == object_id:
                top = RULER_HEIGHT_PX + KEYFRAME_ROW_HEIGHT_PX + index * LANE_HEIGHT_PX
                return QRectF(0.0, float(top), float(self.width()), float(LANE_HEIGHT_PX))
        return QRectF()

    def lane_at(self, y: float) -> int | None:
        """The object id of the lane at widget y, or None."""
        index = math.floor((float(y) - RULER_HEIGHT_PX - KEYFRAME_ROW_HEIGHT_PX) / LANE_HEIGHT_PX)
        if y < RULER_HEIGHT_PX + KEYFRAME_ROW_HEIGHT_PX or not 0 <= index < len(self._lanes):
            return None
        return self._lanes[index].object_id

    def keyframe_point(self, object_id: int, seconds: float) -> QPointF:
        """The centre of the ◆ of ``object_id`` at ``seconds`` (whether or not the lane lists it)."""
        return QPointF(self.x_for_time(seconds), self.lane_rect(object_id).center().y())

    def layout_keyframe_point(self, seconds: float) -> QPointF:
        """The centre of the layout's ◆ at ``seconds`` in the keyframe row."""
        return QPointF(self.x_for_time(seconds), self.keyframe_row_rect().center().y())

    def keyframe_at(self, pos: QPointF) -> tuple[int, float] | None:
        """``(object_id, time)`` of the lane ◆ under ``pos`` (the nearest within ``DIAMOND_GRAB_PX``), or None."""
        object_id = self.lane_at(pos.y())
        if object_id is None or pos.x() < NAME_WIDTH_PX:
            return None
        lane = next(lane for lane in self._lanes if lane.object_id == object_id)
        centre_y = self.lane_rect(object_id).center().y()
        best: tuple[float, float] | None = None
        for t in lane.keyframe_times:
            distance = max(abs(self.x_for_time(t) - pos.x()), abs(centre_y - pos.y()))
            if distance <= DIAMOND_GRAB_PX and (best is None or distance < best[0]):
                best = (distance, t)
        return None if best is None else (object_id, best[1])

    def sizeHint(self) -> QSize:
        return QSize(800, self._content_height())

    def minimumSizeHint(self) -> QSize:
        lanes = min(len(self._lanes), 2)
        return QSize(NAME_WIDTH_PX + 160, RULER_HEIGHT_PX + KEYFRAME_ROW_HEIGHT_PX + lanes * LANE_HEIGHT_PX + 4)

    def _content_height(self) -> int:
        return RULER_HEIGHT_PX + KEYFRAME_ROW_HEIGHT_PX + max(1, len(self._lanes)) * LANE_HEIGHT_PX + 4

    # --- the user's hand --------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._duration_s <= 0.0:
            super().mousePressEvent(event)
            return
        event.accept()
        pos = event.position()
        if pos.x() < NAME_WIDTH_PX:
            object_id = self.lane_at(pos.y())
            if object_id is not None:
                self.objectClicked.emit(object_id)
            return
        keyframe = self.keyframe_at(pos)
        self._press = _Press(QPointF(pos), keyframe, scrubbing=keyframe is None)
        if keyframe is not None:
            self._move_playhead(keyframe[1])
            self.timeChanged.emit(self._time_s)
            self.keyframeClicked.emit(*keyframe)
        else:
            self._move_playhead(self._pointer_time(pos.x(), event.modifiers()))
            self.timeChanged.emit(self._time_s)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        press = self._press
        if press is None:
            over_diamond = self._duration_s > 0.0 and self.keyframe_at(pos) is not None
            self.setCursor(Qt.CursorShape.PointingHandCursor if over_diamond else Qt.CursorShape.ArrowCursor)
            return
        event.accept()
        if not press.scrubbing:
            if (pos - press.start).manhattanLength() < DRAG_THRESHOLD_PX:
                return  # a shaky click on a ◆ stays on the keyframe
            press.scrubbing = True
        seconds = self._pointer_time(pos.x(), event.modifiers())
        if seconds != self._time_s:
            self._move_playhead(seconds)
            self.timeChanged.emit(self._time_s)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            super().mouseReleaseEvent(event)
            return
        event.accept()
        self._press = None
        self.scrubFinished.emit(self._time_s)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            QToolTip.showText(event.globalPos(), self._tooltip_at(QPointF(event.pos())), self)
            return True
        return super().event(event)

    def _tooltip_at(self, pos: QPointF) -> str:
        keyframe = self.keyframe_at(pos) if self._duration_s > 0.0 else None
        if keyframe is not None:
            lane = next(lane for lane in self._lanes if lane.object_id == keyframe[0])
            return f"{lane.name} (#{lane.object_id}): keyframe at {format_time(keyframe[1])}. Click to jump there."
        if self.keyframe_row_rect().contains(pos) and pos.x() >= NAME_WIDTH_PX:
            for index, t in enumerate(self._keyframe_times):
                if abs(self.x_for_time(t) - pos.x()) <= DIAMOND_GRAB_PX:
                    return f"Keyframe {index + 1} of {len(self._keyframe_times)} at {format_time(t)}"
        return HELP_TEXT

    def _pointer_time(self, x: float, modifiers: Qt.KeyboardModifier) -> float:
        seconds = self.time_for_x(x)
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            return seconds
        return self.snap_time(seconds)

    # --- painting ---------------------------------------------------------------------------------

    def _invalidate(self) -> None:
        self._static = None
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._static = None

    def _move_playhead(self, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), self._duration_s)
        if seconds == self._time_s:
            return
        old_x = self.x_for_time(self._time_s)
        self._time_s = seconds
        # Only the old and new playhead strips and the read-out change: repaint just those.
        for x in (old_x, self.x_for_time(seconds)):
            self.update(QRect(int(x) - 7, 0, 15, self.height()))
        self.update(QRect(0, 0, NAME_WIDTH_PX, RULER_HEIGHT_PX))

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._static is None or self._static.size() != self.size() * self.devicePixelRatioF():
            self._static = self._paint_static()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._static)
        self._paint_readout(painter)
        if self._duration_s > 0.0:
            self._paint_playhead(painter)
        painter.end()

    def _paint_static(self) -> QPixmap:
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QColor(BACKGROUND))
        painter = QPainter(pixmap)
        painter.setFont(self._font)
        self._paint_ruler(painter)
        self._paint_keyframe_row(painter)
        self._paint_lanes(painter)
        painter.end()
        return pixmap

    def _paint_ruler(self, painter: QPainter) -> None:
        width = self.width()
        painter.fillRect(QRectF(0, 0, width, RULER_HEIGHT_PX), _RULER_BG)
        painter.setPen(QPen(_GRID, 1))
        painter.drawLine(0, RULER_HEIGHT_PX - 1, width, RULER_HEIGHT_PX - 1)
        if self._duration_s <= 0.0:
            return
        x0, x1 = self._time_span_px()
        px_per_s = (x1 - x0) / self._duration_s
        bottom = RULER_HEIGHT_PX - 1
        step = _label_step_s(px_per_s)
        if self._fps > 0.0 and px_per_s / self._fps >= MIN_FRAME_TICK_SPACING_PX:
            minor_s = 1.0 / self._fps  # a tick per frame
        else:  # frames too dense to draw: ticks at a tenth, fifth or half of the label step
            minor_s = next((step / n for n in (10, 5, 2) if step / n * px_per_s >= 6.0), step)
        painter.setPen(QPen(QColor(201, 209, 217, 90), 1))
        for k in range(math.floor(self._duration_s / minor_s + 1e-6) + 1):
            x = round(self.x_for_time(k * minor_s)) + 0.5
            painter.drawLine(QPointF(x, bottom - 4), QPointF(x, bottom))
        metrics = QFontMetrics(self._font)
        for k in range(math.floor(self._duration_s / step + 1e-6) + 1):
            seconds = k * step
            x = round(self.x_for_time(seconds)) + 0.5
            painter.setPen(QPen(QColor(FOREGROUND), 1))
            painter.drawLine(QPointF(x, bottom - 9), QPointF(x, bottom))
            label = _tick_label(seconds, step)
            label_x = x + 3
            if label_x + metrics.horizontalAdvance(label) > width:
                label_x = x - 3 - metrics.horizontalAdvance(label)  # the last label stays inside
            painter.setPen(_DIM_TEXT)
            painter.drawText(QPointF(label_x, 3 + metrics.ascent()), label)

    def _paint_keyframe_row(self, painter: QPainter) -> None:
        row = self.keyframe_row_rect()
        painter.setPen(QPen(_GRID, 1))
        painter.drawLine(row.bottomLeft() - QPointF(0, 0.5), row.bottomRight() - QPointF(0, 0.5))
        painter.setPen(_DIM_TEXT)
        painter.drawText(QRectF(8, row.top(), NAME_WIDTH_PX - 8, row.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, "Keyframes")
        if self._duration_s <= 0.0:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(BACKGROUND), 1))
        painter.setBrush(QColor(FOREGROUND))
        for t in self._keyframe_times:
            painter.drawPolygon(_diamond(self.layout_keyframe_point(t), 4.5))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_lanes(self, painter: QPainter) -> None:
        top = RULER_HEIGHT_PX + KEYFRAME_ROW_HEIGHT_PX
        width = self.width()
        if not self._lanes:
            painter.setPen(_DIM_TEXT)
            text = "No objects in the layout" if self._duration_s > 0.0 else "No layout yet: plan or open one"
            painter.drawText(QRectF(0, top, width, LANE_HEIGHT_PX), Qt.AlignmentFlag.AlignCenter, text)
            return
        x0, x1 = self._time_span_px()
        bottom = top + len(self._lanes) * LANE_HEIGHT_PX
        for index, lane in enumerate(self._lanes):
            rect = self.lane_rect(lane.object_id)
            if index % 2:
                painter.fillRect(rect, _LANE_BG_ODD)
            if lane.object_id == self._selected:
                highlight = QColor(lane.colour)
                highlight.setAlpha(48)
                painter.fillRect(rect, highlight)
                painter.fillRect(QRectF(0, rect.top(), 3, rect.height()), QColor(lane.colour))
        # Faint guides at the layout's keyframes help reading which ◆ belong together.
        painter.setPen(QPen(_GRID, 1, Qt.PenStyle.DashLine))
        for t in self._keyframe_times:
            x = round(self.x_for_time(t)) + 0.5
            painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        painter.setPen(QPen(_GRID, 1))
        painter.drawLine(NAME_WIDTH_PX, RULER_HEIGHT_PX, NAME_WIDTH_PX, bottom)
        metrics = QFontMetrics(self._bold)
        id_metrics = QFontMetrics(self._font)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for lane in self._lanes:
            rect = self.lane_rect(lane.object_id)
            colour = QColor(lane.colour)
            centre_y = rect.center().y()
            # The name, in the object's colour, with its id (dim) on the right of the names column.
            id_text = f"#{lane.object_id}"
            id_width = id_metrics.horizontalAdvance(id_text)
            painter.setFont(self._font)
            painter.setPen(_DIM_TEXT)
            painter.drawText(QRectF(NAME_WIDTH_PX - 6 - id_width, rect.top(), id_width, rect.height()),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, id_text)
            painter.setFont(self._bold if lane.object_id == self._selected else self._font)
            painter.setPen(colour)
            name = metrics.elidedText(lane.name, Qt.TextElideMode.ElideRight, NAME_WIDTH_PX - 20 - id_width)
            painter.drawText(QRectF(8, rect.top(), NAME_WIDTH_PX - 8, rect.height()),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
            # Where the object is shown: a translucent bar.
            bar = QColor(colour)
            bar.setAlpha(95)
            painter.setPen(QPen(colour, 1))
            painter.setBrush(bar)
            for start_s, end_s in lane.visible_spans:
                left = max(self.x_for_time(start_s), x0)
                right = min(self.x_for_time(end_s), x1)
                painter.drawRoundedRect(QRectF(left, centre_y - 4, max(right - left, 2.0), 8), 3, 3)
            # Its keyframes.
            painter.setPen(QPen(QColor(BACKGROUND), 1.2))
            painter.setBrush(colour)
            for t in lane.keyframe_times:
                painter.drawPolygon(_diamond(QPointF(self.x_for_time(t), centre_y), DIAMOND_RADIUS_PX))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setFont(self._font)

    def _paint_readout(self, painter: QPainter) -> None:
        """The current time and frame in the ruler's left corner."""
        corner = QRectF(0, 0, NAME_WIDTH_PX, RULER_HEIGHT_PX - 1)
        painter.fillRect(corner, _RULER_BG)
        if self._duration_s <= 0.0:
            return
        painter.setFont(self._font)
        painter.setPen(QColor(CURSOR))
        text = f"{format_time(self._time_s)}"
        if self._fps > 0.0:
            text += f"  f{self.frame_index(self._time_s)}"
        painter.drawText(corner.adjusted(8, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         text)

    def _paint_playhead(self, painter: QPainter) -> None:
        x = self.x_for_time(self._time_s)
        colour = QColor(CURSOR)
        painter.setPen(QPen(colour, 1.5))
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawPolygon(QPolygonF([QPointF(x - 6, 0), QPointF(x + 6, 0), QPointF(x, 8)]))
