"""Autosave recovery end to end: a real studio process is edited, autosaves, is killed; the next studio
offers what it left, restores exactly the edited layout, or forgets it when declined.

The studio runs in a subprocess (this module, run as ``python -m tests.hardening.test_recovery MODE …``):
offscreen Qt, a silent audio output, its settings, data and recovery files in the test's folder
(``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``SPA2V_DATA_DIR``), the real analysis and offline planner. It
opens a project or a recording, makes edits through the document (move a box at a time between keyframes,
rename, recaption, recolour), shortens the autosave interval (``Autosaver.interval_ms``), waits until the
recovery file holds the edits and prints them. Then either the test kills it with SIGKILL (a crash: no
``closeEvent``, no clean shutdown) or, in ``close`` mode, once the test says ``close`` on its stdin, it
closes its window the way a person does, answering "Discard" to the unsaved-changes question.

The studio that comes next is a :class:`app.window.StudioWindow` in the test process; the offer dialog
(``QMessageBox.question``) is replaced by a function that records the question and answers.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The autosave interval of the studio under test (the default is a minute).
AUTOSAVE_INTERVAL_MS = 100
#: How long a studio subprocess may take to start, analyse, plan and autosave.
STUDIO_TIMEOUT_S = 60.0
#: The edits the studio subprocess makes: where, what.
EDIT_TIME_S = 1.3
EDIT_BOX = (21.0, 31.0, 121.0, 131.0)
EDIT_NAME = "tram"
EDIT_VIDEO_CAPTION = "edited just before the crash"
EDIT_COLOUR = "#123456"

recovery_counts: dict[str, int] = {"studio processes killed": 0, "recoveries offered": 0, "restored": 0,
                                   "declined": 0, "clean closes": 0}


# ------------------------------------------------------------------------------------------ the studio process


class _SilentStream:
    """An output stream that never plays (the subprocess must not open an audio device)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def _pump_until(app: Any, done: Callable[[], bool], what: str, timeout_s: float = STUDIO_TIMEOUT_S) -> None:
    """Run the Qt event loop until ``done()``; raise TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} took longer than {timeout_s} s")
        app.processEvents()
        time.sleep(0.01)


def _recovery_holds(path: Path | None, layout: dict[str, Any]) -> bool:
    if path is None or not path.is_file():
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return record.get("project", {}).get("layout") == layout


def studio_main(mode: str, target: Path) -> int:
    """The studio subprocess: open ``target``, edit, autosave, print ``autosaved {json}``; then wait to be
    killed (``crash``) or close cleanly and print ``closed`` (``close``)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication([sys.argv[0]])
    from app.playback import Player
    from app.window import StudioWindow

    window = StudioWindow(player=Player(stream_factory=lambda rate, channels, callback: _SilentStream()))
    window.show()
    window.autosaver.interval_ms = AUTOSAVE_INTERVAL_MS
    window.open_file(target)
    doc = window.editor.document
    _pump_until(app, lambda: not window.runner.busy and not window.editor.plan_runner.busy
                and doc.layout is not None, "opening and planning")
    if window.last_error:
        raise RuntimeError(window.last_error)

    object_id = doc.layout.object_ids()[0]
    window.seek(EDIT_TIME_S)
    assert doc.move_box(object_id, EDIT_BOX, finished=True)
    assert doc.rename(object_id, EDIT_NAME)
    assert doc.set_video_caption(EDIT_VIDEO_CAPTION)
    doc.set_colour(object_id, EDIT_COLOUR)
    edited = doc.layout.to_json_dict()
    autosaver = window.autosaver
    _pump_until(app, lambda: not autosaver.dirty and _recovery_holds(autosaver.recovery_path, edited), "autosaving")
    print("autosaved " + json.dumps({"recovery_path": str(autosaver.recovery_path), "layout": edited,
                                     "object_id": object_id, "colour": doc.colour(object_id)}), flush=True)
    if mode == "crash":
        while True:  # a studio at work, autosaving on its timer, until the kill
            app.processEvents()
            time.sleep(0.01)
    sys.stdin.readline()  # the test has looked at the recovery file: now close
    # A clean close: the unsaved-changes question is answered "Discard", as a person may.
    QMessageBox.question = lambda *args, **kwargs: QMessageBox.StandardButton.Discard
    assert window.close(), "the window refused to close"
    app.processEvents()
    window.shutdown()
    print("closed", flush=True)
    return 0


