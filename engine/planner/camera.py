"""Where a sound source appears in the picture: a pinhole camera at the listener's head.

The camera looks straight ahead from ``height_m`` above a flat ground. A source at azimuth θ and
distance d stands on the ground; its box is centred at ``x = cx + f·tan θ`` and its bottom edge lies
where the ground at depth ``d·cos θ`` (θ held within the field of view) projects,
``y = cy + f·height_m / depth``. Its size is its
physical size (a table per label) times ``f / depth``. So a nearer source is larger and lower in the
frame, and a source moving right moves right in the picture.

The default field of view puts the side thresholds of SPEC.md (±15°) on the thirds lines of the
canvas: ``f·tan 15° = W/6`` gives a horizontal field of view of 2·atan(3·tan 15°) ≈ 77.6°. Sources
beyond the field of view stay at the frame's edge, partly outside it (clipped to the canvas), as a
car entering or leaving the shot would, sized as they would look standing at that edge at their distance.

Used both by the offline planner (azimuth and distance measured from audio) and by make-bench
(the true trajectories), so the ground truth and the plans share one geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError

#: Field of view whose thirds lines fall at azimuth ±15° (the SPEC's side thresholds).
THIRDS_HFOV_DEG = 2.0 * math.degrees(math.atan(3.0 * math.tan(math.radians(15.0))))

#: Physical (width, height) in metres per label, for box aspect ratios and sizes. A person is tall,
#: a car is wide. Labels not listed use DEFAULT_SIZE_M.
OBJECT_SIZE_M: dict[str, tuple[float, float]] = {
    "person": (0.6, 1.75),
    "man": (0.6, 1.8),
    "woman": (0.55, 1.7),
    "child": (0.45, 1.2),
    "singer": (0.6, 1.75),
    "violinist": (0.8, 1.75),
    "guitarist": (0.8, 1.75),
    "drummer": (1.4, 1.4),
    "drum": (0.8, 0.9),
    "drum kit": (1.5, 1.2),
    "piano": (1.5, 1.4),
    "violin": (0.8, 1.75),  # a violin is seen with its player
    "guitar": (0.8, 1.75),
    "car": (4.4, 1.5),
    "vehicle": (4.4, 1.6),
    "truck": (8.0, 3.2),
    "bus": (11.0, 3.2),
    "motorcycle": (2.0, 1.2),
    "ambulance": (5.5, 2.6),
    "police car": (4.8, 1.6),
    "fire truck": (9.0, 3.2),
    "train": (25.0, 4.0),
    "airplane": (35.0, 10.0),
    "helicopter": (12.0, 4.0),
    "dog": (0.9, 0.7),
    "cat": (0.5, 0.35),
    "bird": (0.3, 0.25),
    "horse": (2.2, 1.7),
    "cow": (2.2, 1.5),
    "speaker": (0.4, 0.9),
    "instrument": (1.0, 1.5),
    "machine": (1.5, 1.2),
    "sound source": (1.0, 1.2),
}
DEFAULT_SIZE_M = (1.0, 1.2)
MAX_WIDTH_FRAC = 0.45


def object_size_m(label: str) -> tuple[float, float]:
    """(width, height) in metres of an object called ``label`` (its last known word if the whole is unknown)."""
    key = label.strip().lower()
    if key in OBJECT_SIZE_M:
        return OBJECT_SIZE_M[key]
    for word in reversed(key.replace("-", " ").split()):
        if word in OBJECT_SIZE_M:
            return OBJECT_SIZE_M[word]
        if word.endswith("s") and word[:-1] in OBJECT_SIZE_M:
            return OBJECT_SIZE_M[word[:-1]]
    return DEFAULT_SIZE_M


@dataclass(frozen=True)
class Camera:
    """A pinhole camera on a canvas of ``width`` x ``height`` pixels (origin top left)."""

    width: float = 454.0
    height: float = 256.0
    hfov_deg: float = THIRDS_HFOV_DEG
    height_m: float = 1.5  # camera above the ground
    horizon_frac: float = 0.45  # where the horizon lies, as a fraction of the canvas height from the top
    min_depth_m: float = 1.0  # nearer than this the object would fill the frame; hold it here

    def __post_init__(self) -> None:
        if not (self.width > 0 and self.height > 0):
            raise InputError(f"camera canvas {self.width}x{self.height} must have a positive size")
        if not 10.0 <= self.hfov_deg <= 170.0:
            raise InputError(f"camera hfov_deg is {self.hfov_deg}; expected degrees in [10, 170]")

    @property
    def focal_px(self) -> float:
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    def x_for_azimuth(self, azimuth_deg: np.ndarray | float) -> np.ndarray:
        """Horizontal canvas position (px) of a direction; directions outside the view stay at the edge."""
        az = np.clip(np.asarray(azimuth_deg, dtype=float), -89.0, 89.0)
        x = self.width / 2.0 + self.focal_px * np.tan(np.radians(az))
        return np.clip(x, 0.0, self.width)

    def box(self, azimuth_deg: float, distance_m: float, label: str) -> tuple[float, float, float, float]:
        """The box ``[x0, y0, x1, y1]`` (canvas px, clipped to the canvas) of ``label`` at a direction and distance."""
        az = float(np.clip(azimuth_deg, -89.0, 89.0))
        # Beyond the field of view the box stands at the frame's edge, drawn as the source would look standing
        # there at its distance: its depth along the axis, d·cos θ, would shrink towards nothing far to the side,
        # hold every box there at min_depth_m and freeze its size while the source comes nearer or goes away.
        seen_deg = float(np.clip(az, -self.hfov_deg / 2.0, self.hfov_deg / 2.0))
        depth = max(self.min_depth_m, float(distance_m) * math.cos(math.radians(seen_deg)))
        f = self.focal_px
        w_m, h_m = object_size_m(label)
        w_px, h_px = f * w_m / depth, f * h_m / depth
        # Keep every box readable: at least 4% of the canvas height, and at most 45% of its width and
        # 85% of its height (aspect kept). The width cap also keeps a box that is clipped at the frame's
        # edge centred in the same third as the direction it stands for.
        # The cap is soft (tanh), so a box still grows, if ever less, as its source comes nearer.
        cap_w, cap_h = MAX_WIDTH_FRAC * self.width, 0.85 * self.height
        scale = min(cap_w / w_px * math.tanh(w_px / cap_w), cap_h / h_px * math.tanh(h_px / cap_h))
        scale = max(scale, 0.04 * self.height / h_px)
        w_px, h_px = w_px * scale, h_px * scale
        cx = float(self.x_for_azimuth(az))
        horizon = self.horizon_frac * self.height
        bottom = min(self.height, horizon + f * self.height_m / depth)
        top = max(0.0, bottom - h_px)
        bottom = top + h_px
        x0, x1 = max(0.0, cx - w_px / 2.0), min(self.width, cx + w_px / 2.0)
        return (round(x0, 1), round(top, 1), round(x1, 1), round(bottom, 1))

    def third(self, x: float) -> str:
        """``left``, ``center`` or ``right``: the third of the canvas that ``x`` lies in."""
        if x < self.width / 3.0:
            return "left"
        if x > 2.0 * self.width / 3.0:
            return "right"
        return "center"
