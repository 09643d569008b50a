"""A coarse guess of what kind of thing makes a sound, from cues the analysis already has.

Only broad classes are told apart — a voice, a pitched instrument, a siren-like sweeping tone, a
steady noisy machine, percussive hits — from how much of the sound is pitched, the pitch range, how it
moves, the spectral centroid and the onset rate. Each guess says how sure it is and which facts it
rests on, so that captions never claim more than was measured.

With several sources, those cues are measured on each source's own signal, separated from the recording
with the time–frequency masks of its track (:func:`separated_frames`): measured on the mixture, a siren
beside an engine and the engine itself would read alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audio.model import Analysis, CueFrames, Source
from engine.audio.spatial import CueSettings, MonoCueMeter
from engine.errors import AudioInputError, Cancelled

#: Recordings up to this long (s) have their sources separated to tell what each one is; longer ones are judged
#: from the mixture's cues, since separating holds the whole recording and a signal per source in memory.
SEPARATED_TYPES_MAX_S = 600.0


@dataclass(frozen=True)
class SoundType:
    """A guessed class: the object label to draw, a short description, and what it rests on."""

    label: str  # an object name for the layout ("person", "machine", ...)
    description: str  # "a voice", "a steady noisy sound"
    certainty: float  # 0..1: how distinct the evidence is
    facts: str  # "pitched 62% of the time around 180 Hz, 4.1 onsets/s"


GENERIC = SoundType("sound source", "a sound", 0.0, "too little signal to tell what it is")


def _source_frames(analysis: Analysis, source: Source) -> np.ndarray:
    """Indices of frames where ``source`` sounds and is within 30 dB of the clip's loudest frame."""
    frames = analysis.frames
    t = np.asarray(frames.t)
    mask = np.zeros(t.size, bool)
    track_span = [(float(source.track.t[0]), float(source.track.t[-1]))] if len(source.track.t) else []
    intervals = source.active or track_span
    for start, end in intervals:
        mask |= (t >= start) & (t <= end)
    level = np.asarray(frames.level_dbfs)
    if level.size:
        mask &= level > np.nanmax(level) - 30.0
    return np.flatnonzero(mask)


def _onset_rate(level_db: np.ndarray, hop_s: float) -> float:
    """Onsets per second: rises of 6 dB or more within 50 ms, counted once per rise."""
    if level_db.size < 10:
        return 0.0
    lag = max(1, round(0.05 / hop_s))
    rise = level_db[lag:] - level_db[:-lag]
    above = rise > 6.0
    starts = np.flatnonzero(above & ~np.r_[False, above[:-1]])
    return float(starts.size / (level_db.size * hop_s))


def _values(track: np.ndarray | None, idx: np.ndarray) -> np.ndarray:
    """A per-frame cue at ``idx``; NaN where the analysis has none (an analysis read from a file may lack it)."""
    values = np.asarray(track, dtype=float) if track is not None else np.empty(0)
    if values.ndim != 1 or values.size == 0:
        return np.full(idx.size, np.nan)
    return values[np.minimum(idx, values.size - 1)]


#: Separates a recording ``(stereo, rate)`` into one signal per source id (see separated_frames).
Separator = Callable[[np.ndarray, int], dict[int, np.ndarray]]


def separated_frames(stereo: np.ndarray, rate: int, analysis: Analysis,
                     is_cancelled: Callable[[], bool] | None = None,
                     separate: Separator | None = None) -> dict[int, CueFrames]:
    """Per source of ``analysis``: its cue frames with pitch, spectral centroid and level measured on its own
    signal, separated from ``stereo`` (``(n, 2)`` at ``rate``) by ``separate`` (default:
    :func:`engine.audition.separate.separate_sources`; the studio passes its cached one, shared with the audition).
    Empty with fewer than two sources, where the mixture is the source. ``is_cancelled()`` is asked between blocks;
    when it turns true the work stops with Cancelled."""
    from engine.audition.separate import separate_sources

    if len(analysis.sources) < 2:
        return {}
    signals = separate(stereo, rate) if separate is not None else separate_sources(stereo, rate, analysis,
                                                                                 is_cancelled)
    out: dict[int, CueFrames] = {}
    block = int(rate) * 30
    for source_id, signal in signals.items():
        meter = MonoCueMeter(CueSettings(rate=int(rate), hop_s=analysis.frames.hop_s))
        for start in range(0, signal.size, block):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            part = signal[start : start + block]
            meter.feed(np.stack([part, part], axis=1))
        meter.finish()
        measured = meter.arrays()
        out[source_id] = dataclasses.replace(analysis.frames, pitch_hz=measured["pitch_hz"],
                                             centroid_hz=measured["centroid_hz"], level_dbfs=measured["level_dbfs"])
    return out


