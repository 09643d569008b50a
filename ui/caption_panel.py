"""The layout's words: the video caption and the caption of the keyframe at the playhead.

Each caption is sent once per finished edit, never per keystroke: ``videoCaptionEdited(text)`` and
``keyframeCaptionEdited(keyframe_index, text)`` go out when the field loses focus or on Ctrl+Enter (Enter too
for the one-line keyframe caption), and only when the text differs from what was last shown or sent. Esc
brings the last shown text back.

:meth:`CaptionPanel.set_captions` never emits an echo and does not overwrite a field that the user is typing
in when its caption did not change underneath (the window calls it on every frame). One exception keeps the
user's words: when the playhead leaves a keyframe whose caption has unsent typing, that caption is sent for
the keyframe it was typed for before the next one is shown. Between keyframes the keyframe caption is
disabled with a hint.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from ui.palette import format_time

BETWEEN_KEYFRAMES_HINT = "Between keyframes: go to a keyframe (, and . or a ◆ on the timeline) to edit its caption"
NO_LAYOUT_HINT = "No layout yet: plan or open one"
VIDEO_PLACEHOLDER = "What the whole clip shows, e.g. “a car drives from left to right past a piano”"
KEYFRAME_PLACEHOLDER = "What this keyframe shows"


class CaptionEdit(QPlainTextEdit):
    """A plain text field that reports a finished edit: ``editingFinished(text)``.

    Finished means focus out or Ctrl+Enter (and Enter when ``single_paragraph``, where line breaks are not
    allowed), and only when the text differs from the committed one (:meth:`set_committed`).
    """

    editingFinished = Signal(str)

    def __init__(self, single_paragraph: bool = False, lines: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._single_paragraph = single_paragraph
        self._committed = ""
        self.setTabChangesFocus(True)
        line_px = self.fontMetrics().lineSpacing()
        margins = self.contentsMargins()
        self.setMinimumHeight(lines * line_px + 2 * int(self.document().documentMargin())
                              + margins.top() + margins.bottom() + 2)

    @property
    def committed(self) -> str:
        """The text last shown by the application or last sent."""
        return self._committed

    def has_pending_edit(self) -> bool:
        """True when the field holds typing that has not been sent yet."""
        return self._clean(self.toPlainText()) != self._committed

    def set_committed(self, text: str) -> None:
        """Show ``text`` as the current value (no signal)."""
        self._committed = text
        if self.toPlainText() != text:
            self.setPlainText(text)

    def finish(self) -> None:
        """Send the typed text if it differs from the committed one."""
        text = self._clean(self.toPlainText())
        if text == self._committed:
            return
        self._committed = text
        if self.toPlainText() != text:
            self.setPlainText(text)
        self.editingFinished.emit(text)

    def _clean(self, text: str) -> str:
        if self._single_paragraph:
            return " ".join(text.split())
        return text.strip()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            self._single_paragraph or event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            event.accept()
            self.finish()
            return
        if key == Qt.Key.Key_Escape and self.has_pending_edit():
            event.accept()
            self.setPlainText(self._committed)
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        # A context menu or a dialog opened from the field is not the end of the edit.
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            self.finish()
        super().focusOutEvent(event)


class CaptionPanel(QWidget):
    """Video caption (several lines) above the current keyframe's caption (see the module docstring)."""

    videoCaptionEdited = Signal(str)
    keyframeCaptionEdited = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._keyframe_index: int | None = None

        self.video_title = QLabel("Video caption")
        self.video_title.setStyleSheet("font-weight: bold;")
        self.video_edit = CaptionEdit(single_paragraph=False, lines=3)
        self.video_edit.setToolTip("The caption of the whole video. Ctrl+Enter or leaving the field applies it; "
                                   "Esc undoes the typing.")
        self.keyframe_title = QLabel()
        self.keyframe_title.setStyleSheet("font-weight: bold;")
        self.keyframe_edit = CaptionEdit(single_paragraph=True, lines=2)
        self.keyframe_edit.setToolTip("The caption of this keyframe. Enter or leaving the field applies it; "
                                      "Esc undoes the typing.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addWidget(self.video_title)
        layout.addWidget(self.video_edit, 2)
        layout.addSpacing(4)
        layout.addWidget(self.keyframe_title)
        layout.addWidget(self.keyframe_edit, 1)
        self.video_edit.editingFinished.connect(self.videoCaptionEdited)
        self.keyframe_edit.editingFinished.connect(self._on_keyframe_finished)
        self.clear()

    @property
    def keyframe_index(self) -> int | None:
        """The keyframe whose caption is shown (None between keyframes)."""
        return self._keyframe_index

    def set_captions(self, video_caption: str, keyframe_index: int | None, keyframe_caption: str,
                     keyframe_time: float | None) -> None:
        """Show the video caption and the caption of keyframe ``keyframe_index`` (0-based, at ``keyframe_time`` s).

        ``keyframe_index`` None: the playhead is between keyframes; the keyframe field is disabled with a hint.
        """
        self.video_edit.setEnabled(True)
        self.video_edit.setPlaceholderText(VIDEO_PLACEHOLDER)
        if not (self.video_edit.has_pending_edit() and video_caption == self.video_edit.committed):
            self.video_edit.set_committed(video_caption)

        edit = self.keyframe_edit
        if keyframe_index != self._keyframe_index and self._keyframe_index is not None and edit.has_pending_edit():
            edit.finish()  # the user's typing belongs to the keyframe it was typed for
        same_keyframe = keyframe_index == self._keyframe_index
        self._keyframe_index = keyframe_index
        if keyframe_index is None:
            edit.set_committed("")
            edit.setEnabled(False)
            edit.setPlaceholderText(BETWEEN_KEYFRAMES_HINT)
            self.keyframe_title.setText("Keyframe caption")
            self.keyframe_title.setToolTip(BETWEEN_KEYFRAMES_HINT)
            return
        edit.setEnabled(True)
        edit.setPlaceholderText(KEYFRAME_PLACEHOLDER)
        when = f" at {format_time(keyframe_time)}" if keyframe_time is not None else ""
        self.keyframe_title.setText(f"Keyframe {keyframe_index + 1} caption{when}")
        self.keyframe_title.setToolTip("")
        if not (same_keyframe and edit.has_pending_edit() and keyframe_caption == edit.committed):
            edit.set_committed(keyframe_caption)

    def clear(self) -> None:
        """No layout: both fields empty and disabled (no signal; unsent typing is dropped)."""
        self._keyframe_index = None
        for edit in (self.video_edit, self.keyframe_edit):
            edit.set_committed("")
            edit.setEnabled(False)
            edit.setPlaceholderText(NO_LAYOUT_HINT)
        self.keyframe_title.setText("Keyframe caption")

    def _on_keyframe_finished(self, text: str) -> None:
        if self._keyframe_index is not None:
            self.keyframeCaptionEdited.emit(self._keyframe_index, text)
