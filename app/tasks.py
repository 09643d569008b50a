"""Background tasks of the Plan and Render stages, built for :class:`app.workers.TaskRunner`.

Each factory returns a ``Task`` (``fn(state) -> result``) that reports through its
:class:`~app.workers.TaskState`: status text, progress in percent, partial results, and a check of
``state.is_interruption_requested()`` wired into the engine's own ``is_cancelled`` hooks, so Cancel stops
an LLM request, a model load (between stages) or a render (between denoising steps, before the VAE decode
and before each file is written). A cancelled task ends with :class:`~engine.errors.Cancelled`, which the
runner reports as ``cancelled``.

- ``plan_task``, ``revise_task``: a :class:`PlanOutcome`.
- ``load_model_task``: a :class:`LoadedModel` (the diffusion models made ready in a :class:`GeneratorCache`).
- ``render_task``: a :class:`RenderOutcome`; on the way, every preview of the generator as a
  :class:`PreviewFrames` partial result (the diffusion generator: one per denoising step).
- ``audition_task``: an :class:`AuditionOutcome` (the layout as spatial sound, for A/B listening).

**Which runner runs what (one GPU, one render at a time).** The window keeps *one TaskRunner per kind*:

- a *plan* runner for ``plan_task`` / ``revise_task``. Planning never touches the GPU (the offline planner is
  numpy, the LLM is a network request), so a plan may run while a video renders. A new plan cancels the
  running one (the runner's Orange3 behaviour): the user wants the newest settings.
- a *render* runner for ``load_model_task`` / ``render_task``: everything that uses the GPU. A new render or
  load cancels the running one. A cancelled render can still be inside its current denoising step when the
  next starts, so both also take the :class:`GeneratorCache`'s GPU gate: the new task waits ("Waiting for
  the previous render…", still cancellable) until the old one has let go. Two tasks never share the GPU,
  provided the window passes its one :class:`GeneratorCache` to every load and render task.

Errors reach the GUI through the runner's ``failed`` signal; :func:`error_message` turns one into the single
message to show: an :class:`~engine.errors.InputError` (bad settings, a missing key, missing weights, out
of GPU memory) says what to change; anything else is an internal error whose traceback goes to the log.

The engine is imported inside the tasks, so that opening the studio does not wait for torch and diffusers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.workers import Task, TaskState
from engine.errors import Cancelled, InputError
from ui.planner_panel import PlanSettings
from ui.render_panel import RenderSettingsForm

if TYPE_CHECKING:
    from engine.audio.model import Analysis
    from engine.audition.events import SourceEvents
    from engine.generator.pipeline import DiffusionGenerator, RenderSettings
    from engine.layout.model import VideoLayout
    from engine.planner.llm import LLMSettings
    from engine.planner.prompt import RevisionTurn
    from engine.render.base import RenderRequest

log = logging.getLogger(__name__)

PLANNERS = ("offline", "llm")
GENERATOR_CHOICES = ("auto", "diffusion", "animatic")
#: How often a task waiting for the GPU gate looks whether it was cancelled (seconds).
GPU_POLL_S = 0.1
#: The service name under which keys are kept in the OS keyring (one entry per provider).
KEYRING_SERVICE = "spa2v-studio"

StatusFn = Callable[[str], None]
FractionFn = Callable[[float], None]
CancelFn = Callable[[], bool]


# ------------------------------------------------------------------------------------------ results


@dataclass
class PlanOutcome:
    """A planned (or revised) layout: the layout, repairs made to an LLM answer, its reasoning, and whether the
    answer came from the LLM cache."""

    layout: VideoLayout
    repairs: list[str]
    reasoning: str
    from_cache: bool


@dataclass
class PreviewFrames:
    """A render's preview: ``frames`` ``(T, h, w, 3)`` uint8 RGB after denoising step ``step`` (diffusion) or
    up to frame ``step`` (animatic). Possibly smaller than the render size; treat as read-only."""

    step: int
    frames: np.ndarray


@dataclass
class RenderOutcome:
    """A finished render: :func:`engine.render.run.render_video`'s summary, the MP4, and notes for the user
    (e.g. that "auto" rendered the animatic, and why)."""

    summary: dict
    out_path: Path
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadedModel:
    """The diffusion models a :func:`load_model_task` made ready: sources, device, dtype, how long it took, and
    whether they were loaded already."""

    model: str
    motion_adapter: str
    device: str
    dtype: str
    seconds: float
    reused: bool


# ------------------------------------------------------------------------------------------ helpers


def error_message(exc: BaseException, what: str = "the task") -> str:
    """The one message to show for a failed task: an InputError's own line, else an internal-error sentence
    (the traceback, if the runner attached one, goes to the log)."""
    if isinstance(exc, InputError):
        return str(exc)
    detail = getattr(exc, "__traceback_text__", "") or repr(exc)
    log.error("%s failed:\n%s", what, detail)
    return (f"{what[:1].upper()}{what[1:]} failed because of an internal error ({type(exc).__name__}: {exc}). "
            "Details are in the log file.")


def _span(state: TaskState, start: float, end: float) -> FractionFn:
    """A 0..1 progress callback mapped onto ``[start, end]`` percent of the task."""

    def report(fraction: float) -> None:
        state.set_progress_value(start + (end - start) * min(1.0, max(0.0, float(fraction))))

    return report


def provider_defaults() -> dict[str, tuple[str, str]]:
    """Each LLM provider preset's ``(base_url, model)``, for :class:`ui.planner_panel.PlannerPanel`."""
    from engine.planner.llm import PROVIDERS

    return {name: (provider.base_url, provider.model) for name, provider in PROVIDERS.items()}


