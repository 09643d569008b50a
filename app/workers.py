"""Background tasks for the studio, with the contract of Orange3's ``concurrent`` helpers.

A task is a function ``fn(state: TaskState) -> result`` run on its own ``QThread``. It reports through
its :class:`TaskState` (status text, progress, partial results) and polls
``state.is_interruption_requested()``. Everything it reports reaches the GUI thread through queued
signals of :class:`TaskRunner`; starting a new task asks the running one to stop and drops whatever it
still reports. :meth:`TaskRunner.shutdown` cancels and joins every thread, so none is left running.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine.errors import Cancelled

log = logging.getLogger(__name__)

Task = Callable[["TaskState"], Any]


class TaskState(QObject):
    """What a running task uses to talk to the GUI (thread-safe; its signals are queued to the GUI)."""

    statusChanged = Signal(object, str)  # (state, text)
    progressChanged = Signal(object, float)  # (state, percent 0..100)
    partialResult = Signal(object, object)  # (state, value)

    def __init__(self) -> None:
        super().__init__()
        self._interrupt = threading.Event()
        self._percent: int | None = None
        self.status = ""
        self.progress = 0.0

    def set_status(self, text: str) -> None:
        self.status = text
        self.statusChanged.emit(self, text)

    def set_progress_value(self, percent: float) -> None:
        """Report progress in percent; emits the whole percent, only when it changes."""
        percent = min(100.0, max(0.0, float(percent)))
        self.progress = percent
        rounded = round(percent)
        if rounded != self._percent:
            self._percent = rounded
            self.progressChanged.emit(self, float(rounded))

    def set_partial_result(self, value: Any) -> None:
        self.partialResult.emit(self, value)

    def is_interruption_requested(self) -> bool:
        return self._interrupt.is_set()

    def request_interruption(self) -> None:
        self._interrupt.set()

    def raise_if_cancelled(self) -> None:
        if self._interrupt.is_set():
            raise Cancelled("cancelled")


class _TaskThread(QThread):
    """Runs one task; its outcome is reported by the ``ended`` signal (queued to the runner)."""

    ended = Signal(object, str, object)  # (state, "ok" | "cancelled" | "error", result or exception)

    def __init__(self, fn: Task, state: TaskState) -> None:
        super().__init__()
        self._fn = fn
        self.state = state

    def run(self) -> None:
        try:
            result = self._fn(self.state)
        except Cancelled:
            self.ended.emit(self.state, "cancelled", None)
            return
        except BaseException as exc:
            if self.state.is_interruption_requested():
                self.ended.emit(self.state, "cancelled", None)
                return
            exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.ended.emit(self.state, "error", exc)
            return
        kind = "cancelled" if self.state.is_interruption_requested() else "ok"
        self.ended.emit(self.state, kind, result)


class TaskRunner(QObject):
    """Runs one task at a time in the background; a new task cancels the running one.

    Signals (all on the GUI thread, only for the current task): ``started``, ``statusChanged(str)``,
    ``progressChanged(float)`` (percent), ``partialResult(object)``, ``resultReady(object)``,
    ``failed(object)`` (the exception; its formatted traceback is in ``exc.__traceback_text__``),
    ``cancelled()`` and, after any of the last three, ``finished()``.
    """

    started = Signal()
    statusChanged = Signal(str)
    progressChanged = Signal(float)
    partialResult = Signal(object)
    resultReady = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state: TaskState | None = None
        self._threads: set[_TaskThread] = set()

    @property
    def busy(self) -> bool:
        """Whether the current task is still running (an old, cancelled one does not count)."""
        return self._state is not None

    @property
    def state(self) -> TaskState | None:
        return self._state

    def start(self, fn: Task) -> TaskState:
        """Run ``fn(state)`` on a new thread, cancelling the task that is running now."""
        self.cancel()
        state = TaskState()
        queued = Qt.ConnectionType.QueuedConnection
        state.statusChanged.connect(self._on_status, queued)
        state.progressChanged.connect(self._on_progress, queued)
        state.partialResult.connect(self._on_partial, queued)
        thread = _TaskThread(fn, state)
        thread.ended.connect(self._on_ended, queued)
        thread.finished.connect(self._reap, queued)
        self._threads.add(thread)
        self._state = state
        self.started.emit()
        thread.start()
        return state

    def cancel(self) -> None:
        """Ask the current task to stop; its outcome is dropped and ``cancelled`` is emitted now."""
        state = self._state
        if state is None:
            return
        state.request_interruption()
        self._state = None
        self.cancelled.emit()
        self.finished.emit()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until every task thread has ended (True) or the time is up (False)."""
        ok = True
        for thread in list(self._threads):
            ok = thread.wait(timeout_ms) and ok
        return ok

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel the running task and join every thread (call before the application quits)."""
        self.cancel()
        for thread in list(self._threads):
            if not thread.wait(timeout_ms):
                log.warning("a background task did not stop within %d ms", timeout_ms)
                continue
            self._threads.discard(thread)
            thread.deleteLater()

    @property
    def thread_count(self) -> int:
        return sum(1 for thread in self._threads if thread.isRunning())

    @Slot(object, str)
    def _on_status(self, state: TaskState, text: str) -> None:
        if state is self._state:
            self.statusChanged.emit(text)

    @Slot(object, float)
    def _on_progress(self, state: TaskState, percent: float) -> None:
        if state is self._state:
            self.progressChanged.emit(percent)

    @Slot(object, object)
    def _on_partial(self, state: TaskState, value: Any) -> None:
        if state is self._state:
            self.partialResult.emit(value)

    @Slot(object, str, object)
    def _on_ended(self, state: TaskState, kind: str, payload: Any) -> None:
        if state is not self._state:
            return  # a cancelled task ending late: its outcome no longer matters
        self._state = None
        if kind == "ok":
            self.resultReady.emit(payload)
        elif kind == "error":
            self.failed.emit(payload)
        else:
            self.cancelled.emit()
        self.finished.emit()

    @Slot()
    def _reap(self) -> None:
        for thread in [t for t in self._threads if t.isFinished()]:
            self._threads.discard(thread)
            thread.deleteLater()


# --- the Hear stage's analysis task ------------------------------------------------------------


@dataclass
class LoadedAudio:
    """Everything the studio shows for one recording."""

    path: Path
    audio: Any  # engine.audio.io.AudioSource
    peaks: Any  # engine.audio.peaks.WaveformPeaks
    analysis: Any  # engine.audio.model.Analysis
    #: When each source sounds (``engine.audition.events.SourceEvents``, one per source); None before.
    events: Any = None


def find_events(path: Path, analysis: Any, is_cancelled: Callable[[], bool] | None = None) -> list[Any]:
    """When each of ``analysis``'s sources sounds (:func:`engine.audition.events.recording_events`); when the
    recording cannot be read again (a damaged tail, say), the spans of the source tracks."""
    from engine.audition.events import events_from_tracks, recording_events
    from engine.errors import InputError

    try:
        return recording_events(path, analysis, is_cancelled)
    except InputError as exc:
        log.warning("events of %s from the source tracks: %s", path.name, exc)
        return events_from_tracks(analysis)


def default_analyze(*args: Any, **kwargs: Any) -> Any:
    """``engine.audio.hear.analyze``, imported when first needed."""
    from engine.audio.hear import analyze

    return analyze(*args, **kwargs)


def analysis_task(
    path: str | Path,
    analyze_fn: Callable[..., Any] | None = None,
    settings: Any = None,
) -> Task:
    """A task that opens ``path``, builds its waveform overview, then measures cues and sources.

    Progress: opening 0–2 %, waveform overview 2–25 %, analysis 25–90 %, when each source sounds 90–100 %.
    The overview is sent as a partial result ``LoadedAudio(path, audio, peaks, analysis=None)`` so the
    waveform can be drawn while the cues are measured. The result is a complete :class:`LoadedAudio`.
    """
    from engine.audio.io import open_audio
    from engine.audio.peaks import compute_peaks

    analyze = analyze_fn or default_analyze
    path = Path(path)

    def run(state: TaskState) -> LoadedAudio:
        state.set_status(f"Opening {path.name}…")
        state.set_progress_value(0)
        audio = open_audio(path)
        state.raise_if_cancelled()
        state.set_progress_value(2)
        state.set_status(f"Drawing the waveform of {path.name}…")
        peaks = compute_peaks(
            audio,
            progress=lambda f: state.set_progress_value(2 + 23 * f),
            is_cancelled=state.is_interruption_requested,
        )
        state.set_partial_result(LoadedAudio(path, audio, peaks, None))
        state.set_status(f"Measuring spatial cues of {path.name}…")
        analysis = analyze(
            audio,
            settings=settings,
            progress=lambda f: state.set_progress_value(25 + 65 * f),
            is_cancelled=state.is_interruption_requested,
        )
        state.raise_if_cancelled()
        state.set_progress_value(90)
        state.set_status(f"Finding when each source of {path.name} sounds…")
        events = find_events(path, analysis, state.is_interruption_requested)
        state.raise_if_cancelled()
        state.set_progress_value(100)
        return LoadedAudio(path, audio, peaks, analysis, events)

    return run