def recording_frames(audio_path: str | Path, analysis: Analysis,
                     is_cancelled: Callable[[], bool] | None = None,
                     separate: Separator | None = None) -> dict[int, CueFrames]:
    """:func:`separated_frames` of the recording at ``audio_path``; empty (the mixture's cues are used) for a single
    source, a recording longer than :data:`SEPARATED_TYPES_MAX_S`, or one that can no longer be read (moved or
    changed since it was analysed: planning needs only the analysis, and the labels stay coarse without it).
    ``is_cancelled()`` is asked while reading and separating; when it turns true the work stops with Cancelled.
    ``separate``: as for :func:`separated_frames`."""
    if len(analysis.sources) < 2 or analysis.duration_s > SEPARATED_TYPES_MAX_S:
        return {}
    from engine.audition.separate import read_recording

    try:
        stereo, rate = read_recording(audio_path, analysis, is_cancelled)
    except AudioInputError:
        return {}
    return separated_frames(stereo, rate, analysis, is_cancelled, separate)


def estimate_sound_type(analysis: Analysis, source: Source, frames: CueFrames | None = None) -> SoundType:
    """A coarse class for ``source`` from its cues while it sounds: ``frames`` measured on its separated signal
    (:func:`separated_frames`) when given, else the mixture's.

    The certainty is scaled by the source's share of the analysis confidence; the labels stay generic on purpose.
    """
    analysis = dataclasses.replace(analysis, frames=frames) if frames is not None else analysis
    idx = _source_frames(analysis, source)
    if idx.size < 20:
        return GENERIC
    frames = analysis.frames
    pitch = _values(frames.pitch_hz, idx)
    centroid = _values(frames.centroid_hz, idx)
    level = _values(frames.level_dbfs, idx)
    voiced = np.isfinite(pitch)
    voiced_frac = float(voiced.mean())
    f0 = float(np.nanmedian(pitch)) if voiced.any() else float("nan")
    if voiced.sum() >= 10:
        semitones = 12 * np.log2(pitch[voiced] / f0)
        pitch_range = float(np.percentile(semitones, 90) - np.percentile(semitones, 10))
    else:
        pitch_range = 0.0
    bright = float(np.nanmedian(centroid)) if np.isfinite(centroid).any() else 0.0
    onsets = _onset_rate(level, frames.hop_s)
    facts = (f"pitched {voiced_frac:.0%} of the time"
             + (f" around {f0:.0f} Hz (range {pitch_range:.0f} semitones)" if voiced.any() else "")
             + f", spectral centroid {bright:.0f} Hz, {onsets:.1f} onsets/s")
    share = float(np.clip(source.confidence, 0.3, 1.0))
    # Hits: many onsets, (almost) never pitched, and what little pitch there is does not wander.
    if onsets >= 3.0 and voiced_frac < 0.1 and pitch_range < 10.0:
        return SoundType("drum", "percussive hits", 0.6 * share, facts)
    # A voice: syllables (several onsets a second), pitched only in part (vowels), the pitch moving a lot
    # (intonation; the tracker also jumps between a voice's harmonics).
    if 0.05 <= voiced_frac < 0.85 and onsets >= 2.5 and pitch_range >= 7.0:
        return SoundType("person", "a voice (pitched syllables with pauses)", 0.5 * share, facts)
    # A siren: pitched all the time and gliding, without the note onsets of an instrument.
    if voiced_frac >= 0.9 and onsets < 0.3 and pitch_range >= 3.0:
        return SoundType("siren", "a tone gliding up and down without breaks, like a siren", 0.5 * share, facts)
    # A steady hum or noise: no onsets and a pitch (if any) that hardly moves, like an engine's firing rate.
    if onsets < 0.3 and pitch_range < 3.0:
        return SoundType("machine", "a steady hum or noise, like an engine or machine", 0.4 * share, facts)
    if voiced_frac >= 0.5:
        return SoundType("instrument", "a pitched, musical sound", 0.4 * share, facts)
    if voiced_frac < 0.3 and onsets < 2.0:
        return SoundType("machine", "a steady noisy sound, like an engine or machine", 0.4 * share, facts)
    return SoundType("sound source", "a sound of mixed character", 0.2 * share, facts)
