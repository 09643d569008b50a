"""Small helpers that give every studio plot the same look."""

from __future__ import annotations

import pyqtgraph as pg

from ui.palette import BACKGROUND, FOREGROUND, GRID_ALPHA

#: Width of the left axis of every plot, so that stacked plots line up in time.
AXIS_WIDTH = 58


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(antialias=False, background=BACKGROUND, foreground=FOREGROUND)


def style_plot(plot: pg.PlotItem, label: str, units: str = "", show_time_axis: bool = False) -> None:
    """Grid, fixed-width left axis with ``label``, no mouse zoom on y, time axis only where asked."""
    plot.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    left = plot.getAxis("left")
    left.setWidth(AXIS_WIDTH)
    left.setLabel(f"{label} ({units})" if units else label)
    left.enableAutoSIPrefix(False)
    bottom = plot.getAxis("bottom")
    bottom.enableAutoSIPrefix(False)
    if show_time_axis:
        bottom.setLabel("time", units="s")
    else:
        bottom.setStyle(showValues=False)
        bottom.setHeight(6)
    plot.setMouseEnabled(x=True, y=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setClipToView(True)
