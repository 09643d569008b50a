"""What the studio keeps about projects between sessions: recent files, crash recovery, the window's layout.

- :class:`RecentFiles`: the last ten files opened, most recent first, in ``QSettings``; files that are gone
  are dropped when the list is read.
- :class:`Autosaver`: every minute, when something changed, writes the open project to a recovery file in
  the user data folder (``$SPA2V_DATA_DIR/recovery`` or ``<user data dir>/spa2v-studio/recovery``), one
  file per project (named by a hash of its path, or ``untitled``). A clean close deletes it; after a crash
  it stays, and :func:`recovery_files` lists it at the next start so the window can offer to restore it.
  A live autosaver holds a lock on its file, so a second running studio never offers (or discards) the
  first one's work.
- :class:`WindowSettings`: the main window's geometry and dock/toolbar state.

Settings live under organisation "SpA2V", application "SpA2V Studio" (:func:`studio_settings`); every class
takes a ``QSettings`` so that tests can use an ini file of their own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QLockFile, QObject, QSettings, QTimer, Signal, Slot
from PySide6.QtWidgets import QMainWindow

from engine.errors import InputError
from engine.fileio import atomic_write_text
from engine.project import Project, parse_project, project_json_text

log = logging.getLogger(__name__)

ORGANISATION = "SpA2V"
APPLICATION = "SpA2V Studio"

MAX_RECENT = 10
DEFAULT_AUTOSAVE_INTERVAL_MS = 60_000
RECOVERY_FORMAT = "spa2v.recovery"
RECOVERY_VERSION = 1
RECOVERY_SUFFIX = ".spa2v-recovery"
UNTITLED_KEY = "untitled"
#: Bump when the window's docks change so much that an old saved state would put them in odd places.
WINDOW_STATE_VERSION = 1


def studio_settings() -> QSettings:
    """The studio's settings store (the user's, in the platform's usual place)."""
    return QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION)


def _same_file_key(path: str | Path) -> str:
    """A spelling of ``path`` that is equal for equal files (absolute, normalised, case-folded where the
    platform ignores case)."""
    return os.path.normcase(os.path.normpath(os.path.abspath(os.path.expanduser(str(path)))))


# ------------------------------------------------------------------------------------------ recent files


class RecentFiles:
    """The recently opened files (projects or recordings) in ``QSettings``: most recent first, no
    duplicates, at most ``limit``; files that no longer exist are pruned whenever the list is read."""

    def __init__(self, settings: QSettings | None = None, group: str = "recent_files",
                 limit: int = MAX_RECENT) -> None:
        self._settings = settings if settings is not None else studio_settings()
        self._group = group
        self.limit = limit

    def paths(self) -> list[Path]:
        """The files, most recent first; missing ones are dropped here (and from the settings)."""
        stored = self._read()
        present = [path for path in stored if path.exists()]
        if len(present) != len(stored):
            self._write(present)
        return present

    def add(self, path: str | Path) -> None:
        """Put ``path`` first (moving it up if it was listed already), keeping at most ``limit`` files."""
        path = Path(os.path.abspath(Path(path).expanduser()))
        key = _same_file_key(path)
        others = [p for p in self._read() if _same_file_key(p) != key]
        self._write([path, *others][: self.limit])

    def remove(self, path: str | Path) -> None:
        """Drop ``path`` from the list (e.g. after it failed to open)."""
        key = _same_file_key(path)
        self._write([p for p in self._read() if _same_file_key(p) != key])

    def clear(self) -> None:
        """Forget every file."""
        self._write([])

    def _read(self) -> list[Path]:
        count = self._settings.beginReadArray(self._group)
        paths = []
        for i in range(count):
            self._settings.setArrayIndex(i)
            value = self._settings.value("path")
            if isinstance(value, str) and value:
                paths.append(Path(value))
        self._settings.endArray()
        return paths

    def _write(self, paths: list[Path]) -> None:
        self._settings.remove(self._group)  # else a shorter list keeps the old tail's entries
        self._settings.beginWriteArray(self._group, len(paths))
        for i, path in enumerate(paths):
            self._settings.setArrayIndex(i)
            self._settings.setValue("path", str(path))
        self._settings.endArray()
        self._settings.sync()


# ------------------------------------------------------------------------------------------ recovery


def recovery_dir() -> Path:
    """Where recovery files live: ``$SPA2V_DATA_DIR/recovery`` or ``<user data dir>/spa2v-studio/recovery``."""
    env = os.environ.get("SPA2V_DATA_DIR")
    if env:
        return Path(env) / "recovery"
    from platformdirs import user_data_dir

    return Path(user_data_dir("spa2v-studio", appauthor=False)) / "recovery"


