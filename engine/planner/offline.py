"""The offline planner: a Video Scene Layout from the measured source tracks, with no network.

One object per source found by the analysis. At each keyframe the object's box comes from the
source's azimuth (where it is, through the pinhole camera of :mod:`engine.planner.camera`) and its
distance (how large and how low it stands). Distance is not measured by a stereo pair; it is told from
level: the source's median level sets a typical distance, and its level trend (the same robust line
that gave the motion label) scales it, so an approaching source grows and a receding one shrinks.

Labels come from the user's hints (``car``, ``car,piano``, ``car@left,piano@right``) or from a coarse
sound-type guess that says it is a guess. Captions and the reasoning statement quote what was measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.audio.hear import AnalysisSettings, model_itd_ms
from engine.audio.model import NOTABLE_CHANGE_DB, Analysis, CueFrames, Motion, Side, Source
from engine.errors import InputError
from engine.layout.model import keyframe_times
from engine.planner.camera import Camera
from engine.planner.sound_type import SoundType, estimate_sound_type

#: A source at this level (dBFS, its median over the track) is placed this far away (m).
REFERENCE_LEVEL_DBFS = -20.0
REFERENCE_DISTANCE_M = 5.0
DISTANCE_RANGE_M = (2.0, 25.0)
#: Sources less confident than this (and less than half as confident as the best) are left out.
MIN_CONFIDENCE = 0.35


@dataclass(frozen=True)
class LabelHint:
    """One ``--labels`` entry: a name, optionally tied to a side."""

    name: str
    side: Side | None = None


def parse_label_hints(text: str | None) -> list[LabelHint]:
    """``"car@left, piano@right"`` → hints. Raises :class:`InputError` naming a bad entry."""
    if not text or not text.strip():
        return []
    hints = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, _, side = entry.partition("@")
        name = " ".join(name.split())
        if not name:
            raise InputError(f"--labels entry {entry!r} has no name; write e.g. car or car@left")
        if side:
            try:
                hints.append(LabelHint(name, Side(side.strip().lower())))
            except ValueError:
                raise InputError(
                    f"--labels entry {entry!r}: side {side.strip()!r} is not one of left, center, right"
                ) from None
        else:
            hints.append(LabelHint(name))
    return hints


@dataclass
class PlannedObject:
    """What the planner decided about one source before it becomes boxes."""

    source: Source
    object_id: int
    name: str
    from_hint: bool
    sound_type: SoundType
    azimuth_deg: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per keyframe
    distance_m: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per keyframe
    present: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per keyframe


def _assign_labels(sources: list[Source], hints: list[LabelHint]) -> tuple[dict[int, str], list[str]]:
    """Source id → hinted name; hints with a side go to the most confident source on that side.

    Returns the assignments and notes about hints that found no source.
    """
    by_conf = sorted(sources, key=lambda s: -s.confidence)
    names: dict[int, str] = {}
    notes = []
    for hint in [h for h in hints if h.side is not None]:
        match = next((s for s in by_conf if s.side is hint.side and s.id not in names), None)
        if match is None:
            notes.append(f"no source was heard on the {hint.side.value} for the label '{hint.name}'")
            continue
        names[match.id] = hint.name
    free = [h for h in hints if h.side is None]
    for hint in free:
        match = next((s for s in by_conf if s.id not in names), None)
        if match is None:
            notes.append(f"the label '{hint.name}' was left over: fewer sources were heard than labels given")
            continue
        names[match.id] = hint.name
    return names, notes


def _track_at(source: Source, times: np.ndarray) -> np.ndarray:
    """Azimuth of ``source`` at ``times``: its track interpolated, held at the ends."""
    t = np.asarray(source.track.t, dtype=float)
    az = np.asarray(source.track.azimuth_deg, dtype=float)
    if t.size == 0:
        return np.full(times.shape, 0.5 * (source.azimuth_start_deg + source.azimuth_end_deg))
    if source.motion in (Motion.STATIONARY, Motion.APPROACHING, Motion.RECEDING):
        # Not moving sideways: one place, so that the box does not wander with measurement noise.
        return np.full(times.shape, float(np.median(az)))
    # Moving: a running median over about a second, then interpolated at the keyframes, so that the
    # box follows the track but not its jitter; the measured start and end anchor the ends.
    k = max(1, min(len(az) // 2 * 2 - 1, 5))
    smooth = np.array([np.median(az[max(0, i - k // 2): i + k // 2 + 1]) for i in range(len(az))])
    return np.interp(times, t, smooth, left=source.azimuth_start_deg, right=source.azimuth_end_deg)


def _distance_at(source: Source, times: np.ndarray, duration_s: float) -> np.ndarray:
    """Distance (m) at ``times`` from the source's level: its median places it, its trend moves it."""
    level = np.asarray(source.track.level_db, dtype=float)
    finite = level[np.isfinite(level)]
    median_db = float(np.median(finite)) if finite.size else REFERENCE_LEVEL_DBFS
    centre_m = REFERENCE_DISTANCE_M * 10 ** ((REFERENCE_LEVEL_DBFS - median_db) / 20.0)
    centre_m = float(np.clip(centre_m, *DISTANCE_RANGE_M))
    # 1/r: coming nearer by N dB over the clip (the level change a dry recording would show; in a room the level
    # changes less and the clarity more, see Source.nearness_change_db) is a distance ratio of 10^(-N/20).
    if source.motion in (Motion.APPROACHING, Motion.RECEDING):
        change_db = source.nearness_db
    else:
        change_db = float(np.clip(source.nearness_db, -3.0, 3.0))  # only a hint of depth change
    frac = times / max(duration_s, 1e-9) - 0.5
    distance = centre_m * 10 ** (-change_db * frac / 20.0)
    return np.clip(distance, DISTANCE_RANGE_M[0] * 0.5, DISTANCE_RANGE_M[1] * 2)


