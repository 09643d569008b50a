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


#: What ``screenshot --state`` can show.
SCREENSHOT_STATES = ("empty", "planned", "rendering", "rendered")


def _wait(app: Any, busy: Any, deadline: float, what: str) -> None:
    while busy() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    if busy():
        raise TimeoutError(f"{what} took too long for a screenshot")


def save_screenshot(
    out_png: str, path: str | None = None, size: tuple[int, int] = (1600, 960), timeout_s: float = 600.0,
    state: str = "planned", render: Any = None,
) -> dict[str, Any]:
    """Render the studio on ``path`` (default: the demo) to ``out_png`` and return.

    ``state``: ``empty`` (no file opened), ``planned`` (the recording analysed and its layout shown, the
    playhead at 40 % so the meters show values), ``rendering`` (a render under way, grabbed at its third
    preview, then cancelled) or ``rendered`` (a render finished, the playhead at 40 % on its frame).
    ``render`` is the render panel's :class:`~ui.render_panel.RenderSettingsForm` for the last two (default:
    the animatic). Works with QT_QPA_PLATFORM=offscreen and under Xvfb. Raises the analysis or render error
    (e.g. ``AudioInputError``) if the file cannot be opened or rendered. Returns what was shown: the state,
    the previews received and whether the render was still running when the window was grabbed, the video
    and its size in bytes.
    """
    if state not in SCREENSHOT_STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(SCREENSHOT_STATES)}")
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
    editor = window.editor
    editor.render_runner.failed.connect(failure.append)
    deadline = time.monotonic() + timeout_s
    shown: dict[str, Any] = {"state": state, "previews": 0, "rendering": False, "video": None}
    try:
        target = None if state == "empty" else _default_path(path)
        if target is not None:
            window.open_file(target)
            _wait(app, lambda: window.runner.busy and not failure, deadline, f"the analysis of {target}")
            if failure:
                raise failure[0]
            if window.error_box is not None:
                window.error_box.close()
            # The first layout is planned right after the analysis: show it.
            _wait(app, lambda: editor.plan_runner.busy, deadline, "planning")
        if window.loaded is not None:
            time_s = 0.4 * window.loaded.peaks.duration_s
            window.seek(time_s)
            window.meters.show_time(window.loaded.analysis, time_s)
        if state in ("rendering", "rendered") and window.loaded is not None:
            shown["previews"] = _render_for_screenshot(app, window, render, state, deadline, failure)
        for _ in range(5):
            app.processEvents()
            time.sleep(0.02)
        window.waveform.redraw()
        app.processEvents()
        Path(out_png).parent.mkdir(parents=True, exist_ok=True)
        shown["rendering"] = editor.render_runner.busy
        if not window.grab().save(str(out_png)):
            raise OSError(f"{out_png}: cannot write the PNG")
        shown["video"] = editor.render.video_path
        if shown["video"] is not None:  # the studio's render folder goes when the window does
            shown["video_bytes"] = Path(shown["video"]).stat().st_size
    finally:
        editor.render_runner.cancel()
        window.shutdown()
        window.close()
        window.deleteLater()
        app.processEvents()
    return shown


def _render_for_screenshot(app: Any, window: Any, form: Any, state: str, deadline: float,
                           failure: list[BaseException]) -> int:
    """Press Render with ``form``; return at the third preview (``rendering``) or when it is done, with the
    number of previews received."""
    from ui.render_panel import RenderSettingsForm

    editor = window.editor
    window.docks["Render"].raise_()  # where the previews show
    editor.render.set_settings(form if form is not None else RenderSettingsForm(generator="animatic"))
    previews: list[int] = []
    editor.render_runner.partialResult.connect(lambda _: previews.append(1))
    editor.render.render_button.click()
    if state == "rendering":
        _wait(app, lambda: editor.render_runner.busy and len(previews) < 3 and not failure, deadline, "rendering")
        if failure:
            raise failure[0]
        if not editor.render_runner.busy:
            raise RuntimeError("the render finished before its third preview: nothing to show mid-render")
        return len(previews)
    _wait(app, lambda: editor.render_runner.busy, deadline, "rendering")
    if failure:
        raise failure[0]
    window.seek(0.4 * window.loaded.peaks.duration_s)
    return len(previews)
