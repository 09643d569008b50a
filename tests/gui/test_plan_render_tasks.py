"""The Plan and Render stages in the background: app.tasks on a TaskRunner, and the two panels.

Everything runs offscreen on the CPU in seconds: the offline planner on a panned WAV, the LLM planner
against the fake server on 127.0.0.1 (tests/fake_openai_server.py), the diffusion generator with the tiny
random models of tests/tiny_models.py, the animatic. The conftest guard fails a test that leaves a thread.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from app.tasks import (
    GeneratorCache,
    LoadedModel,
    PlanOutcome,
    PreviewFrames,
    RenderOutcome,
    error_message,
    llm_settings,
    load_model_task,
    plan_task,
    provider_defaults,
    render_options,
    render_task,
    request_from_form,
    revise_task,
)
from app.workers import TaskRunner
from engine.errors import InputError
from engine.layout.model import VideoLayout
from engine.render.run import make_request
from engine.render.video import probe_video
from tests.fake_openai_server import FakeOpenAIServer, reply
from ui.planner_panel import KEYRING_MISSING_TIP, PROVIDERS, PlannerPanel, PlanSettings
from ui.render_panel import SCHEDULER_NAMES, RenderPanel, RenderSettingsForm

CANVAS_W = 454
SECRET = "sk-test-SECRET-do-not-store"


# ------------------------------------------------------------------------------------------ fixtures


def write_panned_wav(path: Path, left_gain: float, right_gain: float, seconds: float = 2.0,
                     rate: int = 16000, seed: int = 0) -> Path:
    """One noise source panned by level: the louder channel is the side it is heard on."""
    rng = np.random.default_rng(seed)
    x = 0.2 * rng.standard_normal(int(seconds * rate)).astype(np.float32)
    sf.write(path, np.stack([left_gain * x, right_gain * x], axis=1), rate)
    return path


def vsl_dict(duration_s: float = 2.0, n: int = 5, name: str = "car", x_start: float = 40.0,
             x_end: float = 330.0, reasoning: str = "The engine is heard moving from left to right.") -> dict:
    """A valid VSL: one object crossing the canvas."""
    frames = []
    for k, t in enumerate(np.linspace(0.0, duration_s, n)):
        x = x_start + (x_end - x_start) * k / (n - 1)
        frames.append({"time_s": round(float(t), 3), "caption": f"The {name} at x={x:.0f}.",
                       "objects": [{"id": 0, "name": name, "box": [x, 120.0, x + 80.0, 170.0]}]})
    return {"format": "spa2v.vsl", "version": 1, "canvas": {"width": CANVAS_W, "height": 256},
            "duration_s": duration_s, "reasoning": reasoning, "video_caption": f"A {name} passes by.",
            "keyframes": frames}


@pytest.fixture
def right_wav(tmp_path: Path) -> Path:
    return write_panned_wav(tmp_path / "right.wav", left_gain=0.2, right_gain=1.0)


pytestmark = pytest.mark.usefixtures("clean_llm_env")


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake
        fake.release_delays()


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory) -> tuple[Path, Path]:
    from tests.tiny_models import save_tiny_model_folders

    return save_tiny_model_folders(tmp_path_factory.mktemp("tiny-models"))


def tiny_request(tiny_folders: tuple[Path, Path], steps: int = 2, frames: int = 3, **options: Any):
    sd_folder, adapter_folder = tiny_folders
    layout = VideoLayout.from_json_dict(vsl_dict(n=2))
    return make_request(layout, fps=8.0, frames=frames, size=(64, 64), steps=steps,
                        options={"model": str(sd_folder), "motion_adapter": str(adapter_folder), "device": "cpu",
                                 **options})


def detached(exc: BaseException) -> BaseException:
    """``exc`` without the tracebacks of its chain: their frames hold the task's QThread wrapper after Qt has
    deleted the thread, and the conftest guard would then ask a deleted object whether it runs."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return exc


