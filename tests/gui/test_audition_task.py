"""The layout's audition in the background (app.tasks.audition_task), and the plan tasks telling the LLM when
each source sounds.

Everything runs offscreen on the CPU in a few seconds, on short synthetic WAVs; the LLM is the fake server on
127.0.0.1 (tests/fake_openai_server.py). The conftest guard fails a test that leaves a thread.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engine.audition.spatial as spatial
from app.playback import ArraySource
from app.tasks import AuditionOutcome, audition_task, plan_task, revise_task
from app.workers import TaskState
from engine.audio.hear import analyze
from engine.audio.io import open_audio
from engine.audio.model import Analysis
from engine.errors import Cancelled, InputError
from engine.layout.model import VideoLayout
from engine.planner.camera import Camera
from tests.fake_openai_server import FakeOpenAIServer, reply
from tests.gui.test_plan_render_tasks import Recorder, run_to_end, vsl_dict, write_panned_wav
from tests.recordings import write_two_sources_wav

RATE = 16000

pytestmark = pytest.mark.usefixtures("clean_llm_env")


@pytest.fixture(scope="module")
def right_take(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Analysis]:
    """Two seconds of noise panned right at 16 kHz (not the analysis rate), and its analysis."""
    path = write_panned_wav(tmp_path_factory.mktemp("audio") / "right.wav", 0.2, 1.0, rate=RATE)
    return path, analyze(path)


def one_box_layout(azimuth_deg: float, duration_s: float = 2.0) -> VideoLayout:
    """One speaker standing still where ``azimuth_deg`` falls in the planner's camera."""
    box = list(Camera().box(azimuth_deg, 4.0, "speaker"))
    keyframes = [{"time_s": t, "objects": [{"id": 0, "name": "speaker", "box": box}]}
                 for t in np.linspace(0.0, duration_s, 3)]
    return VideoLayout.model_validate({"duration_s": duration_s, "keyframes": keyframes})


def channel_rms(samples: np.ndarray) -> tuple[float, float]:
    left, right = np.sqrt(np.mean(samples.astype(np.float64) ** 2, axis=0))
    return float(left), float(right)


# ------------------------------------------------------------------------------------------ audition


@pytest.mark.parametrize("azimuth_deg", [30.0, -30.0])
def test_the_audition_plays_at_the_recordings_rate_and_is_heard_where_the_box_stands(qtbot, runner, right_take,
                                                                                      azimuth_deg) -> None:
    path, analysis = right_take
    recorder = run_to_end(qtbot, runner, audition_task(one_box_layout(azimuth_deg), analysis, path))
    outcome = recorder.result
    assert isinstance(outcome, AuditionOutcome) and outcome.signal == "separated"
    # Frame for frame the recording as the Player plays it: its own rate (not the analysis's 48 kHz), its length.
    recording = open_audio(path)
    assert outcome.sample_rate == recording.sample_rate == RATE
    assert outcome.samples.shape == (recording.frames, 2) and outcome.samples.dtype == np.float32
    assert outcome.seconds == pytest.approx(2.0)
    assert ArraySource(outcome.samples, outcome.sample_rate).frames == recording.frames
    assert np.all(np.isfinite(outcome.samples))
    left, right = channel_rms(outcome.samples)
    # The recording is on the right; the audition follows the box, so a box dragged left is heard left.
    near, far = (right, left) if azimuth_deg > 0 else (left, right)
    assert near > 0.01 and near > 1.5 * far
    assert recorder.progress[-1] == 100
    assert any(s.startswith("Reading right.wav") for s in recorder.statuses)
    assert recorder.statuses[-1].startswith("Audition ready: 2.0 s")


def test_the_test_signal_needs_neither_recording_nor_analysis(qtbot, runner) -> None:
    outcome = run_to_end(qtbot, runner, audition_task(one_box_layout(30.0, 1.5), None, None, "test")).result
    assert outcome.signal == "test" and outcome.sample_rate == 48000
    assert outcome.samples.shape == (72000, 2) and outcome.seconds == pytest.approx(1.5)
    left, right = channel_rms(outcome.samples)
    assert right > 0.01 and right > 1.5 * left


def test_the_test_signal_with_an_analysis_matches_the_recording(qtbot, runner, right_take) -> None:
    path, analysis = right_take
    outcome = run_to_end(qtbot, runner, audition_task(one_box_layout(-30.0), analysis, path, "test")).result
    assert outcome.sample_rate == RATE and outcome.samples.shape == (open_audio(path).frames, 2)
    left, right = channel_rms(outcome.samples)
    assert left > 1.5 * right > 0.0


@pytest.mark.parametrize(("with_recording", "signal", "message"), [
    (False, "separated", "needs the recording and its analysis"),
    (True, "whistle", "audition signal 'whistle' is not known"),
])
def test_bad_requests_fail_with_one_clear_message(qtbot, runner, right_take, with_recording: bool, signal: str,
                                                  message: str) -> None:
    path, analysis = right_take
    task = audition_task(one_box_layout(30.0), analysis, path if with_recording else None, signal)
    (error,) = run_to_end(qtbot, runner, task).of("failed")
    assert isinstance(error, InputError) and message in str(error) and "\n" not in str(error)


