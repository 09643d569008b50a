"""The consistency check and "which box is sounding": layouts and analyses built in code with known answers,
then one real make-bench scene analysed end to end."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

from engine.audio.model import Analysis, CueFrames, Motion, RecordingKind, Side, Source, SourceTrack
from engine.check.consistency import Checker, box_direction, camera_for, check_layout
from engine.check.sounding import shared_label_groups, sounding_objects
from engine.errors import InputError
from engine.layout.model import Canvas, VideoLayout, keyframe_times, load_vsl
from engine.planner.camera import Camera

DURATION_S = 8.0
TIMES = keyframe_times(DURATION_S, 5)  # 0, 2, 4, 6, 8 s
CAMERA = Camera()


def _source(source_id: int, azimuth_deg: tuple[float, float], level_db: tuple[float, float] = (-20.0, -20.0),
            sounding_s: tuple[float, float] = (0.0, DURATION_S)) -> Source:
    """A source moving linearly from ``azimuth_deg[0]`` to ``[1]`` over the clip, sampled only while it sounds."""
    t = np.arange(0.05, DURATION_S, 0.1)
    t = t[(t >= sounding_s[0]) & (t <= sounding_s[1])]
    frac = t / DURATION_S
    azimuth = azimuth_deg[0] + frac * (azimuth_deg[1] - azimuth_deg[0])
    level = level_db[0] + frac * (level_db[1] - level_db[0])
    return Source(source_id, Side.CENTER, Motion.STATIONARY, 0.9, azimuth_deg[0], azimuth_deg[1],
                  SourceTrack(t, azimuth, level))


def _analysis(*sources: Source) -> Analysis:
    t = np.arange(0.005, DURATION_S, 0.01)
    flat = np.zeros_like(t)
    frames = CueFrames(hop_s=0.01, t=t, ild_db=flat, itd_ms=flat, coherence=flat + 0.8, level_dbfs=flat - 20.0)
    return Analysis(sample_rate=48000, channels=2, duration_s=DURATION_S, frames=frames, sources=list(sources),
                    kind=RecordingKind.BINAURAL)


def _layout(objects: dict[int, tuple[str, list[float], list[float]]], offscreen: list[dict] | None = None,
            ) -> VideoLayout:
    """Object id → (name, azimuth per keyframe, distance per keyframe), drawn through the planner's camera."""
    keyframes = []
    for k, t in enumerate(TIMES):
        listed = [{"id": object_id, "name": name, "box": list(CAMERA.box(azimuths[k], distances[k], name))}
                  for object_id, (name, azimuths, distances) in objects.items()]
        keyframes.append({"time_s": t, "objects": listed})
    return VideoLayout.model_validate({"duration_s": DURATION_S, "keyframes": keyframes,
                                       "offscreen": offscreen or []})


def _with_boxes(layout: VideoLayout, object_id: int, change) -> VideoLayout:
    """``layout`` with ``change(keyframe index, box) -> box`` applied to one object's boxes."""
    data = layout.to_json_dict()
    for k, frame in enumerate(data["keyframes"]):
        for obj in frame["objects"]:
            if obj["id"] == object_id:
                obj["box"] = list(change(k, obj["box"]))
    return VideoLayout.from_json_dict(data)


def _mirrored_box(box: list[float], width: float = 454.0) -> list[float]:
    return [width - box[2], box[1], width - box[0], box[3]]


STILL = [4.0] * 5
SCENE = {0: ("car", [-30.0] * 5, STILL), 1: ("violin", [25.0] * 5, STILL)}


def test_a_layout_drawn_from_the_sources_agrees() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)))
    report = check_layout(_layout(SCENE), analysis)
    assert report.ok
    assert [(o.id, o.source_id, o.flags) for o in report.objects] == [(0, 0, []), (1, 1, [])]
    assert report.unexplained_sources == []
    violin = report.objects[1].per_keyframe[0]
    assert violin.box_azimuth_deg == pytest.approx(25.0, abs=0.5) and violin.source_azimuth_deg == pytest.approx(25.0)
    assert violin.edge is None and report.objects[0].per_keyframe[0].edge == "left"  # the wide car is cut by the edge
    assert all(k.agrees for o in report.objects for k in o.per_keyframe)


