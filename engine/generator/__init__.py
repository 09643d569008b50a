"""The layout-grounded video diffusion generator (SD 1.5 + AnimateDiff + box grounding).

``from engine.generator import DiffusionGenerator`` is all a caller needs. The names are loaded on first
use, so importing the package does not import torch and diffusers (seconds) until a render needs them.

Modules: :mod:`~engine.generator.pipeline` (loading, the denoising loop, the generator),
:mod:`~engine.generator.prompts` (per-frame prompts and token positions), :mod:`~engine.generator.preview`
(live previews), :mod:`~engine.generator.schedulers` (samplers by name), :mod:`~engine.generator.grounding`
(attention masking by box), :mod:`~engine.generator.gligen` (GLIGEN layers in the motion UNet).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DiffusionGenerator": "engine.generator.pipeline",
    "LayoutVideoPipeline": "engine.generator.pipeline",
    "RenderSettings": "engine.generator.pipeline",
    "GeneratorMemoryError": "engine.generator.pipeline",
    "load_pipeline": "engine.generator.pipeline",
    "DEFAULT_MODEL": "engine.generator.pipeline",
    "DEFAULT_MOTION_ADAPTER": "engine.generator.pipeline",
    "SCHEDULERS": "engine.generator.schedulers",
    "FramePrompt": "engine.generator.prompts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'engine.generator' has no attribute {name!r}")
