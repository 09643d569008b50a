"""Head-related impulse responses for binaural scenes, in the project's azimuth convention.

Measured HRIRs come from a SOFA file (``SimpleFreeFieldHRIR``, an HDF5 container read with h5py). SOFA
measures azimuth counter-clockwise seen from above, so +90° there is the listener's LEFT; this module turns
that into the project convention (negative = left, positive = right, [-90, 90]) once, on load, and
everything downstream only ever sees project azimuths.

When no SOFA file can be read, :func:`default_hrirs` falls back to a spherical-head model (Woodworth ITD and
Brown & Duda's one-pole/one-zero head-shadow filter) so that scene synthesis never fails; the set's ``name``
says which one was used, and the ground truth records it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from engine.errors import InputError

log = logging.getLogger(__name__)

#: Where Debian's libmysofa1 package puts the measured MIT KEMAR set (the Makefile installs it).
DEFAULT_SOFA_PATH = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")
SPHERICAL_MODEL_NAME = "spherical-model"
SPEED_OF_SOUND_M_S = 343.0
#: Head radius of the spherical model: the average adult value Woodworth's formula is usually quoted with.
HEAD_RADIUS_M = 0.0875

LEFT, RIGHT = 0, 1


@dataclass(frozen=True)
class HrirSet:
    """HRIRs on the horizontal plane for frontal azimuths.

    ``azimuth_deg`` is ascending in the project convention (negative = left); ``ir`` has shape
    ``[len(azimuth_deg), 2, taps]`` with channel 0 the left ear and 1 the right ear, at ``sample_rate``.
    """

    name: str
    sample_rate: int
    azimuth_deg: np.ndarray
    ir: np.ndarray
    source_path: Path | None = None
    notes: dict = field(default_factory=dict)

    @property
    def taps(self) -> int:
        """Length of each impulse response in samples."""
        return int(self.ir.shape[-1])

    def at(self, azimuth_deg: float | np.ndarray) -> np.ndarray:
        """HRIR pair(s) for azimuth(s) in degrees, linearly interpolated between measured directions.

        A scalar gives ``[2, taps]``; an array of shape ``[k]`` gives ``[k, 2, taps]``. Azimuths are clipped
        to the measured range. Linear interpolation of time signals is adequate here because neighbouring
        measurements (5° for MIT KEMAR) differ in delay by only a sample or two.
        """
        az = np.clip(np.asarray(azimuth_deg, dtype=np.float64), self.azimuth_deg[0], self.azimuth_deg[-1])
        upper = np.clip(np.searchsorted(self.azimuth_deg, az, side="right"), 1, len(self.azimuth_deg) - 1)
        lower = upper - 1
        span = self.azimuth_deg[upper] - self.azimuth_deg[lower]
        weight = np.where(span > 0, (az - self.azimuth_deg[lower]) / np.where(span > 0, span, 1.0), 0.0)
        weight = weight[..., None, None]
        return ((1.0 - weight) * self.ir[lower] + weight * self.ir[upper]).astype(np.float32)

    def nearest(self, azimuth_deg: float) -> np.ndarray:
        """The measured HRIR pair ``[2, taps]`` closest to ``azimuth_deg`` (no interpolation)."""
        index = int(np.argmin(np.abs(self.azimuth_deg - float(azimuth_deg))))
        return self.ir[index].astype(np.float32)


def _resample(ir: np.ndarray, from_rate: float, to_rate: int) -> np.ndarray:
    if abs(from_rate - to_rate) < 1e-6:
        return ir
    ratio = Fraction(int(to_rate), round(from_rate)).limit_denominator(2000)
    return resample_poly(ir, ratio.numerator, ratio.denominator, axis=-1)


def _extend_low_frequencies(ir: np.ndarray, azimuth_deg: np.ndarray, sample_rate: int, taps: int = 1024) -> np.ndarray:
    """Replace the measured response below ~400 Hz by the physical one and set the level scale.

    Measured sets lose the bass of their small loudspeaker and carry an arbitrary overall gain. At low
    frequencies the head is nearly transparent, so each ear's response tends to a pure delay (its onset) at
    the 400 Hz level; we crossfade to that below 400 Hz, then scale so the frontal response at 400 Hz is
    unity. The direct sound then sits at its physical level against the room's diffuse field, and an engine's
    rumble is not thinned out on the direct path only.
    """
    nfft = 2 * taps
    spectrum = np.fft.rfft(ir, nfft, axis=-1)
    freqs = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    w = 2 * np.pi * freqs
    peak = np.max(np.abs(ir), axis=-1, keepdims=True)
    onset_s = np.argmax(np.abs(ir) >= 0.2 * peak, axis=-1)[..., None] / sample_rate
    anchor = int(np.argmin(np.abs(freqs - 400.0)))
    level = np.mean(np.abs(spectrum[..., anchor - 1 : anchor + 2]), axis=-1, keepdims=True)
    blend = np.clip((freqs - 150.0) / 250.0, 0.0, 1.0)  # 0 below 150 Hz, 1 above 400 Hz
    blend = 0.5 - 0.5 * np.cos(np.pi * blend)
    low = level * np.exp(-1j * w * onset_s)
    extended = np.fft.irfft(blend * spectrum + (1 - blend) * low, nfft, axis=-1)[..., :taps]
    fade = np.ones(taps)
    fade[-128:] = np.hanning(256)[128:]  # no click where the truncated response ends
    extended = extended * fade
    frontal = int(np.argmin(np.abs(azimuth_deg)))
    return extended / float(np.mean(level[frontal]))


def load_sofa(path: str | Path, sample_rate: int) -> HrirSet:
    """Read the horizontal-plane, frontal HRIRs of a SOFA file and resample them to ``sample_rate`` Hz.

    Keeps the measurements nearest elevation 0° whose azimuth lies in the frontal half-plane, converts SOFA's
    counter-clockwise azimuth (positive = left) to the project's (positive = right) and orders the ears
    left, right by the receivers' y coordinate (SOFA: +y is the listener's left). Raises
    :class:`InputError` naming the file and field when the file cannot be used.
    """
    import h5py  # local: only binaural scenes need it

    path = Path(path)
    try:
        with h5py.File(path, "r") as sofa:
            for key in ("Data.IR", "SourcePosition", "Data.SamplingRate"):
                if key not in sofa:
                    raise InputError(f"{path}: SOFA field {key!r} is missing (need a SimpleFreeFieldHRIR file)")
            ir = np.asarray(sofa["Data.IR"][:], dtype=np.float64)
            positions = np.asarray(sofa["SourcePosition"][:], dtype=np.float64)
            sofa_rate = float(np.asarray(sofa["Data.SamplingRate"][:]).ravel()[0])
            receivers = np.asarray(sofa["ReceiverPosition"][:], float) if "ReceiverPosition" in sofa else None
            delays = np.asarray(sofa["Data.Delay"][:], float) if "Data.Delay" in sofa else None
    except OSError as exc:
        raise InputError(f"{path}: cannot read as a SOFA (HDF5) file: {exc}") from exc
    if ir.ndim != 3 or ir.shape[1] != 2:
        raise InputError(f"{path}: SOFA field 'Data.IR' has shape {ir.shape}; expected [M, 2, N]")
    if positions.shape != (ir.shape[0], 3):
        raise InputError(
            f"{path}: SOFA field 'SourcePosition' has shape {positions.shape}; expected [{ir.shape[0]}, 3]"
        )
    if not sofa_rate > 0:
        raise InputError(f"{path}: SOFA field 'Data.SamplingRate' is {sofa_rate}; expected a positive rate")

    if delays is not None and np.any(delays != 0):
        # Some files store the broadband delay apart from the IR; fold its integer part back in.
        delays = np.broadcast_to(np.rint(delays).astype(int), (ir.shape[0], 2))
        padded = np.zeros((ir.shape[0], 2, ir.shape[2] + int(delays.max())))
        for m in range(ir.shape[0]):
            for r in range(2):
                padded[m, r, delays[m, r] : delays[m, r] + ir.shape[2]] = ir[m, r]
        ir = padded

    elevation = positions[:, 1]
    on_plane = np.abs(elevation - elevation[np.argmin(np.abs(elevation))]) < 0.5
    sofa_azimuth = (positions[:, 0] + 180.0) % 360.0 - 180.0  # wrap to [-180, 180)
    azimuth = -sofa_azimuth  # SOFA counter-clockwise (left positive) -> ours (right positive)
    azimuth[np.isclose(azimuth, -180.0)] = 180.0
    frontal = on_plane & (np.abs(azimuth) <= 90.0 + 1e-6)
    if frontal.sum() < 2:
        raise InputError(f"{path}: fewer than two frontal horizontal-plane directions in 'SourcePosition'")

    left_index, right_index = 0, 1
    if receivers is not None and receivers.shape[0] == 2 and receivers.reshape(2, -1).shape[1] >= 2:
        y = receivers.reshape(2, -1)[:, 1]
        if y[0] < y[1]:  # receiver 0 sits at -y, i.e. on the right
            left_index, right_index = 1, 0

    order = np.argsort(azimuth[frontal])
    chosen = ir[frontal][order][:, [left_index, right_index], :]
    chosen_azimuth = azimuth[frontal][order]
    chosen_azimuth, unique = np.unique(np.round(chosen_azimuth, 6), return_index=True)
    chosen = _resample(chosen[unique], sofa_rate, sample_rate)
    chosen = _extend_low_frequencies(chosen, chosen_azimuth, sample_rate)
    return HrirSet(
        name=path.name,
        sample_rate=int(sample_rate),
        azimuth_deg=chosen_azimuth.astype(np.float64),
        ir=chosen.astype(np.float32),
        source_path=path,
        notes={"sofa_sample_rate": sofa_rate},
    )


def spherical_head(sample_rate: int, taps: int = 256, step_deg: float = 1.0) -> HrirSet:
    """A spherical-head HRIR set (no pinna) for azimuths -90..90° every ``step_deg``.

    Each ear gets the Brown & Duda (1998) head-shadow filter
    ``H(w) = (1 + j·alpha·w/(2·w0)) / (1 + j·w/(2·w0))`` with ``w0 = c/a`` and ``alpha`` falling from 2 (ear
    facing the source: +6 dB at high frequencies) to 0.1 (shadowed), plus the Woodworth travel time
    ``-(a/c)·cos(theta)`` when the ear sees the source and ``(a/c)·(theta - pi/2)`` when it is behind the head,
    ``theta`` being the angle between the source and the ear axis. The resulting ITD is Woodworth's
    ``(a/c)·(az + sin az)``.
    """
    if taps < 32:
        raise InputError(f"spherical_head: taps is {taps}; need at least 32")
    a_over_c = HEAD_RADIUS_M / SPEED_OF_SOUND_M_S
    w0 = 1.0 / a_over_c
    alpha_min, theta_min = 0.1, np.deg2rad(150.0)
    azimuth_deg = np.arange(-90.0, 90.0 + step_deg / 2, step_deg)
    freqs = np.fft.rfftfreq(taps, 1.0 / sample_rate)
    w = 2 * np.pi * freqs
    # A fixed lead-in so the earliest ear's onset is causal and the window does not clip it.
    base_delay_s = a_over_c + 8.0 / sample_rate
    window = np.hanning(2 * taps)[taps:]  # fade out the tail, keep the onset untouched
    ir = np.zeros((len(azimuth_deg), 2, taps))
    for ear, ear_az in ((LEFT, -90.0), (RIGHT, 90.0)):
        theta = np.deg2rad(np.abs(azimuth_deg - ear_az))  # angle between source and this ear's axis
        alpha = (1 + alpha_min / 2) + (1 - alpha_min / 2) * np.cos(theta / theta_min * np.pi)
        travel_s = np.where(theta < np.pi / 2, -a_over_c * np.cos(theta), a_over_c * (theta - np.pi / 2))
        shadow = (1 + 1j * alpha[:, None] * w[None, :] / (2 * w0)) / (1 + 1j * w[None, :] / (2 * w0))
        delay = np.exp(-1j * w[None, :] * (base_delay_s + travel_s)[:, None])
        ir[:, ear, :] = np.fft.irfft(shadow * delay, n=taps, axis=-1) * window
    return HrirSet(
        name=SPHERICAL_MODEL_NAME,
        sample_rate=int(sample_rate),
        azimuth_deg=azimuth_deg,
        ir=ir.astype(np.float32),
        notes={"head_radius_m": HEAD_RADIUS_M, "model": "Woodworth ITD + Brown-Duda head shadow"},
    )


@functools.lru_cache(maxsize=8)
def _cached_default(sofa_path: str, sample_rate: int) -> HrirSet:
    path = Path(sofa_path)
    if path.is_file():
        try:
            return load_sofa(path, sample_rate)
        except (InputError, OSError, ValueError, KeyError) as exc:
            log.warning("cannot use HRIR file %s (%s); using the spherical-head model", path, exc)
    else:
        log.info("HRIR file %s is absent; using the spherical-head model", path)
    return spherical_head(sample_rate)


def default_hrirs(sample_rate: int = 48000, sofa_path: str | Path | None = None) -> HrirSet:
    """The measured MIT KEMAR set when its SOFA file can be read, else the spherical-head model.

    Never raises for a missing or unreadable file: the returned set's ``name`` is the SOFA file name or
    ``"spherical-model"``. Results are cached per (path, rate).
    """
    path = DEFAULT_SOFA_PATH if sofa_path is None else Path(sofa_path)
    return _cached_default(str(path), int(sample_rate))