def test_cancel_after_reading_the_recording_renders_nothing(qtbot, right_take, monkeypatch) -> None:
    path, analysis = right_take
    rendered: list[int] = []
    real = spatial.audition_layout
    monkeypatch.setattr(spatial, "audition_layout", lambda *a, **k: rendered.append(1) or real(*a, **k))
    state = TaskState()
    # Emitted on this thread, so the cancel lands exactly while the recording is being read.
    state.statusChanged.connect(lambda s, text: s.request_interruption() if text.startswith("Reading") else None)
    with pytest.raises(Cancelled):
        audition_task(one_box_layout(30.0), analysis, path)(state)
    assert rendered == []


def test_cancelling_on_the_runner_drops_the_audition(qtbot, runner, right_take) -> None:
    path, analysis = right_take
    recorder = Recorder(runner)
    runner.start(audition_task(one_box_layout(30.0), analysis, path))
    with qtbot.waitSignal(runner.cancelled, timeout=1000):
        runner.cancel()
    assert runner.wait(30000)
    qtbot.wait(50)  # the ended task's queued report, which the runner drops
    assert recorder.of("result") == [] and recorder.of("failed") == []
    assert len(recorder.of("cancelled")) == 1


# ------------------------------------------------------------------------ the LLM hears the timeline


def user_text(message: dict) -> str:
    return "\n".join(part["text"] for part in message["content"] if part.get("type") == "text")


def test_plan_and_revise_tasks_tell_the_llm_when_each_source_sounds(qtbot, runner, tmp_path) -> None:
    from ui.planner_panel import PlanSettings

    wav = write_two_sources_wav(tmp_path / "two.wav")
    answer = json.dumps(vsl_dict(duration_s=3.0))
    with FakeOpenAIServer([reply(answer), reply(answer)]) as server:
        settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                                k_examples=0)
        recorder = run_to_end(qtbot, runner, plan_task(wav, None, settings))
        outcome = recorder.result
        assert "Finding when each source sounds…" in recorder.statuses and recorder.progress[-1] == 100
        text = user_text(server.requests[0].messages[-1])
        assert "When each source sounds (measured onset–offset, seconds)" in text
        assert "0.2–1.4 s" in text and "1.6–2.7 s" in text

        task = revise_task(outcome.layout, "move the car left", wav, analyze(wav), settings)
        recorder = run_to_end(qtbot, runner, task)
        assert recorder.result.layout.keyframes
        assert "Finding when each source sounds…" in recorder.statuses
        revision = user_text(server.requests[1].messages[1])
        assert "0.2–1.4 s" in revision and "1.6–2.7 s" in revision


def test_a_plan_given_the_studios_events_does_not_find_them_again(qtbot, runner, tmp_path, monkeypatch) -> None:
    import engine.audition.events as events_module
    from engine.audition.events import SourceEvents
    from ui.planner_panel import PlanSettings

    wav = write_two_sources_wav(tmp_path / "two.wav")
    analysis = analyze(wav)
    known = [SourceEvents(source.id, [(0.5, 1.0)]) for source in analysis.sources]

    def refuse(*_args, **_kwargs):
        raise AssertionError("the events were found again")

    monkeypatch.setattr(events_module, "recording_events", refuse)
    with FakeOpenAIServer([reply(json.dumps(vsl_dict(duration_s=3.0)))]) as server:
        settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                                k_examples=0)
        recorder = run_to_end(qtbot, runner, plan_task(wav, analysis, settings, events=known))
        assert recorder.of("failed") == [] and "Finding when each source sounds…" not in recorder.statuses
        assert "0.5–1.0 s" in user_text(server.requests[0].messages[-1])


def test_the_second_audition_reuses_the_separated_sources(qtbot, runner, right_take, tmp_path, monkeypatch) -> None:
    import app.tasks
    import engine.audition.separate as separate

    monkeypatch.setattr(app.tasks, "_separated_cache", type(app.tasks._separated_cache)())
    calls: list[int] = []
    real = separate.separate_sources
    monkeypatch.setattr(separate, "separate_sources", lambda *a, **k: calls.append(1) or real(*a, **k))
    path, analysis = right_take
    first = run_to_end(qtbot, runner, audition_task(one_box_layout(30.0), analysis, path)).result
    moved = run_to_end(qtbot, runner, audition_task(one_box_layout(-30.0), analysis, path)).result
    assert calls == [1]  # an edit re-renders the boxes, not the separation
    assert channel_rms(first.samples)[1] > channel_rms(first.samples)[0]
    assert channel_rms(moved.samples)[0] > channel_rms(moved.samples)[1]
    # Another analysis, or two other recordings in between, separate again (two entries are kept).
    run_to_end(qtbot, runner, audition_task(one_box_layout(30.0), analyze(path), path))
    assert calls == [1, 1]
    for name in ("b.wav", "c.wav"):
        other = write_panned_wav(tmp_path / name, 1.0, 0.2, rate=RATE)
        run_to_end(qtbot, runner, audition_task(one_box_layout(30.0), analyze(other), other))
    run_to_end(qtbot, runner, audition_task(one_box_layout(30.0), analysis, path))
    assert len(calls) == 5
