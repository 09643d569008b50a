"""The LLM planner's conversation: system instruction, in-context examples, the user's recording.

The structure follows SpA2V (section 3.1, appendix A): a system instruction casts the model as a video
director and fixes the canvas, the layout shape and the listening strategy; k example conversations
(audio + request → reasoning + layout) show the task; the user's recording comes last. Beyond the
paper, the cues our own analysis measured can be written into the user turns as text
(``include_cues``), with each source's event timeline when the caller has one (``events``: when each
source starts and stops sounding, as Audio-Agent gives its planner timed events), and a finished
layout can be revised in further turns (:func:`build_revision_messages`).

Messages are plain Chat Completions dicts, so any OpenAI-compatible endpoint takes them. Audio goes as
``{"type": "input_audio", "input_audio": {"data": <base64 WAV>, "format": "wav"}}`` with both channels
kept: the stereo image is the whole point. See :func:`encode_audio_wav` for how a recording is made
small enough to send.

The template text lives in ``resources/prompts/system_v1.txt``; :data:`PROMPT_VERSION` names it and is
part of every cache key, so changing the wording (or how audio is encoded) means bumping the version.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, Protocol

import numpy as np
import soundfile as sf
from scipy import signal

from engine.audio.io import open_audio, resample_ratio
from engine.audio.model import NOTABLE_CHANGE_DB, Analysis, Motion, RecordingKind, Source
from engine.audition.events import SourceEvents, describe_events
from engine.errors import InputError
from engine.layout.model import keyframe_times
from engine.planner.camera import Camera

#: Names the template file and the audio encoding; part of every cache key.
PROMPT_VERSION = "v1"
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "resources" / "prompts"

DEFAULT_K = 3
DEFAULT_TEMPERATURE = 0.5
DEFAULT_KEYFRAMES = 5
CANVAS_WIDTH = 454
CANVAS_HEIGHT = 256

#: Audio sent to the model: at most this rate and this many seconds (see encode_audio_wav).
AUDIO_MAX_RATE_HZ = 16000
AUDIO_MAX_DURATION_S = 30.0

REQUEST_TEXT = "Plan the video scene layout that this recording depicts."

#: Key order of a layout in an answer: reasoning before video caption before the boxes (the paper's
#: "reason first, then lay out"), the envelope first so the answer is a complete VSL file.
_ANSWER_KEYS = ("format", "version", "canvas", "duration_s", "reasoning", "video_caption", "keyframes")


class ExampleLike(Protocol):
    """What the prompt needs of an in-context example (``engine.planner.examples.Example``)."""

    name: str
    audio_path: Path
    reasoning: str
    layout: dict
    cue_summary: str


@dataclass(frozen=True)
class RevisionTurn:
    """An earlier round of revision: the layout the model proposed, then the change the user asked of it."""

    layout: dict
    request_text: str


# ------------------------------------------------------------------------------------------ audio


def encode_audio_wav(
    path: str | Path,
    max_rate_hz: int = AUDIO_MAX_RATE_HZ,
    max_duration_s: float = AUDIO_MAX_DURATION_S,
) -> bytes:
    """The recording at ``path`` as a 16-bit stereo WAV file (bytes), small enough to send.

    Any input the studio reads (WAV, FLAC, MP3, the audio track of a video) is decoded, kept as two
    channels (mono is duplicated, extra channels dropped), resampled down to ``max_rate_hz`` when its
    rate is higher, and cut after ``max_duration_s`` seconds. Why: audio models hear at about 16 kHz
    anyway, and 16-bit stereo at 16 kHz is 64 kB per second (about 2.6 MB of base64 for 30 s), so a
    request with three examples stays well under the endpoints' inline-data limits. Interaural time
    differences survive: 16 kHz resolves 62 µs, a tenth of the largest head ITD.
    Raises :class:`~engine.errors.AudioInputError` for an unreadable file.
    """
    source = open_audio(path)
    frames = min(source.frames, max(1, round(max_duration_s * source.sample_rate)))
    samples = source.read(0, frames)  # (n, 2) float32
    rate = source.sample_rate
    if rate > max_rate_hz:
        up, down = resample_ratio(rate, max_rate_hz)
        samples = signal.resample_poly(np.ascontiguousarray(samples.T), up, down, axis=1).T
        rate = max_rate_hz
    # The resampling filter can overshoot full scale by a hair; clip rather than wrap around.
    samples = np.clip(np.nan_to_num(samples), -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def audio_part(wav_bytes: bytes) -> dict[str, Any]:
    """The Chat Completions content part for a WAV file's bytes."""
    return {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(wav_bytes).decode("ascii"), "format": "wav"},
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