class StudioProcess:
    """A studio subprocess (see :func:`studio_main`) with its own settings and data folders under ``home``."""

    def __init__(self, mode: str, target: Path, home: Path) -> None:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "SPA2V_DATA_DIR": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),  # QSettings (recent files, window layout)
            "XDG_DATA_HOME": str(home / "xdg-data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_STATE_HOME": str(home / "state"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",  # never the user's keyring
            "HF_HUB_OFFLINE": "1",
            "SPA2V_PRELOAD": "0",
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.hardening.test_recovery", mode, str(target)], cwd=REPO_ROOT, env=env,
            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="studio-process-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, prefix: str) -> str:
        """The rest of the first line the studio prints that starts with ``prefix``."""
        deadline = time.monotonic() + STUDIO_TIMEOUT_S
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the studio did not say {prefix!r} within {STUDIO_TIMEOUT_S} s") from None
            if line is None:
                self.process.wait(timeout=10)
                stderr = self.process.stderr.read() if self.process.stderr is not None else ""
                raise AssertionError(f"the studio ended (exit {self.process.returncode}) before saying "
                                     f"{prefix!r}: {stderr[-3000:]}")
            if line.startswith(prefix):
                return line[len(prefix):]

    def tell(self, line: str) -> None:
        """Send ``line`` to the studio's stdin (``close`` mode waits for one before closing)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        """SIGKILL the studio and reap it (a zombie would still look alive to the recovery lock)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        recovery_counts["studio processes killed"] += 1

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def studio_process(mode: str, target: Path, home: Path) -> Iterator[StudioProcess]:
    studio = StudioProcess(mode, target, home)
    try:
        yield studio
    finally:
        studio.close()


# ------------------------------------------------------------------------------------------ fixtures


needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="a crash is simulated with SIGKILL (POSIX)")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the studios of one test share: this process's recovery files go there too."""
    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def recording(stereo_wav: Path) -> Path:
    """The GUI tests' stereo recording (tests/gui/conftest.py)."""
    return stereo_wav


@pytest.fixture
def project_file(recording: Path) -> Path:
    """A saved project on ``recording`` with a planned layout (tests/gui/test_editing.py's)."""
    from engine.project import Project, save_project
    from tests.gui.test_editing import layout

    path = recording.with_suffix(".spa2v")
    save_project(Project.new(recording, layout=layout()), path)
    return path


class Offer:
    """Stands in for the offer dialog (``QMessageBox.question``): records the question, gives ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.questions: list[str] = []

    def __call__(self, _parent: Any, _title: str, text: str, *args: Any, **kwargs: Any) -> Any:
        self.questions.append(text)
        return self.answer


def new_studio(qtbot: Any) -> Any:
    """A studio window as one starts after a crash (real analysis, silent output)."""
    from app.playback import Player
    from app.window import StudioWindow

    window = StudioWindow(player=Player(stream_factory=lambda rate, channels, callback: _SilentStream()))
    qtbot.addWidget(window)
    window.show()
    return window


def crash_after_autosave(target: Path, home: Path) -> dict[str, Any]:
    """Run a studio on ``target`` until its edits are autosaved, then SIGKILL it; returns what it printed.

    While it lives, its recovery file is locked: no other studio is offered it.
    """
    from app.project_store import recovery_files

    with studio_process("crash", target, home) as studio:
        autosaved = json.loads(studio.wait_for("autosaved "))
        assert Path(autosaved["recovery_path"]).is_file()
        assert recovery_files() == [], "a running studio's recovery file was offered to another one"
        studio.kill()
    return autosaved


def print_counts() -> None:
    print("\nrecovery: " + ", ".join(f"{value} {name}" for name, value in recovery_counts.items()))


# ------------------------------------------------------------------------------------------ tests


@needs_sigkill
def test_a_killed_studio_is_offered_and_restores_exactly_the_edited_project(
        qtbot: Any, home: Path, project_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.project_store import recovery_files
    from engine.project import load_project

    autosaved = crash_after_autosave(project_file, home)
    recovery_path = Path(autosaved["recovery_path"])
    [entry] = recovery_files()
    assert entry.path == recovery_path and entry.original_path == project_file

    offer = Offer(QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "question", offer)
    window = new_studio(qtbot)
    window.ask_to_save = False
    assert window.offer_recovery()
    recovery_counts["recoveries offered"] += len(offer.questions)
    assert len(offer.questions) == 1 and "did not close cleanly" in offer.questions[0]
    assert project_file.name in offer.questions[0]
    doc = window.editor.document
    qtbot.waitUntil(lambda: doc.layout is not None and not window.runner.busy, timeout=30000)
    assert doc.layout.to_json_dict() == autosaved["layout"]
    assert doc.colour(autosaved["object_id"]) == autosaved["colour"] == EDIT_COLOUR
    assert window.position_s == pytest.approx(EDIT_TIME_S)  # the playhead where the edits were made
    assert window.project_path == project_file
    assert window.autosaver.recovery_path == recovery_path  # adopted: this studio keeps it up to date
    assert recovery_files() == []  # and no third studio is offered it meanwhile
    recovery_counts["restored"] += 1

    # Saving puts the restored edits in the project file and the recovery file goes.
    assert window.save_project()
    saved, _warnings = load_project(project_file)
    assert saved.layout.to_json_dict() == autosaved["layout"]
    assert not recovery_path.exists()
    window.shutdown()
    print_counts()


@needs_sigkill
def test_declining_the_offer_deletes_the_recovery_file(qtbot: Any, home: Path, recording: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.project_store import recovery_files

    autosaved = crash_after_autosave(recording, home)  # an untitled project on a recording
    assert Path(autosaved["recovery_path"]).name.startswith("untitled")
    offer = Offer(QMessageBox.StandardButton.No)
    monkeypatch.setattr(QMessageBox, "question", offer)
    window = new_studio(qtbot)
    window.ask_to_save = False
    assert not window.offer_recovery()
    recovery_counts["recoveries offered"] += len(offer.questions)
    assert len(offer.questions) == 1 and "Untitled" in offer.questions[0]
    assert window.editor.document.layout is None and window.loaded is None  # nothing was opened
    assert recovery_files() == []
    assert not any((home / "data" / "recovery").iterdir()), "declining left the file (or its stale lock)"
    recovery_counts["declined"] += 1
    assert not window.offer_recovery() and len(offer.questions) == 1  # asked once, not at every start
    window.shutdown()
    print_counts()


def test_a_clean_close_leaves_no_recovery_file(qtbot: Any, home: Path, project_file: Path) -> None:
    from app.project_store import recovery_files

    with studio_process("close", project_file, home) as studio:
        autosaved = json.loads(studio.wait_for("autosaved "))
        assert Path(autosaved["recovery_path"]).is_file()  # there is one while the edits are unsaved
        assert recovery_files() == []  # held by the running studio
        studio.tell("close")
        studio.wait_for("closed")
        assert studio.process.wait(timeout=30) == 0
    recovery_counts["clean closes"] += 1
    assert recovery_files() == []
    assert not any((home / "data" / "recovery").iterdir())
    # The subprocess kept its preferences (recent files) in its private folder, not the user's.
    assert list((home / "config").rglob("*.conf")), "the studio subprocess wrote its settings elsewhere"
    print_counts()


def test_restored_work_counts_as_unsaved_so_closing_asks_before_it_is_lost(
        qtbot: Any, home: Path, recording: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.project_store import Autosaver, recovery_files
    from engine.project import Project
    from tests.gui.test_editing import layout

    crashed = Autosaver(lambda: Project.new(recording, layout=layout()))  # what a crash leaves (cheaper here)
    crashed.mark_dirty()
    assert crashed.save_now()
    crashed.close(keep_recovery=True)
    [entry] = recovery_files()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window = new_studio(qtbot)
    assert window.offer_recovery()
    doc = window.editor.document
    qtbot.waitUntil(lambda: doc.layout is not None and not window.runner.busy, timeout=30000)
    assert doc.layout.to_json_dict() == layout().to_json_dict()

    # The person closes the studio straight away: the restored work is in no project file, so it must ask.
    asked = Offer(QMessageBox.StandardButton.Cancel)
    monkeypatch.setattr(QMessageBox, "question", asked)
    try:
        window.close()
        assert asked.questions, "closing with restored, unsaved work did not ask to save it"
        assert window.isVisible() and entry.path.is_file()  # "Cancel": still open, the work still kept
        assert doc.is_dirty and window.windowTitle().startswith("*")
    finally:
        window.ask_to_save = False
        window.close()
        window.shutdown()

if __name__ == "__main__":
    sys.exit(studio_main(sys.argv[1], Path(sys.argv[2])))
