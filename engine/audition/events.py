"""The event timeline: when each measured source sounds, as onset-offset intervals in seconds.

Following Audio-Agent (seeds/003), the planner gets timed events rather than a clip-long summary: a drum
that plays from 2.0 to 3.1 s should enter the picture at 2.0 s, not be there from the start. The source
tracks of the analysis say *where* a source is on a coarse 0.25 s grid; the events here say *when* it
sounds, to about 10 ms, from the energy of its separated signal.

- :func:`detect_events` finds the sounding intervals of one mono signal: a frame energy envelope, an
  adaptive hysteresis threshold set from the signal's own noise floor and peak, onsets refined with
  spectral flux, short gaps merged and blips dropped.
- :func:`source_events` separates a stereo mix into the analysis's sources and times each of them.
- :func:`events_from_tracks` is the cheap fallback when the audio is not at hand: where each track has data.
- :func:`describe_events` writes the timeline as one line of text (the planner's prompt, the CLI).

Memory: an hour at 48 kHz is 173 M samples; the work is done on a 10 ms envelope (360 k values) and on
short windows around each onset, so nothing longer than a bounded chunk of the signal is ever copied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from engine.audio.model import Analysis, Motion, Source
from engine.audio.spatial import CueSettings
from engine.errors import InputError

#: Frame energy is averaged over this long (centred) before thresholding: steadies the envelope of
#: noisy sounds without blurring edges by more than a frame.
SMOOTH_S = 0.03
#: Recordings up to this long (s) are separated to time their sources' events; longer ones are timed from the
#: analysis's tracks, since separating holds the whole recording and a signal per source in memory.
SEPARATED_EVENTS_MAX_S = 600.0
#: The noise floor is this percentile of the smoothed frame levels (the quiet part of the signal).
FLOOR_PERCENTILE = 10.0
#: The floor used for thresholds is clamped into [peak - FLOOR_MAX_BELOW_PEAK_DB, peak - FLOOR_MIN_BELOW_PEAK_DB]:
#: in digital silence the floor would be -inf and a sound's faint tail would count for seconds; in a signal
#: that sounds almost all the time its quiet moments are not a noise floor, and a constant tone must stay on.
FLOOR_MAX_BELOW_PEAK_DB = 50.0
FLOOR_MIN_BELOW_PEAK_DB = 22.0
#: Hysteresis: an event needs a frame this far above the floor, and lasts while frames stay above the lower mark.
ON_ABOVE_FLOOR_DB = 10.0
OFF_ABOVE_FLOOR_DB = 5.0
#: A signal whose loudest frame is below this (dBFS) is silent: it has no events.
SILENCE_DBFS = -90.0
#: Gaps shorter than this are merged (a consonant, the space between two notes); events shorter than this
#: are dropped (clicks, leakage flickers). Gaps are merged first, so a fast run of hits is one event.
MIN_GAP_S = 0.15
MIN_EVENT_S = 0.06
#: An onset is refined to the spectral-flux peak within this many seconds of the threshold crossing.
ONSET_SEARCH_S = 0.03
#: Spectral-flux window (about 10 ms) and its hop as a fraction of the window.
FLUX_WINDOW_S = 0.01
FLUX_HOP_FRACTION = 8
#: Track coverage: gaps in a source's track longer than this split its intervals.
TRACK_MAX_GAP_S = 0.5
#: source_events: a detected event outside the track's coverage still counts when its loudest frame is within
#: this many dB of the loudest event of the same separated signal.
CLEAR_WITHIN_PEAK_DB = 6.0
#: Samples squared at a time when the envelope is measured (bounds the temporary copies to a few MB).
_CHUNK_SAMPLES = 1 << 20
_TINY_POWER = 1e-20

Interval = tuple[float, float]


# ----------------------------------------------------------------------------------- the timeline


@dataclass
class SourceEvents:
    """When one measured source sounds: ``intervals`` of (onset, offset) seconds, sorted, non-overlapping."""

    source_id: int
    intervals: list[Interval] = field(default_factory=list)

    def sounding_at(self, time_s: float) -> bool:
        """Whether the source sounds at ``time_s`` (onset included, offset excluded)."""
        return any(start <= time_s < end for start, end in self.intervals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "intervals": [[round(float(a), 3), round(float(b), 3)] for a, b in self.intervals],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "events") -> SourceEvents:
        """Read :meth:`to_dict`'s form; a bad document raises :class:`InputError` naming the field."""
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected an object with 'source_id' and 'intervals'")
        source_id = data.get("source_id")
        if isinstance(source_id, bool) or not isinstance(source_id, int) or source_id < 0:
            raise InputError(f"{where}: field 'source_id' must be a non-negative integer, got {source_id!r}")
        raw = data.get("intervals")
        if not isinstance(raw, list):
            raise InputError(f"{where}: field 'intervals' must be a list of [start, end] pairs")
        intervals: list[Interval] = []
        for i, pair in enumerate(raw):
            if not (isinstance(pair, Sequence) and len(pair) == 2 and all(_is_number(v) for v in pair)):
                raise InputError(f"{where}: intervals[{i}] must be a [start, end] pair of numbers, got {pair!r}")
            start, end = float(pair[0]), float(pair[1])
            if not 0.0 <= start < end or (intervals and start < intervals[-1][1]):
                raise InputError(
                    f"{where}: intervals[{i}] = [{start}, {end}]; intervals must satisfy 0 <= start < end "
                    "and be sorted without overlaps"
                )
            intervals.append((start, end))
        return cls(source_id=source_id, intervals=intervals)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