def recovery_key(project_path: str | Path | None) -> str:
    """The name of a project's recovery file (without suffix): a hash of its path, or "untitled"."""
    if project_path is None:
        return UNTITLED_KEY
    return hashlib.sha1(_same_file_key(project_path).encode("utf-8")).hexdigest()[:16]


def _lock_for(recovery_path: Path) -> QLockFile:
    lock = QLockFile(str(recovery_path.with_suffix(".lock")))
    # Only a dead owner makes a lock stale: a studio may well keep a project open for hours.
    lock.setStaleLockTime(0)
    return lock


@dataclass(frozen=True)
class RecoveryFile:
    """A recovery file left by a studio that did not close cleanly.

    ``original_path``: the project file it belongs to (None: an untitled project). ``saved_at``: when it was
    written (local time, timezone-aware).
    """

    path: Path
    original_path: Path | None
    saved_at: datetime

    @property
    def title(self) -> str:
        """What to call it in a dialog: the project's file name, or "Untitled"."""
        return self.original_path.name if self.original_path is not None else "Untitled"

    def load(self) -> tuple[Project, list[str]]:
        """The project it holds, with warnings (see :func:`engine.project.parse_project`); InputError if it
        cannot be read."""
        data = _read_recovery(self.path)
        return parse_project(data.get("project"), source=self.path)


