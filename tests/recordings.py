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


def write_engine_and_siren_wav(path: Path) -> Path:
    """A pan-pot mix (make-bench seed 99, scene 044): an engine far left (-67°) and a siren ahead, 5 s. Measured on
    the mixture the two read alike (the same pitch, centroid and onsets while either sounds)."""
    from engine.synth.scenes import SceneSpec, SourceSpec, render_scene

    spec = SceneSpec(kind="panpot", duration_s=4.98, seed=1542010167, sources=[
        SourceSpec("siren", -1.37, distance_start_m=3.65, seed=704716593, gain_db=1.18),
        SourceSpec("engine", -66.68, distance_start_m=2.19, seed=1098193972, gain_db=-0.91),
    ])
    audio, rate = render_scene(spec)
    sf.write(path, audio, rate)
    return path
