"""The video writer: RGB frames to an H.264 MP4 with the recording's sound, PNG frames, and a box overlay.

:func:`write_mp4` encodes ``(T, H, W, 3)`` uint8 RGB frames as H.264 (pix_fmt yuv420p, which every player
reads) through PyAV and, when given a recording, muxes its sound as AAC, cut (or padded with silence) to exactly
the video's duration ``T / fps`` from ``audio_start_s`` on. The recording is read through
:func:`engine.audio.io.open_audio`, so anything the Hear stage reads (WAV, FLAC, MP3, the sound of an MP4, ...)
can be muxed; mono is written as two equal channels. yuv420p halves the colour resolution, so H.264 needs an even
width and height: an odd size is padded by repeating the last column or row (the probe then reports the padded
size).

Writes are atomic: the file is encoded into a temporary file in the destination folder and renamed over the
destination at the end, so a failed or cancelled write leaves whatever was at the destination before and no
partial file.

The H.264 encoder is the first of :data:`H264_ENCODERS` that this PyAV build has and that actually opens here
(hardware encoders are listed but fail to open without their device); :func:`h264_encoder` names it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from engine.audio.io import AudioSource, open_audio
from engine.errors import Cancelled, InputError
from engine.fileio import atomic_write_bytes
from engine.layout.interp import FrameBox
from engine.render.animatic import TextStyle, draw_boxes
from engine.render.base import CancelFn, ProgressFn

#: H.264 encoders in order of preference: software first (they work anywhere), then the platform's own.
H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264_mf", "h264_nvenc", "h264_qsv", "h264_amf")

#: libx264's constant rate factor: 0 lossless … 51 worst; 18 looks like the frames to most eyes.
DEFAULT_CRF = 18

#: AAC bit rate for the stereo sound.
AUDIO_BIT_RATE = 192_000
#: The AAC rate used when the recording's rate is not one AAC allows.
FALLBACK_AUDIO_RATE = 48_000


# ---------------------------------------------------------------------------------------------- encoders


def _encoder_opens(name: str) -> bool:
    """Whether encoder ``name`` opens and encodes one small frame here (a listed encoder may lack its device)."""
    try:
        context = av.CodecContext.create(name, "w")
        context.width, context.height = 64, 64
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, 8)
        context.framerate = Fraction(8)
        context.open()
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24").reformat(
            format="yuv420p")
        frame.pts = 0
        context.encode(frame)
        context.encode(None)
    except (av.FFmpegError, ValueError, RuntimeError, OSError):
        return False
    return True


@functools.lru_cache(maxsize=1)
def h264_encoder() -> str:
    """The name of the H.264 encoder this machine uses (see :data:`H264_ENCODERS`).

    Raises :class:`InputError` when none is available, with what to install.
    """
    available = av.codecs_available
    listed = [name for name in H264_ENCODERS if name in available]
    for name in listed:
        if _encoder_opens(name):
            return name
    tried = ", ".join(listed) if listed else "none of " + ", ".join(H264_ENCODERS) + " is built in"
    raise InputError(f"no working H.264 encoder in this PyAV build (tried: {tried}); install the PyAV wheel "
                     "from PyPI (pip install --force-reinstall av), which includes libx264")


def _configure_video(stream: Any, encoder: str, width: int, height: int, fps: Fraction, crf: int) -> None:
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    if encoder == "libx264":
        stream.options = {"crf": str(crf), "preset": "medium"}
    else:
        # Encoders without a quality scale get a bit rate that looks about as good as crf 18 at small sizes.
        stream.bit_rate = int(max(1_000_000, width * height * float(fps) * 0.25))


# ---------------------------------------------------------------------------------------------- checks


def _check_frames(frames: Any, what: str = "frames") -> np.ndarray:
    """``frames`` as a (T, H, W, 3) uint8 array, or ValueError saying what it is instead."""
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] < 1:
        raise ValueError(f"{what} must be a (T, H, W, 3) array with T ≥ 1, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8 RGB, got {array.dtype}")
    if array.shape[1] < 2 or array.shape[2] < 2:
        raise ValueError(f"{what} are {array.shape[2]}x{array.shape[1]} pixels; a video needs at least 2x2")
    return array


def _check_fps(fps: float) -> Fraction:
    if not isinstance(fps, (int, float, Fraction)) or not math.isfinite(float(fps)) or not float(fps) > 0:
        raise InputError(f"the frame rate is {fps!r}; expected a positive number of frames per second")
    # 29.97 and friends become their exact NTSC fractions (30000/1001); whole rates stay whole.
    return Fraction(float(fps)).limit_denominator(1001)


def _check_out_path(out_path: str | Path, what: str = "output") -> Path:
    path = Path(out_path).expanduser()
    if path.is_dir():
        raise InputError(f"{path}: the {what} path is a folder; give a file name such as {path / 'video.mp4'}")
    if path.name in ("", ".", ".."):
        raise InputError(f"{out_path!s}: not a file name for the {what}; give one such as video.mp4")
    return path


# ---------------------------------------------------------------------------------------------- atomic target


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder, renamed to ``path`` when the block ends without an error.

    On any error (Cancelled and KeyboardInterrupt included) the temporary file is removed and ``path`` is
    left as it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {path.parent} ({exc.strerror or exc}); "
                         "choose a folder you can write to") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode a new file would have had.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------- audio


class _AudioFeed:
    """The recording from ``start`` on, handed out in spans of any length, silence past its end."""

    def __init__(self, source: AudioSource, start_frame: int, block_frames: int) -> None:
        self._blocks = source.blocks(max(1, block_frames), start=start_frame)
        self._pending = np.zeros((0, 2), np.float32)
        self._exhausted = False

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` stereo frames as float32 (count, 2), zero-padded past the end of the recording."""
        while self._pending.shape[0] < count and not self._exhausted:
            block = next(self._blocks, None)
            if block is None:
                self._exhausted = True
            else:
                self._pending = np.concatenate([self._pending, block], axis=0)
        span, self._pending = self._pending[:count], self._pending[count:]
        if span.shape[0] < count:
            span = np.concatenate([span, np.zeros((count - span.shape[0], 2), np.float32)], axis=0)
        return span

    def close(self) -> None:
        self._blocks.close()


