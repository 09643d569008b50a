"""Planners: audio and its measured cues -> a Video Scene Layout (SPEC.md)."""
