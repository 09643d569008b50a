"""The layout-grounded video generator: SD 1.5 + an AnimateDiff motion module, steered by the layout's boxes.

:class:`DiffusionGenerator` is the "diffusion" generator of :mod:`engine.render.base`: a
:class:`~engine.render.base.RenderRequest` in, ``(T, H, W, 3)`` uint8 frames out, a preview at every step,
cancellable between steps. It loads its models on first use (:func:`load_pipeline`) and renders with
:class:`LayoutVideoPipeline`, which reads top to bottom like a diffusers pipeline but runs its own loop over
diffusers' components, because a layout needs what ``AnimateDiffPipeline.__call__`` does not give:

1. **Prompts per frame** (the paper's "Mix", :mod:`engine.generator.prompts`): the keyframe caption at
   keyframe frames, the video caption elsewhere, each followed by the names of the objects in that frame.
   Each distinct prompt is encoded once; frame t gets its own ``(77, dim)`` embedding. The installed
   ``UNetMotionModel`` takes one text embedding per *frame*, ``(B·T, 77, dim)`` (``AnimateDiffPipeline`` repeats
   its single prompt ``num_frames`` times before calling it; UNets before FreeNoise repeated one per video
   inside ``forward``, which :func:`takes_text_per_frame` refuses). With guidance the batch is
   ``[negative × T, frame 0 … frame T−1]``, the order the UNet folds ``(2, C, T, h, w)`` latents into its
   ``2·T`` image rows, so row ``T + t`` is frame t under its own prompt.
2. **Grounding** (:mod:`engine.generator.grounding`): attention processors that keep each object's words in
   its box, installed for the render and removed after; active during the first ``grounding_fraction`` of
   the steps (``set_step`` at each step).
3. **Long clips**: more frames than the motion module's window (16) use diffusers' FreeNoise: the motion
   modules' transformer blocks are swapped for ``FreeNoiseTransformerBlock`` (temporal attention over
   windows of 16 frames every 4 frames, blended with pyramid weights) and the initial noise is the first
   window's noise shuffled window by window (``AnimateDiffPipeline.prepare_latents``). Both happen below the
   loop, so the loop itself is the same for 16 and 80 frames; spatial layers and grounding see all frames.
4. **Live previews** (:mod:`engine.generator.preview`) of the predicted clean latents, **cancel** checked at
   every step (raising :class:`~engine.errors.Cancelled` before the VAE decode), the **VAE decode in chunks**
   of frames, and a clear message when the GPU runs out of memory.

Render options (``RenderRequest.options``; unknown keys are left to other generators):

============================= ==================================================================================
``scheduler``                 ``ddim`` (the default when loading), ``euler``, ``lcm``, ``lightning`` (see
                              :mod:`engine.generator.schedulers`); unset keeps the pipeline's current one
``grounding``                 ``hard`` (default), ``soft`` or ``off``
``grounding_strength``        soft mode's logit boost inside / damping outside (default 1.0)
``grounding_fraction``        fraction of the steps during which grounding acts (default 0.4)
``grounding_self_attention``  also keep objects from attending to each other's boxes (default false)
``decode_chunk``              frames per VAE decode call (default 8; lower it when memory is short)
``preview``                   ``auto`` (TAESD when on this machine, else linear), ``linear``, ``taesd``, ``off``
``compile``                   ``true`` or a ``torch.compile`` mode: compile the UNet (first render slower)
``context_length``            FreeNoise window for clips longer than it (default 16)
``context_stride``            FreeNoise window step (default 4)
``device``, ``dtype``         where and in what precision to run (default: cuda > mps > cpu; fp16 on CUDA)
``model``, ``motion_adapter`` hub ids or local folders (override the generator's own)
============================= ==================================================================================
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import Cancelled, InputError
from engine.generator import prompts as prompting
from engine.generator.gligen import (
    DEFAULT_GLIGEN_STEP_FRACTION,
    build_gligen_inputs,
    gligen_cross_attention_kwargs,
    graft_gligen,
    load_gligen_unet,
    pooled_phrase_embedder,
)
from engine.generator.grounding import Grounding, GroundingConfig
from engine.generator.loading import (
    DEFAULT_MODEL,
    DEFAULT_MOTION_ADAPTER,
    DTYPE_NAMES,
    device_memory_text,
    load_animatediff,
    local_only,
    pick_device,
    pick_dtype,
)
from engine.generator.preview import (
    LatentRGB,
    LinearPreview,
    TaesdPreview,
    fit_latent_rgb,
    load_local_taesd,
    rgb_to_uint8,
)
from engine.generator.prompts import FramePrompt
from engine.generator.schedulers import (
    DEFAULT_SCHEDULER,
    SCHEDULERS,
    SchedulerPreset,
    make_scheduler,
    scheduler_preset,
)
from engine.render.base import CancelFn, PreviewFn, ProgressFn, RenderRequest

log = logging.getLogger(__name__)

DEFAULT_DECODE_CHUNK = 8
#: AnimateDiff's motion modules were trained on 16-frame clips: longer clips go through FreeNoise windows.
DEFAULT_CONTEXT_LENGTH = 16
DEFAULT_CONTEXT_STRIDE = 4
#: torch.compile mode for ``compile=true``: autotuned kernels without CUDA graphs (grounding swaps processors
#: and FreeNoise swaps blocks, which CUDA graphs would have to re-record).
DEFAULT_COMPILE_MODE = "max-autotune-no-cudagraphs"
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
GROUNDING_MODES = ("hard", "soft", "off")
PREVIEW_MODES = ("auto", "linear", "taesd", "off")
#: Share of the progress bar given to the denoising steps; the VAE decode takes the rest.
STEPS_SHARE = 0.9

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", "", "none"}


class GeneratorMemoryError(InputError):
    """The render does not fit in the device's memory; the message says what to lower."""


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class RenderSettings:
    """The diffusion generator's settings, read from ``RenderRequest.options`` (see the module docstring)."""

    #: None keeps the pipeline's current scheduler (``load_pipeline`` starts with ``ddim``).
    scheduler: str | None = None
    grounding: str = "hard"
    grounding_strength: float = 1.0
    grounding_fraction: float = 0.4
    grounding_self_attention: bool = False
    decode_chunk: int = DEFAULT_DECODE_CHUNK
    preview: str = "auto"
    compile: str | None = None
    context_length: int = DEFAULT_CONTEXT_LENGTH
    context_stride: int = DEFAULT_CONTEXT_STRIDE
    device: str | None = None
    dtype: str | None = None
    model: str | None = None
    motion_adapter: str | None = None
    #: GLIGEN text-box weights (hub id or folder) grafted into the motion UNet for stronger grounding;
    #: None renders without them. Active during the first ``gligen_fraction`` of the steps.
    gligen: str | None = None
    gligen_fraction: float = DEFAULT_GLIGEN_STEP_FRACTION

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> RenderSettings:
        """Validated settings; InputError naming the option and what it accepts for a bad value."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        given = {key: value for key, value in options.items() if key in known and value is not None}
        values: dict[str, Any] = {}
        for key, value in given.items():
            values[key] = _parse_option(key, value)
        settings = cls(**values)
        if settings.context_stride > settings.context_length:
            raise InputError(f"render option context_stride: {settings.context_stride} is longer than the window "
                             f"(context_length {settings.context_length}); expected a stride up to the window")
        return settings

    def grounding_config(self) -> GroundingConfig:
        """The :class:`~engine.generator.grounding.GroundingConfig` of these settings."""
        return GroundingConfig(mode=self.grounding, strength=self.grounding_strength,
                               step_fraction=self.grounding_fraction, self_attention=self.grounding_self_attention)


def _parse_option(key: str, value: Any) -> Any:
    def bad(expected: str) -> InputError:
        return InputError(f"render option {key}: {value!r} is not usable; expected {expected}")

    def choice(choices: Sequence[str]) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise bad("one of " + ", ".join(choices))
        return text

    def number(low: float, high: float = math.inf) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad(f"a number in [{low:g}, {high:g}]") from None
        if isinstance(value, bool) or not low <= number <= high:
            raise bad(f"a number in [{low:g}, {high:g}]")
        return number

    def integer(low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise bad(f"a whole number of at least {low}")
        try:
            number = int(value)
        except ValueError:
            raise bad(f"a whole number of at least {low}") from None
        if number < low:
            raise bad(f"a whole number of at least {low}")
        return number

    def flag() -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise bad("true or false")

    if key == "scheduler":
        return scheduler_preset(str(value)).name
    if key == "grounding":
        return choice(GROUNDING_MODES)
    if key == "grounding_strength":
        return number(0.0, 100.0)
    if key == "grounding_fraction":
        return number(0.0, 1.0)
    if key == "grounding_self_attention":
        return flag()
    if key == "decode_chunk":
        return integer(1)
    if key == "preview":
        return choice(PREVIEW_MODES)
    if key == "compile":
        if isinstance(value, bool) or str(value).strip().lower() in _TRUE | _FALSE:
            return DEFAULT_COMPILE_MODE if flag() else None
        return choice(COMPILE_MODES)
    if key == "context_length":
        return integer(2)
    if key == "context_stride":
        return integer(1)
    if key == "dtype":
        return choice(DTYPE_NAMES)
    if key == "gligen_fraction":
        return number(0.0, 1.0)
    return str(value)  # device, model, motion_adapter, gligen: checked where they are used


# -------------------------------------------------------------------------------------------- loading


def load_pipeline(model: str = DEFAULT_MODEL, motion_adapter: str = DEFAULT_MOTION_ADAPTER,
                  device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
                  scheduler: str = DEFAULT_SCHEDULER, local_files_only: bool | None = None, *,
                  preview: str = "auto", cache_dir: str | Path | None = None) -> LayoutVideoPipeline:
    """Load SD 1.5 + an AnimateDiff motion adapter (hub ids or local folders) into a :class:`LayoutVideoPipeline`.

    ``device`` None picks cuda > mps > cpu; ``dtype`` None is float16 on CUDA, float32 elsewhere.
    ``local_files_only`` None follows ``HF_HUB_OFFLINE``; True never touches the network. ``preview`` "auto"
    or "taesd" also loads TAESD for previews when it is on this machine. Missing weights raise InputError.
    """
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(torch_device, dtype)
    scheduler_preset(scheduler)  # a bad name fails before minutes of loading
    pipe = load_animatediff(model, motion_adapter, torch_dtype, local_files_only, cache_dir)
    taesd = load_local_taesd(torch_device, torch_dtype) if preview in ("auto", "taesd") else None
    return LayoutVideoPipeline(pipe, device=torch_device, dtype=torch_dtype, scheduler=scheduler, taesd=taesd)


# ------------------------------------------------------------------------------------------- pipeline


def _moved(module: Any, device: torch.device, dtype: torch.dtype) -> Any:
    # Only cast what differs: diffusers warns at every ``to(dtype=...)``, even a no-op one.
    dtypes = {c.dtype for c in _torch_modules(module)}
    return module.to(device=device) if dtypes <= {dtype} else module.to(device=device, dtype=dtype)


def _torch_modules(module: Any) -> list[Any]:
    if isinstance(module, torch.nn.Module):
        return [module]
    return [c for c in getattr(module, "components", {}).values() if isinstance(c, torch.nn.Module)]


def takes_text_per_frame(unet: Any) -> bool:
    """True when ``unet`` takes one text embedding per frame (``(B·T, 77, dim)``), as diffusers' motion UNet
    has since FreeNoise came (0.30); older ones repeated a per-video embedding over the frames inside ``forward``.
    """
    try:
        source = inspect.getsource(type(unet).forward)
    except (OSError, TypeError):
        return True  # no source to read (a frozen install): trust the requirement in pyproject.toml
    return "encoder_hidden_states.repeat_interleave" not in source


def _diffusers_version() -> str:
    import diffusers

    return str(getattr(diffusers, "__version__", "unknown"))


def release_memory(device: torch.device) -> None:
    """Collect garbage, then give the device's cached, unused memory back (CUDA, MPS)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def _report(progress: ProgressFn | None, fraction: float) -> None:
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)))


