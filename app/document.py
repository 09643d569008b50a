"""The layout being edited, with one undo stack: every change is a command, every command can be undone.

:class:`LayoutDocument` holds the current :class:`~engine.layout.model.VideoLayout` (immutable: an edit
makes a new one with :mod:`engine.layout.edit`), the time shown, the selected object and how each object
is displayed (colour, visible, locked). Views never change the layout themselves; they call the
document's methods, which push a :class:`LayoutCommand` on :attr:`LayoutDocument.undo_stack`. A command
stores the layouts before and after and the time it was made at, so undo and redo restore the layout
exactly and return to that frame (STYLE.md). A drag is one command: the live steps change the view only,
the release pushes the command.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.errors import InputError
from engine.layout import edit
from engine.layout.model import VideoLayout

PALETTE = ("#ef6461", "#3fb8af", "#f5c242", "#6c8ef5", "#b57edc", "#7bc96f", "#f29e4c", "#e46fa6", "#5bc0de", "#c9c9c9")
DEFAULT_FPS = 8.0


class LayoutCommand(QUndoCommand):
    """One edit: the layout before and after, and the time it was made at."""

    def __init__(self, document: LayoutDocument, text: str, before: VideoLayout | None, after: VideoLayout | None,
                 time_s: float, merge_key: tuple | None = None) -> None:
        super().__init__(text)
        self.document = document
        self.before, self.after, self.time_s = before, after, time_s
        self.merge_key = merge_key

    def id(self) -> int:
        return 1 if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, LayoutCommand) or other.merge_key != self.merge_key or self.merge_key is None:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.document._apply(self.after, self.time_s)

    def undo(self) -> None:
        self.document._apply(self.before, self.time_s)


class LayoutDocument(QObject):
    """The edited layout and its undo stack (see the module docstring)."""

    layoutChanged = Signal()
    timeChanged = Signal(float)
    selectionChanged = Signal(object)
    objectStateChanged = Signal(int)
    dirtyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._layout: VideoLayout | None = None
        self._time_s = 0.0
        self._selected: int | None = None
        self._colours: dict[int, str] = {}
        self._hidden: set[int] = set()
        self._locked: set[int] = set()
        self._live: VideoLayout | None = None  # the layout shown during a drag, before it is pushed
        self.fps = DEFAULT_FPS

    @Slot(bool)
    def _on_clean_changed(self, clean: bool) -> None:
        self.dirtyChanged.emit(not clean)

    # --- state ----------------------------------------------------------------------------------------

    @property
    def layout(self) -> VideoLayout | None:
        """The layout shown (during a drag: with the dragged box where it is now)."""
        return self._live if self._live is not None else self._layout

    @property
    def time_s(self) -> float:
        return self._time_s

    @property
    def selected(self) -> int | None:
        return self._selected

    @property
    def is_dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def colour(self, object_id: int) -> str:
        return self._colours.get(object_id, PALETTE[object_id % len(PALETTE)])

    def is_visible(self, object_id: int) -> bool:
        return object_id not in self._hidden

    def is_locked(self, object_id: int) -> bool:
        return object_id in self._locked

    def keyframe_index(self) -> int | None:
        """The keyframe at the current time, or None between keyframes."""
        return None if self.layout is None else edit.keyframe_index_at(self.layout, self._time_s)

    def set_layout(self, layout: VideoLayout | None, clean: bool = True) -> None:
        """Show ``layout`` (a loaded file): the undo history starts afresh."""
        self._live = None
        self._layout = layout
        self.undo_stack.clear()
        if clean:
            self.undo_stack.setClean()
        self.layoutChanged.emit()

    def set_time(self, time_s: float) -> None:
        if abs(time_s - self._time_s) > 1e-9:
            self._time_s = float(time_s)
            self.timeChanged.emit(self._time_s)

    def set_selected(self, object_id: Any) -> None:
        object_id = None if object_id is None or object_id == -1 else int(object_id)
        if object_id != self._selected:
            self._selected = object_id
            self.selectionChanged.emit(object_id)

    def set_visible(self, object_id: int, visible: bool) -> None:
        (self._hidden.discard if visible else self._hidden.add)(object_id)
        self.objectStateChanged.emit(object_id)

    def set_locked(self, object_id: int, locked: bool) -> None:
        (self._locked.add if locked else self._locked.discard)(object_id)
        self.objectStateChanged.emit(object_id)

    # --- commands -------------------------------------------------------------------------------------

    def _apply(self, layout: VideoLayout | None, time_s: float) -> None:
        self._live = None
        self._layout = layout
        self.layoutChanged.emit()
        self.set_time(time_s)

    def _push(self, text: str, after: VideoLayout, merge_key: tuple | None = None) -> bool:
        self.undo_stack.push(LayoutCommand(self, text, self._layout, after, self._time_s, merge_key))
        return True

    def _edit(self, text: str, fn: Any, *args: Any, object_id: int | None = None, merge_key: tuple | None = None
              ) -> bool:
        if self._layout is None or (object_id is not None and self.is_locked(object_id)):
            return False
        try:
            after = fn(self._layout, *args)
        except InputError:
            return False
        if isinstance(after, tuple):
            after = after[0]
        return self._push(text, after, merge_key)

    def move_box(self, object_id: int, box: tuple, finished: bool) -> bool:
        """Move/resize ``object_id`` to ``box`` at the current time; a drag is one command, pushed on release."""
        if self._layout is None or self.is_locked(object_id):
            self._live = None
            return False
        if not finished:
            try:
                self._live = edit.set_box(self._layout, self._time_s, object_id, box)
            except InputError:
                return False
            return True
        self._live = None
        return self._edit("Move box", edit.set_box, self._time_s, object_id, box, object_id=object_id)

    def nudge(self, dx: float, dy: float) -> bool:
        """Move the selected box by (dx, dy) px; consecutive nudges of one box are one command."""
        object_id = self._selected
        if self._layout is None or object_id is None:
            return False
        current = next((b for b in edit.boxes_at(self._layout, self._time_s) if b.id == object_id), None)
        if current is None:
            return False
        x0, y0, x1, y1 = current.box
        return self._edit("Nudge box", edit.set_box, self._time_s, object_id, (x0 + dx, y0 + dy, x1 + dx, y1 + dy),
                          object_id=object_id, merge_key=("nudge", object_id, self._time_s))

    def add_object(self, name: str, box: tuple) -> int | None:
        """A new object drawn at the current time; returns its id (and selects it)."""
        if self._layout is None:
            return None
        after, new_id = edit.add_object(self._layout, self._time_s, name, box)
        self._push("Add object", after)
        self.set_selected(new_id)
        return new_id

    def remove_object_at(self, object_id: int) -> bool:
        return self._edit("Remove box", edit.remove_object_at, self._time_s, object_id, object_id=object_id)

    def delete_object(self, object_id: int) -> bool:
        return self._edit("Delete object", edit.delete_object, object_id, object_id=object_id)

    def rename(self, object_id: int, name: str) -> bool:
        return self._edit("Rename object", edit.rename_object, object_id, name)

    def set_colour(self, object_id: int, colour: str) -> bool:
        self._colours[object_id] = colour
        self.objectStateChanged.emit(object_id)
        return True

    def set_caption(self, index: int, text: str) -> bool:
        return self._edit("Edit caption", edit.set_caption, index, text)

    def set_video_caption(self, text: str) -> bool:
        return self._edit("Edit video caption", edit.set_video_caption, text)

    def toggle_keyframe(self) -> bool:
        """A keyframe at the current time when there is none, else remove the one there."""
        if self._layout is None:
            return False
        index = edit.keyframe_index_at(self._layout, self._time_s)
        if index is None:
            return self._edit("Add keyframe", edit.insert_keyframe, self._time_s)
        return self._edit("Remove keyframe", edit.remove_keyframe, index)

    def replace_layout(self, layout: VideoLayout, text: str = "Plan") -> None:
        """A planner's layout replaces the current one, as one undoable command."""
        self.undo_stack.push(LayoutCommand(self, text, self._layout, layout, self._time_s))

    # --- time navigation ------------------------------------------------------------------------------

    def frame_times(self) -> list[float]:
        """The video's frame times: ``round(D·fps)`` frames, frame i at ``i·D/(n−1)``."""
        if self.layout is None:
            return [0.0]
        duration = self.layout.duration_s
        n = max(1, round(duration * self.fps))
        return [0.0] if n == 1 else [i * duration / (n - 1) for i in range(n)]

    def step_frame(self, step: int) -> float:
        """The time of the frame ``step`` frames away from the current time."""
        times = self.frame_times()
        nearest = min(range(len(times)), key=lambda i: abs(times[i] - self._time_s))
        return times[min(max(nearest + step, 0), len(times) - 1)]

    def next_keyframe_time(self, time_s: float) -> float:
        later = [k.time_s for k in (self.layout.keyframes if self.layout else ()) if k.time_s > time_s + 1e-6]
        return later[0] if later else time_s

    def previous_keyframe_time(self, time_s: float) -> float:
        earlier = [k.time_s for k in (self.layout.keyframes if self.layout else ()) if k.time_s < time_s - 1e-6]
        return earlier[-1] if earlier else time_s
