"""The layout being edited, with one undo stack: every change is a command, every command can be undone.

:class:`LayoutDocument` holds the current :class:`~engine.layout.model.VideoLayout` (immutable: an edit
makes a new one with :mod:`engine.layout.edit`), the time shown, the selected object, how each object is
displayed (colour, visible, locked) and an internal clipboard. Views never change the layout themselves:
they call the document's methods, and each change is a :class:`QUndoCommand` pushed on the one
:attr:`LayoutDocument.undo_stack`.

A command keeps the layouts before and after, the time it was made at and the selection around it, so
undo and redo restore the layout exactly (the very objects, not a re-computation) and return to the frame
where the change was made (STYLE.md). Pushing a command does not move the time; only undo and redo do.

Drags are one command: :meth:`LayoutDocument.move_box` shows each step of a drag (``finished=False``)
without touching the stack, and the release (``finished=True``) pushes one :class:`MoveBox` from the box
before the drag to the box at the release. Nudges of one object at one time merge into one command.

An edit the document refuses (no layout, a locked object, an edit :mod:`engine.layout.edit` cannot make)
pushes nothing, returns False and emits :attr:`LayoutDocument.editRefused` with the reason; an edit that
would change nothing pushes nothing and returns True.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QUndoCommand, QUndoStack

from engine.errors import InputError
from engine.layout import edit
from engine.layout.interp import AT_KEYFRAME_S, FrameBox, boxes_at, frame_times
from engine.layout.model import Box, LayoutObject, VideoLayout

#: The colour of object ``id`` unless the user chose another: ``PALETTE[id % len(PALETTE)]``. Ten hues
#: that stay apart from each other on a dark and on a light frame.
PALETTE: tuple[str, ...] = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
    "#42d4f4", "#f032e6", "#bfef45", "#469990", "#ffe119",
)
#: Frames per second of the frame stepping (the ← / → keys).
DEFAULT_FPS = 8.0
# A box this close to the one shown is the same box: the canvas sends boxes rounded to 1/100 px.
_SAME_BOX_PX = 0.005
_NO_LAYOUT = "there is no layout to edit: plan one or open one first"


def _given(value: Any, default: Any) -> Any:
    """``value``, or ``default`` when it is None or a bool.

    A QAction's ``triggered(bool checked)`` connected straight to a method passes ``checked`` as its first
    argument; an id or an index is never a bool (and ``False == 0`` would pick object or keyframe 0).
    """
    return default if value is None or isinstance(value, bool) else value


# ------------------------------------------------------------------------------------------ commands


class LayoutCommand(QUndoCommand):
    """An edit of the layout: the layouts before and after, the time it was made at, the selection around it.

    The first :meth:`redo` (when the command is pushed) applies the new layout where the user is; later
    redos and every undo also go back to ``time_s``.
    """

    default_text = "Edit layout"

    def __init__(self, document: LayoutDocument, before: VideoLayout | None, after: VideoLayout | None,
                 time_s: float, selected_before: int | None, selected_after: int | None,
                 text: str | None = None) -> None:
        super().__init__(text or self.default_text)
        self.document = document
        self.before, self.after = before, after
        self.time_s = float(time_s)
        self.selected_before, self.selected_after = selected_before, selected_after
        self._pushed = False

    def redo(self) -> None:
        self.document._restore(self.after, self.time_s if self._pushed else None, self.selected_after)
        self._pushed = True

    def undo(self) -> None:
        self.document._restore(self.before, self.time_s, self.selected_before)


class MoveBox(LayoutCommand):
    """One box moved or resized on one frame (a whole drag)."""

    default_text = "Move box"


class Nudge(LayoutCommand):
    """The selected box moved by the arrow keys; consecutive nudges of one object at one time merge."""

    default_text = "Nudge box"
    MERGE_ID = 1

    def __init__(self, *args: Any, object_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.object_id = object_id

    def id(self) -> int:
        return self.MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, Nudge) and other.document is self.document and other.object_id == self.object_id
                and other.time_s == self.time_s):
            return False
        self.after, self.selected_after = other.after, other.selected_after
        # Nudged back to where it started: the stack drops the command. The document then shows the very layout
        # the stack stands at (not the equal copy the nudges made), so later commands start from, and undo to,
        # the stack's own layouts, and undoing everything still gives back the very first one.
        self.setObsolete(self.after == self.before)
        if self.isObsolete():
            self.document._restore(self.before, None, self.document.selected)
        return True


class SetOffscreen(LayoutCommand):
    """A measured sound marked off screen, or back on screen."""

    default_text = "Mark sound off screen"


class FollowSounds(LayoutCommand):
    """Objects put on the keyframes where their sound is heard, and taken off the others."""

    default_text = "Follow the sounds"


class AddObject(LayoutCommand):
    """A new object drawn on one frame."""

    default_text = "Add object"


class RemoveObjectAt(LayoutCommand):
    """One object taken off one frame (it stays on the other keyframes)."""

    default_text = "Remove box"


class DeleteObject(LayoutCommand):
    """One object removed from every keyframe."""

    default_text = "Delete object"


class Rename(LayoutCommand):
    """One object renamed on every keyframe."""

    default_text = "Rename object"


class InsertKeyframe(LayoutCommand):
    """A keyframe made at the current frame, with the boxes shown there."""

    default_text = "Insert keyframe"


class RemoveKeyframe(LayoutCommand):
    """One keyframe removed."""

    default_text = "Remove keyframe"


class Hold(LayoutCommand):
    """A keyframe given a copy of the previous keyframe's boxes."""

    default_text = "Hold keyframe"


