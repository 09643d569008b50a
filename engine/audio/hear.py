"""The "Hear" stage: a recording in, cues per frame and one track per sounding source out.

``analyze(path)`` streams the file through :class:`~engine.audio.spatial.CueMeter`, decides what kind
of stereo it is (binaural, spaced pair, pan-pot), maps cues to azimuth through that kind's model,
finds the sources in the per-segment evidence and tracks them over time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage, stats
from scipy.signal import find_peaks

from engine.audio.io import AudioSource, open_audio, resampled_blocks
from engine.audio.model import (
    DEFAULT_SPACING_M,
    Analysis,
    CueFrames,
    Motion,
    RecordingKind,
    Side,
    Source,
    SourceTrack,
    side_for_azimuth,
)
from engine.audio.spatial import CueMeter, CueSettings, Segments
from engine.errors import AudioInputError, Cancelled

SPEED_OF_SOUND_M_S = 343.0
AZIMUTH_GRID_DEG = np.arange(-90.0, 90.5, 1.0)
TIME_SMOOTH = 3
PEAK_HEIGHT = 0.1
MIN_SHARE = 0.15
MIN_COVER = 0.2
PROMINENCE = 0.1
FAINT_HEIGHT = 0.08
#: Faint candidates (see faint_candidates): at least this many segments (0.75 s), most points within this many
#: degrees of their median, and this far from every reported source.
FAINT_MIN_SEGMENTS = 3
FAINT_SPREAD_DEG = 15.0
FAINT_APART_DEG = 30.0
#: A moving track that stops short runs on with another track's points (see _run_on) when it moves at least this
#: fast at its end (degrees per 0.25 s segment, 8°/s) and they start at most this far ahead of it.
RUN_MIN_SPEED_DEG = 2.0
RUN_MAX_JUMP_DEG = 45.0
#: A track stands still when 8 in 10 of its points lie within this many degrees of their median.
STEADY_SPREAD_DEG = 10.0
#: A steady faint source (see _steady_faint_sources) stands at least this far from every point any track passes.
STEADY_APART_DEG = 40.0
#: A pan-pot source found in the first arrivals (see _first_arrival_sources) stands this much above their floor.
FIRST_SOURCE_HEIGHT = 0.1
#: A pan-pot track holding less than this share of the tracks' first arrivals is a reflection (see
#: drop_reflection_tracks).
REFLECTION_MAX_FIRST_SHARE = 0.05
#: ... and sounds in at least this share of its segments beside a track that has first arrivals (tracks have gaps).
REFLECTION_MIN_OVERLAP = 0.65
#: A head's shadow (|ILD| above 2.5 kHz minus |ILD| up to 500 Hz, dB) beyond this means binaural. Over 480 make-bench
#: scenes a spaced pair stays under it (95 % under 0.1 dB dry, 0.5 dB in a room; 1.2 dB on first arrivals), while a
#: room washes a head's shadow down to a median 1.9 dB over all sounds (3.2 dB on first arrivals).
HEAD_SHADOW_DB = 1.5
#: Sound bends around a head, and the longer waves take the longer way: a head's time difference below ~700 Hz is
#: about 1.5 times its time difference at 1.5-3 kHz (a sphere's 3a·sinθ/c against 2a·sinθ/c), where a spaced pair's
#: is the same delay at every frequency. Where, segment by segment, the low band's GCC lag is this many times the high
#: band's (the median over the segments where both peak clearly, ITD_BANDS_MIN_PEAK, on the same side, the high one
#: at least ITD_BANDS_MIN_LAG_MS off the centre), it is a head, whatever lag a room's reflections add to the GCC of
#: all sounds. Over the 672 scenes of bench_hear's seven make-bench sets, where detect_kind comes to this test the
#: ratio's median is 1.21-1.25 for heads and 0.95-1.00 for pairs, dry or in a room; 6 heads in rooms reach 1.5
#: (one of them had been read as a spaced pair) and no pair; nor, over the 192 scenes of bench_check's sets, any
#: pair, while one more head in a room (seed 12, scene 009) is told by it.
HEAD_ITD_BAND_RATIO = 1.5
ITD_LOW_BAND_HZ = (250.0, 700.0)
ITD_HIGH_BAND_HZ = (1500.0, 3000.0)
ITD_BANDS_MIN_PEAK = 0.4
ITD_BANDS_MIN_LAG_MS = 0.15
#: Fewer such segments than this tell nothing: a tone's GCC sidelobes in a room make a few of them by chance.
ITD_BANDS_MIN_SEGMENTS = 6
#: A segment whose low band's lag is more than this many times its high band's holds two sounds, one in each band
#: (or a tone's GCC sidelobe in one): no head stretches its time difference that much, and it is left out.
ITD_BAND_RATIO_MAX = 2.0
#: The part of a track's evidence share in its confidence that comes from first arrivals (see
#: first_arrival_shares); the rest from all its evidence.
FIRST_ARRIVAL_WEIGHT = 0.5
# High-band ILD per ms of ITD above which the pair is a head. A spaced pair's stays under ~1.5 dB/ms (its ILD is
# only the 1/r difference); a head in a reverberant room, whose diffuse field fills in the shadow, still shows
# 3-5 dB/ms, and 27 dB/ms dry.
ILD_ITD_SLOPE_DB_PER_MS = 2.5
#: Pan-pot: every direct sound at zero lag (within a GCC lag step or two, 0.1 ms), and the in-phase bins' level
#: balance off the centre by more than a centre source's spread (12 degrees on the pan law).
PANPOT_MAX_LAG_MS = 0.1
PANPOT_MIN_BALANCE_DEG = 12.0
#: ... and at least half the loud segments' GCC peaks at zero lag (a source crossing in front of a head or a pair
#: sums to a zero-lag peak over the file, but each segment shows its time difference).
PANPOT_MIN_ZERO_SHARE = 0.5
#: See _steady_first_arrival_lag_ms: the share of segments whose first arrivals must peak at a lag beyond a head's.
FIRST_LAG_SEGMENT_SHARE = 0.2
#: A source ahead of a head or a spaced pair keeps its in-phase bins' balance at the centre; a panned one
#: leaves the centre with under half its peak (the reverberant tail's random-phase bins barely vote there).
PANPOT_MAX_CENTRE_SHARE = 0.5
#: In a room, the direct sound of a pan-pot mix still reaches both channels at once, and first: where most of the
#: first arrivals' GCC weight peaks at zero lag and their level balance peaks this far off the centre (leaving it
#: under PANPOT_MAX_CENTRE_SHARE), it is a pan-pot mix, whatever the reflections' phases add to the GCC of all
#: sounds. A head or a spaced pair puts a source that far to the side at a lag (over 768 make-bench scenes, no
#: binaural or spaced recording had more than 0.67 of its first arrivals at zero lag with their balance 30 degrees
#: off; 51 reverberant pan-pot recordings did).
PANPOT_FIRST_ZERO_SHARE = 0.6
PANPOT_FIRST_BALANCE_DEG = 30.0
#: ... or where nearly all of them peak at zero lag while a source far to the side (beyond PANPOT_SIDE_DEG) holds a
#: level-balance peak of at least PANPOT_SIDE_PEAK of the top: a louder one at the centre keeps the top there. A
#: head or a pair puts such a source's first arrivals at a lag; a room's random reflections put balance peaks
#: nearer the centre (at most 45 degrees over the 768 scenes).
PANPOT_FIRST_ALL_ZERO_SHARE = 0.95
PANPOT_SIDE_DEG = 50.0
PANPOT_SIDE_PEAK = 0.1
#: ... or where most of them (PANPOT_FIRST_ZERO_SHARE) peak at zero lag while a source beyond PANPOT_SIDE_DEG holds
#: a level-balance peak of at least half the top: two sources, one at the centre, in a room whose reflections take
#: a third of the first arrivals off zero lag. Over 768 scenes this caught 3 reverberant pan-pot mixes no other
#: test did, and one binaural recording (of 256), already read as a spaced pair.
PANPOT_STRONG_SIDE_PEAK = 0.5
#: Ghost tracks (see drop_ghost_tracks): only offsets this large are tested (near tracks are merged
#: by the tracker anyway); a segment is explained when the track stands at most GHOST_MARGIN above
#: the sidelobe (as a fraction of the main track's evidence); a ghost is explained in most segments.
GHOST_MIN_OFFSET_MS = 0.25
#: ... and only segments where the track stands at least this high beside the stronger track (a lower one is no peak).
GHOST_MIN_RATIO = 0.2
GHOST_MARGIN = 0.3
GHOST_EXPLAINED = 0.7
#: ... or when at most this share of the track's evidence is left once the stronger track's bins are taken out
#: (see _left_after).
GHOST_RESIDUAL = 0.1
#: A track is also a ghost of two or more others together (a violin's and a siren's sidelobes adding up on the far
#: side of a spaced pair) when at most this share of its evidence is left once every bin is given to the track whose
#: phase it fits best, in GHOST_EXPLAINED of the segments it shares with them. A genuine third sound keeps about half
#: of its evidence (its bins fit no other track); over 480 scenes 0.2 caught one such ghost fewer, 0.4 the same.
GHOST_JOINT_RESIDUAL = 0.3
#: Common fate (see drop_echo_tracks): a weaker track whose share of each segment's evidence correlates with a
#: stronger track's above this is that track's echo, not a source of its own.
COMMON_FATE_CORR = -0.1
#: ... judged only where both shares vary by more than this fraction of their mean (steady sounds' shares only
#: jitter, by up to 10-11 % for a violin and an engine sounding throughout, and the correlation of jitter means
#: nothing; over 480 make-bench scenes no echo the test caught varied by less than 15 %).
COMMON_FATE_MIN_CV = 0.15
#: The largest sample magnitude analysed (+120 dBFS). Float files may hold samples beyond ±1.0, e.g. integer
#: samples stored unscaled (±32768, +90 dBFS), and the cues do not depend on the level; but far beyond that the
#: meter's float32 spectra overflow (powers of powers reach 1e38), so such a file is refused as not audio.
MAX_SAMPLE_ABS = 1e6


#: A spaced pair's lag search reaches this much beyond its largest ITD (d / c), so a source at 90° is a peak, not
#: the edge of the range.
SPACED_LAG_MARGIN = 1.07
#: Nearness: a source coming nearer gets louder, and in a room also clearer. The room's reverberation holds its level
#: whatever the source's distance, so a source receding from 2 to 12 m there loses 2-5 dB of level, not the 15 dB it
#: loses outdoors; but its direct sound, which alone is coherent between the channels, falls by the full 15 dB
#: against the diffuse field, and with it the peak the wide-band GCC-PHAT makes at the source's lag (each frame
#: weighs in with its coherence). That peak's trend is the clarity change (dB); nearness adds CLARITY_WEIGHT of it
#: to the level change, scaled so that a dry recording's nearness equals its level change (there the peak follows
#: the frames' weight, the square root of their power: half the level's dB). Over 448 make-bench single sources
#: (seven sets of 64) the motion came out right for 403 against 389 by the level alone (weights 0.5-1.0 all did
#: better); the cost: of 315 stationary sources in two-source scenes, 16 against 9 were called approaching or
#: receding, where a louder neighbour takes the bins of a quieter one and so its clarity too.
CLARITY_WEIGHT = 0.75
#: The GCC peak of a track is read within this much (ms) of the lag the recording kind's model gives its azimuth.
CLARITY_LAG_WINDOW_MS = 0.05
#: A head's shadow: a source to one side of a dummy head makes that ear louder above SHADOW_BAND_HZ by 5-20 dB, at
#: least while it is the loudest sound in some band. For a binaural track SHADOW_MIN_AZIMUTH_DEG or more to one side,
#: the analysis reports the share of its segments with a band there louder on its side by SHADOW_MIN_DB
#: (Source.shadow_share): near none, the track is more likely another source's GCC sidelobe or reflection across the
#: head (the check weighs that, see engine.check.consistency.SHADOW_WEIGHT_DEG).
SHADOW_BAND_HZ = 2000.0
SHADOW_MIN_DB = 3.0
SHADOW_MIN_AZIMUTH_DEG = 25.0
#: Which of the cue meter's ILD bands (Segments.band_ild_db's columns) lie above SHADOW_BAND_HZ.
_SHADOW_BANDS = np.asarray(CueSettings().ild_band_centres_hz, dtype=float) >= SHADOW_BAND_HZ


@dataclass
class AnalysisSettings:
    """What the analysis does. ``kind`` forces a recording kind instead of detecting it."""

    #: Internal rate: other rates are resampled to it (scipy's polyphase resampler). 48 kHz is what
    #: cameras and most recorders write, so the common case needs no resampling at all; the STFT keeps
    #: only bins up to 12 kHz (the head shadow lives between 2 and 10 kHz, ITD in 200-1500 Hz).
    rate: int = 48000
    #: 1024 samples: a 21 ms window, 47 Hz bins.
    n_fft: int = 1024
    hop_s: float = 0.01
    spacing_m: float = DEFAULT_SPACING_M  # microphone spacing assumed for spaced pairs
    kind: RecordingKind | None = None
    block_s: float = 20.0
    #: A source moving at least this far (degrees) is moving_left / moving_right.
    sweep_deg: float = 20.0
    #: Coming nearer or going away by at least this much over the clip is approaching / receding: dB of level as a
    #: dry recording shows it (in a room the level changes less and the clarity more; see CLARITY_WEIGHT).
    level_change_db: float = 6.0
    silence_dbfs: float = -90.0

    def cue_settings(self) -> CueSettings:
        # The GCC searches lags up to a 40 cm pair's; a wider pair's sources at the sides lie further out.
        widest_ms = SPACED_LAG_MARGIN * self.spacing_m / SPEED_OF_SOUND_M_S * 1e3
        return CueSettings(rate=self.rate, n_fft=self.n_fft, hop_s=self.hop_s,
                           max_itd_ms=max(CueSettings.max_itd_ms, widest_ms))


# ------------------------------------------------------------------------------- azimuth models


#: ITD a real head gives in the 200-1500 Hz GCC-PHAT band, from the MIT KEMAR HRIRs (measured with
#: this module's own meter). Woodworth's spherical-head formula, (a/c)(θ + sin θ) with a = 8.75 cm,
#: holds for high frequencies; in this low band a real head's ITD is 10-25% larger off the median
#: plane, so the measured table is used instead.
KEMAR_AZIMUTH_DEG = np.array([0.0, 10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 90.0])
KEMAR_ITD_MS = np.array([0.0, 0.096, 0.191, 0.287, 0.447, 0.606, 0.683, 0.705])


def head_itd_ms(azimuth_deg: np.ndarray) -> np.ndarray:
    """ITD (ms) of a dummy head at ``azimuth_deg``: the KEMAR table, symmetric about ahead."""
    az = np.clip(np.asarray(azimuth_deg, dtype=float), -90, 90)
    return np.sign(az) * np.interp(np.abs(az), KEMAR_AZIMUTH_DEG, KEMAR_ITD_MS)


def spaced_itd_ms(azimuth_deg: np.ndarray, spacing_m: float) -> np.ndarray:
    """ITD (ms) of a spaced omni pair, d·sin(θ)/c."""
    return spacing_m * np.sin(np.radians(azimuth_deg)) / SPEED_OF_SOUND_M_S * 1e3


def model_itd_ms(kind: RecordingKind, azimuth_deg: np.ndarray, spacing_m: float) -> np.ndarray:
    """The time difference (ms) a source at ``azimuth_deg`` makes in a recording of ``kind``: a spaced pair's
    d·sin(θ)/c, a head's (also taken where the kind is unknown), none for a pan-pot mix or mono."""
    if kind is RecordingKind.SPACED:
        return spaced_itd_ms(azimuth_deg, spacing_m)
    if kind in (RecordingKind.PANPOT, RecordingKind.MONO):
        return np.zeros_like(np.asarray(azimuth_deg, dtype=float))
    return head_itd_ms(azimuth_deg)


