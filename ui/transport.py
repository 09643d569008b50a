"""The transport bar: open, play/pause, the time, and A/B: the recording or the layout's audition."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QStyle, QWidget

from ui.palette import format_time

#: What the A/B selector offers: A is the recording, B the layout's audition.
LISTEN_CHOICES: dict[str, str] = {
    "original": "A: the recording",
    "separated": "B: the layout (its sounds)",
    "test": "B: the layout (test tones)",
}


class Transport(QWidget):
    """Open button, play/pause button, ``position / duration`` label, and what is heard: the recording (A) or
    the layout's audition (B).

    Signals: ``openRequested()``, ``playPauseRequested()``, ``listenChanged(str)`` (``original``,
    ``separated`` or ``test``: see :data:`LISTEN_CHOICES`). The shortcuts themselves (Space, Ctrl+O, B) belong
    to the window; the tooltips name them.
    """

    openRequested = Signal()
    playPauseRequested = Signal()
    listenChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self.open_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton), "Open…")
        self.open_button.setToolTip("Open a recording or video (Ctrl+O); you can also drop a file on the window")
        self.play_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Play")
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space is the window's shortcut
        self.open_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.time_label = QLabel()
        self.time_label.setStyleSheet("font-family: monospace; font-size: 11pt;")
        self.time_label.setToolTip("Playhead / duration")
        self.listen_combo = QComboBox()
        for key, text in LISTEN_CHOICES.items():
            self.listen_combo.addItem(text, key)
        self.listen_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.listen_combo.setToolTip("A/B (B): hear the recording, or the layout rendered as spatial sound — each "
                                     "box's own sound (or a test tone) placed where the box stands")
        self.listen_combo.currentIndexChanged.connect(
            lambda _i: self.listenChanged.emit(str(self.listen_combo.currentData())))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.open_button)
        layout.addWidget(self.play_button)
        layout.addSpacing(8)
        layout.addWidget(self.time_label)
        layout.addSpacing(12)
        layout.addWidget(self.listen_combo)
        self.open_button.clicked.connect(self.openRequested)
        self.play_button.clicked.connect(self.playPauseRequested)
        self._duration_s = 0.0
        self.set_time(0.0)

    def set_duration(self, duration_s: float) -> None:
        self._duration_s = duration_s
        self.set_time(0.0)

    def set_time(self, time_s: float) -> None:
        self.time_label.setText(f"{format_time(time_s)} / {format_time(self._duration_s)}")

    @property
    def listening(self) -> str:
        """What is heard now: ``original``, ``separated`` or ``test``."""
        return str(self.listen_combo.currentData())

    def set_listening(self, key: str) -> None:
        """Select what is heard (sends ``listenChanged`` when it changes)."""
        index = self.listen_combo.findData(key)
        if index >= 0:
            self.listen_combo.setCurrentIndex(index)

    def set_playing(self, playing: bool) -> None:
        style = self.style()
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(style.standardIcon(icon))
        self.play_button.setText("Pause" if playing else "Play")

    def set_play_enabled(self, enabled: bool, reason: str = "") -> None:
        self.play_button.setEnabled(enabled)
        self.play_button.setToolTip("Play / pause (Space)" if enabled else reason or "Playback is off")
