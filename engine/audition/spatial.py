"""The layout's audition: every box re-rendered as a sound at the place the box stands.

An audio engineer listens to it beside the recording: if a box was dragged to the wrong side, or made to
grow while its source recedes, the audition says so where a glance at the canvas may not.

Each box is read back through the planner's camera (:class:`~engine.planner.camera.Camera`, the inverse of
``Camera.box``): its centre gives the azimuth, its height (with its label's physical size) the distance.
Those are sampled every :data:`CONTROL_HOP_S` from the interpolated boxes (the same presence rule as the
render: an object sounds only while the layout shows it), and the object's sound is rendered along that
path the way make-bench renders its scenes (:mod:`engine.synth.scenes`): a time-varying propagation delay
(so motion in depth gives a physical Doppler shift), a 1/r level, and the recording kind's interaural cues:
HRIRs (binaural), two omni microphones ``d`` apart (spaced) or the sine/cosine pan law (pan-pot).

What each box sounds like (``signal``):

* ``"separated"``: the measured source the object stands for (:func:`match_objects_to_sources`), cut out of
  the recording (:func:`~engine.audition.separate.separate_sources`). Its own slow level contour is levelled
  out first, at the test signal's level, so that loudness follows the box, not the recording: a source the
  recording has far away would otherwise be turned down twice. (Its own Doppler shift cannot be taken out and
  stays in.) An object that stands for no source gets the neutral test signal.
* ``"test"``: a neutral test signal per object (:func:`neutral_test_signal`): pink-noise bursts, each object
  at its own rhythm, so that objects can be told apart by ear. Needs neither recording nor analysis.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.ndimage import uniform_filter1d
from scipy.optimize import linear_sum_assignment
from scipy.signal import lfilter

from engine.audio.model import DEFAULT_SPACING_M, Analysis, RecordingKind
from engine.audition.separate import separate_sources
from engine.errors import InputError
from engine.fileio import atomic_write_bytes
from engine.layout.interp import boxes_at_times
from engine.layout.model import VideoLayout
from engine.planner.camera import Camera
from engine.synth.hrir import SPEED_OF_SOUND_M_S, HrirSet, default_hrirs

# make-bench's own renderers (engine.synth.scenes), shared so the audition sounds exactly like a bench scene:
# the windowed-sinc fractional-delay reader, the HRIR crossfader (and its frame hop) and the pan law.
from engine.synth.scenes import _BLOCK_HOP_S as HRIR_HOP_S
from engine.synth.scenes import _binaural_blocks, _pan_gains, _read_fractional

KINDS = ("binaural", "spaced", "panpot")
SIGNALS = ("separated", "test")
#: The stereo kind of an audition when neither the caller nor a stereo analysis says (headphones listen best).
DEFAULT_KIND = "binaural"
#: Boxes are read at this interval (s); in between, paths are linear.
CONTROL_HOP_S = 0.01
#: A box at this distance plays at the sound's own level; nearer is louder as 1/r.
REFERENCE_DISTANCE_M = 3.0
#: Distances read from boxes are held in this range (m): nearer boxes fill the frame, farther ones are specks.
DISTANCE_RANGE_M = (1.0, 30.0)
PEAK_DBFS = -1.0
#: Output is rendered in blocks of this length (s), so long recordings need no full-length temporaries.
BLOCK_S = 20.0
#: Separated signals are levelled over windows of this length (s): slow enough to keep syllables and notes.
LEVEL_WINDOW_S = 1.0
#: Levelling raises a quiet stretch by at most this much (dB), so leakage and noise are not pulled up.
MAX_LEVEL_BOOST_DB = 20.0
#: Test signal: pink noise in bursts of BURST_S (linear ramps of BURST_RAMP_S) every
#: TEST_PERIOD_S + index·TEST_PERIOD_STEP_S seconds.
BURST_S = 0.1
BURST_RAMP_S = 0.005
TEST_PERIOD_S = 0.25
TEST_PERIOD_STEP_S = 0.125
TEST_RMS = 0.1
#: Pink-noise filter (−3 dB/octave within ±0.05 dB from 10 Hz to 20 kHz at 44.1–48 kHz): J. O. Smith,
#: "Spectral Audio Signal Processing", "Example: Synthesis of 1/f Noise (Pink Noise)".
PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
PINK_A = (1.0, -2.494956002, 2.017265875, -0.522189400)


@dataclass
class ObjectPath:
    """One layout object over the control times: where it is seen, and whether it is shown at all.

    Where it is not shown, azimuth and distance run straight between the shown values around (held before
    the first and after the last), so a path never jumps.
    """

    id: int
    name: str
    present: np.ndarray  # bool per control time
    azimuth_deg: np.ndarray
    distance_m: np.ndarray


# ----------------------------------------------------------------------------------- public API


def audition_layout(
    layout: VideoLayout,
    analysis: Analysis | None,
    stereo: np.ndarray | None,
    rate: int,
    *,
    kind: str | None = None,
    signal: str = "separated",
    camera: Camera | None = None,
    separated_sources: Mapping[int, np.ndarray] | None = None,
) -> np.ndarray:
    """The layout as stereo sound: ``(n, 2)`` float32 at ``rate``, peak at :data:`PEAK_DBFS`, never clipped.

    ``n`` is the recording's length (``stereo``), else the analysis's duration, else the layout's.
    ``kind`` (``binaural``, ``spaced``, ``panpot``) is the stereo the boxes are rendered with; by default the
    analysis's recording kind (binaural for a mono recording or without an analysis). A spaced pair is as wide as
    the analysis heard it (``Analysis.spacing_m``; 40 cm without an analysis). ``signal`` is
    ``"separated"`` (needs ``stereo`` and ``analysis``) or ``"test"`` (see the module docstring). ``camera``
    defaults to the planner's camera on the layout's canvas. ``separated_sources``: :func:`separate_sources` of
    this ``stereo`` and ``analysis`` when the caller keeps it between auditions (None: separated here).
    Bad arguments raise :class:`InputError`.
    """
    if signal not in SIGNALS:
        raise InputError(f"audition signal {signal!r} is unknown; expected one of {', '.join(SIGNALS)}")
    if signal == "separated" and (analysis is None or stereo is None):
        raise InputError("the 'separated' audition needs the recording and its analysis; use signal 'test' "
                         "to audition a layout without them")
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise InputError(f"sample rate is {rate!r}; expected a positive whole number of Hz")
    kind = _audition_kind(kind, analysis)
    camera = camera or layout_camera(layout)
    n = _audition_length(layout, analysis, stereo, rate)
    times_s = np.arange(math.ceil(n / rate / CONTROL_HOP_S) + 1) * CONTROL_HOP_S
    separated: dict[int, np.ndarray] = {}
    if analysis is not None and stereo is not None and signal == "separated":
        separated = _separated_by_object(layout, analysis, stereo, rate, camera, separated_sources)
    hrirs = default_hrirs(rate) if kind == "binaural" else None
    spacing_m = analysis.spacing_m if analysis is not None else DEFAULT_SPACING_M
    out = np.zeros((n, 2), np.float32)
    block = _block_samples(rate)
    for index, path in enumerate(object_paths(layout, times_s, camera)):
        if not path.present.any():
            continue
        if path.id in separated:
            dry = _levelled(separated[path.id], rate)
        else:
            dry = neutral_test_signal(n, rate, index, seed=path.id)
        for start in range(0, n, block):
            stop = min(n, start + block)
            out[start:stop] += place_sound(dry, rate, times_s, path.azimuth_deg, path.distance_m,
                                           path.present.astype(np.float64), kind, hrirs=hrirs,
                                           spacing_m=spacing_m, start=start, stop=stop)
    peak = float(np.max(np.abs(out), initial=0.0))
    if peak > 0:
        out *= np.float32(10 ** (PEAK_DBFS / 20) / peak)
    return out


def match_objects_to_sources(layout: VideoLayout, analysis: Analysis, camera: Camera | None = None
                             ) -> dict[int, int | None]:
    """Which measured source each layout object stands for: ``{object id: source id or None}``.

    The cost of a pair is the mean |azimuth difference| between the object's box and the source's track at
    the object's keyframes; one source per object, least total cost (Hungarian assignment). Sources marked
    off screen take no part; with more objects than sources the surplus objects get None. No pair is refused
    for being far apart: an object dragged to the wrong side keeps its sound, so the audition lets one hear
    the mistake.
    """
    camera = camera or layout_camera(layout)
    hidden = layout.offscreen_source_ids()
    sources = [s for s in analysis.sources if s.id not in hidden and np.isfinite(s.track.azimuth_deg).any()]
    appearances = layout.objects_by_id()
    matches: dict[int, int | None] = dict.fromkeys(appearances)
    if not sources or not appearances:
        return matches
    object_ids = list(appearances)
    cost = np.zeros((len(object_ids), len(sources)))
    for row, object_id in enumerate(object_ids):
        times = np.array([layout.keyframes[k].time_s for k, _ in appearances[object_id]])
        box_az = box_azimuth_deg(np.array([obj.center[0] for _, obj in appearances[object_id]]), camera)
        for col, src in enumerate(sources):
            ok = np.isfinite(src.track.azimuth_deg)
            track_az = np.interp(times, src.track.t[ok], src.track.azimuth_deg[ok])
            cost[row, col] = float(np.mean(np.abs(box_az - track_az)))
    rows, cols = linear_sum_assignment(cost)
    for row, col in zip(rows, cols, strict=True):
        matches[object_ids[row]] = sources[col].id
    return matches


def layout_camera(layout: VideoLayout) -> Camera:
    """The planner's camera on the layout's canvas."""
    return Camera(width=float(layout.canvas.width), height=float(layout.canvas.height))


def box_azimuth_deg(centre_x_px: np.ndarray, camera: Camera) -> np.ndarray:
    """The azimuth (deg, negative = left) a box centred at ``centre_x_px`` stands for: the inverse of
    ``Camera.x_for_azimuth``. A box pushed against the frame's edge reads as the edge (±hfov/2 at most)."""
    return np.degrees(np.arctan((np.asarray(centre_x_px, dtype=float) - camera.width / 2.0) / camera.focal_px))