def open_soundtrack(audio_path: str | Path | None, audio_start_s: float = 0.0) -> AudioSource | None:
    """The recording to mux from ``audio_start_s`` on, opened and checked; None without ``audio_path``.

    Raises :class:`InputError` (naming the file) for a recording that cannot be read or a start time that is
    negative or lies past its end.
    """
    if not math.isfinite(audio_start_s) or audio_start_s < 0:
        raise InputError(f"the audio start {audio_start_s} s is not a time in the recording; expected 0 or more")
    if audio_path is None:
        return None
    source = open_audio(audio_path)
    if audio_start_s >= source.duration_s:
        raise InputError(f"{source.path}: the audio start {audio_start_s:.3f} s lies past the end of the recording "
                         f"({source.duration_s:.3f} s); choose an earlier start")
    return source


def _audio_frame(samples: np.ndarray, rate: int, pts: int) -> Any:
    # Packed float32: one row holding L R L R ...
    packed = np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(packed, format="flt", layout="stereo")
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


# ---------------------------------------------------------------------------------------------- MP4


def write_mp4(
    frames: np.ndarray,
    fps: float,
    out_path: str | Path,
    audio_path: str | Path | None = None,
    audio_start_s: float = 0.0,
    crf: int = DEFAULT_CRF,
    *,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> Path:
    """Encode ``frames`` ((T, H, W, 3) uint8 RGB) at ``fps`` as an H.264/yuv420p MP4 at ``out_path``.

    With ``audio_path``, the recording from ``audio_start_s`` seconds on is muxed as stereo AAC, cut or padded
    with silence to exactly ``T / fps`` seconds. ``crf`` is libx264's quality (0–51, lower is better; other
    encoders get a bit rate instead). ``progress`` gets the fraction of frames encoded; ``is_cancelled`` is asked
    before each frame and stops the write with :class:`Cancelled`. Returns the written path.

    Raises :class:`InputError` for an unusable frame rate, output path, recording or start time (before any
    work), ValueError for frames of the wrong shape or type. Whatever happens, ``out_path`` is either the
    complete new video or what it was before; no temporary file is left behind.
    """
    frames = _check_frames(frames)
    rate = _check_fps(fps)
    path = _check_out_path(out_path)
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise InputError(f"crf {crf!r} is out of range; expected a whole number from 0 (lossless) to 51")
    source = open_soundtrack(audio_path, audio_start_s)
    encoder = h264_encoder()

    n_frames, height, width = frames.shape[:3]
    pad_h, pad_w = height % 2, width % 2
    out_w, out_h = width + pad_w, height + pad_h
    duration = Fraction(n_frames) / rate

    with _atomic_target(path) as tmp:
        container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        feed: _AudioFeed | None = None
        try:
            video = container.add_stream(encoder, rate=rate)
            _configure_video(video, encoder, out_w, out_h, rate, crf)
            audio = None
            audio_rate = 0
            audio_total = 0
            if source is not None:
                # The encoder converts the recording's rate to the stream's; keep the rate where AAC allows it.
                allowed = av.codec.Codec("aac", "w").audio_rates or ()
                stream_rate = source.sample_rate if source.sample_rate in allowed else FALLBACK_AUDIO_RATE
                audio = container.add_stream("aac", rate=stream_rate)
                audio.layout = "stereo"
                audio.bit_rate = AUDIO_BIT_RATE
                audio_rate = source.sample_rate
                audio_total = round(duration * audio_rate)
                feed = _AudioFeed(source, round(audio_start_s * audio_rate), math.ceil(audio_rate / float(rate)))
            audio_done = 0
            for i in range(n_frames):
                if is_cancelled is not None and is_cancelled():
                    raise Cancelled(f"writing {path.name} was cancelled at frame {i + 1} of {n_frames}")
                rgb = frames[i]
                if pad_h or pad_w:
                    rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = i
                container.mux(video.encode(frame))
                if audio is not None and feed is not None:
                    # Keep the sound level with the picture so that the muxer interleaves short spans.
                    audio_until = min(audio_total, round(Fraction(i + 1) / rate * audio_rate))
                    if audio_until > audio_done:
                        span = feed.take(audio_until - audio_done)
                        container.mux(audio.encode(_audio_frame(span, audio_rate, audio_done)))
                        audio_done = audio_until
                if progress is not None:
                    progress((i + 1) / n_frames)
            container.mux(video.encode(None))
            if audio is not None:
                container.mux(audio.encode(None))
        except BaseException:
            # The file is thrown away: a second error while closing it must not hide the first.
            with contextlib.suppress(Exception):
                container.close()
            raise
        else:
            container.close()
        finally:
            if feed is not None:
                feed.close()
    return path


# ---------------------------------------------------------------------------------------------- PNG, overlay


def write_png_frames(frames: np.ndarray, folder: str | Path, stem: str, *,
                     progress: ProgressFn | None = None) -> list[Path]:
    """Write each frame as ``folder/stem_0000.png``, ``stem_0001.png``, ... and return the paths in order.

    ``progress`` gets the fraction of frames written. Each file is written atomically. Frames named
    ``stem_NNNN.png`` left in ``folder`` by an earlier, longer render with the same stem are removed, so the
    folder holds exactly this video's frames.
    """
    frames = _check_frames(frames)
    if not stem or "/" in stem or "\\" in stem or stem in (".", ".."):
        raise InputError(f"{stem!r} is not a usable file-name stem for PNG frames; use letters, digits, - or _")
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: is a file; PNG frames need a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the folder for PNG frames ({exc.strerror or exc})") from None
    digits = max(4, len(str(frames.shape[0] - 1)))
    paths = []
    for i, frame in enumerate(frames):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="PNG")
        target = folder / f"{stem}_{i:0{digits}d}.png"
        atomic_write_bytes(target, buffer.getvalue())
        paths.append(target)
        if progress is not None:
            progress((i + 1) / frames.shape[0])
    ours = re.compile(rf"{re.escape(stem)}_(\d{{4,}})\.png")
    for stale in folder.iterdir():
        match = ours.fullmatch(stale.name)
        if match and int(match.group(1)) >= frames.shape[0] and stale.is_file():
            stale.unlink(missing_ok=True)
    return paths