def llm_settings(settings: PlanSettings, api_key: str | None = None, **overrides: Any) -> LLMSettings:
    """The engine's :class:`~engine.planner.llm.LLMSettings` for the panel's ``settings``, validated.

    ``api_key`` is a key typed into the panel (held in memory only); None reads the provider's environment
    variables when the request is made. The OpenAI preset with no base URL typed follows ``OPENAI_BASE_URL``
    (SPEC.md). ``overrides`` set any other field (``cache_dir``, ``timeout_s``, ``use_cache``...). Raises
    :class:`~engine.planner.llm.PlannerConfigError` (an InputError) naming a bad value.
    """
    from engine.planner.llm import LLMSettings

    values: dict[str, Any] = {"temperature": float(settings.temperature), "k_examples": int(settings.k_examples),
                              "include_cues": bool(settings.include_cues)}
    if settings.model.strip():
        values["model"] = settings.model.strip()
    if settings.base_url.strip():
        values["base_url"] = settings.base_url.strip()
    elif settings.provider == "openai":
        values["base_url"] = None  # OPENAI_BASE_URL, else OpenAI's
    if api_key and api_key.strip():
        values["api_key"] = api_key.strip()
    values.update(overrides)
    result = LLMSettings.for_provider(settings.provider, **values)
    result.validate()
    return result


def _analysis_for(state: TaskState, audio_path: Path, analysis: Analysis | None, share: float) -> Analysis:
    """``analysis`` when given, else the recording analysed now (the first ``share`` percent of the task)."""
    if analysis is not None:
        return analysis
    from engine.audio.hear import analyze

    state.set_status(f"Measuring the spatial cues of {audio_path.name}…")
    return analyze(audio_path, progress=_span(state, 0.0, share), is_cancelled=state.is_interruption_requested)


def _outcome(layout_dict: Mapping[str, Any], audio_path: Path, repairs: Sequence[str], from_cache: bool,
             ) -> PlanOutcome:
    from engine.layout.model import VideoLayout

    # The layout names its recording (absolute here; a project makes it relative when it saves).
    layout = VideoLayout.from_json_dict({**layout_dict, "audio": str(audio_path.resolve())}, source="the plan")
    return PlanOutcome(layout=layout, repairs=list(repairs), reasoning=layout.reasoning, from_cache=from_cache)


def _default_embedder() -> Any:
    """The retrieval embedding, as the command line picks it: CLAP from SPA2V_CLAP_MODEL, else the compact one."""
    from engine.planner.embedding import CompactEmbedder, clap_embedder

    model = os.environ.get("SPA2V_CLAP_MODEL")
    return clap_embedder(model) if model else CompactEmbedder()


# ------------------------------------------------------------------------------------------ planning


