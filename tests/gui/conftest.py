"""Shared set-up for the studio's GUI tests: offscreen Qt, a guard against leaked threads, fakes.

QT_QPA_PLATFORM is set before Qt is imported so the tests run without a display. The autouse guard
(a napari habit) fails any test that leaves a ``QThread`` running, a busy ``QThreadPool`` or a
playback feeder thread alive.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import tempfile
import threading
import weakref
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QSettings, QThread, QThreadPool

from engine.audio.model import Analysis, CueFrames, Motion, RecordingKind, Side, Source, SourceTrack

_started_qthreads: weakref.WeakSet = weakref.WeakSet()
_original_start = QThread.start


def _recording_start(self: QThread, *args, **kwargs):
    _started_qthreads.add(self)
    return _original_start(self, *args, **kwargs)


QThread.start = _recording_start  # every QThread started in the tests is watched

# The studio's preferences (recent files, window layout, "remember the key") go to a folder of the test run,
# never to the user's own settings.
for _format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
    QSettings.setPath(_format, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="spa2v-test-settings-"))
# Autosaves, recovery files and the example store likewise go to a folder of the test run.
os.environ.setdefault("SPA2V_DATA_DIR", tempfile.mkdtemp(prefix="spa2v-test-data-"))


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An OS keyring that lives in memory: the tests never read or write the user's own."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


@pytest.fixture(autouse=True)
def memory_keyring() -> MemoryKeyring:
    """Every GUI test gets an empty in-memory keyring."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _is_running(thread: QThread) -> bool:
    """Whether ``thread`` still runs; one whose C++ object Qt has deleted (a finished task thread whose Python
    wrapper an exception's traceback still holds) does not."""
    try:
        return thread.isRunning()
    except RuntimeError:
        return False


@pytest.fixture(autouse=True)
def no_leaked_qthreads():
    """Fail the test if it leaves a QThread (or the playback feeder) running."""
    yield
    running = [t for t in list(_started_qthreads) if _is_running(t)]
    for thread in running:
        thread.quit()
        thread.wait(5000)  # do not let one leak poison the next tests
    feeders = [t for t in threading.enumerate() if t.name.startswith("spa2v-")]
    busy_pool = QThreadPool.globalInstance().activeThreadCount()
    assert not running, f"the test left {len(running)} QThread(s) running: {running}"
    assert not feeders, f"the test left threads running: {[t.name for t in feeders]}"
    assert busy_pool == 0, f"the test left {busy_pool} QThreadPool thread(s) busy"


# --- test data ----------------------------------------------------------------------------------


def write_stereo_wav(path: Path, duration_s: float = 4.0, rate: int = 8000, seed: int = 0) -> np.ndarray:
    """A float32 WAV of seeded noise (left louder early, right later); returns the samples written."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    left = 0.5 * rng.standard_normal(n) * np.where(t < duration_s / 2, 1.0, 0.25)
    right = 0.5 * rng.standard_normal(n) * np.where(t < duration_s / 2, 0.25, 1.0)
    samples = np.clip(np.stack([left, right], axis=1), -1, 1).astype(np.float32)
    sf.write(str(path), samples, rate, subtype="FLOAT")
    return samples


def build_analysis(duration_s: float = 4.0, hop_s: float = 0.01, rate: int = 8000, channels: int = 2,
                   warnings: list[str] | None = None) -> Analysis:
    """An Analysis with known cues: ILD +6 dB, ITD +0.3 ms, azimuth +30° for t < 2 s; then −9 dB, −0.5 ms,
    −45°. Coherence 0.8, level −12 dBFS (L −15, R −9 before 2 s). Two sources: 0 stationary left,
    1 moving right."""
    t = np.arange(round(duration_s / hop_s)) * hop_s + hop_s / 2
    early = t < 2.0
    frames = CueFrames(
        hop_s=hop_s,
        t=t,
        ild_db=np.where(early, 6.0, -9.0),
        itd_ms=np.where(early, 0.3, -0.5),
        coherence=np.full_like(t, 0.8),
        level_dbfs=np.full_like(t, -12.0),
        level_left_dbfs=np.where(early, -15.0, -6.0),
        level_right_dbfs=np.where(early, -9.0, -20.0),
        azimuth_deg=np.where(early, 30.0, -45.0),
    )
    track_t = np.linspace(0, duration_s, 41)
    sources = [
        Source(0, Side.LEFT, Motion.STATIONARY, 0.9, -40.0, -38.0,
               SourceTrack(track_t, np.linspace(-40, -38, 41), np.full(41, -20.0)), active=[(0.0, duration_s)]),
        Source(1, Side.RIGHT, Motion.MOVING_RIGHT, 0.75, -30.0, 45.0,
               SourceTrack(track_t, np.linspace(-30, 45, 41), np.full(41, -18.0)), active=[(0.0, duration_s)]),
    ]
    return Analysis(sample_rate=rate, channels=channels, duration_s=duration_s, frames=frames, sources=sources,
                    kind=RecordingKind.BINAURAL, kind_confidence=0.8, warnings=list(warnings or []))


def fast_analyze(audio, settings=None, progress=None, is_cancelled=None) -> Analysis:
    """Stands in for ``engine.audio.hear.analyze``: the known cues of :func:`build_analysis`."""
    for i in range(5):
        if progress is not None:
            progress(i / 4)
    return build_analysis(audio.duration_s, rate=audio.sample_rate, channels=audio.channels,
                          warnings=list(audio.warnings))


class FakeStream:
    """An output stream that plays only when the test pulls frames through the callback."""

    def __init__(self, samplerate: int, channels: int, callback) -> None:
        self.samplerate = samplerate
        self.channels = channels
        self.callback = callback
        self.active = False
        self.closed = False

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        """Run the callback once for ``frames`` frames and return what it wrote."""
        out = np.full((frames, self.channels), np.nan, np.float32)
        self.callback(out, frames, None, None)
        return out


class FakeStreamFactory:
    def __init__(self) -> None:
        self.streams: list[FakeStream] = []

    def __call__(self, samplerate: int, channels: int, callback) -> FakeStream:
        stream = FakeStream(samplerate, channels, callback)
        self.streams.append(stream)
        return stream

    @property
    def stream(self) -> FakeStream:
        return self.streams[-1]


@pytest.fixture
def clean_llm_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No API key or endpoint from the environment, and an LLM/decoding cache of the test's own."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "SPA2V_CLAP_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "spa2v-cache"))


@pytest.fixture
def runner(qtbot):
    """A task runner, shut down after the test."""
    from app.workers import TaskRunner

    task_runner = TaskRunner()
    yield task_runner
    task_runner.shutdown()


@pytest.fixture
def stream_factory() -> FakeStreamFactory:
    return FakeStreamFactory()


@pytest.fixture
def stereo_wav(tmp_path: Path) -> Path:
    path = tmp_path / "scene.wav"
    write_stereo_wav(path)
    return path


@pytest.fixture
def window(qtbot, stream_factory):
    """A studio window with a fake output stream and the fast stand-in analysis."""
    from app.playback import Player
    from app.window import StudioWindow

    win = StudioWindow(player=Player(stream_factory=stream_factory), analyze_fn=fast_analyze)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


def load_and_wait(qtbot, win, path: Path, timeout_ms: int = 20000) -> None:
    """Open ``path`` in ``win`` and wait until the analysis has been shown."""
    with qtbot.waitSignal(win.runner.finished, timeout=timeout_ms):
        win.open_file(path)
    win.runner.wait()
