"""The event timeline: onsets and offsets of one signal, per separated source, from tracks, as text."""

from __future__ import annotations

import sys
import tracemalloc
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.hear import analyze
from engine.audio.model import Analysis, CueFrames, Motion, Side, Source, SourceTrack
from engine.audition.events import (
    SourceEvents,
    describe_events,
    detect_events,
    events_from_tracks,
    source_events,
    source_names,
)
from engine.errors import InputError

RATE = 48000


def _noise_bursts(spans: list[tuple[float, float]], seconds: float, rate: int = RATE, amp: float = 0.3,
                  floor: float = 1e-3, seed: int = 0) -> np.ndarray:
    """White noise ``amp`` (RMS) in ``spans`` over a noise floor ``floor`` (RMS, 50 dB lower by default)."""
    rng = np.random.default_rng(seed)
    x = floor * rng.standard_normal(int(seconds * rate))
    for start, end in spans:
        a, b = int(start * rate), int(end * rate)
        x[a:b] += amp * rng.standard_normal(b - a)
    return x


def _assert_intervals_near(found: list[tuple[float, float]], truth: list[tuple[float, float]], tol_s: float) -> None:
    assert len(found) == len(truth), f"found {found}, expected {truth}"
    for (a, b), (ta, tb) in zip(found, truth, strict=True):
        assert a == pytest.approx(ta, abs=tol_s) and b == pytest.approx(tb, abs=tol_s), f"{(a, b)} vs {(ta, tb)}"


# ----------------------------------------------------------------------------------- one signal


@pytest.mark.parametrize("rate", [48000, 44100, 16000])
def test_noise_bursts_are_found_within_30_ms(rate: int) -> None:
    truth = [(0.5, 1.0), (2.0, 3.2)]
    found = detect_events(_noise_bursts(truth, 4.0, rate), rate)
    _assert_intervals_near(found, truth, 0.03)


def test_a_burst_30_db_below_another_is_still_an_event() -> None:
    rng = np.random.default_rng(3)
    x = _noise_bursts([(0.5, 1.0)], 3.0, amp=0.3, floor=1e-4)
    x[int(2.0 * RATE):int(2.5 * RATE)] += 0.01 * rng.standard_normal(int(0.5 * RATE))
    _assert_intervals_near(detect_events(x, RATE), [(0.5, 1.0), (2.0, 2.5)], 0.03)


def test_silence_has_no_events() -> None:
    assert detect_events(np.zeros(2 * RATE), RATE) == []
    assert detect_events(np.zeros(0), RATE) == []
    assert detect_events(np.full(RATE, 1e-6), RATE) == []  # -120 dBFS: below the silence level


def test_a_constant_tone_is_one_event_spanning_it() -> None:
    t = np.arange(3 * RATE) / RATE
    found = detect_events(0.5 * np.sin(2 * np.pi * 440.0 * t), RATE)
    _assert_intervals_near(found, [(0.0, 3.0)], 0.01)


def test_a_tone_in_digital_silence_has_sharp_edges() -> None:
    x = np.zeros(4 * RATE)
    t = np.arange(RATE) / RATE
    x[RATE:2 * RATE] = 0.3 * np.sin(2 * np.pi * 300.0 * t)
    _assert_intervals_near(detect_events(x, RATE), [(1.0, 2.0)], 0.015)


def test_short_gaps_merge_and_long_ones_split() -> None:
    found = detect_events(_noise_bursts([(0.5, 1.0), (1.1, 1.6), (2.0, 2.5)], 3.0), RATE)
    _assert_intervals_near(found, [(0.5, 1.6), (2.0, 2.5)], 0.03)
    # With a shorter merge gap, the 100 ms pause separates the first two.
    split = detect_events(_noise_bursts([(0.5, 1.0), (1.1, 1.6)], 2.0), RATE, min_gap_s=0.05)
    _assert_intervals_near(split, [(0.5, 1.0), (1.1, 1.6)], 0.03)


def test_blips_are_dropped() -> None:
    found = detect_events(_noise_bursts([(0.5, 1.0), (1.8, 1.83)], 2.5), RATE)
    _assert_intervals_near(found, [(0.5, 1.0)], 0.03)
    kept = detect_events(_noise_bursts([(0.5, 1.0), (1.8, 1.83)], 2.5), RATE, min_event_s=0.02)
    _assert_intervals_near(kept, [(0.5, 1.0), (1.8, 1.83)], 0.03)