class Propagate(LayoutCommand):
    """One object's box copied to the later keyframes."""

    default_text = "Propagate box"


class Paste(LayoutCommand):
    """Something from the document's clipboard pasted on the current frame."""

    default_text = "Paste"


class PasteBox(Paste):
    """A copied box pasted on the current frame (onto its object, or as a new object)."""

    default_text = "Paste box"


class PasteKeyframe(Paste):
    """A copied frame's boxes pasted on the current frame."""

    default_text = "Paste keyframe"


class SetCaption(LayoutCommand):
    """One keyframe's caption edited."""

    default_text = "Edit caption"


class SetVideoCaption(LayoutCommand):
    """The video caption edited."""

    default_text = "Edit video caption"


class ReplaceLayout(LayoutCommand):
    """A whole new layout (a planner's result) in place of the current one."""

    default_text = "Plan"


class SetColour(QUndoCommand):
    """The display colour of one object changed (None: back to the palette's colour)."""

    def __init__(self, document: LayoutDocument, object_id: int, before: str | None, after: str | None,
                 time_s: float) -> None:
        super().__init__("Change colour")
        self.document, self.object_id = document, object_id
        self.before, self.after, self.time_s = before, after, float(time_s)
        self._pushed = False

    def redo(self) -> None:
        self.document._restore_colour(self.object_id, self.after, self.time_s if self._pushed else None)
        self._pushed = True

    def undo(self) -> None:
        self.document._restore_colour(self.object_id, self.before, self.time_s)


# ------------------------------------------------------------------------------------------ the document


@dataclass(frozen=True)
class CopiedBox:
    """A box on the document's clipboard: which object it came from, its name and its box."""

    object_id: int
    name: str
    box: Box


@dataclass(frozen=True)
class _Drag:
    object_id: int
    time_s: float
    origin: VideoLayout  # the layout before the drag's first step


