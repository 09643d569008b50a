"""Live meters beside the plots: ILD, ITD, azimuth dial, coherence (confidence), L/R level.

Meters use ballistics, friture-style: per-frame values are integrated with a ~300 ms exponential time
constant on a 10 ms timer, the numbers below them are refreshed every 250 ms, and the level bars keep
their peak for 1.5 s before it falls. :meth:`MeterPanel.show_time` sets every meter to the values at
one time directly (no ballistics), which tests and screenshots use.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QElapsedTimer, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ui.palette import BACKGROUND, CUE_COLOURS, CURSOR, FOREGROUND, LEFT_CHANNEL, RIGHT_CHANNEL, source_colour

#: Integration time constant of the meters (s).
BALLISTICS_TAU_S = 0.3
#: Peak hold before the peak marker falls (s), and its fall rate (dB/s).
PEAK_HOLD_S = 1.5
PEAK_FALL_DB_PER_S = 20.0
#: Floor of the level meters (dBFS); silence reads as this.
LEVEL_FLOOR_DBFS = -60.0
TICK_MS = 10
TEXT_MS = 250


class BarMeter(QWidget):
    """A horizontal bar from ``minimum`` to ``maximum``; bipolar bars grow from zero to either side."""

    def __init__(
        self,
        minimum: float,
        maximum: float,
        colour: str,
        bipolar: bool = False,
        ticks: tuple[float, ...] = (),
        tick_format: str = "{:g}",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.minimum, self.maximum = float(minimum), float(maximum)
        self.colour = QColor(colour)
        self.bipolar = bipolar
        self.ticks = ticks or ((minimum, 0.0, maximum) if bipolar else (minimum, maximum))
        self.tick_format = tick_format
        self.value = math.nan
        self.peak = math.nan
        self.setMinimumSize(140, 30)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_value(self, value: float, peak: float = math.nan) -> None:
        if (value == self.value or (math.isnan(value) and math.isnan(self.value))) and (
            peak == self.peak or (math.isnan(peak) and math.isnan(self.peak))
        ):
            return
        self.value, self.peak = float(value), float(peak)
        self.update()

    def _x(self, value: float, rect: QRectF) -> float:
        frac = (min(max(value, self.minimum), self.maximum) - self.minimum) / (self.maximum - self.minimum)
        return rect.left() + frac * rect.width()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        bar = QRectF(4, 2, self.width() - 8, 14)
        painter.fillRect(bar, QColor("#0d1014"))
        painter.setPen(QPen(QColor("#3a414a"), 1))
        painter.drawRect(bar)
        if not math.isnan(self.value):
            origin = self._x(0.0 if self.bipolar else self.minimum, bar)
            end = self._x(self.value, bar)
            fill = QRectF(min(origin, end), bar.top() + 2, abs(end - origin), bar.height() - 4)
            painter.fillRect(fill, self.colour)
        if not math.isnan(self.peak):
            x = self._x(self.peak, bar)
            painter.setPen(QPen(QColor(CURSOR), 2))
            painter.drawLine(QPointF(x, bar.top() + 1), QPointF(x, bar.bottom() - 1))
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        painter.setPen(QColor(FOREGROUND))
        for tick in self.ticks:
            x = self._x(tick, bar)
            painter.drawLine(QPointF(x, bar.bottom()), QPointF(x, bar.bottom() + 3))
            text = self.tick_format.format(tick)
            width = painter.fontMetrics().horizontalAdvance(text)
            left = min(max(x - width / 2, 0), self.width() - width)
            painter.drawText(QPointF(left, bar.bottom() + 4 + painter.fontMetrics().ascent()), text)
        painter.end()


class AzimuthDial(QWidget):
    """A semicircle from −90° (left) through 0° (ahead) to +90° (right), needle at the azimuth."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.azimuth_deg = math.nan
        self.sources: list[tuple[float, QColor]] = []
        self.setMinimumSize(200, 116)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_azimuth(self, azimuth_deg: float, sources: list[tuple[float, QColor]] | None = None) -> None:
        self.azimuth_deg = float(azimuth_deg)
        if sources is not None:
            self.sources = sources
        self.update()

    def _point(self, centre: QPointF, radius: float, azimuth_deg: float) -> QPointF:
        rad = math.radians(max(-90.0, min(90.0, azimuth_deg)))
        return QPointF(centre.x() + radius * math.sin(rad), centre.y() - radius * math.cos(rad))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        margin = 22.0
        radius = min((self.width() - 2 * margin) / 2.0, self.height() - margin - 14.0)
        centre = QPointF(self.width() / 2.0, self.height() - 16.0)
        arc = QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius)
        # The dial face, the centre band (|az| <= 15°) drawn lighter.
        face = QPainterPath(centre)
        face.arcTo(arc, 0, 180)
        face.closeSubpath()
        painter.fillPath(face, QColor("#0d1014"))
        band = QPainterPath(centre)
        band.arcTo(arc, 75, 30)
        band.closeSubpath()
        painter.fillPath(band, QColor("#232a33"))
        painter.setPen(QPen(QColor("#3a414a"), 1.5))
        painter.drawArc(arc, 0, 180 * 16)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        for az in range(-90, 91, 15):
            inner = radius * (0.86 if az % 45 else 0.80)
            painter.setPen(QPen(QColor(FOREGROUND if az % 45 == 0 else "#59616b"), 1))
            painter.drawLine(self._point(centre, inner, az), self._point(centre, radius, az))
        painter.setPen(QColor(FOREGROUND))
        for az, text in ((-90, "−90 L"), (-45, "−45"), (0, "0"), (45, "+45"), (90, "R +90")):
            p = self._point(centre, radius + 9, az)
            width = metrics.horizontalAdvance(text)
            x = min(max(p.x() - width / 2, 0), self.width() - width)
            y = p.y() + metrics.ascent() / 2 if abs(az) < 90 else centre.y() + metrics.ascent() + 2
            painter.drawText(QPointF(x, y), text)
        for azimuth, colour in self.sources:
            if math.isnan(azimuth):
                continue
            painter.setPen(QPen(QColor("#0d1014"), 1))
            painter.setBrush(colour)
            painter.drawEllipse(self._point(centre, radius * 0.68, azimuth), 5.0, 5.0)
        if not math.isnan(self.azimuth_deg):
            painter.setPen(QPen(QColor(CURSOR), 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            painter.drawLine(centre, self._point(centre, radius * 0.94, self.azimuth_deg))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(FOREGROUND))
        painter.drawEllipse(centre, 4.0, 4.0)
        painter.end()


def _value_at(values: Any, index: int) -> float:
    if values is None or index >= len(values):
        return math.nan
    return float(values[index])


def cue_values_at(analysis: Any, time_s: float) -> dict[str, float]:
    """The per-frame values the meters show at ``time_s`` (NaN where undefined)."""
    frames = analysis.frames
    if len(frames) == 0:
        return dict.fromkeys(MeterPanel.NAMES, math.nan)
    i = frames.index_at(time_s)
    level = _value_at(frames.level_dbfs, i)
    level_l = _value_at(frames.level_left_dbfs, i)
    level_r = _value_at(frames.level_right_dbfs, i)
    if math.isnan(level_l):
        level_l = level
    if math.isnan(level_r):
        level_r = level
    return {
        "ild_db": _value_at(frames.ild_db, i),
        "itd_ms": _value_at(frames.itd_ms, i),
        "azimuth_deg": _value_at(frames.azimuth_deg, i),
        "coherence": _value_at(frames.coherence, i),
        "level_left_dbfs": level_l,
        "level_right_dbfs": level_r,
    }


def _format(name: str, value: float) -> str:
    if math.isnan(value):
        return "—"
    if name == "ild_db":
        return f"{value:+.1f} dB"
    if name == "itd_ms":
        return f"{value:+.2f} ms"
    if name == "azimuth_deg":
        return f"{value:+.0f}°"
    if name == "coherence":
        return f"{value:.2f}"
    return f"{value:.1f} dBFS" if value > LEVEL_FLOOR_DBFS else f"≤ {LEVEL_FLOOR_DBFS:.0f} dBFS"


class MeterPanel(QFrame):
    """The meters; :meth:`set_analysis` then :meth:`set_time` (ballistic) or :meth:`show_time` (direct)."""

    NAMES = ("ild_db", "itd_ms", "azimuth_deg", "coherence", "level_left_dbfs", "level_right_dbfs")
    LEVEL_NAMES = ("level_left_dbfs", "level_right_dbfs")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MeterPanel")
        self.setStyleSheet(
            f"#MeterPanel {{ background: {BACKGROUND}; }} "
            f"#MeterPanel QLabel {{ color: {FOREGROUND}; }} "
            "#MeterPanel QLabel[role='value'] { font-family: monospace; font-weight: bold; }"
        )
        self._analysis: Any = None
        self.target = dict.fromkeys(self.NAMES, math.nan)
        self.smoothed = dict.fromkeys(self.NAMES, math.nan)
        self.peak = dict.fromkeys(self.LEVEL_NAMES, math.nan)
        self._peak_age_s = dict.fromkeys(self.LEVEL_NAMES, 0.0)

        self.dial = AzimuthDial()
        self.dial.setToolTip("Azimuth: −90° left … 0° ahead … +90° right; dots: sources")
        self.bars: dict[str, BarMeter] = {
            "ild_db": BarMeter(-24, 24, CUE_COLOURS["ild_db"], bipolar=True, ticks=(-24, -12, 0, 12, 24)),
            "itd_ms": BarMeter(-1, 1, CUE_COLOURS["itd_ms"], bipolar=True, ticks=(-1, -0.5, 0, 0.5, 1)),
            "coherence": BarMeter(0, 1, CUE_COLOURS["coherence"], ticks=(0, 0.5, 1)),
            "level_left_dbfs": BarMeter(LEVEL_FLOOR_DBFS, 0, LEFT_CHANNEL, ticks=(-60, -40, -20, -6, 0)),
            "level_right_dbfs": BarMeter(LEVEL_FLOOR_DBFS, 0, RIGHT_CHANNEL, ticks=(-60, -40, -20, -6, 0)),
        }
        titles = {
            "ild_db": ("ILD", "Interaural level difference, R − L (dB): positive = right louder"),
            "itd_ms": ("ITD", "Interaural time difference (ms): positive = sound reaches the right ear first"),
            "azimuth_deg": ("Azimuth", "Broadband azimuth from the cues: negative = left, positive = right"),
            "coherence": ("Confidence", "Interaural coherence 0–1: how much the cues can be trusted"),
            "level_left_dbfs": ("Level L", "Left channel level (dBFS); yellow mark: peak hold"),
            "level_right_dbfs": ("Level R", "Right channel level (dBFS); yellow mark: peak hold"),
        }
        self.value_labels: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        row = 0
        for name in self.NAMES:
            title, tip = titles[name]
            title_label = QLabel(title)
            title_label.setToolTip(tip)
            value_label = QLabel("—")
            value_label.setProperty("role", "value")
            value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value_label.setMinimumWidth(value_label.fontMetrics().horizontalAdvance("≤ -60 dBFS") + 6)
            value_label.setToolTip(tip)
            self.value_labels[name] = value_label
            if name == "azimuth_deg":
                grid.addWidget(title_label, row, 0)
                grid.addWidget(value_label, row, 2)
                row += 1
                grid.addWidget(self.dial, row, 0, 1, 3)
            else:
                self.bars[name].setToolTip(tip)
                grid.addWidget(title_label, row, 0)
                grid.addWidget(self.bars[name], row, 1)
                grid.addWidget(value_label, row, 2)
            row += 1
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        header = QLabel("Meters")
        header.setStyleSheet("font-weight: bold;")
        layout.addWidget(header)
        layout.addLayout(grid)
        layout.addStretch(1)

        self._clock = QElapsedTimer()
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_MS)
        self._tick_timer.timeout.connect(self._tick)
        self._text_timer = QTimer(self)
        self._text_timer.setInterval(TEXT_MS)
        self._text_timer.timeout.connect(self.refresh_text)

    # --- public API ----------------------------------------------------------------------------------

    def set_analysis(self, analysis: Any) -> None:
        """Meter this analysis from now on (None: blank meters)."""
        self._analysis = analysis
        self.target = dict.fromkeys(self.NAMES, math.nan)
        self.smoothed = dict.fromkeys(self.NAMES, math.nan)
        self.peak = dict.fromkeys(self.LEVEL_NAMES, math.nan)
        self._tick_timer.stop()
        self._text_timer.stop()
        self._apply()
        self.refresh_text()

    def set_time(self, time_s: float) -> None:
        """Aim the meters at the values at ``time_s``; they glide there with ~300 ms ballistics."""
        if self._analysis is None:
            return
        self.target = cue_values_at(self._analysis, time_s)
        self._time_s = time_s
        if not self._tick_timer.isActive():
            self._clock.start()
            self._tick_timer.start()
            self._text_timer.start()

    def show_time(self, analysis: Any, time_s: float, smooth: bool = False) -> None:
        """Show the values at ``time_s`` of ``analysis``: at once, or (``smooth``) through the ballistics."""
        if analysis is not self._analysis:
            self.set_analysis(analysis)
        if smooth:
            self.set_time(time_s)
            return
        self._tick_timer.stop()
        self._text_timer.stop()
        self._time_s = time_s
        self.target = cue_values_at(analysis, time_s)
        self.smoothed = dict(self.target)
        for name in self.LEVEL_NAMES:
            self.peak[name] = self._level(self.target[name])
            self._peak_age_s[name] = 0.0
        self._apply()
        self.refresh_text()

    def value(self, name: str) -> float:
        """The value a meter shows now (after ballistics), e.g. ``value("ild_db")``."""
        return self.smoothed[name]

    def text(self, name: str) -> str:
        return self.value_labels[name].text()

    def refresh_text(self) -> None:
        for name, label in self.value_labels.items():
            label.setText(_format(name, self.smoothed[name]))

    # --- ballistics ----------------------------------------------------------------------------------

    @staticmethod
    def _level(value: float) -> float:
        return LEVEL_FLOOR_DBFS if math.isnan(value) else max(LEVEL_FLOOR_DBFS, value)

    def _tick(self) -> None:
        dt = max(self._clock.restart() / 1000.0, 1e-3)
        self.step(dt)

    def step(self, dt_s: float) -> None:
        """Advance the ballistics by ``dt_s`` seconds (the 10 ms timer calls this)."""
        alpha = 1.0 - math.exp(-dt_s / BALLISTICS_TAU_S)
        settled = True
        for name in self.NAMES:
            target = self.target[name]
            if name in self.LEVEL_NAMES:
                target = self._level(target)
            current = self.smoothed[name]
            if math.isnan(target):
                new = math.nan
            elif math.isnan(current):
                new = target
            else:
                new = current + alpha * (target - current)
                if abs(new - target) > 1e-3 * (1.0 + abs(target)):
                    settled = False
                else:
                    new = target
            self.smoothed[name] = new
        for name in self.LEVEL_NAMES:
            instant = self._level(self.target[name])
            peak = self.peak[name]
            if math.isnan(peak) or instant >= peak:
                self.peak[name] = instant
                self._peak_age_s[name] = 0.0
            else:
                self._peak_age_s[name] += dt_s
                if self._peak_age_s[name] > PEAK_HOLD_S:
                    self.peak[name] = max(instant, peak - PEAK_FALL_DB_PER_S * dt_s)
                if self.peak[name] > max(instant, self.smoothed[name]) + 1e-3:
                    settled = False
        self._apply()
        if settled:
            self._tick_timer.stop()
            self._text_timer.stop()
            self.refresh_text()

    def _apply(self) -> None:
        for name, bar in self.bars.items():
            bar.set_value(self.smoothed[name], self.peak.get(name, math.nan))
        sources = []
        if self._analysis is not None:
            t = getattr(self, "_time_s", 0.0)
            for source in self._analysis.sources:
                if source.active and not any(a - 0.05 <= t <= b + 0.05 for a, b in source.active):
                    continue
                track_t = np.asarray(source.track.t)
                if track_t.size and (t < track_t[0] - 0.05 or t > track_t[-1] + 0.05):
                    continue
                sources.append((source.track.azimuth_at(t), source_colour(source.id)))
        self.dial.set_azimuth(self.smoothed["azimuth_deg"], sources)
