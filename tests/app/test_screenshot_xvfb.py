"""The studio in a real window on a virtual X screen, rendered to a PNG by the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (make test installs it)")
def test_screenshot_of_a_real_window_under_xvfb(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    env["SPA2V_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "main.py", "screenshot",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 1000 and image.height() >= 600
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = pixels[:, : image.width() * 3].reshape(image.height(), image.width(), 3)
    # A drawn window, not a blank or black rectangle: many distinct colours, real contrast.
    assert pixels.std() > 20
    assert len(np.unique(pixels.reshape(-1, 3)[::97], axis=0)) > 50
