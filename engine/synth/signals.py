"""Dry mono source signals for synthetic scenes.

Every generator takes ``(duration_s, sample_rate, seed)`` and returns a mono float32 array of exactly
``round(duration_s * sample_rate)`` samples with peak 1.0 (silent input stays silent). The same arguments
always give the same samples: randomness comes only from ``numpy.random.default_rng(seed)``, and espeak-ng is
deterministic for a given text, voice, pitch and speed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

from engine.errors import InputError

log = logging.getLogger(__name__)

ESPEAK_PATH = "/usr/bin/espeak-ng"

_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please meet me at the station at half past seven tomorrow morning.",
    "A gentle breeze moved the curtains while the kettle began to whistle.",
    "We counted seventeen boats drifting slowly across the harbour.",
    "She opened the old wooden box and found a letter from her grandfather.",
    "Turn left at the bakery, then walk two blocks to the blue door.",
    "The concert starts at eight, so we should leave a little early.",
    "Rain is expected this afternoon, with clear skies later tonight.",
)
_VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-029", "en-gb-scotland")


def _n_samples(duration_s: float, sample_rate: int) -> int:
    if not duration_s > 0:
        raise InputError(f"duration_s is {duration_s}; expected a positive number of seconds")
    if int(sample_rate) < 8000:
        raise InputError(f"sample_rate is {sample_rate}; expected at least 8000 Hz")
    return round(duration_s * sample_rate)


def _normalise(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    out = x / peak if peak > 0 else x
    return out.astype(np.float32)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x), dtype=x.dtype)])


def _lowpass(x: np.ndarray, cutoff_hz: float, sample_rate: int, order: int = 2) -> np.ndarray:
    sos = butter(order, min(cutoff_hz, 0.45 * sample_rate), btype="low", fs=sample_rate, output="sos")
    return sosfilt(sos, x)


def _bandpass(x: np.ndarray, low_hz: float, high_hz: float, sample_rate: int, order: int = 2) -> np.ndarray:
    sos = butter(order, [low_hz, min(high_hz, 0.45 * sample_rate)], btype="band", fs=sample_rate, output="sos")
    return sosfilt(sos, x)


def _phase(freq_hz: np.ndarray, sample_rate: int, start: float = 0.0) -> np.ndarray:
    """Running phase (radians) of a tone whose frequency changes per sample."""
    return start + 2 * np.pi * np.cumsum(freq_hz) / sample_rate


def tone(duration_s: float, sample_rate: int, seed: int = 0, frequency_hz: float = 1000.0) -> np.ndarray:
    """A steady pure tone (for measurements such as Doppler shift); ``seed`` only sets the start phase."""
    n = _n_samples(duration_s, sample_rate)
    start = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    return _normalise(np.sin(start + 2 * np.pi * frequency_hz * np.arange(n) / sample_rate))


def noise(duration_s: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Steady pink-ish noise (white noise through a gentle low-pass): a broadband test source."""
    n = _n_samples(duration_s, sample_rate)
    white = np.random.default_rng(seed).standard_normal(n)
    # Half white, half low-passed: energy tilts toward the bass without losing the top octaves cues need.
    return _normalise(0.5 * white + _lowpass(white, 1000.0, sample_rate, order=1))


def _espeak(text: str, voice: str, pitch: int, speed_wpm: int, espeak_path: str) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="spa2v-espeak-") as folder:
        wav = Path(folder) / "speech.wav"
        subprocess.run(
            [espeak_path, "-v", voice, "-p", str(pitch), "-s", str(speed_wpm), "-w", str(wav), text],
            check=True,
            capture_output=True,
            timeout=30,
        )
        samples, rate = sf.read(wav, dtype="float64", always_2d=True)
    return samples[:, 0], int(rate)


