"""The Video Scene Layout (VSL): model and file (``model``), repair of LLM answers (``repair``), the paper's
textual format (``textformat``) and boxes between keyframes (``interp``). Pure Python and numpy; no Qt."""

from engine.layout.interp import FrameBox, boxes_at, boxes_at_times, frame_times, interpolate, scale_box, scale_boxes
from engine.layout.model import (
    Canvas,
    Keyframe,
    LayoutObject,
    VideoLayout,
    keyframe_times,
    load_vsl,
    save_vsl,
)
from engine.layout.repair import RepairResult, repair_layout, repair_layout_text
from engine.layout.textformat import format_paper_text, parse_paper_text

__all__ = [
    "Canvas",
    "FrameBox",
    "Keyframe",
    "LayoutObject",
    "RepairResult",
    "VideoLayout",
    "boxes_at",
    "boxes_at_times",
    "format_paper_text",
    "frame_times",
    "interpolate",
    "keyframe_times",
    "load_vsl",
    "parse_paper_text",
    "repair_layout",
    "repair_layout_text",
    "save_vsl",
    "scale_box",
    "scale_boxes",
]