class Recorder:
    """Everything a runner reports, in order: ("partial", v), ("result", v), ("failed", e), ("cancelled",)."""

    def __init__(self, task_runner: TaskRunner) -> None:
        self.events: list[tuple] = []
        self.statuses: list[str] = []
        self.progress: list[float] = []
        task_runner.partialResult.connect(lambda v: self.events.append(("partial", v)))
        task_runner.resultReady.connect(lambda v: self.events.append(("result", v)))
        task_runner.failed.connect(lambda e: self.events.append(("failed", detached(e))))
        task_runner.cancelled.connect(lambda: self.events.append(("cancelled",)))
        task_runner.statusChanged.connect(self.statuses.append)
        task_runner.progressChanged.connect(self.progress.append)

    def of(self, kind: str) -> list[Any]:
        return [event[1] if len(event) > 1 else None for event in self.events if event[0] == kind]

    @property
    def result(self) -> Any:
        results = self.of("result")
        failures = self.of("failed")
        assert not failures, f"the task failed: {failures[0]!r}\n{getattr(failures[0], '__traceback_text__', '')}"
        assert len(results) == 1, f"expected one result, got {self.events}"
        return results[0]


def run_to_end(qtbot, task_runner: TaskRunner, task, timeout_ms: int = 60000) -> Recorder:
    recorder = Recorder(task_runner)
    with qtbot.waitSignal(task_runner.finished, timeout=timeout_ms):
        task_runner.start(task)
    assert task_runner.wait(10000)
    return recorder


def llm_threads_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("spa2v-")]


# ------------------------------------------------------------------------------------------ planning


@pytest.mark.parametrize(("left_gain", "right_gain", "side"), [(0.2, 1.0, "right"), (1.0, 0.2, "left")])
def test_offline_plan_puts_the_object_on_the_side_it_is_heard(qtbot, runner, tmp_path, left_gain, right_gain,
                                                              side) -> None:
    wav = write_panned_wav(tmp_path / f"{side}.wav", left_gain, right_gain)
    settings = PlanSettings(planner="offline", labels="car", keyframes=5)
    recorder = run_to_end(qtbot, runner, plan_task(wav, None, settings))
    outcome = recorder.result
    assert isinstance(outcome, PlanOutcome)
    assert outcome.repairs == [] and not outcome.from_cache
    assert outcome.reasoning == outcome.layout.reasoning and "car" in outcome.reasoning
    assert outcome.layout.audio == str(wav.resolve())
    assert len(outcome.layout.keyframes) == 5
    for frame in outcome.layout.keyframes:
        (car,) = frame.objects
        assert car.name == "car"
        centre_x = car.center[0]
        # A source beyond ±15° sits in the outer third of the frame (the camera's default field of view).
        if side == "right":
            assert centre_x > 2 * CANVAS_W / 3, frame
        else:
            assert centre_x < CANVAS_W / 3, frame
    assert recorder.progress[-1] == 100
    assert any("Measuring" in s for s in recorder.statuses) and recorder.statuses[-1] == "Planned"


def test_an_offline_plan_of_two_sources_names_each_from_its_separated_signal(qtbot, runner, tmp_path) -> None:
    """An engine far left and a siren ahead (make-bench seed 99, scene 044): the worker separates the sources
    before planning, so the two boxes get different labels (measured on the mixture both read alike)."""
    from tests.recordings import write_engine_and_siren_wav

    wav = write_engine_and_siren_wav(tmp_path / "pair.wav")
    recorder = run_to_end(qtbot, runner, plan_task(wav, None, PlanSettings(planner="offline", keyframes=3)))
    names = {obj.name for obj in recorder.result.layout.keyframes[0].objects}
    assert len(names) == 2 and "machine" in names
    assert any("Separating the sources" in s for s in recorder.statuses)


def test_a_bad_label_hint_fails_with_one_clear_message(qtbot, runner, right_wav) -> None:
    recorder = run_to_end(qtbot, runner, plan_task(right_wav, None, PlanSettings(labels="car@up")))
    (error,) = recorder.of("failed")
    assert isinstance(error, InputError)
    message = error_message(error, "planning")
    assert message == str(error) and "\n" not in message and "left, center, right" in message


