"""Render a scene: sources on trajectories, heard by a dummy head, a spaced pair or a pan-pot mixer.

Propagation is physical for every kind: each source's signal reaches a receiver after distance/c
seconds (a per-sample, fractional, time-varying delay) with 1/r gain, so a moving source shows
Doppler and level change by itself. Binaural scenes then filter each short block with the HRIR of the
block's direction (overlap-added with Hann windows); spaced pairs compute the path to each omni
microphone separately (ITD up to d/c, little ILD); pan-pot scenes pan the delayed signal with a
constant-power sine law (no ITD). A diffuse reverberant tail with the scene's RT60 can be added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from engine.audio.model import Motion, side_for_azimuth
from engine.scenes.hrir import HrirSet, default_hrirs
from engine.scenes.signals import make_signal

SPEED_OF_SOUND_M_S = 343.0
KINDS = ("binaural", "spaced", "panpot")
#: Reverberant energy relative to the direct sound at 1 m (dB): a critical distance of about 4 m.
REVERB_LEVEL_DB = -13.0


@dataclass
class SourceSpec:
    """One source: its signal type and a straight trajectory in azimuth and distance."""

    type: str
    azimuth_start_deg: float
    azimuth_end_deg: float
    distance_start_m: float
    distance_end_m: float
    motion: Motion = Motion.STATIONARY
    gain_db: float = 0.0
    seed: int = 0

    def truth(self, source_id: int) -> dict:
        mean_az = (self.azimuth_start_deg + self.azimuth_end_deg) / 2
        return {
            "id": source_id,
            "type": self.type,
            "motion": self.motion.value,
            "side": side_for_azimuth(mean_az).value,
            "side_start": side_for_azimuth(self.azimuth_start_deg).value,
            "side_end": side_for_azimuth(self.azimuth_end_deg).value,
            "azimuth_start_deg": round(self.azimuth_start_deg, 2),
            "azimuth_end_deg": round(self.azimuth_end_deg, 2),
            "distance_start_m": round(self.distance_start_m, 2),
            "distance_end_m": round(self.distance_end_m, 2),
        }


@dataclass
class SceneSpec:
    """A scene: how it is recorded, how long, in what room, and its sources."""

    kind: str = "binaural"
    duration_s: float = 6.0
    rate: int = 48000
    rt60_s: float = 0.0
    spacing_m: float = 0.4
    sources: list[SourceSpec] = field(default_factory=list)
    seed: int = 0


def _positions(src: SourceSpec, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (x right, y ahead) in metres along the source's trajectory."""
    frac = np.linspace(0.0, 1.0, n)
    az = np.radians(src.azimuth_start_deg + (src.azimuth_end_deg - src.azimuth_start_deg) * frac)
    dist = src.distance_start_m + (src.distance_end_m - src.distance_start_m) * frac
    return dist * np.sin(az), dist * np.cos(az)


def _propagate(dry: np.ndarray, distance_m: np.ndarray, rate: int) -> np.ndarray:
    """The dry signal heard at the receiver: emitted at the retarded time, with 1/r gain.

    ``distance_m[i]`` is the source-receiver distance at sample i. What arrives at time t left the
    source at τ with t = τ + r(τ)/c; three fixed-point steps solve that to far below a sample, which
    gives the exact moving-source Doppler f·c/(c − v) rather than its first-order approximation.
    """
    n = dry.size
    samples = np.arange(n, dtype=np.float64)
    emitted = samples - distance_m / SPEED_OF_SOUND_M_S * rate
    for _ in range(3):
        emitted = samples - np.interp(emitted, samples, distance_m) / SPEED_OF_SOUND_M_S * rate
    heard = np.interp(emitted, samples, dry, left=0.0, right=0.0)
    return heard / np.maximum(np.interp(emitted, samples, distance_m), 0.3)


def _binaural(heard: np.ndarray, azimuth_deg: np.ndarray, hrirs: HrirSet, block: int = 1024) -> np.ndarray:
    """Time-varying HRIR filtering: Hann-windowed blocks at 50% overlap, each with its own HRIR."""
    n = heard.size
    hop = block // 2
    window = np.hanning(block + 1)[:-1]  # sums to one at 50% overlap
    taps = hrirs.irs.shape[-1]
    padded = np.concatenate([np.zeros(hop), heard, np.zeros(block)])
    out = np.zeros((padded.size + block + taps, 2))
    for start in range(0, n + hop, hop):
        seg = padded[start : start + block] * window
        centre = min(n - 1, max(0, start - hop + block // 2))
        ir = hrirs.nearest(float(azimuth_deg[centre]))
        out[start : start + block + taps - 1] += signal.oaconvolve(seg[:, None], ir.T, axes=0)
    return out[hop : hop + n]


def _reverb_tail(dry: np.ndarray, rate: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """A diffuse tail: exponentially decaying noise, independent per channel, at REVERB_LEVEL_DB."""
    length = int(rate * rt60_s * 1.2)
    t = np.arange(length) / rate
    decay = np.exp(-6.91 * t / rt60_s)
    onset = np.clip(t / 0.01, 0, 1)  # the tail builds up after the direct sound
    tail = rng.standard_normal((length, 2)) * (decay * onset)[:, None]
    tail /= np.sqrt(np.sum(tail**2, axis=0, keepdims=True))
    wet = signal.oaconvolve(dry[:, None], tail, axes=0)[: dry.size]
    return wet * 10 ** (REVERB_LEVEL_DB / 20)


def render_scene(spec: SceneSpec, hrirs: HrirSet | None = None) -> tuple[np.ndarray, int]:
    """Stereo float32 (n, 2) of the scene at ``spec.rate``, peak-normalised to −3 dBFS."""
    if spec.kind not in KINDS:
        raise ValueError(f"unknown recording kind {spec.kind!r}; expected one of {', '.join(KINDS)}")
    rate, n = spec.rate, int(spec.rate * spec.duration_s)
    rng = np.random.default_rng(spec.seed)
    if spec.kind == "binaural" and hrirs is None:
        hrirs = default_hrirs(rate)
    mix = np.zeros((n, 2))
    for src in spec.sources:
        dry = make_signal(src.type, rate, spec.duration_s, src.seed).astype(np.float64)
        dry *= 10 ** (src.gain_db / 20)
        x, y = _positions(src, n)
        if spec.kind == "spaced":
            half = spec.spacing_m / 2
            for ch, mic_x in enumerate((-half, half)):
                mix[:, ch] += _propagate(dry, np.hypot(x - mic_x, y), rate)
        else:
            heard = _propagate(dry, np.hypot(x, y), rate)
            azimuth = np.degrees(np.arctan2(x, y))
            if spec.kind == "binaural":
                mix += _binaural(heard, azimuth, hrirs)
            else:
                phi = (azimuth + 90.0) / 180.0 * (np.pi / 2)
                mix += heard[:, None] * np.stack([np.cos(phi), np.sin(phi)], axis=1)
        if spec.rt60_s > 0:
            mix += _reverb_tail(dry, rate, spec.rt60_s, rng)
    mix += rng.standard_normal(mix.shape) * 1e-5  # a quiet noise floor, as every recording has
    peak = float(np.max(np.abs(mix))) or 1.0
    return (mix / peak * 10 ** (-3 / 20)).astype(np.float32), rate
