"""The planner and render panels' forms to a project's sections and back."""

from __future__ import annotations

import pytest

from app.project_settings import plan_settings, planner_options, render_form, render_options
from engine.project import PlannerOptions, RenderOptions
from ui.planner_panel import PlanSettings
from ui.render_panel import RenderSettingsForm


def test_planner_settings_go_to_the_project_and_come_back_the_same() -> None:
    shown = PlanSettings(planner="llm", labels=" car@left,violin , ", keyframes=6, provider="vllm",
                         model="Qwen2-Audio", base_url="http://127.0.0.1:8000/v1", k_examples=1, temperature=0.2,
                         include_cues=False, remember_key=True)
    options = planner_options(shown)
    assert options.labels == ("car@left", "violin") and options.provider == "vllm" and options.k == 1
    back = plan_settings(options, remember_key=True)
    assert back == PlanSettings(**{**shown.to_dict(), "labels": "car@left, violin"})
    # The OpenAI preset is the project's default provider (None), which follows OPENAI_BASE_URL like the panel.
    assert planner_options(PlanSettings()).provider is None and planner_options(PlanSettings()).model is None
    assert plan_settings(PlannerOptions()).provider == "openai"


def test_render_settings_go_to_the_project_and_come_back_the_same() -> None:
    shown = RenderSettingsForm(generator="diffusion", model="/models/sd15", motion_adapter="guoyww/adapter", steps=9,
                               guidance=5.0, seed=4, fps=10.0, frames=0, width=384, height=240, grounding="soft",
                               grounding_strength=3.0, scheduler="lcm", device="cpu")
    base = RenderOptions(grounding_steps=0.7)
    options = render_options(shown, base)
    assert options.frames is None and options.size == (384, 240) and options.grounding_steps == 0.7
    assert render_form(options, device="cpu") == shown
    # The device is the machine's: it never goes into the project.
    assert "device" not in options.to_json_dict()


def test_a_value_the_project_refuses_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        render_options(RenderSettingsForm(width=100))  # not a multiple of 8


def test_a_project_that_names_no_sampler_keeps_naming_none_until_another_is_chosen() -> None:
    assert render_options(RenderSettingsForm(scheduler="ddim"), RenderOptions()).scheduler is None
    assert render_options(RenderSettingsForm(scheduler="euler"), RenderOptions()).scheduler == "euler"
    assert render_options(RenderSettingsForm(scheduler="ddim"), RenderOptions(scheduler="lcm")).scheduler == "ddim"
