"""The analysis result of the "Hear" stage and its versioned JSON form (SPEC.md, "Analysis").

Sign convention, stated once for the whole project: for azimuth, ILD and ITD alike, positive means
*right*. Azimuth in degrees in [-90, 90] (0 = ahead); ILD in dB = level(right) - level(left);
ITD in ms, positive when the sound reaches the right channel first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError

ANALYSIS_FORMAT = "spa2v.analysis"
ANALYSIS_VERSION = 1

#: |azimuth| beyond this many degrees is "left" or "right"; within it, "center" (SPEC.md).
SIDE_THRESHOLD_DEG = 15.0
#: The microphone spacing (m) a spaced pair is heard with unless told otherwise (a common A-B pair), and the
#: spacings a user may give: a pair's time differences grow with it, and so does the lag range searched.
DEFAULT_SPACING_M = 0.4
SPACING_RANGE_M = (0.01, 5.0)
#: A level or clarity change (dB) under this is too small to put in words: the planners call such a level steady
#: and leave such a clarity change unsaid.
NOTABLE_CHANGE_DB = 1.5


class Side(str, Enum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


class Motion(str, Enum):
    STATIONARY = "stationary"
    MOVING_LEFT = "moving_left"
    MOVING_RIGHT = "moving_right"
    APPROACHING = "approaching"
    RECEDING = "receding"


class RecordingKind(str, Enum):
    """How the stereo pair was made; decides how cues map to azimuth."""

    BINAURAL = "binaural"  # dummy head / in-ear: ITD <= ~0.8 ms and strong high-frequency ILD
    SPACED = "spaced"  # spaced omni pair: ITD up to d/c (~1.2 ms for 40 cm), little ILD
    PANPOT = "panpot"  # studio mix panned by level: ILD only, no ITD
    MONO = "mono"  # one channel (or two identical ones): no spatial cues


def side_for_azimuth(azimuth_deg: float) -> Side:
    """The side of SPEC.md for an azimuth in degrees (negative = left)."""
    if azimuth_deg < -SIDE_THRESHOLD_DEG:
        return Side.LEFT
    if azimuth_deg > SIDE_THRESHOLD_DEG:
        return Side.RIGHT
    return Side.CENTER


def _array(values: Any, name: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: field '{name}' must be a list of numbers ({exc})") from None
    if arr.ndim != 1:
        raise InputError(f"{where}: field '{name}' must be a flat list of numbers")
    return arr


def _num(mapping: Mapping[str, Any], name: str, where: str) -> float:
    if name not in mapping:
        raise InputError(f"{where}: field '{name}' is missing")
    value = mapping[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: field '{name}' must be a finite number, got {value!r}")
    return float(value)


def _optional_num(mapping: Mapping[str, Any], name: str, where: str) -> float | None:
    """:func:`_num` for a field that may be missing or null (None then)."""
    return None if mapping.get(name) is None else _num(mapping, name, where)


def _choice(mapping: Mapping[str, Any], name: str, enum: type[Enum], where: str) -> Any:
    value = mapping.get(name)
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InputError(f"{where}: field '{name}' is {value!r}; expected one of {allowed}") from None


def _rounded(arr: np.ndarray, digits: int) -> list[float]:
    # NaN has no JSON form; frames where a cue is undefined (silence) are written as null.
    return [None if not math.isfinite(v) else round(float(v), digits) for v in arr]  # type: ignore[misc]


@dataclass
class CueFrames:
    """Per-frame cues on a regular time grid (``t[i] = i * hop_s + hop_s / 2`` in practice).

    The first five arrays are the SPEC's; the others are extras the studio's meters and plots use.
    Undefined values (silent frames) are NaN in memory and null in JSON.
    """

    hop_s: float
    t: np.ndarray
    ild_db: np.ndarray
    itd_ms: np.ndarray
    coherence: np.ndarray
    level_dbfs: np.ndarray
    level_left_dbfs: np.ndarray | None = None
    level_right_dbfs: np.ndarray | None = None
    loudness_lufs: np.ndarray | None = None  # EBU R128 momentary (400 ms)
    centroid_hz: np.ndarray | None = None
    pitch_hz: np.ndarray | None = None
    azimuth_deg: np.ndarray | None = None  # broadband azimuth per frame, through the recording's cue map

    REQUIRED = ("t", "ild_db", "itd_ms", "coherence", "level_dbfs")
    OPTIONAL = (
        "level_left_dbfs",
        "level_right_dbfs",
        "loudness_lufs",
        "centroid_hz",
        "pitch_hz",
        "azimuth_deg",
    )

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def index_at(self, time_s: float) -> int:
        """The frame nearest to ``time_s`` (clamped to the available frames)."""
        if len(self) == 0:
            return 0
        return int(np.clip(round((time_s - float(self.t[0])) / self.hop_s), 0, len(self) - 1))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hop_s": self.hop_s}
        for name in self.REQUIRED + self.OPTIONAL:
            arr = getattr(self, name)
            if arr is not None:
                out[name] = _rounded(arr, 4)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "analysis") -> CueFrames:
        where = f"{where}: frames"
        if not isinstance(data, Mapping):
            raise InputError(f"{where} must be an object")
        hop_s = _num(data, "hop_s", where)
        if hop_s <= 0:
            raise InputError(f"{where}: field 'hop_s' must be positive, got {hop_s}")
        arrays: dict[str, np.ndarray] = {}
        for name in cls.REQUIRED:
            if name not in data:
                raise InputError(f"{where}: field '{name}' is missing")
            arrays[name] = _array([np.nan if v is None else v for v in data[name]], name, where)
        for name in cls.OPTIONAL:
            if data.get(name) is not None:
                arrays[name] = _array([np.nan if v is None else v for v in data[name]], name, where)
        n = arrays["t"].shape[0]
        for name, arr in arrays.items():
            if arr.shape[0] != n:
                raise InputError(f"{where}: field '{name}' has {arr.shape[0]} values, 't' has {n}")
        return cls(hop_s=hop_s, **arrays)


@dataclass
class SourceTrack:
    """One source over time: where it is and how loud, on its own time grid."""

    t: np.ndarray
    azimuth_deg: np.ndarray
    level_db: np.ndarray

    def azimuth_at(self, time_s: float) -> float:
        """The azimuth at ``time_s`` by linear interpolation (held at the ends); NaN gaps skipped."""
        ok = np.isfinite(self.azimuth_deg)
        if not ok.any():
            return float("nan")
        return float(np.interp(time_s, self.t[ok], self.azimuth_deg[ok]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _rounded(self.t, 4),
            "azimuth_deg": _rounded(self.azimuth_deg, 2),
            "level_db": _rounded(self.level_db, 2),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> SourceTrack:
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: field 'track' must be an object")
        arrays = {}
        for name in ("t", "azimuth_deg", "level_db"):
            if name not in data:
                raise InputError(f"{where}: track field '{name}' is missing")
            arrays[name] = _array([np.nan if v is None else v for v in data[name]], name, where)
        if not arrays["t"].shape == arrays["azimuth_deg"].shape == arrays["level_db"].shape:
            raise InputError(f"{where}: track fields 't', 'azimuth_deg', 'level_db' differ in length")
        return cls(**arrays)


@dataclass
class Source:
    """One sounding source: side, motion, confidence and its track (SPEC.md, analysis ``sources``)."""

    id: int
    side: Side
    motion: Motion
    confidence: float
    azimuth_start_deg: float
    azimuth_end_deg: float
    track: SourceTrack
    #: Level change over the clip, dB (positive = getting louder); an extra used for captions.
    level_change_db: float = 0.0
    #: How much nearer the source comes over the clip, in dB of level as a dry recording would show it (its level
    #: change with its clarity's, see engine.audio.hear.CLARITY_WEIGHT; 20·log10 of the distance ratio), positive =
    #: nearer; what decides approaching / receding. An extra; None (files written before it) reads the level change.
    nearness_change_db: float | None = None
    #: In a binaural recording, for a source at least 25° to one side: the share of its moments in which some band
    #: above 2 kHz is louder on its side (a head's shadow; see engine.audio.hear.SHADOW_BAND_HZ). Near 0, the source
    #: is likely another's sidelobe or reflection across the head. None elsewhere. An extra.
    shadow_share: float | None = None
    #: Seconds during which the source sounds: [[start, end], ...]; an extra for the timeline.
    active: list[tuple[float, float]] = field(default_factory=list)

    @property
    def nearness_db(self) -> float:
        """:attr:`nearness_change_db`, or the level change where it was not measured."""
        return self.level_change_db if self.nearness_change_db is None else self.nearness_change_db

    @property
    def clarity_part_db(self) -> float:
        """What the clarity adds to the level change in :attr:`nearness_db` (0 where it was not measured)."""
        return self.nearness_db - self.level_change_db

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "side": self.side.value,
            "motion": self.motion.value,
            "confidence": round(float(self.confidence), 3),
            "azimuth_start_deg": round(float(self.azimuth_start_deg), 2),
            "azimuth_end_deg": round(float(self.azimuth_end_deg), 2),
            "level_change_db": round(float(self.level_change_db), 2),
            "nearness_change_db": round(float(self.nearness_db), 2),
            "shadow_share": None if self.shadow_share is None else round(float(self.shadow_share), 3),
            "active": [[round(a, 3), round(b, 3)] for a, b in self.active],
            "track": self.track.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Source:
        if not isinstance(data, Mapping):
            raise InputError(f"{where} must be an object")
        source_id = data.get("id")
        if isinstance(source_id, bool) or not isinstance(source_id, int) or source_id < 0:
            raise InputError(f"{where}: field 'id' must be a non-negative integer, got {source_id!r}")
        confidence = _num(data, "confidence", where)
        if not 0.0 <= confidence <= 1.0:
            raise InputError(f"{where}: field 'confidence' must lie in [0, 1], got {confidence}")
        az = {}
        for name in ("azimuth_start_deg", "azimuth_end_deg"):
            az[name] = _num(data, name, where)
            if not -90.0 <= az[name] <= 90.0:
                raise InputError(f"{where}: field '{name}' must lie in [-90, 90], got {az[name]}")
        shadow_share = _optional_num(data, "shadow_share", where)
        if shadow_share is not None and not 0.0 <= shadow_share <= 1.0:
            raise InputError(f"{where}: field 'shadow_share' must lie in [0, 1], got {shadow_share}")
        active = []
        for pair in data.get("active", []) or []:
            if not (isinstance(pair, Sequence) and len(pair) == 2):
                raise InputError(f"{where}: field 'active' must hold [start, end] pairs")
            active.append((float(pair[0]), float(pair[1])))
        return cls(
            id=source_id,
            side=_choice(data, "side", Side, where),
            motion=_choice(data, "motion", Motion, where),
            confidence=confidence,
            track=SourceTrack.from_dict(data.get("track"), where),
            level_change_db=float(data.get("level_change_db", 0.0) or 0.0),
            nearness_change_db=_optional_num(data, "nearness_change_db", where),
            shadow_share=shadow_share,
            active=active,
            **az,
        )


def _band_ild(value: Any, where: str) -> dict[str, list[float]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "centre_hz" not in value or "median_db" not in value:
        raise InputError(f"{where}: field 'band_ild_db' must hold 'centre_hz' and 'median_db' lists")
    centres = _array(value["centre_hz"], "band_ild_db.centre_hz", where)
    medians = _array([np.nan if v is None else v for v in value["median_db"]], "band_ild_db.median_db", where)
    if centres.shape != medians.shape:
        raise InputError(f"{where}: 'band_ild_db' lists differ in length")
    return {"centre_hz": centres.tolist(), "median_db": medians.tolist()}


def _spacing(value: Any, where: str) -> float:
    low, high = SPACING_RANGE_M
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:  # NaN fails too
        raise InputError(f"{where}: field 'spacing_m' must be a number of metres in [{low:g}, {high:g}], got {value!r}")
    return float(value)


@dataclass
class Analysis:
    """Everything the "Hear" stage measured for one recording."""

    sample_rate: int  # the file's own sample rate
    channels: int  # the file's own channel count
    duration_s: float
    frames: CueFrames
    sources: list[Source]
    kind: RecordingKind = RecordingKind.BINAURAL
    #: Confidence of the recording-kind decision, 0..1.
    kind_confidence: float = 0.0
    #: Plain-language notes for the user (mono input, channels dropped, ...).
    warnings: list[str] = field(default_factory=list)
    audio_path: str | None = None
    #: ILD per third-octave band, median over the louder part: {"centre_hz": [...], "median_db": [...]}.
    band_ild_db: dict[str, list[float]] | None = None
    #: Directions with steady but weak evidence that are not reported as sources (too faint or brief beside the
    #: others): where the consistency check looks before saying a box matches no sound. Ids follow the sources'.
    faint_sources: list[Source] = field(default_factory=list)
    #: The microphone spacing (m) a spaced pair was heard with: its ITDs map to azimuths through it, and the
    #: separation and the audition use it too.
    spacing_m: float = DEFAULT_SPACING_M

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": ANALYSIS_FORMAT,
            "version": ANALYSIS_VERSION,
            "sample_rate": int(self.sample_rate),
            "channels": int(self.channels),
            "duration_s": round(float(self.duration_s), 4),
            "recording_kind": self.kind.value,
            "recording_kind_confidence": round(float(self.kind_confidence), 3),
            "spacing_m": round(float(self.spacing_m), 4),
            "audio_path": self.audio_path,
            "warnings": list(self.warnings),
            "band_ild_db": None if self.band_ild_db is None else {
                "centre_hz": list(self.band_ild_db["centre_hz"]),
                "median_db": _rounded(np.asarray(self.band_ild_db["median_db"], dtype=float), 2),
            },
            "frames": self.frames.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
            "faint_sources": [s.to_dict() for s in self.faint_sources],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "analysis") -> Analysis:
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: expected a JSON object")
        if data.get("format") != ANALYSIS_FORMAT:
            raise InputError(
                f"{where}: field 'format' must be '{ANALYSIS_FORMAT}', got {data.get('format')!r}"
            )
        if data.get("version") != ANALYSIS_VERSION:
            raise InputError(
                f"{where}: field 'version' is {data.get('version')!r}; "
                f"this studio reads version {ANALYSIS_VERSION}"
            )
        rate = _num(data, "sample_rate", where)
        channels = _num(data, "channels", where)
        duration = _num(data, "duration_s", where)
        if rate <= 0 or channels < 1 or duration < 0:
            raise InputError(f"{where}: 'sample_rate' and 'channels' must be positive, 'duration_s' >= 0")
        sources_raw = data.get("sources")
        if not isinstance(sources_raw, list):
            raise InputError(f"{where}: field 'sources' must be a list")
        sources = [Source.from_dict(s, f"{where}: sources[{i}]") for i, s in enumerate(sources_raw)]
        faint_raw = data.get("faint_sources") or []  # optional: analyses written before it have none
        if not isinstance(faint_raw, list):
            raise InputError(f"{where}: field 'faint_sources' must be a list")
        faint = [Source.from_dict(s, f"{where}: faint_sources[{i}]") for i, s in enumerate(faint_raw)]
        kind = RecordingKind(data["recording_kind"]) if data.get("recording_kind") in {
            k.value for k in RecordingKind
        } else RecordingKind.BINAURAL
        return cls(
            sample_rate=int(rate),
            channels=int(channels),
            duration_s=duration,
            frames=CueFrames.from_dict(data.get("frames"), where),
            sources=sources,
            faint_sources=faint,
            kind=kind,
            kind_confidence=float(data.get("recording_kind_confidence", 0.0) or 0.0),
            warnings=[str(w) for w in data.get("warnings", []) or []],
            audio_path=data.get("audio_path"),
            band_ild_db=_band_ild(data.get("band_ild_db"), where),
            spacing_m=_spacing(data.get("spacing_m", DEFAULT_SPACING_M), where),
        )

    def save_json(self, path: str | Path) -> None:
        """Write the SPEC's analysis JSON atomically."""
        from engine.fileio import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False))

    @classmethod
    def load_json(cls, path: str | Path) -> Analysis:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, str(path))
