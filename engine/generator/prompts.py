"""Per-frame prompts for the generator, and where each object's name sits in its frame's tokens.

The paper's "Mix" captioning (Table 5): a keyframe's frame shows that keyframe's caption, every other
frame the video caption. Each frame's prompt then names the objects present in that frame
(``"<caption>, a car, a violin"``) and ends with the request's ``prompt_suffix``::

    "a quiet street at night, a car, a violin, photorealistic"

Grounding needs, for each object of each frame, the positions of its *name* ("car", not "a car") in the
frame's 77-token CLIP sequence (``<|startoftext|>`` at 0). Byte-pair tokens never cross a word boundary, so
the tokens of the text before a name are exactly the first tokens of the whole prompt: the name's
positions are counted from the token length of the text before it and the text through it.

A caption too long for CLIP's 77 tokens is shortened word by word from its end, so that the object names
and the suffix always fit: a name cut off by truncation could not be grounded. Only when the names alone do
not fit are the last objects left ungrounded (they stay in the text as far as it goes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.layout.interp import FrameBox

log = logging.getLogger(__name__)

_ARTICLES = ("a ", "an ", "the ", "some ", "two ", "three ")


class Tokenizer(Protocol):
    """What is needed of a CLIP tokenizer (``transformers.CLIPTokenizer`` has it)."""

    model_max_length: int

    def __call__(self, text: str, add_special_tokens: bool = ...) -> object: ...


@dataclass(frozen=True)
class ObjectTokens:
    """One object of one frame: its name's token positions and its box.

    ``token_indices`` index the frame's 77-token sequence (``<|startoftext|>`` at 0); empty when the
    name did not fit. ``box`` is ``(x0, y0, x1, y1)`` as fractions of the frame's width and height.
    """

    object_id: int
    name: str
    token_indices: tuple[int, ...]
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class FramePrompt:
    """The prompt of one frame and its objects; ``caption_kind`` is ``"keyframe"`` or ``"video"``."""

    text: str
    objects: tuple[ObjectTokens, ...]
    caption_kind: str

    def regions(self) -> list[tuple[list[int], tuple[float, float, float, float]]]:
        """``(token_indices, box)`` for each object that has tokens: one frame of the grounding's input."""
        return [(list(o.token_indices), o.box) for o in self.objects if o.token_indices]


def object_phrase(name: str) -> tuple[str, int]:
    """``"car"`` → ``("a car", 2)``: the phrase naming an object and where the name starts in it.

    A name that already starts with an article or a number word is used as it is.
    """
    name = " ".join(name.split())
    if name.lower().startswith(_ARTICLES):
        return name, 0
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name}", len(article) + 1


def compose_prompt(caption: str, names: Sequence[str], suffix: str = "") -> tuple[str, list[tuple[int, int]]]:
    """``caption, a name, a name, suffix`` and the character span ``[start, end)`` of each name in it."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    cursor = 0

    def add(text: str) -> int:
        nonlocal cursor
        if parts:
            parts.append(", ")
            cursor += 2
        start = cursor
        parts.append(text)
        cursor += len(text)
        return start

    caption = " ".join(caption.split()).rstrip(" ,.;:")  # "street., a car" reads badly; "street, a car" well
    if caption:
        add(caption)
    for name in names:
        phrase, offset = object_phrase(name)
        start = add(phrase) + offset
        spans.append((start, start + len(phrase) - offset))
    suffix = " ".join(suffix.split()).strip(" ,")
    if suffix:
        add(suffix)
    return "".join(parts), spans


def _n_tokens(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])  # type: ignore[index]


def name_token_indices(tokenizer: Tokenizer, text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
    """The token positions of each character span of ``text`` in its padded CLIP sequence.

    Positions count ``<|startoftext|>`` as 0; positions that truncation cuts off (the last place holds
    ``<|endoftext|>``) are dropped, so a span past the end gets an empty tuple.
    """
    last = int(tokenizer.model_max_length) - 1  # the end-of-text token's place in a full sequence
    out = []
    for start, end in spans:
        first = 1 + _n_tokens(tokenizer, text[:start])
        stop = 1 + _n_tokens(tokenizer, text[:end])
        out.append(tuple(i for i in range(first, stop) if i < last))
    return out


def fit_caption(tokenizer: Tokenizer, caption: str, names: Sequence[str], suffix: str = "") -> str:
    """``caption`` shortened word by word from its end until the whole prompt fits CLIP's window."""
    budget = int(tokenizer.model_max_length) - 2  # start and end tokens
    if _n_tokens(tokenizer, compose_prompt(caption, names, suffix)[0]) <= budget:
        return caption
    words = caption.split()
    low, high = 0, len(words)  # the longest word count that fits lies in [low, high)
    while high - low > 1:
        mid = (low + high) // 2
        if _n_tokens(tokenizer, compose_prompt(" ".join(words[:mid]), names, suffix)[0]) <= budget:
            low = mid
        else:
            high = mid
    return " ".join(words[:low])