def panpot_azimuth_deg(balance: np.ndarray) -> np.ndarray:
    """Azimuth (deg) of a constant-power sine-law pan whose power balance P_R / (P_L + P_R) is ``balance``.

    The law pans by φ = (azimuth + 90) / 180 · π/2 with gains cos φ, sin φ, so balance = sin² φ.
    """
    return np.degrees(np.arcsin(np.sqrt(np.clip(balance, 0.0, 1.0)))) * 2 - 90.0


def _balance_bin_azimuth_deg(n_bins: int) -> np.ndarray:
    """Pan-law azimuth of the centre of each bin of the level-balance histogram."""
    return panpot_azimuth_deg((np.arange(n_bins) + 0.5) / n_bins)


def azimuth_from_cues(kind: RecordingKind, itd_ms: np.ndarray, ild_db: np.ndarray, spacing_m: float) -> np.ndarray:
    """Azimuth (deg) per frame from ITD (binaural, spaced) or ILD (pan-pot) through the kind's model."""
    if kind is RecordingKind.MONO:
        return np.where(np.isfinite(itd_ms), 0.0, np.nan)
    if kind is RecordingKind.PANPOT:
        ratio = 10 ** (np.clip(ild_db, -60, 60) / 10)
        return panpot_azimuth_deg(ratio / (1 + ratio))
    grid = AZIMUTH_GRID_DEG
    return np.interp(itd_ms, model_itd_ms(kind, grid, spacing_m), grid)


def evidence_on_azimuth(seg: Segments, kind: RecordingKind, spacing_m: float) -> np.ndarray:
    """Source evidence per segment on the 1° azimuth grid (segments x 181)."""
    grid = AZIMUTH_GRID_DEG
    if kind is RecordingKind.PANPOT:
        az_of_bin = _balance_bin_azimuth_deg(seg.balance_hist.shape[1])
        target = _grid_columns(az_of_bin)
        out = np.zeros((seg.balance_hist.shape[0], len(grid)))
        np.add.at(out.T, target, seg.balance_hist.T)
        return out
    model = model_itd_ms(kind, grid, spacing_m)
    # A head's ITD depends on frequency, so binaural evidence keeps to the ITD band its model was
    # measured in; a spaced pair is a pure delay at every frequency, so it uses the wide band.
    gcc = seg.gcc_wide if kind is RecordingKind.SPACED else seg.gcc
    out = np.empty((gcc.shape[0], len(grid)))
    for j in range(gcc.shape[0]):
        out[j] = np.interp(model, seg.lag_ms, gcc[j])
    return out


