"""Measured spatial cues over time, when each source sounds, and one azimuth track per source, in x-linked
plots."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.palette import CUE_COLOURS, FOREGROUND, source_colour
from ui.plotstyle import configure_pyqtgraph, style_plot

#: (field of CueFrames, axis label, units, fixed y range or None, reference lines).
CUE_ROWS = (
    ("ild_db", "ILD", "dB", (-24.0, 24.0), (0.0,)),
    ("itd_ms", "ITD", "ms", (-1.0, 1.0), (0.0,)),
    ("coherence", "Coherence", "", (0.0, 1.0), ()),
    ("level_dbfs", "Level", "dBFS", (-80.0, 0.0), ()),
)

#: Sides of SPEC.md: |azimuth| beyond 15° is left or right.
SIDE_LINES_DEG = (-15.0, 15.0)


def source_legend_text(source: Any) -> str:
    side = getattr(source.side, "value", source.side)
    motion = getattr(source.motion, "value", source.motion)
    return f"#{source.id} {side} · {motion.replace('_', ' ')}"


class CuePlots(QWidget):
    """When each source sounds (a lane per source), ILD (dB), ITD (ms), coherence (0–1), level (dBFS) and
    source azimuth tracks over time.

    Positive ILD/ITD/azimuth = right (SPEC.md). All plots share the x axis; call :meth:`link_x` to
    join another plot (the waveform) to it.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setSpacing(0)
        self.graphics.ci.layout.setContentsMargins(2, 2, 8, 2)
        self.events_plot = self.graphics.addPlot(row=0, col=0)
        style_plot(self.events_plot, "Sounds")
        self.events_plot.getAxis("left").setTicks([[]])
        self.events_plot.setYRange(0.0, 1.0, padding=0.0)
        self.event_bars: pg.BarGraphItem | None = None
        self._event_lanes: dict[int, list[tuple[float, float]]] = {}
        self.cue_plots: dict[str, pg.PlotItem] = {}
        self.cue_curves: dict[str, pg.PlotDataItem] = {}
        for row, (name, label, units, yrange, refs) in enumerate(CUE_ROWS, start=1):
            plot = self.graphics.addPlot(row=row, col=0)
            style_plot(plot, label, units)
            plot.setYRange(*yrange, padding=0.04)
            for ref in refs:
                plot.addLine(y=ref, pen=pg.mkPen(FOREGROUND, width=1, style=Qt.PenStyle.DotLine))
            curve = pg.PlotDataItem(pen=pg.mkPen(CUE_COLOURS[name], width=1), connect="finite")
            plot.addItem(curve)
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.cue_plots[name] = plot
            self.cue_curves[name] = curve
        self.cue_plots["ild_db"].getAxis("left").setLabel("ILD (dB, +R)")
        self.cue_plots["itd_ms"].getAxis("left").setLabel("ITD (ms, +R)")
        self.azimuth_plot = self.graphics.addPlot(row=len(CUE_ROWS) + 1, col=0)
        style_plot(self.azimuth_plot, "Azimuth", "°, +R", show_time_axis=True)
        self.azimuth_plot.setYRange(-90.0, 90.0, padding=0.08)
        self.azimuth_plot.getAxis("left").setTicks([[(-90, "-90 L"), (-45, "-45"), (0, "0"), (45, "45"),
                                                     (90, "90 R")]])
        for y in SIDE_LINES_DEG:
            self.azimuth_plot.addLine(y=y, pen=pg.mkPen(FOREGROUND, width=1, style=Qt.PenStyle.DashLine))
        self.graphics.ci.layout.setRowStretchFactor(len(CUE_ROWS) + 1, 2)
        self.legend = pg.LegendItem(offset=(-4, 4), labelTextColor=FOREGROUND, brush=pg.mkBrush(21, 24, 29, 200))
        self.legend.setParentItem(self.azimuth_plot.vb)
        self.source_curves: dict[int, pg.PlotDataItem] = {}
        base = self.cue_plots["ild_db"]
        for plot in self.plots:
            if plot is not base:
                plot.setXLink(base)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

    @property
    def plots(self) -> list[pg.PlotItem]:
        return [self.events_plot, *self.cue_plots.values(), self.azimuth_plot]

    def link_x(self, other: pg.PlotItem) -> None:
        """Make ``other`` share the time axis of these plots."""
        other.setXLink(self.cue_plots["ild_db"])

    def set_analysis(self, analysis: Any) -> None:
        """Show the cue frames and source tracks of an ``engine.audio.model.Analysis`` (None clears)."""
        for curve in self.cue_curves.values():
            curve.setData([], [])
        for curve in self.source_curves.values():
            self.azimuth_plot.removeItem(curve)
        self.source_curves.clear()
        self.legend.clear()
        if analysis is None:
            return
        frames = analysis.frames
        t = np.asarray(frames.t, np.float64)
        for name, curve in self.cue_curves.items():
            values = getattr(frames, name)
            if values is not None and len(values) == len(t):
                curve.setData(t, np.asarray(values, np.float64))
        level = np.asarray(frames.level_dbfs, np.float64)
        finite = level[np.isfinite(level)]
        low = -80.0 if finite.size == 0 else max(-120.0, min(-40.0, float(np.floor(finite.min() / 10) * 10)))
        self.cue_plots["level_dbfs"].setYRange(low, 0.0, padding=0.04)
        for source in analysis.sources:
            colour = source_colour(source.id)
            curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=2.5), connect="finite")
            # Data and clipping only once the curve sits in its view box (pyqtgraph needs the view).
            self.azimuth_plot.addItem(curve)
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            curve.setData(np.asarray(source.track.t, np.float64), np.asarray(source.track.azimuth_deg, np.float64))
            self.legend.addItem(curve, source_legend_text(source))
            self.source_curves[source.id] = curve
        duration = max(float(analysis.duration_s), 1e-3)
        for plot in self.plots:
            plot.setLimits(xMin=0.0, xMax=duration)
        self.cue_plots["ild_db"].setXRange(0.0, duration, padding=0.0)

    def set_events(self, events: Any) -> None:
        """One lane per source (in its colour, first source on top) with a bar wherever it sounds: a list of
        ``engine.audition.events.SourceEvents`` (None or empty clears)."""
        if self.event_bars is not None:
            self.events_plot.removeItem(self.event_bars)
            self.event_bars = None
        events = list(events or [])
        self._event_lanes = {e.source_id: [(float(a), float(b)) for a, b in e.intervals] for e in events if e.intervals}
        lanes = max(1, len(events))
        self.events_plot.setYRange(0.0, float(lanes), padding=0.0)
        self.events_plot.getAxis("left").setTicks([[(lanes - i - 0.5, f"#{e.source_id}")
                                                    for i, e in enumerate(events)]])
        x0, x1, y, brushes = [], [], [], []
        for lane, entry in enumerate(events):
            for start, end in entry.intervals:
                x0.append(start)
                x1.append(end)
                y.append(lanes - lane - 0.5)
                brushes.append(pg.mkBrush(source_colour(entry.source_id)))
        if not x0:
            return
        self.event_bars = pg.BarGraphItem(x0=np.array(x0), x1=np.array(x1), y=np.array(y), height=0.6,
                                          brushes=brushes, pen=pg.mkPen(None))
        self.events_plot.addItem(self.event_bars)

    def event_lanes(self) -> dict[int, list[tuple[float, float]]]:
        """What the lanes show: source id → its bars ``(start, end)`` in seconds."""
        return {sid: list(bars) for sid, bars in self._event_lanes.items()}

    def highlight_source(self, source_id: int | None) -> None:
        """Draw one source's track thicker (None: all alike)."""
        for sid, curve in self.source_curves.items():
            width = 4.5 if sid == source_id else 2.5
            curve.setPen(pg.mkPen(source_colour(sid), width=width))
