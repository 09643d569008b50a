"""Colours shared by the studio's widgets, chosen to read well on the dark plot background."""

from __future__ import annotations

from PySide6.QtGui import QColor

#: Plot background and foreground.
BACKGROUND = "#15181d"
FOREGROUND = "#c9d1d9"
GRID_ALPHA = 0.18

LEFT_CHANNEL = "#4ea1ff"
RIGHT_CHANNEL = "#ff8a4e"
CURSOR = "#ffd84e"
#: Boxes and rows that disagree with the sound.
FLAG_COLOUR = "#ffa200"

CUE_COLOURS = {
    "ild_db": "#7ee787",
    "itd_ms": "#d2a8ff",
    "coherence": "#79c0ff",
    "level_dbfs": "#f0b72f",
}

#: One colour per source id (cycled), distinct from each other and from the cue curves.
_SOURCE_COLOURS = (
    "#ff6b6b",
    "#4ecdc4",
    "#ffd93d",
    "#c77dff",
    "#6bcB77",
    "#ff9f1c",
    "#4d96ff",
    "#f15bb5",
)


def source_colour(source_id: int) -> QColor:
    """The colour of source ``source_id`` in every plot, table and dial."""
    return QColor(_SOURCE_COLOURS[int(source_id) % len(_SOURCE_COLOURS)])


def format_time(seconds: float) -> str:
    """``m:ss.cc`` (or ``h:mm:ss.c`` past an hour) for time labels."""
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    if hours >= 1:
        return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}"
    return f"{int(minutes)}:{secs:05.2f}"