def test_a_moving_source_followed_by_its_box_agrees_and_the_matching_ignores_the_order() -> None:
    analysis = _analysis(_source(0, (30.0, 20.0)), _source(1, (-35.0, 35.0)))
    sweep = list(np.linspace(-35.0, 35.0, 5))
    report = check_layout(_layout({0: ("car", sweep, STILL), 1: ("violin", [30.0, 27.5, 25.0, 22.5, 20.0], STILL)}),
                          analysis)
    assert report.ok
    assert {o.id: o.source_id for o in report.objects} == {0: 1, 1: 0}


def test_a_box_moved_to_the_other_side_at_one_keyframe_is_flagged_naming_that_keyframe() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)))
    moved = _with_boxes(_layout(SCENE), 1, lambda k, box: _mirrored_box(box) if k == 2 else box)
    report = check_layout(moved, analysis)
    assert not report.ok
    car, violin = report.objects
    assert car.flags == []
    assert violin.source_id == 1
    assert violin.flags == ["keyframe 3 (4.0 s): the box is at -25° (left) but the sound is at +25° (right)"]
    assert [k.agrees for k in violin.per_keyframe] == [True, True, False, True, True]


def test_with_more_sources_than_boxes_the_surest_source_is_matched_not_the_loudest() -> None:
    """A room's reflection heard as a second source can be louder than the sound it reflects (it holds more steady
    evidence) but the analysis is less sure of it. A box where the surer source stands agrees, and once dragged
    onto the louder, doubtful one it is flagged against the source it left."""
    source = _source(0, (60.0, 60.0), level_db=(-24.0, -24.0))
    reflection = _source(1, (-60.0, -60.0), level_db=(-16.0, -16.0))
    source.confidence, reflection.confidence = 0.88, 0.8
    analysis = _analysis(reflection, source)
    layout = _layout({0: ("violin", [60.0] * 5, STILL)})
    report = check_layout(layout, analysis)
    assert report.ok and report.objects[0].source_id == 0
    assert [u.source_id for u in report.unexplained_sources] == [1]
    checker = Checker(analysis)
    checker.check(layout)
    moved = checker.check(_with_boxes(layout, 0, lambda _k, box: _mirrored_box(box)))
    assert moved.objects[0].source_id == 0
    assert moved.objects[0].flags[0].endswith("but the sound is at +60° (right)")


def test_a_source_across_the_head_without_its_sides_shadow_is_not_what_a_moved_box_stands_on() -> None:
    """Two sources of a binaural recording as sure as each other, on either side of the head; the left one shows the
    left ear louder above 2 kHz in no moment (a reflection or sidelobe across the head). A box moved from the right
    source onto it, checked afresh, is matched to the right source and flagged; with the shadow shown it would stand
    on the left source and agree."""
    source = _source(0, (60.0, 60.0))
    mirror = _source(1, (-60.0, -60.0))
    source.confidence, mirror.confidence = 0.88, 0.87
    source.shadow_share, mirror.shadow_share = 0.9, 0.0
    moved = _layout({0: ("violin", [-60.0] * 5, STILL)})
    report = check_layout(moved, _analysis(source, mirror))
    assert report.objects[0].source_id == 0 and not report.ok
    mirror.shadow_share = 0.6
    report = check_layout(moved, _analysis(source, mirror))
    assert report.objects[0].source_id == 1 and report.ok


def test_a_box_against_the_frame_edge_agrees_with_any_sound_further_out_on_that_side() -> None:
    layout = _layout({0: ("car", [70.0] * 5, STILL)})
    direction = box_direction(layout.keyframes[0].objects[0].box, CAMERA)
    assert direction.edge == "right" and 25.0 < direction.azimuth_deg < 40.0
    assert check_layout(layout, _analysis(_source(0, (85.0, 60.0)))).ok
    report = check_layout(layout, _analysis(_source(0, (-5.0, -5.0))))
    assert report.objects[0].flags[0].startswith(
        f"keyframe 1 (0.0 s): the box is cut by the right edge of the frame ({direction.azimuth_deg:+.0f}° or "
        "further right) but the sound is at -5° (center)")