def _presence(source: Source, times: np.ndarray, duration_s: float) -> np.ndarray:
    """Keyframes where the object is shown: from half a keyframe step before it first sounds to after it last does."""
    spans = source.active or ([(float(source.track.t[0]), float(source.track.t[-1]))] if len(source.track.t) else [])
    if not spans:
        return np.ones(times.shape, bool)
    step = duration_s / max(1, len(times) - 1)
    first, last = spans[0][0] - step / 2, spans[-1][1] + step / 2
    present = (times >= first) & (times <= last)
    if not present.any():
        present[int(np.argmin(np.abs(times - 0.5 * (spans[0][0] + spans[-1][1]))))] = True
    return present


def _side_phrase(azimuth_deg: float) -> str:
    side = "left" if azimuth_deg < -15 else "right" if azimuth_deg > 15 else "centre"
    if side == "centre":
        return "in the centre"
    far = abs(azimuth_deg) >= 50
    return f"{'far ' if far else ''}on the {side}"


def _place_noun(azimuth_deg: float) -> str:
    """"the far left", "the left", "the centre", ... for an azimuth."""
    if -15 <= azimuth_deg <= 15:
        return "the centre"
    side = "left" if azimuth_deg < 0 else "right"
    return f"the far {side}" if abs(azimuth_deg) >= 50 else f"the {side}"


def _distance_phrase(distance_m: float) -> str:
    return "close" if distance_m < 4 else "in the middle distance" if distance_m < 12 else "far away"


def _cue_statement(analysis: Analysis, source: Source, span_s: tuple[float, float] | None = None) -> str:
    """ILD and ITD in the frames that point at the source while it sounds, in words (positive = right).

    Frames are taken where the per-frame azimuth lies within 20° of the source's track at that time, so
    a louder source elsewhere does not speak for it; ``span_s`` narrows them to that time span (a moving
    source's first or last stretch). Empty when too few frames qualify.
    """
    frames = analysis.frames
    t = np.asarray(frames.t)
    if frames.azimuth_deg is None or len(source.track.t) == 0 or t.size == 0:
        return ""
    start_s, end_s = span_s if span_s is not None else (source.track.t[0], source.track.t[-1])
    track_az = np.interp(t, source.track.t, source.track.azimuth_deg)
    mask = (t >= start_s) & (t <= end_s)
    mask &= np.abs(np.asarray(frames.azimuth_deg) - track_az) < 20.0
    if mask.sum() < 10:
        return ""
    ild = float(np.nanmedian(np.asarray(frames.ild_db)[mask]))
    itd = float(np.nanmedian(np.asarray(frames.itd_ms)[mask]))
    # In a mixture the frames' broadband ILD and ITD may belong to a louder source elsewhere; a cue that
    # points to the other side than the source's own direction is left unsaid rather than contradicted.
    centre = float(np.median(track_az[mask]))
    side = 0.0 if abs(centre) < 15.0 else math.copysign(1.0, centre)
    if side and np.isfinite(ild) and abs(ild) >= 1.0 and math.copysign(1.0, ild) != side:
        ild = float("nan")
    if side and np.isfinite(itd) and abs(itd) >= 0.05 and math.copysign(1.0, itd) != side:
        itd = float("nan")
    parts = []
    if np.isfinite(ild):
        parts.append(f"louder on the {'right' if ild > 0 else 'left'} by {abs(ild):.1f} dB" if abs(ild) >= 1.0
                     else "about equally loud in both ears")
    if np.isfinite(itd) and abs(itd) >= 0.05 and analysis.kind.value != "panpot":
        parts.append(f"the sound reaching the {'right' if itd > 0 else 'left'} ear {abs(itd):.2f} ms earlier")
    return ", ".join(parts)