def plan_task(
    audio_path: str | Path,
    analysis: Analysis | None,
    settings: PlanSettings,
    *,
    api_key: str | None = None,
    examples_dir: str | Path | None = None,
    embedder: Any = None,
    llm_options: Mapping[str, Any] | None = None,
    events: Sequence[SourceEvents] | None = None,
) -> Task:
    """A task that plans a layout for the recording at ``audio_path``; its result is a :class:`PlanOutcome`.

    ``analysis`` is the recording's :func:`engine.audio.hear.analyze` (None: measured first). The offline
    planner plans from the measured source tracks. The LLM planner retrieves ``settings.k_examples`` examples
    from the store at ``examples_dir`` (default: the user's; filled with synthetic scenes on first use) by
    ``embedder`` (default as the command line), leaving out the recording itself, then asks the model with
    the measured cues and when each source sounds (:func:`engine.audition.events.recording_events`);
    ``api_key`` (in memory only) else the environment's key; ``llm_options`` override LLMSettings fields;
    ``events``: the sources' events of ``analysis`` when already found (the studio finds them with the
    analysis), else found here. Progress: analysis (when needed) 0–10 %, the sources' events 10–15 %,
    examples 15–20 %, the request 20–100 %.
    """
    audio_path = Path(audio_path)
    settings = dataclasses.replace(settings)  # later edits of the form do not reach a running plan
    options = dict(llm_options or {})

    def run(state: TaskState) -> PlanOutcome:
        state.set_progress_value(0)
        if settings.planner not in PLANNERS:
            raise InputError(f"planner {settings.planner!r} is not known; expected one of {', '.join(PLANNERS)}")
        llm = llm_settings(settings, resolve_api_key(settings, api_key), **options) if settings.planner == "llm" \
            else None
        measured = _analysis_for(state, audio_path, analysis, 10.0)
        state.raise_if_cancelled()
        if llm is None:
            from engine.planner.offline import plan_offline
            from engine.planner.sound_type import recording_frames

            if len(measured.sources) > 1:
                state.set_status("Separating the sources to tell what each one is…")
            cancel = state.is_interruption_requested

            def separate(stereo: np.ndarray, rate: int) -> dict[int, np.ndarray]:
                # The audition's separation (cached per recording and analysis): done once for both.
                return _separated_sources(audio_path, measured, stereo, rate, cancel)

            frames = recording_frames(audio_path, measured, cancel, separate)
            state.set_progress_value(50)
            state.set_status(f"Planning {audio_path.name} from the measured cues…")
            layout_dict = plan_offline(measured, settings.labels or None, n_keyframes=settings.keyframes,
                                       source_frames=frames)
            outcome = _outcome(layout_dict, audio_path, [], False)
        else:
            from engine.planner.llm import plan_llm

            timeline = _planner_events(state, audio_path, measured, llm, events)
            state.set_progress_value(15)
            examples: list[Any] = []
            if llm.k_examples > 0:
                from engine.planner.examples import open_store

                state.set_status("Finding similar examples…")
                store = open_store(examples_dir, embedder=embedder or _default_embedder(), progress=state.set_status)
                state.raise_if_cancelled()
                # The recording's own entry (a bench scene planned again) would hand the model the answer.
                examples = store.nearest(audio_path, k=llm.k_examples, exclude_same_audio=True)
            state.set_progress_value(20)
            names = ", ".join(e.name for e in examples) or "none"
            state.set_status(f"Asking {llm.model} at {llm.resolved_base_url()} (examples: {names})…")
            result = plan_llm(audio_path, measured, examples, llm, n_keyframes=settings.keyframes,
                              labels=settings.labels or None, progress=_span(state, 20.0, 100.0),
                              is_cancelled=state.is_interruption_requested, events=timeline)
            outcome = _outcome(result.layout_dict, audio_path, result.repairs, result.from_cache)
        state.raise_if_cancelled()
        state.set_progress_value(100)
        state.set_status("Planned" + (" (the answer came from the cache)" if outcome.from_cache else ""))
        return outcome

    return run


