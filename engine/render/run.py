"""One render job from a layout to files: generate the frames, then write the MP4 and what else was asked for.

The command line's ``render`` and the studio's render worker both call :func:`render_video` with a request from
:func:`make_request`, so the two give the same video for the same settings. Progress is reported over the whole
job (generation is :data:`GENERATION_SHARE` of it, writing the files the rest), cancellation is honoured in
every stage, and every file is written atomically: a cancelled or failed job never leaves a half-written file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import Cancelled, InputError
from engine.layout.model import VideoLayout
from engine.render.base import (
    DEFAULT_FPS,
    DEFAULT_GUIDANCE,
    DEFAULT_NEGATIVE_PROMPT,
    DEFAULT_SIZE,
    DEFAULT_STEPS,
    CancelFn,
    Generator,
    PreviewFn,
    ProgressFn,
    RenderRequest,
    frame_count,
)
from engine.render.video import (
    DEFAULT_CRF,
    h264_encoder,
    open_soundtrack,
    overlay_boxes,
    write_mp4,
    write_png_frames,
)

#: The part of the job's progress that generation takes; writing the files takes the rest.
GENERATION_SHARE = 0.9

# Relative cost of each written output, to divide the writing part of the progress between them.
_WRITE_WEIGHTS = {"video": 1.0, "overlay": 1.2, "png": 0.6}


def make_request(
    layout: VideoLayout,
    fps: float = DEFAULT_FPS,
    frames: int | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    guidance: float = DEFAULT_GUIDANCE,
    negative: str = DEFAULT_NEGATIVE_PROMPT,
    prompt_suffix: str = "",
    options: dict | None = None,
) -> RenderRequest:
    """The request to render ``layout``: ``frames`` frames when given, else ``round(duration_s × fps)``.

    ``size`` is ``(width, height)``; the rest are the sampler's settings (see :class:`RenderRequest`). Raises
    :class:`InputError` for a frame count, rate, size or step count that cannot be rendered.
    """
    n_frames = frame_count(layout.duration_s, fps, frames)
    return RenderRequest(
        layout=layout,
        n_frames=n_frames,
        fps=float(fps),
        size=(int(size[0]), int(size[1])),
        seed=int(seed),
        steps=int(steps),
        guidance_scale=float(guidance),
        negative_prompt=negative,
        prompt_suffix=prompt_suffix,
        options=dict(options or {}),
    )


def _stage_progress(progress: ProgressFn | None, start: float, share: float) -> ProgressFn | None:
    """``progress`` for one stage: the stage's own fraction mapped onto ``[start, start + share]``."""
    if progress is None:
        return None

    def report(fraction: float) -> None:
        progress(start + share * min(1.0, max(0.0, fraction)))

    return report


def _check_not_cancelled(is_cancelled: CancelFn | None, what: str) -> None:
    if is_cancelled is not None and is_cancelled():
        raise Cancelled(f"the render was cancelled before {what}")


def render_video(
    request: RenderRequest,
    generator: Generator,
    out_path: str | Path,
    audio_path: str | Path | None = None,
    png_dir: str | Path | None = None,
    overlay_path: str | Path | None = None,
    progress: ProgressFn | None = None,
    preview: PreviewFn | None = None,
    is_cancelled: CancelFn | None = None,
    *,
    audio_start_s: float = 0.0,
    crf: int = DEFAULT_CRF,
) -> dict[str, Any]:
    """Render ``request`` with ``generator`` and write ``out_path`` (H.264 MP4, the recording's sound muxed in).

    Optional outputs: ``png_dir`` gets every frame as ``<out stem>_0000.png`` …; ``overlay_path`` gets a second
    MP4 with the layout's boxes drawn over the generated frames (to check the video against its layout by eye).
    ``audio_path`` (from ``audio_start_s`` on) is checked before generation starts, so a bad recording fails in
    a second, not after minutes of diffusion. ``progress`` gets the fraction of the whole job, ``preview`` the
    generator's previews, ``is_cancelled`` stops the job with :class:`Cancelled` in any stage.

    Returns a summary: ``generator``, ``out``, ``overlay``, ``png_dir``, ``png_files`` (count), ``audio``,
    ``frames``, ``fps``, ``width``, ``height``, ``duration_s``, ``encoder`` and ``seconds`` (per stage and
    ``total``), and ``frames_array``: the rendered frames themselves (so the studio can play them without
    reading the file back; leave it out when writing the summary to a file).
    """
    started = time.perf_counter()
    out = Path(out_path).expanduser()
    overlay = Path(overlay_path).expanduser() if overlay_path is not None else None
    if overlay is not None and overlay.resolve() == out.resolve():
        raise InputError(f"{overlay}: the overlay video and the video are the same file; give the overlay its "
                         "own name, e.g. " + str(out.with_name(out.stem + "-boxes" + out.suffix)))
    for target in (out, overlay):
        if target is not None and target.is_dir():
            raise InputError(f"{target}: is a folder; give a file name such as {target / 'video.mp4'}")
    open_soundtrack(audio_path, audio_start_s)  # a bad recording fails now, not after generation
    encoder = h264_encoder()  # likewise a missing encoder

    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    frames = generator.render(
        request,
        progress=_stage_progress(progress, 0.0, GENERATION_SHARE),
        preview=preview,
        is_cancelled=is_cancelled,
    )
    seconds["generate"] = time.perf_counter() - tick
    expected = (request.n_frames, request.height, request.width, 3)
    if not isinstance(frames, np.ndarray) or frames.shape != expected or frames.dtype != np.uint8:
        got = f"{frames.shape} {frames.dtype}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise RuntimeError(f"the {generator.name} generator returned {got}; expected {expected} uint8 frames")

    writes: list[tuple[str, Callable[[ProgressFn | None], Any]]] = [
        ("video", lambda report: write_mp4(frames, request.fps, out, audio_path, audio_start_s, crf,
                                           progress=report, is_cancelled=is_cancelled)),
    ]
    if overlay is not None:
        def write_overlay(report: ProgressFn | None) -> Path:
            checked = overlay_boxes(frames, request.frame_boxes())
            return write_mp4(checked, request.fps, overlay, audio_path, audio_start_s, crf,
                             progress=report, is_cancelled=is_cancelled)

        writes.append(("overlay", write_overlay))
    png_paths: list[Path] = []
    if png_dir is not None:
        writes.append(("png", lambda report: png_paths.extend(
            write_png_frames(frames, png_dir, out.stem, progress=report))))

    total_weight = sum(_WRITE_WEIGHTS[name] for name, _ in writes)
    start = GENERATION_SHARE
    for name, write in writes:
        share = (1.0 - GENERATION_SHARE) * _WRITE_WEIGHTS[name] / total_weight
        _check_not_cancelled(is_cancelled, f"writing the {name}")
        tick = time.perf_counter()
        write(_stage_progress(progress, start, share))
        seconds[{"video": "encode"}.get(name, name)] = time.perf_counter() - tick
        start += share
    if progress is not None:
        progress(1.0)
    seconds["total"] = time.perf_counter() - started

    return {
        "generator": generator.name,
        "out": str(out),
        "overlay": str(overlay) if overlay is not None else None,
        "png_dir": str(Path(png_dir).expanduser()) if png_dir is not None else None,
        "png_files": len(png_paths),
        "audio": str(audio_path) if audio_path is not None else None,
        "frames": request.n_frames,
        "fps": request.fps,
        "width": request.width,
        "height": request.height,
        "duration_s": request.n_frames / request.fps,
        "encoder": encoder,
        "seconds": {name: round(value, 3) for name, value in seconds.items()},
        "frames_array": frames,
    }