# ---------------------------------------------------------------------------------- one signal


def detect_events(
    signal: np.ndarray,
    rate: int,
    *,
    hop_s: float = 0.01,
    min_event_s: float = MIN_EVENT_S,
    min_gap_s: float = MIN_GAP_S,
) -> list[Interval]:
    """The sounding intervals (onset, offset) in seconds of a mono ``signal`` sampled at ``rate`` Hz.

    The envelope is the frame RMS level (``hop_s`` frames, averaged over :data:`SMOOTH_S`). An event starts
    where it rises above floor + :data:`ON_ABOVE_FLOOR_DB` and lasts while it stays above floor +
    :data:`OFF_ABOVE_FLOOR_DB`, with the floor measured on the signal itself (see the constants). Onsets
    move to the spectral-flux peak nearby; gaps under ``min_gap_s`` are merged, then events under
    ``min_event_s`` dropped. A silent signal has none; a steady one is one event spanning it.
    Raises :class:`InputError` for a signal that is not 1-D, holds NaN/inf, or for a bad rate or hop.
    """
    events, _levels = _detect(signal, rate, hop_s, min_event_s, min_gap_s)
    return events


def _check_signal(signal: np.ndarray, rate: int, hop_s: float) -> int:
    """The hop in samples, after checking the arguments a caller can get wrong."""
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise InputError(f"the sample rate must be a positive whole number of Hz, got {rate!r}")
    if np.ndim(signal) != 1:
        raise InputError(f"event detection takes one mono signal (1-D samples), got shape {np.shape(signal)}")
    if not math.isfinite(hop_s) or round(hop_s * rate) < 1:
        raise InputError(f"the analysis hop must be at least one sample, got {hop_s} s at {rate} Hz")
    return round(hop_s * rate)


def _detect(
    signal: np.ndarray, rate: int, hop_s: float, min_event_s: float, min_gap_s: float
) -> tuple[list[Interval], list[float]]:
    """:func:`detect_events`, plus the loudest smoothed level (dBFS) of each event."""
    hop = _check_signal(signal, rate, hop_s)
    frame_s = hop / rate
    if signal.size == 0:
        return [], []
    power = _frame_power(signal, hop)
    if not np.all(np.isfinite(power)):
        raise InputError("the signal holds NaN or infinite samples; the audio is damaged")
    size = max(1, round(SMOOTH_S / frame_s))
    # The running sum behind the filter can leave -1e-18 where the signal is digital silence.
    smoothed = np.maximum(ndimage.uniform_filter1d(power, size, mode="nearest"), 0.0)
    level_db = 10.0 * np.log10(smoothed + _TINY_POWER)
    peak_db = float(level_db.max())
    if peak_db < SILENCE_DBFS:
        return [], []
    # Digital silence is no noise floor: a separated signal is exactly zero where its mask is closed.
    heard = level_db[level_db >= SILENCE_DBFS]
    floor_db = float(np.clip(np.percentile(heard, FLOOR_PERCENTILE),
                             peak_db - FLOOR_MAX_BELOW_PEAK_DB, peak_db - FLOOR_MIN_BELOW_PEAK_DB))
    off_db = floor_db + OFF_ABOVE_FLOOR_DB
    first, last = _hysteresis_runs(level_db, floor_db + ON_ABOVE_FLOOR_DB, off_db)
    first, last = _sharpen(10.0 * np.log10(power + _TINY_POWER), off_db, first, last)
    duration_s = signal.size / rate
    starts = _refine_onsets(signal, rate, first * frame_s)
    ends = np.minimum(last * frame_s, duration_s)
    return _tidy(starts, ends, _run_peaks(level_db, first, last), min_event_s, min_gap_s)


