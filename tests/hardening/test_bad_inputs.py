"""Every case of the generated bad-input corpus (tests/hardening/corpus.py), read the way a user reads it.

Audio goes through ``analyze``, layouts through ``render --generator animatic``, ``check`` and ``evaluate``,
projects through :func:`engine.project.load_project` (what ``open`` and the studio do); the one-hour recording
runs in a fresh interpreter whose peak memory is measured. Bad input must end in exit code 2 and one
line on stderr that names the file and the problem, never a traceback or exit code 1; where the program repairs
instead (mono, more than two channels, odd rates, a file cut short, a moved recording, a pasted API key), the
repair is checked and so is the sentence that says so. In the studio the same files show one error dialog and
leave what was open as it was; a project whose recording is missing offers to locate it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.hear import analyze
from engine.layout.model import VideoLayout
from engine.project import Project, load_project, save_project
from tests.gui.conftest import load_and_wait
from tests.hardening.corpus import (
    CASES,
    PASTED_KEY,
    SUPPORT_RECORDING,
    Case,
    Run,
    case_named,
    command,
    good_vsl,
    problems,
    run_case,
    run_cli,
    write_corpus,
    write_one_hour_flac,
)

FAST_CASES = [case for case in CASES if not case.slow]
VSL_ERRORS = [case for case in CASES if case.kind == "vsl" and case.outcome == "error"]
#: The whole recording at the analysis rate (48 kHz stereo float32) would take this much memory.
HOUR_AT_ANALYSIS_RATE_BYTES = 3600 * 48000 * 2 * 4
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fast case, written once for this module."""
    return write_corpus(tmp_path_factory.mktemp("corpus"), include_slow=False)


@pytest.fixture(autouse=True)
def _private_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Decoded copies of video files, recovery files of the studio: in the test's folder, not the user's.
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))


# ------------------------------------------------------------------------------------------ the command line


@pytest.mark.parametrize("case", FAST_CASES, ids=lambda case: case.name)
def test_the_command_line_meets_each_case(case: Case, corpus: dict[str, Path], tmp_path: Path) -> None:
    run = run_case(case, corpus[case.name], tmp_path / "out")
    assert problems(case, corpus[case.name], run) == [], case.expected


