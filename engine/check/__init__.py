"""The "Check" stage: does a layout still agree with the sound? ``consistency`` holds each box against the measured
source track it stands for; ``sounding`` tells which of several same-label boxes the audio points to.
Pure numpy/scipy; no Qt."""

from engine.check.consistency import (
    DEFAULT_TOLERANCE_DEG,
    BoxDirection,
    Checker,
    CheckReport,
    KeyframeCheck,
    ObjectCheck,
    UnexplainedSource,
    box_direction,
    check_layout,
)
from engine.check.sounding import shared_label_groups, sounding_objects

__all__ = [
    "DEFAULT_TOLERANCE_DEG",
    "BoxDirection",
    "CheckReport",
    "Checker",
    "KeyframeCheck",
    "ObjectCheck",
    "UnexplainedSource",
    "box_direction",
    "check_layout",
    "shared_label_groups",
    "sounding_objects",
]