# ------------------------------------------------------------------------------ kind detection


def detect_kind(frames: dict[str, np.ndarray], seg: Segments) -> tuple[RecordingKind, float, dict[str, float]]:
    """Binaural, spaced pair or pan-pot, with a confidence 0..1 and the facts it rests on.

    The GCC-PHAT summed over the whole file shows where the direct sounds' lags are even in a
    reverberant room (the diffuse tail only adds a floor). Pan-pot: every strong peak sits at zero lag
    while the per-bin level balance is spread away from the centre. Spaced pair: lags beyond what a
    head produces (> 0.85 ms), or ITD with hardly any high-band ILD. Binaural: a time difference half as large
    again at low frequencies as at high ones (sound bending round the head), whatever lags a room adds; or high-band
    ILD growing steeply with ITD (the head shadow, tens of dB per ms), in the loud segments or, in a room, in the
    first arrivals.
    """
    facts: dict[str, float] = {}
    total_gcc = seg.gcc.sum(axis=0) if seg.gcc.size else np.zeros(1)
    top = float(total_gcc.max()) if total_gcc.size else 0.0
    if top <= 0:
        return RecordingKind.BINAURAL, 0.0, facts
    # Strong peaks only (half the highest), never at the lag range's edges: a reverberant tail
    # leaves weaker random bumps anywhere.
    peaks, _props = find_peaks(total_gcc, height=0.5 * top, prominence=0.2 * top)
    if peaks.size == 0:
        peaks = np.array([int(np.argmax(total_gcc))])
    peak_lags = np.abs(seg.lag_ms[peaks])
    # Where the in-phase bins' level balance peaks, read through the pan law (pan-pot sources).
    balance = ndimage.gaussian_filter1d(seg.balance_hist.sum(axis=0), 2.0)
    balance_az = _balance_bin_azimuth_deg(balance.size)
    # A panned source beside a louder one at the centre holds a fifth of the in-phase votes or less.
    bal_peaks, _ = find_peaks(np.r_[0.0, balance, 0.0], height=0.15 * balance.max())
    off_centre = float(np.max(np.abs(balance_az[np.clip(bal_peaks - 1, 0, balance.size - 1)]), initial=0.0))
    facts.update(max_peak_lag_ms=float(peak_lags.max()), balance_peak_deg=off_centre)
    # Per loud segment (the louder half of those with any evidence: a file may be mostly silence): a pan-pot mix has
    # no time difference at any moment, while a source moving across the front of a head or a pair sums to a peak
    # at zero lag over the whole file, yet shows its lag in each segment.
    level = 10 * np.log10(seg.power + 1e-12)
    heard = seg.gcc.max(axis=1) > 0
    loud_heard = heard & (level >= np.percentile(level[heard], 50)) if heard.any() else heard
    lags = np.abs(seg.lag_ms[np.argmax(seg.gcc[loud_heard], axis=1)])
    zero_share = float(np.mean(lags <= PANPOT_MAX_LAG_MS)) if lags.size else 1.0
    loud = level >= np.percentile(level, 50)
    facts["zero_lag_share"] = zero_share
    first_panned = _first_arrivals_panned(seg)
    if first_panned is not None:
        zero, top_deg, centre, side = first_panned
        facts.update(first_zero_lag_share=zero, first_balance_top_deg=top_deg, first_side_peak_share=side)
        if ((zero >= PANPOT_FIRST_ZERO_SHARE
             and ((abs(top_deg) >= PANPOT_FIRST_BALANCE_DEG and centre < PANPOT_MAX_CENTRE_SHARE)
                  or side >= PANPOT_STRONG_SIDE_PEAK))
                or (zero >= PANPOT_FIRST_ALL_ZERO_SHARE and side >= PANPOT_SIDE_PEAK)):
            return RecordingKind.PANPOT, 0.5, facts
    if peak_lags.max() <= PANPOT_MAX_LAG_MS:
        if off_centre > PANPOT_MIN_BALANCE_DEG and zero_share >= PANPOT_MIN_ZERO_SHARE:
            return RecordingKind.PANPOT, float(np.clip(0.5 + off_centre / 60.0, 0.5, 1.0)), facts
        # The strong sources are ahead; a weaker one far to the side of a spaced pair still leaves a
        # clear peak at a lag no head produces.
        weak, _ = find_peaks(total_gcc, height=0.12 * top, prominence=0.03 * top)
        widest = max(float(np.max(np.abs(seg.lag_ms[weak]), initial=0.0)), _steady_first_arrival_lag_ms(seg))
        facts["widest_weak_lag_ms"] = widest
        if widest > 0.85:
            return RecordingKind.SPACED, 0.5, facts
        return RecordingKind.BINAURAL, 0.2, facts  # everything ahead: every model gives ~0°
    band_ratio = _itd_band_ratio(seg)
    if band_ratio is not None:
        facts["itd_band_ratio"] = band_ratio
        if band_ratio >= HEAD_ITD_BAND_RATIO:
            return RecordingKind.BINAURAL, 0.5, facts
    if peak_lags.max() > 0.85:
        return RecordingKind.SPACED, float(np.clip(0.6 + (peak_lags.max() - 0.85) * 2, 0.6, 1.0)), facts
    # Head shadow: a head's ILD grows with frequency (a few dB at 300 Hz, 10-20 dB above 3 kHz for a
    # source to the side); a spaced pair's stays small and flat. Per segment, |ILD| above 2.5 kHz
    # minus |ILD| up to 500 Hz, median over the louder half.
    centres = np.asarray(CueSettings().ild_band_centres_hz, dtype=float)
    band = np.abs(seg.band_ild_db[loud])
    shadow = float(np.median(band[:, centres >= 2500].mean(axis=1) - band[:, centres <= 500].mean(axis=1)))
    facts["head_shadow_db"] = shadow
    if shadow > HEAD_SHADOW_DB:
        return RecordingKind.BINAURAL, float(np.clip(0.5 + (shadow - HEAD_SHADOW_DB) / 10.0, 0.5, 1.0)), facts
    # In a room the diffuse field evens out the levels of the two ears, and with them the shadow; the direct
    # sound, in the first arrivals, still carries it.
    shadow_first = _first_arrival_head_shadow_db(seg, centres)
    if shadow_first is not None:
        facts["head_shadow_first_db"] = shadow_first
        if shadow_first > HEAD_SHADOW_DB:
            confidence = float(np.clip(0.5 + (shadow_first - HEAD_SHADOW_DB) / 10.0, 0.5, 1.0))
            return RecordingKind.BINAURAL, confidence, facts
    itd, ild_high, coh = frames["itd_ms"], frames["ild_high_db"], frames["coherence"]
    ok = np.isfinite(itd) & np.isfinite(ild_high) & np.isfinite(coh)
    w = coh[ok] ** 2
    slope = float(np.sum(w * ild_high[ok] * itd[ok]) / max(np.sum(w * itd[ok] ** 2), 1e-9))
    facts["ild_itd_slope_db_per_ms"] = slope
    if slope > ILD_ITD_SLOPE_DB_PER_MS:
        return RecordingKind.BINAURAL, float(np.clip(0.5 + (slope - ILD_ITD_SLOPE_DB_PER_MS) / 30.0, 0.5, 1.0)), facts
    # Neither a head shadow nor ILD growing with ITD. If the strongest lag is still zero while the in-phase
    # bins' level balance peaks off the centre and leaves the centre nearly empty, the off-zero peaks are the
    # room's, not a second microphone's: a steady tone (siren, engine) beyond the critical distance has an
    # interaural phase set by its reflections (4-30 ms late, folded into the short lag window modulo its
    # period), so a reverberant pan-pot mix shows lag peaks as strong as a spaced pair's direct delay. A
    # spaced pair or a head whose strongest source is ahead (zero lag) has that source's in-phase bins
    # balanced at the centre.
    main_lag = float(abs(seg.lag_ms[int(np.argmax(total_gcc))]))
    balance_top_deg = float(balance_az[int(np.argmax(balance))])
    centre_share = float(np.interp(0.0, balance_az, balance) / max(float(balance.max()), 1e-12))
    facts.update(main_peak_lag_ms=main_lag, balance_top_deg=balance_top_deg, balance_centre_share=centre_share)
    if (main_lag <= PANPOT_MAX_LAG_MS and abs(balance_top_deg) > PANPOT_MIN_BALANCE_DEG
            and centre_share < PANPOT_MAX_CENTRE_SHARE):
        return RecordingKind.PANPOT, 0.5, facts
    return RecordingKind.SPACED, float(np.clip(0.5 + (ILD_ITD_SLOPE_DB_PER_MS - slope) / 5.0, 0.5, 1.0)), facts


