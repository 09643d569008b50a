"""The table of sounding sources: one row per source, coloured like its azimuth track."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from ui.palette import source_colour

COLUMNS = ("#", "Id", "Side", "Azimuth", "Motion", "Conf.", "On screen", "Sounds")
HEADER_TIPS = ("Source id, in its track's colour", "Source id", "Left, center or right", "Azimuth at the start → end "
               "(degrees, + is right)", "How it moves", "Confidence, 0–1", "Untick for a sound heard but not seen",
               "When it sounds (seconds)")
COL_ID, COL_ON_SCREEN, COL_SOUNDS = 1, 6, 7


def sounding_text(intervals: list[tuple[float, float]], most: int = 4) -> str:
    """``0.0–2.4, 3.1–8.0 s``: when a source sounds, the first ``most`` spans and how many more."""
    if not intervals:
        return "silent"
    shown = ", ".join(f"{start:.1f}–{end:.1f}" for start, end in intervals[:most]) + " s"
    return shown + (f" (+{len(intervals) - most} more)" if len(intervals) > most else "")


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(colour)
    return QIcon(pixmap)


class SourcesTable(QTableWidget):
    """Colour swatch, id, side, azimuth start→end (°, +right), motion, confidence, on screen, when it sounds.

    ``sourceSelected(int)`` carries the selected source id (-1 when none). "On screen" is a box the user
    ticks off for a sound heard but not seen (a narrator, wind): ``offscreenToggled(source_id, offscreen)``.
    """

    sourceSelected = Signal(int)
    offscreenToggled = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        for col, tip in enumerate(HEADER_TIPS):
            self.horizontalHeaderItem(col).setToolTip(tip)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # "Sounds" takes what width is left and elides the rest (its tooltip has it all): the table fits the
        # dock at its default width instead of needing a horizontal scroll for one long cell.
        header.setSectionResizeMode(COL_SOUNDS, QHeaderView.ResizeMode.Stretch)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setWordWrap(False)
        # The id is shown beside its colour swatch; its own column stays (for copying the table as text) unseen.
        self.setColumnHidden(COL_ID, True)
        self.setToolTip("Sources found in the recording; select one to highlight its azimuth track")
        self._ids: list[int] = []
        self._filling = False
        self.itemSelectionChanged.connect(self._on_selection)
        self.itemChanged.connect(self._on_item_changed)

    def set_sources(self, sources: list[Any], offscreen: set[int] | frozenset[int] = frozenset(),
                    sounds: dict[int, str] | None = None) -> None:
        """One row per ``engine.audio.model.Source``; ``offscreen``: the ids marked off screen; ``sounds``: per
        id, when it sounds (e.g. "0.0–2.4 s, 3.1–8.0 s")."""
        self._filling = True
        self.setRowCount(0)
        self._ids = [s.id for s in sources]
        self.setRowCount(len(sources))
        for row, source in enumerate(sources):
            colour = source_colour(source.id)
            swatch = QTableWidgetItem(str(source.id))
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
                self._on_screen_item(source.id not in offscreen),
                self._sounds_item((sounds or {}).get(source.id, "")),
            ]
            for col, item in enumerate(cells):
                if col in (1, 3, 5):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, col, item)
        self._filling = False

    def set_offscreen(self, offscreen: set[int] | frozenset[int]) -> None:
        """Tick the "On screen" boxes (without sending ``offscreenToggled``)."""
        self._filling = True
        for row, source_id in enumerate(self._ids):
            state = Qt.CheckState.Unchecked if source_id in offscreen else Qt.CheckState.Checked
            item = self.item(row, COL_ON_SCREEN)
            if item is not None and item.checkState() != state:
                item.setCheckState(state)
        self._filling = False

    def set_sounds(self, sounds: dict[int, str]) -> None:
        """Show when each source sounds."""
        for row, source_id in enumerate(self._ids):
            item = self.item(row, COL_SOUNDS)
            if item is not None:
                item.setText(sounds.get(source_id, ""))
                item.setToolTip(sounds.get(source_id, ""))

    @staticmethod
    def _sounds_item(text: str) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setToolTip(text)
        return item

    @staticmethod
    def _on_screen_item(on_screen: bool) -> QTableWidgetItem:
        item = QTableWidgetItem()
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsSelectable)
        item.setCheckState(Qt.CheckState.Checked if on_screen else Qt.CheckState.Unchecked)
        item.setToolTip("Untick for a sound heard but not seen (a narrator, wind): it gets no box, and the "
                        "check and the render leave it out")
        return item

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != COL_ON_SCREEN or not 0 <= item.row() < len(self._ids):
            return
        self.offscreenToggled.emit(self._ids[item.row()], item.checkState() != Qt.CheckState.Checked)

    def row_texts(self) -> list[list[str]]:
        """The table as text (for tests and copy)."""
        return [
            [("☑" if self.item(r, c).checkState() == Qt.CheckState.Checked else "☐") if c == COL_ON_SCREEN
             else self.item(r, c).text() if self.item(r, c) else "" for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]

    def _on_selection(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        self.sourceSelected.emit(self._ids[min(rows)] if rows else -1)