def test_toward_the_side_the_tolerance_is_read_on_the_lateral_offset_of_a_head_or_spaced_pair() -> None:
    """sin θ flattens toward the sides: a box at -33° agrees with a sound at -71° in a binaural or spaced
    recording (lateral offsets 0.54 and 0.95, as far apart as -11.6° and +11.6°), not in a pan-pot mix, whose pan
    position is linear in θ. A span centred straight ahead keeps its angle; no span grows."""
    direction = box_direction(CAMERA.box(-33.0, 6.0, "drum"), CAMERA)
    assert direction.edge is None
    assert float(direction.offset_to(-71.0, lateral=False)) == pytest.approx(38.0, abs=0.5)
    assert float(direction.offset_to(-71.0, lateral=True)) == pytest.approx(23.1, abs=0.5)
    box_azimuth = direction.azimuth_deg
    assert float(direction.offset_to(-box_azimuth, lateral=True)) == pytest.approx(2 * abs(box_azimuth))  # mirrored
    sounds = np.linspace(-90.0, 90.0, 37)
    assert np.all(direction.offset_to(sounds, lateral=True) <= direction.offset_to(sounds, lateral=False) + 1e-9)
    assert float(direction.offset_to(90.0, lateral=True)) < 180.0
    ahead = box_direction(CAMERA.box(0.0, 6.0, "drum"), CAMERA)
    assert np.isnan(ahead.offset_to(np.nan, lateral=True))
    layout = _layout({0: ("drum", [-33.0] * 5, [6.0] * 5)})
    sources = (_source(0, (-71.0, -71.0)),)
    for kind, ok in ((RecordingKind.BINAURAL, True), (RecordingKind.SPACED, True), (RecordingKind.PANPOT, False)):
        analysis = dataclasses.replace(_analysis(*sources), kind=kind)
        assert check_layout(layout, analysis).ok is ok, kind
        checker = Checker(analysis)
        checker.check(layout)
        assert checker.box_check(0, layout.keyframes[0].objects[0].box, 0.0).agrees is ok, kind
        # The mirrored box is flagged whatever the kind.
        assert not checker.box_check(0, _mirrored_box(list(layout.keyframes[0].objects[0].box)), 0.0).agrees
    assert not check_layout(_layout({0: ("drum", [0.0] * 5, [6.0] * 5)}), _analysis(_source(0, (35.0, 35.0)))).ok
    # "Which box is sounding" reads the tolerance the same way.
    drums = _layout({0: ("drum", [-33.0] * 5, [6.0] * 5), 1: ("drum", [20.0] * 5, [6.0] * 5)})
    for kind, expected in ((RecordingKind.SPACED, {0}), (RecordingKind.PANPOT, set())):
        analysis = dataclasses.replace(_analysis(*sources), kind=kind)
        assert sounding_objects(drums, analysis, [4.0]) == {4.0: expected}, kind


def test_keyframes_where_the_source_is_silent_are_skipped() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0), sounding_s=(0.0, 3.0)))
    # The box jumps to the right after the source has stopped sounding: nothing to disagree with.
    layout = _with_boxes(_layout({0: ("car", [-30.0] * 5, STILL)}), 0,
                         lambda k, box: _mirrored_box(box) if k >= 2 else box)
    report = check_layout(layout, analysis)
    assert report.ok
    assert [k.source_azimuth_deg is None for k in report.objects[0].per_keyframe] == [False, False, True, True, True]
    assert report.objects[0].per_keyframe[-1].agrees


