"""One signal per measured source, cut out of the recording with soft time–frequency masks.

The analysis says where each source is at every moment (its track). Each time–frequency bin of the
recording is given to the sources by how near the direction its interaural cue points to lies to each
source's direction at that time: a Gaussian in degrees, :data:`MASK_WIDTH_DEG` wide. A "rest" class
takes what is left, so that a bin far from every source (reverberation, a source the analysis did not
track) is turned down rather than handed to the nearest source.

The cue → azimuth mapping per bin is the one the analysis used for the tracks
(:func:`engine.audio.hear.azimuth_from_cues`), so the masks agree with the tracks:

* pan-pot: the bin's level balance through the sine pan law;
* spaced pair: the bin's interaural phase as an ITD, through ``d·sin θ / c``. A phase only knows the ITD
  up to whole periods, so for each source the period nearest that source's own ITD is taken: low bins
  tell the sources apart, high bins (where the candidates crowd together) are shared between them;
* binaural: below :data:`PHASE_MAX_HZ` (the top of the analysis's ITD band) the same, through the KEMAR
  ITD table; above it, where a head's phase wraps but its shadow is strong, the bin's level difference
  against the head's ILD at that frequency for the source's direction (from the HRIR set the studio
  renders with), turned into degrees by the local slope of that ILD.

The masks are applied to the mid signal steered to each source (the two channels phase-aligned on
the source's own ITD before they are averaged). For pan-pot and for sources ahead that is (L+R)/2;
for a spaced pair it keeps a source at 60° from the comb filter that (L+R)/2 of two channels 1 ms
apart would cut into it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import ndimage

from engine.audio.hear import azimuth_from_cues, model_itd_ms
from engine.audio.io import load_stereo
from engine.audio.model import Analysis, RecordingKind, Source, SourceTrack
from engine.audio.spatial import CueSettings
from engine.errors import Cancelled, InputError
from engine.synth.hrir import default_hrirs

#: Width (standard deviation, degrees) of a source's share of the bins around its direction.
MASK_WIDTH_DEG = 15.0
#: A bin this far (degrees) from every source goes half to the sources, half to the rest; farther, mostly
#: to the rest. (The rest competes as if it were a source this far away.)
REST_DISTANCE_DEG = 30.0
#: Binaural bins above this frequency (Hz) use the level difference instead of the phase.
PHASE_MAX_HZ = CueSettings().itd_band_hz[1]
#: The head's ILD changes at least this fast with azimuth (dB per degree) when a level mismatch is
#: turned into degrees; where the measured ILD flattens (near ±90°) a mismatch still counts.
MIN_ILD_SLOPE_DB_PER_DEG = 0.15
#: Long recordings are separated in blocks of this length (s), so memory stays bounded.
BLOCK_S = 30.0
#: STFT window length, seconds: 1024 samples at 48 kHz, like the analysis (47 Hz bins).
WINDOW_S = 1024 / 48000
#: Each block also sees this many windows of the signal on either side, so block seams are seamless.
MARGIN_WINDOWS = 4
EPS = 1e-12


def read_recording(audio_path: str | Path, analysis: Analysis,
                   is_cancelled: Callable[[], bool] | None = None) -> tuple[np.ndarray, int]:
    """The recording at ``audio_path`` as ``(stereo, rate)`` at the analysis's sample rate, for separating.
    ``is_cancelled()`` is asked before and after reading; when it turns true the work stops with Cancelled. A
    recording that cannot be read raises :class:`~engine.errors.AudioInputError`."""
    if is_cancelled is not None and is_cancelled():
        raise Cancelled()
    stereo, rate, _source = load_stereo(audio_path, analysis.sample_rate)
    if is_cancelled is not None and is_cancelled():
        raise Cancelled()
    return stereo, rate


def separate_sources(stereo: np.ndarray, rate: int, analysis: Analysis,
                     is_cancelled: Callable[[], bool] | None = None) -> dict[int, np.ndarray]:
    """One mono float32 signal per source of ``analysis``, keyed by source id, as long as ``stereo``.

    ``stereo`` is the recording, ``(n, 2)`` (left, right) at ``rate``; ``(n,)`` or ``(n, 1)`` is a mono
    recording, as is an analysis of kind ``mono``: with no spatial cue to go by, each source then gets the
    recording scaled by its share of the power at each moment (from the tracks' levels), so the shares
    add up to the recording. A source sounds only while its track has data (see
    :func:`sounding_azimuth_deg`); elsewhere its signal is silent. Bad input raises :class:`InputError`.
    ``is_cancelled()`` is asked before each block; when it turns true the work stops with Cancelled.
    """
    samples = _checked_samples(stereo, rate)
    sources = [s for s in analysis.sources if np.isfinite(s.track.azimuth_deg).any()]
    n = samples.shape[0]
    out = {s.id: np.zeros(n, np.float32) for s in analysis.sources}
    if not sources or n == 0:
        return out
    mono = samples.shape[1] == 1 or analysis.kind is RecordingKind.MONO
    separate_block = _share_block if mono else _mask_block
    n_fft = _window_samples(rate)
    # Whole hops, so every block's frames fall on the grid they would have in one piece.
    hop = n_fft // 4
    block, margin = max(1, round(BLOCK_S * rate / hop)) * hop, MARGIN_WINDOWS * n_fft
    for start in range(0, n, block):
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()
        lo, hi = max(0, start - margin), min(n, start + block + margin)
        stop = min(n, start + block)
        parts = separate_block(samples[lo:hi], rate, lo / rate, sources, analysis.kind, analysis.spacing_m)
        for source_id, part in parts.items():
            out[source_id][start:stop] = part[start - lo : stop - lo]
    return out


def source_masks(stereo: np.ndarray, rate: int, analysis: Analysis) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The soft masks of a (short) stereo recording: ``(masks, frame_times_s, source_ids)``.

    ``masks`` is ``(sources, bins, frames)`` in [0, 1] with at most 1 summed over the sources in every bin;
    ``1 − sum`` is the rest. For inspection and tests: :func:`separate_sources` computes the same block by block.
    """
    samples = _checked_samples(stereo, rate)
    if samples.shape[1] != 2:
        raise InputError("source masks need a stereo recording (n, 2); a mono one has no spatial cues")
    sources = [s for s in analysis.sources if np.isfinite(s.track.azimuth_deg).any()]
    n_fft = _window_samples(rate)
    spec = _stft(samples.T, n_fft)
    times = _frame_times_s(spec.shape[-1], n_fft, rate)
    masks = _masks(spec[0], spec[1], _freqs_hz(n_fft, rate), times, sources, analysis.kind, rate, analysis.spacing_m)
    return masks, times, [s.id for s in sources]


def sounding_azimuth_deg(track: SourceTrack, times_s: np.ndarray) -> np.ndarray:
    """The track's azimuth at ``times_s`` (linear between its points), NaN where the source is not sounding.

    A source sounds within one track step (the median spacing of its points, 0.25 s for a single point)
    of a point with a finite azimuth: the analysis leaves points out where a source falls silent.
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    ok = np.isfinite(track.azimuth_deg) & np.isfinite(track.t)
    t, az = track.t[ok], track.azimuth_deg[ok]
    if t.size == 0:
        return np.full(times_s.shape, np.nan)
    order = np.argsort(t)
    t, az = t[order], az[order]
    step = float(np.median(np.diff(t))) if t.size > 1 else CueSettings().segment_frames * CueSettings().hop_s
    after = np.clip(np.searchsorted(t, times_s), 0, t.size - 1)
    before = np.clip(after - 1, 0, t.size - 1)
    nearest_s = np.minimum(np.abs(t[after] - times_s), np.abs(t[before] - times_s))
    return np.where(nearest_s <= step, np.interp(times_s, t, az), np.nan)


# ------------------------------------------------------------------------------------- internals


def _checked_samples(stereo: np.ndarray, rate: int) -> np.ndarray:
    """``stereo`` as float32 ``(n, channels)`` with 1 or 2 channels; InputError for anything else."""
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise InputError(f"sample rate is {rate!r}; expected a positive whole number of Hz")
    samples = np.asarray(stereo, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[1] not in (1, 2):
        raise InputError(f"recording has shape {samples.shape}; expected (samples, 2) stereo or (samples,) mono")
    if not np.all(np.isfinite(samples)):
        raise InputError("recording contains NaN or infinite samples; it cannot be separated")
    return samples


def _window_samples(rate: int) -> int:
    """STFT length: the power of two nearest :data:`WINDOW_S` at ``rate``."""
    return 1 << max(6, round(math.log2(WINDOW_S * rate)))


# A short-time Fourier transform of our own: periodic Hann windows at 75 % overlap, whose squares sum to a
# constant 1.5, so the inverse (window again, overlap-add, divide by 1.5) reconstructs exactly when the
# masks are all one. Frames are cut and summed as whole arrays; scipy's ShortTimeFFT inverts frame by
# frame in Python, which made it the slowest part of a separation.


def _hann(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def _stft(x: np.ndarray, n_fft: int) -> np.ndarray:
    """Spectra ``(..., bins, frames)`` of signals ``x`` ``(..., n)``; frame j is centred on sample (j − 1)·hop."""
    hop, n = n_fft // 4, x.shape[-1]
    n_frames = (n - 1 + 3 * hop) // hop + 1
    pad = [(0, 0)] * (x.ndim - 1) + [(3 * hop, (n_frames + 3) * hop - n - 3 * hop)]
    frames = sliding_window_view(np.pad(x, pad), n_fft, axis=-1)[..., ::hop, :]
    return np.swapaxes(sfft.rfft(frames * _hann(n_fft), axis=-1), -1, -2)


def _istft(spec: np.ndarray, n_fft: int, n: int) -> np.ndarray:
    """The ``n`` samples whose :func:`_stft` is ``spec`` ``(bins, frames)`` (least squares for masked spectra)."""
    hop, n_frames = n_fft // 4, spec.shape[-1]
    frames = sfft.irfft(spec.T, n=n_fft, axis=-1) * _hann(n_fft)
    parts = frames.reshape(n_frames, 4, hop)
    out = np.zeros((n_frames + 3) * hop, frames.dtype)
    for q in range(4):
        out[q * hop : (q + n_frames) * hop] += parts[:, q, :].reshape(-1)
    return out[3 * hop : 3 * hop + n] / 1.5


def _frame_times_s(n_frames: int, n_fft: int, rate: int) -> np.ndarray:
    return (np.arange(n_frames) - 1) * (n_fft // 4) / rate


def _freqs_hz(n_fft: int, rate: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, 1.0 / rate)


def _mask_block(samples: np.ndarray, rate: int, start_s: float, sources: list[Source],
                kind: RecordingKind, spacing_m: float) -> dict[int, np.ndarray]:
    """Separate one stereo block: masks on the mid signal steered to each source, inverse STFT."""
    n_fft, n = _window_samples(rate), samples.shape[0]
    left, right = _stft(samples.T, n_fft)  # each (bins, frames), complex64
    times = _frame_times_s(left.shape[-1], n_fft, rate) + start_s
    freqs = _freqs_hz(n_fft, rate)
    masks = _masks(left, right, freqs, times, sources, kind, rate, spacing_m)
    out = {}
    for k, src in enumerate(sources):
        mid = _steered_mid(kind, left, right, freqs, sounding_azimuth_deg(src.track, times), spacing_m)
        out[src.id] = _istft(mid * masks[k], n_fft, n).astype(np.float32)
    return out


def _steered_mid(kind: RecordingKind, left: np.ndarray, right: np.ndarray, freqs_hz: np.ndarray,
                 source_az: np.ndarray, spacing_m: float) -> np.ndarray:
    """(L+R)/2 with the channels first aligned on the source's ITD (time-delay kinds, while it sounds)."""
    if kind not in (RecordingKind.SPACED, RecordingKind.BINAURAL):
        return 0.5 * (left + right)
    itd_s = np.nan_to_num(model_itd_ms(kind, source_az, spacing_m)) * 1e-3
    # The right channel leads by the ITD: delay it by half, advance the left by half, then average.
    half = np.exp(1j * (np.pi * np.outer(freqs_hz, itd_s)).astype(np.float32))
    return 0.5 * (left * half + right * np.conj(half))


def _masks(left: np.ndarray, right: np.ndarray, freqs_hz: np.ndarray, times_s: np.ndarray,
           sources: list[Source], kind: RecordingKind, rate: int, spacing_m: float) -> np.ndarray:
    """Soft masks ``(sources, bins, frames)``: Gaussian weights on the azimuth distance, rest class included."""
    weights = np.zeros((len(sources), *left.shape), np.float32)
    for k, src in enumerate(sources):
        source_az = sounding_azimuth_deg(src.track, times_s)
        sounding = np.isfinite(source_az)
        if not sounding.any():
            continue
        distance = _distance_deg(kind, left[:, sounding], right[:, sounding], freqs_hz,
                                 source_az[sounding], rate, spacing_m)
        weights[k][:, sounding] = np.exp(-0.5 * (distance / MASK_WIDTH_DEG) ** 2)
    rest = math.exp(-0.5 * (REST_DISTANCE_DEG / MASK_WIDTH_DEG) ** 2)
    return weights / np.maximum(weights.sum(axis=0), rest)


def _distance_deg(kind: RecordingKind, left: np.ndarray, right: np.ndarray, freqs_hz: np.ndarray,
                  source_az: np.ndarray, rate: int, spacing_m: float) -> np.ndarray:
    """|azimuth a bin's cue points to − the source's azimuth| (degrees), bins x frames."""
    power_l = left.real**2 + left.imag**2
    power_r = right.real**2 + right.imag**2
    ild_db = 10 * np.log10((power_r + EPS) / (power_l + EPS))
    if kind is RecordingKind.PANPOT:
        # The pan-pot model reads the level balance only (the ITD argument is not used).
        bin_az = azimuth_from_cues(kind, ild_db, ild_db, spacing_m)
        return np.abs(bin_az - source_az[None, :])
    distance = _phase_distance_deg(kind, left * np.conj(right), freqs_hz, source_az, spacing_m)
    if kind is RecordingKind.BINAURAL:
        high = freqs_hz > PHASE_MAX_HZ
        distance[high] = _level_distance_deg(ild_db[high], rate, np.flatnonzero(high), source_az)
    return distance


def _phase_distance_deg(kind: RecordingKind, cross: np.ndarray, freqs_hz: np.ndarray,
                        source_az: np.ndarray, spacing_m: float) -> np.ndarray:
    """Azimuth distance from the interaural phase, taking the period nearest the source's own ITD.

    ``cross = L·conj(R)`` has phase ``−ω·ITD`` for a source whose sound reaches the right first by ITD.
    """
    omega = (2 * np.pi * np.maximum(freqs_hz, freqs_hz[1] / 2))[:, None].astype(np.float32)  # DC: half a bin up
    source_itd_s = (model_itd_ms(kind, source_az, spacing_m) * 1e-3).astype(np.float32)[None, :]
    residual = np.angle(cross) + omega * source_itd_s
    residual = (residual + np.pi) % (2 * np.pi) - np.pi  # wrapped to [−π, π)
    bin_itd_ms = (source_itd_s - residual / omega) * 1e3
    bin_az = azimuth_from_cues(kind, bin_itd_ms, bin_itd_ms, spacing_m)
    return np.abs(bin_az - source_az[None, :])


def _level_distance_deg(ild_db: np.ndarray, rate: int, bins: np.ndarray, source_az: np.ndarray) -> np.ndarray:
    """Azimuth distance from the level difference: the mismatch with the head's ILD for the source's
    direction at the bin's frequency, over the local slope of that ILD in azimuth."""
    expected, slope = _head_ild_table(rate, _window_samples(rate))
    row = np.clip(np.rint(source_az + 90.0).astype(int), 0, expected.shape[0] - 1)
    mismatch = np.abs(ild_db - expected[row][:, bins].T)
    return mismatch / np.maximum(np.abs(slope[row][:, bins].T), MIN_ILD_SLOPE_DB_PER_DEG)


@functools.lru_cache(maxsize=4)
def _head_ild_table(rate: int, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """The head's ILD (dB, R−L) and its slope (dB/°) per azimuth −90..90 (1° rows) and STFT bin.

    From the HRIR set the studio renders binaural sound with, smoothed over a third of an octave so that
    pinna notches (which a real head places elsewhere) do not decide.
    """
    hrirs = default_hrirs(rate)
    power = np.abs(np.fft.rfft(hrirs.ir.astype(np.float64), n_fft, axis=-1)) ** 2  # (az, 2, bins)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    centre = np.maximum(freqs, freqs[1])
    lo, hi = centre * 2 ** (-1 / 6), centre * 2 ** (1 / 6)
    band = ((freqs[None, :] >= lo[:, None]) & (freqs[None, :] <= hi[:, None])).astype(np.float64)
    smooth = power @ band.T / band.sum(axis=1)
    ild = 10 * np.log10((smooth[:, 1] + EPS) / (smooth[:, 0] + EPS))  # (measured az, bins)
    grid = np.arange(-90.0, 91.0)
    table = np.stack([np.interp(grid, hrirs.azimuth_deg, ild[:, b]) for b in range(ild.shape[1])], axis=1)
    table = ndimage.gaussian_filter1d(table, 2.0, axis=0, mode="nearest")
    return table.astype(np.float32), np.gradient(table, axis=0).astype(np.float32)


def _share_block(samples: np.ndarray, rate: int, start_s: float, sources: list[Source],
                 kind: RecordingKind, spacing_m: float) -> dict[int, np.ndarray]:
    """A mono block: each source gets the signal scaled by its share of the tracks' power at each moment."""
    mono = samples.mean(axis=1)
    times = start_s + np.arange(samples.shape[0]) / rate
    hop_s = CueSettings().hop_s
    control = np.arange(start_s, times[-1] + hop_s, hop_s)
    power = np.zeros((len(sources), control.size))
    for k, src in enumerate(sources):
        sounding = np.isfinite(sounding_azimuth_deg(src.track, control))
        ok = np.isfinite(src.track.level_db)
        level_db = np.interp(control, src.track.t[ok], src.track.level_db[ok]) if ok.any() else np.zeros(control.size)
        power[k] = np.where(sounding, 10 ** (level_db / 10), 0.0)
    share = power / np.maximum(power.sum(axis=0), EPS)
    return {src.id: (mono * np.interp(times, control, share[k])).astype(np.float32) for k, src in enumerate(sources)}
