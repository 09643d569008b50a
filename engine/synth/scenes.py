"""Physically rendered stereo scenes: moving sources, three microphone set-ups and an optional room.

Geometry (top view, listener at the origin): x points right, y points ahead, so a source at azimuth ``az``
(project convention: negative = left) and distance ``r`` sits at ``(r·sin az, r·cos az)``.

Each source is rendered from the samples it *emitted*: for every output sample at time ``t`` and every
receiver (the head centre, or each microphone of a spaced pair) we solve ``t_e = t - |p(t_e) - m| / c`` for the
emission time ``t_e``, read the dry signal there with cubic interpolation and scale by ``1/r``. Doppler shift,
the travel-time lag and the level change with distance therefore arise from the geometry alone.

Recording kinds:

* ``binaural`` — the head-centre signal goes through time-varying HRIRs (Hann-windowed 42 ms frames, hop 21 ms,
  each convolved with the HRIR of its centre azimuth and overlap-added: a smooth crossfade along the path).
* ``spaced`` — two omnidirectional microphones 0.4 m apart on the x axis; each has its own distance, so the ITD
  is up to d/c ≈ 1.17 ms and the ILD is only the small 1/r difference.
* ``panpot`` — a mono microphone at the listener, panned with the constant-power sine/cosine law
  (pan position = azimuth/90°): level differences only, zero ITD.

A room (``rt60_s > 0``) adds six early reflections from random directions and a diffuse, exponentially
decaying tail decorrelated between channels. Its energy does not depend on the source distance while the direct
sound falls as 1/r², so the direct-to-reverberant ratio is ``20·log10(r_c / r)`` dB with the critical distance
``r_c = 0.057·sqrt(V / RT60)`` (Sabine) for a room of volume V.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import butter, oaconvolve, sosfilt

from engine.errors import InputError
from engine.synth.hrir import SPEED_OF_SOUND_M_S, HrirSet, default_hrirs
from engine.synth.signals import SOURCE_TYPES, make_signal

KINDS = ("binaural", "spaced", "panpot")
PATHS = ("arc", "line")
MOTIONS = ("stationary", "moving_left", "moving_right", "approaching", "receding")
SIDE_LIMIT_DEG = 15.0
#: Thresholds that make a motion label unambiguous (see :func:`motion_label`).
MIN_SWEEP_DEG = 50.0
MIN_DISTANCE_RATIO = 4.0
MAX_APPROACH_SWEEP_DEG = 10.0
MAX_SWEEP_DISTANCE_RATIO = 1.5

_BLOCK_HOP_S = 0.02  # HRIR update interval; frames are twice as long (Hann, 50 % overlap)
_REFERENCE_RMS = 0.1  # every source is brought to this active RMS (before 1/r) so mixes are balanced


@dataclass
class SourceSpec:
    """One sound source and its path.

    ``path="arc"``: azimuth and distance change linearly in time from start to end (a constant-distance arc is
    a pure azimuth sweep with no Doppler). ``path="line"``: the source moves at constant speed on the straight
    line between the start and end points (a drive-by: nearest in the middle, Doppler from high to low).
    ``None`` end values mean "same as start" (stationary).
    """

    type: str
    azimuth_start_deg: float
    azimuth_end_deg: float | None = None
    distance_start_m: float = 3.0
    distance_end_m: float | None = None
    seed: int = 0
    gain_db: float = 0.0
    path: str = "arc"

    def __post_init__(self) -> None:
        if self.azimuth_end_deg is None:
            self.azimuth_end_deg = self.azimuth_start_deg
        if self.distance_end_m is None:
            self.distance_end_m = self.distance_start_m
        if self.type not in SOURCE_TYPES:
            raise InputError(f"source type {self.type!r} is unknown; expected one of {', '.join(sorted(SOURCE_TYPES))}")
        for name in ("azimuth_start_deg", "azimuth_end_deg"):
            value = float(getattr(self, name))
            if not -90.0 <= value <= 90.0:
                raise InputError(f"source {name} is {value}; expected degrees in [-90, 90] (negative = left)")
        for name in ("distance_start_m", "distance_end_m"):
            value = float(getattr(self, name))
            if not 0.5 <= value <= 1000.0:
                raise InputError(f"source {name} is {value}; expected metres in [0.5, 1000]")
        if self.path not in PATHS:
            raise InputError(f"source path {self.path!r} is unknown; expected one of {', '.join(PATHS)}")
        if self.path == "line":
            t = np.linspace(0.0, 1.0, 1001)
            x, y = _path_xy(self, t)
            if np.min(np.hypot(x, y)) < 0.5:
                raise InputError("source path 'line' passes within 0.5 m of the listener; move its end points")


@dataclass
class SceneSpec:
    """A scene: recording kind, length, room and sources. ``seed`` drives the room and the noise floor."""

    kind: str
    duration_s: float
    sources: list[SourceSpec]
    sample_rate: int = 48000
    rt60_s: float = 0.0
    seed: int = 0
    room_volume_m3: float = 500.0
    mic_spacing_m: float = 0.4
    peak_dbfs: float = -3.0
    noise_floor_dbfs: float = -72.0
    hrir_path: str | None = None  # None: the default MIT KEMAR file, else the spherical-head model

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"scene kind {self.kind!r} is unknown; expected one of {', '.join(KINDS)}")
        if not 0.1 <= float(self.duration_s) <= 600.0:
            raise InputError(f"scene duration_s is {self.duration_s}; expected seconds in [0.1, 600]")
        if not 8000 <= int(self.sample_rate) <= 192000:
            raise InputError(f"scene sample_rate is {self.sample_rate}; expected Hz in [8000, 192000]")
        if not 0.0 <= float(self.rt60_s) <= 5.0:
            raise InputError(f"scene rt60_s is {self.rt60_s}; expected seconds in [0, 5] (0 = no room)")
        if not self.sources:
            raise InputError("scene sources is empty; expected at least one source")
        if not 0.05 <= float(self.mic_spacing_m) <= 2.0:
            raise InputError(f"scene mic_spacing_m is {self.mic_spacing_m}; expected metres in [0.05, 2]")
        if not float(self.room_volume_m3) > 0:
            raise InputError(f"scene room_volume_m3 is {self.room_volume_m3}; expected a positive volume")

    def critical_distance_m(self) -> float | None:
        """Distance at which direct and reverberant energy are equal (Sabine), or None for a dry scene."""
        if self.rt60_s <= 0:
            return None
        return 0.057 * math.sqrt(self.room_volume_m3 / self.rt60_s)


# --- geometry -------------------------------------------------------------------------------------------------


def _path_xy(src: SourceSpec, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source position (x right, y ahead; metres) at path fraction 0..1."""
    u = np.clip(fraction, 0.0, 1.0)
    if src.path == "arc":
        az = np.deg2rad(src.azimuth_start_deg + u * (src.azimuth_end_deg - src.azimuth_start_deg))
        r = src.distance_start_m + u * (src.distance_end_m - src.distance_start_m)
        return r * np.sin(az), r * np.cos(az)
    a0, a1 = np.deg2rad(src.azimuth_start_deg), np.deg2rad(src.azimuth_end_deg)
    x0, y0 = src.distance_start_m * np.sin(a0), src.distance_start_m * np.cos(a0)
    x1, y1 = src.distance_end_m * np.sin(a1), src.distance_end_m * np.cos(a1)
    return x0 + u * (x1 - x0), y0 + u * (y1 - y0)