def box_distance_m(height_px: np.ndarray, azimuth_deg: np.ndarray, label: str, camera: Camera) -> np.ndarray:
    """The distance (m) a box of ``height_px`` showing ``label`` at ``azimuth_deg`` stands for: the inverse of
    ``Camera.box`` (its size caps included), held within :data:`DISTANCE_RANGE_M`."""
    heights, depths = _height_to_depth(camera, label)
    depth = np.interp(np.asarray(height_px, dtype=float), heights, depths)
    distance = depth / np.maximum(np.cos(np.radians(azimuth_deg)), 1e-3)
    return np.clip(distance, *DISTANCE_RANGE_M)


def object_paths(layout: VideoLayout, times_s: np.ndarray, camera: Camera) -> list[ObjectPath]:
    """Every object's path over ``times_s`` (ascending) from the interpolated boxes, in id order."""
    frames = boxes_at_times(layout, times_s)
    names = layout.names_by_id()
    index = {object_id: k for k, object_id in enumerate(names)}
    present = np.zeros((len(names), len(times_s)), bool)
    centre_x = np.zeros(present.shape)
    height = np.zeros(present.shape)
    for i, frame in enumerate(frames):
        for box in frame:
            k = index[box.id]
            present[k, i] = True
            centre_x[k, i] = (box.box[0] + box.box[2]) / 2.0
            height[k, i] = box.box[3] - box.box[1]
    steps = np.arange(len(times_s))
    paths = []
    for object_id, name in names.items():
        k = index[object_id]
        shown = np.flatnonzero(present[k])
        if shown.size == 0:
            shown = np.array([0])  # never shown: any steady path will do, it stays silent
        centre = np.interp(steps, shown, centre_x[k, shown])
        azimuth = box_azimuth_deg(centre, camera)
        distance = box_distance_m(np.maximum(np.interp(steps, shown, height[k, shown]), 1e-3), azimuth, name, camera)
        paths.append(ObjectPath(object_id, name, present[k], azimuth, distance))
    return paths


