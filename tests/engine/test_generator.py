"""The diffusion generator's pipeline, run for real on tiny random models (tests/tiny_models.py) on the CPU.

Renders are 2 steps of a few 64×64 frames: the pictures are noise, what is checked is the plumbing —
per-frame prompts and embeddings, grounding installed and removed, previews, cancel, FreeNoise for long
clips, loading from folders and its errors, and the out-of-memory message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import PNDMScheduler
from diffusers.models.attention import FreeNoiseTransformerBlock
from diffusers.models.attention_processor import AttnProcessor2_0

from engine.errors import Cancelled, InputError
from engine.generator import grounding as grounding_module
from engine.generator import pipeline as pipeline_module
from engine.generator.pipeline import (
    DiffusionGenerator,
    GeneratorMemoryError,
    LayoutVideoPipeline,
    RenderSettings,
    load_pipeline,
    predicted_clean_latents,
    takes_text_per_frame,
)
from engine.generator.preview import LinearPreview, fit_latent_rgb
from engine.generator.prompts import compose_prompt, frame_caption_kinds, name_token_indices
from engine.generator.schedulers import SCHEDULERS
from engine.layout.model import VideoLayout
from engine.render.base import RenderRequest, frame_count
from tests.tiny_models import save_tiny_model_folders, tiny_components, tiny_taesd, tiny_tokenizer, tiny_unet

SIZE = (64, 64)  # latent 8×8
#: A spatial cross-attention layer of the tiny UNet (its first level).
CROSS_ATTENTION = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor"


def make_layout() -> VideoLayout:
    """Three keyframes over 4 s: a car crosses left to right; a violin is there at the first keyframe only."""
    return VideoLayout.model_validate({
        "duration_s": 4.0,
        "video_caption": "a street at night",
        "keyframes": [
            {"time_s": 0.0, "caption": "a car on the left",
             "objects": [{"id": 0, "name": "car", "box": [10, 100, 120, 200]},
                         {"id": 1, "name": "violin", "box": [300, 50, 400, 250]}]},
            {"time_s": 2.0, "caption": "a car in the middle",
             "objects": [{"id": 0, "name": "car", "box": [150, 100, 260, 200]}]},
            {"time_s": 4.0, "caption": "a car on the right",
             "objects": [{"id": 0, "name": "car", "box": [300, 100, 420, 200]}]},
        ],
    })


def make_request(n_frames: int = 5, steps: int = 2, **options: Any) -> RenderRequest:
    return RenderRequest(layout=make_layout(), n_frames=n_frames, size=SIZE, steps=steps, seed=3,
                         options={"preview": "linear", **options})


@pytest.fixture(scope="module")
def pipeline() -> LayoutVideoPipeline:
    return LayoutVideoPipeline.from_components(**tiny_components(), device="cpu")


class _Recorder:
    """An attention processor that records what it is given, then does the usual attention."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []
        self.inner = AttnProcessor2_0()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        self.calls.append(encoder_hidden_states.clone())
        return self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)


# ------------------------------------------------------------------------------------------ renders


def test_two_steps_give_uint8_frames_deterministically(pipeline: LayoutVideoPipeline) -> None:
    fractions: list[float] = []
    frames = pipeline.render(make_request(), progress=fractions.append)
    assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.uint8
    assert frames.std() > 0  # random weights draw noise, not a flat frame
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert np.array_equal(frames, pipeline.render(make_request()))  # same seed, same frames