def _itd_band_ratio(seg: Segments) -> float | None:
    """How many times the time difference below 700 Hz is the one at 1.5-3 kHz (see HEAD_ITD_BAND_RATIO): the
    median over the segments where both bands' GCC-PHAT peaks stand clearly on the same side; None where fewer than
    ITD_BANDS_MIN_SEGMENTS segments show it (a source ahead, or no sound in a band)."""
    if seg.wide_bin_x is None or seg.wide_freqs_hz is None or not len(seg.t):
        return None
    lags_s = seg.lag_ms / 1e3
    peaks = []
    for low_hz, high_hz in (ITD_LOW_BAND_HZ, ITD_HIGH_BAND_HZ):
        band = (seg.wide_freqs_hz >= low_hz) & (seg.wide_freqs_hz <= high_hz)
        phasors = seg.wide_bin_x[:, band]
        gcc = np.real(phasors @ np.exp(2j * np.pi * np.outer(seg.wide_freqs_hz[band], lags_s)))
        gcc /= np.abs(phasors).sum(axis=1, keepdims=True) + 1e-12
        peaks.append((seg.lag_ms[np.argmax(gcc, axis=1)], gcc.max(axis=1)))
    (low_lag, low_peak), (high_lag, high_peak) = peaks
    ratio = np.abs(low_lag) / np.maximum(np.abs(high_lag), 1e-9)
    clear = ((np.minimum(low_peak, high_peak) >= ITD_BANDS_MIN_PEAK) & (np.abs(high_lag) >= ITD_BANDS_MIN_LAG_MS)
             & (np.sign(low_lag) == np.sign(high_lag)) & (ratio <= ITD_BAND_RATIO_MAX))
    if clear.sum() < ITD_BANDS_MIN_SEGMENTS:
        return None
    return float(np.median(ratio[clear]))


def _first_arrival_peaks(seg: Segments) -> tuple[np.ndarray, np.ndarray] | None:
    """For the segments with first arrivals: the height of their first arrivals' GCC peak and its lag (ms); None
    without first arrivals in at least four segments."""
    if seg.gcc_first is None:
        return None
    strength = seg.gcc_first.max(axis=1)
    has = strength > 0
    if has.sum() < 4:
        return None
    return strength[has], seg.lag_ms[np.argmax(seg.gcc_first[has], axis=1)]


def _first_arrivals_panned(seg: Segments) -> tuple[float, float, float, float] | None:
    """For the first arrivals: the share of their GCC weight in segments whose GCC peaks at zero lag, where their
    in-phase bins' level balance peaks (pan-law degrees), the share of that peak left at the centre, and the highest
    balance peak beyond PANPOT_SIDE_DEG as a share of the top; None without first arrivals."""
    first = _first_arrival_peaks(seg)
    if first is None or seg.balance_first is None:
        return None
    strength, lags = first
    zero_share = float(np.sum(strength * (np.abs(lags) <= PANPOT_MAX_LAG_MS)) / np.sum(strength))
    balance = ndimage.gaussian_filter1d(seg.balance_first.sum(axis=0), 2.0)
    if balance.max() <= 0:
        return None
    balance_az = _balance_bin_azimuth_deg(balance.size)
    centre_share = float(np.interp(0.0, balance_az, balance) / balance.max())
    peaks, _ = find_peaks(np.r_[0.0, balance, 0.0])
    side = [balance[k - 1] for k in peaks if abs(balance_az[k - 1]) >= PANPOT_SIDE_DEG]
    side_share = float(max(side, default=0.0) / balance.max())
    return zero_share, float(balance_az[int(np.argmax(balance))]), centre_share, side_share


def _steady_first_arrival_lag_ms(seg: Segments) -> float:
    """The widest |lag| beyond a head's reach (0.85 ms) where the first arrivals' GCC peaks, summed over the file
    (at least 12 % of its top), and where at least FIRST_LAG_SEGMENT_SHARE of the segments with first arrivals peak
    too (within 0.1 ms); 0 when none. A drum far to the side of a spaced pair, beside a louder steady tone ahead,
    hardly shows in the GCC of all sounds, but its hits start with its own time difference, segment after segment;
    a pitched source's sidelobes, which also reach past 0.85 ms, wander with its pitch and its motion."""
    first = _first_arrival_peaks(seg)
    if first is None:
        return 0.0
    _strength, segment_lags = first
    total = seg.gcc_first.sum(axis=0)
    peaks, _ = find_peaks(total, height=0.12 * total.max(), prominence=0.03 * total.max())
    steady = [abs(float(seg.lag_ms[k])) for k in peaks if abs(seg.lag_ms[k]) > 0.85
              and np.mean(np.abs(segment_lags - seg.lag_ms[k]) <= 0.1) >= FIRST_LAG_SEGMENT_SHARE]
    return max(steady, default=0.0)


def _first_arrival_head_shadow_db(seg: Segments, centres_hz: np.ndarray) -> float | None:
    """|ILD| above 2.5 kHz minus |ILD| up to 500 Hz of the first arrivals, averaged over the segments weighted by
    their first-arrival power; None with fewer than three segments that have both.

    Only bands within 30 dB of the segment's strongest count: where a sound has no energy, the first arrivals are
    the noise floor's chance jumps, whose level difference says nothing about a head.
    """
    if seg.band_l_first is None or seg.band_r_first is None:
        return None
    band_power = seg.band_l_first + seg.band_r_first
    heard = band_power > 1e-3 * band_power.max(axis=1, keepdims=True)
    ild = np.abs(10 * np.log10((seg.band_r_first + 1e-12) / (seg.band_l_first + 1e-12)))
    high, low = centres_hz >= 2500, centres_hz <= 500

    def mean_where(mask: np.ndarray) -> np.ndarray:
        weight = band_power * (heard & mask)
        return np.sum(weight * ild, axis=1) / np.maximum(weight.sum(axis=1), 1e-30)

    both = (heard & high).any(axis=1) & (heard & low).any(axis=1)
    if both.sum() < 3:
        return None
    shadow = (mean_where(high) - mean_where(low))[both]
    power = band_power.sum(axis=1)[both]
    return float(np.sum(power * shadow) / np.sum(power))


# -------------------------------------------------------------------------------------- tracking


@dataclass
class _Track:
    seg: list[int] = field(default_factory=list)
    az: list[float] = field(default_factory=list)
    height: list[float] = field(default_factory=list)
    share: list[float] = field(default_factory=list)
    #: Found standing in one place all along (see _steady_faint_sources), not followed segment by segment.
    steady: bool = False

    @property
    def last_az(self) -> float:
        return self.az[-1]

    def velocity(self) -> float:
        """Degrees per segment over the last few points."""
        if len(self.az) < 3:
            return 0.0
        k = min(6, len(self.az))
        span = self.seg[-1] - self.seg[-k]
        return (self.az[-1] - self.az[-k]) / span if span else 0.0

    def extend(self, piece: _Track, start: int = 0, stop: int | None = None) -> None:
        """Append ``piece``'s points ``start:stop`` (all by default)."""
        self.seg += piece.seg[start:stop]
        self.az += piece.az[start:stop]
        self.height += piece.height[start:stop]
        self.share += piece.share[start:stop]


def _share_near_median(azimuth_deg: np.ndarray, spread_deg: float) -> float:
    """The share of the points within ``spread_deg`` of their median: how steadily a track stands in one place."""
    azimuth_deg = np.asarray(azimuth_deg, dtype=float)
    return float(np.mean(np.abs(azimuth_deg - np.median(azimuth_deg)) <= spread_deg))