def revise_task(
    layout: VideoLayout,
    request_text: str,
    audio_path: str | Path,
    analysis: Analysis | None,
    settings: PlanSettings,
    *,
    api_key: str | None = None,
    history: Sequence[RevisionTurn] | None = None,
    llm_options: Mapping[str, Any] | None = None,
    events: Sequence[SourceEvents] | None = None,
) -> Task:
    """A task that asks the LLM to change ``layout`` by ``request_text``; its result is a :class:`PlanOutcome`.

    The conversation and its cache are :func:`engine.planner.llm.revise_llm`'s (``history``: earlier revisions,
    oldest first), with the sources' events (``events``) as in :func:`plan_task`. Needs the LLM planner: with
    the offline one it fails with an InputError saying so. Progress: analysis (when needed) 0–10 %, the sources' events
    10–15 %, the request 15–100 %.
    """
    audio_path = Path(audio_path)
    settings = dataclasses.replace(settings)
    current = layout.to_json_dict()
    current.pop("audio", None)  # where the file lives is no part of the conversation (nor of its cache key)
    options = dict(llm_options or {})
    turns = list(history or [])

    def run(state: TaskState) -> PlanOutcome:
        state.set_progress_value(0)
        if settings.planner != "llm":
            raise InputError("revising a layout by a change request needs the LLM planner; choose it in the "
                             "planner settings, or edit the boxes by hand")
        if not request_text.strip():
            raise InputError("the change request is empty; say what to change, e.g. 'make the car start further "
                             "left'")
        from engine.planner.llm import revise_llm

        llm = llm_settings(settings, resolve_api_key(settings, api_key), **options)
        measured = _analysis_for(state, audio_path, analysis, 10.0)
        state.raise_if_cancelled()
        timeline = _planner_events(state, audio_path, measured, llm, events)
        state.set_progress_value(15)
        state.set_status(f"Asking {llm.model} at {llm.resolved_base_url()} to revise the layout…")
        result = revise_llm(current, request_text.strip(), audio_path, measured, llm, history=turns,
                            progress=_span(state, 15.0, 100.0), is_cancelled=state.is_interruption_requested,
                            labels=settings.labels or None, events=timeline)
        outcome = _outcome(result.layout_dict, audio_path, result.repairs, result.from_cache)
        state.raise_if_cancelled()
        state.set_progress_value(100)
        state.set_status("Revised")
        return outcome

    return run


def _planner_events(state: TaskState, audio_path: Path, analysis: Analysis, llm: LLMSettings,
                    known: Sequence[SourceEvents] | None = None) -> Sequence[SourceEvents] | None:
    """When each source sounds, for the LLM's request: ``known`` when given, else found now (cancellable before
    and after the recording is read); None when the measured cues are left out (the request would not carry
    them)."""
    if not llm.include_cues:
        return None
    if known is not None:
        return known
    from engine.audition.events import recording_events

    state.set_status("Finding when each source sounds…")
    events = recording_events(audio_path, analysis, is_cancelled=state.is_interruption_requested)
    state.raise_if_cancelled()
    return events


# ------------------------------------------------------------------------------------ the generator