def _frame_power(signal: np.ndarray, hop: int) -> np.ndarray:
    """Mean square per frame of ``hop`` samples (the last frame may be shorter), in float64, chunk by chunk."""
    n_frames = -(-signal.size // hop)
    power = np.empty(n_frames)
    frames_per_chunk = max(1, _CHUNK_SAMPLES // hop)
    for first in range(0, n_frames, frames_per_chunk):
        chunk = np.asarray(signal[first * hop:(first + frames_per_chunk) * hop], dtype=np.float64)
        starts = np.arange(0, chunk.size, hop)
        counts = np.diff(np.r_[starts, chunk.size])
        power[first:first + starts.size] = np.add.reduceat(chunk * chunk, starts) / counts
    return power


def _hysteresis_runs(level_db: np.ndarray, on_db: float, off_db: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame runs [first, last) that stay above ``off_db`` and reach ``on_db`` somewhere."""
    above = level_db > off_db
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    on_count = np.r_[0, np.cumsum(level_db > on_db)]
    keep = on_count[last] - on_count[first] > 0
    return first[keep], last[keep]


def _sharpen(raw_db: np.ndarray, off_db: float, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of the smoothed envelope narrowed to their first and last unsmoothed frame above ``off_db``.

    Smoothing spreads a sharp edge by half its length on each side; the raw frames put it back.
    """
    loud = np.flatnonzero(raw_db > off_db)
    if loud.size == 0:
        return first, last
    first_loud = loud[np.minimum(np.searchsorted(loud, first), loud.size - 1)]
    last_loud = loud[np.maximum(np.searchsorted(loud, last) - 1, 0)]
    # A run whose raw frames all stay under the mark (a smoothed-over flicker) keeps its smoothed edges.
    inside = (first_loud >= first) & (first_loud < last) & (last_loud >= first_loud)
    return np.where(inside, first_loud, first), np.where(inside, last_loud + 1, last)


def _run_peaks(level_db: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The loudest level of each run [first, last); runs are disjoint and separated by quiet frames."""
    if first.size == 0:
        return np.zeros(0)
    # reduceat over [first_0, last_0, first_1, ...] gives each run, then each gap; the sentinel lets a
    # run end at the last frame.
    bounds = np.column_stack([first, last]).ravel()
    return np.maximum.reduceat(np.r_[level_db, -np.inf], bounds)[::2]


def _refine_onsets(signal: np.ndarray, rate: int, coarse_s: np.ndarray) -> np.ndarray:
    """Each onset moved to the spectral-flux peak within :data:`ONSET_SEARCH_S` of it.

    Flux is the summed rise of the power spectrum from one short window to the next; for a step onset it
    peaks when the step is at the window's centre, so the refined time is unbiased. The envelope's
    crossing is quantised to a frame and pulled early by the smoothing; the flux peak is not.
    """
    n_fft = 1 << max(4, round(math.log2(FLUX_WINDOW_S * rate)))
    step = max(1, n_fft // FLUX_HOP_FRACTION)
    search = round(ONSET_SEARCH_S * rate)
    window = np.hanning(n_fft)
    refined = np.array(coarse_s, dtype=float)
    for i, onset_s in enumerate(coarse_s):
        centre = round(onset_s * rate)
        lo = centre - search - n_fft // 2
        hi = centre + search + n_fft // 2
        if lo < 0 or hi > signal.size:
            continue  # at the very edge of the signal the crossing is already as good as it gets
        frames = sliding_window_view(np.asarray(signal[lo:hi], dtype=np.float64), n_fft)[::step]
        spectra = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
        flux = np.maximum(np.diff(spectra, axis=0), 0.0).sum(axis=1)
        if flux.size == 0 or flux.max() <= 0.0:
            continue
        j = int(np.argmax(flux))
        # Flux j lies between windows j and j+1, whose centres are lo + j*step + n_fft/2 (+ step).
        refined[i] = (lo + j * step + step / 2 + n_fft / 2) / rate
    return refined


def _tidy(
    starts: np.ndarray, ends: np.ndarray, peaks_db: np.ndarray, min_event_s: float, min_gap_s: float
) -> tuple[list[Interval], list[float]]:
    """Merge gaps shorter than ``min_gap_s``, then drop events shorter than ``min_event_s``."""
    if starts.size == 0:
        return [], []
    starts = np.clip(starts, 0.0, ends)
    # A new group begins where the gap to the latest end so far reaches min_gap_s.
    latest_end = np.maximum.accumulate(ends)
    new_group = np.r_[True, starts[1:] - latest_end[:-1] >= min_gap_s]
    group_first = np.flatnonzero(new_group)
    merged_starts = np.minimum.reduceat(starts, group_first)
    merged_ends = np.maximum.reduceat(ends, group_first)
    merged_peaks = np.maximum.reduceat(peaks_db, group_first)
    long_enough = merged_ends - merged_starts >= min_event_s
    intervals = [(float(a), float(b)) for a, b in zip(merged_starts[long_enough], merged_ends[long_enough],
                                                      strict=True)]
    return intervals, [float(p) for p in merged_peaks[long_enough]]


# ------------------------------------------------------------------------------------- sources


def source_events(stereo: np.ndarray, rate: int, analysis: Analysis, *, hop_s: float = 0.01) -> list[SourceEvents]:
    """When each source of ``analysis`` sounds in the ``stereo`` (n, 2) recording at ``rate`` Hz.

    The mix is separated into one signal per source (:func:`engine.audition.separate.separate_sources`)
    and each is timed with :func:`detect_events`. Separation leaves some of the other sources behind, so an
    event is confirmed by the analysis: it counts when it overlaps the source's track coverage
    (:func:`events_from_tracks`), or, outside it, when it is clearly there (its loudest frame within
    :data:`CLEAR_WITHIN_PEAK_DB` of the signal's loudest event: the tracker can lose a source while a
    louder one dominates the direction evidence, but leakage is never that loud). A confirmed event keeps
    its own edges, which are finer than the track's 0.25 s grid. Returns one entry per analysis source,
    in the analysis's order. Raises :class:`InputError` for samples that are not (n, 2) or a bad rate.
    """
    from engine.audition.separate import separate_sources

    if np.ndim(stereo) != 2 or np.shape(stereo)[1] != 2:
        raise InputError(f"source events need stereo samples shaped (n, 2), got shape {np.shape(stereo)}")
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise InputError(f"the sample rate must be a positive whole number of Hz, got {rate!r}")
    separated = separate_sources(stereo, rate, analysis)
    coverage = {ev.source_id: ev.intervals for ev in events_from_tracks(analysis)}
    out = []
    for src in analysis.sources:
        detected, peaks_db = _detect(separated[src.id], rate, hop_s, MIN_EVENT_S, MIN_GAP_S)
        out.append(SourceEvents(src.id, _confirmed(detected, peaks_db, coverage[src.id])))
    return out


def _confirmed(detected: list[Interval], peaks_db: list[float], coverage: list[Interval]) -> list[Interval]:
    """The detected events that overlap ``coverage`` or are within :data:`CLEAR_WITHIN_PEAK_DB` of the loudest."""
    if not detected:
        return []
    loudest = max(peaks_db)
    return [
        event for event, peak in zip(detected, peaks_db, strict=True)
        if peak >= loudest - CLEAR_WITHIN_PEAK_DB or _overlaps(event, coverage)
    ]


def _overlaps(event: Interval, intervals: list[Interval]) -> bool:
    return any(start < event[1] and event[0] < end for start, end in intervals)


def events_from_tracks(analysis: Analysis, *, max_gap_s: float = TRACK_MAX_GAP_S) -> list[SourceEvents]:
    """Each source's sounding intervals from where its track has data, when the audio is not at hand.

    A track point stands for one analysis segment (0.25 s) centred on it; points closer than
    ``max_gap_s`` (between their segments' edges) join into one interval. Times are clipped to the clip.
    Coarser than :func:`source_events` (segment edges, not onsets) but free.
    """
    segment_s = CueSettings().segment_frames * analysis.frames.hop_s
    return [SourceEvents(src.id, _track_intervals(src, segment_s, max_gap_s, analysis.duration_s))
            for src in analysis.sources]


def _track_intervals(src: Source, segment_s: float, max_gap_s: float, duration_s: float) -> list[Interval]:
    t = np.sort(src.track.t[np.isfinite(src.track.t) & np.isfinite(src.track.azimuth_deg)])
    if t.size == 0:
        return []
    starts, ends = t - segment_s / 2, t + segment_s / 2
    new_group = np.r_[True, starts[1:] - ends[:-1] > max_gap_s]
    group_first = np.flatnonzero(new_group)
    group_last = np.r_[group_first[1:], t.size] - 1
    return [
        (max(0.0, float(starts[a])), min(float(duration_s), float(ends[b])))
        for a, b in zip(group_first, group_last, strict=True)
        if min(float(duration_s), float(ends[b])) > max(0.0, float(starts[a]))
    ]


# ------------------------------------------------------------------------------------------- text


_MOTION_WORDS = {
    Motion.STATIONARY: "",
    Motion.MOVING_LEFT: "moving left",
    Motion.MOVING_RIGHT: "moving right",
    Motion.APPROACHING: "approaching",
    Motion.RECEDING: "receding",
}


def source_names(analysis: Analysis) -> dict[int, str]:
    """A name per source id for :func:`describe_events`: "source 0 (left, moving right)", "source 1 (right)"."""
    names = {}
    for src in analysis.sources:
        words = ", ".join(w for w in (src.side.value, _MOTION_WORDS[src.motion]) if w)
        names[src.id] = f"source {src.id} ({words})"
    return names


def describe_events(
    events: Sequence[SourceEvents], names: Mapping[int, str] | None = None, *, max_intervals: int = 12
) -> str:
    """The timeline in one line: "source 0 (left, moving right): 0.0–2.4 s, 3.1–8.0 s; source 1 (right): 1.2–1.9 s".

    ``names`` maps a source id to how it is called (default "source <id>"; see :func:`source_names`).
    At most ``max_intervals`` intervals per source are written, then how many more and when the last ends,
    so an hour of drum hits stays a line. A source with no interval is "not heard on its own".
    """
    names = names or {}
    parts = []
    for ev in events:
        name = names.get(ev.source_id, f"source {ev.source_id}")
        shown = [f"{a:.1f}–{b:.1f} s" for a, b in ev.intervals[:max_intervals]]
        hidden = len(ev.intervals) - len(shown)
        if hidden > 0:
            shown.append(f"and {hidden} more until {ev.intervals[-1][1]:.1f} s")
        parts.append(f"{name}: {', '.join(shown) if shown else 'not heard on its own'}")
    return "; ".join(parts)


def recording_events(
    audio_path: str | Path,
    analysis: Analysis,
    is_cancelled: Callable[[], bool] | None = None,
) -> list[SourceEvents]:
    """When each source of ``analysis`` sounds in the recording at ``audio_path``.

    Recordings up to :data:`SEPARATED_EVENTS_MAX_S` are read at the analysis's rate and timed from their
    separated sources (:func:`source_events`, onsets to about 10 ms); longer ones from where the analysis's
    tracks have data (:func:`events_from_tracks`, on a 0.25 s grid, without reading the audio). One entry per
    source, in the analysis's order. ``is_cancelled()`` is asked before and after reading the recording; when
    it turns true the work stops with Cancelled. A recording that cannot be read raises
    :class:`~engine.errors.AudioInputError`.
    """
    if not analysis.sources or analysis.duration_s > SEPARATED_EVENTS_MAX_S:
        return events_from_tracks(analysis)
    from engine.audition.separate import read_recording

    stereo, rate = read_recording(audio_path, analysis, is_cancelled)
    return source_events(stereo, rate, analysis)