# ------------------------------------------------------------------------------------ instruction


def load_template(version: str = PROMPT_VERSION) -> Template:
    """The system instruction template ``resources/prompts/system_<version>.txt``."""
    path = PROMPTS_DIR / f"system_{version}.txt"
    try:
        return Template(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: the prompt template cannot be read ({exc.strerror or exc})") from None


def _answer_shape(n_keyframes: int, width: int, height: int) -> str:
    """A skeleton of the answer for the instruction: the SPEC's VSL with placeholders."""
    frame = '{"time_s": <seconds>, "caption": "<what is seen>", "objects": [{"id": 0, "name": "<object>", ' \
            '"box": [x0, y0, x1, y1]}, ...]}'
    frames = ",\n    ".join([frame] + (["..."] if n_keyframes > 1 else []))
    return (
        "{\n"
        '  "format": "spa2v.vsl", "version": 1,\n'
        f'  "canvas": {{"width": {width}, "height": {height}}},\n'
        '  "duration_s": <D>,\n'
        '  "reasoning": "<a few sentences: the sources and the cues that place them>",\n'
        '  "video_caption": "<the whole clip in one or two sentences>",\n'
        f'  "keyframes": [\n    {frames}\n  ]  (exactly {n_keyframes} keyframes)\n'
        "}"
    )


def system_instruction(
    n_keyframes: int = DEFAULT_KEYFRAMES,
    width: int = CANVAS_WIDTH,
    height: int = CANVAS_HEIGHT,
    version: str = PROMPT_VERSION,
    with_examples: bool = True,
) -> str:
    """The system instruction text for ``n_keyframes`` keyframes on a ``width`` x ``height`` canvas.

    ``with_examples``: whether example conversations follow (the text then points to them).
    """
    if n_keyframes < 2:
        raise InputError(f"the number of keyframes is {n_keyframes}; the LLM planner needs at least 2")
    camera = Camera(width=float(width), height=float(height))
    return load_template(version).substitute(
        width=width,
        height=height,
        n_keyframes=n_keyframes,
        last_index=n_keyframes - 1,
        x_centre=round(width / 2),
        x_left_third=round(float(camera.x_for_azimuth(-15.0))),
        x_right_third=round(float(camera.x_for_azimuth(15.0))),
        edge_deg=round(camera.hfov_deg / 2),
        horizon_y=round(camera.horizon_frac * height),
        answer_shape=_answer_shape(n_keyframes, width, height),
        examples_note="The example conversations that follow show the shape exactly." if with_examples else "",
    ).strip()


# ----------------------------------------------------------------------------------------- turns


def _fmt_times(times: Sequence[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def request_text(
    duration_s: float,
    n_keyframes: int,
    labels: str | None = None,
    cue_text: str | None = None,
    heard_s: float | None = None,
) -> str:
    """The text of a planning request: the clip's duration, the keyframe times, hints and cues."""
    times = keyframe_times(duration_s, n_keyframes)
    lines = [
        REQUEST_TEXT,
        f"The clip lasts {duration_s:.2f} s; give {n_keyframes} keyframes at {_fmt_times(times)} s.",
    ]
    if heard_s is not None and heard_s + 1e-6 < duration_s:
        lines.append(f"(The attached audio is the first {heard_s:.0f} s of the recording; "
                     "the measured cues cover all of it.)")
    if labels and labels.strip():
        lines.append(f"The user names the sounding objects: {labels.strip()} "
                     "(name@side ties a name to a side). Use these names.")
    if cue_text:
        lines.append(cue_text)
    return "\n".join(lines)


def _motion_words(motion: Motion) -> str:
    return {
        Motion.STATIONARY: "stays in place",
        Motion.MOVING_LEFT: "moves to the left",
        Motion.MOVING_RIGHT: "moves to the right",
        Motion.APPROACHING: "comes closer",
        Motion.RECEDING: "moves away",
    }[motion]


def _x_words(camera: Camera, start_deg: float, end_deg: float) -> str:
    """Where the directions fall on the canvas: "x about 120 -> x about 340", or past an edge of the view."""
    edge = camera.hfov_deg / 2.0

    def one(az: float) -> str:
        if abs(az) > edge:
            return f"past the {'right' if az > 0 else 'left'} edge of the view"
        return f"x about {float(camera.x_for_azimuth(az)):.0f}"

    a, b = one(start_deg), one(end_deg)
    return a if a == b else f"{a} -> {b}"


def cue_summary(
    analysis: Analysis, camera: Camera | None = None, events: Sequence[SourceEvents] | None = None
) -> str:
    """The measured cues of a recording in words, for the model (and for an example's ``cue_summary``).

    Per source (most confident first): side, azimuth start → end with the canvas x it maps to, motion,
    level trend, when it sounds and the analysis's confidence; and the recording kind. Positive azimuth
    is right (SPEC.md). The numbers are rounded: they are hints, not data to copy.

    ``events`` (:func:`engine.audition.events.source_events` of the same recording), when given, replace
    the tracks' coarse "sounding" spans with the event timeline (onset-offset per source, under the same
    "Source N" names) and tell the model that objects enter when their sound starts.
    """
    camera = camera or Camera()
    kind = analysis.kind
    lines = ["Measured cues (signal analysis of the two channels; azimuth in degrees, negative = left, "
             "positive = right; x is where that direction falls on the canvas):"]
    kind_words = {
        RecordingKind.BINAURAL: "binaural (a dummy head: time and level differences both count)",
        RecordingKind.SPACED: "a spaced microphone pair (time differences carry the direction)",
        RecordingKind.PANPOT: "a studio mix panned by level (no time differences)",
        RecordingKind.MONO: "mono (no direction can be heard: keep sources near the centre)",
    }
    lines.append(f"- Recording: {kind_words[kind]}, decided with confidence {analysis.kind_confidence:.2f}.")
    sources = sorted(analysis.sources, key=lambda s: -s.confidence)
    if not sources:
        lines.append("- No directional source was found.")
    for number, src in enumerate(sources, start=1):
        if src.level_change_db >= NOTABLE_CHANGE_DB:
            level = f"getting louder by {src.level_change_db:.0f} dB"
        elif src.level_change_db <= -NOTABLE_CHANGE_DB:
            level = f"getting quieter by {abs(src.level_change_db):.0f} dB"
        else:
            level = "steady in level"
        clarity = src.clarity_part_db
        if abs(clarity) >= NOTABLE_CHANGE_DB:
            level += (f", with {'more' if clarity > 0 else 'less'} of it coming straight rather than from the room "
                      f"(together {abs(src.nearness_db):.0f} dB {'nearer' if src.nearness_db > 0 else 'farther'})")
        spans = "" if events is not None else ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in src.active[:4])
        when = f", sounding {spans}" if spans else ""
        lines.append(
            f"- Source {number}: {src.side.value}, azimuth {src.azimuth_start_deg:+.0f} -> "
            f"{src.azimuth_end_deg:+.0f} ({_x_words(camera, src.azimuth_start_deg, src.azimuth_end_deg)}), "
            f"{_motion_words(src.motion)}, "
            f"{level}{when}; confidence {src.confidence:.2f}."
        )
    if events is not None and sources:
        lines += _timeline_lines(sources, events)
    for warning in analysis.warnings:
        lines.append(f"- Note: {warning}")
    return "\n".join(lines)


def _timeline_lines(sources: Sequence[Source], events: Sequence[SourceEvents]) -> list[str]:
    """The event timeline under the cue summary's "Source N" names, and what it means for the layout.

    Events of ids the analysis does not hold are left out: the model could not tie them to a source.
    """
    number = {src.id: n for n, src in enumerate(sources, start=1)}
    known = sorted((ev for ev in events if ev.source_id in number), key=lambda ev: number[ev.source_id])
    names = {src_id: f"Source {n}" for src_id, n in number.items()}
    return [
        f"- When each source sounds (measured onset–offset, seconds): "
        f"{describe_events(known, names)}.",
        "- Objects should appear when their sound starts and may leave when it stops: leave an object out of "
        "the keyframes before its first onset; after its sound ends for good it may leave the picture. "
        "A pause shorter than the keyframe spacing does not make it leave.",
    ]


def _round_boxes(value: Any, key: str = "") -> Any:
    """A copy of a layout with box corners at one decimal: fewer tokens, and it shows the model the
    precision wanted. Times and other numbers keep theirs (0.25 s must not become 0.2 s)."""
    if key == "box" and isinstance(value, (list, tuple)):
        return [round(v, 1) if isinstance(v, float) and math.isfinite(v) else v for v in value]
    if isinstance(value, Mapping):
        return {k: _round_boxes(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round_boxes(v) for v in value]
    return value


def answer_text(layout: Mapping[str, Any], reasoning: str | None = None) -> str:
    """A layout as the model should answer: one JSON object, keys in :data:`_ANSWER_KEYS` order.

    ``reasoning`` (an example's statement) replaces the layout's own when given.
    """
    data = dict(layout)
    if reasoning:
        data["reasoning"] = reasoning
    ordered = {key: data[key] for key in _ANSWER_KEYS if key in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return json.dumps(_round_boxes(ordered), ensure_ascii=False)


def _layout_duration(layout: Mapping[str, Any], fallback: float) -> float:
    value = layout.get("duration_s")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return fallback


def _layout_keyframes(layout: Mapping[str, Any], fallback: int) -> int:
    frames = layout.get("keyframes")
    return len(frames) if isinstance(frames, list) and len(frames) >= 2 else fallback


def _audio_seconds(wav_bytes: bytes) -> float:
    info = sf.info(io.BytesIO(wav_bytes))
    return info.frames / float(info.samplerate)


@dataclass
class BuiltPrompt:
    """The messages and what went into them (for the cache key and the logs; no audio data)."""

    messages: list[dict[str, Any]]
    example_names: list[str]
    user_text: str


def example_turns(examples: Sequence[ExampleLike], include_cues: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """User/assistant message pairs for the in-context examples, and the names of those used.

    Each user turn carries the example's audio, the request (with the example's own duration and
    keyframe count) and, with ``include_cues``, its cue summary; the assistant turn is its reasoning
    and layout. Raises :class:`~engine.errors.AudioInputError` for an example whose audio is unreadable.
    """
    messages: list[dict[str, Any]] = []
    names: list[str] = []
    for example in examples:
        wav = encode_audio_wav(example.audio_path)
        layout = example.layout
        duration = _layout_duration(layout, _audio_seconds(wav))
        text = request_text(
            duration,
            _layout_keyframes(layout, DEFAULT_KEYFRAMES),
            cue_text=(example.cue_summary or None) if include_cues else None,
        )
        messages.append({"role": "user", "content": [audio_part(wav), text_part(text)]})
        messages.append({"role": "assistant", "content": answer_text(layout, example.reasoning)})
        names.append(example.name)
    return messages, names


def build_plan_messages(
    user_wav: bytes,
    analysis: Analysis,
    examples: Sequence[ExampleLike] = (),
    n_keyframes: int = DEFAULT_KEYFRAMES,
    labels: str | None = None,
    include_cues: bool = True,
    events: Sequence[SourceEvents] | None = None,
) -> BuiltPrompt:
    """The whole planning conversation: system, k example pairs, then the user's audio and request.

    ``user_wav`` comes from :func:`encode_audio_wav`; ``analysis`` gives the clip's duration and, with
    ``include_cues``, the measured cues written into the user turn. ``events`` (the recording's event
    timeline, :func:`engine.audition.events.source_events`) join those cues when given; they are measured
    cues too, so ``include_cues=False`` leaves them out as well.
    """
    pairs, names = example_turns(examples, include_cues)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_instruction(n_keyframes, with_examples=bool(pairs))},
        *pairs,
    ]
    text = user_request_text(analysis, n_keyframes, labels, include_cues, _audio_seconds(user_wav), events)
    messages.append({"role": "user", "content": [audio_part(user_wav), text_part(text)]})
    return BuiltPrompt(messages, names, text)


def user_request_text(
    analysis: Analysis,
    n_keyframes: int,
    labels: str | None,
    include_cues: bool,
    heard_s: float | None = None,
    events: Sequence[SourceEvents] | None = None,
) -> str:
    """The text of the user's planning request for ``analysis`` (with ``events`` in its cues, if given)."""
    return request_text(
        float(analysis.duration_s),
        n_keyframes,
        labels=labels,
        cue_text=cue_summary(analysis, events=events) if include_cues else None,
        heard_s=heard_s,
    )


def revision_request_text(request: str) -> str:
    """The user's change request, with what the answer must keep."""
    return (
        f"Change the layout: {request.strip()}\n"
        "Answer with the whole revised layout in the same JSON shape. Change only what this asks for; "
        "keep the other objects, their ids and the keyframe times, and update the reasoning and the "
        "captions where they no longer fit."
    )


def build_revision_messages(
    current_layout: Mapping[str, Any],
    request: str,
    user_wav: bytes,
    analysis: Analysis,
    history: Sequence[RevisionTurn] = (),
    labels: str | None = None,
    include_cues: bool = True,
    events: Sequence[SourceEvents] | None = None,
) -> BuiltPrompt:
    """A multi-turn revision: system, the user's audio + original request, the layouts so far as the
    model's answers with the user's change requests between them, and the new change request last.

    ``history`` holds earlier rounds (oldest first): each a layout the model proposed and the change
    the user then asked for; ``current_layout`` is the layout as it stands now (possibly edited by hand).
    ``events`` as in :func:`build_plan_messages`.
    """
    if not request or not request.strip():
        raise InputError("the change request is empty; say what should change, e.g. 'move the car further left'")
    n_keyframes = _layout_keyframes(current_layout, DEFAULT_KEYFRAMES)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_instruction(n_keyframes, with_examples=False)},
    ]
    text = user_request_text(analysis, n_keyframes, labels, include_cues, _audio_seconds(user_wav), events)
    messages.append({"role": "user", "content": [audio_part(user_wav), text_part(text)]})
    for turn in history:
        messages.append({"role": "assistant", "content": answer_text(turn.layout)})
        messages.append({"role": "user", "content": revision_request_text(turn.request_text)})
    messages.append({"role": "assistant", "content": answer_text(current_layout)})
    messages.append({"role": "user", "content": revision_request_text(request)})
    return BuiltPrompt(messages, [], text)


def feedback_text(problem: str, n_keyframes: int, duration_s: float) -> str:
    """The user turn sent after an answer that could not be used: what was wrong and what is wanted."""
    times = keyframe_times(duration_s, n_keyframes)
    return (
        f"Your answer could not be used: {problem}\n"
        f"Answer again with one JSON object only (no prose, no code fences) in the shape the instruction "
        f"gives: \"keyframes\" holds exactly {n_keyframes} entries at {_fmt_times(times)} s, each with "
        f"\"time_s\", \"caption\" and \"objects\"; every object has an integer \"id\", a \"name\" and a "
        f"\"box\" of four numbers [x0, y0, x1, y1] with x0 < x1 <= {CANVAS_WIDTH} and y0 < y1 <= {CANVAS_HEIGHT}."
    )


def text_of_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    """All text in a conversation, audio left out: for hashing into the cache key."""
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(f"{message.get('role')}: {content}")
            continue
        for part in content or []:
            if part.get("type") == "text":
                parts.append(f"{message.get('role')}: {part['text']}")
            elif part.get("type") == "input_audio":
                parts.append(f"{message.get('role')}: <audio>")
    return "\n".join(parts)
