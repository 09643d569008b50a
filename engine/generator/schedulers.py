"""The samplers a render can use, by name, each with the settings its motion module was made for.

All are built from the loaded model's own scheduler config (SD 1.5 ships a PNDM config), overriding what
AnimateDiff needs: its motion modules were trained on the *linear* beta schedule, not SD's scaled-linear one.

========== ======================================================================================
name       what it is
========== ======================================================================================
ddim       DDIM, linspace timesteps: AnimateDiff's reference sampler (the default; 20-30 steps)
euler      Euler (EulerDiscreteScheduler), linspace timesteps (20-30 steps)
lcm        LCM (LCMScheduler), for AnimateLCM's motion adapter and LoRA (4-8 steps, guidance 1-2)
lightning  AnimateDiff-Lightning's few-step setting: Euler with *trailing* timesteps, no guidance
           (guidance 1.0), with a Lightning motion adapter (1, 2, 4 or 8 steps as distilled)
========== ======================================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from diffusers import DDIMScheduler, EulerDiscreteScheduler, LCMScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from engine.errors import InputError

DEFAULT_SCHEDULER = "ddim"


@dataclass(frozen=True)
class SchedulerPreset:
    """A named sampler: how to build it from a model's scheduler config, and the guidance it imposes.

    ``guidance_scale`` is not None for distilled few-step models that were trained without classifier-free
    guidance: it replaces the request's value (1.0 also halves the work, as no unconditional pass is run).
    """

    name: str
    description: str
    build: Callable[[Mapping[str, Any]], SchedulerMixin]
    guidance_scale: float | None = None
    recommended_steps: int = 25


def _ddim(config: Mapping[str, Any]) -> SchedulerMixin:
    return DDIMScheduler.from_config(config, beta_schedule="linear", clip_sample=False,
                                     timestep_spacing="linspace", steps_offset=1)


def _euler(config: Mapping[str, Any]) -> SchedulerMixin:
    return EulerDiscreteScheduler.from_config(config, beta_schedule="linear", timestep_spacing="linspace",
                                              steps_offset=1)


def _lcm(config: Mapping[str, Any]) -> SchedulerMixin:
    return LCMScheduler.from_config(config, beta_schedule="linear")


def _lightning(config: Mapping[str, Any]) -> SchedulerMixin:
    return EulerDiscreteScheduler.from_config(config, beta_schedule="linear", timestep_spacing="trailing")


SCHEDULERS: dict[str, SchedulerPreset] = {
    preset.name: preset
    for preset in (
        SchedulerPreset("ddim", "DDIM (AnimateDiff's reference sampler)", _ddim),
        SchedulerPreset("euler", "Euler discrete", _euler),
        SchedulerPreset("lcm", "LCM, for AnimateLCM", _lcm, recommended_steps=6),
        SchedulerPreset("lightning", "AnimateDiff-Lightning: Euler, trailing timesteps, no guidance", _lightning,
                        guidance_scale=1.0, recommended_steps=4),
    )
}


def scheduler_preset(name: str) -> SchedulerPreset:
    """The preset called ``name`` (case-insensitive); InputError listing the names for anything else."""
    key = str(name).strip().lower()
    if key not in SCHEDULERS:
        raise InputError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    return SCHEDULERS[key]


def make_scheduler(name: str, base_config: Mapping[str, Any]) -> tuple[SchedulerMixin, SchedulerPreset]:
    """A fresh scheduler of preset ``name`` built from ``base_config`` (the model's own scheduler config)."""
    preset = scheduler_preset(name)
    return preset.build(dict(base_config)), preset
