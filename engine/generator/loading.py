"""Where the generator runs and where its weights come from: device and dtype, ``from_pretrained``, errors.

Weights load with diffusers' ``from_pretrained`` from Hugging Face hub ids or local folders, safetensors only
(``use_safetensors=True``: no pickled ``.bin`` files are ever unpickled). ``local_files_only`` None follows
``HF_HUB_OFFLINE``; True never touches the network. Weights that are neither on this machine nor downloadable
raise :class:`~engine.errors.InputError` with one line naming the model and what to do: download it with
``huggingface-cli download <id>``, or pass a local folder (``--model`` / ``--motion-adapter``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from engine.errors import InputError

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-2"

_DTYPES = {
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
}
#: The names a dtype setting accepts.
DTYPE_NAMES = tuple(_DTYPES)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a torch device, checked to exist; None picks CUDA, then Apple's MPS, then the CPU."""
    if device is None or str(device).strip().lower() in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(str(device).strip().lower())
    except RuntimeError:
        raise InputError(f"device {device!r} is not a device name; expected cpu, cuda, cuda:N or mps") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: this machine has no usable CUDA GPU; use cpu (slow) or leave it out")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise InputError(f"device {device!r}: there are only {torch.cuda.device_count()} CUDA devices")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {device!r}: Apple's MPS is not available here; use cpu or leave it out")
    return chosen


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """``dtype`` as a torch dtype; None gives float16 on CUDA (half the memory, tensor cores), else float32."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or str(dtype).strip().lower() in ("", "auto"):
        return torch.float16 if device.type == "cuda" else torch.float32
    key = str(dtype).strip().lower()
    if key not in _DTYPES:
        raise InputError(f"dtype {dtype!r} is not known; expected one of {', '.join(_DTYPES)}")
    return _DTYPES[key]


def device_memory_text(device: torch.device) -> str:
    """The device and its memory in words, e.g. ``"NVIDIA H100 (79 GiB, 0.4 GiB free)"``."""
    try:
        if device.type == "cuda":
            free, total = torch.cuda.mem_get_info(device)
            return f"{torch.cuda.get_device_name(device)} ({total / 2**30:.0f} GiB, {free / 2**30:.1f} GiB free)"
        if device.type == "mps":
            return f"the Apple GPU ({torch.mps.recommended_max_memory() / 2**30:.0f} GiB usable)"
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return f"the CPU ({total / 2**30:.0f} GiB of memory)"
    except (RuntimeError, ValueError, OSError, AttributeError):
        return str(device)


def _looks_like_path(source: str) -> bool:
    # Hub ids are "owner/name"; anything else with a separator, or starting like a path, is a folder.
    return source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1 or Path(source).exists()


def _missing_weights(what: str, source: str, flag: str, exc: BaseException) -> InputError:
    reason = " ".join(str(exc).split())
    reason = reason if len(reason) <= 200 else reason[:197] + "..."
    if _looks_like_path(source):
        folder = Path(source).expanduser()
        if not folder.exists():
            return InputError(f"{what} folder {source} does not exist; pass a diffusers folder with {flag}, "
                              f"or a Hugging Face id")
        return InputError(f"{what} folder {source} cannot be loaded as a diffusers model with safetensors weights "
                          f"({reason}); pass another folder with {flag}")
    if not hub_reachable():
        return InputError(f"{what} {source!r} is not on this machine and the Hugging Face hub cannot be reached; "
                          f"download it with `huggingface-cli download {source}` where there is a network, or "
                          f"pass a local folder with {flag}")
    return InputError(f"{what} {source!r} is not on this machine and cannot be downloaded now ({reason}); "
                      f"download it with `huggingface-cli download {source}`, or pass a local folder with {flag}")


def dtype_kwargs(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """``from_pretrained``'s dtype argument: ``dtype`` where diffusers has it (it deprecates ``torch_dtype``)."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype} if hasattr(deprecation_utils, "_resolve_dtype") else {"torch_dtype": dtype}


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT`` or huggingface.co) answers a TCP connect; False offline.

    Without this, a machine with no network waits through huggingface_hub's retries (half a minute of
    warnings) before saying that the weights are missing.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def local_only(local_files_only: bool | None) -> bool | None:
    """``local_files_only`` for ``from_pretrained``: as given, else True when the hub cannot be reached."""
    if local_files_only is not None:
        return local_files_only
    return None if hub_reachable() else True


def _from_pretrained_kwargs(local_files_only: bool | None, cache_dir: str | Path | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "use_safetensors": True,
        # Without accelerate, diffusers would warn at every load that it falls back to this anyway.
        "low_cpu_mem_usage": importlib.util.find_spec("accelerate") is not None,
    }
    if local_files_only is not None:
        kwargs["local_files_only"] = bool(local_files_only)
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    return kwargs


def load_animatediff(model: str = DEFAULT_MODEL, motion_adapter: str = DEFAULT_MOTION_ADAPTER,
                     dtype: torch.dtype = torch.float32, local_files_only: bool | None = None,
                     cache_dir: str | Path | None = None) -> Any:
    """A diffusers ``AnimateDiffPipeline`` from hub ids or local folders, safetensors weights only, on the CPU.

    ``model`` is a Stable Diffusion 1.x pipeline (its UNet becomes a ``UNetMotionModel`` with the adapter's
    motion modules). Weights that are neither local nor downloadable raise InputError naming the model and
    what to do.
    """
    from transformers.utils import logging as transformers_logging

    # transformers warns about image processors this pipeline never uses (no torchvision), and both libraries
    # draw loading progress bars on the terminal; the studio reports its own progress. Keep their errors only.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    from diffusers import AnimateDiffPipeline, MotionAdapter
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()

    model, motion_adapter = str(model), str(motion_adapter)
    if not (_looks_like_path(model) and _looks_like_path(motion_adapter)):
        local_files_only = local_only(local_files_only)
    kwargs = _from_pretrained_kwargs(local_files_only, cache_dir)
    # diffusers still passes huggingface_hub an argument it has deprecated; that warning is not the user's concern.
    warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*", category=UserWarning)
    try:
        adapter = MotionAdapter.from_pretrained(_expand(motion_adapter), **dtype_kwargs(dtype), **kwargs)
    except (OSError, ValueError) as exc:
        raise _missing_weights("motion adapter", motion_adapter, "--motion-adapter", exc) from None
    try:
        pipe = AnimateDiffPipeline.from_pretrained(_expand(model), motion_adapter=adapter, **dtype_kwargs(dtype),
                                                   feature_extractor=None, image_encoder=None, **kwargs)
    except (OSError, ValueError) as exc:
        if "Incompatible Motion Adapter" in str(exc):
            raise InputError(f"motion adapter {motion_adapter!r} does not fit model {model!r} ({exc}); "
                             "use an AnimateDiff adapter for Stable Diffusion 1.5") from None
        raise _missing_weights("model", model, "--model", exc) from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _expand(source: str) -> str:
    return str(Path(source).expanduser()) if source.startswith("~") else source