@pytest.mark.parametrize("reader", ["check", "evaluate"])
@pytest.mark.parametrize("case", VSL_ERRORS, ids=lambda case: case.name)
def test_check_and_evaluate_refuse_each_bad_layout_with_one_line(case: Case, reader: str, corpus: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    path = corpus[case.name]
    report = tmp_path / "report.json"
    if reader == "check":
        # The layout is read before the analysis, so the (absent) analysis never comes into it.
        argv = ["check", str(path), "--analysis", str(tmp_path / "unused.json"), "--json", str(report)]
    else:  # scored against a good layout of the same name
        truth = tmp_path / "gt"
        truth.mkdir()
        (truth / path.name).write_text(json.dumps(good_vsl()), encoding="utf-8")
        argv = ["evaluate", "--pred", str(path.parent), "--gt", str(truth), "--exact-labels", "--json", str(report)]
    start = time.perf_counter()
    code, out, err = run_cli(argv)
    run = Run(code, out, err, time.perf_counter() - start, [report] if report.exists() else [])
    assert problems(case, path, run) == []


#: Runs the CLI in a fresh interpreter and writes its peak resident memory (KiB) to argv[1]: the VmHWM of
#: /proc/self/status, which starts afresh at exec (ru_maxrss would carry over the size of the forking test run).
_MEASURED_CLI = """
import re, sys
from pathlib import Path
from app.cli import main
code = main(sys.argv[2:])
status = Path("/proc/self/status").read_text()
Path(sys.argv[1]).write_text(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
sys.exit(code)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the peak is read from Linux's /proc/self/status")
def test_an_hour_of_sound_is_analysed_in_bounded_memory_and_time(tmp_path: Path) -> None:
    case = case_named("flac_one_hour")
    path, scratch = tmp_path / case.filename, tmp_path / "out"
    write_one_hour_flac(path)
    assert path.stat().st_size < 8 * 2**20  # small enough for CI (see tests/hardening/corpus.py)
    scratch.mkdir()
    argv = command(case, path, scratch)
    assert argv is not None
    peak_file = tmp_path / "maxrss.txt"
    start = time.perf_counter()
    # A fresh interpreter, so that its peak memory is this analysis' alone.
    result = subprocess.run([sys.executable, "-c", _MEASURED_CLI, str(peak_file), *argv], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    run = Run(result.returncode, result.stdout, result.stderr, seconds)
    assert problems(case, path, run) == []  # the duration, the rate and the tone on the right are printed
    # Streamed: the whole hour at the analysis rate (1.4 GB) is never held; the process peaks near 0.4 GB
    # (the interpreter and its libraries, a block of audio, an hour of cue frames).
    peak_bytes = int(peak_file.read_text()) * 1024
    assert peak_bytes < HOUR_AT_ANALYSIS_RATE_BYTES / 2, f"peak {peak_bytes / 2**20:.0f} MB"
    assert seconds < 150.0  # 20-40 s on a 2-core machine: no quadratic step, no hang


def test_a_file_name_with_a_line_break_still_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "take\n7.wav"
    path.write_text("not audio", encoding="utf-8")
    code, _out, err = run_cli(["analyze", str(path)])
    assert code == 2 and "not a readable audio file" in err
    assert len(err.splitlines()) == 1, err


def test_the_repairs_are_done_not_only_said(corpus: dict[str, Path], tmp_path: Path) -> None:
    # Six channels: the analysis is that of the first two.
    six, _ = sf.read(str(corpus["wav_6_channels"]), dtype="float32")
    first_two = tmp_path / "first-two.wav"
    sf.write(str(first_two), six[:, :2], 8000, subtype="FLOAT")
    of_six, of_two = analyze(corpus["wav_6_channels"]), analyze(first_two)
    np.testing.assert_allclose(of_six.frames.ild_db, of_two.frames.ild_db, atol=1e-6)
    assert [(s.side, s.motion) for s in of_six.sources] == [(s.side, s.motion) for s in of_two.sources]
    # Mono: every source at the centre.
    mono = analyze(corpus["wav_mono"])
    assert mono.sources and all(s.side.value == "center" for s in mono.sources)
    # Cut short: what is there, no more.
    truncated = analyze(corpus["wav_truncated"])
    assert truncated.duration_s == pytest.approx(2 / 3, abs=0.01)
    # A moved recording found beside the project; a pasted key dropped and never quoted.
    moved, _ = load_project(corpus["project_audio_moved"])
    assert moved.audio == corpus["project_audio_moved"].parent / SUPPORT_RECORDING and not moved.audio_missing
    keyed, warnings = load_project(corpus["project_api_key"])
    assert PASTED_KEY not in json.dumps(keyed.to_json_dict()) and not any(PASTED_KEY in w for w in warnings)
    missing, _ = load_project(corpus["project_missing_audio"])
    assert missing.audio_missing and missing.layout is not None  # the rest of the project is kept


def test_the_corpus_script_writes_every_case_and_its_manifest(tmp_path: Path) -> None:
    from tests.hardening.corpus import main

    assert main([str(tmp_path / "corpus"), "--skip-slow"]) == 0
    manifest = json.loads((tmp_path / "corpus" / "corpus.json").read_text())
    assert [entry["name"] for entry in manifest["cases"]] == [case.name for case in FAST_CASES]
    for case in FAST_CASES:
        path = tmp_path / "corpus" / case.filename
        assert path.exists() or case.name == "audio_no_such_file", case.name
    assert len({case.name for case in CASES}) == len(CASES)
    assert len({case.filename for case in CASES}) == len(CASES)


# ------------------------------------------------------------------------------------------ the studio


def _visible_dialogs(window) -> list:
    from PySide6.QtWidgets import QMessageBox

    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def _assert_one_error(window, path: Path, keywords: tuple[str, ...]) -> None:
    message = window.last_error
    assert path.name in message and "\n" not in message and "Traceback" not in message, message
    assert all(word.lower() in message.lower() for word in keywords), message
    dialogs = _visible_dialogs(window)
    assert len(dialogs) == 1 and dialogs[0] is window.error_box and dialogs[0].text() == message


def _open_project_and_wait(qtbot, window, path: Path) -> None:
    window.open_file(path)
    qtbot.waitUntil(lambda: window.project_path == path and not window.runner.busy, timeout=20000)
    window.runner.wait()


def _project_file(folder: Path, name: str, audio: Path | None, duration_s: float = 4.0) -> Path:
    path = folder / name
    save_project(Project.new(audio, layout=VideoLayout.from_json_dict(good_vsl(duration_s))), path)
    return path


@pytest.mark.parametrize("name", ["wav_text", "wav_nan", "wav_header_only", "mp4_video_only", "flac_truncated"])
def test_a_bad_recording_shows_one_error_and_keeps_the_open_one(qtbot, window, stereo_wav, corpus, name) -> None:
    load_and_wait(qtbot, window, stereo_wav)
    qtbot.waitUntil(lambda: window.editor.document.layout is not None, timeout=10000)  # the first plan
    layout, loaded = window.editor.document.layout, window.loaded
    window.analyze_fn = None  # the real analysis, which finds NaN samples
    case, path = case_named(name), corpus[name]
    load_and_wait(qtbot, window, path)
    _assert_one_error(window, path, case.keywords)
    assert window.loaded is loaded and window.loaded.path == stereo_wav
    assert window.editor.document.layout is layout
    assert window.waveform._peaks is loaded.peaks  # the partial waveform of the bad file is taken back
    window.error_box.close()


@pytest.mark.parametrize("name", ["project_future_version", "project_layout_box_swapped", "project_truncated_json",
                                  "project_is_a_layout", "project_deeply_nested", "vsl_huge_file"])
def test_a_bad_project_shows_one_error_and_keeps_the_open_project(qtbot, window, corpus, tmp_path, name) -> None:
    good = _project_file(tmp_path, "good.spa2v", corpus["wav_8khz"])
    _open_project_and_wait(qtbot, window, good)
    layout, loaded = window.editor.document.layout, window.loaded
    assert layout is not None and loaded.path == corpus["wav_8khz"]
    path = corpus[name]
    if name == "vsl_huge_file":  # a 33 MB file chosen as a project by mistake
        path = tmp_path / "huge.spa2v"
        path.symlink_to(corpus[name])
        keywords: tuple[str, ...] = ("at most 32 mb",)
    else:
        keywords = case_named(name).keywords
    window.open_file(path)
    assert not window.runner.busy  # refused before any analysis
    _assert_one_error(window, path, keywords)
    assert window.project_path == good and window.autosaver.project_path == good
    assert window.editor.document.layout is layout and window.loaded is loaded
    window.error_box.close()


def test_a_project_whose_recording_is_damaged_keeps_the_open_project(qtbot, window, corpus, tmp_path) -> None:
    good = _project_file(tmp_path, "good.spa2v", corpus["wav_8khz"])
    _open_project_and_wait(qtbot, window, good)
    layout = window.editor.document.layout
    damaged = _project_file(tmp_path, "damaged.spa2v", corpus["wav_nan"], duration_s=2.0)
    window.analyze_fn = None
    load_and_wait(qtbot, window, damaged)
    _assert_one_error(window, corpus["wav_nan"], ("nan",))
    assert window.project_path == good and window.autosaver.project_path == good
    assert window.editor.document.layout is layout and window.loaded.path == corpus["wav_8khz"]
    assert "good.spa2v" in window.windowTitle()
    window.error_box.close()


def test_a_missing_recording_is_offered_to_be_located(qtbot, window, corpus, tmp_path) -> None:
    project_path = _project_file(tmp_path, "moved.spa2v", tmp_path / "recordings" / "gone.wav")
    asked: list[tuple[Path, Path | None]] = []

    def locate(project: Path, audio: Path | None) -> Path | None:
        asked.append((project, audio))
        return corpus["wav_8khz"]

    window.locate_recording = locate
    _open_project_and_wait(qtbot, window, project_path)
    assert asked == [(project_path, tmp_path / "recordings" / "gone.wav")]
    assert window.loaded.path == corpus["wav_8khz"]
    assert window.editor.document.layout.to_json_dict() == load_project(project_path)[0].layout.to_json_dict()
    assert window.error_box is None
    log = window.editor.log_panel.text()
    assert "gone.wav" in log and "save the project" in log
    # Saving points the project at the recording found.
    assert window.save_project()
    assert load_project(project_path)[0].audio == corpus["wav_8khz"]


def test_declining_to_locate_shows_one_error_and_changes_nothing(qtbot, window, stereo_wav, tmp_path) -> None:
    load_and_wait(qtbot, window, stereo_wav)
    loaded = window.loaded
    project_path = _project_file(tmp_path, "moved.spa2v", tmp_path / "gone.wav")
    window.locate_recording = lambda project, audio: None
    window.open_file(project_path)
    assert not window.runner.busy
    _assert_one_error(window, project_path, ("gone.wav", "not there", "locate"))
    assert window.loaded is loaded and window.project_path is None
    window.error_box.close()


def test_the_studio_asks_before_looking_for_the_recording(qtbot, window, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    project_path = _project_file(tmp_path, "moved.spa2v", tmp_path / "gone.wav")
    found = tmp_path / "found.wav"
    sf.write(str(found), np.random.default_rng(0).standard_normal((8000, 2)).astype(np.float32) * 0.1, 8000)
    questions: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: (
        questions.append(text), QMessageBox.StandardButton.Yes)[1])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(found), ""))
    _open_project_and_wait(qtbot, window, project_path)
    assert len(questions) == 1 and "gone.wav" in questions[0] and "Locate" in questions[0]
    assert window.loaded.path == found
    # Answering No is the same as declining: one error, nothing opened.
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.No)
    window.open_file(project_path)
    assert "not there" in window.last_error and window.loaded.path == found
    window.error_box.close()