def test_an_llm_plan_with_no_examples_returns_the_scripted_layout_and_repairs(qtbot, runner, server,
                                                                              right_wav) -> None:
    scripted = vsl_dict(reasoning="SCRIPTED: louder on the right, so the car is on the right.")
    server.push(reply("Here is the layout:\n```json\n" + json.dumps(scripted) + "\n```\nAnything else?"))
    settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                            k_examples=0, temperature=0.3, keyframes=5)
    recorder = run_to_end(qtbot, runner, plan_task(right_wav, None, settings))
    outcome = recorder.result
    assert outcome.reasoning == scripted["reasoning"] and not outcome.from_cache
    assert outcome.repairs, "stripping the prose around the JSON is a repair the user is told about"
    boxes = [frame.objects[0].box for frame in outcome.layout.keyframes]
    assert boxes == [tuple(frame["objects"][0]["box"]) for frame in scripted["keyframes"]]
    (request,) = server.requests
    assert request.body["model"] == "fake-audio-model"
    assert request.body["temperature"] == pytest.approx(0.3)
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert recorder.progress[-1] == 100

    # The same request again is answered from the cache: no second request is sent.
    recorder = run_to_end(qtbot, runner, plan_task(right_wav, None, settings))
    assert recorder.result.from_cache and len(server.requests) == 1


def test_cancelling_an_llm_plan_stops_at_once_while_the_server_is_still_thinking(qtbot, runner, server,
                                                                                 right_wav) -> None:
    server.push(reply(json.dumps(vsl_dict()), delay_s=30.0))
    settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                            k_examples=0)
    recorder = Recorder(runner)
    # A short timeout, so that the abandoned request's own thread ends soon after (the guard checks it).
    runner.start(plan_task(right_wav, None, settings, llm_options={"timeout_s": 1.5}))
    qtbot.waitUntil(lambda: len(server.requests) == 1, timeout=20000)
    started = time.monotonic()
    with qtbot.waitSignal(runner.cancelled, timeout=1000):
        runner.cancel()
    assert runner.wait(5000) and time.monotonic() - started < 3.0
    assert recorder.of("result") == [] and recorder.of("failed") == []
    assert len(recorder.of("cancelled")) == 1
    qtbot.waitUntil(lambda: not llm_threads_alive(), timeout=10000)  # the abandoned request timed out


def test_an_llm_plan_without_a_key_says_what_to_do_and_never_shows_a_key(qtbot, runner, right_wav) -> None:
    settings = PlanSettings(planner="llm", provider="openai", k_examples=0)
    recorder = run_to_end(qtbot, runner, plan_task(right_wav, None, settings))
    (error,) = recorder.of("failed")
    assert isinstance(error, InputError)
    message = error_message(error, "planning")
    assert "OPENAI_API_KEY" in message and "\n" not in message


def test_a_typed_key_is_sent_but_never_kept_in_the_settings(server) -> None:
    settings = PlanSettings(planner="llm", provider="vllm", base_url=server.base_url)
    llm = llm_settings(settings, api_key=SECRET)
    assert llm.resolve_api_key() == SECRET and SECRET not in repr(llm)
    assert SECRET not in json.dumps(settings.to_dict())


def test_revising_asks_the_llm_with_the_change_request(qtbot, runner, server, right_wav) -> None:
    current = VideoLayout.from_json_dict(vsl_dict())
    revised = vsl_dict(x_start=10.0, x_end=300.0, reasoning="Moved the car further left at the start.")
    server.push(reply(json.dumps(revised)))
    settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                            k_examples=0)
    task = revise_task(current, "make the car start further left", right_wav, None, settings)
    outcome = run_to_end(qtbot, runner, task).result
    assert outcome.layout.keyframes[0].objects[0].box[0] == pytest.approx(10.0)
    assert outcome.reasoning == revised["reasoning"]
    (request,) = server.requests
    assert "make the car start further left" in json.dumps(request.messages[-1])


def test_revising_with_the_offline_planner_says_it_needs_the_llm(qtbot, runner, right_wav) -> None:
    current = VideoLayout.from_json_dict(vsl_dict())
    recorder = run_to_end(qtbot, runner, revise_task(current, "move it", right_wav, None, PlanSettings()))
    (error,) = recorder.of("failed")
    assert isinstance(error, InputError) and "needs the LLM planner" in str(error)