def _check_cancelled(is_cancelled: CancelFn | None) -> None:
    if is_cancelled is not None and is_cancelled():
        raise Cancelled("render cancelled")


def predicted_clean_latents(scheduler: Any, output: Any, noise_pred: torch.Tensor, latents: torch.Tensor,
                            timestep: torch.Tensor) -> torch.Tensor:
    """The step's estimate of the final latents x̂₀ (not the noisy latents), for previews.

    Taken from the scheduler's output when it gives one (DDIM, Euler: ``pred_original_sample``; LCM:
    ``denoised``); otherwise computed from the model output and the noisy latents ``latents`` of this step
    with the scheduler's ᾱ_t: x̂₀ = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t for ε-prediction, √ᾱ_t·x_t − √(1−ᾱ_t)·v for v.
    """
    for name in ("pred_original_sample", "denoised"):
        estimate = getattr(output, name, None)
        if estimate is not None:
            return estimate
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is None:
        return latents  # nothing better is known for this scheduler
    index = int(timestep.item() if isinstance(timestep, torch.Tensor) else timestep)
    alpha = alphas[min(max(index, 0), len(alphas) - 1)].to(device=latents.device, dtype=torch.float32)
    x_t, model_output = latents.float(), noise_pred.float()
    kind = getattr(scheduler.config, "prediction_type", "epsilon")
    if kind == "v_prediction":
        clean = alpha.sqrt() * x_t - (1 - alpha).sqrt() * model_output
    elif kind == "sample":
        clean = model_output
    else:
        clean = (x_t - (1 - alpha).sqrt() * model_output) / alpha.sqrt()
    return clean.to(latents.dtype)