class LayoutDocument(QObject):
    """The edited layout, the current time and selection, display state and the undo stack.

    Signals: ``layoutChanged()`` (also for each shown step of a drag), ``timeChanged(float)``,
    ``selectionChanged(object)`` (an id or None), ``objectStateChanged(int)`` (colour, visibility or lock
    of that id), ``dirtyChanged(bool)`` (the undo stack left or reached its clean state) and
    ``editRefused(str)`` (why an edit was not made, one line for the status bar).
    """

    layoutChanged = Signal()
    timeChanged = Signal(float)
    selectionChanged = Signal(object)
    objectStateChanged = Signal(int)
    dirtyChanged = Signal(bool)
    editRefused = Signal(str)

    def __init__(self, parent: QObject | None = None, fps: float = DEFAULT_FPS) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.fps = float(fps)
        #: Why the last refused edit was refused (see :attr:`editRefused`).
        self.last_refusal: str | None = None
        self._layout: VideoLayout | None = None
        self._time_s = 0.0
        self._selected: int | None = None
        self._colours: dict[int, str] = {}
        self._hidden: set[int] = set()
        self._locked: set[int] = set()
        self._drag: _Drag | None = None
        self._copied_box: CopiedBox | None = None
        self._copied_objects: tuple[LayoutObject, ...] | None = None

    # --- state --------------------------------------------------------------------------------------

    @property
    def layout(self) -> VideoLayout | None:
        """The layout shown: during a drag, with the dragged box where it is now."""
        return self._layout

    @property
    def time_s(self) -> float:
        """The current time in seconds: the frame shown and edited."""
        return self._time_s

    @property
    def selected(self) -> int | None:
        """The selected object's id, or None."""
        return self._selected

    @property
    def is_dirty(self) -> bool:
        """True when the layout differs from the one last loaded or saved (the undo stack is not clean)."""
        return not self.undo_stack.isClean()

    def set_layout(self, layout: VideoLayout | None, clean: bool = True) -> None:
        """Show ``layout`` (a file just loaded): the undo history, display state and a stray selection go.

        ``clean=False`` marks the document unsaved from the start (a layout recovered from an autosave).
        """
        self._drag = None
        self.undo_stack.clear()
        self._layout = layout
        self._colours.clear()
        self._hidden.clear()
        self._locked.clear()
        if clean:
            self.undo_stack.setClean()
        else:
            self.undo_stack.resetClean()
        self.layoutChanged.emit()
        self._keep_selection_valid()

    def set_clean(self) -> None:
        """The layout has been saved: this is the clean state (``is_dirty`` False)."""
        self.undo_stack.setClean()

    def set_time(self, time_s: float) -> None:
        """Show and edit the frame at ``time_s`` (emits ``timeChanged`` when it changes)."""
        time_s = float(time_s)
        if time_s != self._time_s:
            self._time_s = time_s
            self.timeChanged.emit(time_s)

    def set_selected(self, object_id: int | None) -> None:
        """Select ``object_id`` (None or -1: nothing)."""
        object_id = None if object_id is None or object_id == -1 else int(object_id)
        if object_id != self._selected:
            self._selected = object_id
            self.selectionChanged.emit(object_id)

    def keyframe_index(self) -> int | None:
        """The index of the keyframe at the current time, or None on an in-between frame (or no layout)."""
        return None if self._layout is None else edit.keyframe_index_at(self._layout, self._time_s)

    def shown_boxes(self) -> list[FrameBox]:
        """The boxes of the frame at the current time (see :func:`engine.layout.interp.boxes_at`)."""
        return [] if self._layout is None else boxes_at(self._layout, self._time_s)

    # --- display state: colour (undoable), visible and locked (view state, not in the history) -----------

    def colour(self, object_id: int) -> str:
        """The colour of ``object_id`` as ``#rrggbb``: the user's choice, else the palette's by id."""
        return self._colours.get(object_id, PALETTE[object_id % len(PALETTE)])

    def is_visible(self, object_id: int) -> bool:
        return object_id not in self._hidden

    def is_locked(self, object_id: int) -> bool:
        return object_id in self._locked

    def set_visible(self, object_id: int, visible: bool) -> None:
        """Show or hide ``object_id`` on the canvas (not an edit of the layout)."""
        if visible != self.is_visible(object_id):
            (self._hidden.discard if visible else self._hidden.add)(object_id)
            self.objectStateChanged.emit(object_id)

    def set_locked(self, object_id: int, locked: bool) -> None:
        """Lock ``object_id`` against edits, or unlock it (not an edit of the layout)."""
        if locked != self.is_locked(object_id):
            (self._locked.add if locked else self._locked.discard)(object_id)
            if locked and self._drag is not None and self._drag.object_id == object_id:
                self._cancel_drag()
            self.objectStateChanged.emit(object_id)

    def set_colour(self, object_id: int, colour: str | QColor) -> bool:
        """Show ``object_id`` in ``colour`` (any colour Qt reads: ``#rrggbb``, a name, a QColor); undoable."""
        qcolour = QColor(colour)
        if not qcolour.isValid():
            return self._refuse(f"{colour!r} is not a colour: give #rrggbb or a colour name")
        name = qcolour.name()
        if name == self.colour(object_id):
            return True
        self.undo_stack.push(SetColour(self, object_id, self._colours.get(object_id), name, self._time_s))
        return True

    def display_state(self) -> dict[str, Any]:
        """Colours chosen, hidden and locked objects as plain JSON data (ids as strings for the colours)."""
        return {"colours": {str(i): c for i, c in sorted(self._colours.items())},
                "hidden": sorted(self._hidden), "locked": sorted(self._locked)}

    def set_display_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`display_state` gave (after :meth:`set_layout`); unknown keys are ignored."""
        self._colours = {int(i): QColor(c).name() for i, c in dict(state.get("colours", {})).items()
                         if QColor(c).isValid()}
        self._hidden = {int(i) for i in state.get("hidden", [])}
        self._locked = {int(i) for i in state.get("locked", [])}
        for object_id in sorted({*self._colours, *self._hidden, *self._locked}):
            self.objectStateChanged.emit(object_id)

    # --- boxes --------------------------------------------------------------------------------------

    def move_box(self, object_id: int, box: tuple[float, float, float, float], finished: bool = False) -> bool:
        """Move or resize ``object_id`` to ``box`` on the current frame; a drag is one :class:`MoveBox`.

        Each ``finished=False`` call shows the box there (``layoutChanged``) without touching the undo
        stack; the ``finished=True`` call pushes one command from the layout before the drag's first step
        to the released box (none when the box ends where it started, as after Esc). On an in-between
        frame the frame becomes a keyframe (:func:`engine.layout.edit.set_box`). False for a locked object.
        """
        committed = self._committed()
        if committed is None:
            return self._refuse(_NO_LAYOUT)
        if self.is_locked(object_id):
            self._cancel_drag()
            return self._refuse(self._locked_message(object_id))
        drag = self._drag
        if drag is None or drag.object_id != object_id:
            self._cancel_drag()
            drag = _Drag(object_id, self._time_s, committed)
        try:
            after = edit.set_box(drag.origin, drag.time_s, object_id, box)
            unchanged = finished and self._is_shown_box(drag.origin, drag.time_s, object_id, box)
        except InputError as exc:
            self._cancel_drag()
            return self._refuse(str(exc))
        if not finished:
            self._drag = drag
            self._layout = after
            self.layoutChanged.emit()
            return True
        self._cancel_drag()
        if unchanged:
            return True
        self._push(MoveBox(self, drag.origin, after, drag.time_s, self._selected, self._selected))
        return True

    def nudge(self, dx: float, dy: float) -> bool:
        """Move the selected box by ``(dx, dy)`` px (the caller passes 10 with Shift), never out of the canvas.

        Consecutive nudges of one object at one time are one :class:`Nudge` command.
        """
        layout, object_id = self._committed(), self._selected
        if layout is None:
            return self._refuse(_NO_LAYOUT)
        if object_id is None:
            return self._refuse("select a box to nudge it")
        if self.is_locked(object_id):
            return self._refuse(self._locked_message(object_id))
        shown = edit.box_at(layout, self._time_s, object_id)
        if shown is None:
            return self._refuse(f"object {object_id} is not shown at {self._time_s:.3f} s: there is no box to nudge")
        moved = edit.moved_box(layout, shown, dx, dy)
        if moved == shown:
            return True  # against the edge already
        return self._apply(Nudge, lambda current: edit.set_box(current, self._time_s, object_id, moved),
                           command_kwargs={"object_id": object_id})

    def add_object(self, name: str, box: tuple[float, float, float, float]) -> int | None:
        """A new object called ``name`` at ``box`` on the current frame; returns its id (now selected), or None."""
        added: list[int] = []

        def compute(layout: VideoLayout) -> VideoLayout:
            result, new_id = edit.add_object(layout, self._time_s, name, box)
            added.append(new_id)
            return result

        if not self._apply(AddObject, compute, select=lambda: added[0]):
            return None
        return added[0]

    def remove_object_at(self, object_id: int) -> bool:
        """Take ``object_id`` off the current frame only (the Del key)."""
        return self._apply(RemoveObjectAt, lambda layout: edit.remove_object_at(layout, self._time_s, object_id),
                           locked_id=object_id)

    def delete_object(self, object_id: int) -> bool:
        """Remove ``object_id`` from every keyframe."""
        return self._apply(DeleteObject, lambda layout: edit.delete_object(layout, object_id), locked_id=object_id)

    def rename(self, object_id: int, name: str) -> bool:
        """Call ``object_id`` ``name`` on every keyframe."""
        return self._apply(Rename, lambda layout: edit.rename_object(layout, object_id, name), locked_id=object_id)

    def propagate(self, object_id: int | None = None, add_missing: bool = False) -> bool:
        """Copy the box of ``object_id`` (default: the selected one) on the current frame to later keyframes.

        An in-between frame becomes a keyframe first. See :func:`engine.layout.edit.propagate` for
        ``add_missing``.
        """
        object_id = _given(object_id, self._selected)
        if object_id is None:
            return self._refuse("select a box to propagate it")

        def compute(layout: VideoLayout) -> VideoLayout:
            layout, index = edit.insert_keyframe(layout, self._time_s)
            return edit.propagate(layout, index, object_id, add_missing=add_missing)

        return self._apply(Propagate, compute, locked_id=object_id)

    # --- keyframes and captions -----------------------------------------------------------------------

    def insert_keyframe(self) -> bool:
        """Make the current frame a keyframe with the boxes shown there (nothing to do on a keyframe)."""
        return self._apply(InsertKeyframe, lambda layout: edit.insert_keyframe(layout, self._time_s)[0])

    def remove_keyframe(self, index: int | None = None) -> bool:
        """Remove keyframe ``index`` (default: the one at the current time); the last one stays."""
        layout = self._committed()
        index = _given(index, self.keyframe_index())
        if layout is not None and index is None:
            return self._refuse(f"there is no keyframe at {self._time_s:.3f} s to remove")
        return self._apply(RemoveKeyframe, lambda current: edit.remove_keyframe(current, index),
                           time_s=self._keyframe_time(index))

    def toggle_keyframe(self) -> bool:
        """The K key: a keyframe at the current frame when there is none, else remove the one there."""
        if self._committed() is not None and self.keyframe_index() is not None:
            return self.remove_keyframe()
        return self.insert_keyframe()

    def hold(self, index: int | None = None) -> bool:
        """Give keyframe ``index`` (default: the current frame, made a keyframe) the previous keyframe's boxes.

        Locked objects stay as they were on that keyframe.
        """
        index = _given(index, None)

        def compute(layout: VideoLayout) -> VideoLayout:
            target = index
            if target is None:
                layout, target = edit.insert_keyframe(layout, self._time_s)
            return edit.hold(layout, target, keep=self._locked)

        return self._apply(Hold, compute, time_s=self._keyframe_time(index))

    def set_caption(self, index: int | None, text: str) -> bool:
        """Keyframe ``index`` (None: the one at the current time) captioned ``text``."""
        index = _given(index, self.keyframe_index())
        if self._committed() is not None and index is None:
            return self._refuse(f"there is no keyframe at {self._time_s:.3f} s to caption")
        return self._apply(SetCaption, lambda layout: edit.set_caption(layout, index, text),
                           time_s=self._keyframe_time(index))

    def set_video_caption(self, text: str) -> bool:
        """The video caption set to ``text``."""
        return self._apply(SetVideoCaption, lambda layout: edit.set_video_caption(layout, text))

    def set_offscreen(self, source_id: int, offscreen: bool, name: str = "") -> bool:
        """Measured source ``source_id`` marked off screen (``offscreen``) or back on screen, undoably."""
        text = "Mark sound off screen" if offscreen else "Mark sound on screen"
        return self._apply(SetOffscreen, lambda layout: edit.set_offscreen(layout, source_id, offscreen, name),
                           command_kwargs={"text": text})

    def follow_sounds(self, sounding: dict[int, Any]) -> bool:
        """Each object of ``sounding`` (object id → spans in seconds) shown on the keyframes where it is heard
        and nowhere else (:func:`engine.layout.edit.follow_sounds`), as one undoable command."""
        return self._apply(FollowSounds, lambda layout: edit.follow_sounds(layout, sounding))

    def replace_layout(self, layout: VideoLayout, text: str = "Plan") -> bool:
        """``layout`` (a planner's result) replaces the current layout as one undoable command called ``text``."""
        before = self._committed()
        if layout == before:
            return True
        self._push(ReplaceLayout(self, before, layout, self._time_s, self._selected, self._selected, text=text))
        return True

    # --- clipboard ------------------------------------------------------------------------------------

    @property
    def copied_box(self) -> CopiedBox | None:
        """The box on the clipboard (its object, name and box), or None."""
        return self._copied_box

    @property
    def can_paste_box(self) -> bool:
        return self._copied_box is not None

    @property
    def can_paste_keyframe(self) -> bool:
        return self._copied_objects is not None

    def copy_box(self, object_id: int | None = None) -> bool:
        """Copy the box of ``object_id`` (default: the selected one) as shown on the current frame."""
        layout = self._committed()
        object_id = _given(object_id, self._selected)
        if layout is None or object_id is None:
            return self._refuse("select a box to copy it")
        shown = next((b for b in boxes_at(layout, self._time_s) if b.id == object_id), None)
        if shown is None:
            return self._refuse(f"object {object_id} is not shown at {self._time_s:.3f} s: there is no box to copy")
        self._copied_box = CopiedBox(shown.id, shown.name, shown.box)
        return True

    def copy_keyframe(self) -> bool:
        """Copy every box shown on the current frame (a keyframe's, or the interpolated ones)."""
        layout = self._committed()
        if layout is None:
            return self._refuse(_NO_LAYOUT)
        self._copied_objects = tuple(LayoutObject(id=b.id, name=b.name, box=b.box)
                                     for b in boxes_at(layout, self._time_s))
        return True

    def paste_box(self, as_new: bool = False) -> bool:
        """Paste the copied box on the current frame: onto its own object, or (``as_new``) as a new object.

        The object pasted onto is selected.
        """
        copied = self._copied_box
        if copied is None:
            return self._refuse("copy a box first")
        target = None if as_new else copied.object_id
        pasted: list[int] = []

        def compute(layout: VideoLayout) -> VideoLayout:
            result, object_id = edit.paste_box(layout, self._time_s, target, copied.name, copied.box)
            pasted.append(object_id)
            return result

        return self._apply(PasteBox, compute, locked_id=target, select=lambda: pasted[0])

    def paste_keyframe(self) -> bool:
        """Paste the copied frame's boxes on the current frame (made a keyframe); locked objects stay."""
        objects = self._copied_objects
        if objects is None:
            return self._refuse("copy a keyframe first")
        return self._apply(PasteKeyframe,
                           lambda layout: edit.paste_keyframe(layout, self._time_s, objects, keep=self._locked))

    # --- time -----------------------------------------------------------------------------------------

    def keyframe_times(self) -> list[float]:
        """The keyframe times of the layout (none without a layout)."""
        return [] if self._layout is None else list(self._layout.times)

    def next_keyframe_time(self, time_s: float | None = None) -> float:
        """The first keyframe after ``time_s`` (default: the current time); ``time_s`` itself when none is later."""
        time_s = self._time_s if time_s is None else float(time_s)
        later = [t for t in self.keyframe_times() if t > time_s + AT_KEYFRAME_S]
        return later[0] if later else time_s

    def previous_keyframe_time(self, time_s: float | None = None) -> float:
        """The last keyframe before ``time_s`` (default: the current time); ``time_s`` itself when none is earlier."""
        time_s = self._time_s if time_s is None else float(time_s)
        earlier = [t for t in self.keyframe_times() if t < time_s - AT_KEYFRAME_S]
        return earlier[-1] if earlier else time_s

    def frame_times(self, duration_s: float | None = None) -> list[float]:
        """The frames the ← / → keys step through: n = round(D·fps) (at least 2), frame i at ``i·D/(n−1)``.

        D is ``duration_s``, else the layout's duration; with neither, one frame at 0.
        """
        if duration_s is None:
            duration_s = None if self._layout is None else self._layout.duration_s
        if duration_s is None or duration_s <= 0:
            return [0.0]
        return frame_times(duration_s, max(2, round(duration_s * self.fps)))

    def step_frame(self, step: int, time_s: float | None = None, duration_s: float | None = None) -> float:
        """The time of the frame ``step`` frames after (negative: before) ``time_s`` (default: the current time).

        From a time between two frames, +1 is the next frame and −1 the previous one. The result stays
        within the clip. Nothing is changed: the caller seeks there.
        """
        time_s = self._time_s if time_s is None else float(time_s)
        times = self.frame_times(duration_s)
        first_at_or_after = bisect.bisect_left(times, time_s - AT_KEYFRAME_S)
        on_frame = first_at_or_after < len(times) and abs(times[first_at_or_after] - time_s) <= AT_KEYFRAME_S
        # Between frames, "where we are" is half a frame before the next one: +1 lands on it, −1 on the one before.
        target = first_at_or_after + step if (on_frame or step < 0) else first_at_or_after - 1 + step
        return times[min(max(target, 0), len(times) - 1)]

    # --- internals ------------------------------------------------------------------------------------

    def _committed(self) -> VideoLayout | None:
        """The layout as it stands on the undo stack (during a drag: before the drag)."""
        return self._drag.origin if self._drag is not None else self._layout

    def _cancel_drag(self) -> None:
        """End a drag without a command: the layout goes back to before it."""
        drag, self._drag = self._drag, None
        if drag is not None and self._layout is not drag.origin:
            self._layout = drag.origin
            self.layoutChanged.emit()

    def _apply(self, command_type: type[LayoutCommand], compute: Callable[[VideoLayout], VideoLayout], *,
               locked_id: int | None = None, time_s: float | None = None,
               select: Callable[[], int | None] | None = None, command_kwargs: dict[str, Any] | None = None) -> bool:
        """Compute the edit from the committed layout and push it as ``command_type`` (see the module docstring)."""
        before = self._committed()
        if before is None:
            return self._refuse(_NO_LAYOUT)
        if locked_id is not None and self.is_locked(locked_id):
            return self._refuse(self._locked_message(locked_id))
        try:
            after = compute(before)
        except InputError as exc:
            return self._refuse(str(exc))
        if after == before:
            return True
        selected_after = select() if select is not None else self._selected
        time_s = self._time_s if time_s is None else time_s
        self._push(command_type(self, before, after, time_s, self._selected, selected_after,
                                **(command_kwargs or {})))
        return True

    def _push(self, command: QUndoCommand) -> None:
        self._cancel_drag()
        self.last_refusal = None
        self.undo_stack.push(command)

    def _restore(self, layout: VideoLayout | None, time_s: float | None, selected: int | None) -> None:
        """Called by the commands: show ``layout`` (at ``time_s`` unless None) with ``selected`` selected."""
        self._drag = None
        self._layout = layout
        time_changed = time_s is not None and time_s != self._time_s
        if time_changed:
            self._time_s = float(time_s)
        if selected is not None and (layout is None or selected not in edit.object_names(layout)):
            selected = None
        selection_changed = selected != self._selected
        self._selected = selected
        self.layoutChanged.emit()
        if time_changed:
            self.timeChanged.emit(self._time_s)
        if selection_changed:
            self.selectionChanged.emit(selected)

    def _restore_colour(self, object_id: int, colour: str | None, time_s: float | None) -> None:
        if colour is None:
            self._colours.pop(object_id, None)
        else:
            self._colours[object_id] = colour
        if time_s is not None:
            self.set_time(time_s)
        self.objectStateChanged.emit(object_id)

    def _keep_selection_valid(self) -> None:
        if self._selected is not None and (self._layout is None
                                           or self._selected not in edit.object_names(self._layout)):
            self.set_selected(None)

    def _is_shown_box(self, layout: VideoLayout, time_s: float, object_id: int, box: Any) -> bool:
        shown = edit.box_at(layout, time_s, object_id)
        requested = edit.clamp_box(layout, box)
        return shown is not None and all(abs(a - b) <= _SAME_BOX_PX for a, b in zip(shown, requested, strict=True))

    def _keyframe_time(self, index: int | None) -> float | None:
        layout = self._committed()
        if layout is None or index is None or not isinstance(index, int) or not 0 <= index < len(layout.keyframes):
            return None
        return layout.keyframes[index].time_s

    def _locked_message(self, object_id: int) -> str:
        names = {} if self._committed() is None else edit.object_names(self._committed())
        label = f"{names[object_id]} ({object_id})" if object_id in names else f"object {object_id}"
        return f"{label} is locked: unlock it to edit it"

    def _refuse(self, reason: str) -> bool:
        self.last_refusal = reason
        self.editRefused.emit(reason)
        return False

    def _on_clean_changed(self, clean: bool) -> None:
        self.dirtyChanged.emit(not clean)