def _formant_babble(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Vowel-like syllables: a glottal pulse train through three formant resonators, with pauses.

    Used when espeak-ng is not installed; it keeps speech's on/off rhythm (~4 syllables/s), a voice pitch
    with intonation and formant structure, which is what spatial analysis cares about.
    """
    vowels_hz = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))
    out = np.zeros(n)
    position = int(rng.uniform(0.05, 0.2) * sample_rate)
    base_f0 = rng.uniform(95, 210)
    while position < n:
        syllable = int(rng.uniform(0.12, 0.28) * sample_rate)
        length = min(syllable, n - position)
        t = np.arange(length) / sample_rate
        f0 = base_f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(1, 3) * t + rng.uniform(0, 6)))
        pulses = np.sign(np.sin(_phase(f0, sample_rate))) * 0.5 + 0.5
        excitation = np.diff(pulses, prepend=0.0)  # one click per glottal cycle
        voiced = np.zeros(length)
        for formant_hz, bandwidth_hz in zip(vowels_hz[rng.integers(len(vowels_hz))], (80, 100, 120), strict=True):
            voiced += _bandpass(excitation, formant_hz - bandwidth_hz, formant_hz + bandwidth_hz, sample_rate)
        out[position : position + length] = voiced * np.hanning(length)
        position += syllable
        if rng.random() < 0.25:  # a pause between words
            position += int(rng.uniform(0.1, 0.4) * sample_rate)
    return out


def speech(duration_s: float, sample_rate: int, seed: int = 0, espeak_path: str | None = ESPEAK_PATH) -> np.ndarray:
    """English speech from espeak-ng (sentences, voice, pitch and speed chosen by ``seed``).

    Falls back to formant-synthesised vowel babble when espeak-ng is missing or fails, so scenes can
    always be rendered (the result is then still speech-like, but not words).
    """
    n = _n_samples(duration_s, sample_rate)
    rng = np.random.default_rng(seed)
    executable = shutil.which(espeak_path) if espeak_path else None
    if executable is None:
        log.info("espeak-ng not found (%s); using formant babble for speech", espeak_path)
        return _normalise(_formant_babble(n, sample_rate, rng))
    voice = _VOICES[rng.integers(len(_VOICES))]
    pitch = int(rng.integers(25, 75))
    speed_wpm = int(rng.integers(140, 185))
    order = rng.permutation(len(_SENTENCES))
    pieces: list[np.ndarray] = [np.zeros(int(rng.uniform(0.05, 0.25) * sample_rate))]
    total = len(pieces[0])
    try:
        for index in np.resize(order, 4 * len(order)):  # loop the sentences for long scenes
            if total >= n:
                break
            samples, rate = _espeak(_SENTENCES[index], voice, pitch, speed_wpm, executable)
            if rate != sample_rate:
                ratio = Fraction(sample_rate, rate).limit_denominator(2000)
                samples = resample_poly(samples, ratio.numerator, ratio.denominator)
            pause = np.zeros(int(rng.uniform(0.15, 0.5) * sample_rate))
            pieces += [samples, pause]
            total += len(samples) + len(pause)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        log.warning("espeak-ng failed (%s); using formant babble for speech", exc)
        return _normalise(_formant_babble(n, sample_rate, rng))
    return _normalise(_fit(np.concatenate(pieces), n))


def engine(duration_s: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A combustion engine: firing-rate harmonics, per-cycle level flutter and exhaust/road noise.

    The firing rate is rpm/60 · cylinders/2 (a four-stroke fires each cylinder every other turn); rpm drifts
    slowly so the harmonics are not perfectly steady.
    """
    n = _n_samples(duration_s, sample_rate)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    cylinders = int(rng.choice([4, 6, 8]))
    rpm = rng.uniform(1500, 3200) * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6)))
    firing_hz = rpm / 60 * cylinders / 2
    phase = _phase(firing_hz, sample_rate)
    harmonics = np.zeros(n)
    for k in range(1, 13):
        harmonics += rng.uniform(0.3, 1.0) / k**0.8 * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    # Each firing is a pressure pulse: modulate at the firing rate so the rumble "chugs".
    flutter = 1 + 0.35 * np.maximum(np.sin(phase), 0) ** 3
    white = rng.standard_normal(n)
    rumble_noise = _lowpass(white, 400.0, sample_rate) * flutter
    hiss = _bandpass(white, 1500.0, 8000.0, sample_rate) * 0.15  # tyres and intake
    return _normalise(harmonics * flutter + 1.5 * rumble_noise + hiss)


