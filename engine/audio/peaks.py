"""A min/max pyramid of a waveform, for drawing hour-long recordings at any zoom.

Level 0 holds, per channel, the minimum and maximum of every ``bin_frames`` samples; each further
level merges ``LEVEL_FACTOR`` bins of the one below. For an hour of 48 kHz stereo with 256-frame bins
that is about 675 000 bins (10.8 MB of float32) for level 0 and a third more for all the others,
whatever the file's length in memory terms otherwise: the file itself is streamed in blocks.

A view picks the finest level that fits the requested number of points; when even level 0 is too
coarse (zoomed in to a few thousand samples) it reads the raw samples of that span from the source.
Pure numpy: no Qt here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.errors import Cancelled

#: Bins of one level merged into one bin of the next.
LEVEL_FACTOR = 4
#: Frames read per block while computing the pyramid (about 5 s at 48 kHz).
_BLOCK_BINS = 1024
#: Columns of a level array: min_l, max_l, min_r, max_r.
MIN_L, MAX_L, MIN_R, MAX_R = range(4)


class _Readable(Protocol):
    sample_rate: int
    frames: int

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray: ...

    def blocks(self, block_frames: int, start: int = 0): ...


@dataclass
class PeaksSpans:
    """What a view shows: one point per span of frames ``[start[i], stop[i])``.

    ``data`` has shape (n, 4): min_l, max_l, min_r, max_r over each span.
    """

    start: np.ndarray  # int64 frame indices
    stop: np.ndarray  # int64, exclusive
    data: np.ndarray  # float32 (n, 4)
    level: int  # pyramid level used; -1 when read from the raw samples


@dataclass
class WaveformPeaks:
    """The min/max pyramid of one recording's stereo view (see module docstring)."""

    sample_rate: int
    frames: int
    bin_frames: int
    #: levels[k] is float32 of shape (ceil(frames / (bin_frames * LEVEL_FACTOR**k)), 4).
    levels: list[np.ndarray] = field(default_factory=list)
    #: Where raw samples come from when zoomed in past level 0 (None: level 0 is the finest view).
    source: _Readable | None = None

    @property
    def duration_s(self) -> float:
        return self.frames / float(self.sample_rate)

    def level_bin_frames(self, level: int) -> int:
        """Frames per bin at ``level``."""
        return self.bin_frames * LEVEL_FACTOR**level

    @property
    def nbytes(self) -> int:
        return int(sum(level.nbytes for level in self.levels))

    def spans(self, t0: float, t1: float, max_points: int) -> PeaksSpans:
        """The min/max of at most about ``max_points`` spans covering ``[t0, t1]`` (seconds, clamped)."""
        max_points = max(2, int(max_points))
        f0 = int(np.clip(math.floor(t0 * self.sample_rate), 0, self.frames))
        f1 = int(np.clip(math.ceil(t1 * self.sample_rate), 0, self.frames))
        if f1 <= f0:
            empty = np.zeros(0, np.int64)
            return PeaksSpans(empty, empty, np.zeros((0, 4), np.float32), 0)
        span = f1 - f0
        # Level 0 would show less than a quarter of the points asked for: read the samples themselves
        # (at most max_points * bin_frames / LEVEL_FACTOR frames, e.g. 256 k frames for 4000 points).
        if span * LEVEL_FACTOR < max_points * self.bin_frames and self.source is not None:
            return self._raw_spans(f0, f1, max_points)
        # The finest level whose bins over the span number at most max_points.
        level = 0
        while level + 1 < len(self.levels) and span / self.level_bin_frames(level) > max_points:
            level += 1
        size = self.level_bin_frames(level)
        table = self.levels[level]
        first = f0 // size
        last = min(table.shape[0], -(-f1 // size))
        index = np.arange(first, last, dtype=np.int64)
        start = index * size
        stop = np.minimum(start + size, self.frames)
        return PeaksSpans(start, stop, table[first:last], level)

    def _raw_spans(self, f0: int, f1: int, max_points: int) -> PeaksSpans:
        samples = np.nan_to_num(self.source.read(f0, f1), nan=0.0, posinf=1.0, neginf=-1.0)  # type: ignore[union-attr]
        n = samples.shape[0]
        step = max(1, -(-n // max_points))
        starts = np.arange(0, n, step, dtype=np.int64)
        data = np.empty((starts.shape[0], 4), np.float32)
        if step == 1:
            data[:, MIN_L] = data[:, MAX_L] = samples[:, 0]
            data[:, MIN_R] = data[:, MAX_R] = samples[:, 1]
        else:
            data[:, MIN_L] = np.minimum.reduceat(samples[:, 0], starts)
            data[:, MAX_L] = np.maximum.reduceat(samples[:, 0], starts)
            data[:, MIN_R] = np.minimum.reduceat(samples[:, 1], starts)
            data[:, MAX_R] = np.maximum.reduceat(samples[:, 1], starts)
        start = starts + f0
        stop = np.minimum(start + step, f0 + n)
        return PeaksSpans(start, stop, data, -1)

    def view(
        self, t0: float, t1: float, max_points: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(t, min_l, max_l, min_r, max_r) for drawing ``[t0, t1]`` with about ``max_points`` points.

        ``t`` is the start time (s) of each span; consecutive points cover consecutive spans.
        """
        spans = self.spans(t0, t1, max_points)
        t = spans.start / float(self.sample_rate)
        d = spans.data
        return t, d[:, MIN_L], d[:, MAX_L], d[:, MIN_R], d[:, MAX_R]


def _merge(table: np.ndarray, factor: int) -> np.ndarray:
    """The next pyramid level: min of mins and max of maxes over groups of ``factor`` rows."""
    starts = np.arange(0, table.shape[0], factor)
    out = np.empty((starts.shape[0], 4), np.float32)
    out[:, MIN_L] = np.minimum.reduceat(table[:, MIN_L], starts)
    out[:, MAX_L] = np.maximum.reduceat(table[:, MAX_L], starts)
    out[:, MIN_R] = np.minimum.reduceat(table[:, MIN_R], starts)
    out[:, MAX_R] = np.maximum.reduceat(table[:, MAX_R], starts)
    return out


def compute_peaks(
    source: _Readable,
    bin_frames: int = 256,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> WaveformPeaks:
    """Stream ``source`` (an :class:`engine.audio.io.AudioSource`) once and build its min/max pyramid.

    ``progress`` gets the fraction done in [0, 1]; ``is_cancelled`` is polled per block and raises
    :class:`Cancelled` when it returns True. NaN samples count as 0 (the analysis reports them).
    """
    if bin_frames < 1:
        raise ValueError(f"bin_frames must be at least 1, got {bin_frames}")
    total = int(source.frames)
    nbins = max(1, -(-total // bin_frames))
    level0 = np.zeros((nbins, 4), np.float32)
    block_frames = bin_frames * _BLOCK_BINS
    row = 0
    done = 0
    for block in source.blocks(block_frames):
        if is_cancelled is not None and is_cancelled():
            raise Cancelled("waveform overview cancelled")
        block = np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
        n = block.shape[0]
        starts = np.arange(0, n, bin_frames)
        count = min(starts.shape[0], nbins - row)
        if count <= 0:
            break
        starts = starts[:count]
        rows = level0[row : row + count]
        rows[:, MIN_L] = np.minimum.reduceat(block[:, 0], starts)
        rows[:, MAX_L] = np.maximum.reduceat(block[:, 0], starts)
        rows[:, MIN_R] = np.minimum.reduceat(block[:, 1], starts)
        rows[:, MAX_R] = np.maximum.reduceat(block[:, 1], starts)
        row += count
        done += n
        if progress is not None:
            progress(min(1.0, done / max(1, total)))
    levels = [level0[: max(row, 1)]]
    while levels[-1].shape[0] > 1:
        levels.append(_merge(levels[-1], LEVEL_FACTOR))
    if progress is not None:
        progress(1.0)
    return WaveformPeaks(
        sample_rate=int(source.sample_rate),
        frames=total,
        bin_frames=bin_frames,
        levels=levels,
        source=source,
    )