# ------------------------------------------------------------------------------------------ rendering


def test_a_diffusion_render_sends_one_preview_per_step_then_the_video(qtbot, runner, tiny_folders, tmp_path,
                                                                      right_wav) -> None:
    out = tmp_path / "tiny.mp4"
    cache = GeneratorCache(local_files_only=True)
    task = render_task(tiny_request(tiny_folders, steps=2, frames=3), "diffusion", out, right_wav, cache=cache)
    recorder = run_to_end(qtbot, runner, task)
    outcome = recorder.result
    kinds = [event[0] for event in recorder.events]
    assert kinds == ["partial", "partial", "result"], kinds
    previews = recorder.of("partial")
    assert all(isinstance(p, PreviewFrames) for p in previews)
    assert [p.step for p in previews] == [0, 1]
    for preview in previews:
        assert preview.frames.ndim == 4 and preview.frames.shape[0] == 3 and preview.frames.shape[-1] == 3
        assert preview.frames.dtype == np.uint8
    assert isinstance(outcome, RenderOutcome) and outcome.out_path == out and outcome.notes == []
    assert outcome.summary["generator"] == "diffusion" and outcome.summary["frames"] == 3
    probe = probe_video(out)
    assert (probe["frames"], probe["width"], probe["height"]) == (3, 64, 64)
    assert probe["audio_codec"] is not None
    assert recorder.progress[-1] == 100
    assert cache.loaded is not None and cache.loaded[2] == "cpu"


def test_cancelling_from_the_first_preview_leaves_no_video(qtbot, runner, tiny_folders, tmp_path,
                                                           right_wav) -> None:
    out = tmp_path / "cancelled.mp4"
    task = render_task(tiny_request(tiny_folders, steps=4, frames=3), "diffusion", out, right_wav,
                       cache=GeneratorCache(local_files_only=True))
    recorder = Recorder(runner)
    gui_cancelled = threading.Event()

    def cancel_on_first_preview(preview: PreviewFrames) -> None:
        if preview.step == 0:
            runner.cancel()
            gui_cancelled.set()

    runner.partialResult.connect(cancel_on_first_preview)
    state = runner.start(task)
    # Hold the worker inside its first preview until the GUI has cancelled, so the test is not a race
    # between the GUI thread and four tiny denoising steps.
    state.partialResult.connect(lambda _state, _value: gui_cancelled.wait(20), Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(gui_cancelled.is_set, timeout=60000)
    assert runner.wait(20000)
    qtbot.wait(50)  # let the late "ended" signal of the cancelled thread arrive (and be dropped)
    assert recorder.of("result") == [] and recorder.of("failed") == []
    assert len(recorder.of("cancelled")) == 1 and len(recorder.of("partial")) == 1
    assert not runner.busy and state.is_interruption_requested()
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".mp4" or ".tmp" in p.name]


def test_the_model_is_loaded_once_and_reused_by_the_render(qtbot, runner, tiny_folders, tmp_path) -> None:
    cache = GeneratorCache(local_files_only=True)
    request = tiny_request(tiny_folders, steps=1, frames=2)
    loaded = run_to_end(qtbot, runner, load_model_task(cache, request.options)).result
    assert isinstance(loaded, LoadedModel) and not loaded.reused
    assert (loaded.device, loaded.dtype) == ("cpu", "float32")
    generator = cache.generator
    assert generator is not None and generator.pipeline is not None
    again = run_to_end(qtbot, runner, load_model_task(cache, request.options)).result
    assert again.reused and cache.generator is generator
    outcome = run_to_end(qtbot, runner, render_task(request, "diffusion", tmp_path / "a.mp4", cache=cache)).result
    assert outcome.summary["generator"] == "diffusion" and cache.generator is generator