class GeneratorCache:
    """One loaded :class:`~engine.generator.DiffusionGenerator`, reused by every render that asks for the same
    model, motion adapter, device and dtype, and the *GPU gate* that lets one task at a time use the GPU.

    Loading replaces the models held before (they are let go first, so two sets never share the memory).
    ``local_files_only`` None follows ``HF_HUB_OFFLINE``; ``cache_dir`` is the Hugging Face cache to use.
    Thread-safe: the tasks call it from their threads, the window may call :meth:`release` from the GUI.
    """

    def __init__(self, local_files_only: bool | None = None, cache_dir: str | Path | None = None) -> None:
        self.local_files_only = local_files_only
        self.cache_dir = cache_dir
        self._lock = threading.Lock()  # guards _generator and _key
        self._gpu = threading.Lock()  # held by the task that uses the GPU
        self._generator: DiffusionGenerator | None = None
        self._key: tuple[str, str, str, str] | None = None

    @property
    def generator(self) -> DiffusionGenerator | None:
        """The loaded generator, or None."""
        return self._generator

    @property
    def loaded(self) -> tuple[str, str, str, str] | None:
        """``(model, motion adapter, device, dtype)`` of the loaded generator, or None."""
        return self._key

    @contextlib.contextmanager
    def gpu(self, is_cancelled: CancelFn | None = None, status: StatusFn | None = None) -> Iterator[None]:
        """Hold the GPU gate for the ``with`` block; while another task holds it, wait, asking ``is_cancelled``
        every :data:`GPU_POLL_S` seconds (raising Cancelled when it turns true)."""
        if not self._gpu.acquire(blocking=False):
            if status is not None:
                status("Waiting for the previous render to let go of the GPU…")
            while not self._gpu.acquire(timeout=GPU_POLL_S):
                if is_cancelled is not None and is_cancelled():
                    raise Cancelled("cancelled while waiting for the GPU")
        try:
            yield
        finally:
            self._gpu.release()

    @staticmethod
    def key_for(settings: RenderSettings) -> tuple[str, str, str, str]:
        """``(model, motion adapter, device, dtype)`` that ``settings`` ask for (InputError for a bad device)."""
        from engine.generator.loading import DEFAULT_MODEL, DEFAULT_MOTION_ADAPTER, pick_device, pick_dtype

        device = pick_device(settings.device)
        dtype = pick_dtype(device, settings.dtype)
        return (settings.model or DEFAULT_MODEL, settings.motion_adapter or DEFAULT_MOTION_ADAPTER, str(device),
                str(dtype).removeprefix("torch."))

    def generator_for(self, settings: RenderSettings, status: StatusFn | None = None,
                      progress: FractionFn | None = None, is_cancelled: CancelFn | None = None,
                      ) -> DiffusionGenerator:
        """The generator for ``settings``: the loaded one when it fits, else loaded now in stages (weights from
        disk or the hub, TAESD, the move to the device) with ``is_cancelled`` asked between them.

        Call it holding :meth:`gpu`. Raises InputError for missing weights or too little memory (saying what to
        do), Cancelled when cancelled (nothing half-loaded is kept).
        """
        key = self.key_for(settings)
        with self._lock:
            if self._generator is not None and self._key == key:
                if progress is not None:
                    progress(1.0)
                return self._generator
        return self._load(key, settings, status or (lambda _text: None), progress or (lambda _f: None),
                          is_cancelled or (lambda: False))

    def _load(self, key: tuple[str, str, str, str], settings: RenderSettings, status: StatusFn,
              progress: FractionFn, is_cancelled: CancelFn) -> DiffusionGenerator:
        import torch

        from engine.generator.loading import device_memory_text, load_animatediff, pick_dtype
        from engine.generator.pipeline import (
            DiffusionGenerator,
            GeneratorMemoryError,
            LayoutVideoPipeline,
            release_memory,
        )
        from engine.generator.preview import load_local_taesd
        from engine.generator.schedulers import DEFAULT_SCHEDULER, scheduler_preset

        def check() -> None:
            if is_cancelled():
                raise Cancelled("the model load was cancelled")

        model, adapter, device_name, _ = key
        device = torch.device(device_name)
        dtype = pick_dtype(device, settings.dtype)
        scheduler = settings.scheduler or DEFAULT_SCHEDULER
        scheduler_preset(scheduler)  # a bad name fails before minutes of loading
        check()
        self.release()  # the old models go before the new ones take the memory
        started = time.perf_counter()
        status(f"Loading {model} with the motion adapter {adapter}…")
        progress(0.05)
        pipe = load_animatediff(model, adapter, dtype, self.local_files_only, self.cache_dir)
        check()
        progress(0.7)
        taesd = load_local_taesd(device, dtype) if settings.preview in ("auto", "taesd") else None
        check()
        progress(0.8)
        status(f"Moving the models to {device_memory_text(device)}…")
        pipeline = None
        with contextlib.suppress(torch.cuda.OutOfMemoryError):  # handled below, outside the except block
            pipeline = LayoutVideoPipeline(pipe, device=device, dtype=dtype, scheduler=scheduler, taesd=taesd)
        if pipeline is None:
            del pipe, taesd
            release_memory(device)
            raise GeneratorMemoryError(f"out of memory loading {model} + {adapter} on {device_memory_text(device)}; "
                                       "close other programs that use the GPU, or choose the CPU (slow)")
        if is_cancelled():
            del pipeline, pipe, taesd
            release_memory(device)
            raise Cancelled("the model load was cancelled")
        generator = DiffusionGenerator(pipeline, model=model, motion_adapter=adapter,
                                       local_files_only=self.local_files_only, cache_dir=self.cache_dir)
        with self._lock:
            self._generator, self._key = generator, key
        log.info("loaded %s + %s on %s in %.1f s", model, adapter, device, time.perf_counter() - started)
        progress(1.0)
        return generator

    def release(self) -> None:
        """Let the loaded models go and give their device memory back (e.g. when the studio closes)."""
        with self._lock:
            generator, self._generator, self._key = self._generator, None, None
        pipeline = generator.pipeline if generator is not None else None
        if pipeline is not None:
            device = pipeline.device
            del generator, pipeline
            from engine.generator.pipeline import release_memory

            release_memory(device)


def _diffusion_options(options: Mapping[str, Any] | None, model: str | None, motion_adapter: str | None,
                       device: str | None) -> dict[str, Any]:
    merged = dict(options or {})
    for name, value in (("model", model), ("motion_adapter", motion_adapter), ("device", device)):
        if value:
            merged[name] = value
    return merged