def place_sound(
    dry: np.ndarray,
    rate: int,
    times_s: np.ndarray,
    azimuth_deg: np.ndarray,
    distance_m: np.ndarray,
    gain: np.ndarray,
    kind: str,
    *,
    hrirs: HrirSet | None = None,
    spacing_m: float = DEFAULT_SPACING_M,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Output samples ``start..stop`` ``(stop − start, 2)`` float32 of the mono sound ``dry`` moving along a path.

    The path is given at control ``times_s`` (ascending): azimuth (deg), distance (m) and a gain (0..1,
    the presence envelope). Each receiver (the head centre, or each microphone of a spaced pair) hears, at
    time t, what was emitted at ``t_e = t − (r(t_e) − r_min)/c``: the delay counts from the path's nearest
    point, so a recording's sound is not shifted as a whole, yet motion in depth shifts the pitch as it
    should. The level is ``REFERENCE_DISTANCE_M / r``. Any block of samples comes out exactly as it would in
    one piece. ``hrirs`` is for ``binaural`` (default: the studio's HRIR set).
    """
    if kind not in KINDS:
        raise InputError(f"audition kind {kind!r} is unknown; expected one of {', '.join(KINDS)}")
    stop = len(dry) if stop is None else stop
    path = _Path.from_polar(times_s, azimuth_deg, distance_m)
    if kind == "spaced":
        half = spacing_m / 2.0
        left, right = (_heard(dry, rate, path, x, start, stop)[0] for x in (-half, half))
        out = np.stack([left, right], axis=1)
    elif kind == "panpot":
        heard, azimuth = _heard(dry, rate, path, 0.0, start, stop)
        left_gain, right_gain = _pan_gains(azimuth)
        out = np.stack([heard * left_gain, heard * right_gain], axis=1)
    else:
        hrirs = hrirs or default_hrirs(rate)
        if hrirs.sample_rate != rate:
            raise InputError(f"HRIR set {hrirs.name} is at {hrirs.sample_rate} Hz; the sound is at {rate} Hz")
        # HRIR frames must fall on the same grid as in one piece, and see all the sound they overlap.
        hop = max(64, round(HRIR_HOP_S * rate))
        margin = hrirs.taps + 3 * hop
        lo, hi = max(0, (start - margin) // hop * hop), min(len(dry), stop + margin)
        heard, azimuth = _heard(dry, rate, path, 0.0, lo, hi)
        out = _binaural_blocks(heard, azimuth, hrirs).T[start - lo : stop - lo]
    presence = np.interp(np.arange(start, stop) / rate, path.times_s, np.asarray(gain, float))
    return (out * presence[:, None]).astype(np.float32)


def neutral_test_signal(n: int, rate: int, index: int, seed: int = 0) -> np.ndarray:
    """The neutral test sound of the ``index``-th object: ``n`` float32 samples of pink noise in bursts.

    Bursts of :data:`BURST_S` (with :data:`BURST_RAMP_S` ramps) every
    ``TEST_PERIOD_S + index·TEST_PERIOD_STEP_S`` seconds (0.25, 0.375, 0.5 … s), so each object has its own
    rhythm; pink because it sounds even across the spectrum, as a level reference should. ``TEST_RMS`` within
    a burst; deterministic for (index, seed).
    """
    rng = np.random.default_rng([seed, index])
    out = np.empty(n, np.float32)
    state = np.zeros(len(PINK_A) - 1)
    block = _block_samples(rate)
    period_s = TEST_PERIOD_S + index * TEST_PERIOD_STEP_S
    for start in range(0, n, block):
        stop = min(n, start + block)
        pink, state = lfilter(PINK_B, PINK_A, rng.standard_normal(stop - start), zi=state)
        phase_s = np.mod(np.arange(start, stop) / rate, period_s)
        envelope = np.clip(np.minimum(phase_s, BURST_S - phase_s) / BURST_RAMP_S, 0.0, 1.0)
        out[start:stop] = pink * envelope
    # The filter's gain on unit white noise, measured once: the bursts' RMS then comes out as TEST_RMS.
    return out * np.float32(TEST_RMS / _pink_rms())


def write_audition(path: str | Path, stereo: np.ndarray, rate: int) -> None:
    """Write an audition as ``.wav`` or ``.flac`` (24-bit) atomically: a temporary file beside it, fsync, rename."""
    path = Path(path)
    formats = {".wav": "WAV", ".flac": "FLAC"}
    if path.suffix.lower() not in formats:
        raise InputError(f"{path}: an audition is written as .wav or .flac")
    samples = np.asarray(stereo, dtype=np.float32)
    if samples.ndim != 2 or samples.shape[1] != 2 or not np.all(np.isfinite(samples)):
        raise InputError(f"{path}: the audition must be finite (samples, 2) stereo, got shape {samples.shape}")
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise InputError(f"{path}: sample rate is {rate!r}; expected a positive whole number of Hz")
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0), int(rate), format=formats[path.suffix.lower()], subtype="PCM_24")
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise InputError(f"{path}: cannot write the audition ({exc.strerror or exc})") from None


# ------------------------------------------------------------------------------------ internals


@dataclass(frozen=True)
class _Path:
    """A sound's path at control times on make-bench's ground plane (x right, y ahead, metres)."""

    times_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    nearest_m: float  # delays count from here

    @classmethod
    def from_polar(cls, times_s: np.ndarray, azimuth_deg: np.ndarray, distance_m: np.ndarray) -> _Path:
        azimuth, distance = np.radians(np.asarray(azimuth_deg, float)), np.asarray(distance_m, float)
        return cls(np.asarray(times_s, float), distance * np.sin(azimuth), distance * np.cos(azimuth),
                   float(np.min(distance)))

    def position_at(self, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.interp(times_s, self.times_s, self.x_m), np.interp(times_s, self.times_s, self.y_m)


def _heard(dry: np.ndarray, rate: int, path: _Path, receiver_x_m: float, start: int, stop: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """What a receiver at ``(receiver_x_m, 0)`` hears of ``dry`` at samples ``start..stop`` (delay and 1/r),
    and the azimuth (deg) each sample's sound was emitted from.

    The emission times are solved at the control times around the block and run linearly in between: the
    Doppler factor is updated every CONTROL_HOP_S, while the delay itself stays continuous.
    """
    t = np.arange(start, stop) / rate
    if t.size == 0:
        return np.zeros(0), np.zeros(0)
    first_c = max(0, int(np.searchsorted(path.times_s, t[0])) - 1)
    last_c = min(path.times_s.size, int(np.searchsorted(path.times_s, t[-1])) + 2)
    control_s = path.times_s[first_c:last_c]
    emitted = control_s
    for _ in range(4):  # fixed point: contracts by v/c per step, far below a sample after a few
        x, y = path.position_at(emitted)
        emitted = control_s - (np.hypot(x - receiver_x_m, y) - path.nearest_m) / SPEED_OF_SOUND_M_S
    x, y = path.position_at(emitted)
    position = np.interp(t, control_s, emitted) * rate
    distance = np.interp(t, control_s, np.hypot(x - receiver_x_m, y))
    first = max(0, int(np.floor(position.min())) - 16)
    last = min(len(dry), int(np.ceil(position.max())) + 17)
    # Read from a slice around the positions: the reader copies what it is given.
    heard = _read_fractional(np.asarray(dry[first:last], np.float64), position - first)
    heard *= REFERENCE_DISTANCE_M / distance
    return heard, np.interp(t, control_s, np.degrees(np.arctan2(x, y)))


def _audition_kind(kind: str | None, analysis: Analysis | None) -> str:
    if kind is None:
        if analysis is None or analysis.kind is RecordingKind.MONO:
            return DEFAULT_KIND
        return analysis.kind.value
    if kind not in KINDS:
        raise InputError(f"audition kind {kind!r} is unknown; expected one of {', '.join(KINDS)}")
    return kind


def _audition_length(layout: VideoLayout, analysis: Analysis | None, stereo: np.ndarray | None, rate: int) -> int:
    if stereo is not None:
        return int(np.shape(stereo)[0])
    duration_s = analysis.duration_s if analysis is not None else layout.duration_s
    return round(duration_s * rate)


def _block_samples(rate: int) -> int:
    """Block length in samples: a whole number of HRIR frames, so blocks fall on their grid."""
    hop = max(64, round(HRIR_HOP_S * rate))
    return max(1, round(BLOCK_S * rate / hop)) * hop


def _separated_by_object(layout: VideoLayout, analysis: Analysis, stereo: np.ndarray, rate: int,
                         camera: Camera, signals: Mapping[int, np.ndarray] | None) -> dict[int, np.ndarray]:
    """The separated signal of the source each matched object stands for, by object id (``signals``: the
    sources already separated, else separated now)."""
    matches = match_objects_to_sources(layout, analysis, camera)
    matches = {object_id: source_id for object_id, source_id in matches.items() if source_id is not None}
    if not matches:
        return {}
    if signals is None:
        signals = separate_sources(stereo, rate, analysis)
    return {object_id: signals[source_id] for object_id, source_id in matches.items()}


def _levelled(signal: np.ndarray, rate: int) -> np.ndarray:
    """``signal`` with its slow level contour (RMS over LEVEL_WINDOW_S) made flat at TEST_RMS, boosts over its loud
    stretches capped."""
    hop = max(1, round(CONTROL_HOP_S * rate))
    usable = len(signal) // hop * hop
    if usable == 0:
        return signal
    frames = signal[:usable].reshape(-1, hop)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop
    envelope = np.sqrt(uniform_filter1d(power, size=max(1, round(LEVEL_WINDOW_S / CONTROL_HOP_S)), mode="nearest"))
    if not envelope.max() > 0:
        return signal
    loud = float(np.percentile(envelope[envelope > 0], 95))
    # Every source's loud stretches come out at TEST_RMS: how far away the recording had it is the box's to say now.
    gain = TEST_RMS / np.maximum(envelope, loud * 10 ** (-MAX_LEVEL_BOOST_DB / 20))
    centres_s = (np.arange(gain.size) + 0.5) * CONTROL_HOP_S
    out = np.empty_like(signal)
    block = _block_samples(rate)
    for start in range(0, len(signal), block):
        stop = min(len(signal), start + block)
        out[start:stop] = signal[start:stop] * np.interp(np.arange(start, stop) / rate, centres_s, gain)
    return out


@functools.lru_cache(maxsize=1)
def _pink_rms() -> float:
    """RMS of :data:`PINK_B`/:data:`PINK_A` on unit white noise (from its impulse response, by Parseval)."""
    impulse = np.zeros(1 << 16)
    impulse[0] = 1.0
    return float(np.sqrt(np.sum(lfilter(PINK_B, PINK_A, impulse) ** 2)))


@functools.lru_cache(maxsize=64)
def _height_to_depth(camera: Camera, label: str) -> tuple[np.ndarray, np.ndarray]:
    """``(box heights ascending, depths)``: what ``Camera.box`` draws straight ahead, for inverting it."""
    depths = np.geomspace(camera.min_depth_m, 200.0, 600)  # nearer than min_depth_m draws as min_depth_m
    boxes = np.array([camera.box(0.0, float(d), label) for d in depths])
    heights = boxes[:, 3] - boxes[:, 1]
    # Heights fall with depth until the minimum size holds them; keep the part that still tells depths apart.
    keep = np.r_[True, np.diff(heights) < 0]
    return heights[keep][::-1], depths[keep][::-1]