def find_tracks(evidence: np.ndarray, active: np.ndarray, seg_dt: float,
                faint: list[_Track] | None = None) -> list[_Track]:
    """Peaks per segment, linked over time into tracks; short or weak tracks dropped, broken ones joined.

    ``faint``, when given, receives the dropped tracks that still stand in one place for a while (see
    :func:`faint_candidates`).
    """
    smooth = ndimage.gaussian_filter1d(evidence, sigma=4.0, axis=1, mode="nearest")
    # Time smoothing over ~0.75 s steadies the peaks of sources that sound intermittently.
    smooth = ndimage.uniform_filter1d(smooth, size=TIME_SMOOTH, axis=0, mode="nearest")
    open_tracks: list[_Track] = []
    done: list[_Track] = []
    gap_limit = max(2, round(1.0 / seg_dt))
    # Zero padding lets a source at ±90° (a maximum at the grid's edge) count as a peak.
    padded = np.pad(smooth, ((0, 0), (1, 1)))
    tops = smooth.max(axis=1)
    # Local maxima of every row at once. A row with a single one (most rows) needs no prominence or
    # distance test: with zero padding a lone maximum's prominence is its height.
    inner = padded[:, 1:-1]
    is_max = (inner > padded[:, :-2]) & (inner >= padded[:, 2:]) & (inner >= PEAK_HEIGHT * tops[:, None])
    n_max = is_max.sum(axis=1)
    for j in np.flatnonzero(active):
        top = tops[j]
        if top <= 0 or n_max[j] == 0:
            continue
        if n_max[j] == 1:
            peaks = np.flatnonzero(is_max[j])
            heights = smooth[j, peaks]
        else:
            peaks, props = find_peaks(
                padded[j], height=PEAK_HEIGHT * top, prominence=PROMINENCE * top, distance=20
            )
            peaks = np.clip(peaks - 1, 0, smooth.shape[1] - 1)
            heights = props["peak_heights"]
        order = np.argsort(-heights)
        total = heights.sum()
        taken: set[int] = set()
        predicted_az = [tr.last_az + tr.velocity() * (j - tr.seg[-1]) for tr in open_tracks]
        for p in order:
            az = float(AZIMUTH_GRID_DEG[peaks[p]])
            best, best_d = None, 1e9
            for i, predicted in enumerate(predicted_az):
                if i in taken:
                    continue
                d = abs(predicted - az)
                if d < 25.0 and d < best_d:
                    best, best_d = i, d
            if best is None:
                tr = _Track()
                open_tracks.append(tr)
                predicted_az.append(az)
                best = len(open_tracks) - 1
            taken.add(best)
            tr = open_tracks[best]
            tr.seg.append(int(j))
            tr.az.append(az)
            tr.height.append(float(heights[p]))
            tr.share.append(float(heights[p] / total))
        still = []
        for tr in open_tracks:
            (still if j - tr.seg[-1] <= gap_limit else done).append(tr)
        open_tracks = still
    tracks = done + open_tracks
    n_active = max(1, int(active.sum()))
    tracks = _join_broken(tracks, seg_dt)
    kept = [t for t in tracks if len(t.seg) >= max(3, MIN_COVER * n_active)]
    if not kept and tracks:
        kept = [max(tracks, key=lambda t: sum(t.height))]
    weight = sum(sum(t.height) for t in kept) or 1.0
    strong = [t for t in kept if sum(t.height) / weight >= MIN_SHARE]
    strong += _steady_faint_sources(smooth, active, strong)
    if faint is not None:
        reported = {id(t) for t in strong}
        faint.extend(faint_candidates([t for t in tracks if id(t) not in reported], strong))
    return sorted(strong, key=lambda t: np.median(t.az))


def faint_candidates(dropped: list[_Track], kept: list[_Track]) -> list[_Track]:
    """Dropped tracks that may still be a source: at least FAINT_MIN_SEGMENTS long, steady (most points within
    FAINT_SPREAD_DEG of their median) and at least FAINT_APART_DEG from every kept track and from each other
    (a piece beside a kept track is that source's). Too faint or brief to report, they are where the consistency
    check looks before saying a box matches no sound at all."""
    out: list[_Track] = []
    centres = [float(np.median(t.az)) for t in kept]
    for tr in sorted(dropped, key=lambda t: -sum(t.height)):
        if len(tr.seg) < FAINT_MIN_SEGMENTS:
            continue
        if _share_near_median(tr.az, FAINT_SPREAD_DEG) < 0.6:
            continue
        centre = float(np.median(tr.az))
        if all(abs(centre - c) >= FAINT_APART_DEG for c in centres):
            out.append(tr)
            centres.append(centre)
    return sorted(out, key=lambda t: np.median(t.az))


def _steady_faint_sources(smooth: np.ndarray, active: np.ndarray, tracks: list[_Track],
                          height: float = FAINT_HEIGHT) -> list[_Track]:
    """Sources that never top a segment but are there all along, far from every track found.

    A steady, tonal source beside a loud broadband one wins only a few bins in each frame: its peak
    is a tenth of the loud one's, too faint to trust in one segment, yet it stands in the same place
    segment after segment. Each segment's evidence is scaled to its own maximum and averaged; a
    direction that stands ``height`` above the median there, at least 40° from every point any track passes,
    becomes a stationary source: a moving source's evidence, averaged, bumps along its path (where its pitch's
    GCC repeats pile up), 50° from its median direction for a wide sweep.
    """
    rows = smooth[active]
    if rows.shape[0] < 4:
        return []
    mean = (rows / np.maximum(rows.max(axis=1, keepdims=True), 1e-12)).mean(axis=0)
    floor = float(np.median(mean))
    peaks, props = find_peaks(np.r_[0.0, mean, 0.0], height=floor + height, prominence=height)
    found = []
    paths = [np.asarray(t.az, dtype=float) for t in tracks]
    for p in peaks[np.argsort(-props["peak_heights"])]:
        az = float(AZIMUTH_GRID_DEG[min(max(p - 1, 0), mean.size - 1)])
        if all(np.min(np.abs(az - path)) >= STEADY_APART_DEG for path in paths):
            idx = np.flatnonzero(active)
            heights = smooth[idx, min(max(p - 1, 0), mean.size - 1)]
            totals = np.maximum(smooth[idx].sum(axis=1), 1e-12)
            found.append(_Track(seg=list(idx), az=[az] * idx.size, height=list(heights),
                                share=list(np.clip(heights / totals * 10, 0.01, 1.0)), steady=True))
            paths.append(np.array([az]))  # a source found is a (still) path too
    return found


def drop_ghost_tracks(tracks: list[_Track], evidence: np.ndarray, seg: Segments, kind: RecordingKind,
                      spacing_m: float) -> list[_Track]:
    """Remove tracks that are only a stronger track's GCC sidelobe.

    A pitched sound's GCC repeats at lag offsets where all its partials line up again, so a siren on
    the right also "appears" near the centre. Whether a weaker track B is such a ghost of a stronger
    track A is decided per segment by the ambiguity function of the bins that voted: the GCC a single
    source at A's lag shows at B's lag offset, ``M(Δτ) = Σ w_b cos(2π f_b Δτ) / Σ w_b``. If, in most
    segments where B shows, its evidence is no higher than ``M`` times A's, nothing but A is needed
    to explain it. A genuine second source brings bins of its own, where A's sidelobe is low.

    ``M`` weighs every bin that voted, a third source's too, which dilutes A's sidelobe (a siren far left of a
    spaced pair and a violin ahead: the siren's ghost on the right stood above ``M``). So a segment is also
    explained when, with each bin's phase known, taking A's own part of every bin out leaves at most
    GHOST_RESIDUAL of B's evidence (see _left_after). Last, a track that no single stronger track explains may
    be the sidelobes of two together (see _drop_joint_ghosts).
    """
    if kind not in (RecordingKind.BINAURAL, RecordingKind.SPACED) or len(tracks) < 2 or seg.itd_bin_w is None:
        return tracks
    grid = AZIMUTH_GRID_DEG
    if kind is RecordingKind.SPACED:
        weights, freqs, model = seg.wide_bin_w, seg.wide_freqs_hz, spaced_itd_ms(grid, spacing_m)
        phasors = seg.wide_bin_x
    else:
        weights, freqs, model = seg.itd_bin_w, seg.itd_freqs_hz, head_itd_ms(grid)
        phasors = seg.itd_bin_x

    # Each track's azimuth-grid column in each of its segments, looked up once for both passes.
    where = {id(tr): dict(zip(tr.seg, _grid_columns(np.asarray(tr.az)).tolist(), strict=True)) for tr in tracks}
    kept: list[_Track] = []
    for candidate in sorted(tracks, key=lambda t: -sum(t.height)):
        ghost = False
        cand_cols = where[id(candidate)]
        for main in kept:
            main_cols = where[id(main)]
            shared = [j for j in candidate.seg if j in main_cols]
            if len(shared) < max(2, 0.5 * len(candidate.seg)):
                continue
            visible = explained = 0
            for j in shared:
                a_col, b_col = main_cols[j], cand_cols[j]
                offset_ms = model[b_col] - model[a_col]
                if abs(offset_ms) < GHOST_MIN_OFFSET_MS or evidence[j, a_col] <= 0:
                    continue
                ratio = evidence[j, b_col] / evidence[j, a_col]
                if ratio < GHOST_MIN_RATIO:
                    continue
                visible += 1
                w = weights[j]
                sidelobe = float(w @ np.cos(2 * np.pi * freqs * offset_ms * 1e-3)) / max(float(w.sum()), 1e-12)
                explained += (ratio <= sidelobe + GHOST_MARGIN or (
                    phasors is not None and _left_after(phasors[j], freqs, [model[a_col]], model[b_col])
                    <= GHOST_RESIDUAL))
            if visible >= 2 and explained >= GHOST_EXPLAINED * visible:
                ghost = True
                break
        if not ghost:
            kept.append(candidate)
    if phasors is not None:
        kept = _drop_joint_ghosts(kept, where, evidence, phasors, freqs, model)
    return sorted(kept, key=lambda t: np.median(t.az))