def load_model_task(
    cache: GeneratorCache,
    options: Mapping[str, Any] | None = None,
    *,
    model: str | None = None,
    motion_adapter: str | None = None,
    device: str | None = None,
) -> Task:
    """A task that makes the diffusion models ready in ``cache`` ahead of a render; its result is a
    :class:`LoadedModel`.

    ``options`` as ``RenderRequest.options`` (``model``, ``motion_adapter``, ``device``, ``dtype``, ``preview``,
    ``scheduler``); the keywords override them. Cancellable between the loading stages (reading the weights is
    one stage and can take minutes). Run it on the render runner: it holds the GPU gate.
    """
    merged = _diffusion_options(options, model, motion_adapter, device)

    def run(state: TaskState) -> LoadedModel:
        from engine.generator.pipeline import RenderSettings

        settings = RenderSettings.from_options(merged)
        state.set_progress_value(0)
        started = time.perf_counter()
        with cache.gpu(state.is_interruption_requested, state.set_status):
            before = cache.generator
            generator = cache.generator_for(settings, state.set_status, _span(state, 0.0, 100.0),
                                            state.is_interruption_requested)
        key = cache.loaded or cache.key_for(settings)
        state.set_status(f"Ready: {key[0]} with {key[1]} on {key[2]}")
        return LoadedModel(model=key[0], motion_adapter=key[1], device=key[2], dtype=key[3],
                           seconds=round(time.perf_counter() - started, 3), reused=generator is before)

    return run


# -------------------------------------------------------------------------------------------- render


def render_options(form: RenderSettingsForm) -> dict[str, Any]:
    """``RenderRequest.options`` from the render panel's form (empty fields leave the defaults)."""
    options: dict[str, Any] = {"scheduler": form.scheduler, "grounding": form.grounding,
                               "grounding_strength": float(form.grounding_strength)}
    if form.model.strip():
        options["model"] = form.model.strip()
    if form.motion_adapter.strip():
        options["motion_adapter"] = form.motion_adapter.strip()
    if form.device and form.device != "auto":
        options["device"] = form.device
    return options


def request_from_form(layout: VideoLayout, form: RenderSettingsForm, prompt_suffix: str = "",
                      negative: str | None = None) -> RenderRequest:
    """The :class:`~engine.render.base.RenderRequest` for ``layout`` with the panel's settings (as the command
    line's ``render`` builds it). Raises InputError naming a size, rate or count that cannot be rendered."""
    from engine.render.base import parse_size
    from engine.render.run import make_request

    size = parse_size(f"{int(form.width)}x{int(form.height)}")
    extra = {"negative": negative} if negative is not None else {}
    return make_request(layout, fps=float(form.fps), frames=int(form.frames) or None, size=size, seed=int(form.seed),
                        steps=int(form.steps), guidance=float(form.guidance), prompt_suffix=prompt_suffix,
                        options=render_options(form), **extra)


def render_task(
    request: RenderRequest,
    generator_choice: str,
    out_path: str | Path,
    audio_path: str | Path | None = None,
    *,
    cache: GeneratorCache | None = None,
    model: str | None = None,
    motion_adapter: str | None = None,
    device: str | None = None,
    png_dir: str | Path | None = None,
    overlay_path: str | Path | None = None,
) -> Task:
    """A task that renders ``request`` to the MP4 ``out_path`` with the recording's sound; its result is a
    :class:`RenderOutcome`, and each preview is sent as a :class:`PreviewFrames` partial result.

    ``generator_choice``: ``animatic``, ``diffusion``, or ``auto`` (diffusion where a GPU and the weights are,
    else the animatic, with a note saying why). ``model`` / ``motion_adapter`` / ``device`` override the
    request's options of those names. The diffusion generator comes from ``cache`` (None: a private one, loaded
    for this render only) and the render holds its GPU gate. Progress is over the whole job (loading, when
    needed, shows as status text). Cancel stops it before the VAE decode or any file is written: no MP4.
    """
    out = Path(out_path)
    if model or motion_adapter or device:
        request = dataclasses.replace(request, options=_diffusion_options(request.options, model, motion_adapter,
                                                                          device))

    def run(state: TaskState) -> RenderOutcome:
        from engine.render.animatic import AnimaticGenerator
        from engine.render.run import render_video

        if generator_choice not in GENERATOR_CHOICES:
            raise InputError(f"generator {generator_choice!r} is not known; expected one of "
                             f"{', '.join(GENERATOR_CHOICES)}")
        state.set_progress_value(0)
        notes: list[str] = []
        with contextlib.ExitStack() as stack:
            generator: Any = AnimaticGenerator()
            if generator_choice != "animatic":
                generator = _diffusion_or_fallback(state, request, generator_choice, cache, stack, notes)
            state.raise_if_cancelled()
            state.set_status(f"Rendering {request.n_frames} frames at {request.width}x{request.height} with the "
                             f"{generator.name} generator…")

            def preview(step: int, frames: np.ndarray) -> None:
                state.set_partial_result(PreviewFrames(int(step), frames))

            summary = render_video(request, generator, out, audio_path=audio_path, png_dir=png_dir,
                                   overlay_path=overlay_path, progress=_span(state, 0.0, 100.0), preview=preview,
                                   is_cancelled=state.is_interruption_requested)
        state.set_status(f"Rendered {out.name} ({summary['generator']}, {summary['seconds']['total']:.1f} s)")
        return RenderOutcome(summary=summary, out_path=out, notes=notes)

    return run