def test_each_frame_reaches_the_unet_with_its_own_prompt(pipeline: LayoutVideoPipeline,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    request = make_request(grounding="off")
    prompts = pipeline.frame_prompts(request)
    assert request.keyframe_frames() == [0, 2, 4]
    assert [p.caption_kind for p in prompts] == ["keyframe", "video", "keyframe", "video", "keyframe"]
    assert prompts[0].text == "a car on the left, a car, a violin"
    assert prompts[1].text == prompts[3].text == "a street at night, a car"

    recorder = _Recorder()
    processors = dict(pipeline.unet.attn_processors)
    pipeline.unet.set_attn_processor({**processors, CROSS_ATTENTION: recorder})
    try:
        pipeline.render(request)
    finally:
        pipeline.unet.set_attn_processor(processors)

    seen = recorder.calls[0]  # the first step's text input of one spatial cross-attention layer
    assert seen.shape == (2 * 5, 77, 32)  # [negative × 5, frame 0 … 4]: one row per frame, nothing repeated
    per_frame = pipeline.encode_prompts([p.text for p in prompts])
    negative = pipeline.encode_prompts([request.negative_prompt])[0]
    assert torch.equal(seen[5:], per_frame)
    assert all(torch.equal(row, negative) for row in seen[:5])
    assert torch.equal(seen[5 + 1], seen[5 + 3])  # same caption and objects: same embedding
    for a, b in [(0, 1), (0, 2), (2, 3), (2, 4), (3, 4)]:
        assert not torch.equal(seen[5 + a], seen[5 + b]), (a, b)


def test_a_unet_that_repeats_one_prompt_over_the_frames_is_refused(pipeline: LayoutVideoPipeline) -> None:
    class OldMotionUNet(torch.nn.Module):  # what diffusers' motion UNet did before FreeNoise
        def forward(self, sample: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
            encoder_hidden_states = encoder_hidden_states.repeat_interleave(repeats=sample.shape[2], dim=0)
            return sample

    assert takes_text_per_frame(pipeline.unet)
    assert not takes_text_per_frame(OldMotionUNet())


def test_grounding_is_installed_stepped_and_removed(pipeline: LayoutVideoPipeline,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class Recording(grounding_module.Grounding):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.steps: list[tuple[int, int]] = []
            super().__init__(*args, **kwargs)
            self.steps.clear()  # only the loop's calls
            made.append((self, args))

        def set_step(self, step_index: int, n_steps: int) -> None:
            self.steps.append((step_index, n_steps))
            super().set_step(step_index, n_steps)

    monkeypatch.setattr(pipeline_module, "Grounding", Recording)
    before = dict(pipeline.unet.attn_processors)
    installed: list[int] = []
    forward = pipeline.unet.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        processors = pipeline.unet.attn_processors.values()
        installed.append(sum(isinstance(p, grounding_module.GroundedAttnProcessor) for p in processors))
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipeline.unet, "forward", counting)
    request = make_request(steps=3, grounding="soft", grounding_strength=2.5, grounding_fraction=0.5)
    pipeline.render(request)

    grounding, (unet, config, regions, latent_hw, n_frames, cfg) = made[0]
    assert unet is pipeline.unet
    assert (config.mode, config.strength, config.step_fraction) == ("soft", 2.5, 0.5)
    assert latent_hw == (8, 8) and n_frames == 5 and cfg is True
    assert regions == [p.regions() for p in pipeline.frame_prompts(request)]
    assert len(regions[0]) == 2 and len(regions[1]) == 1  # the violin is only at the first keyframe
    assert grounding.steps == [(0, 3), (1, 3), (2, 3)]
    assert installed and all(n == len(grounding.installed_on) > 0 for n in installed)
    assert all(after is before[key] for key, after in pipeline.unet.attn_processors.items())

    made.clear()
    pipeline.render(make_request(grounding="off"))
    assert made == []


def test_previews_arrive_once_per_step_from_the_clean_estimate(pipeline: LayoutVideoPipeline) -> None:
    previews: list[tuple[int, np.ndarray]] = []
    pipeline.render(make_request(steps=3), preview=lambda i, frames: previews.append((i, frames)))
    assert [i for i, _ in previews] == [0, 1, 2]
    for _, frames in previews:
        assert frames.shape == (5, 8, 8, 3) and frames.dtype == np.uint8

    # Schedulers that give no clean estimate (PNDM): x̂₀ from ε and ᾱ_t equals DDIM's own estimate.
    ddim = pipeline.pipe.scheduler
    ddim.set_timesteps(4)
    t = ddim.timesteps[1]
    latents, noise = torch.randn(1, 4, 2, 8, 8), torch.randn(1, 4, 2, 8, 8)
    given = ddim.step(noise, t, latents).pred_original_sample
    computed = predicted_clean_latents(ddim, object(), noise, latents, t)
    assert torch.allclose(given, computed, atol=1e-5)


def test_previews_with_a_scheduler_that_gives_no_estimate(pipeline: LayoutVideoPipeline) -> None:
    previews: list[int] = []
    pipeline.set_scheduler(PNDMScheduler.from_config(pipeline.pipe.scheduler.config, skip_prk_steps=True))
    try:
        frames = pipeline.render(make_request(n_frames=2), preview=lambda i, f: previews.append(i))
        assert pipeline.scheduler_name == "PNDMScheduler"  # no scheduler option: the pipeline's own is kept
        n_timesteps = len(pipeline.pipe.scheduler.timesteps)  # PLMS adds a warm-up step
    finally:
        pipeline.set_scheduler("ddim")
    assert previews == list(range(n_timesteps)) and frames.shape == (2, 64, 64, 3)


def test_linear_preview_is_fitted_to_the_vae_once(pipeline: LayoutVideoPipeline) -> None:
    fit = pipeline.latent_rgb
    assert fit.weight.shape == (4, 3) and fit.bias.shape == (3,) and np.isfinite(fit.residual_rms)
    assert fit_latent_rgb(pipeline.vae) is fit  # cached per VAE
    latents = torch.randn(1, 4, 2, 3, 5)
    frames = LinearPreview(fit)(latents)
    expected = np.einsum("cthw,cr->thwr", latents[0].numpy(), fit.weight) + fit.bias
    assert frames.shape == (2, 3, 5, 3)
    assert np.abs(frames.astype(float) - np.clip((expected + 1) * 127.5, 0, 255)).max() <= 1.0


def test_taesd_previews_at_half_size() -> None:
    taesd_pipeline = LayoutVideoPipeline.from_components(**tiny_components(), device="cpu", taesd=tiny_taesd())
    shapes: list[tuple[int, ...]] = []
    taesd_pipeline.render(make_request(n_frames=2, preview="taesd"), preview=lambda i, f: shapes.append(f.shape))
    assert shapes == [(2, 32, 32, 3)] * 2
    with pytest.raises(InputError, match="TAESD is not on this machine"):
        LayoutVideoPipeline.from_components(**tiny_components(), device="cpu").render(
            make_request(n_frames=2, preview="taesd"), preview=lambda i, f: None)


def test_cancel_during_step_1_stops_before_step_2_and_never_decodes(pipeline: LayoutVideoPipeline,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    unet_calls: list[int] = []
    forward = pipeline.unet.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        unet_calls.append(1)
        return forward(*args, **kwargs)

    decoded: list[int] = []
    monkeypatch.setattr(pipeline.unet, "forward", counting)
    monkeypatch.setattr(pipeline.vae, "decode", lambda *a, **k: decoded.append(1))
    before = dict(pipeline.unet.attn_processors)
    previews: list[int] = []
    with pytest.raises(Cancelled):
        pipeline.render(make_request(steps=10), preview=lambda i, f: previews.append(i),
                        is_cancelled=lambda: len(unet_calls) >= 2)  # the user clicks during step 1
    assert len(unet_calls) == 2 and previews == [0] and decoded == []
    assert all(after is before[key] for key, after in pipeline.unet.attn_processors.items())


# ------------------------------------------------------------------------------------------ long clips


def test_free_noise_renders_clips_longer_than_the_window(pipeline: LayoutVideoPipeline,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    window = {"context_length": 4, "context_stride": 2}
    # The initial noise: the first window's frames, shuffled window by window (FreeNoise's noise init).
    assert pipeline.configure_free_noise(10, **window)
    noise = pipeline.prepare_latents(10, 64, 64, seed=1)[0]
    first = noise[:, :4]
    for t in range(10):
        assert any(torch.equal(noise[:, t], first[:, k]) for k in range(4)), t

    blocks_during_run: list[set[str]] = []
    forward = pipeline.unet.forward

    def watching(*args: Any, **kwargs: Any) -> Any:
        blocks_during_run.append({type(m).__name__ for m in pipeline.unet.modules()})
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipeline.unet, "forward", watching)
    frames = pipeline.render(make_request(n_frames=10, **window))
    assert frames.shape == (10, 64, 64, 3)
    assert all(FreeNoiseTransformerBlock.__name__ in names for names in blocks_during_run)

    # A clip that fits in one window goes back to the plain motion modules.
    frames = pipeline.render(make_request(n_frames=3, **window))
    assert frames.shape == (3, 64, 64, 3)
    assert not any(isinstance(m, FreeNoiseTransformerBlock) for m in pipeline.unet.modules())
    with pytest.raises(InputError, match="longer than the motion module's 32-frame window"):
        pipeline.render(make_request(n_frames=40, context_length=33, context_stride=4))


def test_a_ten_second_layout_renders_80_frames(pipeline: LayoutVideoPipeline) -> None:
    layout = make_layout().replaced(duration_s=10.0, keyframes=[
        k.replaced(time_s=5.0 * i) for i, k in enumerate(make_layout().keyframes)])
    n_frames = frame_count(layout.duration_s, fps=8.0)
    request = RenderRequest(layout=layout, n_frames=n_frames, size=(32, 32), steps=1)
    frames = pipeline.render(request)  # the default window: 16 frames every 4
    assert n_frames == 80 and frames.shape == (80, 32, 32, 3)


# ------------------------------------------------------------------------------------------ prompts


def test_object_names_get_their_own_token_positions() -> None:
    tokenizer = tiny_tokenizer()
    text, spans = compose_prompt("A car drives on the street.", ["car", "violin", "old owl", "car"],
                                 "photorealistic")
    assert text == "A car drives on the street, a car, a violin, an old owl, a car, photorealistic"
    indices = name_token_indices(tokenizer, text, spans)
    ids = tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids
    pieces = tokenizer.convert_ids_to_tokens(ids)

    def word(positions: tuple[int, ...]) -> str:
        return "".join(pieces[i] for i in positions).replace("</w>", " ").strip()

    assert [word(p) for p in indices] == ["car", "violin", "old owl", "car"]
    assert len(indices[0]) == 1 and len(indices[2]) > 2  # "car" is one token; "old owl" is spelled out
    assert indices[0] != indices[3]  # each object has its own mention


def test_a_long_caption_is_shortened_so_the_names_fit(pipeline: LayoutVideoPipeline) -> None:
    tokenizer = pipeline.tokenizer
    long_caption = " ".join(["the street at night"] * 30)
    layout = make_layout().replaced(video_caption=long_caption)
    pipeline_prompts = pipeline.frame_prompts(RenderRequest(layout=layout, n_frames=5, size=SIZE))
    for prompt in pipeline_prompts:
        assert len(tokenizer(prompt.text).input_ids) <= 77
        assert all(o.token_indices and max(o.token_indices) < 76 for o in prompt.objects)
    assert pipeline_prompts[1].text.startswith("the street at night") and pipeline_prompts[1].text.endswith("a car")


def test_mix_captions_keyframes_then_video_caption() -> None:
    kinds = frame_caption_kinds(6, [0, 3, 5], ["first", "", "last"], "video")
    assert kinds == [("first", "keyframe"), ("video", "video"), ("video", "video"), ("video", "keyframe"),
                     ("video", "video"), ("last", "keyframe")]
    assert frame_caption_kinds(3, [0, 2], ["first", "last"], "")[1] == ("first", "video")  # nearest keyframe
    assert frame_caption_kinds(1, [0, 0, 0], ["a", "b", "c"], "v") == [("a", "keyframe")]
    # Five keyframes on two frames: each frame shows the keyframe nearest to it.
    assert frame_caption_kinds(2, [0, 0.25, 0.5, 0.75, 1], list("abcde"), "v") == [("a", "keyframe"),
                                                                                  ("e", "keyframe")]


# ------------------------------------------------------------------------------------------ settings


def test_options_are_validated_with_the_option_name() -> None:
    settings = RenderSettings.from_options({"scheduler": "Euler", "grounding": "soft", "decode_chunk": "4",
                                            "compile": "true", "grounding_self_attention": "yes", "other": 1})
    assert (settings.scheduler, settings.grounding, settings.decode_chunk) == ("euler", "soft", 4)
    assert settings.compile == "max-autotune-no-cudagraphs" and settings.grounding_self_attention is True
    assert RenderSettings.from_options({"compile": False}).compile is None
    for options, message in [({"scheduler": "plms"}, "unknown scheduler 'plms'"),
                             ({"grounding": "firm"}, "render option grounding: 'firm'"),
                             ({"grounding_fraction": 1.5}, "grounding_fraction: 1.5"),
                             ({"decode_chunk": 0}, "decode_chunk: 0"),
                             ({"context_length": 4, "context_stride": 8}, "context_stride: 8"),
                             ({"dtype": "int8"}, "dtype: 'int8'")]:
        with pytest.raises(InputError, match=message):
            RenderSettings.from_options(options)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_renders(pipeline: LayoutVideoPipeline, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[int] = []
    forward = pipeline.unet.forward

    def watching(sample: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        rows.append(sample.shape[0])
        return forward(sample, *args, **kwargs)

    monkeypatch.setattr(pipeline.unet, "forward", watching)
    frames = pipeline.render(make_request(n_frames=2, scheduler=name), preview=lambda i, f: None)
    assert frames.shape == (2, 64, 64, 3) and pipeline.scheduler_name == name
    assert rows == [1 if SCHEDULERS[name].guidance_scale == 1.0 else 2] * 2  # Lightning runs without guidance


# ------------------------------------------------------------------------------------------ loading, memory


def test_missing_weights_say_which_model_and_what_to_do(tmp_path: Path) -> None:
    offline = {"local_files_only": True, "device": "cpu", "cache_dir": tmp_path / "hub"}
    with pytest.raises(InputError) as error:
        load_pipeline("nobody/no-such-model", "nobody/no-such-adapter", **offline)
    assert "nobody/no-such-adapter" in str(error.value)
    assert "huggingface-cli download nobody/no-such-adapter" in str(error.value)
    assert "--motion-adapter" in str(error.value) and "\n" not in str(error.value)

    adapter_folder = tmp_path / "adapter"
    tiny_components()["motion_adapter"].save_pretrained(adapter_folder, safe_serialization=True)
    with pytest.raises(InputError, match=r"model 'nobody/no-such-model' is not on this machine.*--model"):
        load_pipeline("nobody/no-such-model", str(adapter_folder), **offline)
    with pytest.raises(InputError, match="folder /no/such/folder does not exist"):
        load_pipeline("/no/such/folder", str(adapter_folder), **offline)

    generator = DiffusionGenerator(model="nobody/no-such-model", motion_adapter=str(adapter_folder),
                                   local_files_only=True, cache_dir=tmp_path / "hub")
    with pytest.raises(InputError, match="nobody/no-such-model"):
        generator.render(make_request(device="cpu"))


def test_loads_sd_and_adapter_from_local_folders(tmp_path: Path) -> None:
    sd_folder, adapter_folder = save_tiny_model_folders(tmp_path)
    assert json.loads((sd_folder / "model_index.json").read_text())["_class_name"] == "StableDiffusionPipeline"

    generator = DiffusionGenerator(model=str(sd_folder), motion_adapter=str(adapter_folder), local_files_only=True)
    assert generator.pipeline is None  # nothing is loaded before the first render
    frames = generator.render(make_request(n_frames=2, steps=1, device="cpu", scheduler="euler"))
    assert frames.shape == (2, 64, 64, 3)
    loaded = generator.pipeline
    assert loaded is not None and type(loaded.unet).__name__ == "UNetMotionModel" and loaded.dtype == torch.float32
    assert loaded.scheduler_name == "euler" and loaded.pipe.scheduler.config.beta_schedule == "linear"
    generator.render(make_request(n_frames=2, steps=1, device="cpu"))
    assert generator.pipeline is loaded  # same models, device and dtype: not loaded again


def test_out_of_memory_says_what_to_lower(pipeline: LayoutVideoPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(pipeline.unet, "forward", exhausted)
    before = dict(pipeline.unet.attn_processors)
    with pytest.raises(GeneratorMemoryError) as error:
        pipeline.render(make_request(decode_chunk=4))
    message = str(error.value)
    assert isinstance(error.value, InputError) and "\n" not in message
    for part in ("out of memory on", "GiB", "5 frames at 64x64", "--size", "--frames", "decode_chunk, now 4"):
        assert part in message, part
    assert all(after is before[key] for key, after in pipeline.unet.attn_processors.items())


def test_gligen_weights_are_grafted_and_steer_the_render(tmp_path: Path) -> None:
    from engine.generator.gligen import has_gligen

    gligen = tiny_unet(seed=7, attention_type="gated")
    with torch.no_grad():  # trained GLIGEN gates are open; freshly built ones are shut (zero)
        for name, parameter in gligen.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                parameter.fill_(1.0)
    gligen.save_pretrained(tmp_path / "gligen")
    pipeline = LayoutVideoPipeline.from_components(**tiny_components(), device="cpu")
    plain = pipeline.render(make_request(grounding="off"))
    steered = pipeline.render(make_request(grounding="off", gligen=str(tmp_path / "gligen"), gligen_fraction=1.0))
    assert has_gligen(pipeline.unet) and pipeline.gligen_source == str(tmp_path / "gligen")
    assert not np.array_equal(plain, steered)
    # The grafted layers act only when a render asks for GLIGEN: without the option the frames are as before.
    assert np.array_equal(plain, pipeline.render(make_request(grounding="off")))


def test_gligen_weights_that_are_not_here_are_a_clear_error(pipeline: LayoutVideoPipeline, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no-gligen-here"):
        pipeline.render(make_request(gligen=str(tmp_path / "no-gligen-here")))
