"""The waveform's min/max pyramid: every view's min/max equals numpy's over the same spans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.audio.io import open_audio
from engine.audio.peaks import LEVEL_FACTOR, compute_peaks
from engine.errors import Cancelled
from tests.gui.conftest import write_stereo_wav


@pytest.fixture
def source_and_samples(tmp_path: Path):
    path = tmp_path / "peaks.wav"
    samples = write_stereo_wav(path, duration_s=3.3, rate=8000, seed=3)
    return open_audio(path), samples


def _check(spans, samples) -> None:
    assert spans.start.shape[0] > 0
    for i in range(spans.start.shape[0]):
        a, b = int(spans.start[i]), int(spans.stop[i])
        chunk = samples[a:b]
        assert spans.data[i, 0] == pytest.approx(chunk[:, 0].min())
        assert spans.data[i, 1] == pytest.approx(chunk[:, 0].max())
        assert spans.data[i, 2] == pytest.approx(chunk[:, 1].min())
        assert spans.data[i, 3] == pytest.approx(chunk[:, 1].max())
    # Consecutive spans, no gaps.
    assert np.all(spans.start[1:] == spans.stop[:-1])


@pytest.mark.parametrize(
    ("t0", "t1", "max_points", "expected_level"),
    [
        (0.0, 3.3, 8, 3),  # zoomed out: a coarse level
        (0.0, 3.3, 500, 0),  # level 0 fits
        (1.0, 2.0, 100, 1),
        (1.234, 1.6, 50, 0),
        (1.234, 1.3, 50, -1),
        (1.0, 1.05, 1000, -1),  # zoomed in: raw samples, one per point
        (1.0, 1.2, 300, -1),  # zoomed in: raw samples, several per point
    ],
)
def test_view_min_max_match_numpy(source_and_samples, t0, t1, max_points, expected_level) -> None:
    source, samples = source_and_samples
    peaks = compute_peaks(source, bin_frames=64)
    spans = peaks.spans(t0, t1, max_points)
    assert spans.level == expected_level
    assert spans.start.shape[0] <= max_points + 2
    assert spans.start[0] <= round(t0 * 8000) and spans.stop[-1] >= min(round(t1 * 8000), len(samples))
    _check(spans, samples)
    t, min_l, max_l, min_r, max_r = peaks.view(t0, t1, max_points)
    assert np.allclose(t, spans.start / 8000)
    assert np.all(min_l <= max_l) and np.all(min_r <= max_r)


def test_pyramid_levels_and_progress(source_and_samples) -> None:
    source, samples = source_and_samples
    seen: list[float] = []
    peaks = compute_peaks(source, bin_frames=64, progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert peaks.levels[0].shape[0] == -(-len(samples) // 64)
    for k in range(1, len(peaks.levels)):
        assert peaks.levels[k].shape[0] == -(-peaks.levels[k - 1].shape[0] // LEVEL_FACTOR)
    assert peaks.levels[-1].shape[0] == 1
    assert peaks.levels[-1][0, 1] == pytest.approx(samples[:, 0].max())
    assert peaks.levels[-1][0, 2] == pytest.approx(samples[:, 1].min())


def test_whole_view_at_the_top_level_covers_the_file(source_and_samples) -> None:
    source, samples = source_and_samples
    peaks = compute_peaks(source, bin_frames=64)
    spans = peaks.spans(-5.0, 100.0, 2)  # clamped to the file
    assert spans.start[0] == 0 and spans.stop[-1] == len(samples)
    _check(spans, samples)


def test_cancel_stops_the_pyramid(source_and_samples) -> None:
    source, _ = source_and_samples
    with pytest.raises(Cancelled):
        compute_peaks(source, bin_frames=16, is_cancelled=lambda: True)


def test_memory_for_an_hour_of_48k_stereo_is_bounded() -> None:
    class HourSource:  # an hour of 48 kHz stereo, generated block by block (never held whole)
        sample_rate = 48000
        frames = 3600 * 48000

        def blocks(self, block_frames, start=0):
            block = np.zeros((block_frames, 2), np.float32)
            block[::7] = 0.5
            for first in range(start, self.frames, block_frames):
                yield block[: min(block_frames, self.frames - first)]

        def read(self, start=0, stop=None):
            return np.zeros((max(0, (stop or self.frames) - start), 2), np.float32)

    peaks = compute_peaks(HourSource())
    assert peaks.nbytes < 16 * 1024 * 1024
    t, _min_l, max_l, *_ = peaks.view(0, 3600, 2000)
    assert len(t) <= 2000 and max_l.max() == pytest.approx(0.5)
