"""Small pieces the studio's forms and panels share: combo box helpers, task progress, RGB frames as images."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QSizePolicy


def compact_combo(combo: QComboBox, characters: int = 18) -> QComboBox:
    """Let a combo box with long item texts be narrower than its longest text (the list still shows it all)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(characters)
    return combo


def steady_label(text: str = "", lines: int = 1) -> QLabel:
    """A label whose size does not follow its text: ``lines`` lines high (wrapped when more than one), as
    wide as its panel allows. Status text changes many times a second while work runs; a label that grew and
    shrank with it would make the whole window lay itself out — and repaint every plot — each time."""
    label = QLabel(text)
    label.setWordWrap(lines > 1)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setFixedHeight(lines * label.fontMetrics().lineSpacing() + 2 * label.margin() + 2)
    return label


def select_data(combo: QComboBox, key: str) -> None:
    """Select the item whose data is ``key`` (nothing changes when there is none)."""
    index = combo.findData(key)
    if index >= 0:
        combo.setCurrentIndex(index)


def rgb_image(frame: np.ndarray) -> QImage:
    """One ``(h, w, 3)`` uint8 RGB frame as a QImage that owns its pixels (the array may go away after)."""
    rgb = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class TaskStatus:
    """Progress and status text of a panel that starts background work (needs ``progress_bar`` and
    ``status_label``)."""

    progress_bar: QProgressBar
    status_label: QLabel

    def set_progress(self, percent: float, status: str | None = None) -> None:
        """Show ``percent`` (0..100) and, when given, the status text."""
        self.progress_bar.setValue(round(min(100.0, max(0.0, float(percent)))))
        if status is not None:
            self.set_status(status)

    def set_status(self, text: str) -> None:
        """Show the status text (e.g. "Render cancelled"); the whole of it is also the label's tooltip."""
        self.status_label.setText(text)
        self.status_label.setToolTip(text)
