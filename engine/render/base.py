"""What every generator takes and gives: a render request in, RGB frames out, previews on the way.

The studio and the command line ask for a video the same way whichever generator draws it — the animatic
(labelled boxes, anywhere) or the layout-grounded diffusion model (a GPU and weights). A generator turns a
:class:`RenderRequest` into ``(frames, height, width, 3)`` uint8 RGB frames; writing them to an MP4 with the
recording's sound is the video writer's job, not the generator's.

Frame timing follows SPEC.md: frame i of n sits at ``i·D/(n−1)`` of a clip of duration D, the same even
spread as the keyframes, and the boxes of each frame come from :func:`engine.layout.interp.interpolate`
scaled from the planner's canvas to the render size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.errors import InputError
from engine.layout.interp import FrameBox, interpolate, scale_boxes
from engine.layout.model import VideoLayout

DEFAULT_FPS = 8.0
DEFAULT_SIZE = (512, 320)  # (width, height): the paper's render size
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 7.5
DEFAULT_NEGATIVE_PROMPT = "blurry, low quality, distorted, deformed, watermark, text"

#: ``progress(fraction)`` with fraction in [0, 1].
ProgressFn = Callable[[float], None]
#: ``preview(step_index, frames)`` with frames ``(T, h, w, 3)`` uint8 RGB, possibly smaller than the render size.
PreviewFn = Callable[[int, np.ndarray], None]
#: ``is_cancelled()`` turning true stops the work with :class:`engine.errors.Cancelled`.
CancelFn = Callable[[], bool]


def frame_count(duration_s: float, fps: float = DEFAULT_FPS, frames: int | None = None) -> int:
    """Frames of a clip: ``frames`` when given, else ``round(duration × fps)``, at least 1."""
    if frames is not None:
        if frames < 1:
            raise InputError(f"the number of frames is {frames}; expected at least 1")
        return int(frames)
    if not fps > 0:
        raise InputError(f"the frame rate is {fps}; expected a positive number of frames per second")
    return max(1, round(float(duration_s) * float(fps)))


def parse_size(text: str) -> tuple[int, int]:
    """``"512x320"`` → ``(512, 320)``; both sides a positive multiple of 8 (the VAE's factor)."""
    try:
        w_text, h_text = text.lower().replace("×", "x").split("x")
        width, height = int(w_text), int(h_text)
    except ValueError:
        raise InputError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 512x320") from None
    if width < 64 or height < 64 or width % 8 or height % 8:
        raise InputError(f"size {width}x{height}: width and height must be multiples of 8, at least 64")
    return width, height


@dataclass(frozen=True)
class RenderRequest:
    """One video to render from a layout.

    ``n_frames`` frames at ``fps`` (the video's duration is ``n_frames / fps``; for a layout of D seconds at
    the default rate that is D). ``size`` is ``(width, height)`` in pixels. ``prompt_suffix`` is appended to
    every frame's prompt (style words, "photorealistic"); ``negative_prompt``, ``steps``, ``guidance_scale``
    and ``seed`` are the diffusion sampler's (the animatic ignores what it has no use for).
    """

    layout: VideoLayout
    n_frames: int
    fps: float = DEFAULT_FPS
    size: tuple[int, int] = DEFAULT_SIZE
    seed: int = 0
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    prompt_suffix: str = ""
    #: Extra generator-specific settings (grounding mode and strength, scheduler, ...), by name.
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_frames < 1:
            raise InputError(f"the number of frames is {self.n_frames}; expected at least 1")
        if not self.fps > 0 or not math.isfinite(self.fps):
            raise InputError(f"the frame rate is {self.fps}; expected a positive number")
        width, height = self.size
        if width < 8 or height < 8:
            raise InputError(f"the render size {width}x{height} is too small")
        if self.steps < 1:
            raise InputError(f"the number of steps is {self.steps}; expected at least 1")

    @property
    def width(self) -> int:
        return int(self.size[0])

    @property
    def height(self) -> int:
        return int(self.size[1])

    def frame_boxes(self) -> list[list[FrameBox]]:
        """Each frame's boxes in render pixels, sorted by id (frame i at ``i·D/(n−1)``)."""
        per_frame = interpolate(self.layout, self.n_frames)
        return [scale_boxes(boxes, self.layout.canvas, self.size) for boxes in per_frame]

    def keyframe_frames(self) -> list[int]:
        """The frame index nearest to each keyframe time (same order as the layout's keyframes)."""
        duration = float(self.layout.duration_s)
        if self.n_frames == 1 or duration <= 0:
            return [0 for _ in self.layout.keyframes]
        return [round(k.time_s / duration * (self.n_frames - 1)) for k in self.layout.keyframes]


class Generator(Protocol):
    """Anything that renders a :class:`RenderRequest` to frames."""

    #: A short name for messages and file metadata ("animatic", "diffusion").
    name: str

    def render(
        self,
        request: RenderRequest,
        progress: ProgressFn | None = None,
        preview: PreviewFn | None = None,
        is_cancelled: CancelFn | None = None,
    ) -> np.ndarray:
        """``(n_frames, height, width, 3)`` uint8 RGB. Raises Cancelled when cancelled, InputError for a
        request it cannot serve (with what to change), and never leaves anything half-written."""
        ...
