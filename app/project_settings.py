"""The planner and render panels' settings to and from a project's sections.

The panels hold plain forms (:class:`~ui.planner_panel.PlanSettings`, :class:`~ui.render_panel.RenderSettingsForm`);
a ``.spa2v`` project holds validated sections (:class:`~engine.project.PlannerOptions`,
:class:`~engine.project.RenderOptions`). A saved project keeps what the panels show, and opening it shows that again.
What a form has no field for is kept from the project it came from (``grounding_steps``); what is the machine's
rather than the project's stays out of the file (the render device, the "remember the API key" preference).
"""

from __future__ import annotations

from engine.project import PlannerOptions, RenderOptions
from ui.planner_panel import PlanSettings
from ui.render_panel import RenderSettingsForm


def planner_options(settings: PlanSettings) -> PlannerOptions:
    """The project's planner section for what the planner panel shows."""
    labels = tuple(label.strip() for label in settings.labels.split(",") if label.strip())
    return PlannerOptions.model_validate({
        "kind": settings.planner, "labels": labels, "keyframes": settings.keyframes, "k": settings.k_examples,
        "temperature": settings.temperature, "model": settings.model.strip() or None,
        "base_url": settings.base_url.strip() or None,
        # OpenAI is the project's default provider (None), which like the panel's OpenAI preset follows
        # OPENAI_BASE_URL when no base URL is typed.
        "provider": None if settings.provider in ("", "openai") else settings.provider,
        "include_cues": settings.include_cues,
    })


def plan_settings(options: PlannerOptions, remember_key: bool = False) -> PlanSettings:
    """What the planner panel shows for a project's planner section; ``remember_key`` is the user's preference."""
    return PlanSettings(
        planner=options.kind, labels=", ".join(options.labels), keyframes=options.keyframes,
        provider=options.provider or "openai", model=options.model or "", base_url=options.base_url or "",
        k_examples=options.k, temperature=options.temperature, include_cues=options.include_cues,
        remember_key=remember_key)


def render_options(form: RenderSettingsForm, base: RenderOptions | None = None) -> RenderOptions:
    """The project's render section for what the render panel shows; fields the panel has none for come from
    ``base`` (the project's section so far)."""
    base = base or RenderOptions()
    return base.replaced(
        generator=form.generator, model=form.model.strip() or None,
        motion_adapter=form.motion_adapter.strip() or None, steps=form.steps, guidance=form.guidance,
        seed=form.seed, fps=form.fps, frames=form.frames or None, size=[int(form.width), int(form.height)],
        grounding=form.grounding, grounding_strength=form.grounding_strength,
        # The generator's own sampler (the panel's default) stays unnamed (None) in a project that named none.
        scheduler=None if form.scheduler in ("", RenderSettingsForm.scheduler) and base.scheduler is None
        else form.scheduler)


def render_form(options: RenderOptions, device: str = "auto") -> RenderSettingsForm:
    """What the render panel shows for a project's render section; ``device`` is the machine's choice."""
    width, height = options.size
    return RenderSettingsForm(
        generator=options.generator, model=options.model or "", motion_adapter=options.motion_adapter or "",
        steps=options.steps, guidance=options.guidance, seed=options.seed, fps=options.fps,
        frames=options.frames or 0, width=width, height=height, grounding=options.grounding,
        grounding_strength=options.grounding_strength, scheduler=options.scheduler or RenderSettingsForm.scheduler,
        device=device)
