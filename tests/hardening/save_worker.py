"""The saving process that tests/hardening/test_crash_safety.py kills: a fork server of project savers.

Run as ``python -m tests.hardening.save_worker PROJECT_PATH [--unsafe]`` from the repository root. It imports
only the engine's project module (no Qt, no torch), builds the base project once, prints ``ready`` and then
reads commands on stdin, one a line:

- ``fork N``: fork a saver, which prints ``child PID`` and then loops forever: ``start V`` (flushed), then
  :func:`engine.project.save_project` of :func:`version_project` ``(V)`` to PROJECT_PATH, then ``done V``,
  for V = N, N+1, … The test kills the saver with SIGKILL at a random moment; the server waits for it and
  prints ``reaped PID``. Forking from a process that has imported everything already makes a saver start in
  about a millisecond, so 200 kills take seconds rather than 200 interpreter starts.
- ``quit`` (or the end of stdin): exit.

``--unsafe`` saves by writing the file in place instead (``Path.write_text``): the test runs a few kills
with it to show that it does notice a save that is not atomic.

Every version is a valid project of about 3 MB: a layout of many keyframes and objects whose boxes and
captions depend on the version number, plus a long reasoning text. The reasoning makes the file large
without making it slow to serialise, so that most of a save's time is spent writing and syncing the file,
which is where a kill has to land to test anything.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from engine.layout.model import VideoLayout
from engine.project import Project, project_json_text, save_project

KEYFRAMES = 60
OBJECTS_PER_KEYFRAME = 8
#: Characters of reasoning text: with the layout, a file of about 3 MB.
REASONING_CHARS = 3_000_000
#: A saver stops by itself after this many saves (the test kills it long before): no runaway process.
MAX_SAVES_PER_CHILD = 2_000


@lru_cache(maxsize=1)
def base_layout() -> VideoLayout:
    """The layout every version starts from: ``KEYFRAMES`` keyframes of ``OBJECTS_PER_KEYFRAME`` boxes."""
    keyframes = []
    for k in range(KEYFRAMES):
        objects = [{"id": i, "name": f"object {i}",
                    "box": [2.0 + 20 * (i % 10), 3.0 + (k % 40), 40.0 + 20 * (i % 10), 60.0 + (k % 40)]}
                   for i in range(OBJECTS_PER_KEYFRAME)]
        keyframes.append({"time_s": 0.1 * k, "caption": f"keyframe {k}", "objects": objects})
    return VideoLayout.from_json_dict({
        "format": "spa2v.vsl", "version": 1, "duration_s": 0.1 * KEYFRAMES,
        "video_caption": "version 0", "reasoning": "", "keyframes": keyframes,
    })


def caption_for(version: int) -> str:
    """The video caption of ``version``: how a loaded file says which version it is."""
    return f"version {version}"


def version_of(project: Project) -> int:
    """The version number a project carries in its video caption (see :func:`caption_for`)."""
    assert project.layout is not None
    prefix = "version "
    caption = project.layout.video_caption
    if not caption.startswith(prefix) or not caption[len(prefix):].isdigit():
        raise ValueError(f"not a saved version: video caption {caption!r}")
    return int(caption[len(prefix):])


def version_project(version: int) -> Project:
    """Version ``version`` of the project: the caption, the reasoning, one keyframe's caption and one box
    change with it, so that two versions never serialise alike."""
    layout = base_layout()
    k = version % KEYFRAMES
    frame = layout.keyframes[k]
    moved = frame.objects[0].replaced(box=(float(version % 300), 1.0, float(version % 300) + 50.0, 51.0))
    frame = frame.replaced(caption=f"keyframe {k}, version {version}", objects=(moved, *frame.objects[1:]))
    line = f"version {version}: the car passes from left to right while the violin plays on the right.\n"
    reasoning = (line * (REASONING_CHARS // len(line) + 1))[:REASONING_CHARS]
    layout = layout.replaced(video_caption=caption_for(version), reasoning=reasoning,
                             keyframes=(*layout.keyframes[:k], frame, *layout.keyframes[k + 1:]))
    return Project.new(None, layout=layout)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _save_loop(path: Path, first_version: int, unsafe: bool) -> None:
    _say(f"child {os.getpid()}")
    for version in range(first_version, first_version + MAX_SAVES_PER_CHILD):
        project = version_project(version)
        _say(f"start {version}")
        if unsafe:
            path.write_text(project_json_text(project, path), encoding="utf-8")
        else:
            save_project(project, path)
        _say(f"done {version}")


def main(argv: list[str]) -> int:
    """Serve ``fork``/``quit`` commands on stdin (see the module docstring)."""
    path = Path(argv[0])
    unsafe = "--unsafe" in argv[1:]
    base_layout()  # built once, before forking
    _say("ready")
    for command in sys.stdin:
        words = command.split()
        if not words or words[0] == "quit":
            break
        if words[0] != "fork" or len(words) != 2:
            _say(f"error: unknown command {command.strip()!r}")
            continue
        pid = os.fork()
        if pid == 0:  # the saver: never returns into the server's loop
            code = 0
            try:
                _save_loop(path, int(words[1]), unsafe)
            except BaseException:  # a closed pipe when the test is gone, among others
                code = 1
            finally:
                os._exit(code)
        os.waitpid(pid, 0)
        _say(f"reaped {pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
