"""The table of sounding sources: one row per source, coloured like its azimuth track."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from ui.palette import source_colour

COLUMNS = ("", "Id", "Side", "Azimuth", "Motion", "Confidence")


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(colour)
    return QIcon(pixmap)


class SourcesTable(QTableWidget):
    """Colour swatch, id, side, azimuth start→end (°, +right), motion, confidence.

    ``sourceSelected(int)`` carries the selected source id (-1 when none).
    """

    sourceSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.setToolTip("Sources found in the recording; select one to highlight its azimuth track")
        self._ids: list[int] = []
        self.itemSelectionChanged.connect(self._on_selection)

    def set_sources(self, sources: list[Any]) -> None:
        """One row per ``engine.audio.model.Source``."""
        self.setRowCount(0)
        self._ids = [s.id for s in sources]
        self.setRowCount(len(sources))
        for row, source in enumerate(sources):
            colour = source_colour(source.id)
            swatch = QTableWidgetItem()
            swatch.setIcon(_swatch(colour))
            side = getattr(source.side, "value", source.side)
            motion = getattr(source.motion, "value", source.motion)
            cells = [
                swatch,
                QTableWidgetItem(str(source.id)),
                QTableWidgetItem(side),
                QTableWidgetItem(f"{source.azimuth_start_deg:+.0f}° → {source.azimuth_end_deg:+.0f}°"),
                QTableWidgetItem(motion.replace("_", " ")),
                QTableWidgetItem(f"{source.confidence:.2f}"),
            ]
            for col, item in enumerate(cells):
                if col in (1, 3, 5):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, col, item)

    def row_texts(self) -> list[list[str]]:
        """The table as text (for tests and copy)."""
        return [
            [self.item(r, c).text() if self.item(r, c) else "" for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]

    def _on_selection(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        self.sourceSelected.emit(self._ids[min(rows)] if rows else -1)
