"""Where the studio's bundled resources live."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEMO_DIR = RESOURCES / "demo"
#: The demo recording the studio opens when it is started without a file (made by make-bench).
DEMO_AUDIO = DEMO_DIR / "demo_scene.flac"
#: The demo project (the recording with a layout planned with the hints "car, violin@right"); the studio
#: opens it when started without a file.
DEMO_PROJECT = DEMO_DIR / "demo.spa2v"
