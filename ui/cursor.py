"""One time cursor shown in several x-linked plots: move one line and every line follows."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal

from ui.palette import CURSOR


class TimeCursor(QObject):
    """A vertical line per plot, all at the same time.

    ``seekRequested(float)`` is emitted while a line is dragged (live scrubbing) and when the drag ends.
    :meth:`set_time` moves every line without emitting anything; it is ignored during a drag so the
    playhead does not fight the user's hand.
    """

    seekRequested = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lines: list[pg.InfiniteLine] = []
        self._time_s = 0.0
        self._dragging = False

    @property
    def time_s(self) -> float:
        return self._time_s

    @property
    def lines(self) -> list[pg.InfiniteLine]:
        return list(self._lines)

    @property
    def dragging(self) -> bool:
        return self._dragging

    def attach(self, plot: pg.PlotItem) -> pg.InfiniteLine:
        """Add a cursor line to ``plot`` and return it."""
        line = pg.InfiniteLine(
            pos=self._time_s,
            angle=90,
            movable=True,
            pen=pg.mkPen(CURSOR, width=1.5),
            hoverPen=pg.mkPen(CURSOR, width=3),
        )
        line.setZValue(100)
        line.setToolTip("Playhead: drag to seek")
        line.sigDragged.connect(self._on_dragged)
        line.sigPositionChangeFinished.connect(self._on_drag_finished)
        plot.addItem(line, ignoreBounds=True)
        self._lines.append(line)
        return line

    def set_time(self, time_s: float) -> None:
        if self._dragging:
            return
        self._move_all(float(time_s))

    def _move_all(self, time_s: float, skip: pg.InfiniteLine | None = None) -> None:
        self._time_s = time_s
        for line in self._lines:
            if line is skip:
                continue
            line.blockSignals(True)
            line.setValue(time_s)
            line.blockSignals(False)

    def _on_dragged(self, line: pg.InfiniteLine) -> None:
        self._dragging = True
        time_s = max(0.0, float(line.value()))
        self._move_all(time_s, skip=line)
        self.seekRequested.emit(time_s)

    def _on_drag_finished(self, line: pg.InfiniteLine) -> None:
        self._dragging = False
        time_s = max(0.0, float(line.value()))
        self._move_all(time_s)
        self.seekRequested.emit(time_s)
