"""The animatic: a layout drawn as labelled boxes over a plain scene, a preview video that renders anywhere.

Each frame shows the request's interpolated boxes (render pixels) as rectangles with a semi-transparent fill
and a solid outline in a fixed colour per object id, the object's name in a tab at the box's top-left corner,
the caption of the current keyframe segment as a subtitle at the bottom and a frame counter in the top-right
corner, all over a quiet sky-and-ground backdrop split at the horizon so that the frame reads as a scene.

Times follow SPEC.md and :mod:`engine.render.base`: frame i of n sits at ``i·D/(n−1)`` of a clip of duration
D; the counter shows that time, so the counter, the boxes and the subtitle always agree. A frame shows the
caption of the keyframe at or before its time, and the video caption where that keyframe has none (or where
the frame lies before the first keyframe).

:func:`draw_boxes` is the box-drawing routine on its own, for drawing a layout over frames that already exist
(the "check" overlay of :func:`engine.render.video.overlay_boxes`). Drawing uses Pillow; text is DejaVu Sans
(Debian's fonts-dejavu-core) where installed, else Pillow's built-in font, sized from the frame height.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.errors import Cancelled
from engine.layout.interp import AT_KEYFRAME_S, FrameBox, frame_times
from engine.layout.model import VideoLayout
from engine.render.base import CancelFn, PreviewFn, ProgressFn, RenderRequest

#: One colour per object id (id modulo the length), chosen to stay apart from each other and from the
#: sky-and-ground backdrop, so that a box's id is readable from its colour alone.
OBJECT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (228, 26, 28),  # red
    (31, 100, 220),  # blue
    (46, 160, 44),  # green
    (255, 127, 0),  # orange
    (152, 78, 163),  # purple
    (0, 150, 150),  # teal
    (230, 40, 180),  # magenta
    (200, 170, 0),  # mustard
    (120, 70, 20),  # brown
    (20, 30, 110),  # navy
)

#: Opacity of a box's fill (its outline and label tab are opaque).
FILL_ALPHA = 0.4

#: Where the ground begins, as a fraction of the frame height from the top.
HORIZON_FRACTION = 0.58

# The backdrop: (top colour, bottom colour) of the sky and of the ground, each a vertical gradient.
_SKY = ((164, 196, 222), (214, 226, 232))
_GROUND = ((186, 180, 160), (150, 144, 124))

#: Text sizes as fractions of the frame height, and the smallest size in pixels that still reads.
_LABEL_FRACTION, _SUBTITLE_FRACTION, _COUNTER_FRACTION = 0.045, 0.055, 0.04
_MIN_TEXT_PX = 8

#: Frames between two preview calls: about ten previews per render, whatever its length.
_PREVIEWS_PER_RENDER = 10

_FONT_FILES = {
    False: ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"),
    True: ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf",
           "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"),
}

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def object_colour(object_id: int) -> tuple[int, int, int]:
    """The RGB colour of an object id in every animatic and overlay (a fixed palette, cycled)."""
    return OBJECT_COLOURS[int(object_id) % len(OBJECT_COLOURS)]


@functools.lru_cache(maxsize=64)
def load_font(size_px: int, bold: bool = False) -> Font:
    """DejaVu Sans (bold if asked) at ``size_px`` pixels; Pillow's built-in font where DejaVu is missing."""
    size_px = max(1, int(size_px))
    for candidate in _FONT_FILES[bold]:
        # A bare file name is looked up in the system's font folders by Pillow.
        if "/" in candidate and not Path(candidate).is_file():
            continue
        try:
            return ImageFont.truetype(candidate, size_px)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size_px)  # scalable where Pillow has FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


@dataclass(frozen=True)
class TextStyle:
    """Fonts and line widths for one frame height (text and lines grow with the frame)."""

    label_font: Font
    subtitle_font: Font
    counter_font: Font
    outline_px: int
    pad_px: int

    @classmethod
    def for_height(cls, height_px: int) -> TextStyle:
        """The style for frames ``height_px`` pixels tall."""
        def size(fraction: float) -> int:
            return max(_MIN_TEXT_PX, round(height_px * fraction))

        return cls(
            label_font=load_font(size(_LABEL_FRACTION), bold=True),
            subtitle_font=load_font(size(_SUBTITLE_FRACTION)),
            counter_font=load_font(size(_COUNTER_FRACTION)),
            outline_px=max(1, round(height_px / 160)),
            pad_px=max(1, round(height_px / 120)),
        )