def overlay_boxes(frames: np.ndarray, frame_boxes: Sequence[Sequence[FrameBox]]) -> np.ndarray:
    """A copy of ``frames`` ((T, H, W, 3) uint8 RGB) with each frame's boxes (pixels) drawn over it.

    The boxes are drawn as in the animatic (:func:`engine.render.animatic.draw_boxes`): the same colour per
    id, a translucent fill, an outline and a name tab, so that a generated video can be checked by eye
    against its layout. ``frame_boxes`` holds one list per frame, e.g. :meth:`RenderRequest.frame_boxes`.
    """
    frames = _check_frames(frames)
    if len(frame_boxes) != frames.shape[0]:
        raise ValueError(f"{len(frame_boxes)} lists of boxes for {frames.shape[0]} frames; expected one per frame")
    style = TextStyle.for_height(frames.shape[1])
    out = np.empty_like(frames)
    for i, (frame, boxes) in enumerate(zip(frames, frame_boxes, strict=True)):
        image = Image.fromarray(frame)
        draw_boxes(image, boxes, style)
        out[i] = np.asarray(image)
    return out


# ---------------------------------------------------------------------------------------------- probe


def probe_video(path: str | Path) -> dict[str, Any]:
    """What a video file holds: ``frames``, ``fps``, ``width``, ``height``, ``codec``, ``pix_fmt`` of its first
    video stream, and ``audio_duration_s`` and ``audio_codec`` of its first audio stream (None without one).

    Raises :class:`InputError` for a missing or unreadable file or one without a video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable video file ({exc})") from None
    try:
        if not container.streams.video:
            raise InputError(f"{path}: holds no video stream")
        video = container.streams.video[0]
        rate = video.average_rate or video.guessed_rate or video.base_rate
        info: dict[str, Any] = {
            "frames": int(video.frames or 0),
            "fps": float(rate) if rate else None,
            "width": int(video.codec_context.width),
            "height": int(video.codec_context.height),
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "audio_duration_s": None,
            "audio_codec": None,
        }
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is not None:
            info["audio_codec"] = audio.codec_context.name
            if audio.duration is not None and audio.time_base is not None:
                info["audio_duration_s"] = float(audio.duration * audio.time_base)
        if not info["frames"] or (audio is not None and info["audio_duration_s"] is None):
            # The header does not say: count the packets (and decode the sound) instead.
            streams = [video] + ([audio] if audio is not None else [])
            counted, samples = 0, 0
            for packet in container.demux(*streams):
                if packet.size == 0:
                    continue
                if packet.stream.type == "video":
                    counted += 1
                elif info["audio_duration_s"] is None:
                    samples += sum(frame.samples for frame in packet.decode())
            info["frames"] = info["frames"] or counted
            if audio is not None and info["audio_duration_s"] is None and audio.codec_context.sample_rate:
                info["audio_duration_s"] = samples / float(audio.codec_context.sample_rate)
    except av.FFmpegError as exc:
        raise InputError(f"{path}: the video cannot be read ({exc}); the file may be damaged") from None
    finally:
        container.close()
    return info
