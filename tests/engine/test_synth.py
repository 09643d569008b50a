"""Synthetic scenes: sign conventions per recording kind, physics of motion, HRIR loading, bench files.

Sign convention under test (SPEC.md): azimuth > 0 is right; ILD = level(right) - level(left) > 0 and
ITD > 0 (right channel first) for a source on the right.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine.errors import InputError
from engine.synth import hrir as hrir_module
from engine.synth.bench import CATEGORIES, MOVING_MOTIONS, bench_scene, make_bench, make_demo
from engine.synth.scenes import KINDS, MOTIONS, SceneSpec, SourceSpec, motion_label, render_scene, side_of
from engine.synth.signals import SOURCE_TYPES, make_signal, speech

RATE = 48000
C_M_S = 343.0


def itd_ms(stereo: np.ndarray, rate: int, max_ms: float = 1.5) -> float:
    """GCC-PHAT lag in ms, positive when the right channel leads, refined by a parabola through the peak."""
    left, right = stereo[:, 0].astype(np.float64), stereo[:, 1].astype(np.float64)
    nfft = 1 << int(np.ceil(np.log2(2 * len(left))))
    cross = np.fft.rfft(left, nfft) * np.conj(np.fft.rfft(right, nfft))
    corr = np.fft.irfft(cross / (np.abs(cross) + 1e-12), nfft)
    max_lag = int(max_ms * 1e-3 * rate)
    window = np.concatenate([corr[-max_lag:], corr[: max_lag + 1]])  # lags -max..+max
    k = int(np.argmax(window))
    shift = 0.0
    if 0 < k < len(window) - 1:
        a, b, c = window[k - 1], window[k], window[k + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c)
    return (k - max_lag + shift) / rate * 1e3


def ild_db(stereo: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(stereo[:, 1].astype(float) ** 2) / np.sum(stereo[:, 0].astype(float) ** 2)))


def peak_frequency_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 16 * len(x)))
    return float(np.argmax(spectrum) * rate / (16 * len(x)))


@pytest.mark.parametrize("kind", KINDS)
def test_right_source_is_louder_and_earlier_on_the_right(kind: str) -> None:
    spec = SceneSpec(kind=kind, duration_s=1.5, sources=[SourceSpec("noise", 45.0, distance_start_m=2.0, seed=3)])
    right, _ = render_scene(spec)
    spec.sources = [SourceSpec("noise", -45.0, distance_start_m=2.0, seed=3)]
    left, _ = render_scene(spec)
    assert right.dtype == np.float32 and right.shape == (round(1.5 * RATE), 2)
    assert ild_db(right) > 0.5 and ild_db(left) < -0.5
    if kind == "panpot":
        assert itd_ms(right, RATE) == pytest.approx(0.0, abs=1e-3)
    else:
        assert itd_ms(right, RATE) > 0.2 and itd_ms(left, RATE) < -0.2
    if kind == "spaced":  # only the 1/r difference between the two mics: a small ILD
        assert ild_db(right) < 3.0


def test_right_source_keeps_its_sign_in_a_reverberant_room() -> None:
    spec = SceneSpec(kind="binaural", duration_s=1.5, rt60_s=0.4, sources=[SourceSpec("noise", 60.0, seed=1)])
    stereo, _ = render_scene(spec)
    assert ild_db(stereo) > 0.5 and itd_ms(stereo, RATE) > 0.2


def test_panpot_has_zero_itd_even_when_moving() -> None:
    spec = SceneSpec(kind="panpot", duration_s=1.0, sources=[SourceSpec("noise", -70.0, 50.0, 3.0, 3.0, seed=2)])
    stereo, _ = render_scene(spec)
    assert itd_ms(stereo, RATE) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("azimuth_deg", [-60.0, -20.0, 30.0, 75.0])
def test_spaced_pair_itd_matches_mic_spacing(azimuth_deg: float) -> None:
    spacing_m = 0.4
    spec = SceneSpec(
        kind="spaced",
        duration_s=1.0,
        mic_spacing_m=spacing_m,
        sources=[SourceSpec("noise", azimuth_deg, distance_start_m=20.0, seed=4)],
    )
    stereo, _ = render_scene(spec)
    expected_ms = spacing_m * np.sin(np.radians(azimuth_deg)) / C_M_S * 1e3
    assert itd_ms(stereo, RATE) == pytest.approx(expected_ms, abs=0.03)


def test_approaching_source_gets_louder_and_higher() -> None:
    # 40 m -> 5 m in 2 s: a radial speed of 17.5 m/s, so a 1 kHz tone is heard at f / (1 - v/c) ≈ 1054 Hz.
    approach = SourceSpec("tone", 0.0, 0.0, 40.0, 5.0, seed=0)
    recede = SourceSpec("tone", 0.0, 0.0, 5.0, 40.0, seed=0)
    for source, expected_hz in ((approach, 1000 / (1 - 17.5 / C_M_S)), (recede, 1000 / (1 + 17.5 / C_M_S))):
        stereo, _ = render_scene(SceneSpec(kind="panpot", duration_s=2.0, sources=[source]))
        mono = stereo.mean(axis=1).astype(np.float64)
        middle = mono[int(0.5 * RATE) : int(1.5 * RATE)]
        assert peak_frequency_hz(middle, RATE) == pytest.approx(expected_hz, abs=3.0)
        first, last = mono[int(0.2 * RATE) : int(0.5 * RATE)], mono[-int(0.3 * RATE) :]
        level_change_db = 20 * np.log10(np.std(last) / np.std(first))
        if source is approach:
            assert level_change_db > 10.0  # 1/r from ~36 m to 5 m is about +17 dB
        else:
            assert level_change_db < -10.0


def test_approaching_source_in_a_room_rises_less_than_dry() -> None:
    # The diffuse field does not depend on distance: with a critical distance of 2.3 m (500 m³, RT60 0.3 s) the
    # total level should rise by 10·log10((1/2.5² + 1/2.33²) / (1/12² + 1/2.33²)) ≈ 2.8 dB, dry by ≈ 13 dB.
    rises_db = []
    for rt60_s in (0.0, 0.3):
        spec = SceneSpec(
            kind="binaural", duration_s=3.0, rt60_s=rt60_s, sources=[SourceSpec("noise", 40, 42, 12.0, 2.0)]
        )
        stereo, _ = render_scene(spec)
        first, last = stereo[: RATE // 2], stereo[-RATE // 2 :]
        rises_db.append(20 * np.log10(np.std(last) / np.std(first)))
    dry_db, room_db = rises_db
    assert dry_db > 10.0 and 1.5 < room_db < dry_db - 5.0


def test_sweep_moves_the_cues_across() -> None:
    spec = SceneSpec(kind="binaural", duration_s=2.0, sources=[SourceSpec("noise", -60.0, 60.0, 3.0, 3.0, seed=5)])
    stereo, _ = render_scene(spec)
    quarter = len(stereo) // 4
    assert itd_ms(stereo[:quarter], RATE) < -0.2 and itd_ms(stereo[-quarter:], RATE) > 0.2
    assert ild_db(stereo[:quarter]) < 0 < ild_db(stereo[-quarter:])


def test_sofa_loader_puts_positive_azimuth_on_the_right_ear() -> None:
    if not hrir_module.DEFAULT_SOFA_PATH.is_file():
        pytest.skip("libmysofa1's MIT KEMAR file is not installed")
    hrirs = hrir_module.load_sofa(hrir_module.DEFAULT_SOFA_PATH, RATE)
    assert hrirs.sample_rate == RATE and hrirs.azimuth_deg[0] == -90 and hrirs.azimuth_deg[-1] == 90
    for azimuth_deg in (30.0, 90.0, 42.5):
        right_side, left_side = hrirs.at(azimuth_deg), hrirs.at(-azimuth_deg)
        energy = np.sum(right_side.astype(float) ** 2, axis=-1)
        assert energy[1] > 2 * energy[0]  # right ear louder
        assert np.argmax(np.abs(right_side[1])) < np.argmax(np.abs(right_side[0]))  # and earlier
        mirrored = np.sum(left_side.astype(float) ** 2, axis=-1)
        assert mirrored[0] > 2 * mirrored[1]


def test_spherical_fallback_when_sofa_is_missing(tmp_path) -> None:
    hrirs = hrir_module.default_hrirs(RATE, tmp_path / "missing.sofa")
    assert hrirs.name == hrir_module.SPHERICAL_MODEL_NAME
    pair = hrirs.at(60.0)
    energy = np.sum(pair.astype(float) ** 2, axis=-1)
    assert energy[1] > energy[0]
    # Woodworth: ITD = (a/c)(az + sin az); GCC on the two ear responses must agree within a sample.
    az = np.radians(60.0)
    expected_ms = hrir_module.HEAD_RADIUS_M / C_M_S * (az + np.sin(az)) * 1e3
    assert itd_ms(pair.T, RATE, max_ms=1.0) == pytest.approx(expected_ms, abs=1e3 / RATE)
    spec = SceneSpec(
        kind="binaural", duration_s=0.5, hrir_path=str(tmp_path / "missing.sofa"), sources=[SourceSpec("noise", 50.0)]
    )
    stereo, _ = render_scene(spec)
    assert np.isfinite(stereo).all() and ild_db(stereo) > 0.5 and itd_ms(stereo, RATE) > 0.2


def test_broken_sofa_file_falls_back_and_load_sofa_names_it(tmp_path) -> None:
    broken = tmp_path / "broken.sofa"
    broken.write_bytes(b"not an hdf5 file")
    with pytest.raises(InputError, match=r"broken\.sofa"):
        hrir_module.load_sofa(broken, RATE)
    assert hrir_module.default_hrirs(RATE, broken).name == hrir_module.SPHERICAL_MODEL_NAME


@pytest.mark.parametrize("source_type", sorted(SOURCE_TYPES))
def test_signals_are_deterministic_normalised_mono(source_type: str) -> None:
    first = make_signal(source_type, 1.3, RATE, seed=7)
    again = make_signal(source_type, 1.3, RATE, seed=7)
    assert first.dtype == np.float32 and first.shape == (round(1.3 * RATE),)
    assert np.array_equal(first, again)
    assert np.max(np.abs(first)) == pytest.approx(1.0, abs=1e-6)


def test_speech_without_espeak_falls_back_to_babble() -> None:
    babble = speech(1.0, RATE, seed=1, espeak_path="/nonexistent/espeak-ng")
    assert babble.shape == (RATE,) and np.max(np.abs(babble)) == pytest.approx(1.0, abs=1e-6)


def test_bad_arguments_raise_input_error() -> None:
    with pytest.raises(InputError, match="azimuth_start_deg"):
        SourceSpec("noise", 120.0)
    with pytest.raises(InputError, match="kind"):
        SceneSpec(kind="ambisonic", duration_s=1.0, sources=[SourceSpec("noise", 0.0)])
    with pytest.raises(InputError, match="unknown"):
        make_signal("theremin", 1.0, RATE)
    with pytest.raises(InputError, match="line"):
        SourceSpec("noise", -90.0, 90.0, 5.0, 5.0, path="line")  # straight through the head


def test_motion_labels_and_sides() -> None:
    assert motion_label(SourceSpec("noise", 30.0)) == "stationary"
    assert motion_label(SourceSpec("noise", -60.0, 40.0, 3.0, 3.2)) == "moving_right"
    assert motion_label(SourceSpec("noise", 40.0, -20.0, 3.0, 3.0)) == "moving_left"
    assert motion_label(SourceSpec("noise", 40.0, 43.0, 12.0, 2.0)) == "approaching"
    assert motion_label(SourceSpec("noise", 0.0, 2.0, 2.0, 12.0)) == "receding"
    assert motion_label(SourceSpec("noise", 0.0, 30.0, 2.0, 3.0)) is None
    assert (side_of(-40.0), side_of(0.0), side_of(15.0), side_of(16.0)) == ("left", "center", "center", "right")


def test_bench_cycle_is_balanced_and_unambiguous() -> None:
    specs = [bench_scene(i, seed=3) for i in range(36)]
    combos = {(spec.kind, spec.rt60_s > 0, category) for spec, category in specs}
    assert len(combos) == len(KINDS) * 2 * len(CATEGORIES)
    moving = [motion_label(spec.sources[0]) for spec, category in specs if category == "single_moving"]
    assert sorted(moving) == sorted(list(MOVING_MOTIONS) * 3)
    for spec, category in specs:
        assert 4.0 <= spec.duration_s <= 8.0 and 0.0 <= spec.rt60_s <= 0.5
        for src in spec.sources:
            label = motion_label(src)
            assert label in MOTIONS
            if label in ("stationary", "approaching", "receding"):
                for az in (src.azimuth_start_deg, src.azimuth_end_deg):
                    assert abs(az) <= 5.0 or abs(az) >= 30.0
        if category == "two_sources":
            assert abs(spec.sources[0].azimuth_start_deg - spec.sources[1].azimuth_start_deg) >= 60.0


def test_make_bench_writes_valid_pairs_deterministically(tmp_path) -> None:
    kwargs = {"n": 4, "seed": 11, "duration_range_s": (0.6, 0.8)}
    paths = make_bench(tmp_path / "a", **kwargs)
    again = make_bench(tmp_path / "b", **kwargs)
    assert [p.name for p in paths] == [f"scene_{i:03d}.json" for i in range(4)]
    index = json.loads((tmp_path / "a" / "index.json").read_text())
    assert index["format"] == "spa2v.bench" and [e["truth"] for e in index["scenes"]] == [p.name for p in paths]
    for path, other in zip(paths, again, strict=True):
        truth = json.loads(path.read_text())
        assert truth["format"] == "spa2v.scene" and truth["version"] == 1
        assert truth["kind"] in KINDS and truth["category"] in CATEGORIES
        assert truth["hrir"] in (None, "MIT_KEMAR_normal_pinna.sofa", "spherical-model")
        assert (truth["hrir"] is None) == (truth["kind"] != "binaural")
        audio, rate = sf.read(path.parent / truth["audio"], dtype="float32")
        assert rate == truth["sample_rate"] == RATE and audio.shape == (round(truth["duration_s"] * rate), 2)
        assert 0.6 < np.max(np.abs(audio)) < 0.75  # -3 dBFS peak
        for i, src in enumerate(truth["sources"]):
            assert src["id"] == i and src["type"] in SOURCE_TYPES and src["motion"] in MOTIONS
            assert {src["side"], src["side_start"], src["side_end"]} <= {"left", "center", "right"}
            assert -90 <= src["azimuth_start_deg"] <= 90 and src["distance_start_m"] > 0
        assert path.read_bytes() == other.read_bytes()
        assert (path.parent / truth["audio"]).read_bytes() == (other.parent / truth["audio"]).read_bytes()


def test_make_bench_records_the_spherical_model(tmp_path) -> None:
    paths = make_bench(tmp_path, n=1, duration_range_s=(0.5, 0.5), hrir_path=str(tmp_path / "none.sofa"))
    truth = json.loads(paths[0].read_text())
    assert truth["kind"] == "binaural" and truth["hrir"] == "spherical-model"


def test_make_demo_writes_flac_and_truth(tmp_path) -> None:
    truth = make_demo(tmp_path / "demo_scene.flac")
    audio, rate = sf.read(tmp_path / "demo_scene.flac")
    assert rate == RATE and audio.shape == (8 * RATE, 2)
    written = json.loads((tmp_path / "demo_scene.json").read_text())
    assert written == truth and truth["kind"] == "binaural"
    car, other = truth["sources"]
    assert (car["motion"], car["side_start"], car["side_end"]) == ("moving_right", "left", "right")
    assert other["motion"] == "stationary" and other["side"] == "right"
