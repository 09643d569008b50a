"""Audio in: every kind of file a user brings either loads as stereo or gives one clear error."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from engine.audio.io import load_stereo, open_audio, resampled_blocks
from engine.errors import AudioInputError


def _tone(rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    cols = [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("FLAC", "PCM_24", "flac"),
                                            ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")])
def test_common_formats_load_as_stereo(tmp_path: Path, fmt: str, subtype: str, ext: str) -> None:
    data = _tone(44100, 1.0, 2)
    path = tmp_path / f"clip.{ext}"
    sf.write(path, data, 44100, format=fmt, subtype=subtype)
    samples, rate, source = load_stereo(path)
    assert rate == 44100 and source.channels == 2
    assert samples.shape[1] == 2 and abs(samples.shape[0] - 44100) < 2000  # lossy codecs pad a little
    # The channels stay distinct (not mixed down): 220 Hz left, 330 Hz right.
    spec_l = np.abs(np.fft.rfft(samples[:32768, 0]))
    spec_r = np.abs(np.fft.rfft(samples[:32768, 1]))
    freqs = np.fft.rfftfreq(32768, 1 / 44100)
    assert abs(freqs[spec_l.argmax()] - 220) < 5 and abs(freqs[spec_r.argmax()] - 330) < 5


def test_mono_is_duplicated_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    sf.write(path, _tone(48000, 0.5, 1)[:, 0], 48000)
    samples, _, source = load_stereo(path)
    assert source.is_mono
    assert np.array_equal(samples[:, 0], samples[:, 1])
    assert any("mono" in w and "two channels" in w for w in source.warnings)


def test_more_than_two_channels_keeps_the_first_two(tmp_path: Path) -> None:
    path = tmp_path / "quad.wav"
    data = _tone(48000, 0.5, 4)
    sf.write(path, data, 48000, subtype="FLOAT")
    samples, _, source = load_stereo(path)
    assert source.channels == 4 and samples.shape[1] == 2
    np.testing.assert_allclose(samples, data[:, :2], atol=1e-6)
    assert any("4 channels" in w and "first two" in w for w in source.warnings)


def test_odd_rate_is_resampled_seamlessly_in_blocks(tmp_path: Path) -> None:
    rate = 22050
    data = _tone(rate, 3.0, 2)
    path = tmp_path / "odd.wav"
    sf.write(path, data, rate, subtype="FLOAT")
    source = open_audio(path)
    whole = np.concatenate(list(resampled_blocks(source, 48000, block_s=100.0)))
    blocked = np.concatenate(list(resampled_blocks(source, 48000, block_s=0.37)))
    assert whole.shape == blocked.shape
    assert abs(whole.shape[0] - 3 * 48000) <= 1
    # Block edges leave no glitch: the blocked result equals the one-shot result.
    np.testing.assert_allclose(blocked, whole, atol=1e-5)
    # And the content is right: a 220 Hz tone stays at 220 Hz.
    spec = np.abs(np.fft.rfft(whole[:, 0]))
    assert abs(np.fft.rfftfreq(whole.shape[0], 1 / 48000)[spec.argmax()] - 220) < 2


def test_audio_track_of_a_video_file_is_read_with_pyav(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    rate = 48000
    data = _tone(rate, 1.0, 2)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="stereo")
        for start in range(0, data.shape[0], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[start : start + 1024].T), format="fltp", layout="stereo"
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    samples, got_rate, source = load_stereo(path)
    assert got_rate == rate and source.channels == 2
    assert abs(samples.shape[0] - rate) < 4096
    assert source.readable_path != path and source.readable_path.suffix == ".flac"
    rms = np.sqrt(np.mean(samples[4096:-4096] ** 2, axis=0))
    assert np.all(rms > 0.15)


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("empty.wav", b"", "empty"),
        ("notes.wav", b"these are my shopping notes, not a recording\n" * 20, "not a readable audio file"),
        ("image.mp4", b"\x89PNG\r\n\x1a\n" + b"\0" * 500, "no audio track"),
    ],
)
def test_non_audio_gives_one_clear_error(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioInputError) as info:
        open_audio(path)
    message = str(info.value)
    assert str(path) in message and needle in message
    assert "\n" not in message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="no such file"):
        open_audio(tmp_path / "nowhere.wav")
    with pytest.raises(AudioInputError, match="folder"):
        open_audio(tmp_path)


def test_zero_length_wav(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 2), np.float32), 48000)
    with pytest.raises(AudioInputError, match="zero length"):
        open_audio(path)


def test_truncated_wav_reads_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sf.write(path, _tone(48000, 1.0, 2), 48000, subtype="PCM_16")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # the header still promises a whole second
    samples, _, _ = load_stereo(path)
    assert 0 < samples.shape[0] <= 48000