def piano(duration_s: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Piano-like notes: slightly inharmonic partials with a hammer attack and exponential decay."""
    n = _n_samples(duration_s, sample_rate)
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    root_midi = int(rng.integers(52, 64))
    position = 0
    inharmonicity = 0.0004
    while position < n:
        note_s = rng.choice([0.25, 0.5, 0.75])
        length = min(int(1.5 * sample_rate), n - position)  # notes ring on under the next one
        t = np.arange(length) / sample_rate
        midi = root_midi + scale[rng.integers(len(scale))] + 12 * int(rng.integers(0, 2))
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        note = np.zeros(length)
        for k in range(1, 10):
            fk = f0 * k * np.sqrt(1 + inharmonicity * k * k)
            if fk > 0.45 * sample_rate:
                break
            note += np.sin(2 * np.pi * fk * t) * np.exp(-t * (2.0 + 0.8 * k)) / k
        attack = np.minimum(t / 0.004, 1.0)
        out[position : position + length] += note * attack * rng.uniform(0.6, 1.0)
        position += int(note_s * sample_rate)
    return _normalise(out)


def violin(duration_s: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """Violin-like bowed notes: a band-limited sawtooth with vibrato, bow noise and slow attack/release."""
    n = _n_samples(duration_s, sample_rate)
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    scale = np.array([0, 2, 3, 5, 7, 8, 10, 12])
    root_midi = int(rng.integers(62, 72))
    position = 0
    while position < n:
        length = min(int(rng.uniform(0.4, 1.2) * sample_rate), n - position)
        t = np.arange(length) / sample_rate
        f0 = 440.0 * 2 ** ((root_midi + scale[rng.integers(len(scale))] - 69) / 12)
        vibrato = 1 + 0.006 * np.sin(2 * np.pi * 5.5 * t) * np.minimum(t / 0.3, 1.0)  # vibrato grows in
        phase = _phase(f0 * vibrato, sample_rate)
        note = np.zeros(length)
        for k in range(1, 16):
            if k * f0 > 0.45 * sample_rate:
                break
            note += np.sin(k * phase) / k  # sawtooth series: the bowed string's Helmholtz motion
        note += 0.05 * _bandpass(rng.standard_normal(length), 2000.0, 7000.0, sample_rate)
        envelope = np.minimum(t / 0.08, 1.0) * np.minimum((t[-1] - t) / 0.06 + 1e-3, 1.0)
        out[position : position + length] += note * envelope
        position += length
    return _normalise(out)


def siren(duration_s: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """An emergency siren: either a 'wail' (slow sinusoidal sweep) or a 'hi-lo' two-tone, with harmonics."""
    n = _n_samples(duration_s, sample_rate)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    if rng.random() < 0.5:
        low_hz, high_hz, period_s = rng.uniform(550, 700), rng.uniform(1200, 1500), rng.uniform(2.0, 4.0)
        sweep = 0.5 - 0.5 * np.cos(2 * np.pi * t / period_s + rng.uniform(0, 2 * np.pi))
        freq_hz = low_hz + (high_hz - low_hz) * sweep
    else:
        low_hz, high_hz, period_s = rng.uniform(400, 500), rng.uniform(600, 750), rng.uniform(0.8, 1.4)
        square = (np.floor(2 * t / period_s) % 2).astype(float)
        freq_hz = low_hz + (high_hz - low_hz) * _lowpass(square, 30.0, sample_rate)  # soften the steps
    phase = _phase(freq_hz, sample_rate)
    wave = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
    return _normalise(wave)


def percussion(duration_s: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A drum pattern: kick (pitch-dropping sine), snare (noise burst + 190 Hz body) and hi-hat (short noise)."""
    n = _n_samples(duration_s, sample_rate)
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    step_s = 60.0 / rng.uniform(90, 140) / 2  # eighth notes
    pattern = ("kick", "hat", "snare", "hat", "kick", "kick", "snare", "hat")
    step = 0
    while (start := int(step * step_s * sample_rate)) < n:
        hit = pattern[step % len(pattern)]
        length = min(int(0.4 * sample_rate), n - start)
        t = np.arange(length) / sample_rate
        if hit == "kick":
            freq = 50 + 90 * np.exp(-t / 0.03)
            sound = np.sin(_phase(freq, sample_rate)) * np.exp(-t / 0.15)
        elif hit == "snare":
            body = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.06)
            rattle = _bandpass(rng.standard_normal(length), 1000.0, 9000.0, sample_rate) * np.exp(-t / 0.08)
            sound = 0.6 * body + 1.2 * rattle
        else:
            sound = _bandpass(rng.standard_normal(length), 6000.0, 16000.0, sample_rate) * np.exp(-t / 0.02) * 0.6
        out[start : start + length] += sound * rng.uniform(0.7, 1.0)
        step += 1
    return _normalise(out)


#: Source types by name; scenes and ground truth refer to these names.
SOURCE_TYPES: dict[str, Callable[[float, int, int], np.ndarray]] = {
    "speech": speech,
    "engine": engine,
    "piano": piano,
    "violin": violin,
    "siren": siren,
    "percussion": percussion,
    "noise": noise,
    "tone": tone,
}
#: Types that sound like everyday sources (the bench draws from these; "noise" and "tone" are for tests).
NATURAL_TYPES = ("speech", "engine", "piano", "violin", "siren", "percussion")


def make_signal(source_type: str, duration_s: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """The dry mono signal of ``source_type`` (a key of :data:`SOURCE_TYPES`), float32, peak 1.0."""
    try:
        generator = SOURCE_TYPES[source_type]
    except KeyError:
        raise InputError(
            f"source type {source_type!r} is unknown; expected one of {', '.join(sorted(SOURCE_TYPES))}"
        ) from None
    return generator(duration_s, sample_rate, seed)