def test_a_task_waits_for_the_gpu_gate_and_can_be_cancelled_while_waiting(qtbot, runner, tiny_folders) -> None:
    cache = GeneratorCache(local_files_only=True)
    recorder = Recorder(runner)
    with cache.gpu():  # another render holds the GPU
        runner.start(load_model_task(cache, tiny_request(tiny_folders).options))
        qtbot.waitUntil(lambda: any("Waiting" in s for s in recorder.statuses), timeout=10000)
        runner.cancel()
        assert runner.wait(5000)
    assert cache.loaded is None and recorder.of("result") == [] and len(recorder.of("cancelled")) == 1


def test_missing_weights_fail_with_one_message_and_free_the_gpu(qtbot, runner, tiny_folders, tmp_path) -> None:
    cache = GeneratorCache(local_files_only=True)
    request = tiny_request(tiny_folders, model="/no/such/folder")
    recorder = run_to_end(qtbot, runner, render_task(request, "diffusion", tmp_path / "x.mp4", cache=cache))
    (error,) = recorder.of("failed")
    assert isinstance(error, InputError) and "/no/such/folder does not exist" in error_message(error, "the render")
    with cache.gpu(lambda: True):  # the gate was let go: taken at once, no waiting
        pass
    assert not (tmp_path / "x.mp4").exists()


def test_the_animatic_renders_with_previews(qtbot, runner, tmp_path, right_wav) -> None:
    layout = VideoLayout.from_json_dict(vsl_dict())
    out = tmp_path / "animatic.mp4"
    request = make_request(layout, fps=8.0, size=(128, 80))
    recorder = run_to_end(qtbot, runner, render_task(request, "animatic", out, right_wav))
    outcome = recorder.result
    previews = recorder.of("partial")
    assert previews and previews[-1].frames.shape == (16, 80, 128, 3)
    assert outcome.summary["generator"] == "animatic" and probe_video(out)["frames"] == 16


def test_auto_without_a_gpu_renders_the_animatic_and_says_why(qtbot, runner, tiny_folders, tmp_path) -> None:
    out = tmp_path / "auto.mp4"
    outcome = run_to_end(qtbot, runner, render_task(tiny_request(tiny_folders), "auto", out)).result
    assert outcome.summary["generator"] == "animatic"
    assert outcome.notes and "No GPU" in outcome.notes[0] and out.exists()


def test_the_render_form_becomes_the_request_the_cli_would_make() -> None:
    layout = VideoLayout.from_json_dict(vsl_dict(duration_s=2.0))
    form = RenderSettingsForm(generator="diffusion", model="/models/sd15", steps=12, guidance=6.0, seed=7, fps=4.0,
                              frames=0, width=256, height=160, grounding="soft", grounding_strength=2.5,
                              scheduler="euler", device="cpu")
    request = request_from_form(layout, form)
    assert (request.n_frames, request.size, request.steps, request.seed) == (8, (256, 160), 12, 7)
    assert request.guidance_scale == 6.0 and request.fps == 4.0
    assert request.options == {"scheduler": "euler", "grounding": "soft", "grounding_strength": 2.5,
                               "model": "/models/sd15", "device": "cpu"}
    assert "device" not in render_options(RenderSettingsForm())
    with pytest.raises(InputError, match="multiples of 8"):
        request_from_form(layout, RenderSettingsForm(width=100))


# -------------------------------------------------------------------------------------------- panels