def _diffusion_or_fallback(state: TaskState, request: RenderRequest, choice: str, cache: GeneratorCache | None,
                           stack: contextlib.ExitStack, notes: list[str]) -> Any:
    """The diffusion generator, ready and holding the GPU gate (released by ``stack``); for ``auto``, the
    animatic where there is no GPU or the models cannot be loaded (the reason goes to ``notes``)."""
    from engine.generator.loading import pick_device
    from engine.generator.pipeline import RenderSettings
    from engine.render.animatic import AnimaticGenerator

    settings = RenderSettings.from_options(request.options)
    if choice == "auto" and pick_device(settings.device).type == "cpu":
        notes.append("No GPU here: the animatic was rendered (choose the diffusion generator to render on the "
                     "CPU, very slowly).")
        return AnimaticGenerator()
    cache = cache if cache is not None else GeneratorCache()
    gate = contextlib.ExitStack()
    gate.enter_context(cache.gpu(state.is_interruption_requested, state.set_status))
    try:
        generator = cache.generator_for(settings, state.set_status, None, state.is_interruption_requested)
    except InputError as exc:
        gate.close()
        if choice == "diffusion":
            raise
        notes.append(f"{exc}. The animatic was rendered instead.")
        return AnimaticGenerator()
    except BaseException:
        gate.close()
        raise
    stack.enter_context(gate)
    return generator


# ------------------------------------------------------------------------------------------ audition


#: How many recordings' separated sources are kept between auditions (each is the recording's length times its
#: source count in float32: an hour at 48 kHz with three sources is 2 GB).
SEPARATED_CACHE_SIZE = 2
# The separated sources of the latest recordings auditioned, least recently used first:
# (resolved path, file size, mtime, id(analysis)) -> (analysis, {source id: signal}). The analysis is held so
# that its id cannot be reused by another one while the entry lives. Guarded by the lock: a cancelled
# audition may still be storing its entry while the next one looks.
_separated_cache: OrderedDict[tuple[str, int, int, int], tuple[Analysis, dict[int, np.ndarray]]] = OrderedDict()
_separated_lock = threading.Lock()


@dataclass
class AuditionOutcome:
    """The layout's audition, for the studio's A/B switch against the recording.

    ``samples``: ``(n, 2)`` float32 at ``sample_rate``. With the "separated" signal that is the recording's own
    rate and length: the rate :class:`app.playback.Player` plays the loaded recording at
    (``LoadedAudio.audio.sample_rate``), so ``player.switch_source(ArraySource(samples, sample_rate))`` keeps
    the playhead on the same moment. With the "test" signal it is the analysis's ``sample_rate`` (the
    recording's own rate as well) for the analysis's duration, else 48 kHz for the layout's duration.
    ``signal``: what the boxes sound like; ``seconds``: the audition's length, ``n / sample_rate``.
    """

    samples: np.ndarray
    sample_rate: int
    signal: str
    seconds: float