def test_sources_marked_off_screen_are_neither_matched_nor_flagged_nor_listed() -> None:
    narrator = _source(2, (0.0, 0.0))
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)), narrator)
    unmarked = check_layout(_layout(SCENE), analysis)
    assert unmarked.ok  # an unexplained sound is a note, not a fault
    [note] = unmarked.unexplained_sources
    assert note.source_id == 2 and "mark it off screen" in note.note

    marked = check_layout(_layout(SCENE, offscreen=[{"name": "narrator", "source_id": 2}]), analysis)
    assert marked.ok and marked.unexplained_sources == [] and marked.offscreen_source_ids == [2]

    # A box standing right where the off-screen narrator is heard must not be matched to it.
    centre_box = _layout({0: ("person", [0.0] * 5, STILL)}, offscreen=[{"name": "narrator", "source_id": 2}])
    report = check_layout(centre_box, _analysis(_source(0, (-60.0, -60.0)), narrator))
    assert report.objects[0].source_id == 0 and not report.ok


def test_an_object_beyond_the_sources_matches_none_and_is_flagged() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)))
    report = check_layout(_layout(SCENE), analysis)
    car, violin = report.objects
    assert car.source_id == 0 and car.flags == []
    assert violin.source_id is None
    assert violin.flags == ["matches no measured source: the one source heard is better explained by other boxes "
                            "(or silent while this one is shown)"]
    assert not any(k.agrees for k in violin.per_keyframe)
    nothing = check_layout(_layout(SCENE), _analysis())
    assert nothing.objects[0].flags == ["matches no measured source: the analysis heard none"]


def test_a_box_no_reported_source_explains_may_match_a_faint_one_where_it_stands() -> None:
    """A second sound too faint for the analysis to report is kept as a faint candidate; a box standing there is
    checked against it instead of being flagged, while a box elsewhere still matches nothing."""
    analysis = _analysis(_source(0, (-30.0, -30.0)))
    analysis.faint_sources = [_source(1, (28.0, 28.0))]
    report = check_layout(_layout(SCENE), analysis)
    assert report.ok and [(o.id, o.source_id) for o in report.objects] == [(0, 0), (1, 1)]
    assert report.unexplained_sources == []  # a faint candidate is never listed as unexplained

    elsewhere = check_layout(_layout({**SCENE, 1: ("violin", [-70.0] * 5, STILL)}), analysis)
    violin = elsewhere.objects[1]
    assert violin.source_id is None and violin.flags[0].startswith("matches no measured source")

    # Dragged off the faint sound, the box is flagged like any other (the matching is kept while editing).
    checker = Checker(analysis)
    checker.check(_layout(SCENE))
    moved = checker.check(_with_boxes(_layout(SCENE), 1, lambda _k, box: _mirrored_box(box)))
    assert moved.objects[1].source_id == 1 and moved.objects[1].flags


def test_a_box_that_grows_while_its_sound_fades_is_flagged() -> None:
    nearer = [12.0, 8.0, 5.0, 3.5, 2.5]
    fading = _analysis(_source(0, (-30.0, -30.0), level_db=(-14.0, -26.0)))
    rising = _analysis(_source(0, (-30.0, -30.0), level_db=(-26.0, -14.0)))
    steady = _analysis(_source(0, (-30.0, -30.0), level_db=(-20.0, -21.5)))
    approaching = _layout({0: ("car", [-30.0] * 5, nearer)})
    [flag] = check_layout(approaching, fading).objects[0].flags
    assert flag.startswith("size trend (0.0-8.0 s): the box grows") and "12 dB quieter" in flag
    assert check_layout(approaching, rising).ok
    assert check_layout(approaching, steady).ok  # 1.5 dB is no clear trend
    receding = _layout({0: ("car", [-30.0] * 5, nearer[::-1])})
    assert "the box shrinks" in check_layout(receding, rising).objects[0].flags[0]
    assert check_layout(_layout({0: ("car", [-30.0] * 5, STILL)}), fading).ok  # a still box: no clear trend