class LayoutVideoPipeline:
    """SD 1.5 + AnimateDiff components run by this module's own denoising loop (see the module docstring).

    ``pipe`` is a diffusers ``AnimateDiffPipeline`` (its components, prompt-free helpers and FreeNoise are
    used; its ``__call__`` is not). The pipeline is moved to ``device`` (None: cuda > mps > cpu) and ``dtype``
    (None: float16 on CUDA, else float32). ``taesd`` is an optional ``AutoencoderTiny`` for previews. The
    linear preview's latent → RGB fit is made here, once per VAE. One render runs at a time.
    """

    def __init__(self, pipe: Any, *, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
                 scheduler: str = DEFAULT_SCHEDULER, taesd: Any | None = None) -> None:
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self.pipe = _moved(pipe, self.device, self.dtype)
        self.pipe.set_progress_bar_config(disable=True)
        adapter = getattr(self.pipe, "motion_adapter", None)
        if adapter is not None and self.device.type != "cpu":
            # Its weights were copied into the UNet's motion modules; only its config is read after that,
            # so it need not hold ~0.9 GB of GPU memory.
            adapter.to("cpu")
        self.taesd = None if taesd is None else _moved(taesd, self.device, self.dtype).eval()
        if not takes_text_per_frame(self.pipe.unet):
            raise InputError(f"this diffusers ({_diffusers_version()}) repeats one prompt over all frames inside "
                             "UNetMotionModel, so frames cannot have their own prompts; install diffusers >= 0.35")
        self._base_scheduler_config = dict(pipe.scheduler.config)
        self.scheduler_name = ""
        self.set_scheduler(scheduler)
        self.latent_rgb: LatentRGB = fit_latent_rgb(self.pipe.vae)
        self.compile_mode: str | None = None
        self._free_noise: tuple[int, int] | None = None
        self.gligen_source: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_components(cls, *, vae: Any, text_encoder: Any, tokenizer: Any, unet: Any, motion_adapter: Any,
                        scheduler: Any, device: str | torch.device | None = None,
                        dtype: str | torch.dtype | None = None, scheduler_name: str = DEFAULT_SCHEDULER,
                        taesd: Any | None = None) -> LayoutVideoPipeline:
        """A pipeline from already-built components (a ``UNet2DConditionModel`` or ``UNetMotionModel``)."""
        from diffusers import AnimateDiffPipeline

        pipe = AnimateDiffPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   motion_adapter=motion_adapter, scheduler=scheduler)
        return cls(pipe, device=device, dtype=dtype, scheduler=scheduler_name, taesd=taesd)

    # ------------------------------------------------------------------ components

    @property
    def unet(self) -> Any:
        return self.pipe.unet

    @property
    def vae(self) -> Any:
        return self.pipe.vae

    @property
    def tokenizer(self) -> Any:
        return self.pipe.tokenizer

    @property
    def text_encoder(self) -> Any:
        return self.pipe.text_encoder

    @property
    def vae_scale_factor(self) -> int:
        return int(self.pipe.vae_scale_factor)

    @property
    def motion_window(self) -> int:
        """The longest clip the motion modules take in one window (the adapter's ``motion_max_seq_length``)."""
        return int(self.unet.config.motion_max_seq_length)

    def set_scheduler(self, scheduler: str | Any) -> SchedulerPreset | None:
        """Use the preset named ``scheduler`` (built from the model's own config) or a scheduler object."""
        if not isinstance(scheduler, str):
            self.pipe.scheduler = scheduler
            self.scheduler_name = type(scheduler).__name__
            return None
        instance, preset = make_scheduler(scheduler, self._base_scheduler_config)
        self.pipe.scheduler = instance
        self.scheduler_name = preset.name
        return preset

    def compile(self, mode: str = DEFAULT_COMPILE_MODE) -> None:
        """``torch.compile`` the UNet in place (the first render afterwards pays the compilation)."""
        if self.compile_mode == mode:
            return
        self.unet.compile(mode=mode, dynamic=False)
        self.compile_mode = mode

    # ------------------------------------------------------------------ 1. prompts

    def frame_prompts(self, request: RenderRequest) -> list[FramePrompt]:
        """Each frame's prompt (the paper's Mix) with its objects' token positions and normalised boxes."""
        layout = request.layout
        duration, last = float(layout.duration_s), request.n_frames - 1
        # Fractional frame positions: they round to request.keyframe_frames() and break its ties by distance.
        positions = [k.time_s / duration * last if duration > 0 and last > 0 else 0.0 for k in layout.keyframes]
        captions = prompting.frame_caption_kinds(request.n_frames, positions, [k.caption for k in layout.keyframes],
                                                 layout.video_caption)
        return prompting.frame_prompts(self.tokenizer, captions, request.frame_boxes(), request.size,
                                       request.prompt_suffix)

    @torch.inference_mode()
    def encode_prompts(self, texts: Sequence[str]) -> torch.Tensor:
        """``(len(texts), 77, dim)`` CLIP embeddings; each distinct text is encoded once."""
        unique = list(dict.fromkeys(texts))
        tokens = self.tokenizer(unique, padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        mask = None
        if getattr(self.text_encoder.config, "use_attention_mask", False):
            mask = tokens.attention_mask.to(self.device)
        embeddings = self.text_encoder(tokens.input_ids.to(self.device), attention_mask=mask)[0]
        position = {text: i for i, text in enumerate(unique)}
        order = torch.tensor([position[text] for text in texts], device=embeddings.device)
        return embeddings.index_select(0, order).to(self.dtype)

    def enable_gligen(self, id_or_path: str, local_files_only: bool | None = None) -> None:
        """Graft GLIGEN's gated self-attention layers (text-box weights) into the motion UNet, once per source.

        The fusers stay in the UNet afterwards but act only in steps that are given GLIGEN inputs, so a render
        without ``gligen`` is unchanged. Raises InputError when the weights are not on this machine.
        """
        if self.gligen_source == id_or_path:
            return
        gligen_unet = load_gligen_unet(id_or_path, torch_dtype=self.dtype, device="cpu",
                                       local_files_only=local_only(local_files_only))
        graft_gligen(self.unet, gligen_unet)
        del gligen_unet
        self.gligen_source = id_or_path

    def _gligen_kwargs(self, frame_prompts: Sequence[FramePrompt], cfg: bool) -> dict[str, Any] | None:
        """The UNet's ``cross_attention_kwargs`` that feed every frame's boxes and phrases to GLIGEN."""
        frames = [[(prompting.object_phrase(o.name)[0], o.box) for o in p.objects] for p in frame_prompts]
        if not any(frames):
            return None
        embed = pooled_phrase_embedder(self.tokenizer, self.text_encoder)
        inputs = build_gligen_inputs(frames, embed, cfg=cfg, device=self.device, dtype=self.dtype)
        return gligen_cross_attention_kwargs(self.unet, inputs)

    # ------------------------------------------------------------------ 2. latents

    def prepare_latents(self, n_frames: int, height: int, width: int, seed: int) -> torch.Tensor:
        """Initial noise ``(1, 4, T, H/8, W/8)`` scaled for the current scheduler, from a CPU generator.

        The CPU generator makes a seed give the same noise on every device. With FreeNoise enabled
        (:meth:`configure_free_noise`), diffusers builds it from the first window's noise, shuffled.
        """
        generator = torch.Generator("cpu").manual_seed(int(seed))
        return self.pipe.prepare_latents(1, int(self.unet.config.in_channels), n_frames, height, width, self.dtype,
                                         self.device, generator)

    def configure_free_noise(self, n_frames: int, context_length: int = DEFAULT_CONTEXT_LENGTH,
                             context_stride: int = DEFAULT_CONTEXT_STRIDE) -> bool:
        """Turn FreeNoise on for clips longer than ``context_length`` frames, off otherwise; True when on."""
        wanted = (context_length, context_stride) if n_frames > context_length else None
        if wanted == self._free_noise:
            return wanted is not None
        if wanted is not None:
            if context_length > self.motion_window:
                raise InputError(f"render option context_length: {context_length} frames is longer than the motion "
                                 f"module's {self.motion_window}-frame window; use at most {self.motion_window}")
            self.pipe.enable_free_noise(context_length=context_length, context_stride=context_stride)
        else:
            self._disable_free_noise()
        self._free_noise = wanted
        return wanted is not None

    def _disable_free_noise(self) -> None:
        # AnimateDiffPipeline.disable_free_noise also visits a mid block without motion modules (adapters
        # without one, such as v1.5-3) and fails there; restore only the blocks that have them.
        unet = self.unet
        for block in (*unet.down_blocks, unet.mid_block, *unet.up_blocks):
            if getattr(block, "motion_modules", None) is not None:
                self.pipe._disable_free_noise_in_block(block)
        self.pipe._free_noise_context_length = None

    # ------------------------------------------------------------------ 3. denoising

    def generate(self, frame_prompts: Sequence[FramePrompt], *, height: int, width: int, steps: int = 25,
                 guidance_scale: float = 7.5, negative_prompt: str = "", seed: int = 0,
                 settings: RenderSettings | None = None, progress: ProgressFn | None = None,
                 preview: PreviewFn | None = None, is_cancelled: CancelFn | None = None) -> np.ndarray:
        """Frames ``(T, height, width, 3)`` uint8 for one prompt (and its grounded objects) per frame.

        ``preview(step_index, frames)`` is called once per step with small uint8 frames of the predicted
        clean video; ``progress(fraction)`` after each step and decode chunk; ``is_cancelled()`` is checked
        at every step (and between decode chunks) and raises Cancelled. Running out of GPU memory raises
        :class:`GeneratorMemoryError` saying what to lower.
        """
        settings = settings or RenderSettings()
        if not frame_prompts:
            raise InputError("nothing to render: no frames")
        factor = self.vae_scale_factor
        if height % factor or width % factor or height < factor or width < factor:
            raise InputError(f"render size {width}x{height}: width and height must be multiples of {factor}")
        with self._lock:
            try:
                with torch.inference_mode():
                    return self._generate(frame_prompts, height, width, steps, guidance_scale, negative_prompt,
                                          seed, settings, progress, preview, is_cancelled)
            except torch.cuda.OutOfMemoryError:
                pass
            except RuntimeError as exc:  # MPS and some CUDA paths say it in a RuntimeError
                if "out of memory" not in str(exc).lower():
                    raise
            # Outside the except block, so that the traceback's frames (and their tensors) are released.
            self.release_memory()
            raise GeneratorMemoryError(
                f"out of memory on {device_memory_text(self.device)} rendering {len(frame_prompts)} frames at "
                f"{width}x{height}: lower --size or --frames, or decode fewer frames at once (decode_chunk, now "
                f"{settings.decode_chunk}); close other programs that use the GPU") from None

    def _generate(self, frame_prompts: Sequence[FramePrompt], height: int, width: int, steps: int,
                  guidance_scale: float, negative_prompt: str, seed: int, settings: RenderSettings,
                  progress: ProgressFn | None, preview: PreviewFn | None,
                  is_cancelled: CancelFn | None) -> np.ndarray:
        n_frames = len(frame_prompts)
        _check_cancelled(is_cancelled)
        if settings.compile:
            self.compile(settings.compile)
        if settings.scheduler and settings.scheduler != self.scheduler_name:
            self.set_scheduler(settings.scheduler)
        preset = SCHEDULERS.get(self.scheduler_name)
        if preset is not None and preset.guidance_scale is not None:
            guidance_scale = preset.guidance_scale
        cfg = guidance_scale > 1.0

        # 1. Text: one embedding per frame; with guidance [negative × T, frame 0 … T−1] (see module docstring).
        embeddings = self.encode_prompts([p.text for p in frame_prompts])
        if cfg:
            negative = self.encode_prompts([negative_prompt]).expand(n_frames, -1, -1)
            embeddings = torch.cat([negative, embeddings])

        # 2. Timesteps and noise (FreeNoise changes the motion modules and the noise for long clips).
        self.configure_free_noise(n_frames, settings.context_length, settings.context_stride)
        scheduler = self.pipe.scheduler
        scheduler.set_timesteps(steps, device=self.device)
        timesteps = scheduler.timesteps
        latents = self.prepare_latents(n_frames, height, width, seed)
        step_kwargs = self._step_kwargs(scheduler, torch.Generator("cpu").manual_seed(int(seed) + 1))
        to_rgb = self._previewer(settings.preview) if preview is not None else None
        latent_hw = (height // self.vae_scale_factor, width // self.vae_scale_factor)
        gligen_kwargs = None
        if settings.gligen:
            self.enable_gligen(settings.gligen)
            gligen_kwargs = self._gligen_kwargs(frame_prompts, cfg)
        gligen_steps = settings.gligen_fraction * len(timesteps)

        # 3. Denoise, grounded during the first steps.
        with contextlib.ExitStack() as stack:
            grounding = self._install_grounding(settings, frame_prompts, latent_hw, cfg, stack)
            for i, t in enumerate(timesteps):
                _check_cancelled(is_cancelled)
                if grounding is not None:
                    grounding.set_step(i, len(timesteps))
                model_input = torch.cat([latents, latents]) if cfg else latents
                model_input = scheduler.scale_model_input(model_input, t)
                extra = {"cross_attention_kwargs": gligen_kwargs} if gligen_kwargs and i < gligen_steps else {}
                noise_pred = self.unet(model_input, t, encoder_hidden_states=embeddings, **extra).sample
                if cfg:
                    noise_uncond, noise_cond = noise_pred.chunk(2)
                    noise_pred = noise_uncond + guidance_scale * (noise_cond - noise_uncond)
                output = scheduler.step(noise_pred, t, latents, **step_kwargs)
                # x̂₀ needs this step's noisy latents when the scheduler does not give it: take it before moving on.
                clean = predicted_clean_latents(scheduler, output, noise_pred, latents, t) if to_rgb else None
                latents = output.prev_sample
                _check_cancelled(is_cancelled)
                if to_rgb is not None and clean is not None and preview is not None:
                    preview(i, to_rgb(clean))
                _report(progress, STEPS_SHARE * (i + 1) / len(timesteps))

        # 4. Decode (never reached when cancelled).
        _check_cancelled(is_cancelled)
        return self.decode(latents, settings.decode_chunk, progress, is_cancelled)

    def _install_grounding(self, settings: RenderSettings, frame_prompts: Sequence[FramePrompt],
                           latent_hw: tuple[int, int], cfg: bool, stack: contextlib.ExitStack) -> Grounding | None:
        regions = [p.regions() for p in frame_prompts]
        if settings.grounding == "off" or not any(regions):
            return None
        grounding = Grounding(self.unet, settings.grounding_config(), regions, latent_hw, len(frame_prompts), cfg)
        stack.callback(grounding.remove)
        return grounding

    @staticmethod
    def _step_kwargs(scheduler: Any, generator: torch.Generator) -> dict[str, Any]:
        accepted = inspect.signature(scheduler.step).parameters
        kwargs: dict[str, Any] = {}
        if "eta" in accepted:
            kwargs["eta"] = 0.0
        if "generator" in accepted:
            kwargs["generator"] = generator
        return kwargs

    def _previewer(self, mode: str) -> Callable[[torch.Tensor], np.ndarray] | None:
        if mode == "off":
            return None
        if mode == "taesd" and self.taesd is None:
            raise InputError("preview taesd: TAESD is not on this machine; download it with "
                             "`huggingface-cli download madebyollin/taesd`, or use preview linear")
        if mode in ("taesd", "auto") and self.taesd is not None:
            return TaesdPreview(self.taesd)
        return LinearPreview(self.latent_rgb, self.device)

    # ------------------------------------------------------------------ 4. decoding

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, chunk: int = DEFAULT_DECODE_CHUNK, progress: ProgressFn | None = None,
               is_cancelled: CancelFn | None = None) -> np.ndarray:
        """``(1, C, T, h, w)`` latents → ``(T, H, W, 3)`` uint8, decoding ``chunk`` frames per VAE call."""
        vae = self.vae
        frames = latents[0].permute(1, 0, 2, 3) / float(vae.config.scaling_factor)  # (T, C, h, w)
        shift = getattr(vae.config, "shift_factor", None)
        if shift:
            frames = frames + float(shift)
        n_frames = frames.shape[0]
        out: np.ndarray | None = None
        for start in range(0, n_frames, max(1, int(chunk))):
            _check_cancelled(is_cancelled)
            images = vae.decode(frames[start:start + chunk].to(vae.dtype)).sample  # (n, 3, H, W) in [-1, 1]
            pixels = rgb_to_uint8(images.permute(0, 2, 3, 1))
            if out is None:
                out = np.empty((n_frames, *pixels.shape[1:]), dtype=np.uint8)
            out[start:start + len(pixels)] = pixels
            _report(progress, STEPS_SHARE + (1 - STEPS_SHARE) * min(n_frames, start + chunk) / n_frames)
        assert out is not None
        return out

    def release_memory(self) -> None:
        """Return cached GPU memory to the device (after an out-of-memory error, or when done rendering)."""
        release_memory(self.device)

    # ------------------------------------------------------------------ the request

    def render(self, request: RenderRequest, progress: ProgressFn | None = None, preview: PreviewFn | None = None,
               is_cancelled: CancelFn | None = None, settings: RenderSettings | None = None) -> np.ndarray:
        """``(n_frames, height, width, 3)`` uint8 frames for ``request`` (settings from its options by default)."""
        settings = settings or RenderSettings.from_options(request.options)
        return self.generate(self.frame_prompts(request), height=request.height, width=request.width,
                             steps=request.steps, guidance_scale=request.guidance_scale,
                             negative_prompt=request.negative_prompt, seed=request.seed, settings=settings,
                             progress=progress, preview=preview, is_cancelled=is_cancelled)


# ------------------------------------------------------------------------------------------ generator


class DiffusionGenerator:
    """The layout-grounded diffusion generator of :mod:`engine.render.base` (``name = "diffusion"``).

    Give it a ready :class:`LayoutVideoPipeline` (tests, benchmarks; the ``model``, ``motion_adapter``,
    ``device`` and ``dtype`` options are then ignored), or model ids / folders to load on the first render, in
    the render thread: ``model`` (SD 1.5) and ``motion_adapter`` (AnimateDiff), overridable per request by the
    options of the same names; the ``device`` / ``dtype`` options pick where. A change of any of the four
    reloads the models.
    """

    name = "diffusion"

    def __init__(self, pipeline: LayoutVideoPipeline | None = None, *, model: str = DEFAULT_MODEL,
                 motion_adapter: str = DEFAULT_MOTION_ADAPTER, local_files_only: bool | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.model = model
        self.motion_adapter = motion_adapter
        self.local_files_only = local_files_only
        self.cache_dir = cache_dir
        self._pipeline = pipeline
        self._loaded_from: tuple[str, str, str, str] | None = None
        self._lock = threading.Lock()

    @property
    def pipeline(self) -> LayoutVideoPipeline | None:
        """The loaded pipeline, or None before the first render."""
        return self._pipeline

    def pipeline_for(self, settings: RenderSettings) -> LayoutVideoPipeline:
        """The pipeline for ``settings``: loaded on first use, reloaded when model, adapter, device or dtype change."""
        with self._lock:
            model = settings.model or self.model
            adapter = settings.motion_adapter or self.motion_adapter
            device = pick_device(settings.device) if settings.device else None
            current = self._pipeline
            if current is not None and self._loaded_from is None:  # given ready-made: keep it as it is
                return current
            device = device or (current.device if current is not None else pick_device(None))
            dtype = pick_dtype(device, settings.dtype)
            key = (model, adapter, str(device), str(dtype))
            if current is None or key != self._loaded_from:
                if current is not None:  # let the old models go before the new ones take the memory
                    old_device = current.device
                    self._pipeline = current = None
                    release_memory(old_device)
                started = time.perf_counter()
                with contextlib.suppress(torch.cuda.OutOfMemoryError):  # handled below, as in generate()
                    self._pipeline = load_pipeline(model, adapter, device, dtype,
                                                   settings.scheduler or DEFAULT_SCHEDULER, self.local_files_only,
                                                   preview=settings.preview, cache_dir=self.cache_dir)
                if self._pipeline is None:
                    release_memory(device)
                    raise GeneratorMemoryError(f"out of memory loading {model} + {adapter} on "
                                               f"{device_memory_text(device)}; close other programs that use the "
                                               "GPU, or use --device cpu (slow)") from None
                self._loaded_from = key
                log.info("loaded %s + %s on %s (%s) in %.1f s", model, adapter, device, dtype,
                         time.perf_counter() - started)
            return self._pipeline

    def render(self, request: RenderRequest, progress: ProgressFn | None = None, preview: PreviewFn | None = None,
               is_cancelled: CancelFn | None = None) -> np.ndarray:
        """``(n_frames, height, width, 3)`` uint8 RGB; Cancelled when cancelled, InputError for what cannot be
        served (missing weights, bad options, out of memory) with what to change."""
        settings = RenderSettings.from_options(request.options)
        _check_cancelled(is_cancelled)
        pipeline = self.pipeline_for(settings)
        return pipeline.render(request, progress, preview, is_cancelled, settings=settings)