def _drop_joint_ghosts(tracks: list[_Track], where: dict[int, dict[int, int]], evidence: np.ndarray,
                       phasors: np.ndarray, freqs_hz: np.ndarray, lag_of_column: np.ndarray) -> list[_Track]:
    """Remove tracks that two or more other tracks' sidelobes explain together (GHOST_JOINT_RESIDUAL).

    ``where`` maps each track (by ``id``) to its azimuth-grid column in each of its segments. Aliases go both ways
    (if B stands on A's sidelobe, A stands on B's), so the strongest track is never removed, and each round removes
    only the track best explained, then looks again without it. A track is judged only where at least two others
    sound and on at least half of its segments.
    """
    kept = list(tracks)
    while len(kept) >= 3:
        strongest = max(kept, key=lambda tr: sum(tr.height))
        explained_share = []
        for candidate in kept:
            if candidate is strongest:
                explained_share.append(0.0)
                continue
            visible = explained = 0
            for j, col in where[id(candidate)].items():
                mains = [where[id(m)][j] for m in kept if m is not candidate and j in where[id(m)]]
                if len(mains) < 2 or np.min(np.abs(lag_of_column[mains] - lag_of_column[col])) < GHOST_MIN_OFFSET_MS:
                    continue
                top = evidence[j, mains].max()
                if top <= 0 or evidence[j, col] < GHOST_MIN_RATIO * top:
                    continue
                visible += 1
                explained += (_left_after(phasors[j], freqs_hz, lag_of_column[mains], lag_of_column[col])
                              <= GHOST_JOINT_RESIDUAL)
            explained_share.append(explained / visible if visible >= max(2, 0.5 * len(candidate.seg)) else 0.0)
        worst = int(np.argmax(explained_share))
        if explained_share[worst] < GHOST_EXPLAINED:
            break
        kept.pop(worst)
    return kept


def _left_after(phasors: np.ndarray, freqs_hz: np.ndarray, main_lags_ms: np.ndarray | list[float],
                lag_ms: float) -> float:
    """The part of the GCC evidence at ``lag_ms`` that is left once the sources at ``main_lags_ms`` are taken out.

    ``phasors`` are one segment's weighted bin phasors (``Segments.itd_bin_x`` or ``wide_bin_x``). Each bin's part
    along a main source's phase is what that source holds of it; each bin goes to the main source holding most of it,
    and that part, turned to ``lag_ms``, is the source's sidelobe there, bin by bin. What the evidence at ``lag_ms``
    has beyond the sidelobes needs another source: near 0 for a sidelobe, about half (the mean of sin²) for a
    source with bins of its own; 0 where the bins add up to no evidence at ``lag_ms`` at all.
    """
    turn = 2j * np.pi * freqs_hz * 1e-3
    own = float(np.sum((phasors * np.exp(turn * lag_ms)).real))
    if own <= 0:
        return 0.0
    lags = np.asarray(main_lags_ms, dtype=float)
    held = (phasors[None, :] * np.exp(turn[None, :] * lags[:, None])).real
    best = np.argmax(held, axis=0)
    held_best = held[best, np.arange(held.shape[1])]
    sidelobe = float(held_best @ np.cos(2 * np.pi * freqs_hz * (lag_ms - lags[best]) * 1e-3))
    return (own - sidelobe) / own


def drop_echo_tracks(tracks: list[_Track], evidence: np.ndarray, active: np.ndarray,
                     strength: list[float] | None = None) -> list[_Track]:
    """Remove tracks whose evidence rises and falls with a stronger track's (common fate).

    Two independent sources take turns: when one gets louder it wins more of a segment's bins and the other fewer,
    so their shares of the segment's evidence move against each other. A room's reflection carries its own
    source's sound from another direction: its share follows that source's, up when it is loud and down when the
    other source takes over. Shares are read along each track's path (interpolated between its points) in every
    active segment. Tracks are judged strongest first, by ``strength`` (default: their summed peak heights): of two
    that rise and fall together, the stronger stays. In a room where a reflection outweighs the direct sound that
    keeps the reflection (the check then flags a box put where the source really is).
    """
    if len(tracks) < 2 or np.count_nonzero(active) < 4:
        return tracks
    all_series = _share_series(tracks, evidence, active)
    kept: list[tuple[_Track, np.ndarray]] = []
    strength = strength if strength is not None else [sum(t.height) for t in tracks]
    for i in np.argsort([-v for v in strength], kind="stable"):
        tr, series = tracks[i], all_series[i]
        echo = _varies(series) and any(
            _varies(other) and np.corrcoef(series, other)[0, 1] > COMMON_FATE_CORR for _, other in kept)
        if not echo:
            kept.append((tr, series))
    return sorted((tr for tr, _ in kept), key=lambda t: np.median(t.az))


def _share_series(tracks: list[_Track], evidence: np.ndarray, active: np.ndarray) -> list[np.ndarray]:
    """Each track's share of the (azimuth-smoothed) evidence of every active segment, read along its path
    (interpolated between its points)."""
    idx = np.flatnonzero(active)
    smooth = ndimage.gaussian_filter1d(evidence[idx], sigma=4.0, axis=1, mode="nearest")
    shares = smooth / np.maximum(smooth.sum(axis=1, keepdims=True), 1e-12)
    rows = np.arange(idx.size)
    return [shares[rows, _grid_columns(np.interp(idx, tr.seg, tr.az))] for tr in tracks]


def drop_reflection_tracks(tracks: list[_Track], kind: RecordingKind, first: np.ndarray | None,
                           evidence: np.ndarray, active: np.ndarray) -> list[_Track]:
    """Remove pan-pot tracks that hold almost none of the first arrivals: a room's reflection.

    A pan-pot mix's direct sound reaches both channels first, at its pan position; an early reflection comes 4-30
    ms later from its own, and lands in the frames held back after each jump (see ``Segments.gcc_first``). A
    direction fed by reflections alone can hold as much steady evidence as a second source, but under
    REFLECTION_MAX_FIRST_SHARE of the tracks' first arrivals. Over 768 make-bench scenes this removed 13 tracks: 11
    reflections, a moving source's second piece, and a source's wandering track whose place the first arrivals then
    gave (see _first_arrival_sources). A steady tone makes no jumps after its start either, so two more things must
    hold: the track sounds only while a track with first arrivals sounds (a reflection never outlasts its source; a
    tone left sounding alone is not one), and its share of the evidence comes and goes (see _varies; a tone beside a
    steady noise holds a steady share). A source found for standing steadily in one place beside a
    louder one is kept too: a held violin note beside an engine makes no jumps at all. A head's or a spaced pair's
    first arrivals are read through the GCC, whose sidelobes blur them, so only pan-pot mixes are judged.
    """
    if kind is not RecordingKind.PANPOT or len(tracks) < 2 or np.count_nonzero(active) < 4:
        return tracks
    first_shares = first_arrival_shares(tracks, first)
    if any(share is None for share in first_shares):
        return tracks
    with_first = set().union(*(tr.seg for tr, share in zip(tracks, first_shares, strict=True)
                               if share >= REFLECTION_MAX_FIRST_SHARE))
    suspects = [i for i, (tr, share) in enumerate(zip(tracks, first_shares, strict=True))
                if not tr.steady and share < REFLECTION_MAX_FIRST_SHARE
                and np.mean([j in with_first for j in tr.seg]) >= REFLECTION_MIN_OVERLAP]
    if not suspects:  # most recordings: no share series needed
        return tracks
    series = _share_series([tracks[i] for i in suspects], evidence, active)
    reflections = {i for i, one in zip(suspects, series, strict=True) if _varies(one)}
    return [tr for i, tr in enumerate(tracks) if i not in reflections]


def _run_on(tracks: list[_Track], seg_dt: float) -> None:
    """Extend a moving track that stops short with the run another track makes onward from it (in place).

    A source sweeping fast (a car at its nearest point) can jump further in one segment than the linking allows,
    and past a steady source (a violin) the louder car holds the one peak both make, so the tracker hands the car's
    run to the violin (see _join_broken) and the car's track stops at the crossing. A track that moves at least
    RUN_MIN_SPEED_DEG per segment at its end, before the clip's, takes a copy of the points another track holds
    within 2 s after it, starting ahead of it in its direction of motion (at most RUN_MAX_JUMP_DEG, plus its speed
    for each further segment) for as long as they keep moving that way. Where the other track otherwise stands
    still (its other points within STEADY_SPREAD_DEG of their median, 8 in 10 of them), it keeps those segments,
    since it still sounds under the louder pass, but at its own place rather than the passing source's.
    """
    last = max((tr.seg[-1] for tr in tracks), default=0)
    for runner in tracks:
        speed = runner.velocity()
        end = runner.seg[-1]
        if abs(speed) < RUN_MIN_SPEED_DEG or end >= last:
            continue
        for other in tracks:
            if other is runner:
                continue
            after = [i for i, j in enumerate(other.seg) if 0 < j - end <= 2.0 / seg_dt]
            if len(after) < 2:
                continue
            start = after[0]
            ahead = (other.az[start] - runner.last_az) * np.sign(speed)
            if not 0.0 < ahead <= RUN_MAX_JUMP_DEG + abs(speed) * (other.seg[start] - end - 1):
                continue
            steps = np.diff(np.asarray(other.az[start:], dtype=float)) * np.sign(speed)
            stops = np.flatnonzero(steps <= 0.0)
            n = int(stops[0]) + 1 if stops.size else len(steps) + 1
            if n < 3:
                continue
            runner.extend(other, start, start + n)
            rest = other.az[:start] + other.az[start + n:]
            if rest and _share_near_median(rest, STEADY_SPREAD_DEG) >= 0.8:
                other.az[start:start + n] = [float(np.median(rest))] * n
            break


def _varies(series: np.ndarray) -> bool:
    """Whether a share series moves enough for its correlation to mean something (steady tones' shares only jitter)."""
    return float(series.std()) > COMMON_FATE_MIN_CV * float(series.mean())