def test_clicking_plan_emits_the_form_values(qtbot) -> None:
    panel = PlannerPanel(provider_defaults=provider_defaults(), keyring_available=False)
    qtbot.addWidget(panel)
    wanted = PlanSettings(planner="llm", labels="car@left, piano", keyframes=7, provider="gemini",
                          model="gemini-2.0-flash", base_url="", k_examples=2, temperature=0.7, include_cues=False)
    panel.set_settings(wanted)
    assert panel.llm_group.isEnabled()
    with qtbot.waitSignal(panel.planRequested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.plan_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == wanted
    assert PlanSettings.from_dict({**wanted.to_dict(), "from_a_newer_version": 1}) == wanted

    panel.set_settings(PlanSettings())
    assert not panel.llm_group.isEnabled() and not panel.revise_button.isEnabled()
    assert "LLM" in panel.revise_button.toolTip()


def test_the_api_key_stays_in_the_panel_and_the_keyring_box_says_why_it_is_off(qtbot) -> None:
    panel = PlannerPanel(provider_defaults=provider_defaults(), keyring_available=False)
    qtbot.addWidget(panel)
    panel.set_settings(PlanSettings(planner="llm", remember_key=True))
    qtbot.keyClicks(panel.key_edit, SECRET)
    assert panel.key_edit.echoMode() == panel.key_edit.EchoMode.Password
    assert panel.api_key() == SECRET
    settings = panel.settings()
    assert SECRET not in repr(settings) and SECRET not in json.dumps(settings.to_dict())
    assert not panel.remember_check.isEnabled() and not settings.remember_key
    assert panel.remember_check.toolTip() == KEYRING_MISSING_TIP and "keyring" in KEYRING_MISSING_TIP
    assert "OPENAI_API_KEY" in panel.key_edit.placeholderText()
    assert panel.model_edit.placeholderText() == provider_defaults()["openai"][1]


def test_busy_planner_panel_cancels_and_revises(qtbot) -> None:
    panel = PlannerPanel(keyring_available=False)
    qtbot.addWidget(panel)
    panel.set_settings(PlanSettings(planner="llm"))
    panel.set_busy(True)
    assert not panel.plan_button.isEnabled() and panel.cancel_button.isEnabled()
    with qtbot.waitSignal(panel.cancelRequested, timeout=1000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    panel.set_progress(42.4, "Asking the model…")
    assert panel.progress_bar.value() == 42 and panel.status_label.text() == "Asking the model…"
    panel.set_busy(False)
    panel.revise_edit.setText("make the car bigger")
    with qtbot.waitSignal(panel.reviseRequested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.revise_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["make the car bigger"]
    panel.set_reasoning("The car is heard on the right.", ["stripped prose around the JSON"])
    text = panel.reasoning_view.toPlainText()
    assert panel.reasoning_view.isReadOnly() and "heard on the right" in text and "stripped prose" in text


def test_the_panels_name_the_engines_providers_and_samplers() -> None:
    from engine.generator import SCHEDULERS
    from engine.planner.llm import PROVIDERS as ENGINE_PROVIDERS

    assert set(PROVIDERS) == set(ENGINE_PROVIDERS)
    assert set(SCHEDULER_NAMES) == set(SCHEDULERS)


def test_clicking_render_emits_the_form_and_previews_fill_the_strip(qtbot) -> None:
    panel = RenderPanel()
    qtbot.addWidget(panel)
    wanted = RenderSettingsForm(generator="diffusion", model="/models/sd15", motion_adapter="/models/adapter",
                                steps=12, guidance=6.5, seed=42, fps=12.0, frames=24, width=384, height=240,
                                grounding="soft", grounding_strength=2.5, scheduler="euler", device="cpu")
    panel.set_settings(wanted)
    assert panel.size_combo.currentData() == "384x240" and panel.strength_spin.isEnabled()
    with qtbot.waitSignal(panel.renderRequested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.render_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == wanted
    assert RenderSettingsForm.from_dict(json.loads(json.dumps(wanted.to_dict()))) == wanted

    panel.size_combo.setCurrentIndex(panel.size_combo.findData("512x320"))
    assert panel.settings().size == (512, 320)
    panel.width_spin.setValue(200)
    assert panel.size_combo.currentData() == "custom"
    panel.set_settings(RenderSettingsForm(generator="animatic"))
    assert not panel.sampler_group.isEnabled() and not panel.model_edit.isEnabled()

    panel.set_busy(True)
    assert not panel.render_button.isEnabled() and panel.cancel_button.isEnabled()
    assert all(label.pixmap().isNull() for label in panel.preview_labels)
    frames = np.zeros((16, 40, 64, 3), np.uint8)
    frames[..., 0] = np.linspace(0, 255, 16, dtype=np.uint8)[:, None, None]
    panel.show_preview(3, frames)
    shown = [label for label in panel.preview_labels if label.isVisibleTo(panel)]
    assert len(shown) == 6 and all(not label.pixmap().isNull() for label in shown)
    assert shown[0].pixmap().height() == 72 and panel.preview_caption.text() == "Step 4"
    panel.show_preview(4, frames[:2])
    assert len([label for label in panel.preview_labels if label.isVisibleTo(panel)]) == 2


def test_a_finished_render_offers_open_and_export(qtbot, tmp_path) -> None:
    panel = RenderPanel()
    qtbot.addWidget(panel)
    assert not panel.open_button.isVisibleTo(panel) and not panel.export_button.isVisibleTo(panel)
    video = tmp_path / "scene.mp4"
    panel.set_finished(video)
    assert panel.open_button.isVisibleTo(panel) and "scene.mp4" in panel.status_label.text()
    with qtbot.waitSignal(panel.openVideoRequested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(video)]
    panel.choose_export_path = lambda suggested: str(tmp_path / "copy.mp4")
    with qtbot.waitSignal(panel.exportRequested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(tmp_path / "copy.mp4")]
    panel.choose_folder = lambda title, start: "/models/my-sd15"
    qtbot.mouseClick(panel.model_browse, Qt.MouseButton.LeftButton)
    assert panel.settings().model == "/models/my-sd15"
    panel.set_busy(True)
    assert not panel.open_button.isVisibleTo(panel)


def test_grab_the_panels(qtbot) -> None:
    planner = PlannerPanel(provider_defaults=provider_defaults(), keyring_available=False)
    qtbot.addWidget(planner)
    planner.set_settings(PlanSettings(planner="llm", labels="car@right", k_examples=3))
    planner.set_busy(True)
    planner.set_progress(60, "Asking gpt-4o-audio-preview at https://api.openai.com/v1 (examples: 3)…")
    planner.set_reasoning("Source 1, 'car' (named by you): louder on the right by 14 dB, so it is on the right "
                          "(about +52°); its direction and level hold steady: stationary.")
    planner.resize(420, 640)
    planner.show()
    qtbot.wait(50)  # let the layouts settle before the grab
    assert planner.grab().save("/tmp/planner_panel.png")

    render = RenderPanel()
    qtbot.addWidget(render)
    render.set_settings(RenderSettingsForm(generator="diffusion", grounding="soft", grounding_strength=1.5))
    render.resize(460, 660)
    render.show()
    render.set_busy(True)
    render.set_progress(48, "Rendering 16 frames at 512x320 with the diffusion generator…")
    t = np.linspace(0, 1, 16)[:, None, None, None]
    y, x = np.mgrid[0:40, 0:64]
    frames = np.zeros((16, 40, 64, 3), np.float64)
    frames[..., 0] = 90 + 120 * (x / 64)
    frames[..., 1] = 120 + 80 * (y / 40)
    frames[..., 2] = 160
    box = (np.abs(x - (10 + 40 * t[..., 0])) < 8) & (np.abs(y - 26) < 6)
    frames[box] = (220, 40, 40)
    render.show_preview(11, frames.clip(0, 255).astype(np.uint8))
    qtbot.wait(50)
    assert render.grab().save("/tmp/render_panel.png")


def test_a_remembered_key_goes_to_the_os_keyring_and_is_used_without_typing(qtbot, runner, server, right_wav,
                                                                            memory_keyring) -> None:
    from app.tasks import KEYRING_SERVICE

    settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                            k_examples=0, remember_key=True)
    no_cache = {"use_cache": False}
    server.push(reply(json.dumps(vsl_dict())))
    server.push(reply(json.dumps(vsl_dict())))
    run_to_end(qtbot, runner, plan_task(right_wav, None, settings, api_key=SECRET, llm_options=no_cache))
    assert memory_keyring.secrets == {(KEYRING_SERVICE, "vllm"): SECRET}
    # Next session: nothing typed, "Remember" still ticked: the keyring's key is sent.
    recorder = run_to_end(qtbot, runner, plan_task(right_wav, None, settings, llm_options=no_cache))
    assert recorder.of("failed") == []
    assert [r.headers.get("authorization") for r in server.requests] == [f"Bearer {SECRET}"] * 2


def test_a_key_typed_without_remember_stays_out_of_the_keyring(qtbot, runner, server, right_wav,
                                                               memory_keyring) -> None:
    settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                            k_examples=0, remember_key=False)
    server.push(reply(json.dumps(vsl_dict())))
    run_to_end(qtbot, runner, plan_task(right_wav, None, settings, api_key=SECRET, llm_options={"use_cache": False}))
    assert memory_keyring.secrets == {}
    assert server.requests[0].headers.get("authorization") == f"Bearer {SECRET}"


def test_the_remember_box_is_a_preference_and_unticking_it_forgets_the_key(qtbot, memory_keyring) -> None:
    from app.editor import REMEMBER_KEY_SETTING, EditorController
    from app.project_store import studio_settings
    from app.tasks import KEYRING_SERVICE

    editor = EditorController()
    qtbot.addWidget(editor.planner)
    box = editor.planner.remember_check
    editor.planner.set_settings(PlanSettings(planner="llm", provider="openai"))
    editor.planner.show()
    qtbot.waitExposed(editor.planner)
    assert box.isEnabled() and not box.isChecked()
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
    assert box.isChecked() and studio_settings().value(REMEMBER_KEY_SETTING) in (True, "true")
    # A new studio starts with the box ticked.
    second = EditorController()
    assert second.planner.remember_check.isChecked()
    second.shutdown()

    memory_keyring.set_password(KEYRING_SERVICE, "openai", SECRET)
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
    qtbot.waitUntil(lambda: memory_keyring.secrets == {}, timeout=5000)
    third = EditorController()
    assert not box.isChecked() and not third.planner.remember_check.isChecked()
    third.shutdown()
    editor.shutdown()


def test_load_models_button_makes_the_generator_ready_in_the_background(qtbot, tiny_folders) -> None:
    from app.editor import EditorController
    from ui.render_panel import RenderSettingsForm

    sd_folder, adapter_folder = tiny_folders
    editor = EditorController()
    panel = editor.render
    qtbot.addWidget(panel)
    panel.set_settings(RenderSettingsForm(generator="animatic"))
    assert not panel.load_button.isEnabled()  # the animatic has no models
    panel.set_settings(RenderSettingsForm(generator="diffusion", model=str(sd_folder),
                                          motion_adapter=str(adapter_folder), device="cpu"))
    assert panel.load_button.isEnabled()
    with qtbot.waitSignal(editor.render_runner.finished, timeout=60000):
        panel.load_button.click()
        assert not panel.load_button.isEnabled() and panel.cancel_button.isEnabled()
    assert editor.generators.generator is not None
    assert editor.generators.loaded[:3] == (str(sd_folder), str(adapter_folder), "cpu")
    assert panel.status_label.text().startswith("Models ready (loaded in")
    assert panel.load_button.isEnabled() and not panel.cancel_button.isEnabled()
    # Again: the models are already there.
    with qtbot.waitSignal(editor.render_runner.finished, timeout=60000):
        panel.load_button.click()
    assert panel.status_label.text().startswith("Models ready (already loaded)")
    editor.shutdown()


def test_the_plan_and_the_audition_separate_the_recording_once(qtbot, runner, tmp_path, monkeypatch) -> None:
    """The offline plan separates the sources to name them; an audition of the same recording and analysis
    afterwards takes the same separated signals from the cache instead of separating again."""
    import collections

    import app.tasks as tasks_module
    import engine.audition.separate as separate_module
    from engine.audio.hear import analyze
    from engine.audition.separate import read_recording
    from tests.recordings import write_engine_and_siren_wav

    wav = write_engine_and_siren_wav(tmp_path / "pair.wav")
    analysis = analyze(wav)
    calls = []
    real = separate_module.separate_sources

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(separate_module, "separate_sources", counted)
    monkeypatch.setattr(tasks_module, "_separated_cache", collections.OrderedDict())
    run_to_end(qtbot, runner, plan_task(wav, analysis, PlanSettings(planner="offline", keyframes=3)))
    assert len(calls) == 1
    stereo, rate = read_recording(wav, analysis)
    tasks_module._separated_sources(wav, analysis, stereo, rate)
    assert len(calls) == 1
