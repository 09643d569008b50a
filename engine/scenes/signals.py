"""Dry source signals of several kinds, deterministic for a seed: speech, engine, instrument, siren, drums."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

SOURCE_TYPES = ("speech", "engine", "instrument", "siren", "percussion")

_SENTENCES = (
    "The train to the harbour leaves from platform four in ten minutes.",
    "Please keep your tickets ready and mind the gap when you step on board.",
    "Welcome to the workshop, today we listen to where sounds come from.",
    "A red car drives past the bakery while the bells start ringing.",
    "Turn left at the fountain and follow the music to the old theatre.",
)


def _normalise(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    return (x / rms * 0.1).astype(np.float32)


def _loop_to(x: np.ndarray, n: int) -> np.ndarray:
    reps = int(np.ceil(n / max(1, x.size)))
    return np.tile(x, reps)[:n]


def speech(rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Spoken sentences from espeak-ng; a formant-synthesised babble when espeak-ng is missing."""
    n = int(rate * seconds)
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe:
        text = " ".join(rng.choice(_SENTENCES, size=3, replace=False))
        voice = str(rng.choice(["en", "en-us", "en+f3", "en+m3"]))
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            result = subprocess.run(
                [exe, "-v", voice, "-s", str(int(rng.integers(140, 180))), "-w", str(wav), text],
                capture_output=True, timeout=60,
            )
            if result.returncode == 0 and wav.exists():
                data, file_rate = sf.read(wav, dtype="float64")
                ratio = Fraction(rate, int(file_rate))
                data = signal.resample_poly(data, ratio.numerator, ratio.denominator)
                return _normalise(_loop_to(data, n))
    # Fallback: voiced babble, a glottal pulse train through two moving formants, syllable by syllable.
    t = np.arange(n) / rate
    f0 = 120 + 25 * np.sin(2 * np.pi * 0.7 * t)
    pulses = signal.sawtooth(2 * np.pi * np.cumsum(f0) / rate)
    out = np.zeros(n)
    for lo, hi in ((300, 900), (900, 2400)):
        centre = lo + (hi - lo) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 4) * t))
        b, a = signal.iirpeak(float(np.median(centre)), 4.0, fs=rate)
        out += signal.lfilter(b, a, pulses)
    syllables = (np.sin(2 * np.pi * 4.0 * t) > -0.2).astype(float)
    return _normalise(out * signal.savgol_filter(syllables, 801, 2))


def engine(rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A combustion engine: firing harmonics with jitter, over low-passed rumble noise."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    firing_hz = rng.uniform(28, 45) * (1 + 0.04 * np.sin(2 * np.pi * 0.3 * t))
    phase = 2 * np.pi * np.cumsum(firing_hz) / rate
    tone = sum(np.sin(k * phase + rng.uniform(0, 6.28)) / k**0.7 for k in range(1, 40))
    b, a = signal.butter(2, [80, 3000], btype="band", fs=rate)
    noise = signal.lfilter(b, a, rng.standard_normal(n))
    return _normalise(tone + 2.5 * noise / (np.std(noise) or 1))


def instrument(rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A plucked / bowed melodic line: harmonic notes from a major scale with attack and decay."""
    n = int(rate * seconds)
    out = np.zeros(n)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    base = rng.uniform(196, 330)
    note_s = rng.uniform(0.25, 0.5)
    bowed = rng.random() < 0.5
    for start in range(0, n, int(note_s * rate)):
        length = min(int(note_s * rate * 1.6), n - start)
        tt = np.arange(length) / rate
        f = base * 2 ** (rng.choice(scale) / 12)
        env = (1 - np.exp(-tt / 0.01)) * (np.exp(-tt / 0.6) if not bowed else np.ones_like(tt))
        vib = 1 + (0.004 * np.sin(2 * np.pi * 5.5 * tt) if bowed else np.zeros_like(tt))
        note = sum(np.sin(2 * np.pi * f * k * np.cumsum(vib) / rate) / k**1.2 for k in range(1, 14))
        out[start : start + length] += env * note
    return _normalise(out)


def siren(rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A two-tone or wailing siren with a few harmonics."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    if rng.random() < 0.5:
        f = np.where((t * rng.uniform(0.8, 1.4)) % 1 < 0.5, 650.0, 870.0)
    else:
        f = 900 + 450 * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * t)
    phase = 2 * np.pi * np.cumsum(f) / rate
    return _normalise(sum(np.sin(k * phase) / k for k in (1, 2, 3, 4, 5)))


def percussion(rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A drum pattern: kicks (decaying low sine sweeps), snares and hats (noise bursts)."""
    n = int(rate * seconds)
    out = np.zeros(n)
    beat = int(rate * 60 / rng.uniform(90, 130) / 2)
    for i, start in enumerate(range(0, n, beat)):
        length = min(int(0.35 * rate), n - start)
        tt = np.arange(length) / rate
        if i % 4 == 0:
            hit = np.sin(2 * np.pi * (50 + 90 * np.exp(-tt / 0.03)) * tt) * np.exp(-tt / 0.15)
        elif i % 4 == 2:
            hit = rng.standard_normal(length) * np.exp(-tt / 0.08) * 0.7
            hit += np.sin(2 * np.pi * 190 * tt) * np.exp(-tt / 0.05)
        else:
            noise = rng.standard_normal(length)
            hit = np.diff(noise, prepend=0) * np.exp(-tt / 0.02) * 0.4
        out[start : start + length] += hit
    return _normalise(out)


GENERATORS = {
    "speech": speech,
    "engine": engine,
    "instrument": instrument,
    "siren": siren,
    "percussion": percussion,
}


def make_signal(kind: str, rate: int, seconds: float, seed: int) -> np.ndarray:
    """A dry mono signal (float32, RMS 0.1) of ``kind`` (one of SOURCE_TYPES)."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown source type {kind!r}; expected one of {', '.join(SOURCE_TYPES)}")
    return GENERATORS[kind](rate, seconds, np.random.default_rng(seed))