def _join_broken(tracks: list[_Track], seg_dt: float) -> list[_Track]:
    """Join a track that ends with one that starts soon after, near where the first one was heading."""
    tracks = sorted(tracks, key=lambda t: t.seg[0])
    joined: list[_Track] = []
    for tr in tracks:
        partner = None
        for prev in joined:
            gap = tr.seg[0] - prev.seg[-1]
            if not 0 < gap <= 2.0 / seg_dt:
                continue
            heading = abs(prev.last_az + prev.velocity() * gap - tr.az[0]) < 20.0
            # Or both settle in the same place: a steady source whose new piece began where another
            # source passed by it (a car driving past a violin) starts off its true direction.
            settled = abs(prev.velocity()) < 1.0 and abs(float(np.median(prev.az)) - float(np.median(tr.az))) < 10.0
            if heading or settled:
                partner = prev
                break
        if partner is None:
            joined.append(tr)
        else:
            partner.extend(tr)
    return joined


def _robust_edge(values: np.ndarray, fraction: float, start: bool) -> float:
    n = max(1, math.ceil(len(values) * fraction))
    return float(np.median(values[:n] if start else values[-n:]))


def _intervals(times: np.ndarray, seg_dt: float) -> list[tuple[float, float]]:
    if times.size == 0:
        return []
    out = [[times[0] - seg_dt / 2, times[0] + seg_dt / 2]]
    for t in times[1:]:
        if t - seg_dt / 2 - out[-1][1] <= 0.5:
            out[-1][1] = t + seg_dt / 2
        else:
            out.append([t - seg_dt / 2, t + seg_dt / 2])
    return [(max(0.0, a), b) for a, b in out]


def first_arrival_evidence(seg: Segments, kind: RecordingKind, spacing_m: float) -> np.ndarray | None:
    """The first arrivals' evidence on the azimuth grid (``Segments.gcc_first``), smoothed as find_tracks smooths;
    None when not measured."""
    if seg.gcc_first is None:
        return None
    first = evidence_on_azimuth(
        dataclasses.replace(seg, gcc=seg.gcc_first, gcc_wide=seg.wide_first, balance_hist=seg.balance_first),
        kind, spacing_m)
    return ndimage.gaussian_filter1d(first, sigma=4.0, axis=1, mode="nearest")


def first_arrival_shares(tracks: list[_Track], first: np.ndarray | None) -> list[float | None]:
    """Each track's share of the first-arrival evidence ``first`` (:func:`first_arrival_evidence`) along its path:
    how much its direction is where sounds start rather than where they echo. In a room, six reflections from other
    directions can hold as much steady evidence as the direct sound, and for a steady tone more; but they come 4-30
    ms after each onset, so the first arrivals point at the source (the precedence effect). None when not measured.
    """
    if not tracks or first is None:
        return [None] * len(tracks)
    support = [float(first[np.asarray(tr.seg), _grid_columns(np.asarray(tr.az))].sum()) for tr in tracks]
    total = sum(support)
    return [value / total if total > 0 else None for value in support]


def _first_arrival_sources(seg: Segments, kind: RecordingKind, first: np.ndarray | None, active: np.ndarray,
                           tracks: list[_Track]) -> list[_Track]:
    """Pan-pot sources that hardly show in the evidence of all sounds but stand out where sounds start.

    A drum panned to one side, 10 dB under a violin on the other, wins few bins of any frame and, scaled to
    each segment's maximum, stays under even a steady faint source's bar; yet each of its hits makes bins jump,
    and among the first arrivals it holds a third of the votes (a held note makes bins jump only as it starts). A
    pan-pot mix's first arrivals are clean (a level balance per bin, no lag sidelobes), so a direction standing
    FIRST_SOURCE_HEIGHT above their floor, STEADY_APART_DEG from every point any track passes (a moving
    source's path is its own), is a source. Binaural and spaced pairs' first arrivals are read through the
    GCC, whose sidelobes and reflections stand as high, so only pan-pot mixes are searched.
    """
    if kind is not RecordingKind.PANPOT or first is None or seg.balance_first is None:
        return []
    with_first = active & (seg.balance_first.sum(axis=1) > 0)
    return _steady_faint_sources(first, with_first, tracks, height=FIRST_SOURCE_HEIGHT)


def _grid_columns(azimuth_deg: np.ndarray) -> np.ndarray:
    """The azimuth grid's column nearest each azimuth."""
    return np.clip(np.round(azimuth_deg - AZIMUTH_GRID_DEG[0]).astype(int), 0, len(AZIMUTH_GRID_DEG) - 1)


def _ranking_shares(tracks: list[_Track], first: np.ndarray | None) -> list[float]:
    """Each track's part of the tracks' evidence, its part of their first-arrival evidence ``first`` counting
    FIRST_ARRIVAL_WEIGHT of it where measured (:func:`first_arrival_shares`)."""
    total = sum(sum(tr.height) for tr in tracks) or 1.0
    shares = [sum(tr.height) / total for tr in tracks]
    return [share if first_share is None else (1.0 - FIRST_ARRIVAL_WEIGHT) * share + FIRST_ARRIVAL_WEIGHT * first_share
            for share, first_share in zip(shares, first_arrival_shares(tracks, first), strict=True)]


def _clarity_db(tr: _Track, seg: Segments, kind: RecordingKind, spacing_m: float) -> np.ndarray:
    """Per segment of ``tr``: the wide-band GCC-PHAT's peak (dB) within CLARITY_LAG_WINDOW_MS of the lag the recording
    kind's model gives the track's azimuth (a pan-pot mix's sources sit at zero lag); NaN where it holds nothing."""
    lag = model_itd_ms(kind, np.asarray(tr.az, dtype=float), spacing_m)
    distance = np.abs(seg.lag_ms[None, :] - lag[:, None])
    near = distance <= np.maximum(CLARITY_LAG_WINDOW_MS, distance.min(axis=1, keepdims=True))
    peak = np.max(np.where(near, seg.gcc_wide[np.asarray(tr.seg)], 0.0), axis=1)
    with np.errstate(divide="ignore"):
        return np.where(peak > 0, 10 * np.log10(peak), np.nan)


def _trend(values: np.ndarray, t: np.ndarray) -> float | None:
    """The change, from the first to the last time with a finite value, of a robust (Theil-Sen) line through the
    finite ``values`` over ``t``, thinned to at most 300 points (the same line, bounded work); None with fewer
    than three."""
    finite = np.isfinite(values)
    values, t = values[finite], t[finite]
    if len(t) < 3 or t[-1] <= t[0]:
        return None
    thin = np.linspace(0, len(t) - 1, min(len(t), 300)).astype(int)
    return float(stats.theilslopes(values[thin], t[thin])[0] * (t[-1] - t[0]))


def _shadow_share(tr: _Track, seg: Segments, kind: RecordingKind, azimuth_deg: float) -> float | None:
    """For a binaural track SHADOW_MIN_AZIMUTH_DEG or more to one side (at ``azimuth_deg``): the share of its segments
    in which some band above SHADOW_BAND_HZ is louder on that side by SHADOW_MIN_DB or more; otherwise None."""
    if kind is not RecordingKind.BINAURAL or abs(azimuth_deg) < SHADOW_MIN_AZIMUTH_DEG:
        return None
    ild = seg.band_ild_db[np.asarray(tr.seg)][:, _SHADOW_BANDS] * np.sign(azimuth_deg)  # positive: louder on its side
    return float(np.mean((ild >= SHADOW_MIN_DB).any(axis=1))) if ild.size else None


