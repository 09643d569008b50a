"""A/B listening in the studio: the recording (A) or the layout rendered as spatial sound (B), at one playhead.

The :class:`AuditionController` renders the layout's audition in the background (``app.tasks.audition_task``)
when B is chosen, and again, shortly after the edits stop, whenever the layout changes while B is heard; each
finished audition replaces what the player plays without moving the playhead. Choosing A gives the recording
back. A failed audition (no recording, say) reports itself and falls back to A.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.playback import ArraySource, Player
from app.tasks import AuditionOutcome, audition_task, error_message
from app.workers import TaskRunner

log = logging.getLogger(__name__)

#: Edits this close together make one new audition (a drag changes the layout many times a second).
REAUDITION_DELAY_MS = 400


class AuditionController(QObject):
    """Keeps the player on the chosen version. ``statusMessage(str)`` says what happens; ``fellBack()`` is
    sent when B could not be made or no longer applies (the caller puts its selector back on A)."""

    statusMessage = Signal(str)
    fellBack = Signal()

    def __init__(self, player: Player, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.runner = TaskRunner(self)
        self.mode = "original"
        self.recording: Any = None  # the AudioSource the player plays for A
        self.analysis: Any = None
        self.audio_path: Any = None
        self.layout: Any = None
        self.last: AuditionOutcome | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REAUDITION_DELAY_MS)
        self._timer.timeout.connect(self._render)
        self.runner.resultReady.connect(self._on_result)
        self.runner.failed.connect(self._on_failed)

    def set_recording(self, recording: Any, analysis: Any, audio_path: Any) -> None:
        """A new recording: back to A (an audition belongs to the recording it was made from)."""
        self.recording, self.analysis, self.audio_path = recording, analysis, audio_path
        self.last = None
        if self.mode != "original":
            self._timer.stop()
            self.runner.cancel()
            self.mode = "original"
            self.fellBack.emit()

    @Slot(object)
    def set_layout(self, layout: Any) -> None:
        """The layout changed: while B is heard, a new audition follows once the edits pause."""
        self.layout = layout
        if self.mode != "original":
            self._timer.start()

    @Slot(str)
    def listen(self, mode: str) -> None:
        """Hear ``original`` (A), or the layout's audition made of ``separated`` sources or ``test`` tones (B)."""
        if mode == self.mode:
            return
        self.mode = mode
        self._timer.stop()
        if mode == "original":
            self.runner.cancel()
            if self.recording is not None:
                self.player.switch_source(self.recording)
            self.statusMessage.emit("Hearing A: the recording.")
            return
        self._render()

    def shutdown(self) -> None:
        """Stop the audition task (the window is closing)."""
        self._timer.stop()
        self.runner.shutdown()

    def _render(self) -> None:
        if self.mode == "original":
            return
        if self.layout is None:
            self._fail("Plan a layout first: B is the layout heard as spatial sound.")
            return
        self.statusMessage.emit("Rendering the layout as spatial sound (B)…")
        self.runner.start(audition_task(self.layout, self.analysis, self.audio_path, self.mode))

    def _on_result(self, outcome: AuditionOutcome) -> None:
        if self.mode == "original":
            return
        self.last = outcome
        self.player.switch_source(ArraySource(outcome.samples, outcome.sample_rate))
        what = "each box's own sound" if outcome.signal == "separated" else "a test tone per box"
        self.statusMessage.emit(f"Hearing B: the layout as spatial sound ({what}), in step with the recording.")

    def _on_failed(self, exc: BaseException) -> None:
        self._fail(f"The layout could not be heard: {error_message(exc, 'audition')}")

    def _fail(self, message: str) -> None:
        log.warning("%s", message)
        self.mode = "original"
        if self.recording is not None:
            self.player.switch_source(self.recording)
        self.statusMessage.emit(message)
        self.fellBack.emit()
