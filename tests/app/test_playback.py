"""Playback against a fake output stream: what the callback writes is the file, the playhead follows."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from pathlib import Path

import numpy as np
import pytest

from app.playback import FEED_BLOCK_FRAMES, Player
from engine.audio.io import open_audio
from tests.gui.conftest import FakeStreamFactory, no_leaked_qthreads, write_stereo_wav  # noqa: F401

RATE = 8000


@pytest.fixture
def audio_and_samples(tmp_path: Path):
    path = tmp_path / "play.wav"
    samples = write_stereo_wav(path, duration_s=2.0, rate=RATE, seed=7)
    return open_audio(path), samples


@pytest.fixture
def player(qtbot):
    factory = FakeStreamFactory()
    player = Player(stream_factory=factory)
    player.factory = factory
    yield player
    player.close()


def _wait_buffered(qtbot, player: Player, frames: int) -> None:
    qtbot.waitUntil(lambda: player.buffered_frames >= frames, timeout=3000)


def _play_and_hear(qtbot, player: Player, audio, frames: int) -> None:
    """Load ``audio``, play, and let the fake device take its first ``frames`` frames."""
    player.load(audio)
    player.play()
    _wait_buffered(qtbot, player, frames)
    player.factory.stream.pull(frames)


def test_play_outputs_the_file_and_advances_by_the_frames_consumed(qtbot, player, audio_and_samples) -> None:
    audio, samples = audio_and_samples
    player.load(audio)
    stream = player.factory.stream
    assert stream.samplerate == RATE  # the file's own rate
    with qtbot.waitSignal(player.stateChanged, timeout=1000) as blocker:
        player.play()
    assert blocker.args == [True] and stream.active
    _wait_buffered(qtbot, player, 3000)
    out = stream.pull(1000)
    np.testing.assert_array_equal(out, samples[:1000])
    out = stream.pull(1500)
    np.testing.assert_array_equal(out, samples[1000:2500])
    assert player.position_frames == 2500
    assert player.position_s == pytest.approx(2500 / RATE)
    with qtbot.waitSignal(player.positionChanged, timeout=1000) as moved:
        pass  # the 10 ms timer reports the playhead
    assert moved.args[0] == pytest.approx(2500 / RATE)


def test_pause_stops_the_stream_and_the_playhead(qtbot, player, audio_and_samples) -> None:
    audio, _ = audio_and_samples
    _play_and_hear(qtbot, player, audio, 800)
    player.pause()
    assert not player.is_playing and not player.factory.stream.active
    assert player.position_frames == 800
    player.toggle()
    assert player.is_playing


def test_seek_moves_the_playhead_and_the_output(qtbot, player, audio_and_samples) -> None:
    audio, samples = audio_and_samples
    _play_and_hear(qtbot, player, audio, 500)
    player.seek(1.25)
    assert player.position_s == pytest.approx(1.25)
    start = round(1.25 * RATE)
    _wait_buffered(qtbot, player, FEED_BLOCK_FRAMES)
    out = player.factory.stream.pull(700)
    np.testing.assert_array_equal(out, samples[start : start + 700])
    assert player.position_frames == start + 700


def test_underrun_writes_silence_and_keeps_the_playhead(qtbot, player, audio_and_samples) -> None:
    audio, samples = audio_and_samples
    player.load(audio)
    player.play()
    _wait_buffered(qtbot, player, 100)
    player.seek(1.99)  # 80 frames before the end
    qtbot.waitUntil(lambda: player.buffered_frames >= 80, timeout=3000)
    out = player.factory.stream.pull(200)
    np.testing.assert_array_equal(out[:80], samples[-80:])
    assert np.all(out[80:] == 0.0)
    assert player.position_frames == len(samples)
    with qtbot.waitSignal(player.finished, timeout=2000):
        player.factory.stream.pull(10)
    assert not player.is_playing


def test_unavailable_output_disables_playback_with_a_reason(qtbot, audio_and_samples) -> None:
    def broken_factory(samplerate, channels, callback):
        raise OSError("PortAudio library not found")

    player = Player(stream_factory=broken_factory)
    with qtbot.waitSignal(player.availabilityChanged, timeout=1000):
        player.load(audio_and_samples[0])
    assert not player.available
    assert "PortAudio library not found" in player.unavailable_reason
    player.play()  # nothing happens, nothing crashes
    player.seek(0.5)
    assert not player.is_playing
    player.close()


def test_device_refusing_the_rate_gets_resampled_audio(qtbot, audio_and_samples) -> None:
    audio, _ = audio_and_samples
    streams = []

    def picky_factory(samplerate, channels, callback):
        if samplerate != 16000:
            raise ValueError("Invalid sample rate")
        factory = FakeStreamFactory()
        streams.append(factory(samplerate, channels, callback))
        return streams[-1]

    player = Player(stream_factory=picky_factory, device_rate=lambda: 16000)
    player.load(audio)
    assert player.available and streams[0].samplerate == 16000
    player.play()
    _wait_buffered(qtbot, player, 1600)
    streams[0].pull(1600)  # 0.1 s at the device's rate
    assert player.position_s == pytest.approx(0.1)
    player.close()


def test_real_sounddevice_path_never_crashes(qtbot, audio_and_samples) -> None:
    player = Player()  # whatever this machine has: a device, or a clear reason why not
    player.load(audio_and_samples[0])
    if not player.available:
        assert player.unavailable_reason.startswith("Playback is off")
    player.close()


def test_switching_to_another_version_keeps_the_time_and_plays_it(qtbot, player, audio_and_samples) -> None:
    """A/B listening: the layout's audition takes over from the recording where it was, still playing."""
    from app.playback import ArraySource

    audio, samples = audio_and_samples
    _play_and_hear(qtbot, player, audio, 1000)
    other = -samples  # a version of the same length that is easy to recognise
    player.switch_source(ArraySource(other, RATE))
    assert player.is_playing and player.position_frames == 1000
    _wait_buffered(qtbot, player, 600)
    np.testing.assert_array_equal(player.factory.stream.pull(600), other[1000:1600])
    player.switch_source(audio)  # and back
    _wait_buffered(qtbot, player, 400)
    np.testing.assert_array_equal(player.factory.stream.pull(400), samples[1600:2000])


def test_array_source_checks_its_shape() -> None:
    from app.playback import ArraySource

    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        ArraySource(np.zeros(10), RATE)
    blocks = list(ArraySource(np.zeros((10, 2)), RATE).blocks(4, start=3))
    assert [len(b) for b in blocks] == [4, 3]
