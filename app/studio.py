"""Starting the studio, and rendering it to a PNG without a person in front of it."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _application() -> Any:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("SpA2V Studio")
        app.setOrganizationName("spa2v")
    return app


def _default_path(path: str | Path | None) -> Path | None:
    if path is not None:
        return Path(path)
    from app.paths import DEMO_AUDIO, DEMO_PROJECT

    if DEMO_PROJECT.exists():
        return DEMO_PROJECT
    return DEMO_AUDIO if DEMO_AUDIO.exists() else None


def run_studio(path: str | None) -> int:
    """Open the studio on ``path`` (the demo recording when None) and run until it is closed."""
    from app.logging_setup import install_excepthook, install_qt_message_handler, setup_logging

    setup_logging()
    app = _application()
    install_qt_message_handler()
    install_excepthook()
    from app.preload import preload_generator_libraries, preload_wanted
    from ui.splash import StudioSplash

    splash = StudioSplash()
    splash.show()
    if preload_wanted():
        preload_generator_libraries(splash.say)
    splash.say("Opening the studio…")
    from app.window import StudioWindow

    window = StudioWindow()
    window.show()
    splash.finish(window)
    if path is not None or not window.offer_recovery():
        target = _default_path(path)
        if target is not None:
            window.open_file(target)
    try:
        return int(app.exec())
    finally:
        window.shutdown()


class _SilentStream:
    """An output stream that never plays: screenshots must not open an audio device."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def save_screenshot(
    out_png: str, path: str | None = None, size: tuple[int, int] = (1600, 960), timeout_s: float = 600.0
) -> None:
    """Render the studio on ``path`` (default: the demo) to ``out_png`` and return.

    Runs the analysis in the worker and waits for it, puts the playhead at 40 % of the recording so
    the meters show values, then grabs the window. Works with QT_QPA_PLATFORM=offscreen and under Xvfb.
    Raises the analysis error (e.g. ``AudioInputError``) if the file cannot be opened.
    """
    app = _application()
    from app.playback import Player
    from app.window import StudioWindow

    player = Player(stream_factory=lambda rate, channels, callback: _SilentStream())
    window = StudioWindow(player=player)
    window.ask_to_save = False
    window.resize(*size)
    window.show()
    failure: list[BaseException] = []
    window.runner.failed.connect(failure.append)
    try:
        target = _default_path(path)
        if target is not None:
            window.open_file(target)
            deadline = time.monotonic() + timeout_s
            while window.runner.busy and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            app.processEvents()
            if failure:
                raise failure[0]
            if window.runner.busy:
                raise TimeoutError(f"the analysis of {target} took longer than {timeout_s:.0f} s")
            if window.error_box is not None:
                window.error_box.close()
            # The first layout is planned right after the analysis: show it.
            while window.editor.plan_runner.busy and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            app.processEvents()
        if window.loaded is not None:
            time_s = 0.4 * window.loaded.peaks.duration_s
            window.seek(time_s)
            window.meters.show_time(window.loaded.analysis, time_s)
        for _ in range(5):
            app.processEvents()
            time.sleep(0.02)
        window.waveform.redraw()
        app.processEvents()
        Path(out_png).parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out_png)):
            raise OSError(f"{out_png}: cannot write the PNG")
    finally:
        window.shutdown()
        window.close()
        window.deleteLater()
        app.processEvents()