def audition_task(
    layout: VideoLayout,
    analysis: Analysis | None,
    audio_path: str | Path | None,
    signal: str = "separated",
) -> Task:
    """A task that renders ``layout`` as spatial sound (:func:`engine.audition.spatial.audition_layout`): each
    box placed where it stands; its result is an :class:`AuditionOutcome`.

    ``signal`` "separated": each box sounds like the measured source it stands for, cut out of the recording
    at ``audio_path`` with ``analysis`` (both needed, else an InputError saying so). "test": pink-noise
    bursts, one rhythm per object; needs neither (``audio_path`` is not read). The audition is rendered in
    one piece (a few seconds for ten minutes of sound): Cancel is seen after the recording is read and after
    the rendering. It never uses the GPU, so it may run beside a render; give it a runner of its own, so that
    a new audition (after an edit) cancels the one in progress.
    """
    path = Path(audio_path) if audio_path is not None else None

    def run(state: TaskState) -> AuditionOutcome:
        from engine.audio.io import ANALYSIS_RATE, load_stereo
        from engine.audition.spatial import SIGNALS, audition_layout

        state.set_progress_value(0)
        if signal not in SIGNALS:
            raise InputError(f"audition signal {signal!r} is not known; expected one of {', '.join(SIGNALS)}")
        stereo, separated = None, None
        rate = analysis.sample_rate if analysis is not None else ANALYSIS_RATE
        if signal == "separated":
            if path is None or analysis is None:
                raise InputError("hearing the boxes as the separated sources needs the recording and its analysis; "
                                 "open the recording first, or audition with the test signal")
            state.set_status(f"Reading {path.name}…")
            stereo, rate, _source = load_stereo(path)  # its own rate: the one the Player plays it at
            state.raise_if_cancelled()
            state.set_progress_value(20)
            state.set_status("Separating the sources…")
            separated = _separated_sources(path, analysis, stereo, rate, state.is_interruption_requested)
            state.raise_if_cancelled()
            state.set_progress_value(60)
            state.set_status("Placing each box's sound…")
        else:
            state.set_status("Placing each box's test signal…")
        samples = audition_layout(layout, analysis, stereo, rate, signal=signal, separated_sources=separated)
        state.raise_if_cancelled()
        seconds = samples.shape[0] / rate
        state.set_progress_value(100)
        sounds = "the separated sources" if signal == "separated" else "the test signal"
        state.set_status(f"Audition ready: {seconds:.1f} s of {sounds}")
        return AuditionOutcome(samples=samples, sample_rate=int(rate), signal=signal, seconds=seconds)

    return run


def _separated_sources(path: Path, analysis: Analysis, stereo: np.ndarray, rate: int,
                       is_cancelled: Callable[[], bool] | None = None) -> dict[int, np.ndarray]:
    """:func:`engine.audition.separate.separate_sources` of the recording at ``path`` (read as ``stereo``), kept
    for the next audition of the same file and analysis: re-auditioning after an edit does not separate again."""
    from engine.audition.separate import separate_sources

    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, id(analysis))
    with _separated_lock:
        if key in _separated_cache:
            _separated_cache.move_to_end(key)
            return _separated_cache[key][1]
    signals = separate_sources(stereo, rate, analysis, is_cancelled)
    with _separated_lock:
        _separated_cache[key] = (analysis, signals)
        while len(_separated_cache) > SEPARATED_CACHE_SIZE:
            _separated_cache.popitem(last=False)
    return signals


# ----------------------------------------------------------------------------------- the OS keyring


def resolve_api_key(settings: PlanSettings, typed: str | None) -> str | None:
    """The key an LLM request uses: the one typed into the panel (kept in the OS keyring too when the user
    ticked "Remember"), else, with "Remember" ticked, the keyring's; None leaves it to the environment.
    Called in the plan's worker: a keyring may take a while to answer (or ask to be unlocked)."""
    if typed and typed.strip():
        if settings.remember_key and not remember_api_key(settings.provider, typed.strip()):
            log.warning("the %s key could not be kept in the OS keyring; it stays in this session only",
                        settings.provider)
        return typed.strip()
    return remembered_api_key(settings.provider) if settings.remember_key else None


def remembered_api_key(provider: str) -> str | None:
    """The key kept in the OS keyring for ``provider``, or None (also when ``keyring`` is not installed)."""
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, provider) or None
    except Exception as exc:  # no package, no backend, a locked keyring: the user types the key instead
        log.info("no key from the OS keyring for %s (%s)", provider, type(exc).__name__)
        return None


def remember_api_key(provider: str, key: str | None) -> bool:
    """Keep ``key`` in the OS keyring for ``provider`` (None or "" removes it); False when that cannot be done."""
    try:
        import keyring

        if key:
            keyring.set_password(KEYRING_SERVICE, provider, key)
        else:
            with contextlib.suppress(keyring.errors.PasswordDeleteError):
                keyring.delete_password(KEYRING_SERVICE, provider)
        return True
    except Exception as exc:  # the key itself is never logged
        log.warning("cannot use the OS keyring for %s (%s)", provider, type(exc).__name__)
        return False
