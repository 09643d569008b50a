"""What keeps the window responsive while a render runs: libraries preloaded behind the splash, the heap
frozen after them, and status lines that never make the window lay itself out again."""

from __future__ import annotations

import gc
import sys

import numpy as np
from PySide6.QtCore import QEvent, QObject

from app import preload
from ui.forms import steady_label


def test_preload_imports_the_render_libraries_and_freezes_the_heap(monkeypatch):
    frozen: list[bool] = []
    monkeypatch.setattr(preload, "freeze_heap", lambda: frozen.append(True))
    said: list[str] = []

    seconds = preload.preload_generator_libraries(said.append)

    assert set(seconds) == {module for module, _ in preload.STEPS}
    assert said == [words for _, words in preload.STEPS]
    # diffusers' lazily imported classes the render's loading uses are in memory already.
    for module in ("diffusers.pipelines.animatediff.pipeline_animatediff", "diffusers.schedulers.scheduling_ddim",
                   "diffusers.guiders", "engine.generator.pipeline"):
        assert module in sys.modules
    assert frozen == [True]


def test_freeze_heap_leaves_existing_objects_out_of_collections():
    before = gc.get_freeze_count()
    try:
        preload.freeze_heap()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


def test_preload_is_skipped_when_turned_off(monkeypatch):
    for value in ("0", "off", "False"):
        monkeypatch.setenv("SPA2V_PRELOAD", value)
        assert not preload.preload_wanted()
    monkeypatch.delenv("SPA2V_PRELOAD")
    assert preload.preload_wanted()


def test_a_missing_library_is_skipped_not_fatal(monkeypatch):
    real = preload.importlib.util.find_spec
    monkeypatch.setattr(preload.importlib.util, "find_spec", lambda name: None if name == "diffusers" else real(name))
    assert preload.preload_generator_libraries() == {}


def test_steady_label_keeps_its_size_whatever_the_text(qtbot):
    label = steady_label("Ready", lines=2)
    qtbot.addWidget(label)
    label.resize(200, label.height())
    height = label.height()
    label.setText("Rendering 80 frames at 512x320 with the diffusion generator, step 12 of 25, " * 4)
    label.adjustSize()
    assert label.minimumHeight() == label.maximumHeight() == label.height() == height
    assert label.minimumSizeHint().width() <= 200  # a long text does not widen the panel either


class _Resizes(QObject):
    """Counts the resize events a widget receives."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.count += 1
        return False


def test_render_reports_do_not_relayout_the_window(window, qtbot):
    """Status lines, previews and the finished video's buttons change the Render panel many times a second;
    none of it may resize (and so repaint) the plots, the canvas or the timeline."""
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    watched = [_Resizes(w) for w in (window.waveform, window.editor.canvas, window.editor.timeline)]
    panel = window.editor.render
    panel.set_busy(True)
    for step, status in enumerate(["Ready", "Loading the models (stable-diffusion-v1-5/stable-diffusion-v1-5, "
                                   "motion adapter guoyww/animatediff-motion-adapter-v1-5-2) on cuda in float16…",
                                   "Rendering 16 frames at 512x320 with the diffusion generator…", "Encoding"]):
        panel.set_progress(25 * step, status)
        panel.show_preview(step, np.zeros((16, 80, 128, 3), np.uint8))
        qtbot.wait(20)
    panel.set_finished("/tmp/render-001.mp4")
    panel.set_busy(False)
    qtbot.wait(50)
    assert [w.count for w in watched] == [0, 0, 0]