def _read_recovery(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as a recovery file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != RECOVERY_FORMAT:
        raise InputError(f"{path}: format: must be '{RECOVERY_FORMAT}'")
    if data.get("version") != RECOVERY_VERSION:
        raise InputError(f"{path}: version: {data.get('version')!r} is not supported; this program reads "
                         f"version {RECOVERY_VERSION}")
    return data


def recovery_files(directory: str | Path | None = None) -> list[RecoveryFile]:
    """The recovery files no running studio owns, newest first: what a crash (or a kill) left behind.

    Files that cannot be read are logged and skipped (and left alone, for a person to look at).
    """
    folder = Path(directory) if directory is not None else recovery_dir()
    found: list[RecoveryFile] = []
    for path in sorted(folder.glob(f"*{RECOVERY_SUFFIX}")) if folder.is_dir() else []:
        lock = _lock_for(path)
        if not lock.tryLock(0):
            continue  # a live studio is writing it
        lock.unlock()
        try:
            data = _read_recovery(path)
        except InputError as exc:
            log.warning("skipping a recovery file: %s", exc)
            continue
        original = data.get("original_path")
        try:
            saved_at = datetime.fromisoformat(str(data.get("saved_at")))
        except ValueError:
            saved_at = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        found.append(RecoveryFile(path=path, original_path=Path(original) if isinstance(original, str) else None,
                                  saved_at=saved_at.astimezone()))
    found.sort(key=lambda entry: entry.saved_at, reverse=True)
    return found


def discard_recovery(entry: RecoveryFile | str | Path) -> bool:
    """Delete a recovery file (the user chose not to restore it, or has restored and saved it).

    Returns False (and deletes nothing) when a running studio holds it.
    """
    path = entry.path if isinstance(entry, RecoveryFile) else Path(entry)
    lock = _lock_for(path)
    if not lock.tryLock(0):
        return False
    try:
        path.unlink(missing_ok=True)
    finally:
        lock.unlock()
    return True


class Autosaver(QObject):
    """Writes the open project to its recovery file every ``interval_ms`` while there are unsaved changes.

    ``snapshot()`` returns the project as it stands (None: nothing open). The window calls
    :meth:`mark_dirty` on every change (connect it to the undo stack's ``indexChanged``), :meth:`mark_saved`
    after saving the project file, :meth:`set_project_path` when the project gets a (new) file, and
    :meth:`close` on a clean close. The write happens on the GUI thread: a project is a few kB of JSON.
    A failed write is logged and reported by :attr:`failed`; it never raises into the event loop.
    """

    #: The recovery file was written (its path).
    saved = Signal(object)
    #: Writing it failed (a message for the status bar).
    failed = Signal(str)

    def __init__(self, snapshot: Callable[[], Project | None], project_path: str | Path | None = None,
                 interval_ms: int = DEFAULT_AUTOSAVE_INTERVAL_MS, directory: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._snapshot = snapshot
        self._directory = Path(directory) if directory is not None else recovery_dir()
        self._project_path = None if project_path is None else Path(os.path.abspath(project_path))
        self._dirty = False
        self._path: Path | None = None  # the recovery file claimed (locked) by this autosaver
        self._lock: QLockFile | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self.save_now)
        self._timer.start()

    # ---------------------------------------------------------------- state

    @property
    def dirty(self) -> bool:
        """Whether there are changes the recovery file does not hold yet."""
        return self._dirty

    @property
    def interval_ms(self) -> int:
        return self._timer.interval()

    @interval_ms.setter
    def interval_ms(self, value: int) -> None:
        self._timer.setInterval(int(value))

    @property
    def recovery_path(self) -> Path | None:
        """The recovery file this autosaver writes, once it has written one."""
        return self._path

    @property
    def project_path(self) -> Path | None:
        return self._project_path

    @Slot()
    def mark_dirty(self) -> None:
        """Something changed: the next tick writes the recovery file."""
        self._dirty = True

    @Slot()
    def mark_saved(self) -> None:
        """The project was saved to its file: the recovery file is no longer needed."""
        self._dirty = False
        self._release(delete=True)

    def set_project_path(self, path: str | Path | None) -> None:
        """The project now lives at ``path`` ("save as", or a new project): later writes go to its own
        recovery file; the previous one is deleted."""
        new = None if path is None else Path(os.path.abspath(path))
        if new == self._project_path:
            return
        self._project_path = new
        if self._path is not None:
            self._release(delete=True)
            self._dirty = True  # what the old file held must be written to the new one

    def adopt(self, entry: RecoveryFile) -> bool:
        """Take over a restored recovery file: it becomes this autosaver's file (rewritten on the next tick,
        deleted on a clean close or a save), for the project at its original path. Returns False when
        another running studio holds it."""
        lock = _lock_for(entry.path)
        if not lock.tryLock(0):
            return False
        self._release(delete=True)
        self._path, self._lock = entry.path, lock
        self._project_path = entry.original_path
        self._dirty = True  # the restored work is not in the project file yet
        return True

    # ---------------------------------------------------------------- writing

    @Slot()
    def save_now(self) -> bool:
        """Write the recovery file if there are unsaved changes; returns whether it was written."""
        if not self._dirty:
            return False
        try:
            project = self._snapshot()
            if project is None:
                return False
            target = self._claim()
            record = {
                "format": RECOVERY_FORMAT,
                "version": RECOVERY_VERSION,
                "original_path": None if self._project_path is None else str(self._project_path),
                "saved_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                # Absolute paths: the recovery folder is not where the project's relative paths point.
                "project": json.loads(project_json_text(project, None)),
            }
            atomic_write_text(target, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        except Exception as exc:  # a timer slot must not raise into the event loop
            log.warning("autosave failed: %s", exc)
            self.failed.emit(f"autosave failed: {exc}")
            return False
        self._dirty = False
        self.saved.emit(target)
        return True

    def close(self, keep_recovery: bool = False) -> None:
        """Stop autosaving. A clean close deletes the recovery file; ``keep_recovery`` (an unhandled
        error is taking the studio down) writes pending changes and leaves the file for the next start."""
        self._timer.stop()
        if keep_recovery:
            self.save_now()
        self._release(delete=not keep_recovery)

    def _claim(self) -> Path:
        """The recovery file to write, locked for this autosaver (another studio may hold the usual one)."""
        if self._path is not None:
            return self._path
        self._directory.mkdir(parents=True, exist_ok=True)
        key = recovery_key(self._project_path)
        for name in (key, f"{key}-{os.getpid()}"):
            path = self._directory / f"{name}{RECOVERY_SUFFIX}"
            lock = _lock_for(path)
            if lock.tryLock(0):
                self._path, self._lock = path, lock
                return path
        raise OSError(f"cannot lock a recovery file in {self._directory}")

    def _release(self, delete: bool) -> None:
        if self._path is not None and delete:
            try:
                self._path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot delete the recovery file %s: %s", self._path, exc)
        if self._lock is not None:
            self._lock.unlock()
        self._path, self._lock = None, None


# ------------------------------------------------------------------------------------------ window


class WindowSettings:
    """Saves and restores a main window's geometry and dock/toolbar state in ``QSettings``."""

    def __init__(self, settings: QSettings | None = None, group: str = "main_window",
                 state_version: int = WINDOW_STATE_VERSION) -> None:
        self._settings = settings if settings is not None else studio_settings()
        self._group = group
        self._state_version = state_version

    def save(self, window: QMainWindow) -> None:
        """Remember ``window``'s geometry and its docks' and toolbars' places (call it on close)."""
        self._settings.beginGroup(self._group)
        self._settings.setValue("geometry", window.saveGeometry())
        self._settings.setValue("state", window.saveState(self._state_version))
        self._settings.endGroup()
        self._settings.sync()

    def restore(self, window: QMainWindow) -> bool:
        """Put ``window`` back as it was saved (call it after its docks exist, before ``show``).

        Returns False when nothing usable was saved (first start, or a state from another dock layout).
        """
        self._settings.beginGroup(self._group)
        geometry = self._settings.value("geometry")
        state = self._settings.value("state")
        self._settings.endGroup()
        restored = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            restored = window.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and not state.isEmpty():
            restored = window.restoreState(state, self._state_version) and restored
        return restored
