"""Head-related impulse responses for binaural scenes.

Measured: a SOFA file (AES69), by default the MIT KEMAR set that Debian's libmysofa1 ships. SOFA
azimuth turns counter-clockwise (90° = left); here, as everywhere in the project, positive = right.
Where no SOFA file is installed, a spherical-head model stands in (Woodworth ITD and a one-pole
head-shadow filter, after Brown and Duda) and the scene's ground truth says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal

log = logging.getLogger(__name__)

DEFAULT_SOFA = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")
HEAD_RADIUS_M = 0.0875
SPEED_OF_SOUND_M_S = 343.0


@dataclass
class HrirSet:
    """HRIR pairs on the horizontal plane, front half: ``irs[i]`` (2, taps) is left/right at ``azimuth_deg[i]``."""

    name: str
    rate: int
    azimuth_deg: np.ndarray
    irs: np.ndarray

    def nearest(self, azimuth_deg: float) -> np.ndarray:
        """The (2, taps) pair measured closest to ``azimuth_deg`` (positive = right)."""
        return self.irs[int(np.argmin(np.abs(self.azimuth_deg - azimuth_deg)))]


def load_sofa(path: Path, rate: int) -> HrirSet:
    """Horizontal-plane HRIRs for azimuths −90..90 from a SOFA file, resampled to ``rate``."""
    import h5py

    with h5py.File(path, "r") as f:
        irs = np.asarray(f["Data.IR"], dtype=np.float64)
        pos = np.asarray(f["SourcePosition"], dtype=np.float64)
        file_rate = int(np.asarray(f["Data.SamplingRate"]).ravel()[0])
        receivers = np.asarray(f["ReceiverPosition"]).reshape(-1, 3)
    left_index = int(np.argmax(receivers[:, 1]))  # SOFA: +y is the listener's left
    horizontal = np.abs(pos[:, 1]) < 0.5
    sofa_az = (pos[horizontal, 0] + 180.0) % 360.0 - 180.0
    azimuth = -sofa_az  # counter-clockwise (left) → our convention (right positive)
    keep = np.abs(azimuth) <= 90.0
    azimuth, pairs = azimuth[keep], irs[horizontal][keep]
    pairs = pairs[:, [left_index, 1 - left_index], :]
    if file_rate != rate:
        ratio = Fraction(rate, file_rate)
        pairs = signal.resample_poly(pairs, ratio.numerator, ratio.denominator, axis=-1)
    order = np.argsort(azimuth)
    return HrirSet(path.name, rate, azimuth[order], pairs[order].astype(np.float32))


def spherical_head(rate: int, taps: int = 256) -> HrirSet:
    """A spherical-head HRIR set: Woodworth delays plus a head-shadow filter per ear."""
    grid = np.arange(-90.0, 90.5, 5.0)
    freqs = np.fft.rfftfreq(taps, 1.0 / rate)
    w0 = SPEED_OF_SOUND_M_S / HEAD_RADIUS_M
    irs = np.empty((grid.size, 2, taps), np.float32)
    for i, az in enumerate(grid):
        theta = np.radians(az)
        for ear, ear_angle in enumerate((-np.pi / 2, np.pi / 2)):  # left ear at −90°, right at +90°
            incidence = abs(theta - ear_angle)  # 0 = facing the ear
            alpha = 1.05 + 0.95 * np.cos(incidence * 180.0 / 150.0)
            jw = 1j * 2 * np.pi * freqs
            shadow = (1 + alpha * jw / (2 * w0)) / (1 + jw / (2 * w0))
            # Path to this ear: shorter on the near side (Woodworth), 1 ms bulk delay keeps it causal.
            if incidence < np.pi / 2:
                extra = -HEAD_RADIUS_M * np.cos(incidence)
            else:
                extra = HEAD_RADIUS_M * (incidence - np.pi / 2)
            delay_s = 0.001 + extra / SPEED_OF_SOUND_M_S
            irs[i, ear] = np.fft.irfft(shadow * np.exp(-jw * delay_s), n=taps)
    return HrirSet("spherical-model", rate, grid, irs)


def default_hrirs(rate: int, sofa: Path | None = None) -> HrirSet:
    """The measured KEMAR set if installed, else the spherical-head model (logged)."""
    path = sofa or DEFAULT_SOFA
    if path.exists():
        try:
            return load_sofa(path, rate)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("cannot read HRIRs from %s (%s); using a spherical-head model", path, exc)
    else:
        log.info("%s is not installed; binaural scenes use a spherical-head model", path)
    return spherical_head(rate)
