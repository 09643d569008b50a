"""The waveform of a recording, left over right, drawn from a min/max pyramid at any zoom."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.palette import LEFT_CHANNEL, RIGHT_CHANNEL
from ui.plotstyle import configure_pyqtgraph, style_plot


def envelope_xy(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One polyline that zig-zags min→max per point: draws a filled envelope with a single curve."""
    x = np.repeat(np.asarray(t, np.float64), 2)
    y = np.empty(x.shape[0], np.float64)
    y[0::2] = lo
    y[1::2] = hi
    return x, y


class WaveformView(QWidget):
    """L and R stacked plots of the min/max envelope of a recording.

    Feed it an object with ``duration_s`` and ``view(t0, t1, max_points) -> (t, min_l, max_l, min_r,
    max_r)`` (an ``engine.audio.peaks.WaveformPeaks``). It redraws only the visible span, at about two
    points per pixel, whenever the view changes. A click emits ``seekRequested(time_s)``.
    """

    seekRequested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self._peaks: Any = None
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setSpacing(0)
        self.graphics.ci.layout.setContentsMargins(2, 2, 8, 2)
        self.plot_left = self.graphics.addPlot(row=0, col=0)
        self.plot_right = self.graphics.addPlot(row=1, col=0)
        style_plot(self.plot_left, "L")
        style_plot(self.plot_right, "R")
        self.plot_right.setXLink(self.plot_left)
        self.curves = []
        for plot, colour in ((self.plot_left, LEFT_CHANNEL), (self.plot_right, RIGHT_CHANNEL)):
            plot.setYRange(-1.0, 1.0, padding=0.02)
            plot.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
            curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=1), connect="all")
            curve.setClipToView(False)  # the data is already clipped to the view
            plot.addItem(curve)
            self.curves.append(curve)
        self.plot_left.setTitle("Waveform", size="9pt", justify="left")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.setToolTip("Click to seek. Wheel: zoom in time; drag: pan.")
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self.redraw)
        self.plot_left.sigXRangeChanged.connect(lambda *_: self._redraw_timer.start())
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        self.last_view: tuple | None = None

    @property
    def plots(self) -> list[pg.PlotItem]:
        return [self.plot_left, self.plot_right]

    def set_peaks(self, peaks: Any) -> None:
        """Show a new recording (or nothing for None), zoomed out to its whole length."""
        self._peaks = peaks
        if peaks is None:
            for curve in self.curves:
                curve.setData([], [])
            return
        duration = max(float(peaks.duration_s), 1e-3)
        min_range = max(64.0 / float(peaks.sample_rate), 1e-4)
        for plot in self.plots:
            plot.setLimits(xMin=0.0, xMax=duration, minXRange=min_range, yMin=-1.05, yMax=1.05)
        self.plot_left.setXRange(0.0, duration, padding=0.0)
        self.redraw()

    def redraw(self) -> None:
        if self._peaks is None:
            return
        t0, t1 = self.plot_left.viewRange()[0]
        width_px = max(100, int(self.plot_left.vb.width()) or self.width())
        t, min_l, max_l, min_r, max_r = self._peaks.view(t0, t1, 2 * width_px)
        self.last_view = (t, min_l, max_l, min_r, max_r)
        for curve, lo, hi in ((self.curves[0], min_l, max_l), (self.curves[1], min_r, max_r)):
            x, y = envelope_xy(t, lo, hi)
            curve.setData(x, y)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._redraw_timer.start()

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._peaks is None:
            return
        for plot in self.plots:
            if plot.vb.sceneBoundingRect().contains(event.scenePos()):
                time_s = float(plot.vb.mapSceneToView(event.scenePos()).x())
                self.seekRequested.emit(min(max(time_s, 0.0), float(self._peaks.duration_s)))
                event.accept()
                return