def backdrop(width: int, height: int) -> np.ndarray:
    """The plain scene behind the boxes: ``(height, width, 3)`` uint8, a sky gradient over a ground one."""
    horizon = min(height, max(0, round(height * HORIZON_FRACTION)))
    rows = np.empty((height, 3), dtype=np.float64)
    for (top, bottom), span in ((_SKY, slice(0, horizon)), (_GROUND, slice(horizon, height))):
        n = span.stop - span.start
        if n <= 0:
            continue
        ramp = np.linspace(0.0, 1.0, n)[:, None]
        rows[span] = (1.0 - ramp) * np.asarray(top, float) + ramp * np.asarray(bottom, float)
    column = np.round(rows).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(column[:, None, :], (height, width, 3)))


def caption_at(layout: VideoLayout, time_s: float) -> str:
    """The subtitle at ``time_s``: the caption of the keyframe at or before it, else the video caption.

    A keyframe with an empty caption, or a time before the first keyframe, falls back to the video caption.
    """
    caption = ""
    for keyframe in layout.keyframes:
        if keyframe.time_s > time_s + AT_KEYFRAME_S:
            break
        caption = keyframe.caption
    return caption.strip() or layout.video_caption.strip()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Font) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of ``text`` drawn at the origin."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom)


def _ink_for(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``colour`` (by its perceived brightness)."""
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (0, 0, 0) if luma > 150 else (255, 255, 255)


def _pixel_rect(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int] | None:
    """A float box as Pillow's inclusive pixel rectangle inside the frame; None when nothing is visible."""
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, max(x1, x0 + 1)), min(height, max(y1, y0 + 1))
    if x0 >= width or y0 >= height or x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - 1, y1 - 1)


def _label_texts(boxes: Sequence[FrameBox]) -> list[str]:
    """Each box's name; where two boxes of a frame share a name, the id tells them apart."""
    counts: dict[str, int] = {}
    for b in boxes:
        counts[b.name] = counts.get(b.name, 0) + 1
    return [b.name if counts[b.name] == 1 else f"{b.name} #{b.id}" for b in boxes]


def draw_boxes(image: Image.Image, boxes: Sequence[FrameBox], style: TextStyle | None = None,
               fill_alpha: float = FILL_ALPHA) -> None:
    """Draw ``boxes`` (pixels of ``image``) on an RGB ``image`` in place: fill, outline and a name tab each.

    Larger boxes are drawn first so that a small box in front of a large one stays visible; the name tabs
    come last so that no fill covers a name. A tab sits above its box's top-left corner, or just inside the
    box where the box touches the top edge. ``style`` defaults to the style for the image's height.
    """
    if image.mode != "RGB":
        raise ValueError(f"draw_boxes draws on RGB images, got mode {image.mode!r}")
    width, height = image.size
    style = style or TextStyle.for_height(height)
    draw = ImageDraw.Draw(image, "RGBA")  # RGBA ink on an RGB image blends by the ink's alpha
    alpha = max(0, min(255, round(255 * fill_alpha)))
    labelled = sorted(zip(boxes, _label_texts(boxes), strict=True),
                      key=lambda pair: -(pair[0].box[2] - pair[0].box[0]) * (pair[0].box[3] - pair[0].box[1]))
    placed: list[tuple[tuple[int, int, int, int], str, tuple[int, int, int]]] = []
    for frame_box, text in labelled:
        rect = _pixel_rect(frame_box.box, width, height)
        if rect is None:
            continue
        colour = object_colour(frame_box.id)
        draw.rectangle(rect, fill=(*colour, alpha))
        draw.rectangle(rect, outline=(*colour, 255), width=style.outline_px)
        placed.append((rect, text, colour))
    for (x0, y0, _x1, _y1), text, colour in placed:
        left, top, right, bottom = _text_size(draw, text, style.label_font)
        tab_w = right - left + 2 * style.pad_px
        tab_h = bottom - top + 2 * style.pad_px
        tab_x = max(0, min(x0, width - tab_w))
        tab_y = y0 - tab_h if y0 - tab_h >= 0 else y0
        draw.rectangle((tab_x, tab_y, tab_x + tab_w - 1, tab_y + tab_h - 1), fill=(*colour, 255))
        draw.text((tab_x + style.pad_px - left, tab_y + style.pad_px - top), text, font=style.label_font,
                  fill=_ink_for(colour))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to ``max_width`` pixels; text beyond ``max_lines`` lines is cut with an ellipsis."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and draw.textlength(candidate, font=font) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " …"
    # A single word wider than the frame (or the ellipsis line) is shortened from its end.
    for i, line in enumerate(lines):
        while len(line) > 1 and draw.textlength(line, font=font) > max_width:
            line = line[:-2].rstrip() + "…"
        lines[i] = line
    return lines


