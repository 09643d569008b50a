"""What happened, newest last: a time stamp, the level as a coloured mark, and the message.

The window adds a line for each thing the user should be able to read back ("Plan: repaired 2 things in the LLM
answer: …", "Render cancelled"). The panel keeps the last :data:`MAX_LINES` entries, follows the newest one
unless the user has scrolled up to read, copies everything as plain text and can be cleared.
"""

from __future__ import annotations

import html
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextOption
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QStyle, QVBoxLayout, QWidget

#: Entries kept (older ones are dropped).
MAX_LINES = 1000
#: Level → (mark, colour). Other names are mapped by :func:`normalise_level`.
LEVELS = {
    "info": ("ℹ", "#4ea1ff"),
    "warning": ("⚠", "#d29922"),
    "error": ("✖", "#f85149"),
}
_LEVEL_ALIASES = {"debug": "info", "warn": "warning", "critical": "error", "fatal": "error"}


@dataclass(frozen=True)
class LogEntry:
    """One line of the log: ``when`` is the local time it was added."""

    when: datetime
    level: str
    message: str

    def as_text(self) -> str:
        """``12:03:45  WARNING  message`` (what Copy all puts on the clipboard)."""
        return f"{self.when:%H:%M:%S}  {self.level.upper():<7}  {self.message}"


def normalise_level(level: str) -> str:
    """``info``, ``warning`` or ``error`` for a level name in any case (``WARN`` → ``warning``; unknown → info)."""
    name = str(level).strip().lower()
    name = _LEVEL_ALIASES.get(name, name)
    return name if name in LEVELS else "info"


class LogPanel(QWidget):
    """The studio's log: :meth:`add` a message, read it back, copy it, clear it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: deque[LogEntry] = deque(maxlen=MAX_LINES)
        self._counts = Counter()  # entries kept per level, for the summary
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LINES)  # one block per entry: the view drops what the deque drops
        self.view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.view.setPlaceholderText("Nothing yet: what the planner, the renderer and the checks do appears here")
        self.view.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)

        style = self.style()
        self.copy_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView),
                                       "Copy all")
        self.copy_button.setToolTip("Copy the whole log to the clipboard as plain text")
        self.clear_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DialogResetButton), "Clear")
        self.clear_button.setToolTip("Empty the log")
        self.summary = QLabel()
        self.summary.setToolTip("Warnings and errors in the log")
        for button in (self.copy_button, self.clear_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        title = QLabel("Log")
        title.setStyleSheet("font-weight: bold;")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(title)
        bar.addSpacing(8)
        bar.addWidget(self.summary)
        bar.addStretch(1)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.copy_button.clicked.connect(self.copy_all)
        self.clear_button.clicked.connect(self.clear)
        self._update_summary()

    def add(self, message: str, level: str = "info") -> None:
        """Append ``message`` at ``level`` (info, warning or error), stamped with the current time."""
        entry = LogEntry(datetime.now(), normalise_level(level), str(message).rstrip())
        if len(self._entries) == MAX_LINES:
            self._counts[self._entries[0].level] -= 1  # the deque drops the oldest
        self._entries.append(entry)
        self._counts[entry.level] += 1
        mark, colour = LEVELS[entry.level]
        text = html.escape(entry.message).replace("\n", "<br>")
        if entry.level == "info":
            body = text
        else:
            body = f'<span style="color:{colour};">{text}</span>'
        bar = self.view.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 2  # keep reading where the user scrolled up to
        self.view.appendHtml(
            f'<span style="color:#8b949e;">{entry.when:%H:%M:%S}</span>&nbsp;&nbsp;'
            f'<span style="color:{colour}; font-weight:bold;">{mark}</span>&nbsp;&nbsp;{body}'
        )
        if following:
            bar.setValue(bar.maximum())
        self._update_summary()

    def entries(self) -> list[LogEntry]:
        """The entries kept, oldest first."""
        return list(self._entries)

    def lines(self) -> list[str]:
        """The entries as plain text lines, oldest first."""
        return [entry.as_text() for entry in self._entries]

    def text(self) -> str:
        """The whole log as plain text, one entry per line."""
        return "\n".join(self.lines())

    def copy_all(self) -> None:
        """Put :meth:`text` on the clipboard."""
        QGuiApplication.clipboard().setText(self.text())

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self._counts.clear()
        self.view.clear()
        self._update_summary()

    def _update_summary(self) -> None:
        warnings, errors = self._counts["warning"], self._counts["error"]
        parts = []
        if errors:
            parts.append(f'<span style="color:{LEVELS["error"][1]};">{errors} error{"s" * (errors != 1)}</span>')
        if warnings:
            parts.append(f'<span style="color:{LEVELS["warning"][1]};">'
                         f'{warnings} warning{"s" * (warnings != 1)}</span>')
        self.summary.setText(" · ".join(parts))
        self.copy_button.setEnabled(bool(self._entries))
        self.clear_button.setEnabled(bool(self._entries))