def azimuth_track_deg(src: SourceSpec, times_s: np.ndarray, duration_s: float) -> np.ndarray:
    """The source's azimuth (degrees, negative = left) at the given times of a scene of ``duration_s``."""
    x, y = _path_xy(src, np.asarray(times_s, dtype=np.float64) / duration_s)
    return np.rad2deg(np.arctan2(x, y))


def distance_track_m(src: SourceSpec, times_s: np.ndarray, duration_s: float) -> np.ndarray:
    """The source's distance from the listener (metres) at the given times."""
    x, y = _path_xy(src, np.asarray(times_s, dtype=np.float64) / duration_s)
    return np.hypot(x, y)


def side_of(azimuth_deg: float) -> str:
    """``left`` below -15°, ``right`` above 15°, else ``center`` (SPEC.md)."""
    if azimuth_deg < -SIDE_LIMIT_DEG:
        return "left"
    if azimuth_deg > SIDE_LIMIT_DEG:
        return "right"
    return "center"


def motion_label(src: SourceSpec) -> str | None:
    """The ground-truth motion of a source, or None when its path fits no label unambiguously.

    moving_left/right: azimuth sweep ≥ 50° with end distances within a factor 1.5; approaching/receding:
    distance changes by a factor ≥ 4 with an azimuth change < 10°; stationary: start equals end.
    """
    sweep_deg = src.azimuth_end_deg - src.azimuth_start_deg
    ratio = src.distance_end_m / src.distance_start_m
    if sweep_deg == 0 and ratio == 1:
        return "stationary"
    if abs(sweep_deg) >= MIN_SWEEP_DEG and max(ratio, 1 / ratio) <= MAX_SWEEP_DISTANCE_RATIO:
        return "moving_right" if sweep_deg > 0 else "moving_left"
    if abs(sweep_deg) < MAX_APPROACH_SWEEP_DEG and max(ratio, 1 / ratio) >= MIN_DISTANCE_RATIO:
        return "approaching" if ratio < 1 else "receding"
    return None


