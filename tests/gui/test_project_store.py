"""Recent files, autosave and crash recovery, and the window's saved layout (offscreen Qt, temp settings)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow

from app.project_store import (
    RECOVERY_SUFFIX,
    Autosaver,
    RecentFiles,
    RecoveryFile,
    WindowSettings,
    discard_recovery,
    recovery_dir,
    recovery_files,
    recovery_key,
)
from engine.project import EditState, Project

TICK_MS = 20


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "studio.ini"), QSettings.Format.IniFormat)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


class Snapshots:
    """Stands in for the window: the project as it stands, and how often it was asked for."""

    def __init__(self, project: Project | None) -> None:
        self.project = project
        self.calls = 0

    def __call__(self) -> Project | None:
        self.calls += 1
        return self.project


@pytest.fixture
def snapshots(tmp_path: Path) -> Snapshots:
    return Snapshots(Project.new(touch(tmp_path / "take.wav")))


@pytest.fixture
def recovery(tmp_path: Path) -> Path:
    return tmp_path / "recovery"


def only_recovery_file(folder: Path) -> Path:
    files = list(folder.glob(f"*{RECOVERY_SUFFIX}"))
    assert len(files) == 1, files
    return files[0]


# ------------------------------------------------------------------------------------------ recent files


def test_recent_files_are_most_recent_first_without_duplicates(settings: QSettings, tmp_path: Path) -> None:
    a, b, c = (touch(tmp_path / f"{name}.spa2v") for name in "abc")
    recent = RecentFiles(settings)
    for path in (a, b, c):
        recent.add(path)
    recent.add(tmp_path / "sub" / ".." / "a.spa2v")  # the same file spelled differently moves up, once

    assert recent.paths() == [a, c, b]
    assert RecentFiles(settings).paths() == [a, c, b]  # kept in the settings


def test_recent_files_keep_at_most_ten(settings: QSettings, tmp_path: Path) -> None:
    paths = [touch(tmp_path / f"take{i:02d}.wav") for i in range(12)]
    recent = RecentFiles(settings)
    for path in paths:
        recent.add(path)
    assert recent.paths() == paths[::-1][:10]


def test_missing_recent_files_are_pruned_when_read(settings: QSettings, tmp_path: Path) -> None:
    a, b, c = (touch(tmp_path / f"{name}.spa2v") for name in "abc")
    recent = RecentFiles(settings)
    for path in (a, b, c):
        recent.add(path)
    b.unlink()

    assert recent.paths() == [c, a]
    touch(b)  # back again, but it was forgotten when it was missing
    assert RecentFiles(settings).paths() == [c, a]
    recent.remove(c)
    assert recent.paths() == [a]
    recent.clear()
    assert recent.paths() == []


# ------------------------------------------------------------------------------------------ autosave


def test_autosave_writes_only_when_dirty(qtbot, snapshots: Snapshots, recovery: Path) -> None:
    saver = Autosaver(snapshots, interval_ms=TICK_MS, directory=recovery)
    try:
        qtbot.wait(5 * TICK_MS)
        assert snapshots.calls == 0 and not recovery.exists()  # nothing changed: nothing asked, nothing written

        with qtbot.waitSignal(saver.saved, timeout=2000) as written:
            saver.mark_dirty()
        assert written.args[0] == saver.recovery_path == recovery / f"untitled{RECOVERY_SUFFIX}"
        assert not saver.dirty and snapshots.calls == 1

        qtbot.wait(5 * TICK_MS)
        assert snapshots.calls == 1  # clean again: no more writes

        snapshots.project = snapshots.project.replaced(edit_state=EditState(time_s=1.5))
        saver.mark_dirty()
        qtbot.waitUntil(lambda: snapshots.calls == 2, timeout=2000)
        written_project, _ = RecoveryFile(saver.recovery_path, None, datetime.now()).load()
        assert written_project == snapshots.project
    finally:
        saver.close()
    assert not any(recovery.iterdir())  # a clean close leaves nothing behind (no file, no lock)


def test_autosave_with_no_project_open_writes_nothing(qtbot, recovery: Path) -> None:
    snapshots = Snapshots(None)
    saver = Autosaver(snapshots, interval_ms=TICK_MS, directory=recovery)
    saver.mark_dirty()
    qtbot.waitUntil(lambda: snapshots.calls >= 1, timeout=2000)
    saver.close()
    assert not recovery.exists() or not any(recovery.iterdir())


def test_a_failed_autosave_is_reported_not_raised(qtbot, recovery: Path) -> None:
    def broken() -> Project:
        raise RuntimeError("the document is mid-change")

    saver = Autosaver(broken, interval_ms=TICK_MS, directory=recovery)
    with qtbot.waitSignal(saver.failed, timeout=2000) as failure:
        saver.mark_dirty()
    assert "mid-change" in failure.args[0] and saver.dirty  # tried again on the next tick
    saver.close()


def test_saving_the_project_deletes_its_recovery_file(qtbot, snapshots: Snapshots, recovery: Path,
                                                      tmp_path: Path) -> None:
    project_path = tmp_path / "job" / "scene.spa2v"
    saver = Autosaver(snapshots, project_path=project_path, interval_ms=60_000, directory=recovery)
    saver.mark_dirty()
    assert saver.save_now() and not saver.save_now()  # the second finds nothing new
    assert saver.recovery_path == recovery / f"{recovery_key(project_path)}{RECOVERY_SUFFIX}"
    assert saver.recovery_path.is_file()

    saver.mark_saved()
    assert not any(recovery.glob(f"*{RECOVERY_SUFFIX}")) and saver.recovery_path is None
    saver.close()


def test_save_as_moves_the_recovery_file_to_the_new_key(qtbot, snapshots: Snapshots, recovery: Path,
                                                        tmp_path: Path) -> None:
    saver = Autosaver(snapshots, interval_ms=60_000, directory=recovery)
    saver.mark_dirty()
    saver.save_now()
    saver.set_project_path(tmp_path / "named.spa2v")
    assert saver.dirty and not (recovery / f"untitled{RECOVERY_SUFFIX}").exists()
    saver.save_now()
    assert only_recovery_file(recovery).name == f"{recovery_key(tmp_path / 'named.spa2v')}{RECOVERY_SUFFIX}"
    saver.close()


# ------------------------------------------------------------------------------------------ recovery


def test_leftover_recovery_files_are_listed_restored_and_discarded(qtbot, snapshots: Snapshots,
                                                                   recovery: Path, tmp_path: Path) -> None:
    project_path = tmp_path / "job" / "scene.spa2v"
    saver = Autosaver(snapshots, project_path=project_path, interval_ms=60_000, directory=recovery)
    saver.mark_dirty()
    saver.save_now()
    assert recovery_files(recovery) == []  # a running studio's own file is not offered

    saver.close(keep_recovery=True)  # what a crash leaves behind
    [entry] = recovery_files(recovery)
    assert entry.original_path == project_path and entry.title == "scene.spa2v"
    assert abs(entry.saved_at - datetime.now().astimezone()) < timedelta(minutes=1)
    project, warnings = entry.load()
    assert project == snapshots.project and warnings == []

    assert discard_recovery(entry)
    assert recovery_files(recovery) == [] and not entry.path.exists()


def test_a_restored_file_is_adopted_by_the_new_autosaver(qtbot, snapshots: Snapshots, recovery: Path) -> None:
    first = Autosaver(snapshots, interval_ms=60_000, directory=recovery)
    first.mark_dirty()
    first.save_now()
    first.close(keep_recovery=True)
    [entry] = recovery_files(recovery)

    second = Autosaver(snapshots, interval_ms=60_000, directory=recovery)
    assert second.adopt(entry) and second.dirty and second.recovery_path == entry.path
    assert not discard_recovery(entry)  # held by the running autosaver
    second.close()
    assert not entry.path.exists()


def test_two_untitled_projects_write_two_files(qtbot, snapshots: Snapshots, recovery: Path) -> None:
    savers = [Autosaver(snapshots, interval_ms=60_000, directory=recovery) for _ in range(2)]
    for saver in savers:
        saver.mark_dirty()
        saver.save_now()
    names = sorted(saver.recovery_path.name for saver in savers)
    assert names == sorted([f"untitled{RECOVERY_SUFFIX}", f"untitled-{os.getpid()}{RECOVERY_SUFFIX}"])
    for saver in savers:
        saver.close()


def test_unreadable_recovery_files_are_skipped(recovery: Path) -> None:
    recovery.mkdir()
    (recovery / f"broken{RECOVERY_SUFFIX}").write_text("{half a", encoding="utf-8")
    assert recovery_files(recovery) == []
    assert recovery_files(recovery / "never-made") == []


def test_the_recovery_folder_follows_spa2v_data_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    assert recovery_dir() == tmp_path / "data" / "recovery"


# ------------------------------------------------------------------------------------------ window


def make_window() -> QMainWindow:
    window = QMainWindow()
    window.setCentralWidget(QLabel("canvas"))
    dock = QDockWidget("Sources", window)
    dock.setObjectName("sources_dock")  # saveState finds docks by object name
    dock.setWidget(QLabel("sources"))
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    return window


def test_window_geometry_and_docks_are_restored(qtbot, settings: QSettings) -> None:
    window = make_window()
    qtbot.addWidget(window)
    assert not WindowSettings(settings).restore(window)  # nothing saved yet
    window.resize(700, 500)
    window.show()
    qtbot.waitExposed(window)
    dock = window.findChild(QDockWidget, "sources_dock")
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    WindowSettings(settings).save(window)

    again = make_window()
    qtbot.addWidget(again)
    assert WindowSettings(settings).restore(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.size() == window.size()
    assert again.dockWidgetArea(again.findChild(QDockWidget, "sources_dock")) == Qt.DockWidgetArea.RightDockWidgetArea
