"""The analysis file: SPEC conventions and a clear error per bad field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.audio.model import (
    Analysis,
    CueFrames,
    Motion,
    Side,
    Source,
    SourceTrack,
    side_for_azimuth,
)
from engine.errors import InputError


def _analysis() -> Analysis:
    t = np.arange(5) * 0.01 + 0.005
    frames = CueFrames(
        hop_s=0.01, t=t, ild_db=np.array([1.0, 2.0, np.nan, 4.0, 5.0]), itd_ms=np.zeros(5),
        coherence=np.full(5, 0.9), level_dbfs=np.full(5, -20.0),
    )
    track = SourceTrack(t=t, azimuth_deg=np.linspace(-40, 40, 5), level_db=np.full(5, -20.0))
    source = Source(
        id=0, side=Side.RIGHT, motion=Motion.MOVING_RIGHT, confidence=0.8,
        azimuth_start_deg=-40.0, azimuth_end_deg=40.0, track=track,
    )
    return Analysis(sample_rate=48000, channels=2, duration_s=0.05, frames=frames, sources=[source])


@pytest.mark.parametrize(
    "azimuth,side",
    [(-90, Side.LEFT), (-15.01, Side.LEFT), (-15, Side.CENTER), (0, Side.CENTER), (15, Side.CENTER),
     (15.01, Side.RIGHT), (90, Side.RIGHT)],
)
def test_side_thresholds_follow_the_spec(azimuth: float, side: Side) -> None:
    assert side_for_azimuth(azimuth) is side


def test_round_trip_keeps_values_and_writes_nan_as_null(tmp_path) -> None:
    path = tmp_path / "a.json"
    _analysis().save_json(path)
    raw = json.loads(path.read_text())
    assert raw["frames"]["ild_db"][2] is None
    back = Analysis.load_json(path)
    assert math.isnan(back.frames.ild_db[2]) and back.frames.ild_db[3] == 4.0
    assert back.sources[0].motion is Motion.MOVING_RIGHT
    assert back.sources[0].track.azimuth_at(0.025) == pytest.approx(0.0, abs=1e-6)


def test_faint_sources_round_trip_and_are_optional(tmp_path) -> None:
    analysis = _analysis()
    faint = analysis.sources[0]
    analysis.faint_sources = [Source(id=1, side=Side.LEFT, motion=Motion.STATIONARY, confidence=0.2,
                                     azimuth_start_deg=-60.0, azimuth_end_deg=-60.0, track=faint.track)]
    analysis.save_json(tmp_path / "a.json")
    back = Analysis.load_json(tmp_path / "a.json")
    assert [(s.id, s.side, s.azimuth_start_deg) for s in back.faint_sources] == [(1, Side.LEFT, -60.0)]
    older = analysis.to_dict()
    del older["faint_sources"]  # analyses written before faint candidates existed
    (tmp_path / "old.json").write_text(json.dumps(older))
    assert Analysis.load_json(tmp_path / "old.json").faint_sources == []


def test_a_spaced_pairs_spacing_round_trips_and_defaults_to_40_cm(tmp_path) -> None:
    analysis = _analysis()
    analysis.spacing_m = 0.8
    analysis.save_json(tmp_path / "a.json")
    assert Analysis.load_json(tmp_path / "a.json").spacing_m == 0.8
    older = analysis.to_dict()
    del older["spacing_m"]  # analyses written before it was kept
    (tmp_path / "old.json").write_text(json.dumps(older))
    assert Analysis.load_json(tmp_path / "old.json").spacing_m == 0.4


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda d: d.update(spacing_m=0), "'spacing_m' must be a number of metres in [0.01, 5]"),
        (lambda d: d.update(faint_sources={"id": 1}), "'faint_sources' must be a list"),
        (lambda d: d.update(format="something"), "'format'"),
        (lambda d: d.update(version=7), "'version'"),
        (lambda d: d["sources"][0].update(side="up"), "sources[0]: field 'side'"),
        (lambda d: d["sources"][0].update(azimuth_end_deg=140), "'azimuth_end_deg' must lie in [-90, 90]"),
        (lambda d: d["sources"][0].update(confidence="high"), "'confidence'"),
        (lambda d: d["frames"].update(itd_ms=[0.0]), "'itd_ms' has 1 values"),
        (lambda d: d["frames"].pop("coherence"), "'coherence' is missing"),
    ],
)
def test_bad_fields_are_named(tmp_path, mutate, field: str) -> None:
    data = _analysis().to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as info:
        Analysis.load_json(path)
    assert field in str(info.value) and str(path) in str(info.value)


def test_not_json_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        Analysis.load_json(path)