def source_truth(src: SourceSpec, duration_s: float, source_id: int) -> dict:
    """Ground-truth record of one source (the ``sources`` entries of a bench scene's JSON)."""
    times_s = np.linspace(0.0, duration_s, 401)
    mean_azimuth_deg = float(np.mean(azimuth_track_deg(src, times_s, duration_s)))
    return {
        "id": source_id,
        "type": src.type,
        "motion": motion_label(src),
        "side": side_of(mean_azimuth_deg),
        "side_start": side_of(src.azimuth_start_deg),
        "side_end": side_of(src.azimuth_end_deg),
        "azimuth_start_deg": round(float(src.azimuth_start_deg), 3),
        "azimuth_end_deg": round(float(src.azimuth_end_deg), 3),
        "azimuth_mean_deg": round(mean_azimuth_deg, 3),
        "distance_start_m": round(float(src.distance_start_m), 3),
        "distance_end_m": round(float(src.distance_end_m), 3),
        "distance_min_m": round(float(np.min(distance_track_m(src, times_s, duration_s))), 3),
        "path": src.path,
        "gain_db": round(float(src.gain_db), 3),
        "seed": int(src.seed),
    }


# --- signal paths -------------------------------------------------------------------------------------------


def _emission_times(
    src: SourceSpec, times_s: np.ndarray, duration_s: float, receiver_x_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``t_e = t - |p(t_e) - m| / c`` for a receiver at ``(receiver_x_m, 0)``.

    Fixed-point iteration contracts by v/c per step, so three steps are exact to far below a sample for any
    road speed. Returns emission times, source-receiver distances and the source azimuth seen from the
    receiver's position at the emission time.
    """
    emitted_s = times_s
    for _ in range(4):
        x, y = _path_xy(src, emitted_s / duration_s)
        distance_m = np.hypot(x - receiver_x_m, y)
        emitted_s = times_s - distance_m / SPEED_OF_SOUND_M_S
    x, y = _path_xy(src, emitted_s / duration_s)
    return emitted_s, np.hypot(x - receiver_x_m, y), np.rad2deg(np.arctan2(x, y))


@functools.lru_cache(maxsize=4)
def _interpolation_table(half_taps: int, steps: int) -> np.ndarray:
    """Fractional-delay filter weights ``[steps + 1, 2·half_taps]`` for fractions 0, 1/steps, ..., 1."""
    frac = np.arange(steps + 1)[:, None] / steps
    offset = np.arange(-half_taps + 1, half_taps + 1)[None, :] - frac
    cutoff = 0.9
    weights = cutoff * np.sinc(cutoff * offset) * np.sinc(offset / half_taps)
    return weights / weights.sum(axis=1, keepdims=True)  # unit DC gain for every fraction


def _read_fractional(signal: np.ndarray, position: np.ndarray, half_taps: int = 8) -> np.ndarray:
    """``signal`` at fractional sample positions; zero outside the signal.

    A 16-tap Lanczos-windowed sinc (cut-off 0.9 × Nyquist), with the fraction quantised to 1/2048 sample. A cubic
    interpolator would do for the delay itself, but its high-frequency loss depends on the fractional part,
    which differs between the two microphones and would fake an ILD of a dB or more on broadband sounds.
    """
    steps = 2048
    index = np.floor(position).astype(np.int64)
    fraction_step = np.rint((position - index) * steps).astype(np.int64)
    outside = (index < -half_taps) | (index >= len(signal) + half_taps)
    index = np.clip(index, -half_taps, len(signal) + half_taps - 1)
    padded = np.concatenate([np.zeros(2 * half_taps), signal, np.zeros(2 * half_taps + 1)])
    base = index + 2 * half_taps
    table = _interpolation_table(half_taps, steps)
    out = np.zeros(len(position))
    for column, k in enumerate(range(-half_taps + 1, half_taps + 1)):
        out += table[fraction_step, column] * padded[base + k]
    out[outside] = 0.0
    return out


def _binaural_blocks(heard: np.ndarray, azimuth_deg: np.ndarray, hrirs: HrirSet) -> np.ndarray:
    """Time-varying HRIR filtering: Hann frames (hop H, length 2H) each convolved with its own HRIR pair.

    Periodic Hann windows at 50 % overlap sum to one, so a fixed azimuth gives exactly the plain convolution;
    a moving one crossfades between HRIRs every H samples. Returns ``[2, n]``.
    """
    n = len(heard)
    hop = max(64, round(_BLOCK_HOP_S * hrirs.sample_rate))
    frame = 2 * hop
    padded = np.concatenate([np.zeros(hop), heard, np.zeros(2 * hop)])
    frames = sliding_window_view(padded, frame)[::hop]
    count = frames.shape[0]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)  # periodic Hann
    centres = np.clip(np.arange(count) * hop, 0, n - 1)  # frame k is centred on original sample k·hop
    taps = hrirs.taps
    nfft = 1 << int(np.ceil(np.log2(frame + taps - 1)))
    chunks = -(-nfft // hop)
    spectra = np.fft.rfft(frames * window, nfft)[:, None, :] * np.fft.rfft(hrirs.at(azimuth_deg[centres]), nfft)
    blocks = np.fft.irfft(spectra, nfft)  # [count, 2, nfft]
    blocks = np.pad(blocks, ((0, 0), (0, 0), (0, chunks * hop - nfft)))
    out = np.zeros((2, (count + chunks) * hop))
    for j in range(chunks):  # overlap-add in hop-sized chunks: a few vector adds instead of a frame loop
        part = blocks[:, :, j * hop : (j + 1) * hop]  # [count, 2, hop]
        out[:, (j * hop) : (j + count) * hop] += part.transpose(1, 0, 2).reshape(2, -1)
    return out[:, hop : hop + n]


def _pan_gains(azimuth_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Constant-power sine/cosine pan law; pan position azimuth/90 maps -90° to hard left."""
    angle = (np.clip(azimuth_deg, -90.0, 90.0) / 90.0 + 1.0) * np.pi / 4
    return np.cos(angle), np.sin(angle)


def _direction_ir(kind: str, azimuth_deg: float, rate: int, hrirs: HrirSet | None, spacing_m: float) -> np.ndarray:
    """Static far-field response ``[2, taps]`` of the recording set-up to a plane wave from ``azimuth_deg``."""
    if kind == "binaural":
        return hrirs.at(azimuth_deg).astype(np.float64)
    if kind == "spaced":
        half_tdoa = 0.5 * spacing_m * math.sin(math.radians(azimuth_deg)) / SPEED_OF_SOUND_M_S * rate
        centre = math.ceil(spacing_m / SPEED_OF_SOUND_M_S * rate) + 1
        ir = np.zeros((2, 2 * centre + 1))
        ir[0, round(centre + half_tdoa)] = 1.0  # left mic is farther from a source on the right
        ir[1, round(centre - half_tdoa)] = 1.0
        return ir
    left, right = _pan_gains(np.array([azimuth_deg]))
    return np.array([[left[0]], [right[0]]])


def room_response(
    kind: str, rt60_s: float, rate: int, rng: np.random.Generator, hrirs: HrirSet | None = None, spacing_m: float = 0.4
) -> np.ndarray:
    """A stereo room impulse response ``[2, L]`` with unit gain below a few kHz (direct sound excluded).

    Six early reflections (4–30 ms after the direct sound, from random directions rendered like the direct
    sound, 30 % of the energy) and a late tail of independent Gaussian noise per channel decaying by 60 dB in
    ``rt60_s`` (70 %), low-passed at 6 kHz because walls and air absorb the highs first.
    """
    length = int((1.2 * rt60_s + 0.05) * rate)
    t = np.arange(length) / rate
    early = np.zeros((2, length + 4096))
    gains = np.array([rng.uniform(0.5, 1.0) * 10 ** (-3 * d / rt60_s) for d in rng.uniform(0.004, 0.030, 6)])
    delays_s = rng.uniform(0.004, 0.030, len(gains))
    # Scale by the reflection gains, not by the response energy: the direction responses are calibrated
    # (unity at low frequencies), and an HRIR's pinna boost must not turn the reflections down.
    gains *= math.sqrt(0.3 / np.sum(gains**2))
    for gain, delay_s in zip(gains, delays_s, strict=True):
        response = _direction_ir(kind, rng.uniform(-90, 90), rate, hrirs, spacing_m)
        start = int(delay_s * rate)
        early[:, start : start + response.shape[1]] += gain * response
    early = early[:, :length]
    onset = np.clip((t - 0.008) / 0.02, 0.0, 1.0)  # the diffuse tail builds up after the first reflections
    late = rng.standard_normal((2, length)) * 10 ** (-3 * t / rt60_s) * onset
    # Normalise before the low-pass, so the pass band keeps unit gain and the absorbed highs are simply lost.
    late *= math.sqrt(0.7 / max(np.mean(np.sum(late**2, axis=-1)), 1e-12))
    late = sosfilt(butter(1, min(6000.0, 0.45 * rate), fs=rate, output="sos"), late, axis=-1)
    return early + late


def _active_rms(x: np.ndarray, rate: int) -> float:
    """RMS over the 20 ms frames within 40 dB of the loudest one (speech pauses do not count)."""
    hop = max(1, int(0.02 * rate))
    frames = x[: len(x) // hop * hop].reshape(-1, hop) if len(x) >= hop else x[None, :]
    power = np.mean(frames**2, axis=1)
    active = power[power >= power.max() * 1e-4] if power.max() > 0 else power
    return float(np.sqrt(np.mean(active))) if active.size else 0.0


def _render_source(spec: SceneSpec, src: SourceSpec, hrirs: HrirSet | None, rng: np.random.Generator) -> np.ndarray:
    rate = spec.sample_rate
    n = round(spec.duration_s * rate)
    times_s = np.arange(n) / rate
    # The dry signal must cover what was emitted before t = 0 and is still on its way at the start.
    far_m = max(src.distance_start_m, src.distance_end_m) + spec.mic_spacing_m
    preroll_s = far_m / SPEED_OF_SOUND_M_S + 0.01
    dry = make_signal(src.type, spec.duration_s + preroll_s, rate, src.seed).astype(np.float64)
    dry *= _REFERENCE_RMS * 10 ** (src.gain_db / 20) / max(_active_rms(dry, rate), 1e-9)

    def heard_at(receiver_x_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        emitted_s, distance_m, azimuth_deg = _emission_times(src, times_s, spec.duration_s, receiver_x_m)
        unattenuated = _read_fractional(dry, (emitted_s + preroll_s) * rate)
        return unattenuated, unattenuated / distance_m, azimuth_deg

    critical_m = spec.critical_distance_m()
    if spec.kind == "spaced":
        half = spec.mic_spacing_m / 2
        out = np.stack([heard_at(-half)[1], heard_at(half)[1]])
    else:
        centre_signal, centre_heard, centre_azimuth = heard_at(0.0)
        if spec.kind == "binaural":
            out = _binaural_blocks(centre_heard, centre_azimuth, hrirs)
        else:
            left, right = _pan_gains(centre_azimuth)
            out = np.stack([centre_heard * left, centre_heard * right])

    if critical_m is not None:
        if spec.kind == "spaced":  # the room is fed from the pair's midpoint
            centre_signal = heard_at(0.0)[0]
        room = room_response(spec.kind, spec.rt60_s, rate, rng, hrirs, spec.mic_spacing_m)
        # Diffuse energy independent of distance: 1/r_c² against the direct sound's 1/r².
        reverb = oaconvolve(centre_signal[None, :], room, axes=-1)[:, :n] / critical_m
        out = out + reverb
    return out


def render_scene(spec: SceneSpec, hrirs: HrirSet | None = None) -> tuple[np.ndarray, int]:
    """Render ``spec`` to ``(stereo, sample_rate)``: float32 ``[n, 2]`` (left, right), peak at ``spec.peak_dbfs``.

    ``hrirs`` overrides the binaural HRIR set (default: :func:`default_hrirs` for ``spec.hrir_path``, which falls
    back to the spherical-head model when the SOFA file is missing). Deterministic for a given spec.
    """
    rate = int(spec.sample_rate)
    if spec.kind == "binaural" and hrirs is None:
        hrirs = scene_hrirs(spec)
    if hrirs is not None and hrirs.sample_rate != rate:
        raise InputError(f"HRIR set {hrirs.name} is at {hrirs.sample_rate} Hz; the scene is at {rate} Hz")
    n = round(spec.duration_s * rate)
    mix = np.zeros((2, n))
    for index, src in enumerate(spec.sources):
        rng = np.random.default_rng([spec.seed, index, 1])
        mix += _render_source(spec, src, hrirs, rng)
    peak = float(np.max(np.abs(mix)))
    if peak > 0:
        mix *= 10 ** (spec.peak_dbfs / 20) / peak
    noise_rng = np.random.default_rng([spec.seed, 2**16])
    mix += 10 ** (spec.noise_floor_dbfs / 20) * noise_rng.standard_normal((2, n))  # independent mic/preamp hiss
    return np.ascontiguousarray(mix.T, dtype=np.float32), rate


def scene_hrirs(spec: SceneSpec) -> HrirSet:
    """The HRIR set a binaural rendering of ``spec`` uses (measured when available, else spherical model)."""
    return default_hrirs(spec.sample_rate, spec.hrir_path)