def test_mirroring_the_boxes_and_negating_the_azimuths_gives_the_same_verdicts() -> None:
    sources = [_source(0, (-50.0, 10.0), level_db=(-26.0, -14.0)), _source(1, (40.0, 40.0)), _source(2, (5.0, 5.0))]
    layout = _layout({0: ("car", list(np.linspace(-50.0, 10.0, 5)), [9.0, 7.0, 5.0, 4.0, 3.0]),
                      1: ("violin", [40.0, 40.0, -40.0, 40.0, 40.0], STILL),
                      3: ("dog", [-70.0] * 5, STILL)})
    report = check_layout(layout, _analysis(*sources))

    def mirrored(source: Source) -> Source:
        track = source.track
        return Source(source.id, source.side, source.motion, source.confidence, -source.azimuth_start_deg,
                      -source.azimuth_end_deg, SourceTrack(track.t, -track.azimuth_deg, track.level_db))

    mirror_layout = layout
    for object_id in layout.object_ids():
        mirror_layout = _with_boxes(mirror_layout, object_id, lambda _k, box: _mirrored_box(box))
    mirror = check_layout(mirror_layout, _analysis(*[mirrored(s) for s in sources]))

    def verdicts(r):
        return [(o.id, o.source_id, len(o.flags), [k.agrees for k in o.per_keyframe]) for o in r.objects]

    assert verdicts(mirror) == verdicts(report)
    assert not report.ok and report.objects[1].flags[0].startswith("keyframe 3 (4.0 s)")
    for obj, mirror_obj in zip(report.objects, mirror.objects, strict=True):
        for k, mk in zip(obj.per_keyframe, mirror_obj.per_keyframe, strict=True):
            assert mk.box_azimuth_deg == pytest.approx(-k.box_azimuth_deg)
            assert {k.edge, mk.edge} in ({None}, {"left", "right"})


def test_the_json_has_the_shape_of_spec() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)), _source(2, (70.0, 70.0)))
    moved = _with_boxes(_layout(SCENE), 1, lambda _k, box: _mirrored_box(box))
    data = json.loads(json.dumps(check_layout(moved, analysis).to_json_dict()))
    assert data["ok"] is False and data["tolerance_deg"] == 30.0
    car, violin = data["objects"]
    assert {"id": 0, "name": "car", "flags": []}.items() <= car.items()
    assert violin["id"] == 1 and violin["name"] == "violin" and len(violin["flags"]) == 5
    assert all(isinstance(flag, str) for flag in violin["flags"])
    assert violin["keyframes"][0].keys() == {"keyframe", "time_s", "box_azimuth_deg", "box_edge",
                                             "source_azimuth_deg", "agrees"}
    assert data["unexplained_sources"][0]["side"] == "right"


def test_the_checker_keeps_its_matching_so_the_dragged_box_is_the_one_flagged() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)))
    checker = Checker(analysis)
    assert checker.check(_layout(SCENE)).ok
    assert checker.matches == {0: 0, 1: 1}
    # The car's box is dragged over to where the violin is heard, next to the violin's box.
    dragged = _with_boxes(_layout(SCENE), 0, lambda _k, box: _mirrored_box(box))
    report = checker.check(dragged)
    assert [o.id for o in report.objects if o.flags] == [0]
    assert checker.matches == {0: 0, 1: 1}
    assert checker.match(_layout(SCENE)) == {0: 0, 1: 1}  # matching afresh


def test_a_saved_matching_keeps_the_dragged_box_flagged_where_matching_afresh_would_flag_its_neighbour() -> None:
    # A car crossing from the far left to where a violin stands; the violin's box is dragged to the left.
    analysis = _analysis(_source(0, (-90.0, 53.0)), _source(1, (53.0, 53.0)))
    scene = {0: ("car", [-90.0 + 143.0 * k / 4 for k in range(5)], STILL), 1: ("violin", [53.0] * 5, STILL)}
    dragged = _with_boxes(_layout(scene), 1, lambda _k, box: _mirrored_box(box))
    live = Checker(analysis)
    assert live.check(_layout(scene)).ok
    assert [o.id for o in live.check(dragged).objects if o.flags] == [1]
    saved = live.saved_matches()
    assert saved == [(0, 0, -18.5), (1, 1, 53.0)]  # object, source, where the source is mostly heard
    # Opened again: matched afresh, the car's box would stand for the violin's sound and be flagged too.
    assert sorted(o.id for o in Checker(analysis).check(dragged).objects if o.flags) == [0, 1]
    reopened = Checker(analysis)
    assert reopened.restore(saved) == {0: 0, 1: 1}
    assert [o.id for o in reopened.check(dragged).objects if o.flags] == [1]