def test_decaying_hits_each_start_on_time() -> None:
    rng = np.random.default_rng(5)
    x = 1e-4 * rng.standard_normal(5 * RATE)
    hits = [0.5, 1.5, 2.5, 4.0]
    n = int(0.4 * RATE)
    for h in hits:
        x[int(h * RATE):int(h * RATE) + n] += 0.5 * np.exp(-np.arange(n) / RATE / 0.05) * rng.standard_normal(n)
    found = detect_events(x, RATE)
    assert [a for a, _ in found] == pytest.approx(hits, abs=0.01)
    assert all(0.15 < b - a < 0.4 for a, b in found)


def test_bad_signals_are_clear_input_errors() -> None:
    with pytest.raises(InputError, match="mono"):
        detect_events(np.zeros((RATE, 2)), RATE)
    with pytest.raises(InputError, match="NaN"):
        detect_events(np.r_[np.zeros(RATE), np.nan], RATE)
    with pytest.raises(InputError, match="sample rate"):
        detect_events(np.zeros(RATE), 0)
    with pytest.raises(InputError, match="hop"):
        detect_events(np.zeros(RATE), RATE, hop_s=1e-6)
    with pytest.raises(InputError, match="hop"):
        detect_events(np.zeros(RATE), RATE, hop_s=float("nan"))


def test_a_long_signal_is_measured_on_the_envelope() -> None:
    # Ten minutes: the temporary memory must stay bounded by the chunk, not grow with the signal.
    x = np.zeros(10 * 60 * 16000, dtype=np.float32)
    x[16000 * 100:16000 * 160] = 0.1
    tracemalloc.start()
    try:
        found = detect_events(x, 16000)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _assert_intervals_near(found, [(100.0, 160.0)], 0.02)
    assert peak < 0.6 * x.nbytes, f"peak {peak / 1e6:.0f} MB for a {x.nbytes / 1e6:.0f} MB signal"


# --------------------------------------------------------------------------------- the timeline


def test_source_events_round_trip_and_validation() -> None:
    events = SourceEvents(2, [(0.0, 1.25), (3.5, 4.0)])
    again = SourceEvents.from_dict(events.to_dict())
    assert again == events
    assert events.sounding_at(0.0) and events.sounding_at(3.9)
    assert not events.sounding_at(1.25) and not events.sounding_at(2.0) and not events.sounding_at(4.0)
    with pytest.raises(InputError, match="source_id"):
        SourceEvents.from_dict({"source_id": -1, "intervals": []})
    with pytest.raises(InputError, match=r"intervals\[1\]"):
        SourceEvents.from_dict({"source_id": 0, "intervals": [[0.0, 2.0], [1.0, 3.0]]})
    with pytest.raises(InputError, match=r"intervals\[0\]"):
        SourceEvents.from_dict({"source_id": 0, "intervals": [[1.0, "x"]]})


def _source(source_id: int, side: Side, motion: Motion, track_t: list[float]) -> Source:
    t = np.asarray(track_t, dtype=float)
    return Source(id=source_id, side=side, motion=motion, confidence=0.8, azimuth_start_deg=-40.0,
                  azimuth_end_deg=-40.0, track=SourceTrack(t=t, azimuth_deg=np.full(t.shape, -40.0),
                                                           level_db=np.full(t.shape, -20.0)))


def _analysis(sources: list[Source], duration_s: float) -> Analysis:
    empty = np.zeros(0)
    return Analysis(sample_rate=RATE, channels=2, duration_s=duration_s,
                    frames=CueFrames(hop_s=0.01, t=empty, ild_db=empty, itd_ms=empty, coherence=empty,
                                     level_dbfs=empty),
                    sources=sources)


def test_events_from_tracks_split_at_gaps_longer_than_half_a_second() -> None:
    first = [0.125 + 0.25 * k for k in range(4)]  # segments covering 0-1 s
    second = [2.125 + 0.25 * k for k in range(4)]  # 2-3 s
    near = [3.125, 3.625]  # 0.25 s apart at the segment edges: joined
    analysis = _analysis([_source(0, Side.LEFT, Motion.STATIONARY, first + second + near),
                          _source(1, Side.RIGHT, Motion.STATIONARY, [])], 4.0)
    events = events_from_tracks(analysis)
    assert [e.source_id for e in events] == [0, 1]
    _assert_intervals_near(events[0].intervals, [(0.0, 1.0), (2.0, 3.75)], 1e-9)
    assert events[1].intervals == []