def draw_subtitle(image: Image.Image, text: str, style: TextStyle | None = None, max_lines: int = 2) -> None:
    """Draw ``text`` centred at the bottom of an RGB ``image`` in place: white on a dark translucent band."""
    text = " ".join(text.split())
    if not text:
        return
    width, height = image.size
    style = style or TextStyle.for_height(height)
    draw = ImageDraw.Draw(image, "RGBA")
    font = style.subtitle_font
    margin = 3 * style.pad_px
    lines = _wrap(draw, text, font, max(1, width - 4 * margin), max_lines)
    line_boxes = [_text_size(draw, line, font) for line in lines]
    line_h = max(bottom - top for _, top, _, bottom in line_boxes)
    gap = max(1, line_h // 5)
    block_h = len(lines) * line_h + (len(lines) - 1) * gap
    block_w = max(right - left for left, _, right, _ in line_boxes)
    band_x0 = max(0, (width - block_w) // 2 - margin)
    band_x1 = min(width - 1, (width + block_w) // 2 + margin)
    band_y1 = height - 1 - margin
    band_y0 = max(0, band_y1 - block_h - 2 * style.pad_px)
    draw.rectangle((band_x0, band_y0, band_x1, band_y1), fill=(0, 0, 0, 150))
    y = band_y0 + style.pad_px
    for line, (left, top, right, _bottom) in zip(lines, line_boxes, strict=True):
        x = (width - (right - left)) // 2 - left
        draw.text((x, y - top), line, font=font, fill=(255, 255, 255))
        y += line_h + gap


def counter_text(frame_index: int, n_frames: int, time_s: float) -> str:
    """The frame counter, 1-based: ``"frame 12/64 · 1.38 s"``."""
    return f"frame {frame_index + 1}/{n_frames} · {time_s:.2f} s"


def draw_counter(image: Image.Image, text: str, style: TextStyle | None = None) -> None:
    """Draw ``text`` in the top-right corner of an RGB ``image`` in place, on a dark translucent tab."""
    width, height = image.size
    style = style or TextStyle.for_height(height)
    draw = ImageDraw.Draw(image, "RGBA")
    left, top, right, bottom = _text_size(draw, text, style.counter_font)
    tab_w = right - left + 2 * style.pad_px
    tab_h = bottom - top + 2 * style.pad_px
    x0 = max(0, width - style.pad_px - tab_w)
    y0 = style.pad_px
    draw.rectangle((x0, y0, x0 + tab_w - 1, y0 + tab_h - 1), fill=(0, 0, 0, 130))
    draw.text((x0 + style.pad_px - left, y0 + style.pad_px - top), text, font=style.counter_font,
              fill=(255, 255, 255))


class AnimaticGenerator:
    """The layout as labelled boxes over a plain scene (see the module docstring); needs no GPU or weights.

    Sampler settings of the request (seed, steps, guidance, prompts) have no effect: the animatic is the same
    for the same layout, frame count and size.
    """

    name = "animatic"

    def render(
        self,
        request: RenderRequest,
        progress: ProgressFn | None = None,
        preview: PreviewFn | None = None,
        is_cancelled: CancelFn | None = None,
    ) -> np.ndarray:
        """``(n_frames, height, width, 3)`` uint8 RGB frames of ``request``.

        ``is_cancelled`` is asked before each frame (raising :class:`~engine.errors.Cancelled` when it turns
        true); ``progress`` gets the fraction of frames done after each frame; ``preview`` gets
        ``(frame_index, frames_so_far)`` about ten times per render, the last time with every frame.
        ``frames_so_far`` is a read-only view of the frames drawn so far, which are never drawn again.
        """
        n, width, height = request.n_frames, request.width, request.height
        layout = request.layout
        boxes_per_frame = request.frame_boxes()
        times = frame_times(layout.duration_s, n)
        style = TextStyle.for_height(height)
        scene = Image.fromarray(backdrop(width, height))
        frames = np.empty((n, height, width, 3), dtype=np.uint8)
        preview_every = max(1, math.ceil(n / _PREVIEWS_PER_RENDER))
        for i in range(n):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled(f"the animatic was cancelled at frame {i + 1} of {n}")
            image = scene.copy()
            draw_boxes(image, boxes_per_frame[i], style)
            draw_subtitle(image, caption_at(layout, times[i]), style)
            draw_counter(image, counter_text(i, n, times[i]), style)
            frames[i] = np.asarray(image)
            if progress is not None:
                progress((i + 1) / n)
            if preview is not None and ((i + 1) % preview_every == 0 or i == n - 1):
                so_far = frames[: i + 1]
                so_far.flags.writeable = False
                preview(i, so_far)
        return frames