def test_a_saved_match_whose_source_is_gone_or_heard_elsewhere_is_matched_afresh() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)))
    checker = Checker(analysis)
    # Source 0 is now heard at -30 deg, not +40 (another analysis numbered its sources otherwise); there is no
    # source 7; object 1 is named twice.
    assert checker.restore([(0, 0, 40.0), (1, 7, 25.0), (1, 1, 27.0), (1, 0, -30.0)]) == {1: 1}
    report = checker.check(_layout(SCENE))
    assert report.ok and checker.matches == {0: 0, 1: 1}


def test_an_object_assigned_a_source_by_the_user_keeps_it_and_frees_the_object_that_had_it() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)))
    checker = Checker(analysis)
    assert checker.check(_layout(SCENE)).ok and checker.matches == {0: 0, 1: 1}
    checker.assign(0, 1)  # "the car is the sound on the right"
    report = checker.check(_layout(SCENE))
    assert checker.matches == {0: 1, 1: 0}
    assert [o.id for o in report.objects if o.flags] == [0, 1]  # each box now stands away from its sound
    checker.assign(0, None)  # back to the matching: the car is matched again among the sources left
    checker.assign(1, None)
    assert checker.check(_layout(SCENE)).ok and checker.matches == {0: 0, 1: 1}
    with pytest.raises(InputError, match="no measured source #7"):
        checker.assign(0, 7)


def test_a_new_object_is_matched_among_the_sources_left_and_the_kept_matches_stay() -> None:
    analysis = _analysis(_source(0, (-30.0, -30.0)), _source(1, (25.0, 25.0)), _source(2, (70.0, 70.0)))
    checker = Checker(analysis)
    first = checker.check(_layout(SCENE))
    assert [u.source_id for u in first.unexplained_sources] == [2]
    report = checker.check(_layout({**SCENE, 2: ("dog", [70.0] * 5, STILL)}))
    assert report.ok and report.unexplained_sources == []
    assert checker.matches == {0: 0, 1: 1, 2: 2}
    # Marking the dog's sound off screen frees the dog from it: the dog now matches no source.
    hidden = checker.check(_layout({**SCENE, 2: ("dog", [70.0] * 5, STILL)},
                                   offscreen=[{"name": "dog barking off screen", "source_id": 2}]))
    assert hidden.objects[2].source_id is None and hidden.objects[2].flags


def test_box_check_and_check_frame_answer_for_dragged_boxes_within_a_few_milliseconds() -> None:
    analysis = _analysis(*(_source(i, (az, az)) for i, az in enumerate((-60.0, -30.0, 0.0, 30.0, 60.0))))
    layout = _layout({i: ("speaker", [az] * 5, STILL) for i, az in enumerate((-60.0, -30.0, 0.0, 30.0, 60.0))})
    checker = Checker(analysis)
    with pytest.raises(RuntimeError):
        checker.box_check(0, (0.0, 0.0, 10.0, 10.0), 1.0)
    checker.check(layout)
    right_box = CAMERA.box(30.0, 4.0, "speaker")
    start = time.perf_counter()
    for _ in range(200):
        verdict = checker.box_check(1, right_box, 3.0)
    per_call_ms = (time.perf_counter() - start) / 200 * 1000
    assert per_call_ms < 5.0
    assert not verdict.agrees and verdict.source_azimuth_deg == pytest.approx(-30.0)
    assert checker.box_check(3, right_box, 3.0).agrees
    assert not checker.box_check(99, right_box, 3.0).agrees  # an object the matching does not know

    # The whole frame on screen, between keyframes, with object 1 dragged to the right at keyframe 2 only.
    dragged = _with_boxes(layout, 1, lambda k, box: _mirrored_box(box) if k == 2 else box)
    start = time.perf_counter()
    frame = checker.check_frame(dragged, 3.5)
    assert (time.perf_counter() - start) * 1000 < 5.0
    assert sorted(frame) == [0, 1, 2, 3, 4]
    assert [i for i, verdict in frame.items() if not verdict.agrees] == [1]
    assert 10.0 < frame[1].box_azimuth_deg < 20.0  # three quarters of the way from -30° to +30°
    assert checker.check_frame(dragged, 2.5)[1].agrees  # a quarter of the way: still within 30°


