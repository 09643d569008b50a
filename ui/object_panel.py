"""The layout's objects as a table: id, colour, label, visible, locked, and whether it is in the current frame.

The panel shows the rows it is given and sends the user's intent back: ``renameRequested(id, name)`` when a
label edit is committed (double click or F2, Enter), ``colourRequested(id, QColor)`` from the colour dialog
(double click on the swatch), ``visibilityToggled(id, bool)`` and ``lockToggled(id, bool)`` from the check
boxes, ``selectionChanged(id or None)``, ``addRequested()`` and ``deleteRequested(id)`` from the buttons, and
``sourceRequested(id, source id or None)`` when the user says which measured sound an object stands for (double
click on its Sound cell: a menu of the sources :meth:`ObjectPanel.set_source_choices` lists; None: "match it
automatically").

:meth:`ObjectPanel.set_rows` and :meth:`ObjectPanel.set_selected` never emit. ``set_rows`` updates the table in
place and touches only cells whose value changed, so the window may call it on every frame (the "on screen"
column follows the playhead) without closing a label that the user is typing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QCursor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.palette import FLAG_COLOUR

#: Columns, left to right.
COL_ID, COL_COLOUR, COL_LABEL, COL_VISIBLE, COL_LOCKED, COL_ON_SCREEN, COL_SOUND = range(7)
COLUMNS = ("Id", "", "Label", "Visible", "Locked", "Now", "Sound")
COLUMN_TIPS = (
    "The object's id: stable across keyframes",
    "The object's colour: double-click to change it",
    "The object's label (the word the generator draws): double-click or F2 to rename",
    "Shown on the canvas and in the preview",
    "Locked objects cannot be moved or resized on the canvas",
    "Whether the object has a box in the current frame",
    "Whether the box agrees with where its sound is heard (the consistency check): double-click to choose which "
    "sound the object stands for",
)
ON_SCREEN_TEXT = ("off screen", "on screen")
_ON_SCREEN_COLOURS = (QColor("#8b949e"), QColor("#2ea043"))
_HIDDEN_TEXT = "#8b949e"

#: ``(initial colour, parent, title) -> chosen colour`` (invalid when cancelled); a test may replace it.
ColourPicker = Callable[[QColor, QWidget, str], QColor]
#: ``(choices as (source id or None, text), the current source id, parent) -> (chosen, source id or None)``:
#: chosen is False when the menu was closed without a choice; a test may replace it.
SourcePicker = Callable[[Sequence[tuple[int | None, str]], int | None, QWidget], tuple[bool, int | None]]
#: The choice that hands an object back to the automatic matching.
AUTOMATIC_TEXT = "Match automatically (the sound it best explains)"


@dataclass(frozen=True)
class ObjectRow:
    """One object: ``on_screen`` is True when it has a box in the frame at the playhead."""

    object_id: int
    name: str
    colour: QColor | str
    visible: bool = True
    locked: bool = False
    on_screen: bool = True
    #: How the object disagrees with the sound (one line per problem); empty when it agrees. None: not checked
    #: (no recording analysed).
    flags: tuple[str, ...] | None = None
    #: The measured source the object stands for, when the check matched one.
    source_id: int | None = None
    #: That source is a faint sound the analysis does not list as a source.
    faint_source: bool = False


def _sound_cell(data: ObjectRow, can_choose: bool = False) -> tuple[str, str, str]:
    """The Sound column's text, tooltip and colour for ``data``; ``can_choose``: the user may say which sound the
    object stands for (there are sources to choose from)."""
    if data.source_id is None:
        heard = "no measured source"
    elif data.faint_source:
        heard = f"a faint sound (#{data.source_id}) too weak to be listed among the sources"
    else:
        heard = f"source #{data.source_id}"
    if data.flags is None:
        return "–", "Not checked: open the recording to check the layout against it", _HIDDEN_TEXT
    choose = "\n(double-click to choose which sound it stands for)" if can_choose else ""
    if not data.flags:
        return "✓ agrees", f"Agrees with {heard}{choose}", "#2ea043"
    count = len(data.flags)
    return (f"⚠ {count} issue{'s' if count > 1 else ''}",
            f"Compared with {heard}:\n" + "\n".join(data.flags) + choose, FLAG_COLOUR)


def _swatch_icon(colour: QColor, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setPen(colour.darker(160))
    painter.setBrush(colour)
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return QIcon(pixmap)


def _default_colour_picker(initial: QColor, parent: QWidget, title: str) -> QColor:
    return QColorDialog.getColor(initial, parent, title)


def _default_source_picker(choices: Sequence[tuple[int | None, str]], current: int | None,
                           parent: QWidget) -> tuple[bool, int | None]:
    menu = QMenu(parent)
    actions = {}
    for source_id, text in choices:
        action = menu.addAction(text)
        action.setCheckable(source_id is not None)
        action.setChecked(source_id is not None and source_id == current)
        actions[action] = source_id
    picked = menu.exec(QCursor.pos())
    return (picked in actions, actions.get(picked))


class ObjectPanel(QWidget):
    """The objects of the layout (see the module docstring for the signals and the no-echo rule)."""

    renameRequested = Signal(int, str)
    colourRequested = Signal(int, QColor)
    visibilityToggled = Signal(int, bool)
    lockToggled = Signal(int, bool)
    selectionChanged = Signal(object)
    addRequested = Signal()
    deleteRequested = Signal(int)
    sourceRequested = Signal(int, object)

    def __init__(self, parent: QWidget | None = None, colour_picker: ColourPicker | None = None,
                 source_picker: SourcePicker | None = None) -> None:
        super().__init__(parent)
        self.colour_picker: ColourPicker = colour_picker or _default_colour_picker
        self.source_picker: SourcePicker = source_picker or _default_source_picker
        self._rows: list[ObjectRow] = []
        self._source_choices: list[tuple[int, str]] = []
        self._filling = False  # True while the panel itself writes cells: nothing is emitted then

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)

        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add an object: draw its box on the canvas")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected object from every keyframe (Del; undo brings it back)")
        self.delete_button.setEnabled(False)
        for button in (self.add_button, self.delete_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        title = QLabel("Objects")
        title.setStyleSheet("font-weight: bold;")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(title)
        buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)

        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        self.add_button.clicked.connect(self.addRequested)
        self.delete_button.clicked.connect(self._on_delete)

    # --- what it shows (no signals) ---------------------------------------------------------------

    @property
    def rows(self) -> list[ObjectRow]:
        return list(self._rows)

    def selected(self) -> int | None:
        """The id of the selected object, or None."""
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return self._rows[min(rows)].object_id if rows else None

    def row_of(self, object_id: int) -> int | None:
        """The table row of ``object_id``, or None."""
        for row, data in enumerate(self._rows):
            if data.object_id == object_id:
                return row
        return None

    def set_rows(self, rows: Sequence[ObjectRow]) -> None:
        """Show ``rows`` (one per object, in order); keeps the selection when its object is still there."""
        selected = self.selected()
        self._filling = True
        try:
            if self.table.rowCount() != len(rows):
                self.table.setRowCount(len(rows))
            for row, data in enumerate(rows):
                self._fill_row(row, data)
            self._rows = list(rows)
            self._select(selected)
        finally:
            self._filling = False
        self.delete_button.setEnabled(self.selected() is not None)

    def set_source_choices(self, choices: Sequence[tuple[int, str]]) -> None:
        """The measured sources an object may be said to stand for, as (source id, how to name it); [] when there
        is no analysis (the Sound cell then offers nothing)."""
        self._source_choices = list(choices)

    def set_selected(self, object_id: int | None) -> None:
        """Select the row of ``object_id`` (None or an unknown id: clear the selection)."""
        self._filling = True
        try:
            self._select(object_id)
        finally:
            self._filling = False
        self.delete_button.setEnabled(self.selected() is not None)

    def edit_label(self, object_id: int) -> None:
        """Select ``object_id`` and open its label for typing (the canvas's double click asks for this)."""
        row = self.row_of(object_id)
        if row is None:
            return
        self.set_selected(object_id)
        item = self.table.item(row, COL_LABEL)
        self.table.setCurrentItem(item)
        self.table.editItem(item)

    def row_texts(self) -> list[list[str]]:
        """The table as text, a check box as ``"☑"``/``"☐"`` (for tests and copy)."""
        out = []
        for row in range(self.table.rowCount()):
            cells = []
            for column in range(self.table.columnCount()):
                item = self.table.item(row, column)
                if column in (COL_VISIBLE, COL_LOCKED):
                    cells.append("☑" if item.checkState() == Qt.CheckState.Checked else "☐")
                else:
                    cells.append(item.text() if item else "")
            out.append(cells)
        return out

    def _select(self, object_id: int | None) -> None:
        row = self.row_of(object_id) if object_id is not None else None
        if row is None:
            self.table.clearSelection()
            return
        if self.selected() != object_id:
            self.table.selectRow(row)

    def _item(self, row: int, column: int, editable: bool = False, checkable: bool = False) -> QTableWidgetItem:
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if editable:
                flags |= Qt.ItemFlag.ItemIsEditable
            if checkable:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setCheckState(Qt.CheckState.Unchecked)
            item.setFlags(flags)
            self.table.setItem(row, column, item)
        return item

    def _fill_row(self, row: int, data: ObjectRow) -> None:
        """Write ``data`` into ``row``, changing only what differs (an open label editor is left alone)."""
        colour = QColor(data.colour)
        ident = self._item(row, COL_ID)
        if ident.text() != str(data.object_id):
            ident.setText(str(data.object_id))
            ident.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        swatch = self._item(row, COL_COLOUR)
        if swatch.data(Qt.ItemDataRole.UserRole) != colour.name():
            swatch.setData(Qt.ItemDataRole.UserRole, colour.name())
            swatch.setIcon(_swatch_icon(colour))
            swatch.setToolTip(f"{colour.name()}: double-click to change the colour")
        label = self._item(row, COL_LABEL, editable=True)
        if label.text() != data.name:
            label.setText(data.name)
        dimmed = None if data.visible else QColor(_HIDDEN_TEXT)
        if label.data(Qt.ItemDataRole.ForegroundRole) != dimmed:
            label.setData(Qt.ItemDataRole.ForegroundRole, dimmed)  # only on change: an open editor keeps its text
        for column, checked in ((COL_VISIBLE, data.visible), (COL_LOCKED, data.locked)):
            item = self._item(row, column, checkable=True)
            state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
            if item.checkState() != state:
                item.setCheckState(state)
        on_screen = self._item(row, COL_ON_SCREEN)
        text = ON_SCREEN_TEXT[int(data.on_screen)]
        if on_screen.text() != text:
            on_screen.setText(text)
            on_screen.setForeground(QBrush(_ON_SCREEN_COLOURS[int(data.on_screen)]))
            on_screen.setToolTip("Has a box in the current frame" if data.on_screen
                                 else "No box in the current frame (not listed by the keyframes around it)")
        sound = self._item(row, COL_SOUND)
        text, tip, ink = _sound_cell(data, bool(self._source_choices))
        if sound.text() != text or sound.toolTip() != tip:
            sound.setText(text)
            sound.setToolTip(tip)
            sound.setForeground(QBrush(QColor(ink)))

    # --- the user's intent --------------------------------------------------------------------------

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or not 0 <= item.row() < len(self._rows):
            return
        data = self._rows[item.row()]
        column = item.column()
        if column == COL_LABEL:
            name = " ".join(item.text().split())
            if not name or name == data.name:
                self._filling = True
                try:
                    item.setText(data.name)  # an empty label is refused; the old one comes back
                finally:
                    self._filling = False
                return
            self._rows[item.row()] = replace(data, name=name)
            self.renameRequested.emit(data.object_id, name)
        elif column in (COL_VISIBLE, COL_LOCKED):
            checked = item.checkState() == Qt.CheckState.Checked
            if column == COL_VISIBLE and checked != data.visible:
                self._rows[item.row()] = replace(data, visible=checked)
                self.visibilityToggled.emit(data.object_id, checked)
            elif column == COL_LOCKED and checked != data.locked:
                self._rows[item.row()] = replace(data, locked=checked)
                self.lockToggled.emit(data.object_id, checked)

    def _on_double_click(self, row: int, column: int) -> None:
        if not 0 <= row < len(self._rows):
            return
        if column == COL_SOUND:
            self._choose_source(self._rows[row])
        if column != COL_COLOUR:
            return
        data = self._rows[row]
        current = QColor(data.colour)
        chosen = self.colour_picker(current, self, f"Colour of {data.name} (#{data.object_id})")
        if chosen.isValid() and chosen != current:
            self.colourRequested.emit(data.object_id, QColor(chosen))

    def _choose_source(self, data: ObjectRow) -> None:
        if not self._source_choices or data.flags is None:
            return
        choices = [*self._source_choices, (None, AUTOMATIC_TEXT)]
        chosen, source_id = self.source_picker(choices, data.source_id, self)
        if chosen and (source_id is None or source_id != data.source_id):
            self.sourceRequested.emit(data.object_id, source_id)

    def _on_selection(self) -> None:
        selected = self.selected()
        self.delete_button.setEnabled(selected is not None)
        if not self._filling:
            self.selectionChanged.emit(selected)

    def _on_delete(self) -> None:
        selected = self.selected()
        if selected is not None:
            self.deleteRequested.emit(selected)