def _own_bins_statement(analysis: Analysis, azimuth_deg: float) -> str:
    """The cue that puts a source at ``azimuth_deg``, in words, for a source the mixture's frames never point at
    (a louder one elsewhere sets every frame's broadband cue): the level difference of a pan-pot mix (sine law)
    or the time difference of a head or a spaced pair, as its own time-frequency bins show it."""
    kind = analysis.kind.value
    if kind == "mono" or abs(azimuth_deg) < 1.0:
        return "its own time-frequency bins are balanced between the ears"
    side = "right" if azimuth_deg > 0 else "left"
    if kind == "panpot":
        angle = math.radians((azimuth_deg + 90.0) / 2.0)
        ild = 20 * math.log10(max(math.sin(angle), 1e-6) / max(math.cos(angle), 1e-6))
        return f"its own time-frequency bins are louder on the {side} by {abs(ild):.1f} dB"
    itd = float(model_itd_ms(analysis.kind, azimuth_deg, analysis.spacing_m))
    return f"its own time-frequency bins reach the {side} ear {abs(itd):.2f} ms earlier"


def _where_statement(analysis: Analysis, source: Source, obj: PlannedObject) -> str:
    """The cues that place the object, and where they put it. A source sweeping across (moving left or right) is
    told by its first and its last quarter, where its cues point two ways: their median over the whole track would
    describe a middle it only passes through."""
    if source.motion in (Motion.MOVING_LEFT, Motion.MOVING_RIGHT) and len(source.track.t) >= 2:
        start_s, end_s = float(source.track.t[0]), float(source.track.t[-1])
        quarter = (end_s - start_s) / 4.0
        first = _cue_statement(analysis, source, (start_s, start_s + quarter))
        last = _cue_statement(analysis, source, (end_s - quarter, end_s))
        if first and last:
            return (f"at first {first}, at the end {last}, so it starts {_side_phrase(source.azimuth_start_deg)} "
                    f"and ends {_side_phrase(source.azimuth_end_deg)}")
    centre = float(np.median(obj.azimuth_deg))
    cues = _cue_statement(analysis, source) or _own_bins_statement(analysis, centre)
    return f"{cues}, so it is {_side_phrase(centre)} (about {centre:+.0f}°)"


MOTION_LEVEL_DB = AnalysisSettings().level_change_db


def _motion_statement(source: Source, duration_s: float) -> str:
    sweep = source.azimuth_end_deg - source.azimuth_start_deg
    change, near = source.level_change_db, source.nearness_db
    span = f"over {duration_s:.1f} s"
    if source.motion is Motion.MOVING_RIGHT or source.motion is Motion.MOVING_LEFT:
        direction = "right" if sweep > 0 else "left"
        return (f"its direction sweeps from {source.azimuth_start_deg:+.0f}° to {source.azimuth_end_deg:+.0f}° "
                f"{span}: moving {direction}")
    clarity = source.clarity_part_db
    notable = abs(clarity) >= NOTABLE_CHANGE_DB
    if source.motion in (Motion.APPROACHING, Motion.RECEDING):
        trend = f"its level {'rises' if change > 0 else 'falls'} {abs(change):.0f} dB {span}"
        if notable:
            more, less = ("more", "less") if clarity > 0 else ("less", "more")
            trend += (f" while {more} of it comes straight and {less} from the room, together {abs(near):.0f} dB "
                      f"{'nearer' if near > 0 else 'farther'}")
        return f"{trend}: {source.motion.value}"
    if abs(change) < NOTABLE_CHANGE_DB and not notable:
        return "its direction and level hold steady: stationary"
    how = f"its level changes by only {change:+.1f} dB" if not notable else (
        f"its level ({change:+.1f} dB) and how much of it comes straight rather than from the room together move it "
        f"by only {near:+.1f} dB")
    return (f"its direction holds steady and {how} "
            f"(under the {MOTION_LEVEL_DB:.0f} dB that would mean moving nearer or away): stationary")


