"""Audio in: any file a user brings, read as stereo float32 blocks at any rate.

WAV/FLAC/OGG/MP3 (and whatever else libsndfile reads) go through soundfile and stream straight from
the file. Video containers (MP4/MOV/MKV/WebM) and audio codecs libsndfile lacks (AAC, Opus in
Matroska, ...) are decoded once with PyAV into a FLAC file in the user cache folder, keyed by the
file's size and modification time, and then stream the same way: memory stays bounded for an
hour-long recording.

The stereo view of a file: mono is duplicated to both channels (the caller is told that spatial
cues need two channels); more than two channels keep the first two (and say so).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from engine.errors import AudioInputError

log = logging.getLogger(__name__)

#: Extensions decoded through PyAV (containers whose audio libsndfile cannot read).
VIDEO_EXTENSIONS = {".mp4", ".m4a", ".mov", ".mkv", ".webm", ".avi", ".aac", ".opus", ".wma", ".m4v"}

#: The rate the cue analysis runs at after resampling.
ANALYSIS_RATE = 48000

#: Files longer than this are refused (a clear message instead of hours of work).
MAX_DURATION_S = 6 * 3600.0


def cache_dir() -> Path:
    """The folder for decoded copies of video/AAC audio (user cache dir; override with SPA2V_CACHE_DIR)."""
    env = os.environ.get("SPA2V_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("spa2v-studio", appauthor=False)) / "decoded"


@dataclass
class AudioSource:
    """An opened audio file. Reads the stereo view of any span without loading the whole file."""

    path: Path  # the user's file
    readable_path: Path  # what soundfile reads: the file itself or its decoded copy
    sample_rate: int
    channels: int  # channels in the user's file (before the stereo view)
    frames: int
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.frames / float(self.sample_rate)

    @property
    def is_mono(self) -> bool:
        return self.channels == 1

    def _stereo(self, data: np.ndarray) -> np.ndarray:
        if data.ndim == 1:
            data = data[:, None]
        if data.shape[1] == 1:
            data = np.repeat(data, 2, axis=1)
        elif data.shape[1] > 2:
            data = data[:, :2]
        return np.ascontiguousarray(data, dtype=np.float32)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` as float32 of shape (n, 2). Raises AudioInputError on a read fault."""
        stop = self.frames if stop is None else min(int(stop), self.frames)
        start = max(0, int(start))
        if stop <= start:
            return np.zeros((0, 2), dtype=np.float32)
        try:
            with sf.SoundFile(str(self.readable_path)) as handle:
                handle.seek(start)
                data = handle.read(stop - start, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioInputError(
                self.path, f"cannot read the audio data ({exc}); the file may be damaged"
            ) from None
        return self._stereo(data)

    def blocks(self, block_frames: int, start: int = 0) -> Iterator[np.ndarray]:
        """Consecutive (n, 2) float32 blocks from ``start`` to the end; the last one may be shorter."""
        try:
            with sf.SoundFile(str(self.readable_path)) as handle:
                handle.seek(start)
                while True:
                    data = handle.read(block_frames, dtype="float32", always_2d=True)
                    if data.shape[0] == 0:
                        return
                    yield self._stereo(data)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioInputError(
                self.path,
                f"the audio data stops being readable ({exc}); the file may be truncated or damaged",
            ) from None


def _decode_with_pyav(path: Path) -> Path:
    """Decode the first audio stream of ``path`` into a cached FLAC file and return its path."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a hard dependency
        raise AudioInputError(path, "reading video files needs the 'av' package (pip install av)") from None
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    out = cache_dir() / f"{path.stem}-{key}.flac"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.flac")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioInputError(path, f"not a readable audio or video file ({exc})") from None
    try:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioInputError(path, "this file has no audio track; choose a recording with sound")
        stream = streams[0]
        rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        if rate <= 0:
            raise AudioInputError(path, "the audio track does not state its sample rate")
        channels = int(stream.codec_context.channels or 0) or None
        writer = None
        # float planar/packed frames are turned into (n, ch) float32 arrays and written as 24-bit FLAC.
        for frame in container.decode(stream):
            data = frame.to_ndarray()
            if data.dtype.kind == "i":
                data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
            elif data.dtype.kind == "u":
                data = (data.astype(np.float32) - 128.0) / 128.0
            if frame.format.is_planar:
                data = data.T
            else:
                nch = len(frame.layout.channels)
                data = data.reshape(-1, nch)
            if writer is None:
                channels = data.shape[1]
                writer = sf.SoundFile(
                    str(tmp), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_24"
                )
            writer.write(np.clip(data, -1.0, 1.0))
        if writer is None:
            raise AudioInputError(path, "the audio track holds no samples (zero length)")
        writer.close()
    except AudioInputError:
        tmp.unlink(missing_ok=True)
        raise
    except (av.FFmpegError, ValueError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise AudioInputError(
            path, f"decoding the audio track failed ({exc}); the file may be damaged"
        ) from None
    finally:
        container.close()
    os.replace(tmp, out)
    return out


def wav_data_shortfall(path: str | Path) -> tuple[int, int] | None:
    """For a RIFF/WAVE file whose ``data`` chunk promises more bytes than the file holds (a copy or a
    recording cut short): ``(promised bytes, bytes present)``; None for a complete file or another format.

    libsndfile reads such a file quietly up to where it ends, so the caller says that the rest is missing.
    A size of 0 or 0xFFFFFFFF is what recorders write while still recording (the length is unknown), and
    RF64/W64 files keep the size elsewhere: neither is reported.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            offset = 12
            while offset + 8 <= size:
                handle.seek(offset)
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                chunk_id, chunk_size = chunk[:4], int.from_bytes(chunk[4:8], "little")
                if chunk_id == b"data":
                    present = size - (offset + 8)
                    if chunk_size in (0, 0xFFFFFFFF) or chunk_size <= present:
                        return None
                    return chunk_size, max(0, present)
                offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even length
    except OSError:
        return None
    return None


def open_audio(path: str | Path) -> AudioSource:
    """Open an audio file (or the audio track of a video) for streaming reads.

    Raises :class:`AudioInputError` naming the file and the problem for a missing, empty, non-audio,
    corrupt or zero-length file. Silence and NaN samples are found by the analysis, which reads all.
    """
    path = Path(path)
    if not path.exists():
        raise AudioInputError(path, "no such file")
    if path.is_dir():
        raise AudioInputError(path, "is a folder; choose an audio or video file")
    if path.stat().st_size == 0:
        raise AudioInputError(path, "the file is empty (0 bytes)")
    readable = path
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        readable = _decode_with_pyav(path)
    try:
        info = sf.info(str(readable))
    except (sf.LibsndfileError, RuntimeError) as exc:
        if readable is path:
            # libsndfile does not know it: a container PyAV may read (e.g. an MP4 with another suffix).
            try:
                readable = _decode_with_pyav(path)
                info = sf.info(str(readable))
            except AudioInputError as av_exc:
                log.info("%s: libsndfile: %s; ffmpeg: %s", path, str(exc).strip(), av_exc.problem)
                if "no audio track" in av_exc.problem or "no samples" in av_exc.problem:
                    raise
                raise AudioInputError(
                    path,
                    "not a readable audio file (the format is not recognised or the file is damaged). "
                    "Accepted: WAV, FLAC, OGG, MP3 and the audio track of MP4/MOV/MKV/WebM",
                ) from None
        else:
            raise AudioInputError(path, f"the decoded audio cannot be read ({exc})") from None
    warnings: list[str] = []
    if info.frames <= 0:
        shortfall = wav_data_shortfall(path) if readable is path else None
        if shortfall is not None:
            raise AudioInputError(path, f"the file holds no audio samples: its header promises {shortfall[0]} bytes "
                                        "of samples but the file ends after the header (cut short?)")
        raise AudioInputError(path, "the file holds no audio samples (zero length)")
    if info.samplerate < 4000:
        raise AudioInputError(
            path, f"sample rate {info.samplerate} Hz is too low; at least 4000 Hz is needed"
        )
    if info.frames / info.samplerate > MAX_DURATION_S:
        raise AudioInputError(
            path, f"the recording lasts {info.frames / info.samplerate / 3600:.1f} h; at most 6 h is accepted"
        )
    if info.channels == 1:
        warnings.append(
            "This recording is mono: spatial cues need two channels, so every source is placed at the centre."
        )
    elif info.channels > 2:
        warnings.append(
            f"This recording has {info.channels} channels; the first two are used as left and right."
        )
    shortfall = wav_data_shortfall(path) if readable is path else None
    if shortfall is not None:
        promised, present = shortfall
        have_s = info.frames / info.samplerate
        promised_s = have_s * promised / max(1, present)
        warnings.append(
            f"This file is cut short: its header promises {promised_s:.2f} s but only {have_s:.2f} s are there "
            "(an interrupted copy or recording?); the part that is there is used."
        )
    return AudioSource(
        path=path,
        readable_path=readable,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        warnings=warnings,
    )


def resample_ratio(from_rate: int, to_rate: int) -> tuple[int, int]:
    """(up, down) for scipy's polyphase resampler, reduced to lowest terms."""
    ratio = Fraction(to_rate, from_rate)
    return ratio.numerator, ratio.denominator


def resampled_blocks(source: AudioSource, target_rate: int, block_s: float = 30.0) -> Iterator[np.ndarray]:
    """The stereo view of ``source`` at ``target_rate`` as consecutive (n, 2) float32 blocks.

    Blocks are resampled with ``scipy.signal.resample_poly`` on overlapping input spans whose edges are
    cut away afterwards, so the joined output equals resampling the whole file at once (up to the
    filter's edge effects at the very start and end) while memory stays bounded by ``block_s``.
    """
    if target_rate == source.sample_rate:
        yield from source.blocks(max(1, round(block_s * source.sample_rate)))
        return
    up, down = resample_ratio(source.sample_rate, target_rate)
    # Input block length: a multiple of `down`, so block edges map to whole output samples.
    block_in = max(down, round(block_s * source.sample_rate) // down * down)
    # resample_poly's default filter spans 10 * max(up, down) taps at the upsampled rate.
    margin_in = math.ceil(10 * max(up, down) / up) + down
    margin_in = int(math.ceil(margin_in / down) * down)
    start = 0
    total_out = math.ceil(source.frames * up / down)
    emitted = 0
    while start < source.frames:
        lo = max(0, start - margin_in)
        hi = min(source.frames, start + block_in + margin_in)
        chunk = source.read(lo, hi)
        # Channels as contiguous rows: scipy's polyphase filter runs about twice as fast that way.
        out = signal.resample_poly(np.ascontiguousarray(chunk.T), up, down, axis=1).T
        first = (start - lo) * up // down
        count = min(block_in * up // down, total_out - emitted)
        piece = out[first : first + count]
        if piece.shape[0] == 0:
            break
        emitted += piece.shape[0]
        yield np.ascontiguousarray(piece, dtype=np.float32)
        start += block_in


def load_stereo(path: str | Path, target_rate: int | None = None) -> tuple[np.ndarray, int, AudioSource]:
    """The whole file's stereo view as float32 (n, 2), at ``target_rate`` if given (else its own rate).

    For short files (tests, previews). Long recordings should be streamed with :func:`resampled_blocks`.
    """
    source = open_audio(path)
    rate = target_rate or source.sample_rate
    parts = list(resampled_blocks(source, rate))
    samples = np.concatenate(parts, axis=0) if parts else np.zeros((0, 2), np.float32)
    return samples, rate, source