def describe_track(tr: _Track, seg: Segments, settings: AnalysisSettings, source_id: int,
                   coherence: float, duration_s: float, kind: RecordingKind, share: float = 1.0) -> Source:
    """A Source from a track: azimuth/level over time, side, motion, confidence.

    ``share``: the track's part of the tracks' evidence (see :func:`_ranking_shares`); ``kind``: the recording's,
    for the lag at which the track's clarity is read (see CLARITY_WEIGHT).
    """
    idx = np.asarray(tr.seg)
    t = seg.t[idx]
    az = ndimage.median_filter(np.asarray(tr.az), size=3, mode="nearest")
    seg_level_db = 10 * np.log10(seg.power[idx] + 1e-12)
    level_db = seg_level_db + 10 * np.log10(np.maximum(np.asarray(tr.share), 1e-3))
    az_start = _robust_edge(az, 0.2, True)
    az_end = _robust_edge(az, 0.2, False)
    # Motion from robust (Theil-Sen) lines through the whole track: a few stray points at one end,
    # where another source passed close by, do not make a stationary source "move".
    sweep = _trend(az, t)
    sweep = az_end - az_start if sweep is None else sweep
    level_change = _trend(level_db, t) or 0.0
    clarity_change = _trend(_clarity_db(tr, seg, kind, settings.spacing_m), t)
    nearness = level_change if clarity_change is None else (
        (level_change + CLARITY_WEIGHT * clarity_change) / (1.0 + CLARITY_WEIGHT / 2.0))
    # Each cue against its own threshold; where both pass, the stronger one names the motion. In a room a receding
    # source's direction drifts as its direct sound fades into the reverberation (a sweep just past the threshold)
    # while it grows fainter by twice the threshold; a source passing by sweeps far more than its nearness changes.
    sweep_score, nearness_score = abs(sweep) / settings.sweep_deg, abs(nearness) / settings.level_change_db
    if sweep_score >= 1.0 and sweep_score >= nearness_score:
        motion = Motion.MOVING_RIGHT if sweep > 0 else Motion.MOVING_LEFT
    elif nearness >= settings.level_change_db:
        motion = Motion.APPROACHING
    elif nearness <= -settings.level_change_db:
        motion = Motion.RECEDING
    else:
        motion = Motion.STATIONARY
    median_az = float(np.median(az))
    side = side_for_azimuth(median_az)
    coverage = min(1.0, (t[-1] - t[0] + (seg.t[1] - seg.t[0] if len(seg.t) > 1 else 0.25)) / max(duration_s, 1e-6))
    spread = float(np.std(az - ndimage.uniform_filter1d(az, size=5, mode="nearest")))
    # Confidence: how much of the clip the track covers, how much of the directional evidence it
    # holds (a faint track among strong ones is less certain), how coherent the ears are, how steady.
    confidence = float(np.clip(
        0.15 + 0.35 * coverage + 0.3 * min(1.0, share / 0.5) + 0.2 * coherence - spread / 40.0, 0.05, 1.0
    ))
    seg_dt = float(seg.t[1] - seg.t[0]) if len(seg.t) > 1 else 0.25
    return Source(
        id=source_id,
        side=side,
        motion=motion,
        confidence=confidence,
        azimuth_start_deg=float(np.clip(az_start, -90, 90)),
        azimuth_end_deg=float(np.clip(az_end, -90, 90)),
        track=SourceTrack(t=t, azimuth_deg=az.astype(float), level_db=level_db),
        level_change_db=level_change,
        nearness_change_db=nearness,
        shadow_share=_shadow_share(tr, seg, kind, median_az),
        active=_intervals(t, seg_dt),
    )


# -------------------------------------------------------------------------------------- analyze


def analyze(
    audio: str | Path | AudioSource,
    settings: AnalysisSettings | None = None,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Analysis:
    """Measure cues and find sources in a recording.

    ``progress`` receives 0..1 as blocks are measured; when ``is_cancelled()`` turns true the work
    stops with :class:`~engine.errors.Cancelled`. Bad input raises :class:`AudioInputError`.
    """
    settings = settings or AnalysisSettings()
    source = audio if isinstance(audio, AudioSource) else open_audio(audio)
    meter = CueMeter(settings.cue_settings())
    total = max(1, source.frames)
    done = 0
    for block in resampled_blocks(source, settings.rate, block_s=settings.block_s):
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()
        if not np.all(np.isfinite(block)):
            raise AudioInputError(
                source.path, "contains NaN or infinite samples; the file is damaged or not audio"
            )
        block_peak = float(np.max(np.abs(block))) if block.size else 0.0
        if block_peak > MAX_SAMPLE_ABS:
            raise AudioInputError(
                source.path, f"holds samples up to {block_peak:.3g} ({20 * math.log10(block_peak):.0f} dBFS), far "
                f"beyond full scale (±1.0; at most {MAX_SAMPLE_ABS:g} is analysed); the file is damaged or not audio"
            )
        meter.feed(block)
        done += block.shape[0] * source.sample_rate / settings.rate
        if progress is not None:
            progress(min(0.95, 0.95 * done / total))
    meter.finish()
    if meter.peak <= 10 ** (settings.silence_dbfs / 20):
        raise AudioInputError(source.path, "is silent (no sample above -90 dBFS); there is nothing to analyse")
    frames = meter.arrays()
    seg = meter.segment_arrays()
    warnings = list(source.warnings)
    mono = source.is_mono or meter.identical_channels
    if mono:
        kind, kind_conf = RecordingKind.MONO, 1.0
        if not source.is_mono:
            warnings.append(
                "Both channels are identical (mono): spatial cues need two different channels, "
                "so every source is placed at the centre."
            )
    elif settings.kind is not None:
        kind, kind_conf = settings.kind, 1.0
    else:
        kind, kind_conf, _facts = detect_kind(frames, seg)
    azimuth = azimuth_from_cues(kind, frames["itd_ms"], frames["ild_db"], settings.spacing_m)
    n = len(frames["itd_ms"])
    t = (np.arange(n) + 0.5) * settings.hop_s
    cue_frames = CueFrames(
        hop_s=settings.hop_s,
        t=t,
        ild_db=frames["ild_db"],
        itd_ms=frames["itd_ms"],
        coherence=frames["coherence"],
        level_dbfs=frames["level_dbfs"],
        level_left_dbfs=frames["level_left_dbfs"],
        level_right_dbfs=frames["level_right_dbfs"],
        loudness_lufs=frames["loudness_lufs"],
        centroid_hz=frames["centroid_hz"],
        pitch_hz=frames["pitch_hz"],
        azimuth_deg=azimuth,
    )
    sources, faint_sources = _find_sources(seg, frames, kind, settings, source.duration_s)
    if progress is not None:
        progress(1.0)
    band_ild = _band_ild_summary(seg, settings)
    return Analysis(
        band_ild_db=band_ild,
        sample_rate=source.sample_rate,
        channels=source.channels,
        duration_s=source.duration_s,
        frames=cue_frames,
        sources=sources,
        faint_sources=faint_sources,
        kind=kind,
        kind_confidence=kind_conf,
        warnings=warnings,
        audio_path=str(source.path),
        spacing_m=settings.spacing_m,
    )


def _band_ild_summary(seg: Segments, settings: AnalysisSettings) -> dict[str, list[float]]:
    """Median ILD per third-octave band over the louder segments: how ILD grows with frequency."""
    centres = list(settings.cue_settings().ild_band_centres_hz)
    if seg.t.size == 0:
        return {"centre_hz": centres, "median_db": [float("nan")] * len(centres)}
    level = 10 * np.log10(seg.power + 1e-12)
    loud = level >= np.percentile(level, 50)
    return {"centre_hz": centres, "median_db": [float(v) for v in np.median(seg.band_ild_db[loud], axis=0)]}


def _find_sources(seg: Segments, frames: dict[str, np.ndarray], kind: RecordingKind,
                  settings: AnalysisSettings, duration_s: float) -> tuple[list[Source], list[Source]]:
    """The sources to report, and the faint candidates (see :func:`faint_candidates`)."""
    if seg.t.size == 0:
        return [], []
    seg_level = 10 * np.log10(seg.power + 1e-12)
    active = seg_level > max(np.percentile(seg_level, 95) - 30.0, settings.silence_dbfs + 20)
    coh = frames["coherence"]
    mean_coh = float(np.nanmean(coh)) if np.isfinite(coh).any() else 0.0
    if kind is RecordingKind.MONO:
        idx = np.flatnonzero(active)
        if idx.size == 0:  # nothing loud enough to be a source anywhere (as find_tracks finds for stereo)
            return [], []
        tr = _Track(seg=list(idx), az=[0.0] * len(idx), height=[1.0] * len(idx), share=[1.0] * len(idx))
        src = describe_track(tr, seg, settings, 0, 1.0, duration_s, kind)
        src.side, src.azimuth_start_deg, src.azimuth_end_deg = Side.CENTER, 0.0, 0.0
        if src.motion in (Motion.MOVING_LEFT, Motion.MOVING_RIGHT):
            src.motion = Motion.STATIONARY
        return [src], []
    evidence = evidence_on_azimuth(seg, kind, settings.spacing_m)
    seg_dt = float(seg.t[1] - seg.t[0]) if len(seg.t) > 1 else 0.25
    faint: list[_Track] = []
    tracks = find_tracks(evidence, active, seg_dt, faint)
    tracks = drop_ghost_tracks(tracks, evidence, seg, kind, settings.spacing_m)
    # Echoes are judged in the order of the confidence's evidence share (first arrivals count half): in a room a
    # reflection can hold more steady evidence than its source, but seldom more of the first arrivals.
    first = first_arrival_evidence(seg, kind, settings.spacing_m)
    tracks = drop_echo_tracks(tracks, evidence, active, _ranking_shares(tracks, first))
    tracks = drop_reflection_tracks(tracks, kind, first, evidence, active)
    _run_on(tracks, seg_dt)
    tracks = sorted(tracks + _first_arrival_sources(seg, kind, first, active, tracks), key=lambda t: np.median(t.az))
    shares = _ranking_shares(tracks, first)
    sources = [describe_track(tr, seg, settings, i, mean_coh, duration_s, kind, share=share)
               for i, (tr, share) in enumerate(zip(tracks, shares, strict=True))]
    total = sum(sum(tr.height) for tr in tracks) or 1.0
    # Faint candidates are described like sources (the check compares boxes with their tracks) and numbered after
    # them, but never listed as sources: not in the Sources dock, the planner or the analysis summary.
    faint_sources = [describe_track(tr, seg, settings, len(tracks) + i, mean_coh, duration_s, kind,
                                    share=sum(tr.height) / total) for i, tr in enumerate(faint)]
    return sources, faint_sources
