"""The audition: sources separated from the recording, and the layout's boxes re-rendered as spatial sound.

Signs (SPEC.md): azimuth, ILD (R − L) and ITD (right first) are all positive on the right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import hilbert

from engine.audio.hear import analyze
from engine.audio.io import load_stereo
from engine.audio.model import Analysis, CueFrames, Motion, RecordingKind, Side, Source, SourceTrack
from engine.audition import separate, spatial
from engine.audition.separate import separate_sources, source_masks
from engine.audition.spatial import (
    audition_layout,
    layout_camera,
    match_objects_to_sources,
    neutral_test_signal,
    object_paths,
    write_audition,
)
from engine.errors import InputError
from engine.layout.model import Keyframe, LayoutObject, OffscreenSource, VideoLayout, load_vsl
from engine.planner.camera import Camera
from engine.synth.bench import bench_scene, write_scene
from engine.synth.hrir import default_hrirs

RATE = 48000


# ------------------------------------------------------------------------------------ helpers


def _tone(frequency_hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency_hz * np.arange(round(seconds * RATE)) / RATE)


def _panned(x: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """The sine/cosine pan law the analysis assumes: (n, 2)."""
    angle = (azimuth_deg / 90 + 1) * np.pi / 4
    return np.stack([x * np.cos(angle), x * np.sin(angle)], axis=1)


def _tone_db(x: np.ndarray, frequency_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(10 * np.log10(spectrum[np.abs(freqs - frequency_hz) < 20].sum() + 1e-30))


def _source(source_id: int, azimuth_deg: float, seconds: float, level_db: float = -20.0,
            until_s: float | None = None) -> Source:
    t = np.arange(0.125, until_s if until_s is not None else seconds, 0.25)
    return Source(source_id, Side.CENTER, Motion.STATIONARY, 0.9, azimuth_deg, azimuth_deg,
                  SourceTrack(t, np.full(t.size, float(azimuth_deg)), np.full(t.size, level_db)))


def _analysis(sources: list[Source], seconds: float, kind: RecordingKind) -> Analysis:
    empty = np.zeros(0)
    return Analysis(RATE, 2, seconds, CueFrames(0.01, empty, empty, empty, empty, empty), sources, kind=kind)


def _layout(seconds: float, tracks: dict[int, tuple[str, list[float], list[float]]],
            offscreen: tuple[OffscreenSource, ...] = ()) -> VideoLayout:
    """A layout whose objects ``{id: (label, azimuths, distances)}`` stand at evenly spread keyframes."""
    camera = Camera()
    n = len(next(iter(tracks.values()))[1])
    keyframes = [
        Keyframe(time_s=k * seconds / (n - 1), objects=[
            LayoutObject(id=i, name=label, box=camera.box(az[k], dist[k], label))
            for i, (label, az, dist) in tracks.items()
        ])
        for k in range(n)
    ]
    return VideoLayout(duration_s=seconds, keyframes=keyframes, offscreen=offscreen)


def _ild_db(stereo: np.ndarray) -> float:
    power = np.mean(stereo.astype(np.float64) ** 2, axis=0)
    return float(10 * np.log10(power[1] / power[0]))


def _itd_ms(stereo: np.ndarray) -> float:
    """Lag of the cross-correlation peak, ms; positive when the right channel leads."""
    n = 2 * len(stereo)
    left, right = np.fft.rfft(stereo[:, 0], n), np.fft.rfft(stereo[:, 1], n)
    corr = np.fft.irfft(left * np.conj(right), n)  # corr[k] = sum L[i + k] R[i]: peaks where L lags
    max_lag = round(0.002 * RATE)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    values = np.r_[corr[: max_lag + 1], corr[-max_lag:]]
    return float(lags[np.argmax(values)] / RATE * 1e3)


# --------------------------------------------------------------------------------- separation


def test_panpot_tones_separate_by_their_tracks(tmp_path: Path) -> None:
    seconds = 2.0
    mix = (_panned(_tone(500, seconds), -60) + _panned(_tone(2000, seconds), 60)).astype(np.float32)
    sf.write(tmp_path / "mix.wav", mix, RATE, subtype="FLOAT")
    analysis = analyze(tmp_path / "mix.wav")
    assert analysis.kind is RecordingKind.PANPOT
    left_id = min(analysis.sources, key=lambda s: s.azimuth_start_deg).id
    right_id = max(analysis.sources, key=lambda s: s.azimuth_start_deg).id
    assert left_id != right_id
    separated = separate_sources(mix, RATE, analysis)
    assert set(separated) == {s.id for s in analysis.sources}
    for signal in separated.values():
        assert signal.shape == (mix.shape[0],) and signal.dtype == np.float32 and np.all(np.isfinite(signal))
    assert _tone_db(separated[left_id], 500) - _tone_db(separated[left_id], 2000) > 10
    assert _tone_db(separated[right_id], 2000) - _tone_db(separated[right_id], 500) > 10
    masks, _times, _ids = source_masks(mix, RATE, analysis)
    assert masks.min() >= 0 and masks.sum(axis=0).max() <= 1 + 1e-6


def test_binaural_tones_separate_by_phase_and_head_shadow() -> None:
    seconds = 1.5
    hrirs = default_hrirs(RATE)
    n = round(seconds * RATE)

    def placed(x: np.ndarray, azimuth_deg: float) -> np.ndarray:
        ir = hrirs.at(azimuth_deg)
        return np.stack([np.convolve(x, ir[0])[:n], np.convolve(x, ir[1])[:n]], axis=1)

    # One tone in the phase band, one in the level band (above 1.5 kHz).
    mix = placed(_tone(400, seconds), 60) + placed(_tone(3000, seconds), -60)
    analysis = _analysis([_source(0, 60, seconds), _source(1, -60, seconds)], seconds, RecordingKind.BINAURAL)
    separated = separate_sources(mix, RATE, analysis)
    assert _tone_db(separated[0], 400) - _tone_db(separated[0], 3000) > 10
    assert _tone_db(separated[1], 3000) - _tone_db(separated[1], 400) > 10


def test_a_source_is_silent_where_its_track_has_no_data() -> None:
    seconds = 2.0
    mix = _panned(_tone(500, seconds), -50) + _panned(_tone(2000, seconds), 50)
    analysis = _analysis([_source(0, -50, seconds, until_s=1.0), _source(1, 50, seconds)], seconds,
                         RecordingKind.PANPOT)
    separated = separate_sources(mix, RATE, analysis)
    early, late = separated[0][: RATE // 2], separated[0][round(1.5 * RATE):]
    assert np.sqrt(np.mean(early**2)) > 0.05
    assert np.max(np.abs(late)) < 1e-6


def test_blocks_join_without_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    seconds = 2.0
    rng = np.random.default_rng(3)
    mix = _panned(0.1 * rng.standard_normal(round(seconds * RATE)), -40) + _panned(_tone(700, seconds), 40)
    analysis = _analysis([_source(0, -40, seconds), _source(1, 40, seconds)], seconds, RecordingKind.PANPOT)
    whole = separate_sources(mix, RATE, analysis)
    monkeypatch.setattr(separate, "BLOCK_S", 0.3)
    blocks = separate_sources(mix, RATE, analysis)
    for source_id, signal in whole.items():
        np.testing.assert_allclose(blocks[source_id], signal, atol=1e-5)


def test_mono_recording_is_shared_by_level() -> None:
    seconds = 1.0
    mono = _tone(440, seconds).astype(np.float32)
    # 6 dB apart: power shares 0.8 and 0.2.
    analysis = _analysis([_source(0, -30, seconds, level_db=-20.0), _source(1, 30, seconds, level_db=-26.02)],
                         seconds, RecordingKind.MONO)
    separated = separate_sources(mono, RATE, analysis)
    np.testing.assert_allclose(separated[0] + separated[1], mono, atol=1e-5)
    assert np.max(np.abs(separated[0])) / np.max(np.abs(separated[1])) == pytest.approx(4.0, rel=0.01)


def test_bad_recordings_raise_input_error() -> None:
    analysis = _analysis([_source(0, 0, 1.0)], 1.0, RecordingKind.PANPOT)
    with pytest.raises(InputError, match="NaN"):
        separate_sources(np.full((1000, 2), np.nan), RATE, analysis)
    with pytest.raises(InputError, match="shape"):
        separate_sources(np.zeros((1000, 3)), RATE, analysis)
    with pytest.raises(InputError, match="sample rate"):
        separate_sources(np.zeros((1000, 2)), 0, analysis)


# ----------------------------------------------------------------------------------- audition


@pytest.mark.parametrize("kind", ["binaural", "spaced", "panpot"])
def test_box_on_the_right_sounds_right_and_its_mirror_left(kind: str) -> None:
    seconds = 1.0
    right = audition_layout(_layout(seconds, {0: ("person", [30.0] * 2, [3.0] * 2)}), None, None, RATE,
                            kind=kind, signal="test")
    left = audition_layout(_layout(seconds, {0: ("person", [-30.0] * 2, [3.0] * 2)}), None, None, RATE,
                           kind=kind, signal="test")
    assert right.shape == (RATE, 2) and right.dtype == np.float32
    assert _ild_db(right) > 0.05 and _ild_db(left) < -0.05
    if kind in ("spaced", "binaural"):
        assert _itd_ms(right) > 0.2 and _itd_ms(left) < -0.2
    if kind == "spaced":  # d·sin θ / c for the 0.4 m pair: how far right the box stands
        azimuth = spatial.box_azimuth_deg(np.array([(sum(Camera().box(30.0, 3.0, "person")[::2])) / 2]), Camera())
        assert _itd_ms(right) == pytest.approx(0.4 * np.sin(np.radians(azimuth[0])) / 343 * 1e3, abs=0.03)


def test_box_moving_left_to_right_moves_the_ild_across() -> None:
    seconds = 2.0
    layout = _layout(seconds, {0: ("car", [-35.0, 35.0], [8.0, 8.0])})
    out = audition_layout(layout, None, None, RATE, kind="binaural", signal="test")
    quarter = len(out) // 4
    assert _ild_db(out[:quarter]) < -3
    assert _ild_db(out[-quarter:]) > 3


def test_growing_box_gets_louder_by_the_distance_it_reads_as() -> None:
    seconds = 2.0
    layout = _layout(seconds, {0: ("person", [0.0, 0.0, 0.0], [12.0, 12.0, 3.0])})
    out = audition_layout(layout, None, None, RATE, kind="panpot", signal="test")
    path = object_paths(layout, np.array([0.25, 1.75]), layout_camera(layout))[0]
    first, last = out[: RATE // 2], out[-RATE // 2:]
    gain_db = 10 * np.log10(np.mean(last.astype(float) ** 2) / np.mean(first.astype(float) ** 2))
    assert gain_db > 6
    assert gain_db == pytest.approx(20 * np.log10(path.distance_m[0] / path.distance_m[1]), abs=1.0)


def test_separated_sounds_are_levelled_to_one_reference_so_loudness_follows_the_box() -> None:
    """A source the recording has 20 dB down (far away) and a loud one: levelled, both reach the test signal's level,
    so only their boxes' distances set how loud each is heard (the recording's distance is not counted twice)."""
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(3 * RATE).astype(np.float32)
    for recorded_rms in (0.2, 0.02):
        levelled = spatial._levelled(noise * recorded_rms, RATE)
        assert np.sqrt(np.mean(levelled.astype(float) ** 2)) == pytest.approx(spatial.TEST_RMS, rel=0.1)


def test_test_signal_needs_no_analysis_and_objects_keep_their_rhythms() -> None:
    layout = _layout(1.5, {0: ("dog", [-30.0] * 2, [4.0] * 2), 1: ("bird", [20.0] * 2, [2.0] * 2)})
    out = audition_layout(layout, None, None, RATE, signal="test")
    assert out.shape == (round(1.5 * RATE), 2) and np.all(np.isfinite(out))
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    with pytest.raises(InputError, match="separated"):
        audition_layout(layout, None, None, RATE)
    with pytest.raises(InputError, match="kind"):
        audition_layout(layout, None, None, RATE, kind="surround", signal="test")
    for index, period_s in ((0, 0.25), (1, 0.375)):
        envelope = np.abs(neutral_test_signal(2 * RATE, RATE, index)).reshape(-1, 480).max(axis=1)  # 10 ms
        onsets = np.flatnonzero((envelope[1:] > 0) & (envelope[:-1] == 0)) + 1
        assert np.diff(onsets) * 0.01 == pytest.approx(period_s, abs=0.011)


@pytest.mark.parametrize("kind", ["binaural", "spaced"])
def test_audition_blocks_join_without_seams(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    seconds = 1.5
    noise = (0.1 * np.random.default_rng(1).standard_normal(round(seconds * RATE))).astype(np.float32)
    analysis = _analysis([_source(0, 0.0, seconds)], seconds, RecordingKind.MONO)  # all of it to the one source
    layout = _layout(seconds, {0: ("car", [-40.0, 0.0, 40.0], [12.0, 4.0, 12.0])})
    whole = audition_layout(layout, analysis, noise, RATE, kind=kind)
    monkeypatch.setattr(spatial, "BLOCK_S", 0.25)
    blocks = audition_layout(layout, analysis, noise, RATE, kind=kind)
    np.testing.assert_allclose(blocks, whole, atol=1e-5)


def test_objects_sound_only_while_the_layout_shows_them() -> None:
    seconds = 2.0
    camera = Camera()
    box = camera.box(0.0, 3.0, "person")
    layout = VideoLayout(duration_s=seconds, keyframes=[
        Keyframe(time_s=0.0, objects=[LayoutObject(id=0, name="person", box=box)]),
        Keyframe(time_s=1.0, objects=[LayoutObject(id=0, name="person", box=box)]),
        Keyframe(time_s=2.0, objects=[]),
    ])
    out = audition_layout(layout, None, None, RATE, kind="panpot", signal="test")
    assert np.max(np.abs(out[: RATE - 480])) > 0.5
    assert np.max(np.abs(out[RATE + 480:])) == 0.0


def test_approaching_box_raises_the_pitch_by_its_speed() -> None:
    seconds, f0 = 2.0, 1000.0
    tone = _tone(f0, seconds).astype(np.float32)
    analysis = _analysis([_source(0, 0.0, seconds)], seconds, RecordingKind.MONO)
    for distances, higher in (([30.0, 30.0, 2.0, 2.0], True), ([2.0, 2.0, 30.0, 30.0], False)):
        layout = _layout(seconds, {0: ("person", [0.0] * 4, distances)})
        out = audition_layout(layout, analysis, tone, RATE, kind="panpot")
        mono = out.sum(axis=1).astype(np.float64)
        phase = np.unwrap(np.angle(hilbert(mono)))
        frequency = np.diff(phase) * RATE / (2 * np.pi)
        # While the box moves (keyframes 1 → 2), the pitch follows c / (c + dr/dt) at the moment heard.
        times = np.arange(0.8, 1.2, 0.01)
        path = object_paths(layout, times, layout_camera(layout))[0]
        speed_m_s = np.gradient(path.distance_m, times)
        expected = f0 * 343.0 / (343.0 + speed_m_s[len(times) // 2])
        heard = np.median(frequency[round(0.98 * RATE) : round(1.02 * RATE)])
        assert bool(heard > f0) is higher
        assert heard == pytest.approx(expected, rel=0.01)


def test_objects_match_sources_by_azimuth_and_offscreen_sources_are_left_out() -> None:
    seconds = 2.0
    analysis = _analysis([_source(4, 50.0, seconds), _source(7, -50.0, seconds), _source(9, 0.0, seconds)],
                         seconds, RecordingKind.BINAURAL)
    tracks = {0: ("dog", [-30.0] * 2, [3.0] * 2), 1: ("car", [30.0] * 2, [6.0] * 2),
              2: ("person", [5.0] * 2, [3.0] * 2)}
    assert match_objects_to_sources(_layout(seconds, tracks), analysis) == {0: 7, 1: 4, 2: 9}
    hidden = _layout(seconds, tracks, offscreen=(OffscreenSource(name="narrator", source_id=9),))
    assert match_objects_to_sources(hidden, analysis) == {0: 7, 1: 4, 2: None}


def test_write_audition_is_atomic_and_checks_its_input(tmp_path: Path) -> None:
    stereo = (0.5 * np.random.default_rng(0).standard_normal((RATE // 10, 2))).clip(-0.9, 0.9).astype(np.float32)
    for name in ("a.wav", "a.flac"):
        write_audition(tmp_path / name, stereo, RATE)
        back, rate = sf.read(tmp_path / name, dtype="float32")
        assert rate == RATE and back.shape == stereo.shape
        np.testing.assert_allclose(back, stereo, atol=1e-6)
    with pytest.raises(InputError, match=r"\.wav or \.flac"):
        write_audition(tmp_path / "a.mp3", stereo, RATE)
    with pytest.raises(InputError, match="finite"):
        write_audition(tmp_path / "b.wav", np.full((10, 2), np.nan), RATE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.flac", "a.wav"]


@pytest.mark.parametrize("scene_index", [5, 26])  # a spaced pair and a pan-pot mix, two sources each
def test_audition_of_a_bench_truth_is_heard_on_the_recordings_sides(tmp_path: Path, scene_index: int) -> None:
    spec, category = bench_scene(scene_index, duration_range_s=(2.0, 2.0))
    write_scene(spec, category, tmp_path / "scene.wav")
    stereo, rate, _source_file = load_stereo(tmp_path / "scene.wav")
    original = analyze(tmp_path / "scene.wav")
    layout = load_vsl(tmp_path / "scene.vsl.json")
    out = audition_layout(layout, original, stereo, rate)
    assert out.shape == stereo.shape and np.all(np.isfinite(out)) and np.max(np.abs(out)) < 1.0
    write_audition(tmp_path / "audition.wav", out, rate)
    heard = analyze(tmp_path / "audition.wav")
    assert heard.kind is original.kind
    # In scene 5 the ambulance's box is held by the frame's width cap at any distance under 2.5 m, so it reads back
    # nearer (1.2 m) than the recording had it (1.7 m), and the violin, read back at its true 3.7 m, comes out 10 dB
    # under it: heard on its side, but among the faint candidates.
    assert {s.side for s in heard.sources + heard.faint_sources} == {s.side for s in original.sources}


def test_a_spaced_pair_is_auditioned_and_separated_as_wide_as_the_analysis_heard_it() -> None:
    """An 80 cm pair puts twice the 40 cm pair's time difference between the microphones; the audition renders a box
    with the spacing the analysis was made with, and the separation reads the bins' phases through it."""
    seconds = 1.0
    layout = _layout(seconds, {0: ("person", [30.0] * 2, [3.0] * 2)})
    azimuth = spatial.box_azimuth_deg(np.array([(sum(Camera().box(30.0, 3.0, "person")[::2])) / 2]), Camera())[0]
    for spacing_m in (0.4, 0.8):
        analysis = _analysis([_source(0, azimuth, seconds)], seconds, RecordingKind.SPACED)
        analysis.spacing_m = spacing_m
        heard = audition_layout(layout, analysis, None, RATE, signal="test")
        assert _itd_ms(heard) == pytest.approx(spacing_m * np.sin(np.radians(azimuth)) / 343 * 1e3, abs=0.03)
    # A tone 1.0 ms later on the left is a source at 30° of an 80 cm pair (d·sin θ / c), not of a 40 cm one.
    tone = _tone(300.0, seconds)
    delay = round(0.8 * np.sin(np.radians(30.0)) / 343 * RATE)
    stereo = np.stack([np.r_[np.zeros(delay), tone[:-delay]], tone], axis=1)
    shares = {}
    for spacing_m in (0.4, 0.8):
        analysis = _analysis([_source(0, 30.0, seconds)], seconds, RecordingKind.SPACED)
        analysis.spacing_m = spacing_m
        shares[spacing_m] = float(np.mean(source_masks(stereo, RATE, analysis)[0][0][5:8, 10:-10]))
    assert shares[0.8] > 0.9 > shares[0.4]
