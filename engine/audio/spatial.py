"""Per-frame interaural cues, measured block by block with state carried across block edges.

For each 10 ms frame: ITD by GCC-PHAT in a low band over a physical lag range with sub-sample peak
interpolation, ILD per third-octave band and broadband, interaural coherence, left/right level, EBU
R128 momentary loudness, spectral centroid and pitch. For source finding, the GCC-PHAT functions
(over lags) and per-bin ILD histograms are summed per short segment: a few hundred numbers per
quarter second, so an hour of audio keeps only a few tens of MB.

Signs (SPEC.md): ILD = level(right) - level(left) in dB; ITD > 0 when the right channel leads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyloudnorm
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import signal

EPS = 1e-12
#: Frames of recent history (100 ms) a bin's power is compared with to find onsets.
ONSET_FRAMES = 10
ONSET_FLOOR = 0.3
#: First arrivals (see ``Segments.gcc_first``): a power jump of this factor over the bin's last 100 ms, and the
#: frames (30 ms) after it, where reflections arrive, held back.
FIRST_RISE = 4.0
FIRST_HOLD = 3
EVIDENCE_BETA = 0.3
#: The level-balance votes' compression (a bin votes with its power ** BALANCE_BETA).
BALANCE_BETA = 0.3


@dataclass
class CueSettings:
    """How cues are measured. Defaults suit 48 kHz recordings of everyday scenes."""

    rate: int = 48000
    hop_s: float = 0.01
    n_fft: int = 1024
    itd_band_hz: tuple[float, float] = (200.0, 1500.0)
    evidence_band_hz: tuple[float, float] = (200.0, 4000.0)
    #: Largest |ITD| searched, ms: a 40 cm spaced pair reaches 1.17 ms; heads about 0.7 ms.
    max_itd_ms: float = 1.25
    #: Step of the GCC lag grid, s. It is independent of the sample rate (the GCC is evaluated from the
    #: cross-spectrum at any lag); 1/24000 s with parabolic peak interpolation resolves a few
    #: microseconds, and a finer grid would only double the work.
    lag_step_s: float = 1.0 / 24000.0
    #: Cues use the spectrum up to this frequency (ILD up to 10 kHz, votes up to 8 kHz, pitch).
    analysis_max_hz: float = 12000.0
    #: Cross-spectra are averaged with this time constant (s) before GCC-PHAT and coherence.
    smoothing_s: float = 0.03
    #: ILD bands (third-octave centres, Hz) and the broadband ILD range.
    ild_band_centres_hz: tuple[float, ...] = (
        250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000,
    )
    broadband_hz: tuple[float, float] = (150.0, 10000.0)
    #: High band whose ILD tells a head (binaural) from a spaced pair.
    high_band_hz: tuple[float, float] = (2500.0, 9000.0)
    #: Segment length for the source histograms, in frames (25 = 0.25 s).
    segment_frames: int = 25
    #: Bins of the per-bin level-balance histogram (pan-pot source finding).
    balance_bins: int = 180

    @property
    def hop(self) -> int:
        return round(self.hop_s * self.rate)

    @property
    def max_lag(self) -> int:
        """The largest lag searched, in steps of ``lag_step_s``."""
        return math.ceil(self.max_itd_ms * 1e-3 / self.lag_step_s)


@dataclass
class SegmentStats:
    """Source-finding evidence per segment (rows = segments)."""

    count: list[int] = field(default_factory=list)  # frames in each segment
    gcc: list[np.ndarray] = field(default_factory=list)  # weighted GCC-PHAT over lags, ITD band
    gcc_wide: list[np.ndarray] = field(default_factory=list)  # the same over the wide evidence band
    balance_hist: list[np.ndarray] = field(default_factory=list)  # weighted per-bin level-balance histogram
    power: list[float] = field(default_factory=list)  # summed frame power of the segment (linear)
    band_l: list[np.ndarray] = field(default_factory=list)  # third-octave band powers, left
    band_r: list[np.ndarray] = field(default_factory=list)
    band_l_first: list[np.ndarray] = field(default_factory=list)  # the band powers of first arrivals only
    band_r_first: list[np.ndarray] = field(default_factory=list)
    itd_bin_w: list[np.ndarray] = field(default_factory=list)  # how much each ITD-band bin weighs in gcc
    wide_bin_w: list[np.ndarray] = field(default_factory=list)  # the same for gcc_wide's bins
    itd_bin_x: list[np.ndarray] = field(default_factory=list)  # itd_bin_w with each bin's phase (see Segments)
    wide_bin_x: list[np.ndarray] = field(default_factory=list)
    gcc_first: list[np.ndarray] = field(default_factory=list)  # gcc of first arrivals only (see Segments)
    wide_first: list[np.ndarray] = field(default_factory=list)
    balance_first: list[np.ndarray] = field(default_factory=list)


@dataclass
class Segments:
    """Source evidence per segment as arrays (rows = segments)."""

    t: np.ndarray  # segment centre, s
    gcc: np.ndarray  # weighted GCC-PHAT over lags (segments x lags), ITD band
    gcc_wide: np.ndarray  # the same over the wide evidence band (for spaced pairs: a pure delay)
    balance_hist: np.ndarray  # weighted per-bin level balance P_R/(P_L+P_R) (segments x balance_bins)
    power: np.ndarray  # mean frame power (linear)
    band_ild_db: np.ndarray  # ILD per third-octave band (segments x bands)
    lag_ms: np.ndarray  # the lag of each GCC column, ms
    #: The weight each bin carries in ``gcc`` / ``gcc_wide`` (segments x bins) and the bins' frequencies:
    #: enough to compute the GCC a single source would show at any lag offset (its ambiguity function).
    itd_bin_w: np.ndarray | None = None
    itd_freqs_hz: np.ndarray | None = None
    wide_bin_w: np.ndarray | None = None
    wide_freqs_hz: np.ndarray | None = None
    #: The same weights with each bin's interaural phase, summed over the segment's frames (complex): a source at
    #: lag τ puts its bins at phase -2πfτ, so the bins a track holds can be told from those a second one brings.
    itd_bin_x: np.ndarray | None = None
    wide_bin_x: np.ndarray | None = None
    #: ``gcc``, ``gcc_wide`` and ``balance_hist`` from first arrivals only: the bins of a frame whose power has
    #: just jumped FIRST_RISE times above its last 100 ms, and not within FIRST_HOLD frames after the last such
    #: jump in that bin. The direct sound reaches the ears first; a room's reflections follow 4-30 ms later and
    #: land in those held frames (the precedence effect: the ear takes the direction of the first wavefront).
    gcc_first: np.ndarray | None = None
    wide_first: np.ndarray | None = None
    balance_first: np.ndarray | None = None
    #: Third-octave band powers (segments x bands) of the first arrivals, left and right: a head's shadow on the
    #: direct sound, before a room's diffuse field evens the levels out.
    band_l_first: np.ndarray | None = None
    band_r_first: np.ndarray | None = None


class CueMeter:
    """Measures cues block by block. Feed consecutive stereo blocks, then call :meth:`finish`."""

    def __init__(self, settings: CueSettings) -> None:
        self.s = settings
        rate, n_fft, hop = settings.rate, settings.n_fft, settings.hop
        self.window = signal.get_window("hann", n_fft).astype(np.float32)
        self.win_power = float(np.sum(self.window.astype(np.float64) ** 2))
        all_freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
        # Only bins up to analysis_max_hz take part in the cues: the STFT itself is the band limit, so
        # a 48 kHz recording needs no resampling filter (nor does it alias).
        self.n_bins = int(np.searchsorted(all_freqs, min(settings.analysis_max_hz, rate / 2), side="right"))
        self.freqs = all_freqs[: self.n_bins]
        # Momentary loudness from the spectrum: the power response of the K-weighting filters of
        # ITU-R BS.1770 at each bin (Parseval), instead of filtering every sample in time.
        meter = pyloudnorm.Meter(rate)
        k_sos = np.vstack([signal.tf2sos(f.b, f.a) for f in meter._filters.values()])
        _, k_response = signal.sosfreqz(k_sos, worN=all_freqs, fs=rate)
        self.k_power = (np.abs(k_response) ** 2).astype(np.float32)
        lo, hi = settings.itd_band_hz
        self.itd_bins = _band_slice(self.freqs, lo, hi)
        # GCC-PHAT over integer lags, by a small DFT matrix restricted to the band's bins.
        self.lags = np.arange(-settings.max_lag, settings.max_lag + 1)
        self.lag_s = self.lags * settings.lag_step_s
        f_band = self.freqs[self.itd_bins]
        self.gcc_matrix = _real_part_matrix(np.exp(2j * np.pi * np.outer(f_band, self.lag_s)))
        # Source evidence uses a wider band than the per-frame ITD: sharper GCC peaks, and sources
        # whose energy lies above 1.5 kHz (sirens, speech consonants, cymbals) get a vote too.
        elo, ehi = settings.evidence_band_hz
        self.ev_bins = np.flatnonzero((self.freqs >= elo) & (self.freqs <= min(ehi, rate / 2 - 1)))
        f_ev = self.freqs[self.ev_bins]
        self.ev_matrix = _real_part_matrix(np.exp(2j * np.pi * np.outer(f_ev, self.lag_s)))
        self.ev_slice = slice(int(self.ev_bins[0]), int(self.ev_bins[-1]) + 1)
        self.ev_state: np.ndarray | None = None
        self.band_matrix = self._band_matrix()
        # Bands as slices (contiguous bins): summing a slice is much cheaper than gathering an index list.
        self.broadband_bins = _band_slice(self.freqs, *settings.broadband_hz)
        self.high_bins = _band_slice(self.freqs, *settings.high_band_hz)
        # Per-bin ILD for pan-pot sources: bins between 200 Hz and 8 kHz.
        duet = np.flatnonzero((self.freqs >= 200.0) & (self.freqs <= 8000.0))
        self.duet_bins = duet
        self.duet_slice = slice(int(duet[0]), int(duet[-1]) + 1)
        self.vote_bins = int(self.duet_bins[-1]) + 1
        self.onset_prev = np.zeros((ONSET_FRAMES, self.vote_bins), np.float32)
        self.jump_prev = np.zeros((FIRST_HOLD, self.vote_bins), bool)
        self.alpha = math.exp(-settings.hop_s / settings.smoothing_s)
        # State carried across blocks.
        self.tail = np.zeros((n_fft // 2 - hop // 2, 2), np.float32)  # centres frame i at (i + 0.5) hop
        self.sxy_state: np.ndarray | None = None
        self.pxx_state: np.ndarray | None = None
        self.ms_history = np.zeros(0)  # per-frame K-weighted mean squares of the last 400 ms
        self.peak = 0.0
        self.identical_channels = True
        self.n_frames = 0
        self.frames: dict[str, list[np.ndarray]] = {k: [] for k in (
            "ild_db", "itd_ms", "coherence", "level_dbfs", "level_left_dbfs", "level_right_dbfs",
            "loudness_lufs", "centroid_hz", "pitch_hz", "ild_high_db",
        )}
        self.segments = SegmentStats()
        self._prev_level: float | None = None

    def _band_matrix(self) -> np.ndarray:
        centres = np.asarray(self.s.ild_band_centres_hz, dtype=float)
        lo, hi = centres * 2 ** (-1 / 6), centres * 2 ** (1 / 6)
        m = ((self.freqs[None, :] >= lo[:, None]) & (self.freqs[None, :] < hi[:, None])).astype(np.float32)
        return m

    # ---------------------------------------------------------------------------------------- feed

    def feed(self, block: np.ndarray) -> None:
        """Measure the frames that ``block`` (n, 2 float32, at ``settings.rate``) completes."""
        self.peak = max(self.peak, float(np.max(np.abs(block))) if block.size else 0.0)
        if self.identical_channels and block.size and np.any(block[:, 0] != block[:, 1]):
            self.identical_channels = False
        buf = np.concatenate([self.tail, block], axis=0)
        n_fft, hop = self.s.n_fft, self.s.hop
        n_frames = (buf.shape[0] - n_fft) // hop + 1 if buf.shape[0] >= n_fft else 0
        if n_frames <= 0:
            self.tail = buf
            return
        self._frames(buf, n_frames)
        self.tail = buf[n_frames * hop :]

    def finish(self) -> None:
        """Measure the last frames (zero padding after the end) and close the last segment."""
        n_fft, hop = self.s.n_fft, self.s.hop
        pending = self.tail.shape[0] - (n_fft // 2 - hop // 2)
        if pending > 0:
            n_frames = math.ceil(pending / hop)
            pad = np.zeros(((n_frames - 1) * hop + n_fft - self.tail.shape[0], 2), np.float32)
            self._frames(np.concatenate([self.tail, pad], axis=0), n_frames)

    # ------------------------------------------------------------------------------------ internals

    def _spectra(self, buf: np.ndarray, n_frames: int) -> np.ndarray:
        """The spectra of the ``n_frames`` frames of each channel (column) of ``buf``: complex (channels, n, bins)."""
        n_fft, hop = self.s.n_fft, self.s.hop
        # Channels as contiguous rows, so each window is a contiguous run of samples (much faster).
        rows = np.ascontiguousarray(buf.T)
        frames = sliding_window_view(rows, n_fft, axis=1)[:, ::hop][:, :n_frames]  # (channels, n, n_fft)
        return sfft.rfft(frames * self.window, axis=-1, workers=1)

    def _centroid_and_pitch(self, pm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spectral centroid and pitch (Hz, NaN where unpitched) of frames whose mono power spectrum is ``pm``
        (frames x the first ``n_bins`` bins), from the autocorrelation of that spectrum."""
        s, nb, n_frames = self.s, self.n_bins, pm.shape[0]
        centroid = (pm @ self.freqs) / (pm.sum(axis=1) + EPS)
        # The autocorrelation of the band-limited spectrum, at the rate that band implies.
        acf_n = 2 * (nb - 1)
        acf_rate = acf_n * s.rate / s.n_fft
        acf = sfft.irfft(pm, n=acf_n, axis=1, workers=1)
        lag_min, lag_max = int(acf_rate / 1000.0), min(acf_n // 2 - 1, int(acf_rate / 60.0))
        seg = acf[:, lag_min:lag_max]
        # The period is the highest peak after the autocorrelation's first dip: before it, the main
        # lobe around lag 0 is still falling and would win for any low-passed sound.
        rising = np.diff(seg, axis=1) > 0
        first_dip = np.where(rising.any(axis=1), np.argmax(rising, axis=1), seg.shape[1])
        seg = np.where(np.arange(seg.shape[1])[None, :] > first_dip[:, None], seg, -np.inf)
        best = np.argmax(seg, axis=1)
        strength = seg[np.arange(n_frames), best] / (acf[:, 0] + EPS)
        return centroid, np.where(strength > 0.5, acf_rate / (best + lag_min), np.nan)

    def _frames(self, buf: np.ndarray, n_frames: int) -> None:
        s = self.s
        n_fft = s.n_fft
        spec = self._spectra(buf, n_frames)  # complex64 (2, n, all bins)
        power_all = spec.real**2 + spec.imag**2  # float32 (2, n, all bins)
        # Levels and loudness from the whole spectrum (Parseval); a full-scale sine reads about -3 dBFS.
        to_mean_square = 2.0 / (n_fft * self.win_power)
        tot_l, tot_r = power_all.sum(axis=2) * to_mean_square
        k_ms = (power_all[0] + power_all[1]) @ self.k_power * to_mean_square  # both channels, BS.1770
        nb = self.n_bins
        xl, xr = spec[0, :, :nb], spec[1, :, :nb]
        pl, pr = power_all[0, :, :nb], power_all[1, :, :nb]
        level_l = 10 * np.log10(tot_l + EPS)
        level_r = 10 * np.log10(tot_r + EPS)
        level = 10 * np.log10((tot_l + tot_r) / 2 + EPS)
        silent = level < -90.0

        # Broadband ILD (dB, right minus left); per-band ILD is summed per segment below.
        bb = self.broadband_bins
        ild = 10 * np.log10((pr[:, bb].sum(axis=1) + EPS) / (pl[:, bb].sum(axis=1) + EPS))
        hb = self.high_bins
        ild_high = 10 * np.log10((pr[:, hb].sum(axis=1) + EPS) / (pl[:, hb].sum(axis=1) + EPS))

        # Smoothed cross- and auto-spectra in the ITD band (one-pole, state across blocks).
        ib = self.itd_bins
        sxy = xl[:, ib] * np.conj(xr[:, ib])
        pxx = np.stack([pl[:, ib], pr[:, ib]], axis=1)
        a = self.alpha
        if self.sxy_state is None:
            self.sxy_state = np.zeros(sxy.shape[1], np.complex64)
            self.pxx_state = np.zeros((2, sxy.shape[1]), np.float32)
        sxy_s, self.sxy_state = _one_pole(sxy, a, self.sxy_state)
        pxx_s, self.pxx_state = _one_pole(pxx, a, self.pxx_state)
        band_power = pxx_s[:, 0, :] * pxx_s[:, 1, :]
        coh_bins = (sxy_s.real**2 + sxy_s.imag**2) / (band_power + EPS)
        weights = np.sqrt(band_power)
        coherence = np.sum(coh_bins * weights, axis=1) / (np.sum(weights, axis=1) + EPS)

        phat = sxy_s / (np.abs(sxy_s) + EPS)
        gcc = _real_matmul(phat, self.gcc_matrix) / phat.shape[1]  # (n, lags); peak at the lag of the right lead
        k = np.argmax(gcc, axis=1)
        kc = np.clip(k, 1, len(self.lags) - 2)
        y0, y1, y2 = (gcc[np.arange(n_frames), kc + d] for d in (-1, 0, 1))
        denom = y0 - 2 * y1 + y2
        offset = np.where(np.abs(denom) > 1e-9, 0.5 * (y0 - y2) / np.where(denom == 0, 1, denom), 0.0)
        offset = np.clip(offset, -0.5, 0.5)
        lag = self.lags[kc] + np.where(k == kc, offset, 0.0)
        itd_ms = lag * s.lag_step_s * 1000.0

        # Spectral centroid and pitch (autocorrelation of the mono power spectrum).
        pm = pl + pr
        centroid, pitch = self._centroid_and_pitch(pm)

        # Momentary loudness: 400 ms of K-weighted mean square (per frame, from the spectrum).
        history = np.concatenate([self.ms_history, k_ms])
        win = round(0.4 / s.hop_s)
        csum = np.cumsum(np.concatenate([[0.0], history]))
        end = np.arange(len(self.ms_history) + 1, len(history) + 1)
        start = np.maximum(0, end - win)
        momentary = (csum[end] - csum[start]) / np.maximum(1, end - start)
        self.ms_history = history[-win:]
        loudness = -0.691 + 10 * np.log10(momentary + EPS)

        nan = np.where(silent, np.nan, 1.0)
        out = self.frames
        out["ild_db"].append((ild * nan).astype(np.float32))
        out["itd_ms"].append((itd_ms * nan).astype(np.float32))
        out["coherence"].append((np.clip(coherence, 0, 1) * nan).astype(np.float32))
        out["level_dbfs"].append(np.maximum(level, -120).astype(np.float32))
        out["level_left_dbfs"].append(np.maximum(level_l, -120).astype(np.float32))
        out["level_right_dbfs"].append(np.maximum(level_r, -120).astype(np.float32))
        out["loudness_lufs"].append(np.maximum(loudness, -120).astype(np.float32))
        out["centroid_hz"].append((centroid * nan).astype(np.float32))
        out["pitch_hz"].append((pitch * nan).astype(np.float32))
        out["ild_high_db"].append((ild_high * nan).astype(np.float32))

        # Precedence per bin: a bin whose power jumps above its recent (100 ms) average carries the
        # direct sound before the room's reflections arrive; steady bins still vote, ten times less.
        vb = self.vote_bins  # every bin that votes lies below 8 kHz
        history = np.concatenate([self.onset_prev, pm[:, :vb]], axis=0)  # previous ONSET_FRAMES frames first
        csum = np.cumsum(history, axis=0, dtype=np.float64)  # float32 sums over a long block lose the small terms
        k = ONSET_FRAMES
        previous = (csum[k - 1 : -1] - np.concatenate([np.zeros((1, csum.shape[1])), csum[: -k - 1]])) / k
        self.onset_prev = history[-k:]
        rise = pm[:, :vb] / (previous + EPS)
        bin_vote = ONSET_FLOOR + np.clip((rise - 1.0) / 3.0, 0.0, 1.0)
        # First arrivals: a jump in a bin, unless the bin jumped in the FIRST_HOLD frames before (its reflections).
        jump = rise >= FIRST_RISE
        jumps = np.concatenate([self.jump_prev, jump], axis=0)  # the previous block's last frames first
        held = np.zeros_like(jump)
        for d in range(1, FIRST_HOLD + 1):
            held |= jumps[FIRST_HOLD - d : FIRST_HOLD - d + jump.shape[0]]
        self.jump_prev = jumps[-FIRST_HOLD:]
        first_arrivals = (jump & ~held).astype(np.float32)
        cross_all = xl[:, :vb] * np.conj(xr[:, :vb])

        # Source evidence: frames weighted by power, coherence and onsets (precedence: the direct
        # sound arrives first, so frames where the level rises carry cleaner direction cues).
        power = (tot_l + tot_r) / 2
        prev = np.concatenate([[self._prev_level if self._prev_level is not None else level[0]], level[:-1]])
        self._prev_level = float(level[-1])
        onset = 1.0 + 2.0 * np.clip((level - prev) / 6.0, 0.0, 1.0)
        weight = np.where(silent, 0.0, np.sqrt(power) * np.clip(coherence, 0, 1) ** 2 * onset)
        eb = self.ev_slice
        if self.ev_state is None:
            self.ev_state = np.zeros(len(self.ev_bins), np.complex64)
        sxy_ev, self.ev_state = _one_pole(cross_all[:, eb], a, self.ev_state)
        mag = np.abs(sxy_ev)
        # PHAT, but only bins within 30 dB of the frame's strongest vote: empty bins would vote at random.
        audible = mag > 1e-3 * mag.max(axis=1, keepdims=True)
        unit_ev = sxy_ev * (audible / (mag + EPS)).astype(np.float32)  # each audible bin's phase, unit length
        # Per-bin level balance histogram (DUET on level). The balance r = P_R / (P_L + P_R) in [0, 1] carries the
        # bin's ILD without a logarithm per bin.
        db_ = self.duet_slice
        bl, br = pl[:, db_], pr[:, db_]
        bin_sum = bl + br
        balance = br / (bin_sum + EPS)
        # A panned direct sound is in phase in both channels in every bin; reverberant and noisy bins
        # have random phase. Only in-phase bins vote (cos^16 of the phase difference), and each frame
        # as much as its GCC does.
        cross = cross_all[:, db_]
        in_phase = np.clip(cross.real / (np.abs(cross) + EPS), 0.0, 1.0)
        for _ in range(4):  # ** 16 by squaring: numpy's float power is several times slower
            in_phase *= in_phase
        # Each bin votes with its power compressed (as the GCC's bins, by |S| ** beta), the frame's votes summing to
        # its weight: by power itself, a broadband source's many bins outvoted a tonal one's few even where that
        # one's harmonics stand well above it. Bins 30 dB under the frame's strongest do not vote.
        bal_w = (bin_sum + EPS) ** BALANCE_BETA
        bal_w *= bin_sum > 1e-3 * bin_sum.max(axis=1, keepdims=True)
        bal_w *= (weight / (bal_w.sum(axis=1) + EPS))[:, None]
        in_phase_power = bal_w * in_phase

        def evidence(vote: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            """GCC in the ITD band and in the wide band (frames x lags), the level-balance votes (frames x bins)
            and the ITD-band bins' strengths, from bins weighted by ``vote``."""
            wide = _real_matmul(unit_ev * vote[:, eb], self.ev_matrix)
            wide /= (vote[:, eb].sum(axis=1) + EPS)[:, None]
            # Each bin votes with a weight growing as |S|^beta (beta 0 is pure PHAT): a tonal source whose
            # few bins stand well above a broadband neighbour's then still gets heard.
            strength = vote[:, ib] * (np.abs(sxy_s) + EPS) ** EVIDENCE_BETA
            itd = _real_matmul(phat * strength, self.gcc_matrix) / (strength.sum(axis=1) + EPS)[:, None]
            return (np.clip(itd, 0.0, None) * weight[:, None], np.clip(wide, 0.0, None) * weight[:, None],
                    in_phase_power * vote[:, db_], strength)

        gcc_pos, wide_pos, bin_w, strength = evidence(bin_vote)
        gcc_first, wide_first, bin_w_first, _strength = evidence(first_arrivals)  # Segments.gcc_first
        itd_bin_w = strength * (weight / (strength.sum(axis=1) + EPS))[:, None]
        wide_bin_w = audible * bin_vote[:, eb] * (weight / (bin_vote[:, eb].sum(axis=1) + EPS))[:, None]
        itd_bin_x = phat * itd_bin_w.astype(np.float32)
        wide_bin_x = unit_ev * wide_bin_w.astype(np.float32)
        n_balance = s.balance_bins
        idx = np.minimum((balance * n_balance).astype(np.int32), n_balance - 1)
        seg_id = (self.n_frames + np.arange(n_frames)) // s.segment_frames
        local = seg_id - seg_id[0]
        n_seg = int(local[-1]) + 1
        starts = np.flatnonzero(np.r_[True, np.diff(local) != 0])
        seg_gcc = np.add.reduceat(gcc_pos, starts, axis=0)
        seg_wide = np.add.reduceat(wide_pos, starts, axis=0)
        seg_itd_w = np.add.reduceat(itd_bin_w, starts, axis=0)
        seg_wide_w = np.add.reduceat(wide_bin_w, starts, axis=0)
        seg_itd_x = np.add.reduceat(itd_bin_x, starts, axis=0)
        seg_wide_x = np.add.reduceat(wide_bin_x, starts, axis=0)
        flat = (local[:, None] * n_balance + idx).ravel()
        seg_balance = np.bincount(flat, weights=bin_w.ravel(), minlength=n_seg * n_balance).reshape(n_seg, n_balance)
        seg_balance_first = np.bincount(flat, weights=bin_w_first.ravel(),
                                        minlength=n_seg * n_balance).reshape(n_seg, n_balance)
        seg_gcc_first = np.add.reduceat(gcc_first, starts, axis=0)
        seg_wide_first = np.add.reduceat(wide_first, starts, axis=0)
        seg_power = np.add.reduceat(power, starts)
        seg_band_l = np.add.reduceat(pl, starts, axis=0) @ self.band_matrix.T
        seg_band_r = np.add.reduceat(pr, starts, axis=0) @ self.band_matrix.T
        band_first = self.band_matrix[:, :vb].T  # no first arrivals are looked for above 8 kHz
        seg_band_l_first = np.add.reduceat(pl[:, :vb] * first_arrivals, starts, axis=0) @ band_first
        seg_band_r_first = np.add.reduceat(pr[:, :vb] * first_arrivals, starts, axis=0) @ band_first
        seg_count = np.bincount(local, minlength=n_seg)
        st = self.segments
        first = 0
        if st.count and int(seg_id[0]) == len(st.count) - 1:  # the last segment continues
            st.gcc[-1] += seg_gcc[0]
            st.gcc_wide[-1] += seg_wide[0]
            st.itd_bin_w[-1] += seg_itd_w[0]
            st.wide_bin_w[-1] += seg_wide_w[0]
            st.itd_bin_x[-1] += seg_itd_x[0]
            st.wide_bin_x[-1] += seg_wide_x[0]
            st.balance_hist[-1] += seg_balance[0]
            st.balance_first[-1] += seg_balance_first[0]
            st.gcc_first[-1] += seg_gcc_first[0]
            st.wide_first[-1] += seg_wide_first[0]
            st.power[-1] += float(seg_power[0])
            st.band_l[-1] += seg_band_l[0]
            st.band_r[-1] += seg_band_r[0]
            st.band_l_first[-1] += seg_band_l_first[0]
            st.band_r_first[-1] += seg_band_r_first[0]
            st.count[-1] += int(seg_count[0])
            first = 1
        for j in range(first, n_seg):
            st.gcc.append(seg_gcc[j].astype(np.float64))
            st.gcc_wide.append(seg_wide[j].astype(np.float64))
            st.itd_bin_w.append(seg_itd_w[j].astype(np.float64))
            st.wide_bin_w.append(seg_wide_w[j].astype(np.float64))
            st.itd_bin_x.append(seg_itd_x[j])
            st.wide_bin_x.append(seg_wide_x[j])
            st.balance_hist.append(seg_balance[j])
            st.balance_first.append(seg_balance_first[j])
            st.gcc_first.append(seg_gcc_first[j].astype(np.float64))
            st.wide_first.append(seg_wide_first[j].astype(np.float64))
            st.power.append(float(seg_power[j]))
            st.band_l.append(seg_band_l[j].astype(np.float64))
            st.band_r.append(seg_band_r[j].astype(np.float64))
            st.band_l_first.append(seg_band_l_first[j].astype(np.float64))
            st.band_r_first.append(seg_band_r_first[j].astype(np.float64))
            st.count.append(int(seg_count[j]))
        self.n_frames += n_frames

    def arrays(self) -> dict[str, np.ndarray]:
        """All per-frame cues measured so far, joined."""
        return {k: (np.concatenate(v) if v else np.zeros(0, np.float32)) for k, v in self.frames.items()}

    def segment_arrays(self) -> Segments:
        """The source evidence per segment, as arrays."""
        st, s = self.segments, self.s
        n_bands = len(s.ild_band_centres_hz)
        if not st.count:
            empty = np.zeros((0, len(self.lags)))
            return Segments(np.zeros(0), empty, empty, np.zeros((0, s.balance_bins)),
                            np.zeros(0), np.zeros((0, n_bands)), self.lag_s * 1000.0)
        count = np.asarray(st.count, dtype=float)
        t = (np.arange(len(count)) * s.segment_frames + count / 2.0) * s.hop_s
        band_ild = 10 * np.log10((np.vstack(st.band_r) + EPS) / (np.vstack(st.band_l) + EPS))
        mean_power = np.asarray(st.power) / np.maximum(count, 1)
        return Segments(t, np.vstack(st.gcc), np.vstack(st.gcc_wide), np.vstack(st.balance_hist), mean_power,
                        band_ild, self.lag_s * 1000.0,
                        itd_bin_w=np.vstack(st.itd_bin_w), itd_freqs_hz=self.freqs[self.itd_bins],
                        wide_bin_w=np.vstack(st.wide_bin_w), wide_freqs_hz=self.freqs[self.ev_slice],
                        itd_bin_x=np.vstack(st.itd_bin_x), wide_bin_x=np.vstack(st.wide_bin_x),
                        gcc_first=np.vstack(st.gcc_first), wide_first=np.vstack(st.wide_first),
                        balance_first=np.vstack(st.balance_first),
                        band_l_first=np.vstack(st.band_l_first), band_r_first=np.vstack(st.band_r_first))


class MonoCueMeter(CueMeter):
    """Only the level, spectral centroid and pitch frames of :class:`CueMeter`, for a signal fed as two identical
    channels (a source separated from a recording): the same frames and values, from one channel's spectrum,
    without the two-channel cues and source evidence that such a signal cannot carry. ``arrays()`` holds
    ``level_dbfs``, ``centroid_hz`` and ``pitch_hz``; the other cues and the segments stay empty."""

    def _frames(self, buf: np.ndarray, n_frames: int) -> None:
        spec = self._spectra(buf[:, :1], n_frames)[0]
        power = spec.real**2 + spec.imag**2
        # As CueMeter reads two identical channels: their mean square is one's, their summed spectrum twice one's.
        level = 10 * np.log10(power.sum(axis=1) * (2.0 / (self.s.n_fft * self.win_power)) + EPS)
        p = power[:, : self.n_bins]
        centroid, pitch = self._centroid_and_pitch(p + p)
        nan = np.where(level < -90.0, np.nan, 1.0)
        self.frames["level_dbfs"].append(np.maximum(level, -120).astype(np.float32))
        self.frames["centroid_hz"].append((centroid * nan).astype(np.float32))
        self.frames["pitch_hz"].append((pitch * nan).astype(np.float32))
        self.n_frames += n_frames


def _band_slice(freqs: np.ndarray, lo_hz: float, hi_hz: float) -> slice:
    """The bins of ``freqs`` (ascending) from ``lo_hz`` to ``hi_hz`` inclusive, as a slice."""
    return slice(int(np.searchsorted(freqs, lo_hz, side="left")), int(np.searchsorted(freqs, hi_hz, side="right")))


def _real_part_matrix(m: np.ndarray) -> np.ndarray:
    """``m`` (bins x lags, complex) laid out so that :func:`_real_matmul` gives ``Re(x @ m)``."""
    out = np.empty((2 * m.shape[0], m.shape[1]), np.float32)
    out[0::2], out[1::2] = m.real, -m.imag
    return out


def _real_matmul(x: np.ndarray, m_real: np.ndarray) -> np.ndarray:
    """``Re(x @ m)`` for complex64 ``x`` (frames x bins): one real product on x's (re, im) pairs.

    Half the work of a complex product whose imaginary part is thrown away.
    """
    x = np.ascontiguousarray(x, dtype=np.complex64)
    return x.view(np.float32) @ m_real


def _one_pole(x: np.ndarray, alpha: float, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y[n] = alpha * y[n-1] + (1 - alpha) * x[n] along axis 0, starting from ``state``."""
    b, a = [1.0 - alpha], [1.0, -alpha]
    # lfilter runs along contiguous rows several times faster than down strided columns.
    rows = np.ascontiguousarray(np.moveaxis(x, 0, -1))
    zi = (alpha * state)[..., None]
    y, zf = signal.lfilter(b, a, rows, axis=-1, zi=zi)
    y = np.ascontiguousarray(np.moveaxis(y, -1, 0)).astype(x.dtype, copy=False)
    return y, zf[..., 0] / alpha if alpha else zf[..., 0]