def plan_offline(
    analysis: Analysis,
    labels: str | list[LabelHint] | None = None,
    n_keyframes: int = 5,
    camera: Camera | None = None,
    source_frames: dict[int, CueFrames] | None = None,
) -> dict:
    """A VSL (as the JSON dict of SPEC.md) for ``analysis``; see the module docstring.

    ``labels``: hint text or parsed hints. ``source_frames``: per source id, cues measured on its separated signal
    (:func:`engine.planner.sound_type.recording_frames`), for telling what each source is; without them each is
    judged from the mixture's cues while it sounds. Raises :class:`InputError` for a bad hint or keyframe count.
    """
    camera = camera or Camera()
    hints = parse_label_hints(labels) if isinstance(labels, str) or labels is None else list(labels)
    duration = float(analysis.duration_s)
    times = np.asarray(keyframe_times(duration, n_keyframes))
    sources = sorted(analysis.sources, key=lambda s: -s.confidence)
    if sources:
        best = sources[0].confidence
        sources = [s for s in sources if s is sources[0] or s.confidence >= min(MIN_CONFIDENCE, 0.5 * best)]
    hinted, notes = _assign_labels(sources, hints)
    objects: list[PlannedObject] = []
    # Object 0 is the most confident source, object 1 the next, and so on.
    for object_id, source in enumerate(sources):
        sound_type = estimate_sound_type(analysis, source, (source_frames or {}).get(source.id))
        name = hinted.get(source.id, sound_type.label)
        obj = PlannedObject(source, object_id, name, source.id in hinted, sound_type)
        obj.azimuth_deg = _track_at(source, times)
        obj.distance_m = _distance_at(source, times, duration)
        obj.present = _presence(source, times, duration)
        objects.append(obj)

    keyframes = []
    for k, t in enumerate(times):
        listed = []
        phrases = []
        for obj in objects:
            if not obj.present[k]:
                continue
            box = camera.box(float(obj.azimuth_deg[k]), float(obj.distance_m[k]), obj.name)
            if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
                continue
            listed.append({"id": obj.object_id, "name": obj.name, "box": list(box)})
            phrases.append(f"the {obj.name} {_side_phrase(float(obj.azimuth_deg[k]))}, "
                           f"{_distance_phrase(float(obj.distance_m[k]))}")
        caption = f"At {t:.1f} s: " + ("; ".join(phrases) + "." if phrases else "nothing sounds.")
        keyframes.append({"time_s": round(float(t), 3), "caption": caption, "objects": listed})

    reasoning_parts = []
    caption_parts = []
    for obj in objects:
        src = obj.source
        what = (f"'{obj.name}' (named by you)" if obj.from_hint else
                f"'{obj.name}' — a guess: {obj.sound_type.description}; {obj.sound_type.facts}")
        reasoning_parts.append(
            f"Source {obj.object_id + 1}, {what}: {_where_statement(analysis, src, obj)}; "
            f"{_motion_statement(src, duration)}. Confidence {src.confidence:.2f}."
        )
        caption_parts.append(_video_phrase(obj))
    if not objects:
        reasoning_parts.append("No source could be placed: the recording shows no directional sound.")
    if analysis.kind.value == "mono":
        reasoning_parts.append("The recording is mono, so every source is placed in the centre.")
    reasoning_parts += [f"Note: {n}." for n in notes]
    video_caption = (" ".join(caption_parts) if caption_parts else "A quiet scene with no clear sound source.")
    return {
        "format": "spa2v.vsl",
        "version": 1,
        "canvas": {"width": int(camera.width), "height": int(camera.height)},
        "duration_s": round(duration, 3),
        "reasoning": " ".join(reasoning_parts),
        "video_caption": video_caption,
        "keyframes": keyframes,
    }


def _video_phrase(obj: PlannedObject) -> str:
    src = obj.source
    article = "An" if obj.name[:1].lower() in "aeiou" else "A"
    start, end = float(obj.azimuth_deg[0]), float(obj.azimuth_deg[-1])
    if src.motion is Motion.MOVING_RIGHT or src.motion is Motion.MOVING_LEFT:
        return f"{article} {obj.name} moves from {_place_noun(start)} to {_place_noun(end)}."
    where = _side_phrase(float(np.median(obj.azimuth_deg)))
    if src.motion is Motion.APPROACHING:
        return f"{article} {obj.name} {where} comes closer."
    if src.motion is Motion.RECEDING:
        return f"{article} {obj.name} {where} moves away."
    return f"{article} {obj.name} stays {where}."
