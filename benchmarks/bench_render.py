"""Measure the "Render" stage: the layout-grounded diffusion generator's speed and memory.

    python benchmarks/bench_render.py [--frames 16] [--size 512x320] [--steps 25] [--out docs/BENCHMARKS.md]
    python benchmarks/bench_render.py --tiny     # CPU smoke test on tiny models; writes nothing

The models are the real architectures at full size — SD 1.5's UNet with the AnimateDiff v1.5-2 motion
adapter, SD's VAE and CLIP ViT-L/14's text encoder — built from the configs written below, with random
weights in float16 (speed and memory do not depend on the weights, and nothing is downloaded: the machine
needs no network). The tokenizer is the offline byte-level CLIP tokenizer of ``tests/tiny_models.py``.

In one run, each figure after warm-up runs of the same shapes (compilation, cuDNN autotuning, allocator
growth excluded):

(a) plain diffusers ``AnimateDiffPipeline.__call__`` (DDIM, guidance 7.5), the baseline;
(b) ours: :class:`~engine.generator.pipeline.LayoutVideoPipeline` with hard box grounding, per-frame prompts;
(c) ours with the UNet compiled (``torch.compile``), measured last: compiling takes minutes;
(d) ours with live previews, against (b): overhead and time from the call to the first preview;
(e) a few-step setting: AnimateDiff-Lightning's sampler (Euler, trailing timesteps, no guidance), 4 steps;
(f) an 80-frame clip (10 s at 8 fps) through FreeNoise windows.

Seconds per clip include text encoding and the VAE decode; seconds per step is that divided by the steps.
Peak memory is ``torch.cuda.max_memory_allocated`` during the timed run. The section is written to
docs/BENCHMARKS.md after the eager runs and again after the compiled one, so a run stopped during
compilation still leaves its other figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.bench_hear import machine_description, update_benchmarks_md  # noqa: E402

HEADING = "## Render: layout-grounded video diffusion"

#: SD 1.5's UNet (stable-diffusion-v1-5, unet/config.json).
SD15_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "center_input_sample": False,
    "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2, "downsample_padding": 1,
    "mid_block_scale_factor": 1, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-5,
    "cross_attention_dim": 768, "attention_head_dim": 8,
}
#: AnimateDiff's v1.5-2 motion adapter (guoyww/animatediff-motion-adapter-v1-5-2, config.json).
ANIMATEDIFF_V152 = {
    "block_out_channels": (320, 640, 1280, 1280), "motion_layers_per_block": 2,
    "motion_mid_block_layers_per_block": 1, "motion_num_attention_heads": 8, "motion_norm_num_groups": 32,
    "motion_max_seq_length": 32, "use_motion_mid_block": True,
}
#: SD's KL autoencoder (vae/config.json).
SD_VAE = {
    "in_channels": 3, "out_channels": 3, "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4, "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2, "act_fn": "silu", "latent_channels": 4, "norm_num_groups": 32, "sample_size": 512,
    "scaling_factor": 0.18215,
}
#: CLIP ViT-L/14's text tower (openai/clip-vit-large-patch14, SD 1.5's text_encoder/config.json).
CLIP_L14_TEXT = {
    "vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
    "projection_dim": 768,
}
#: SD 1.5's scheduler config (PNDM); the "ddim" and "lightning" presets are built from it.
SD15_SCHEDULER = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
}

CAPTION = "a car drives down a street at night while a man plays the violin"


# -------------------------------------------------------------------------------------------- models


def build_pipeline(tiny: bool, device: torch.device, dtype: torch.dtype) -> Any:
    """A :class:`LayoutVideoPipeline` of full-size (or, with ``tiny``, the tests' tiny) random models."""
    from diffusers import AutoencoderKL, MotionAdapter, PNDMScheduler, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from engine.generator.pipeline import LayoutVideoPipeline
    from tests import tiny_models

    if tiny:
        parts = tiny_models.tiny_components(max_seq_length=32)
        return LayoutVideoPipeline.from_components(**parts, device=device, dtype=dtype, scheduler_name="ddim")
    tokenizer = tiny_models.tiny_tokenizer()
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: seconds instead of a minute of CPU init
        adapter = MotionAdapter(**ANIMATEDIFF_V152)
        # What AnimateDiffPipeline does with an SD UNet, done here so that it happens on the GPU too.
        unet = UNetMotionModel.from_unet2d(UNet2DConditionModel(**SD15_UNET), adapter)
        vae = AutoencoderKL(**SD_VAE)
        text_config = CLIPTextConfig(**CLIP_L14_TEXT, bos_token_id=tokenizer.bos_token_id,
                                     eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        text_encoder = CLIPTextModel(text_config)
    parts = {"unet": unet, "motion_adapter": adapter, "vae": vae, "text_encoder": text_encoder}
    for module in parts.values():
        module.to(dtype=dtype).eval()
    return LayoutVideoPipeline.from_components(**parts, tokenizer=tokenizer, scheduler=PNDMScheduler(**SD15_SCHEDULER),
                                               device=device, dtype=dtype, scheduler_name="ddim")


def make_request(n_frames: int, size: tuple[int, int], steps: int, **options: Any) -> Any:
    """A 10 s layout of a car crossing left to right and a violinist standing right, five keyframes."""
    from engine.layout.model import VideoLayout
    from engine.render.base import RenderRequest

    keyframes = []
    where = ("entering", "left of centre", "in the middle", "right of centre", "leaving")
    for k in range(5):
        x = 20 + 80 * k
        keyframes.append({
            "time_s": 2.5 * k,
            "caption": f"the red car is {where[k]}",
            "objects": [{"id": 0, "name": "car", "box": [x, 140, x + 90, 200]},
                        {"id": 1, "name": "violinist", "box": [330, 60, 380, 230]}],
        })
    layout = VideoLayout.model_validate({"duration_s": 10.0, "video_caption": CAPTION, "keyframes": keyframes})
    return RenderRequest(layout=layout, n_frames=n_frames, size=size, steps=steps, seed=0,
                         options={"grounding": "hard", "scheduler": "ddim", **options})


# -------------------------------------------------------------------------------------------- timing


@dataclass
class Measure:
    """One configuration's timed runs."""

    name: str
    steps: int
    seconds: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    note: str = ""

    @property
    def clip_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def step_s(self) -> float:
        return self.clip_s / self.steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(name: str, steps: int, run: Callable[[], Any], device: torch.device, repeats: int, warmups: int = 1,
          warmup: Callable[[], Any] | None = None) -> Measure:
    """Median seconds of ``repeats`` runs of ``run`` after ``warmups`` runs of ``warmup`` (default: ``run``)."""
    return timed_together([(name, steps, run, warmup)], device, repeats, warmups)[0]


def timed_together(specs: list[tuple[str, int, Callable[[], Any], Callable[[], Any] | None]], device: torch.device,
                   repeats: int, warmups: int = 1) -> list[Measure]:
    """Like :func:`timed` for several ``(name, steps, run, warmup)``, their timed runs taking turns.

    Alternating runs keep a comparison between them (plain and ours, previews on and off) clear of drifts
    of the machine's speed.
    """
    for _, _, run, warmup in specs:
        for _ in range(warmups):
            (warmup or run)()
    measures = [Measure(name, steps) for name, steps, _, _ in specs]
    for _ in range(repeats):
        for measure, (_, _, run, _) in zip(measures, specs, strict=True):
            _sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            started = time.perf_counter()
            run()
            _sync(device)
            measure.seconds.append(time.perf_counter() - started)
            if device.type == "cuda":
                measure.peak_bytes = max(measure.peak_bytes or 0, torch.cuda.max_memory_allocated(device))
    for measure in measures:
        print(f"  {measure.name}: {measure.clip_s:.3f} s per clip, {measure.step_s:.4f} s per step"
              + (f", peak {measure.peak_bytes / 2**30:.2f} GiB" if measure.peak_bytes else ""), flush=True)
    return measures


def plain_call(pipeline: Any, request: Any, steps: int) -> Callable[[], Any]:
    """diffusers' own ``AnimateDiffPipeline.__call__`` on the same components and sampler (no grounding)."""
    from engine.generator.pipeline import DEFAULT_DECODE_CHUNK

    def run() -> Any:
        return pipeline.pipe(prompt=request.layout.video_caption, negative_prompt=request.negative_prompt,
                             num_frames=request.n_frames, height=request.height, width=request.width,
                             num_inference_steps=steps, guidance_scale=request.guidance_scale,
                             generator=torch.Generator("cpu").manual_seed(0), output_type="np",
                             decode_chunk_size=DEFAULT_DECODE_CHUNK).frames

    return run


def ours(pipeline: Any, request: Any, preview: Callable[[int, Any], None] | None = None) -> Callable[[], Any]:
    return lambda: pipeline.render(request, preview=preview)


# -------------------------------------------------------------------------------------------- report


def _gib(value: int | None) -> str:
    return "–" if value is None else f"{value / 2**30:.1f} GiB"


def render_report(results: dict[str, Any], args: argparse.Namespace, machine: str) -> str:
    """The Markdown section; targets are judged only for the real models (tiny ones say nothing of speed)."""
    plain: Measure = results["plain"]

    def _verdict(ok: bool | None) -> str:
        return "" if ok is None or args.tiny else ("meets" if ok else "**misses**")

    rows = [(
        "(a) diffusers `AnimateDiffPipeline.__call__`", plain, "1.00", "", None)]

    def ratio_row(label: str, key: str, target: float | None, target_text: str) -> None:
        measure: Measure | None = results.get(key)
        if measure is None:
            rows.append((label, None, "", target_text, None))
            return
        ratio = measure.clip_s / plain.clip_s
        rows.append((label, measure, f"{ratio:.2f}", target_text, None if target is None else ratio <= target))

    ratio_row("(b) ours, hard grounding, per-frame prompts", "ours", 1.05, "≤ 1.05")
    ratio_row(f"(c) ours + `torch.compile` ({args.compile_mode})", "compiled", 0.70, "≤ 0.70")
    ratio_row("(d) ours + live previews", "preview", None, "")
    few: Measure | None = results.get("few_step")
    rows.append((f"(e) few-step: Lightning sampler, {args.few_steps} steps, no guidance", few,
                 "" if few is None else f"{few.clip_s / plain.clip_s:.2f}", "≤ 0.6 s per clip",
                 None if few is None else few.clip_s <= 0.6))
    long: Measure | None = results.get("long")
    rows.append((f"(f) {args.long_frames} frames with FreeNoise (window 16, stride 4)", long,
                 "" if long is None else f"{long.clip_s / plain.clip_s:.2f}", "", None))

    width, height = args.size
    lines = [
        HEADING,
        "",
        f"Measured {date.today().isoformat()} on {machine}, by "
        f"`python benchmarks/bench_render.py{' --tiny' if args.tiny else ''} --frames {args.frames} "
        f"--size {width}x{height} --steps {args.steps}`.",
        "",
        "How to read this section:",
        "- Models: SD 1.5's UNet + the AnimateDiff v1.5-2 motion adapter, SD's VAE and CLIP ViT-L/14's text"
        " encoder, built from their configs with random weights"
        + (" (here the tests' **tiny** models: figures are a smoke test only)" if args.tiny else
           f" in {str(args.dtype).replace('torch.', '')} (speed does not depend on the weights)") + ".",
        f"- Clip: {args.frames} frames at {width}x{height}, {args.steps} DDIM steps with guidance 7.5, five"
        " keyframes, two objects. Seconds per clip include text encoding and the VAE decode (8 frames per call);"
        " seconds per step is that divided by the steps. Medians of the timed runs; warm-up runs of the same"
        " shapes excluded; (a), (b) and (d) take turns run by run.",
        "- Ratio: to (a), the plain diffusers call on the same components.",
        "",
        "| run | s / clip | s / step | peak GPU memory | ratio to (a) | target | |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, measure, ratio, target, ok in rows:
        if measure is None:
            lines.append(f"| {label} | not measured | | | | {target} | |")
            continue
        lines.append(f"| {label} | {measure.clip_s:.3f} | {measure.step_s:.4f} | {_gib(measure.peak_bytes)} | "
                     f"{ratio} | {target} | {_verdict(ok)} |")
    lines.append("")
    preview = results.get("preview")
    if preview is not None:
        overhead = preview.clip_s / results["ours"].clip_s - 1.0
        first = results["first_preview_s"]
        lines += [
            f"Live previews ({results['preview_kind']}, every step): {100 * overhead:+.1f}% time against (b) "
            f"(target ≤ 5%{': ' + _verdict(overhead <= 0.05) if not args.tiny else ''}); first preview "
            f"{first:.3f} s after the call (target ≤ 0.3 s{': ' + _verdict(first <= 0.3) if not args.tiny else ''}).",
            "",
        ]
    if "compile_s" in results:
        lines += [f"Compiling the UNet took {results['compile_s']:.0f} s (the first compiled render, warm-up "
                  "included, against one eager render).", ""]
    elif args.skip_compile:
        lines += ["Compilation was skipped (`--skip-compile`).", ""]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random models on the CPU (a smoke test)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT (default 512x320, 64x64 with --tiny)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--few-steps", type=int, default=4)
    parser.add_argument("--long-frames", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default=None, help="default: cuda, else cpu")
    parser.add_argument("--compile-mode", default=None,
                        help="torch.compile mode (default max-autotune-no-cudagraphs; 'default' with --tiny)")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--no-write", action="store_true", help="print the section only (implied by --tiny)")
    args = parser.parse_args()

    from engine.generator.loading import pick_device
    from engine.generator.pipeline import DEFAULT_COMPILE_MODE
    from engine.render.base import parse_size

    device = pick_device(args.device)
    args.dtype = torch.float16 if device.type == "cuda" else torch.float32
    args.size = parse_size(args.size or ("64x64" if args.tiny else "512x320"))
    args.compile_mode = args.compile_mode or ("default" if args.tiny or device.type != "cuda" else
                                              DEFAULT_COMPILE_MODE)
    write = not (args.tiny or args.no_write)
    machine = machine_description()
    if device.type == "cuda":
        machine += (f", {torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
                    f"diffusers {_version('diffusers')}")
    else:
        machine += f", CPU only, torch {torch.__version__}, diffusers {_version('diffusers')}"
    print(f"# {machine}", flush=True)

    started = time.perf_counter()
    pipeline = build_pipeline(args.tiny, device, args.dtype)
    print(f"  built the models in {time.perf_counter() - started:.1f} s", flush=True)

    size, steps, repeats = args.size, args.steps, args.repeats
    request = make_request(args.frames, size, steps, preview="linear")
    warm = make_request(args.frames, size, 2, preview="linear")
    results: dict[str, Any] = {}

    first_previews: list[float] = []
    call_started = [0.0]

    def on_preview(step_index: int, frames: Any) -> None:
        if step_index == 0:
            first_previews.append(time.perf_counter() - call_started[0])

    def with_previews() -> Any:
        call_started[0] = time.perf_counter()
        return pipeline.render(request, preview=on_preview)

    results["plain"], results["ours"], results["preview"] = timed_together([
        ("(a) plain diffusers", steps, plain_call(pipeline, request, steps), plain_call(pipeline, request, 2)),
        ("(b) ours, hard grounding", steps, ours(pipeline, request), ours(pipeline, warm)),
        ("(d) ours + previews", steps, with_previews, ours(pipeline, warm, on_preview)),
    ], device, repeats)
    results["first_preview_s"] = statistics.median(first_previews[-repeats:])
    results["preview_kind"] = "linear latent → RGB fit"
    print(f"  first preview after {results['first_preview_s']:.3f} s", flush=True)

    few = make_request(args.frames, size, args.few_steps, scheduler="lightning", preview="linear")
    results["few_step"] = timed("(e) few-step", args.few_steps, ours(pipeline, few), device, repeats)

    long = make_request(args.long_frames, size, steps, preview="linear")
    long_warm = make_request(args.long_frames, size, 2, preview="linear")
    results["long"] = timed(f"(f) {args.long_frames} frames, FreeNoise", steps, ours(pipeline, long), device, 1,
                            warmup=ours(pipeline, long_warm))

    report = render_report(results, args, machine)
    if write:
        update_benchmarks_md(Path(args.out), report)

    if not args.skip_compile:
        eager_s = results["ours"].clip_s
        started = time.perf_counter()
        pipeline.compile(args.compile_mode)
        pipeline.render(warm)  # compiles both the grounded and the ungrounded graph
        results["compile_s"] = time.perf_counter() - started - eager_s * 2 / steps
        results["compiled"] = timed(f"(c) ours + torch.compile ({args.compile_mode})", steps,
                                    ours(pipeline, request), device, repeats)
        report = render_report(results, args, machine)
        if write:
            update_benchmarks_md(Path(args.out), report)
    print()
    print(report)
    return 0


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
