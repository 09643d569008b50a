"""A generated corpus of bad inputs, each with the outcome the program owes it.

    python -m tests.hardening.corpus OUT_DIR [--skip-slow]

writes every case into OUT_DIR, with ``corpus.json`` listing each case's file, the command that reads it and
its expected outcome. Nothing is kept as a binary in the repository: every file is made here, seeded, in
milliseconds (the one-hour recording in about a second).

Three kinds of input, read the way a user's command reads them:

- **audio** (``analyze AUDIO --json OUT``): truncated, header-only, empty, NaN, Inf, silent, mono,
  6-channel, 8 kHz, 192 kHz, 2 kHz, text named ``.wav``, random bytes named ``.flac``, a video-only MP4, a
  folder named ``.wav``, and one hour of sound;
- **vsl** (``render VSL --generator animatic --no-audio --out OUT``): each field of SPEC.md's VSL wrong in
  turn, a file that is not JSON, a JSON array, JSON nested thousands deep, a 33 MB file;
- **project** (:func:`engine.project.load_project`, what ``open`` and the studio do with a ``.spa2v``): a
  future version, a missing recording, a malformed layout inside, truncated JSON, an API key in the file ...

Outcomes (:data:`OUTCOMES`): ``error`` — exit code 2 and exactly one line on stderr that names the file and
the problem (every keyword of the case); nothing written. ``repaired`` — exit code 0, and what was repaired
is said (every keyword in the output or the warnings). ``accepted`` — a valid input at a limit (one hour):
exit code 0 within bounded time and memory. A case may also state ``facts``: values the analysis JSON must
hold (``channels``, ``sample_rate``, ``duration_s``).

The one-hour recording is a 16-bit 8 kHz stereo FLAC of digital silence with a 440 Hz tone panned right
for the first 10 s of every minute: about 4 MB on disk (a 48 kHz float WAV of an hour is 1.4 GB), yet the
analysis still streams and resamples all 3600 s to 48 kHz, which is what is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile as sf

Kind = Literal["audio", "vsl", "project"]
Outcome = Literal["error", "repaired", "accepted"]
OUTCOMES: tuple[Outcome, ...] = ("error", "repaired", "accepted")

#: An error line may be this long besides the file's own path (which can be long): one short line.
MAX_MESSAGE_CHARS = 300
#: The companion recording of the project cases and the rate the small audio cases are written at.
SUPPORT_RECORDING = "scene.wav"
SMALL_RATE = 8000
SEED = 20_260_101


@dataclass(frozen=True)
class Case:
    """One bad input: where it lies in the corpus, how it is read and what must come out.

    ``write(path)`` makes the file at ``path`` (companions go beside it); ``keywords`` are lower-case words
    the error line (outcome ``error``) or the output and warnings (``repaired``) must contain; ``facts`` are
    values the analysis JSON must hold (floats within 1 % or 0.02); ``slow`` marks a case that takes seconds.
    """

    name: str
    kind: Kind
    filename: str
    outcome: Outcome
    keywords: tuple[str, ...]
    expected: str
    write: Callable[[Path], None] = field(repr=False, compare=False)
    facts: Mapping[str, float] = field(default_factory=dict)
    slow: bool = False


# ------------------------------------------------------------------------------------------------ audio


def _panned_noise(seconds: float, rate: int, channels: int = 2, seed: int = SEED) -> np.ndarray:
    """Seeded noise louder on the right: one source a stereo analysis places on the right."""
    rng = np.random.default_rng(seed)
    mono = (0.2 * rng.standard_normal(round(seconds * rate))).astype(np.float32)
    if channels == 1:
        return mono
    stereo = np.stack([0.3 * mono, mono], axis=1)
    return np.tile(stereo, (1, math.ceil(channels / 2)))[:, :channels]


def _write_wav(path: Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> None:
    sf.write(str(path), samples, rate, subtype=subtype)


def _data_offset(wav: bytes) -> int:
    """Where the samples of a RIFF/WAVE file begin (just after the ``data`` chunk's header)."""
    return wav.index(b"data") + 8


def write_truncated_wav(path: Path) -> None:
    """A 2 s 16-bit stereo WAV cut after a third of its samples; the header still promises 2 s."""
    _write_wav(path, _panned_noise(2.0, SMALL_RATE), SMALL_RATE)
    data = path.read_bytes()
    start = _data_offset(data)
    keep = (len(data) - start) // 3 // 4 * 4  # whole frames (2 channels x 2 bytes)
    path.write_bytes(data[: start + keep])


def write_header_only_wav(path: Path) -> None:
    """The header of a 2 s WAV, not one sample after it."""
    _write_wav(path, _panned_noise(2.0, SMALL_RATE), SMALL_RATE)
    data = path.read_bytes()
    path.write_bytes(data[: _data_offset(data)])


def write_truncated_flac(path: Path) -> None:
    """A 3 s FLAC cut in the middle of its frames (FLAC states its length up front, in STREAMINFO)."""
    sf.write(str(path), _panned_noise(3.0, 48000), 48000, format="FLAC")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _constant_float_wav(value: float) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        samples = np.full((SMALL_RATE, 2), value, np.float32)
        if math.isinf(value):
            samples[::2] *= -1  # both +inf and -inf
        _write_wav(path, samples, SMALL_RATE, subtype="FLOAT")

    return write


def _noise_wav(seconds: float, rate: int, channels: int = 2) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        _write_wav(path, _panned_noise(seconds, rate, channels), rate)

    return write


def write_video_only_mp4(path: Path) -> None:
    """A 1 s MPEG-4 video of 8 grey frames and no audio track."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_one_hour_flac(path: Path, minutes: int = 60, rate: int = SMALL_RATE) -> None:
    """``minutes`` of 16-bit stereo FLAC: digital silence with a 440 Hz tone panned right for the first 10 s
    of every minute (see the module docstring: about 4 MB for the hour)."""
    n = np.arange(60 * rate)
    tone = np.where(n < 10 * rate, 0.25 * np.sin(2 * np.pi * 440.0 * n / rate), 0.0).astype(np.float32)
    minute = np.stack([0.3 * tone, tone], axis=1)
    with sf.SoundFile(str(path), "w", rate, 2, format="FLAC", subtype="PCM_16") as handle:
        for _ in range(minutes):
            handle.write(minute)


def _bytes(content: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(content)

    return write


def _nothing(path: Path) -> None:
    """The case is a file that is not there."""


def _folder(path: Path) -> None:
    path.mkdir(exist_ok=True)


AUDIO_CASES: tuple[Case, ...] = (
    Case("audio_no_such_file", "audio", "not-here.wav", "error", ("no such file",),
         "error naming the missing file", _nothing),
    Case("audio_empty_file", "audio", "empty.wav", "error", ("empty", "0 bytes"),
         "error: the file is empty", _bytes(b"")),
    Case("audio_folder", "audio", "folder.wav", "error", ("folder",),
         "error: a folder, not a file", _folder),
    Case("wav_header_only", "audio", "header-only.wav", "error", ("no audio samples", "cut short"),
         "error: the header promises samples but none follow", write_header_only_wav),
    Case("wav_truncated", "audio", "truncated.wav", "repaired", ("cut short", "2.00 s", "0.67 s"),
         "repaired: the part that is there is analysed, with a warning that the file is cut short",
         write_truncated_wav, facts={"duration_s": 2 / 3, "channels": 2}),
    Case("flac_truncated", "audio", "truncated.flac", "error", ("truncated",),
         "error: the FLAC frames stop mid-file (truncated or damaged)", write_truncated_flac),
    Case("wav_nan", "audio", "nan.wav", "error", ("nan",),
         "error: NaN samples", _constant_float_wav(float("nan"))),
    Case("wav_inf", "audio", "inf.wav", "error", ("infinite",),
         "error: infinite samples", _constant_float_wav(float("inf"))),
    Case("wav_digital_silence", "audio", "silence.wav", "error", ("silent",),
         "error: digital silence, nothing to analyse", _constant_float_wav(0.0)),
    Case("wav_mono", "audio", "mono.wav", "repaired", ("mono", "two channels"),
         "repaired: analysed with a warning that spatial cues need two channels",
         _noise_wav(2.0, SMALL_RATE, channels=1), facts={"channels": 1, "duration_s": 2.0}),
    Case("wav_6_channels", "audio", "six-channels.wav", "repaired", ("6 channels", "first two"),
         "repaired: the first two channels are used, and it says so",
         _noise_wav(2.0, SMALL_RATE, channels=6), facts={"channels": 6, "duration_s": 2.0}),
    Case("wav_8khz", "audio", "rate-8k.wav", "repaired", ("8000 hz",),
         "repaired: resampled to 48 kHz for the analysis; the file's own rate is reported",
         _noise_wav(2.0, 8000), facts={"sample_rate": 8000, "duration_s": 2.0, "channels": 2}),
    Case("wav_192khz", "audio", "rate-192k.wav", "repaired", ("192000 hz",),
         "repaired: resampled to 48 kHz for the analysis; the file's own rate is reported",
         _noise_wav(1.0, 192000), facts={"sample_rate": 192000, "duration_s": 1.0, "channels": 2}),
    Case("wav_2khz", "audio", "rate-2k.wav", "error", ("2000 hz", "too low"),
         "error: a sample rate below 4 kHz", _noise_wav(1.0, 2000)),
    Case("wav_text", "audio", "notes.wav", "error", ("not a readable audio file",),
         "error: text named .wav is not audio", _bytes(b"These are my notes, not a recording.\n" * 20)),
    Case("flac_random_bytes", "audio", "noise.flac", "error", ("not a readable audio file",),
         "error: random bytes named .flac", _bytes(np.random.default_rng(SEED).bytes(4096))),
    Case("mp4_video_only", "audio", "video-only.mp4", "error", ("no audio track",),
         "error: a video without an audio track", write_video_only_mp4),
    Case("flac_one_hour", "audio", "one-hour.flac", "accepted", ("3600.00 s", "8000 hz", "source 0: right"),
         "accepted: an hour is analysed in bounded memory (streamed) and time; the tone is found on the right",
         write_one_hour_flac, slow=True),
)


# ------------------------------------------------------------------------------------------------ VSL


def good_vsl(duration_s: float = 4.0) -> dict[str, Any]:
    """A valid VSL (SPEC.md): a car crossing from left to right over three keyframes."""
    frames = [{"time_s": duration_s * k / 2, "caption": f"the car, frame {k}",
               "objects": [{"id": 0, "name": "car", "box": [10.0 + 150 * k, 100.0, 90.0 + 150 * k, 160.0]}]}
              for k in range(3)]
    return {"format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256},
            "duration_s": duration_s, "reasoning": "louder on the left, then on the right",
            "video_caption": "a car passes", "keyframes": frames}


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=1)


def _vsl(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """A writer of the good VSL after ``change`` edited it in place."""
    def write(path: Path) -> None:
        layout = copy.deepcopy(good_vsl())
        change(layout)
        path.write_text(_json_text(layout), encoding="utf-8")

    return write


def _text(text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(text.encode(encoding))

    return write


def _object(layout: dict[str, Any], k: int = 1, i: int = 0) -> dict[str, Any]:
    return layout["keyframes"][k]["objects"][i]


def _nested_list(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth - 1):
        nested = [nested]
    return nested


def _deeply_nested(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def write_huge_vsl(path: Path) -> None:
    """33 MB: a valid layout followed by 33 MB of blanks (more than any layout file may be)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(_json_text(good_vsl()))
        handle.write(" " * (33 * 2**20))


VSL_CASES: tuple[Case, ...] = (
    Case("vsl_format_wrong", "vsl", "format-wrong.vsl.json", "error", ("format", "spa2v.vsl"),
         "error naming format", _vsl(lambda d: d.update(format="spa2v.project"))),
    Case("vsl_format_missing", "vsl", "format-missing.vsl.json", "error", ("format",),
         "error naming format", _vsl(lambda d: d.pop("format"))),
    Case("vsl_version_future", "vsl", "version-2.vsl.json", "error", ("version", "2"),
         "error naming version", _vsl(lambda d: d.update(version=2))),
    Case("vsl_version_string", "vsl", "version-string.vsl.json", "error", ("version",),
         "error naming version", _vsl(lambda d: d.update(version="1"))),
    Case("vsl_canvas_not_object", "vsl", "canvas-string.vsl.json", "error", ("canvas", "object"),
         "error naming canvas", _vsl(lambda d: d.update(canvas="454x256"))),
    Case("vsl_canvas_zero_width", "vsl", "canvas-zero.vsl.json", "error", ("canvas.width", "greater than 0"),
         "error naming canvas.width", _vsl(lambda d: d["canvas"].update(width=0))),
    Case("vsl_duration_missing", "vsl", "duration-missing.vsl.json", "error", ("duration_s", "missing"),
         "error naming duration_s", _vsl(lambda d: d.pop("duration_s"))),
    Case("vsl_duration_negative", "vsl", "duration-negative.vsl.json", "error", ("duration_s", "greater than 0"),
         "error naming duration_s", _vsl(lambda d: d.update(duration_s=-4.0))),
    Case("vsl_duration_string", "vsl", "duration-string.vsl.json", "error", ("duration_s", "number"),
         "error naming duration_s", _vsl(lambda d: d.update(duration_s="4 s"))),
    Case("vsl_duration_nan", "vsl", "duration-nan.vsl.json", "error", ("duration_s", "finite"),
         "error naming duration_s (Python's JSON reads NaN)",
         _text(_json_text(good_vsl()).replace('"duration_s": 4.0', '"duration_s": NaN'))),
    Case("vsl_duration_huge", "vsl", "duration-huge.vsl.json", "error", ("duration_s", "at most"),
         "error naming duration_s: longer than any recording accepted (the renderer's frame count overflowed)",
         _text(_json_text(good_vsl()).replace('"duration_s": 4.0', '"duration_s": 1e308'))),
    Case("vsl_keyframes_missing", "vsl", "keyframes-missing.vsl.json", "error", ("keyframes", "missing"),
         "error naming keyframes", _vsl(lambda d: d.pop("keyframes"))),
    Case("vsl_keyframes_empty", "vsl", "keyframes-empty.vsl.json", "error", ("keyframes", "at least one"),
         "error naming keyframes", _vsl(lambda d: d.update(keyframes=[]))),
    Case("vsl_keyframes_unsorted", "vsl", "keyframes-unsorted.vsl.json", "error",
         ("keyframes[1].time_s", "later than"), "error naming keyframes[1].time_s",
         _vsl(lambda d: d["keyframes"].reverse())),
    Case("vsl_keyframe_after_end", "vsl", "keyframe-after-end.vsl.json", "error",
         ("keyframes[2].time_s", "after the end"), "error naming keyframes[2].time_s",
         _vsl(lambda d: d["keyframes"][2].update(time_s=9.0))),
    Case("vsl_keyframe_negative_time", "vsl", "keyframe-negative.vsl.json", "error",
         ("keyframes[0].time_s", "at least 0"), "error naming keyframes[0].time_s",
         _vsl(lambda d: d["keyframes"][0].update(time_s=-1.0))),
    Case("vsl_keyframes_not_a_list", "vsl", "keyframes-object.vsl.json", "error", ("keyframes", "list"),
         "error naming keyframes", _vsl(lambda d: d.update(keyframes={"0": d["keyframes"][0]}))),
    Case("vsl_box_outside_canvas", "vsl", "box-outside.vsl.json", "error",
         ("keyframes[1].objects[0].box", "outside"), "error naming the box",
         _vsl(lambda d: _object(d).update(box=[400.0, 100.0, 500.0, 160.0]))),
    Case("vsl_box_corners_swapped", "vsl", "box-swapped.vsl.json", "error",
         ("keyframes[1].objects[0].box", "x0", "less than x1"), "error naming the box and x0/x1",
         _vsl(lambda d: _object(d).update(box=[240.0, 160.0, 160.0, 100.0]))),
    Case("vsl_box_not_a_number", "vsl", "box-string.vsl.json", "error",
         ("keyframes[1].objects[0].box", "y0", "finite number"), "error naming the box's y0",
         _vsl(lambda d: _object(d).update(box=[160.0, "top", 240.0, 160.0]))),
    Case("vsl_box_three_numbers", "vsl", "box-three.vsl.json", "error",
         ("keyframes[1].objects[0].box", "4 numbers"), "error naming the box",
         _vsl(lambda d: _object(d).update(box=[160.0, 100.0, 240.0]))),
    Case("vsl_box_missing", "vsl", "box-missing.vsl.json", "error",
         ("keyframes[1].objects[0].box", "missing"), "error naming the box",
         _vsl(lambda d: _object(d).pop("box"))),
    Case("vsl_duplicate_ids", "vsl", "duplicate-ids.vsl.json", "error",
         ("keyframes[1].objects[1].id", "unique"), "error naming the second id 0",
         _vsl(lambda d: d["keyframes"][1]["objects"].append({"id": 0, "name": "bus", "box": [1, 1, 20, 20]}))),
    Case("vsl_id_negative", "vsl", "id-negative.vsl.json", "error", ("keyframes[1].objects[0].id", "at least 0"),
         "error naming the id", _vsl(lambda d: _object(d).update(id=-1))),
    Case("vsl_name_empty", "vsl", "name-empty.vsl.json", "error", ("keyframes[1].objects[0].name", "empty"),
         "error naming the name", _vsl(lambda d: _object(d).update(name=""))),
    Case("vsl_name_not_a_string", "vsl", "name-number.vsl.json", "error",
         ("keyframes[1].objects[0].name", "string"), "error naming the name",
         _vsl(lambda d: _object(d).update(name=7))),
    Case("vsl_not_json", "vsl", "not-json.vsl.json", "error", ("not valid json", "line 1"),
         "error: not JSON, with the line and column", _text("keyframes: [car at left]\n")),
    Case("vsl_json_array", "vsl", "array.vsl.json", "error", ("json object", "list"),
         "error: a JSON array, not an object", _text(_json_text([good_vsl()]))),
    Case("vsl_not_utf8", "vsl", "utf16.vsl.json", "error", ("utf-8",),
         "error: UTF-16 text, not UTF-8", _text(_json_text(good_vsl()), encoding="utf-16")),
    Case("vsl_utf8_bom", "vsl", "bom.vsl.json", "repaired", (),
         "repaired: the byte order mark Windows editors write is skipped", _text("\ufeff" + _json_text(good_vsl()))),
    Case("vsl_deeply_nested", "vsl", "nested.vsl.json", "error", ("nested too deeply",),
         "error: JSON nested 100000 deep (the parser's recursion ran out)", _text(_deeply_nested())),
    Case("vsl_keyframe_nested_list", "vsl", "keyframe-nested.vsl.json", "error", ("keyframes[0]", "object"),
         "error naming keyframes[0]: a list nested 900 deep where a keyframe belongs (quoted in part)",
         _vsl(lambda d: d.update(keyframes=[_nested_list(900)]))),
    Case("vsl_long_wrong_value", "vsl", "long-value.vsl.json", "error", ("keyframes", "list", "..."),
         "error naming keyframes, quoting the 1 MB string only in part",
         _vsl(lambda d: d.update(keyframes="x" * 2**20))),
    Case("vsl_huge_file", "vsl", "huge.vsl.json", "error", ("33.0 mb", "at most 32 mb"),
         "error: refused before reading, as larger than any layout", write_huge_vsl),
)


# ------------------------------------------------------------------------------------------------ projects


def write_support_recording(folder: Path) -> Path:
    """The recording the project cases name (``scene.wav``, 2 s of panned noise), written once."""
    path = folder / SUPPORT_RECORDING
    if not path.exists():
        _write_wav(path, _panned_noise(2.0, SMALL_RATE), SMALL_RATE)
    return path


def good_project(path: Path) -> dict[str, Any]:
    """The JSON of a valid project at ``path`` on the support recording with the good VSL, as the program
    writes it (through :class:`engine.project.Project`)."""
    from engine.layout.model import VideoLayout
    from engine.project import Project

    audio = write_support_recording(path.parent)
    layout = VideoLayout.from_json_dict(good_vsl(2.0))
    return Project.new(audio, layout=layout).to_json_dict(path)


def _project(change: Callable[[dict[str, Any], Path], Any]) -> Callable[[Path], None]:
    """A writer of the good project after ``change(data, path)`` edited it in place."""
    def write(path: Path) -> None:
        data = good_project(path)
        change(data, path)
        path.write_text(_json_text(data), encoding="utf-8")

    return write


def _truncated_project(path: Path) -> None:
    text = _json_text(good_project(path))
    path.write_text(text[: len(text) // 2], encoding="utf-8")


def _box_swapped(data: dict[str, Any], _path: Path) -> None:
    data["layout"]["keyframes"][1]["objects"][0]["box"] = [240.0, 160.0, 160.0, 100.0]


def _deep_extra(data: dict[str, Any], _path: Path) -> None:
    # Deep enough to be parsed (under the interpreter's recursion limit) and then walked by the loader.
    data["notes"] = _nested_list(900)


#: An OpenAI-style key that a user pasted into the file (it must be dropped, never used or written).
PASTED_KEY = "sk-pasted-0123456789abcdefghijklmnop"


PROJECT_CASES: tuple[Case, ...] = (
    Case("project_future_version", "project", "future.spa2v", "error", ("newer", "version 2"),
         "error: made by a newer version", _project(lambda d, p: d.update(version=2))),
    Case("project_version_string", "project", "version-string.spa2v", "error", ("version",),
         "error naming version", _project(lambda d, p: d.update(version="1"))),
    Case("project_is_a_layout", "project", "layout-as-project.spa2v", "error", ("format", "layout"),
         "error naming format, saying it is a layout", _text(_json_text(good_vsl()))),
    Case("project_missing_audio", "project", "missing-audio.spa2v", "repaired", ("audio", "gone.wav", "missing"),
         "loads with a warning that the recording is missing (the studio offers to locate it)",
         _project(lambda d, p: d.update(audio="recordings/gone.wav"))),
    Case("project_audio_moved", "project", "moved-audio.spa2v", "repaired", ("found beside the project",),
         "repaired: the recording named elsewhere is found beside the project",
         _project(lambda d, p: d.update(audio=str(p.parent / "moved-away" / SUPPORT_RECORDING)))),
    Case("project_audio_not_a_path", "project", "audio-number.spa2v", "error", ("audio", "file path"),
         "error naming audio", _project(lambda d, p: d.update(audio=42))),
    Case("project_layout_box_swapped", "project", "bad-layout.spa2v", "error",
         ("layout.keyframes[1].objects[0].box", "x0"), "error naming the layout's box", _project(_box_swapped)),
    Case("project_layout_wrong_format", "project", "layout-format.spa2v", "error", ("layout.format",),
         "error naming layout.format", _project(lambda d, p: d["layout"].update(format="vsl"))),
    Case("project_layout_not_object", "project", "layout-list.spa2v", "error", ("layout", "object"),
         "error naming layout", _project(lambda d, p: d.update(layout=[1, 2, 3]))),
    Case("project_truncated_json", "project", "truncated.spa2v", "error", ("not valid json", "line"),
         "error: JSON cut off, with the line and column", _truncated_project),
    Case("project_empty_file", "project", "empty.spa2v", "error", ("not valid json",),
         "error: an empty file is not JSON", _bytes(b"")),
    Case("project_json_array", "project", "array.spa2v", "error", ("json object", "list"),
         "error: a JSON array, not an object", _text("[]")),
    Case("project_render_steps_zero", "project", "steps-zero.spa2v", "error", ("render.steps", "greater than 0"),
         "error naming render.steps", _project(lambda d, p: d["render"].update(steps=0))),
    Case("project_render_size_odd", "project", "size-odd.spa2v", "error", ("render.size", "multiples of 8"),
         "error naming render.size", _project(lambda d, p: d["render"].update(size=[500, 300]))),
    Case("project_generator_unknown", "project", "generator.spa2v", "error", ("render.generator",),
         "error naming render.generator", _project(lambda d, p: d["render"].update(generator="sora"))),
    Case("project_temperature_nan", "project", "temperature-nan.spa2v", "error", ("planner.temperature",),
         "error naming planner.temperature",
         _project(lambda d, p: d["planner"].update(temperature=float("nan")))),
    Case("project_colour_bad", "project", "colour.spa2v", "error", ("edit_state.objects", "colour"),
         "error naming the object's colour",
         _project(lambda d, p: d["edit_state"].update(objects={"0": {"colour": "red"}}))),
    Case("project_api_key", "project", "api-key.spa2v", "repaired", ("planner.api_key", "dropped"),
         "repaired: the API key in the file is dropped, with a warning that never quotes it",
         _project(lambda d, p: d["planner"].update(api_key=PASTED_KEY))),
    Case("project_deeply_nested", "project", "nested.spa2v", "error", ("nested too deeply",),
         "error: JSON nested 100000 deep", _text(_deeply_nested())),
    Case("project_nested_extra", "project", "nested-extra.spa2v", "accepted", (),
         "accepted: an unknown field nested 900 deep is ignored", _project(_deep_extra)),
    Case("project_not_utf8", "project", "latin1.spa2v", "error", ("utf-8",),
         "error: not UTF-8", _bytes('{"format": "spa2v.project", "audio": "séance.wav"}'.encode("latin-1"))),
)

CASES: tuple[Case, ...] = AUDIO_CASES + VSL_CASES + PROJECT_CASES


def case_named(name: str) -> Case:
    """The case called ``name``."""
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(name)


def write_corpus(folder: str | Path, cases: Iterable[Case] = CASES, include_slow: bool = True) -> dict[str, Path]:
    """Write ``cases`` into ``folder`` (made if needed) and ``corpus.json`` describing them; returns each
    case's name and the path of its input."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_support_recording(folder)
    paths: dict[str, Path] = {}
    manifest = []
    for case in cases:
        if case.slow and not include_slow:
            continue
        path = folder / case.filename
        case.write(path)
        paths[case.name] = path
        manifest.append({"name": case.name, "kind": case.kind, "file": case.filename, "outcome": case.outcome,
                         "expected": case.expected, "keywords": list(case.keywords), "facts": dict(case.facts)})
    (folder / "corpus.json").write_text(json.dumps({"cases": manifest}, indent=1) + "\n", encoding="utf-8")
    return paths


# ------------------------------------------------------------------------------------------------ running


@dataclass
class Run:
    """What reading one case did: exit code (the CLI's: 0, 1 or 2), output, seconds, files it wrote."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    outputs: list[Path] = field(default_factory=list)
    analysis: dict[str, Any] | None = None


def command(case: Case, path: Path, scratch: Path) -> list[str] | None:
    """The command line that reads ``case`` (None for a project: it is loaded the way the studio loads it)."""
    if case.kind == "audio":
        # The hour is analysed without --json: serialising an hour of cue frames (29 MB of JSON) would take
        # more memory than the analysis itself, and the analysis is what is bounded here.
        json_out = [] if case.slow else ["--json", str(scratch / f"{case.name}.analysis.json")]
        return ["analyze", str(path), *json_out]
    if case.kind == "vsl":
        # The frame count is left to the layout (duration x fps), as a user leaves it.
        return ["render", str(path), "--generator", "animatic", "--no-audio", "--size", "64x64",
                "--out", str(scratch / f"{case.name}.mp4")]
    return None


def _outputs(case: Case, scratch: Path) -> list[Path]:
    return [p for p in (scratch / f"{case.name}.analysis.json", scratch / f"{case.name}.mp4") if p.exists()]


def run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """``app.cli.main(argv)`` in this process; returns (exit code, stdout, stderr).

    Log records of WARNING and above go to the same stderr, formatted as the command line's own
    ``logging.basicConfig`` does, so a warning logged on the way counts as a line on the terminal.
    """
    from app.cli import main

    out, err = io.StringIO(), io.StringIO()
    terminal_log = logging.StreamHandler(err)
    terminal_log.setLevel(logging.WARNING)
    terminal_log.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(terminal_log)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        root.removeHandler(terminal_log)
    return code, out.getvalue(), err.getvalue()


def load_project_like_the_cli(path: Path) -> tuple[int, str, str]:
    """Load a project with the CLI's contract: (0, one "note:" line per warning, "") when it loads, (2, "",
    "error: ...") for bad input, (1, "", the traceback) for anything else."""
    from engine.errors import InputError
    from engine.project import load_project

    try:
        _project, warnings = load_project(path)
    except InputError as exc:
        return 2, "", f"error: {exc}\n"
    except Exception:
        return 1, "", traceback.format_exc()
    return 0, "".join(f"note: {warning}\n" for warning in warnings), ""


def run_case(case: Case, path: Path, scratch: Path) -> Run:
    """Read ``case``'s input at ``path`` as a user's command would; outputs go to ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    argv = command(case, path, scratch)
    start = time.perf_counter()
    if argv is None:
        code, out, err = load_project_like_the_cli(path)
    else:
        code, out, err = run_cli(argv)
    seconds = time.perf_counter() - start
    outputs = _outputs(case, scratch)
    analysis = None
    json_path = scratch / f"{case.name}.analysis.json"
    if json_path in outputs:
        analysis = json.loads(json_path.read_text(encoding="utf-8"))
    return Run(code, out, err, seconds, outputs, analysis)


def _fact_holds(expected: float, actual: Any) -> bool:
    if not isinstance(actual, (int, float)):
        return False
    return abs(actual - expected) <= max(0.02, 0.01 * abs(expected))


def problems(case: Case, path: Path, run: Run) -> list[str]:
    """How ``run`` falls short of ``case``'s outcome (empty: as expected). The contract, by outcome:

    - ``error``: exit code 2; exactly one line on stderr, no traceback; the line names the file (its name)
      and holds every keyword; at most :data:`MAX_MESSAGE_CHARS` besides the path; no output written.
    - ``repaired`` / ``accepted``: exit code 0, no traceback, every keyword in what was printed (the notes)
      and every fact in the analysis JSON.
    """
    found: list[str] = []
    text = run.stdout + run.stderr
    if "Traceback" in text:
        found.append("a traceback was printed")
    if case.outcome == "error":
        if run.code != 2:
            found.append(f"exit code {run.code}, expected 2")
        lines = run.stderr.splitlines()
        if len(lines) != 1:
            found.append(f"{len(lines)} lines on stderr, expected one: {run.stderr[:500]!r}")
        line = lines[0] if lines else ""
        if path.name not in line:
            found.append(f"the message does not name {path.name}: {line[:300]!r}")
        missing = [word for word in case.keywords if word.lower() not in line.lower()]
        if missing:
            found.append(f"the message lacks {missing}: {line[:300]!r}")
        if len(line.replace(str(path), "")) > MAX_MESSAGE_CHARS:
            found.append(f"the message is {len(line)} characters long")
        if run.outputs:
            found.append(f"wrote {[p.name for p in run.outputs]} although the input was refused")
        return found
    if run.code != 0:
        found.append(f"exit code {run.code}, expected 0: {run.stderr[-500:]!r}")
    notes = (text + "\n".join((run.analysis or {}).get("warnings", []))).lower()
    missing = [word for word in case.keywords if word.lower() not in notes]
    if missing:
        found.append(f"the output lacks {missing}: {text[:500]!r}")
    for name, expected in case.facts.items():
        actual = (run.analysis or {}).get(name)
        if not _fact_holds(expected, actual):
            found.append(f"analysis {name} = {actual!r}, expected {expected!r}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the folder to write the corpus into")
    parser.add_argument("--skip-slow", action="store_true", help="leave out the one-hour recording")
    args = parser.parse_args(argv)
    paths = write_corpus(args.out, include_slow=not args.skip_slow)
    counts = {outcome: sum(1 for c in CASES if c.name in paths and c.outcome == outcome) for outcome in OUTCOMES}
    print(f"{len(paths)} cases written to {args.out} ({', '.join(f'{n} {k}' for k, n in counts.items())}); "
          "see corpus.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
