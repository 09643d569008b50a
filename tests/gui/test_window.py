"""The Hear window: loading, the shared cursor, meters at a known time, playback, errors, warnings."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from engine.errors import Cancelled
from tests.gui.conftest import build_analysis, fast_analyze, load_and_wait, write_stereo_wav


def test_loading_a_file_shows_waveform_cues_and_sources(qtbot, window, stereo_wav) -> None:
    progress: list[float] = []
    window.runner.progressChanged.connect(progress.append)
    load_and_wait(qtbot, window, stereo_wav)
    assert window.loaded is not None and window.loaded.path == stereo_wav
    rows = window.sources_table.row_texts()
    assert [r[1:7] for r in rows] == [
        ["0", "left", "-40° → -38°", "stationary", "0.90", "☑"],
        ["1", "right", "-30° → +45°", "moving right", "0.75", "☑"],
    ]
    assert set(window.cues.source_curves) == {0, 1}
    assert len(window.cues.legend.items) == 2
    x, y = window.waveform.curves[0].getData()
    assert x is not None and len(x) > 10 and np.nanmax(y) > 0.3
    assert len(window.cues.cue_curves["ild_db"].getData()[0]) == 400
    assert window.banner.isHidden()
    assert progress[-1] == 100 and not window.progress_bar.isVisible()
    assert "scene.wav" in window.windowTitle()


def test_seeking_moves_the_shared_cursor_in_every_plot(qtbot, window, stereo_wav) -> None:
    load_and_wait(qtbot, window, stereo_wav)
    lines = window.cursor.lines
    assert len(lines) == len(window.waveform.plots) + len(window.cues.plots) == 8  # with the Sounds lanes
    window.seek(2.5)
    assert all(line.value() == pytest.approx(2.5) for line in lines)
    assert window.player.position_s == pytest.approx(2.5)
    assert "0:02.50" in window.transport.time_label.text()
    # Dragging one line moves the others and seeks the audio.
    lines[3].setValue(1.0)
    lines[3].sigPositionChangeFinished.emit(lines[3])
    assert all(line.value() == pytest.approx(1.0) for line in lines)
    assert window.player.position_s == pytest.approx(1.0)


def test_clicking_the_waveform_seeks(qtbot, window, stereo_wav) -> None:
    load_and_wait(qtbot, window, stereo_wav)
    qtbot.wait(50)
    plot = window.waveform.plot_right
    scene_pos = plot.vb.mapViewToScene(QPointF(3.0, 0.0))
    view_pos = window.waveform.graphics.mapFromScene(scene_pos)
    with qtbot.waitSignal(window.waveform.seekRequested, timeout=2000) as blocker:
        qtbot.mouseClick(window.waveform.graphics.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)
    assert blocker.args[0] == pytest.approx(3.0, abs=0.05)
    assert window.cursor.time_s == pytest.approx(3.0, abs=0.05)


def test_meters_read_the_cues_at_a_known_time(qtbot) -> None:
    from ui.meters import MeterPanel

    meters = MeterPanel()
    qtbot.addWidget(meters)
    analysis = build_analysis()
    meters.show_time(analysis, 1.0, smooth=False)
    assert meters.value("ild_db") == pytest.approx(6.0)
    assert meters.text("ild_db") == "+6.0 dB"
    assert meters.value("itd_ms") == pytest.approx(0.3)
    assert meters.text("itd_ms") == "+0.30 ms"
    assert meters.value("azimuth_deg") == pytest.approx(30.0)
    assert meters.dial.azimuth_deg == pytest.approx(30.0)
    assert meters.value("coherence") == pytest.approx(0.8)
    assert meters.value("level_left_dbfs") == pytest.approx(-15.0)
    assert meters.value("level_right_dbfs") == pytest.approx(-9.0)
    assert meters.bars["ild_db"].value == pytest.approx(6.0)
    # Ballistics: after one time constant the ILD has moved ~63 % of the way to −9 dB.
    meters.set_time(3.0)
    meters.step(0.3)
    assert meters.value("ild_db") == pytest.approx(6.0 + (1 - np.exp(-1)) * (-15.0), abs=0.01)
    # The level peak holds 1.5 s, then falls.
    assert meters.peak["level_right_dbfs"] == pytest.approx(-9.0)
    meters.step(1.0)
    assert meters.peak["level_right_dbfs"] == pytest.approx(-9.0)
    meters.step(0.6)
    assert meters.peak["level_right_dbfs"] < -9.0
    for _ in range(100):
        meters.step(0.05)
    assert meters.value("ild_db") == pytest.approx(-9.0)
    assert meters.peak["level_right_dbfs"] == pytest.approx(-20.0)
    meters.refresh_text()
    assert meters.text("ild_db") == "-9.0 dB"


def test_playback_moves_the_cursor_and_the_meters(qtbot, window, stream_factory, stereo_wav) -> None:
    load_and_wait(qtbot, window, stereo_wav)
    assert window.transport.play_button.isEnabled()
    window.seek(2.5)
    qtbot.keyClick(window, Qt.Key.Key_Space)  # play
    assert window.player.is_playing and window.transport.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: window.player.buffered_frames >= 4000, timeout=3000)
    stream_factory.stream.pull(4000)  # 0.5 s at 8 kHz
    qtbot.waitUntil(lambda: window.cursor.time_s == pytest.approx(3.0), timeout=2000)
    assert all(line.value() == pytest.approx(3.0) for line in window.cursor.lines)
    qtbot.waitUntil(lambda: window.meters.value("ild_db") == pytest.approx(-9.0, abs=0.05), timeout=4000)
    qtbot.keyClick(window, Qt.Key.Key_Space)  # pause
    assert not window.player.is_playing


def test_without_an_output_device_play_is_disabled_and_the_rest_works(qtbot, stereo_wav) -> None:
    from app.playback import Player
    from app.window import StudioWindow

    def no_device(samplerate, channels, callback):
        raise OSError("no output device")

    win = StudioWindow(player=Player(stream_factory=no_device), analyze_fn=fast_analyze)
    qtbot.addWidget(win)
    try:
        load_and_wait(qtbot, win, stereo_wav)
        assert not win.transport.play_button.isEnabled()
        assert "no output device" in win.transport.play_button.toolTip()
        assert "no output device" in win.playback_label.toolTip()
        win.toggle_playback()
        win.seek(1.0)
        assert win.cursor.time_s == pytest.approx(1.0)
        assert win.meters.value("ild_db") == pytest.approx(6.0)
    finally:
        win.shutdown()


def test_an_analysis_error_shows_one_message_and_keeps_the_previous_file(qtbot, window, stereo_wav,
                                                                         tmp_path) -> None:
    load_and_wait(qtbot, window, stereo_wav)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....not audio at all")
    load_and_wait(qtbot, window, bad)
    assert "broken.wav" in window.last_error and "\n" not in window.last_error
    assert "Traceback" not in window.last_error
    assert window.error_box is not None and window.error_box.isVisible()
    assert window.loaded.path == stereo_wav
    assert len(window.sources_table.row_texts()) == 2
    x, _ = window.waveform.curves[0].getData()
    assert x is not None and len(x) > 0
    window.error_box.close()


def test_an_internal_error_is_named_as_such(qtbot, window, stereo_wav) -> None:
    load_and_wait(qtbot, window, stereo_wav)

    def broken(audio, settings=None, progress=None, is_cancelled=None):
        raise RuntimeError("division by zero in the cue map")

    window.analyze_fn = broken
    load_and_wait(qtbot, window, stereo_wav)
    assert "internal error" in window.last_error and "division by zero" in window.last_error
    assert window.loaded.analysis is not None and len(window.sources_table.row_texts()) == 2
    window.error_box.close()


def test_cancel_keeps_the_previous_state_and_leaves_no_thread(qtbot, window, stereo_wav, tmp_path) -> None:
    load_and_wait(qtbot, window, stereo_wav)
    entered = threading.Event()

    def slow(audio, settings=None, progress=None, is_cancelled=None):
        entered.set()
        while not is_cancelled():
            threading.Event().wait(0.005)
        raise Cancelled("stopped")

    window.analyze_fn = slow
    other = tmp_path / "other.wav"
    write_stereo_wav(other, duration_s=1.0)
    window.open_file(other)
    assert window.cancel_button.isVisibleTo(window)
    assert entered.wait(5.0)
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert window.runner.wait(5000)
    assert window.status_label.text() == "Analysis cancelled"
    assert not window.cancel_button.isVisibleTo(window)
    assert window.loaded.path == stereo_wav
    assert window.waveform._peaks is window.loaded.peaks


def test_mono_input_shows_a_warning_banner(qtbot, window, tmp_path) -> None:
    mono = tmp_path / "mono.wav"
    sf.write(str(mono), np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1, 8000)
    load_and_wait(qtbot, window, mono)
    assert window.banner.isVisibleTo(window)
    assert "mono" in window.banner.text()


def test_dropping_a_file_opens_it(qtbot, window, stereo_wav) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(stereo_wav))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.runner.finished, timeout=20000):
        window.dropEvent(event)
    window.runner.wait()
    assert window.loaded is not None and window.loaded.path == stereo_wav


def test_save_screenshot_writes_a_drawn_window(qtbot, tmp_path, monkeypatch) -> None:
    import app.workers
    from app.studio import save_screenshot

    monkeypatch.setattr(app.workers, "default_analyze", fast_analyze)
    wav = tmp_path / "shot.wav"
    write_stereo_wav(wav, duration_s=3.0, rate=16000)
    out = tmp_path / "shot.png"
    save_screenshot(str(out), str(wav), size=(1200, 760))
    image = QImage(str(out))
    assert not image.isNull() and (image.width(), image.height()) == (1200, 760)
    assert image.pixelColor(QPoint(600, 300)).isValid()


def test_a_new_open_while_analysing_cancels_the_first(qtbot, window, stereo_wav, tmp_path) -> None:
    second = tmp_path / "second.wav"
    write_stereo_wav(second, duration_s=1.0)
    window.open_file(stereo_wav)
    load_and_wait(qtbot, window, Path(second))
    window.runner.wait()
    qtbot.wait(50)
    assert window.loaded.path == second


@pytest.mark.parametrize("state", ["rendering", "rendered"])
def test_screenshot_states_show_a_render_under_way_and_finished(qtbot, tmp_path, monkeypatch, state) -> None:
    import app.workers
    from app.studio import save_screenshot
    from ui.render_panel import RenderSettingsForm

    monkeypatch.setattr(app.workers, "default_analyze", fast_analyze)
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "cache"))
    wav = tmp_path / "shot.wav"
    write_stereo_wav(wav, duration_s=3.0, rate=16000)
    out = tmp_path / f"{state}.png"
    # 96 animatic frames at 32 fps: about ten previews, the third long before the end.
    shown = save_screenshot(str(out), str(wav), size=(1200, 760), state=state,
                            render=RenderSettingsForm(generator="animatic", fps=32.0, width=256, height=160))
    assert not QImage(str(out)).isNull()
    if state == "rendering":
        assert shown["rendering"] and shown["previews"] >= 3 and shown["video"] is None
    else:
        assert not shown["rendering"] and shown["previews"] >= 3
        assert shown["video"].endswith(".mp4") and shown["video_bytes"] > 1000


def test_screenshot_of_an_empty_studio(qtbot, tmp_path) -> None:
    from app.studio import save_screenshot

    shown = save_screenshot(str(tmp_path / "empty.png"), size=(1200, 760), state="empty")
    assert shown == {"state": "empty", "previews": 0, "rendering": False, "video": None}
    assert not QImage(str(tmp_path / "empty.png")).isNull()


def test_marking_a_source_off_screen_is_an_undoable_layout_edit(qtbot, window, stereo_wav) -> None:
    from PySide6.QtCore import Qt

    from ui.sources import COL_ON_SCREEN

    window.ask_to_save = False  # the edit leaves the project unsaved
    load_and_wait(qtbot, window, stereo_wav)
    qtbot.waitUntil(lambda: window.editor.document.layout is not None and not window.editor.plan_runner.busy,
                    timeout=20000)
    doc = window.editor.document
    planned = doc.layout
    shown_for = {o for o, s in window.editor.checker.matches.items() if s == 1}
    assert len(shown_for) == 1  # the offline planner gave source 1 a box
    (object_id,) = shown_for
    label = planned.names_by_id()[object_id]
    window.sources_table.item(1, COL_ON_SCREEN).setCheckState(Qt.CheckState.Unchecked)  # as a click does
    assert doc.layout.offscreen_source_ids() == {1}
    assert [(e.name, e.source_id) for e in doc.layout.offscreen] == [(label, 1)]  # named by its box's label
    assert object_id not in doc.layout.object_ids()  # heard, not seen: no box
    assert doc.undo_stack.undoText() == "Mark sound off screen"
    doc.undo_stack.undo()  # one step brings back the box and the source
    assert doc.layout == planned
    assert [row[COL_ON_SCREEN] for row in window.sources_table.row_texts()] == ["☑", "☑"]
    doc.undo_stack.redo()
    assert [row[COL_ON_SCREEN] for row in window.sources_table.row_texts()] == ["☑", "☐"]


def test_the_window_shows_when_each_source_sounds(qtbot, window, tmp_path) -> None:
    """The events found for the recording's sources (here those of the stand-in analysis, on a recording whose
    right channel stops half-way) are drawn as lanes and listed in the Sources dock."""
    import soundfile as sf

    from ui.sources import COL_SOUNDS

    rate = 8000
    rng = np.random.default_rng(3)
    t = np.arange(4 * rate) / rate
    left = 0.4 * rng.standard_normal(t.size)
    right = 0.4 * rng.standard_normal(t.size) * (t < 2.0)
    path = tmp_path / "gated.wav"
    sf.write(path, np.stack([left * 0.9 + right * 0.1, left * 0.1 + right * 0.9], axis=1).astype(np.float32), rate)
    load_and_wait(qtbot, window, path)
    events = {e.source_id: e.intervals for e in window.loaded.events}
    assert set(events) == {0, 1}
    assert window.cues.event_lanes() == {sid: [tuple(map(float, span)) for span in spans]
                                         for sid, spans in events.items() if spans}
    texts = [row[COL_SOUNDS] for row in window.sources_table.row_texts()]
    assert all(text.endswith(" s") or text == "silent" for text in texts)


def test_a_b_plays_the_layout_as_sound_at_the_same_playhead_and_follows_edits(qtbot, window, stereo_wav) -> None:
    from app.playback import ArraySource

    window.ask_to_save = False
    load_and_wait(qtbot, window, stereo_wav)
    qtbot.waitUntil(lambda: window.editor.document.layout is not None and not window.editor.plan_runner.busy,
                    timeout=20000)
    window.seek(1.5)
    audition = window.audition
    with qtbot.waitSignal(audition.runner.finished, timeout=30000):
        window.ab_action.trigger()  # B, as the B key does
    assert window.transport.listening == "separated"
    source = window.player._source
    assert isinstance(source, ArraySource) and source.frames == window.loaded.audio.frames
    assert source.sample_rate == window.loaded.audio.sample_rate
    assert window.player.position_s == pytest.approx(1.5, abs=1e-3)
    assert "Hearing B" in window.status_label.text()
    first = audition.last.samples

    # An edit while B is heard: a new audition follows once the edits pause.
    doc = window.editor.document
    object_id = doc.layout.object_ids()[0]
    doc.set_time(doc.layout.times[0])
    with qtbot.waitSignal(audition.runner.finished, timeout=30000):
        doc.move_box(object_id, (0.0, 100.0, 60.0, 160.0), finished=True)
    assert audition.last.samples is not first and window.player._source.samples is audition.last.samples

    window.ab_action.trigger()  # back to A
    assert window.transport.listening == "original" and window.player._source is window.loaded.audio


def test_b_without_a_layout_says_why_and_stays_on_a(qtbot, window) -> None:
    window.transport.set_listening("test")
    assert window.transport.listening == "original"
    assert "Plan a layout first" in window.status_label.text()
