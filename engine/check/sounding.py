"""Which box is sounding? When several objects share a label (two cars, two speakers), the audio decides.

A name alone cannot say which of two cars is the one heard at a given moment; the direction of the sound can.
At each asked time, every source that is sounding then (its track has data, and its level is within
:data:`ACTIVE_RANGE_DB` of its own loudest, so that a faint tail or reverberation does not count) points to the
box nearest to its azimuth among *all* boxes present, within the tolerance (read on the recording's cue, as the
consistency check reads it: :meth:`engine.check.consistency.BoxDirection.offset_to`). A box so pointed to that
shares its label with another object of the layout is sounding. Taking the nearest of all boxes, not only of the
same-label ones, keeps a violin heard beside a silent car from lighting that car up.

Boxes between keyframes are interpolated as the editor shows them (:func:`engine.layout.interp.boxes_at_times`);
directions come from boxes through the camera as in :mod:`engine.check.consistency` (a box cut by the frame's
edge stands for "at or beyond it"). Sources marked off screen point to no box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.audio.model import Analysis
from engine.check.consistency import (
    DEFAULT_TOLERANCE_DEG,
    LATERAL_KINDS,
    TrackView,
    box_direction,
    camera_for,
)
from engine.layout.interp import boxes_at_times
from engine.layout.model import VideoLayout
from engine.planner.camera import Camera

#: A source sounds at a time when its level then is within this many dB of its own loudest.
ACTIVE_RANGE_DB = 20.0


def shared_label_groups(layout: VideoLayout) -> dict[str, list[int]]:
    """Label (lower case, spaces collapsed) → the ids of its objects, for labels that two or more objects share."""
    groups: dict[str, list[int]] = {}
    for object_id, name in layout.names_by_id().items():
        groups.setdefault(" ".join(name.lower().split()), []).append(object_id)
    return {label: ids for label, ids in groups.items() if len(ids) >= 2}


def sounding_objects(layout: VideoLayout, analysis: Analysis, times_s: Sequence[float],
                     tolerance_deg: float = DEFAULT_TOLERANCE_DEG, camera: Camera | None = None,
                     active_range_db: float = ACTIVE_RANGE_DB) -> dict[float, set[int]]:
    """For each time in ``times_s``: the ids of the objects with a shared label that the audio points to then.

    Only objects whose label another object also carries are ever listed (a lone car needs no deciding). A time
    where no such box is pointed to maps to an empty set. ``tolerance_deg``: how far (degrees) a box may stand
    from the sound and still be the one heard; ``camera``: the field of view (default: the planner's) at the
    layout's canvas size.
    """
    times = np.asarray(times_s, dtype=float)
    result: dict[float, set[int]] = {float(t): set() for t in times}
    grouped = {object_id for ids in shared_label_groups(layout).values() for object_id in ids}
    if not grouped or times.size == 0:
        return result
    camera = camera_for(layout.canvas, camera)
    offscreen = layout.offscreen_source_ids()
    lateral = analysis.kind in LATERAL_KINDS
    tracks = [TrackView(source) for source in analysis.sources if source.id not in offscreen]
    # (n_sources, n_times): each source's azimuth where it is sounding and loud enough, NaN elsewhere.
    azimuths = np.array([_active_azimuths(track, times, active_range_db) for track in tracks]).reshape(-1, times.size)
    for i, frame in enumerate(boxes_at_times(layout, times)):
        if not frame:
            continue
        directions = [box_direction(box.box, camera) for box in frame]
        for azimuth in azimuths[:, i][np.isfinite(azimuths[:, i])]:
            offsets = np.array([float(d.offset_to(azimuth, lateral)) for d in directions])
            nearest = int(np.argmin(offsets))
            if offsets[nearest] <= tolerance_deg and frame[nearest].id in grouped:
                result[float(times[i])].add(frame[nearest].id)
    return result


def _active_azimuths(track: TrackView, times: np.ndarray, active_range_db: float) -> np.ndarray:
    """The track's azimuth at ``times``, NaN where it is silent or more than ``active_range_db`` below its loudest."""
    azimuth = track.azimuth_at(times)
    level = track.level_at(times)
    loud_enough = ~np.isfinite(level) | (level >= track.max_level_db - active_range_db)
    return np.where(loud_enough, azimuth, np.nan)
