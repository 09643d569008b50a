"""Small recordings several test modules share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def write_two_sources_wav(path: Path, rate: int = 48000) -> Path:
    """Three seconds: noise on the left from 0.2 to 1.4 s, then noise on the right from 1.6 to 2.7 s."""
    rng = np.random.default_rng(3)
    left, right = np.zeros(3 * rate, np.float32), np.zeros(3 * rate, np.float32)
    left[int(0.2 * rate):int(1.4 * rate)] = 0.2 * rng.standard_normal(int(1.2 * rate))
    right[int(1.6 * rate):int(2.7 * rate)] = 0.2 * rng.standard_normal(int(1.1 * rate))
    sf.write(path, np.stack([left + 0.1 * right, 0.1 * left + right], axis=1), rate)
    return path
