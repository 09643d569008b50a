"""The background task runner: Orange3's contract, and no thread left behind."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import threading
import time

import pytest

from app.workers import TaskRunner, TaskState, analysis_task
from engine.errors import AudioInputError
from tests.gui.conftest import fast_analyze, no_leaked_qthreads, write_stereo_wav  # noqa: F401


@pytest.fixture
def stereo_wav(tmp_path):
    path = tmp_path / "scene.wav"
    write_stereo_wav(path)
    return path


@pytest.fixture
def runner(qtbot):
    runner = TaskRunner()
    yield runner
    runner.shutdown()


def test_progress_status_partial_and_result_reach_the_gui_thread(qtbot, runner) -> None:
    gui_thread = threading.current_thread()
    progress: list[float] = []
    statuses: list[str] = []
    partials: list[object] = []
    threads: list[threading.Thread] = []
    runner.progressChanged.connect(lambda p: (progress.append(p), threads.append(threading.current_thread())))
    runner.statusChanged.connect(statuses.append)
    runner.partialResult.connect(partials.append)

    def task(state: TaskState) -> str:
        state.set_status("working")
        for i in range(1001):
            state.set_progress_value(i / 10)  # 1001 calls, but only whole-percent changes are emitted
        state.set_partial_result("half")
        return "done"

    with qtbot.waitSignal(runner.resultReady, timeout=5000) as blocker:
        runner.start(task)
    assert blocker.args == ["done"]
    qtbot.wait(20)
    assert statuses == ["working"] and partials == ["half"]
    assert len(progress) == 101 and progress[-1] == 100
    assert all(t is gui_thread for t in threads)
    runner.wait()
    assert runner.thread_count == 0 and not runner.busy


def test_cancel_stops_a_running_task(qtbot, runner) -> None:
    stopped = threading.Event()

    def task(state: TaskState) -> None:
        while not state.is_interruption_requested():
            time.sleep(0.005)
        stopped.set()

    runner.start(task)
    with qtbot.waitSignal(runner.cancelled, timeout=2000):
        runner.cancel()
    assert stopped.wait(2.0)
    assert runner.wait(2000)


def test_new_task_cancels_the_old_and_its_result_is_dropped(qtbot, runner) -> None:
    results: list[str] = []
    runner.resultReady.connect(results.append)
    first_cancelled = threading.Event()

    def slow(state: TaskState) -> str:
        while not state.is_interruption_requested():
            time.sleep(0.005)
        first_cancelled.set()
        return "old"

    old_state = runner.start(slow)
    with qtbot.waitSignal(runner.resultReady, timeout=5000):
        runner.start(lambda state: "new")
    assert old_state.is_interruption_requested()
    assert first_cancelled.wait(2.0)
    runner.wait()
    qtbot.wait(20)
    assert results == ["new"]


def test_errors_arrive_as_failed_with_the_exception(qtbot, runner) -> None:
    def broken(state: TaskState) -> None:
        raise ValueError("bad value")

    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(broken)
    exc = blocker.args[0]
    assert isinstance(exc, ValueError) and "bad value" in exc.__traceback_text__


def test_shutdown_joins_every_thread(qtbot) -> None:
    runner = TaskRunner()

    def forever(state: TaskState) -> None:
        while not state.is_interruption_requested():
            time.sleep(0.005)

    runner.start(forever)
    runner.start(forever)
    runner.shutdown()
    assert runner.thread_count == 0


def test_analysis_task_reports_progress_and_its_result(qtbot, runner, stereo_wav) -> None:
    progress: list[float] = []
    runner.progressChanged.connect(progress.append)
    with qtbot.waitSignal(runner.resultReady, timeout=10000) as blocker:
        runner.start(analysis_task(stereo_wav, analyze_fn=fast_analyze))
    loaded = blocker.args[0]
    assert loaded.analysis is not None and len(loaded.analysis.sources) == 2
    assert loaded.peaks.frames == loaded.audio.frames
    assert progress and progress[-1] == 100 and progress == sorted(progress)


def test_analysis_task_passes_on_an_input_error(qtbot, runner, tmp_path) -> None:
    with qtbot.waitSignal(runner.failed, timeout=5000) as blocker:
        runner.start(analysis_task(tmp_path / "missing.wav", analyze_fn=fast_analyze))
    assert isinstance(blocker.args[0], AudioInputError)
    assert "no such file" in str(blocker.args[0])
