"""Atomic saves: the new content or the old one, never a half-written file."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from engine.fileio import atomic_write_text


def test_write_replaces_content_and_keeps_a_readable_mode(tmp_path) -> None:
    path = tmp_path / "a.json"
    atomic_write_text(path, "one")
    assert path.read_text() == "one"
    assert path.stat().st_mode & 0o044  # readable by others, like a normally written file
    os.chmod(path, 0o600)
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and path.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_previous_version(tmp_path) -> None:
    path = tmp_path / "a.json"
    atomic_write_text(path, "previous")
    with mock.patch("engine.fileio.os.replace", side_effect=OSError("disk full")), pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left behind
