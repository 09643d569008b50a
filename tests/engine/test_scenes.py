"""Synthetic scenes: the physics the ground truth promises, and make-bench's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.model import Motion
from engine.scenes import hrir as hrir_module
from engine.scenes.bench import make_bench
from engine.scenes.render import SceneSpec, SourceSpec, _propagate, render_scene

RATE = 48000


def _lag_ms(left: np.ndarray, right: np.ndarray, max_ms: float = 1.5) -> float:
    """Positive when the right channel leads (SPEC.md)."""
    n = 1 << int(np.ceil(np.log2(2 * left.size)))
    spec = np.fft.rfft(left, n) * np.conj(np.fft.rfft(right, n))
    corr = np.fft.irfft(spec / (np.abs(spec) + 1e-12), n)
    max_lag = int(max_ms * 1e-3 * RATE)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    values = np.r_[corr[: max_lag + 1], corr[-max_lag:]]
    return float(lags[np.argmax(values)] / RATE * 1000)


def _level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x**2) + 1e-20))


def _stationary(kind: str, azimuth: float, source: str = "engine") -> np.ndarray:
    spec = SceneSpec(kind=kind, duration_s=1.5, sources=[SourceSpec(source, azimuth, azimuth, 2.0, 2.0, seed=3)])
    return render_scene(spec)[0]


@pytest.mark.parametrize("kind", ["binaural", "spaced", "panpot"])
def test_a_source_on_the_right_is_louder_or_earlier_on_the_right(kind: str) -> None:
    audio = _stationary(kind, 60.0)
    lag = _lag_ms(audio[:, 0], audio[:, 1])
    ild = _level_db(audio[:, 1]) - _level_db(audio[:, 0])
    if kind == "panpot":
        assert abs(lag) < 0.03 and ild > 6
    elif kind == "spaced":
        assert lag == pytest.approx(0.4 * np.sin(np.radians(60)) / 343 * 1000, abs=0.05) and abs(ild) < 2
    else:
        assert lag > 0.4 and ild > 5


def test_measured_hrirs_put_the_right_ear_on_the_right() -> None:
    hrirs = hrir_module.default_hrirs(RATE)
    assert hrirs.name == "MIT_KEMAR_normal_pinna.sofa"
    right = hrirs.nearest(70.0)
    assert _level_db(right[1]) - _level_db(right[0]) > 6
    left = hrirs.nearest(-70.0)
    assert _level_db(left[0]) - _level_db(left[1]) > 6


def test_spherical_model_stands_in_without_a_sofa_file(tmp_path: Path) -> None:
    hrirs = hrir_module.default_hrirs(RATE, sofa=tmp_path / "missing.sofa")
    assert hrirs.name == "spherical-model"
    pair = hrirs.nearest(60.0)
    assert _lag_ms(pair[0], pair[1]) > 0.3
    assert _level_db(pair[1]) > _level_db(pair[0])


def test_moving_source_has_physical_doppler() -> None:
    # A 1 kHz tone approaching at 20 m/s is heard at f * c / (c - v).
    seconds, speed = 2.0, 20.0
    t = np.arange(int(RATE * seconds)) / RATE
    tone = np.sin(2 * np.pi * 1000 * t)
    distance = 60.0 - speed * t
    heard = _propagate(tone, distance, RATE)[RATE // 2 :]
    spectrum = np.abs(np.fft.rfft(heard * np.hanning(heard.size), 1 << 20))
    peak_hz = np.argmax(spectrum) * RATE / (1 << 20)
    assert peak_hz == pytest.approx(1000 * 343 / (343 - speed), abs=1.5)


def test_approaching_source_gets_louder() -> None:
    spec = SceneSpec(kind="panpot", duration_s=3.0,
                     sources=[SourceSpec("instrument", 30, 30, 12.0, 2.0, Motion.APPROACHING, seed=2)])
    audio, _ = render_scene(spec)
    first, last = audio[: RATE // 2], audio[-RATE // 2 :]
    assert _level_db(last) - _level_db(first) > 10


def test_make_bench_writes_valid_deterministic_scenes(tmp_path: Path) -> None:
    paths = make_bench(tmp_path / "a", 24, seed=4)
    again = make_bench(tmp_path / "b", 3, seed=4)
    assert len(paths) == 24
    for path, other in zip(paths[:3], again, strict=True):  # the same seed gives the same scenes
        assert path.read_text() == other.read_text()
        assert np.array_equal(sf.read(path.with_suffix(".wav"))[0], sf.read(other.with_suffix(".wav"))[0])
    kinds, categories, motions = set(), set(), set()
    for path in paths:
        truth = json.loads(path.read_text())
        assert truth["format"] == "spa2v.scene" and truth["version"] == 1
        audio, rate = sf.read(path.with_name(truth["audio"]))
        assert rate == truth["sample_rate"] == 48000 and audio.shape[1] == 2
        assert abs(audio.shape[0] / rate - truth["duration_s"]) < 0.01
        kinds.add(truth["kind"])
        categories.add(truth["category"])
        for source in truth["sources"]:
            motions.add(source["motion"])
            assert -90 <= source["azimuth_start_deg"] <= 90 and source["side"] in ("left", "center", "right")
        if truth["category"] == "two_sources":
            a, b = (s["azimuth_start_deg"] for s in truth["sources"])
            assert abs(a - b) >= 60
    assert kinds == {"binaural", "spaced", "panpot"}
    assert categories == {"single_stationary", "single_moving", "two_sources"}
    assert motions == {m.value for m in Motion}
    index = json.loads((tmp_path / "a" / "index.json").read_text())
    assert len(index["scenes"]) == 24