def test_describe_events_is_one_readable_line() -> None:
    analysis = _analysis([_source(0, Side.LEFT, Motion.MOVING_RIGHT, []),
                          _source(1, Side.RIGHT, Motion.STATIONARY, [])], 8.0)
    events = [SourceEvents(0, [(0.0, 2.43), (3.1, 8.0)]), SourceEvents(1, [(1.2, 1.9)])]
    assert describe_events(events, source_names(analysis)) == (
        "source 0 (left, moving right): 0.0–2.4 s, 3.1–8.0 s; source 1 (right): 1.2–1.9 s"
    )
    assert describe_events([SourceEvents(3, [])]) == "source 3: not heard on its own"
    many = SourceEvents(0, [(float(k), k + 0.5) for k in range(30)])
    text = describe_events([many], max_intervals=3)
    assert text == "source 0: 0.0–0.5 s, 1.0–1.5 s, 2.0–2.5 s, and 27 more until 29.5 s"


# --------------------------------------------------------------------------- separated sources


def test_an_event_outside_the_track_counts_only_when_clearly_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """The confirmation rule, with the separation replaced by known signals."""
    seconds = 4.0
    # Source 0 is tracked 0-1 s only. Its separated signal: the tracked burst, a faint leak at 2.0-2.5 s
    # (20 dB down, untracked: dropped) and a loud untracked burst at 3.0-3.5 s (kept).
    rng = np.random.default_rng(7)
    separated = _noise_bursts([(0.0, 1.0), (3.0, 3.5)], seconds, floor=1e-4)
    separated[int(2.0 * RATE):int(2.5 * RATE)] += 0.03 * rng.standard_normal(int(0.5 * RATE))
    analysis = _analysis([_source(0, Side.LEFT, Motion.STATIONARY, [0.125, 0.375, 0.625, 0.875])], seconds)
    fake = types.ModuleType("engine.audition.separate")
    fake.separate_sources = lambda stereo, rate, analysis: {0: separated}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.audition.separate", fake)
    events = source_events(np.zeros((separated.size, 2)), RATE, analysis)
    assert [e.source_id for e in events] == [0]
    _assert_intervals_near(events[0].intervals, [(0.0, 1.0), (3.0, 3.5)], 0.03)
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        source_events(np.zeros(100), RATE, analysis)


def _pan(signal: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """Constant-power sine-law pan (the convention engine.audio.hear reads pan-pot mixes with)."""
    phi = (azimuth_deg + 90.0) / 180.0 * np.pi / 2
    return np.stack([np.cos(phi) * signal, np.sin(phi) * signal], axis=1)


def test_two_panned_sources_are_timed_separately(tmp_path: Path) -> None:
    """A (left) sounds 0-2 s, B (right) 1.5-4 s, in a pan-pot mix analysed from its file."""
    rate, seconds = 48000, 4.0
    rng = np.random.default_rng(11)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    a = np.zeros(n)
    a[: 2 * rate] = 0.2 * rng.standard_normal(2 * rate)
    b = np.zeros(n)
    b_on = slice(int(1.5 * rate), n)
    b[b_on] = 0.25 * np.sin(2 * np.pi * 220.0 * t[b_on]) + 0.15 * np.sin(2 * np.pi * 660.0 * t[b_on])
    mix = _pan(a, -60.0) + _pan(b, 60.0) + 1e-4 * rng.standard_normal((n, 2))
    path = tmp_path / "two.wav"
    sf.write(path, mix.astype(np.float32), rate)
    analysis = analyze(path)
    by_side = {src.side: src.id for src in analysis.sources}
    assert {Side.LEFT, Side.RIGHT} <= set(by_side), f"the analysis should find both: {analysis.sources}"
    events = {ev.source_id: ev.intervals for ev in source_events(mix, rate, analysis)}
    _assert_intervals_near(events[by_side[Side.LEFT]], [(0.0, 2.0)], 0.15)
    _assert_intervals_near(events[by_side[Side.RIGHT]], [(1.5, 4.0)], 0.15)