def frame_caption_kinds(n_frames: int, keyframe_positions: Sequence[float], keyframe_captions: Sequence[str],
                        video_caption: str) -> list[tuple[str, str]]:
    """Each frame's caption by the Mix rule: ``(caption, "keyframe" | "video")``.

    ``keyframe_positions`` are the keyframes' places in frames (``time / duration · (T − 1)``, fractional);
    a keyframe sits on the frame it rounds to. A keyframe's frame takes its caption (the video caption when
    that is empty); other frames take the video caption (the nearest keyframe's caption when the video has
    none). When several keyframes round to one frame (fewer frames than keyframes), the nearest one wins.
    """
    on_frame: dict[int, int] = {}
    for k, position in enumerate(keyframe_positions):
        frame = round(position)
        if 0 <= frame < n_frames and (
                frame not in on_frame or abs(position - frame) < abs(keyframe_positions[on_frame[frame]] - frame)):
            on_frame[frame] = k
    out = []
    for t in range(n_frames):
        if t in on_frame:
            out.append((keyframe_captions[on_frame[t]].strip() or video_caption.strip(), "keyframe"))
            continue
        caption = video_caption.strip()
        if not caption and keyframe_positions:
            nearest = min(range(len(keyframe_positions)), key=lambda k: (abs(keyframe_positions[k] - t), k))
            caption = keyframe_captions[nearest].strip()
        out.append((caption, "video"))
    return out


def frame_prompts(tokenizer: Tokenizer, captions: Sequence[tuple[str, str]], frame_boxes: Sequence[Sequence[FrameBox]],
                  size: tuple[int, int], suffix: str = "") -> list[FramePrompt]:
    """One :class:`FramePrompt` per frame from its caption, its boxes (render pixels) and the suffix.

    ``size`` is the render ``(width, height)``; boxes become fractions of it, clipped to [0, 1].
    """
    if len(captions) != len(frame_boxes):
        raise ValueError(f"{len(captions)} captions for {len(frame_boxes)} frames")
    width, height = size
    cache: dict[tuple[str, tuple[str, ...]], tuple[str, list[tuple[int, ...]]]] = {}
    out = []
    for (caption, kind), boxes in zip(captions, frame_boxes, strict=True):
        names = tuple(b.name for b in boxes)
        key = (caption, names)
        if key not in cache:
            fitted = fit_caption(tokenizer, caption, names, suffix)
            if fitted != caption:
                log.info("caption shortened to fit CLIP's %d tokens: %r", tokenizer.model_max_length, fitted)
            text, spans = compose_prompt(fitted, names, suffix)
            cache[key] = (text, name_token_indices(tokenizer, text, spans))
        text, indices = cache[key]
        objects = []
        for box, tokens in zip(boxes, indices, strict=True):
            if not tokens:
                log.warning("object %d (%s) does not fit in the prompt's 77 tokens; it is not grounded",
                            box.id, box.name)
            x0, y0, x1, y1 = box.box
            normalised = (_unit(x0 / width), _unit(y0 / height), _unit(x1 / width), _unit(y1 / height))
            objects.append(ObjectTokens(box.id, box.name, tokens, normalised))
        out.append(FramePrompt(text, tuple(objects), kind))
    return out


def _unit(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
