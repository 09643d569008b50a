"""The offline planner and its camera: boxes where the ears place the sources, labels, captions."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.hear import analyze
from engine.errors import InputError
from engine.planner.camera import THIRDS_HFOV_DEG, Camera, object_size_m
from engine.planner.offline import parse_label_hints, plan_offline
from engine.planner.prompt import cue_summary
from engine.planner.sound_type import estimate_sound_type
from engine.synth.scenes import SceneSpec, SourceSpec, render_scene

# ----------------------------------------------------------------------------------------- camera


def _centre_x(box) -> float:
    return (box[0] + box[2]) / 2


def test_side_thresholds_fall_on_the_thirds_lines() -> None:
    camera = Camera()
    assert pytest.approx(77.6, abs=0.1) == THIRDS_HFOV_DEG
    assert float(camera.x_for_azimuth(15.0)) == pytest.approx(454 * 2 / 3, abs=0.01)
    assert float(camera.x_for_azimuth(-15.0)) == pytest.approx(454 / 3, abs=0.01)
    for az, third in [(-80, "left"), (-16, "left"), (0, "center"), (14, "center"), (16, "right"), (89, "right")]:
        assert camera.third(_centre_x(camera.box(az, 4.0, "car"))) == third, az


def test_nearer_is_larger_and_lower_and_shapes_follow_the_label() -> None:
    camera = Camera()
    far, near = camera.box(0, 12.0, "person"), camera.box(0, 3.0, "person")
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    assert area(near) > 4 * area(far)
    assert near[3] > far[3]  # the bottom edge is lower in the frame (y grows downwards)
    person, car = camera.box(0, 8.0, "person"), camera.box(0, 8.0, "car")
    assert (person[3] - person[1]) > (person[2] - person[0])  # tall
    assert (car[2] - car[0]) > (car[3] - car[1])  # wide
    assert object_size_m("red sports car") == object_size_m("car")
    for box in (far, near, person, car, camera.box(-89, 1.0, "bus")):
        assert 0 <= box[0] < box[2] <= 454 and 0 <= box[1] < box[3] <= 256


def test_beyond_the_field_of_view_a_box_still_shrinks_as_its_source_goes_away() -> None:
    """A violin at 71° receding from 2.7 to 15 m: the box stands at the frame's edge and is sized as the violin would
    look standing there at its distance. With the depth along the axis (d·cos 71° = 0.33 d) every distance under
    3 m was held at the nearest depth and the box stayed the same while the source receded."""
    camera = Camera()
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    boxes = [camera.box(71.0, d, "violin") for d in (2.7, 3.0, 6.0, 15.0)]
    assert all(area(a) > area(b) for a, b in itertools.pairwise(boxes))
    assert all(box[2] == 454 for box in boxes)  # at the right edge, half showing
    # At the edge of the view it is drawn as it would be there: the same box as at the edge's own direction.
    edge = THIRDS_HFOV_DEG / 2.0
    assert camera.box(71.0, 6.0, "violin")[1::2] == camera.box(edge, 6.0, "violin")[1::2]


# ---------------------------------------------------------------------------------------- planner


def _analysis(tmp_path: Path, kind: str, *sources: SourceSpec, seconds: float = 5.0):
    audio, rate = render_scene(SceneSpec(kind=kind, duration_s=seconds, sources=list(sources), seed=3))
    path = tmp_path / "scene.wav"
    sf.write(path, audio, rate)
    return analyze(path)


def _boxes(layout: dict, object_id: int) -> list[list[float]]:
    return [o["box"] for kf in layout["keyframes"] for o in kf["objects"] if o["id"] == object_id]


def test_a_source_on_the_right_is_drawn_in_the_right_third(tmp_path: Path) -> None:
    analysis = _analysis(tmp_path, "panpot", SourceSpec("engine", 55, 55, 4, 4, seed=2))
    layout = plan_offline(analysis, labels="car", n_keyframes=5)
    assert layout["format"] == "spa2v.vsl" and layout["canvas"] == {"width": 454, "height": 256}
    assert [kf["time_s"] for kf in layout["keyframes"]] == pytest.approx(np.linspace(0, 5.0, 5).tolist())
    boxes = _boxes(layout, 0)
    assert len(boxes) == 5
    assert all(Camera().third(_centre_x(b)) == "right" for b in boxes)
    assert all(o["name"] == "car" for kf in layout["keyframes"] for o in kf["objects"])
    assert "right" in layout["reasoning"] and "car" in layout["video_caption"]


def test_moving_right_moves_the_box_right_and_approaching_grows_it(tmp_path: Path) -> None:
    moving = _analysis(tmp_path, "spaced", SourceSpec("engine", -60, 60, 5, 5, seed=4), seconds=6.0)
    assert len(moving.sources) == 1
    xs = [_centre_x(b) for b in _boxes(plan_offline(moving), 0)]
    assert xs[-1] - xs[0] > 100 and all(b >= a - 1 for a, b in itertools.pairwise(xs))
    near = _analysis(tmp_path, "spaced", SourceSpec("engine", 40, 40, 12, 2, seed=5), seconds=6.0)
    source = max(near.sources, key=lambda s: s.confidence)
    assert source.motion.value == "approaching"
    boxes = _boxes(plan_offline(near), source.id if len(near.sources) == 1 else 0)
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    assert areas[-1] > 1.5 * areas[0]


def test_label_hints_go_to_the_named_sides(tmp_path: Path) -> None:
    analysis = _analysis(tmp_path, "panpot", SourceSpec("piano", -60, seed=1), SourceSpec("speech", 60, seed=2))
    layout = plan_offline(analysis, labels="person@right, piano@left")
    names = {o["name"]: _centre_x(o["box"]) for o in layout["keyframes"][2]["objects"]}
    assert names["piano"] < 454 / 3 < 454 * 2 / 3 < names["person"]
    ids = [sorted(o["id"] for o in kf["objects"]) for kf in layout["keyframes"]]
    assert all(i == ids[0] for i in ids)  # ids stable across keyframes


def test_label_hint_errors_and_left_over_labels() -> None:
    assert [(h.name, h.side) for h in parse_label_hints("car")] == [("car", None)]
    with pytest.raises(InputError, match="behind"):
        parse_label_hints("car@behind")
    with pytest.raises(InputError, match="no name"):
        parse_label_hints("@left")


def test_without_hints_the_label_is_a_stated_guess(tmp_path: Path) -> None:
    analysis = _analysis(tmp_path, "panpot", SourceSpec("violin", -50, seed=3))
    layout = plan_offline(analysis)
    assert "a guess" in layout["reasoning"]
    assert layout["keyframes"][0]["objects"][0]["name"] in {"instrument", "siren", "person", "sound source"}


def test_make_bench_writes_a_ground_truth_layout(tmp_path: Path) -> None:
    from engine.synth.bench import make_bench

    make_bench(tmp_path, 3, seed=11)
    truth = json.loads((tmp_path / "scene_002.json").read_text())
    layout = json.loads((tmp_path / "scene_002.vsl.json").read_text())
    assert len(layout["keyframes"]) == 5
    for kf in layout["keyframes"]:
        assert len(kf["objects"]) == len(truth["sources"])
    camera = Camera()
    for src in truth["sources"]:
        first = layout["keyframes"][0]["objects"][src["id"]]["box"]
        assert camera.third(_centre_x(first)) == src["side_start"]


def test_reasoning_never_cites_a_cue_that_points_to_the_other_side() -> None:
    # In the demo the violin on the right dominates the broadband level difference, also while the car is
    # on the left; the car's reasoning must not say it is louder on the right while it is on the left. The car
    # crosses to the right, so it is told by its first and last quarters, each with the cues of its own side.
    demo = Path(__file__).resolve().parents[2] / "resources" / "demo" / "demo_scene.flac"
    layout = plan_offline(analyze(demo), "car,violin@right")
    car = next(part for part in layout["reasoning"].split("Source ") if "'car'" in part)
    first, last = car.split("at the end")
    assert "at first" in first and "reaching the left ear" in first and "on the right" not in first
    assert "reaching the right ear" in last and "left ear" not in last
    assert "starts far on the left and ends far on the right" in last


@pytest.mark.parametrize("source_type,label", [
    ("speech", "person"), ("percussion", "drum"), ("engine", "machine"), ("siren", "siren"), ("piano", "instrument"),
])
def test_the_sound_type_guess_tells_the_broad_classes_apart(tmp_path: Path, source_type: str, label: str) -> None:
    # Before the voice rule looked at onsets and pitch movement, synthetic speech came out as "drum".
    audio, rate = render_scene(SceneSpec(kind="panpot", duration_s=5.0, seed=3,
                                         sources=[SourceSpec(source_type, 30, seed=4)]))
    sf.write(tmp_path / "one.wav", audio, rate)
    analysis = analyze(tmp_path / "one.wav")
    guess = estimate_sound_type(analysis, max(analysis.sources, key=lambda s: s.confidence))
    assert guess.label == label, guess.facts
    assert 0 < guess.certainty <= 0.6  # a guess from a few cues, and it says so


def test_with_two_sources_each_is_named_from_its_own_separated_signal(tmp_path: Path) -> None:
    """An engine far left and a siren ahead in a pan-pot mix (make-bench seed 99, scene 044). Measured on the
    mixture both read alike (the same pitch, centroid and onsets while either sounds), so they got the same
    label; measured on their separated signals the engine is a steady machine and the other is not."""
    from engine.planner.sound_type import recording_frames
    from tests.recordings import write_engine_and_siren_wav

    path = write_engine_and_siren_wav(tmp_path / "pair.wav")
    analysis = analyze(path)
    assert sorted(s.side.value for s in analysis.sources) == ["center", "left"]
    left = next(s for s in analysis.sources if s.side.value == "left")
    centre = next(s for s in analysis.sources if s.side.value == "center")
    mixed = {estimate_sound_type(analysis, s).label for s in analysis.sources}
    assert len(mixed) == 1  # the mixture's cues cannot tell them apart

    frames = recording_frames(path, analysis)
    assert set(frames) == {s.id for s in analysis.sources}
    engine = estimate_sound_type(analysis, left, frames[left.id])
    assert engine.label == "machine"
    assert estimate_sound_type(analysis, centre, frames[centre.id]).label != "machine"
    assert "pitched 9" in engine.facts  # the engine's firing rate, pitched nearly all the time

    layout = plan_offline(analysis, source_frames=frames)
    names = {obj["name"] for obj in layout["keyframes"][0]["objects"]}
    assert len(names) == 2
    # Every frame's broadband cue belongs to the louder mixture; the reasoning states the engine's own bins' cue.
    assert "its own time-frequency bins are louder on the left by 13" in layout["reasoning"]


def test_a_single_source_or_a_long_recording_is_judged_from_the_mixture(tmp_path: Path, monkeypatch) -> None:
    import engine.audition.separate as separate_module
    from engine.planner import sound_type

    path = tmp_path / "one.wav"
    audio, rate = render_scene(SceneSpec(kind="panpot", duration_s=3.0, seed=1,
                                         sources=[SourceSpec("engine", 50, distance_start_m=2.0, seed=2)]))
    sf.write(path, audio, rate)
    analysis = analyze(path)
    assert len(analysis.sources) == 1
    assert sound_type.recording_frames(path, analysis) == {}
    two = analyze(path)
    two.sources = [analysis.sources[0], dataclasses.replace(analysis.sources[0], id=1)]
    # A recording moved away since its analysis: planning goes on from the mixture's cues.
    assert sound_type.recording_frames(tmp_path / "moved-away.wav", two) == {}

    def refuse(*_args, **_kwargs):
        raise AssertionError("the recording was read")

    monkeypatch.setattr(separate_module, "load_stereo", refuse)
    two.duration_s = sound_type.SEPARATED_TYPES_MAX_S + 1.0
    assert sound_type.recording_frames(path, two) == {}  # too long to separate: never read


def test_separating_for_the_labels_can_be_cancelled_midway(tmp_path: Path) -> None:
    """Cancel is asked while the sources are separated and measured, not only around reading the file."""
    from engine.errors import Cancelled
    from engine.planner.sound_type import recording_frames
    from tests.recordings import write_engine_and_siren_wav

    path = write_engine_and_siren_wav(tmp_path / "pair.wav")
    analysis = analyze(path)
    asked = []

    def cancel_after_reading() -> bool:
        asked.append(1)
        return len(asked) > 2  # before and after reading pass; the first question while separating stops it

    with pytest.raises(Cancelled):
        recording_frames(path, analysis, is_cancelled=cancel_after_reading)
    assert len(asked) == 3


def test_a_source_receding_in_a_room_shrinks_by_its_nearness_and_the_reasoning_says_why(tmp_path: Path) -> None:
    """A siren going from 2 to 12 m away in a room (make-bench seed 5, scene 070): its level falls under 6 dB, its
    clarity with it; the box shrinks as far as both together say it went away, and the reasoning tells so."""
    spec = SceneSpec(kind="panpot", duration_s=6.25, rt60_s=0.173, seed=2019277669, sources=[
        SourceSpec("siren", -43.88, -46.42, distance_start_m=2.01, distance_end_m=12.01, seed=400293184)])
    audio, rate = render_scene(spec)
    sf.write(tmp_path / "siren.wav", audio, rate)
    (source,) = (analysis := analyze(tmp_path / "siren.wav")).sources
    layout = plan_offline(analysis, "siren")
    by_level = dataclasses.replace(analysis, sources=[dataclasses.replace(source, nearness_change_db=None)])

    def shrink(plan: dict) -> float:
        boxes = _boxes(plan, 0)
        return (boxes[-1][3] - boxes[-1][1]) / (boxes[0][3] - boxes[0][1])

    assert source.nearness_db < source.level_change_db < 0
    assert shrink(layout) < 0.9 * shrink(plan_offline(by_level, "siren")) < 0.9
    assert "while less of it comes straight and more from the room" in layout["reasoning"]
    assert ": receding" in layout["reasoning"]
    # The LLM planner is told the same.
    assert f"less of it coming straight rather than from the room (together {abs(source.nearness_db):.0f} dB farther)" \
        in cue_summary(analysis)
