"""Importing the generator's libraries before the studio's window opens.

Importing torch, diffusers and transformers takes seconds, and parts of it (loading their shared libraries,
registering operators) hold Python's interpreter lock for up to a fifth of a second at a time. Done by the
render worker, those stretches freeze the window mid-render. Done here, behind the start-up splash, they
cost the same seconds once, while there is nothing yet to click. Loading the models themselves is then quick
to share with the GUI (it releases the lock), so it stays in the cancellable render and load tasks.

The libraries' objects (millions of them) then live as long as the studio does, yet each full garbage
collection would walk them all — about 0.2 s with the interpreter's lock held, at a moment nobody chooses.
:func:`preload_generator_libraries` ends with ``gc.freeze()``: what exists then is left out of every later
collection, so the collections that remain walk only the studio's own, much smaller, heap.

Set ``SPA2V_PRELOAD=0`` to skip it (the studio starts faster, the first render freezes the window briefly).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: What is imported, in order, with the words shown on the splash screen.
STEPS: tuple[tuple[str, str], ...] = (
    ("torch", "Loading PyTorch…"),
    ("transformers", "Loading transformers…"),
    ("diffusers", "Loading diffusers…"),
    ("engine.generator.pipeline", "Loading the video generator…"),
)


def preload_wanted() -> bool:
    """False when ``SPA2V_PRELOAD`` turns preloading off (``0``, ``no``, ``false``, ``off``)."""
    return os.environ.get("SPA2V_PRELOAD", "1").strip().lower() not in ("0", "no", "false", "off")


def preload_generator_libraries(report: Callable[[str], None] | None = None) -> dict[str, float]:
    """Import the generator's libraries and the classes the render uses; seconds per step, by module name.

    ``report`` receives each step's words before it runs (the splash shows them). A library that is not
    installed is skipped (the render says what is missing when it is asked for); one that fails to import is
    logged and skipped, so the studio still starts.
    """
    seconds: dict[str, float] = {}
    # transformers warns on import about image processors the pipeline never uses (no torchvision); the user's
    # terminal is no place for that. Errors still show.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
        log.info("torch or diffusers is not installed: the diffusion generator is not preloaded")
        return seconds
    for module, words in STEPS:
        if report is not None:
            report(words)
        started = time.perf_counter()
        try:
            importlib.import_module(module)
            if module == "diffusers":
                _touch_diffusers()
            elif module == "transformers":
                from transformers import CLIPTextModel, CLIPTokenizer  # noqa: F401
        except Exception:
            log.exception("preloading %s failed; the render will report the problem if it needs it", module)
            continue
        seconds[module] = time.perf_counter() - started
    freeze_heap()
    log.info("preloaded the generator libraries in %.1f s", sum(seconds.values()))
    return seconds


def _touch_diffusers() -> None:
    """diffusers imports its classes lazily, on first use: import what loading and running the pipeline use
    (the pipeline classes, every scheduler a pipeline's config names as compatible, the guiders, callbacks)."""
    import diffusers
    from diffusers.schedulers import KarrasDiffusionSchedulers

    for name in ("AnimateDiffPipeline", "MotionAdapter", "StableDiffusionPipeline", "DDIMScheduler",
                 "EulerDiscreteScheduler", "LCMScheduler", "PNDMScheduler"):
        getattr(diffusers, name)
    for scheduler in KarrasDiffusionSchedulers:
        getattr(diffusers, scheduler.name, None)
    for module in ("diffusers.guiders", "diffusers.callbacks", "av.subtitles.stream"):
        importlib.import_module(module)


def freeze_heap() -> None:
    """Collect once, then leave every object alive now out of later garbage collections (``gc.freeze``)."""
    gc.collect()
    gc.freeze()