def test_the_check_uses_the_layouts_canvas_and_rejects_a_bad_tolerance() -> None:
    camera = camera_for(Canvas(908, 512))
    assert (camera.width, camera.height, camera.hfov_deg) == (908.0, 512.0, CAMERA.hfov_deg)
    assert box_direction((454.0 - 20, 0, 454.0 + 20, 10), camera).azimuth_deg == pytest.approx(0.0)
    for tolerance in (0.0, -5.0, float("nan"), 200.0):
        with pytest.raises(InputError, match="tolerance"):
            check_layout(_layout(SCENE), _analysis(), tolerance_deg=tolerance)


# ----------------------------------------------------------------------------------------- sounding


def test_of_two_same_label_boxes_the_one_on_the_sounds_side_is_sounding() -> None:
    layout = _layout({0: ("car", [-40.0] * 5, STILL), 1: ("Car", [40.0] * 5, STILL), 2: ("violin", [0.0] * 5, STILL)})
    assert shared_label_groups(layout) == {"car": [0, 1]}
    # The right car sounds until 5 s; then only the violin, which must not light up a car.
    analysis = _analysis(_source(0, (38.0, 38.0), sounding_s=(0.0, 5.0)), _source(1, (2.0, 2.0)))
    sounding = sounding_objects(layout, analysis, [0.0, 3.0, 4.5, 7.0])
    assert sounding == {0.0: {1}, 3.0: {1}, 4.5: {1}, 7.0: set()}
    # Mirrored: the left car.
    left = _analysis(_source(0, (-38.0, -38.0)))
    assert sounding_objects(layout, left, TIMES) == {t: {0} for t in TIMES}


def test_a_faint_moment_an_off_screen_source_or_a_lone_label_light_up_nothing() -> None:
    layout = _layout({0: ("car", [-40.0] * 5, STILL), 1: ("car", [40.0] * 5, STILL)})
    fading = _analysis(_source(0, (40.0, 40.0), level_db=(-10.0, -40.0)))  # 25 dB below its loudest after 6.7 s
    assert sounding_objects(layout, fading, [1.0, 7.5]) == {1.0: {1}, 7.5: set()}
    offscreen = _layout({0: ("car", [-40.0] * 5, STILL), 1: ("car", [40.0] * 5, STILL)},
                        offscreen=[{"name": "radio", "source_id": 0}])
    assert sounding_objects(offscreen, fading, [1.0]) == {1.0: set()}
    lone = _layout({0: ("car", [40.0] * 5, STILL), 1: ("violin", [-40.0] * 5, STILL)})
    assert sounding_objects(lone, fading, [1.0]) == {1.0: set()}


# ----------------------------------------------------------------------------------- end to end


def test_a_make_bench_scene_agrees_with_its_analysis_and_a_mirrored_box_does_not(tmp_path: Path) -> None:
    from engine.audio.hear import analyze
    from engine.synth.bench import make_bench

    # Seed 11's scene 2: a dry binaural pair of stationary sources, left and right.
    make_bench(tmp_path, 3, seed=11, duration_range_s=(2.0, 2.5))
    layout = load_vsl(tmp_path / "scene_002.vsl.json")
    analysis = analyze(tmp_path / "scene_002.wav")
    report = check_layout(layout, analysis)
    assert report.ok, report.to_json_dict()
    assert {o.source_id for o in report.objects} == {s.id for s in analysis.sources}
    moved = _with_boxes(layout, 0, lambda _k, box: _mirrored_box(box))
    assert not check_layout(moved, analysis).ok
    checker = Checker(analysis)
    checker.check(layout)
    assert [o.id for o in checker.check(moved).objects if o.flags] == [0]
