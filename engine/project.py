"""The ``.spa2v`` project of SPEC.md as a validated model, and its versioned JSON file.

A project is everything a person needs to come back to their work: the recording, how it was heard, the
layout (VSL) they planned and edited, how the editor showed it, the planner's and the renderer's settings,
and the last video rendered. The file looks like::

    {"format": "spa2v.project", "version": 1,
     "audio": "scene.flac",
     "analysis_settings": {"rate": 48000, "n_fft": 1024, "hop_s": 0.01, ...},
     "layout": {"format": "spa2v.vsl", "version": 1, ...} or null,
     "edit_state": {"time_s": 2.5, "selected": [0], "onion": false, "paths": true,
                    "objects": {"0": {"colour": "#e6194b", "visible": true, "locked": false}},
                    "check_matches": [{"object_id": 0, "source_id": 1, "source_azimuth_deg": 52.6}]},
     "planner": {"kind": "offline", "labels": ["car@left"], "keyframes": 5, "k": 3, "temperature": 0.5,
                 "model": null, "base_url": null, "provider": null, "include_cues": true},
     "render": {"generator": "auto", "steps": 25, "guidance": 7.5, "seed": 0, "fps": 8.0, "frames": null,
                "size": [512, 320], ...},
     "last_render": "renders/scene.mp4" or null}

Paths (``audio``, ``last_render``) are written relative to the project file's folder when the file lies in
that folder, below it or beside it (one ``..``), so a project folder that moves with its recordings still
opens; other paths are written absolute. In memory they are absolute. A recording that is not where the
project says is not an error: the project loads, :attr:`Project.audio_missing` is true and a warning says
so, so that the studio can offer to locate it.

No API key is ever stored: the models have no field for one, a key-like entry in a file that is read is
dropped with a warning, and :func:`save_project` checks what it writes once more. Saves are atomic
(:func:`engine.fileio.atomic_write_text`). A bad file raises :class:`~engine.errors.InputError` with one
line naming the file and the field (``x.spa2v: render.steps: must be at least 1, got 0``); the layout's
problems are named the way a ``.vsl.json`` file's are, under ``layout.`` (``layout.keyframes[2].objects[0].box``).

This module imports no heavy engine stage: the defaults below mirror those of
:class:`engine.audio.hear.AnalysisSettings`, :class:`engine.planner.llm.LLMSettings` and
:mod:`engine.render.base` (a test keeps them equal), and the conversions to those types import lazily.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from engine.audio.model import DEFAULT_SPACING_M, SPACING_RANGE_M
from engine.errors import InputError
from engine.fileio import atomic_write_text, read_json_file
from engine.layout.model import VSL_FORMAT, VSL_VERSION, VideoLayout, quoted, validation_message

if TYPE_CHECKING:
    from engine.audio.hear import AnalysisSettings
    from engine.planner.llm import LLMSettings
    from engine.render.base import RenderRequest

log = logging.getLogger(__name__)

PROJECT_FORMAT = "spa2v.project"
PROJECT_VERSION = 1
PROJECT_SUFFIX = ".spa2v"

#: A ``.spa2v`` file larger than this is refused before it is read (a project is its layout and a few
#: settings: a few MB at most), so that a wrong file chosen by mistake cannot fill the memory.
MAX_FILE_BYTES = 32 * 2**20

#: A path is written relative to the project file when it climbs at most this many folders up.
MAX_RELATIVE_PARENT_STEPS = 1

#: The generator's choices, as the command line offers them (``render --generator/--scheduler/--grounding``).
GENERATORS = ("auto", "animatic", "diffusion")
SCHEDULERS = ("ddim", "euler", "lcm", "lightning")
GROUNDING_MODES = ("hard", "soft", "off")
#: The LLM endpoints :data:`engine.planner.llm.PROVIDERS` knows.
PROVIDERS = ("openai", "gemini", "vllm")

FiniteFloat = Annotated[StrictFloat, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[StrictFloat, Field(gt=0.0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[StrictFloat, Field(ge=0.0, allow_inf_nan=False)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
Name = Annotated[StrictStr, Field(min_length=1)]


def _flag_from_input(value: Any) -> bool:
    # bool only: 1 or "yes" in a file is more likely a slip than a choice.
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be true or false, got {quoted(value)}")


def _within(low: float, high: float) -> AfterValidator:
    """A check that a number lies in ``[low, high]``, said in the words of the file's other messages."""
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be a number in [{low:g}, {high:g}], got {quoted(value)}")
        return value

    return AfterValidator(check)


Flag = Annotated[bool, BeforeValidator(_flag_from_input)]


# ------------------------------------------------------------------------------------------ API keys

# Words that mark a field as a secret wherever they stand in its name (``openai_api_key``, ``clientSecret``).
_SECRET_WORDS = {"apikey", "secret", "secrets", "password", "passwd", "passphrase", "credential", "credentials",
                 "authorization", "bearer"}
# A name ending in "key" or "token" is a secret when it is only that word or one of these qualifies it;
# ``key_envs`` (names of environment variables) and ``max_tokens`` are not.
_KEY_QUALIFIERS = {"api", "access", "secret", "private", "auth", "bearer", "refresh", "session", "openai", "gemini",
                   "google", "hf", "huggingface"}
# Values shaped like the keys people paste (OpenAI-style ``sk-…``, Google ``AIza…``), whatever the field.
_SECRET_VALUE = re.compile(r"(?:sk|rk)-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}")


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` would hold an API key, token or password."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    words = [word for word in re.split(r"[^a-z0-9]+", spaced) if word]
    if not words:
        return False
    if any(word in _SECRET_WORDS for word in words):
        return True
    if words[-1] in ("key", "token"):
        return len(words) == 1 or any(word in _KEY_QUALIFIERS for word in words[:-1])
    return False


def _field_name(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _is_secret_entry(key: Any, value: Any) -> bool:
    return (isinstance(key, str) and is_secret_name(key)) or (
        isinstance(value, str) and _SECRET_VALUE.fullmatch(value.strip()) is not None)


def _shell(value: Any) -> Any:
    """An empty container of the kind of ``value`` (a JSON object or array), else ``value`` itself."""
    if isinstance(value, Mapping):
        return {}
    if isinstance(value, list):
        return []
    return value


def _entries(container: Any, where: str) -> Iterator[tuple[Any, Any, str]]:
    """``(key, value, field name)`` of a JSON object's entries, ``(None, item, name)`` of an array's items."""
    if isinstance(container, Mapping):
        return ((key, value, _field_name(where, str(key))) for key, value in container.items())
    return ((None, item, f"{where}[{i}]") for i, item in enumerate(container))


def _without_secrets(data: Any, where: str, found: list[str]) -> Any:
    """``data`` with every key-like entry of every JSON object removed; the removed fields go to ``found``
    (in document order).

    It walks with a stack of its own, not by recursion: a file may nest arrays as deep as the JSON parser
    allows, deeper than Python's recursion limit leaves room for here.
    """
    root = _shell(data)
    stack = [(_entries(data, where), root)] if root is not data else []
    while stack:
        entries, target = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        key, value, name = entry
        if key is not None and _is_secret_entry(key, value):
            found.append(name)
            continue
        child = _shell(value)
        if isinstance(target, dict):
            target[key] = child
        else:
            target.append(child)
        if child is not value:
            stack.append((_entries(value, name), child))
    return root


def _secret_warning(field: str) -> str:
    # Never the value itself: the warning may be logged.
    return (f"{field}: an API key or other secret was found and dropped; a project never stores one (set the "
            "key's environment variable, e.g. OPENAI_API_KEY, or enter it in the planner settings)")


# ------------------------------------------------------------------------------------------ sections


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def replaced(self, **changes: Any) -> Any:  # Any: the subclass's own type
        """A copy with ``changes`` applied, validated again (``model_copy`` would skip validation)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return type(self).model_validate(data)

    def to_json_dict(self) -> dict[str, Any]:
        """The section as it appears in a ``.spa2v`` file (plain dicts, lists, numbers, strings)."""
        return self.model_dump(mode="json")


class AnalysisOptions(_Section):
    """How the recording is heard: the fields of :class:`engine.audio.hear.AnalysisSettings`.

    ``kind`` forces a recording kind ("binaural", "spaced", "panpot", "mono"); None detects it.
    """

    rate: PositiveInt = 48000
    n_fft: PositiveInt = 1024
    hop_s: PositiveFloat = 0.01
    spacing_m: Annotated[FiniteFloat, _within(*SPACING_RANGE_M)] = DEFAULT_SPACING_M
    kind: Literal["binaural", "spaced", "panpot", "mono"] | None = None
    block_s: PositiveFloat = 20.0
    sweep_deg: NonNegativeFloat = 20.0
    level_change_db: NonNegativeFloat = 6.0
    silence_dbfs: FiniteFloat = -90.0

    @classmethod
    def from_engine(cls, settings: AnalysisSettings) -> AnalysisOptions:
        """The options of an :class:`~engine.audio.hear.AnalysisSettings`."""
        values = {name: getattr(settings, name) for name in cls.model_fields}
        kind = values["kind"]
        values["kind"] = None if kind is None else getattr(kind, "value", kind)
        return cls.model_validate(values)

    def to_engine(self) -> AnalysisSettings:
        """The :class:`~engine.audio.hear.AnalysisSettings` the Hear stage takes."""
        from engine.audio.hear import AnalysisSettings
        from engine.audio.model import RecordingKind

        values = {name: getattr(self, name) for name in type(self).model_fields}
        values["kind"] = None if self.kind is None else RecordingKind(self.kind)
        return AnalysisSettings(**values)


def _colour_from_input(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value.strip()):
        return value.strip().lower()
    raise ValueError(f"must be a colour written '#rrggbb' (e.g. '#e6194b') or null, got {quoted(value)}")


def _object_ids_from_input(value: Any) -> Any:
    """JSON object keys are strings; the ids they name are whole numbers."""
    if not isinstance(value, Mapping):
        return value  # the dict type check names the problem
    out = {}
    for key, item in value.items():
        if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
            out[key] = item
        elif isinstance(key, str) and key.strip().isdigit():
            out[int(key)] = item
        else:
            raise ValueError(f"keys must be object ids (whole numbers, 0 or more), got {quoted(key)}")
    return out


class ObjectView(_Section):
    """How the editor shows one object (by id): its colour (None: the palette's), visible, locked."""

    colour: Annotated[str | None, BeforeValidator(_colour_from_input)] = None
    visible: Flag = True
    locked: Flag = False


class CheckMatch(_Section):
    """One object of the layout and the measured source the consistency check took it to stand for, with where
    that source was heard when the project was saved (its median azimuth, degrees): a recording heard again
    differently may number its sources otherwise, and a number alone would then name another sound."""

    object_id: NonNegativeInt
    source_id: NonNegativeInt
    source_azimuth_deg: Annotated[FiniteFloat, _within(-90.0, 90.0)]


class EditState(_Section):
    """Where the editor was: the playhead, the selected object ids, each object's view, the overlays, and which
    source each box stands for.

    ``onion`` shows the neighbouring keyframes' boxes faded; ``paths`` draws each object's track.
    ``check_matches``: the consistency check's matching as the editor kept it (see
    :class:`engine.check.consistency.Checker`); a box dragged away from its sound stays the flagged one when
    the project is opened again, where matching the boxes afresh could pair it with the other sound instead.
    """

    time_s: NonNegativeFloat = 0.0
    selected: tuple[NonNegativeInt, ...] = ()
    objects: Annotated[dict[int, ObjectView], BeforeValidator(_object_ids_from_input)] = Field(default_factory=dict)
    onion: Flag = False
    paths: Flag = True
    check_matches: tuple[CheckMatch, ...] = ()

    @field_validator("check_matches")
    @classmethod
    def _one_source_per_object(cls, matches: tuple[CheckMatch, ...]) -> tuple[CheckMatch, ...]:
        for field, what in (("object_id", "object"), ("source_id", "source")):
            ids = [getattr(m, field) for m in matches]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{what} {repeated[0]} is matched more than once; each object stands for one "
                                 "source and each source for one object")
        return matches

    def saved_matches(self) -> list[tuple[int, int, float]]:
        """``check_matches`` as :meth:`engine.check.consistency.Checker.restore` takes them."""
        return [(m.object_id, m.source_id, m.source_azimuth_deg) for m in self.check_matches]

    def to_json_dict(self) -> dict[str, Any]:
        """The section as it appears in a ``.spa2v`` file; object ids become the JSON object's keys."""
        return {
            "time_s": self.time_s,
            "selected": list(self.selected),
            "objects": {str(object_id): view.to_json_dict() for object_id, view in sorted(self.objects.items())},
            "onion": self.onion,
            "paths": self.paths,
            "check_matches": [match.to_json_dict() for match in self.check_matches],
        }


class PlannerOptions(_Section):
    """Which planner makes the layout and how. Never an API key (see the module docstring).

    ``labels``: hints like ``"car"`` or ``"car@left"`` (empty: names from the sound). ``keyframes``: N.
    For the LLM planner: ``k`` retrieved examples, ``temperature``, ``model`` (None: the provider's),
    ``base_url`` (None: the provider's, else ``OPENAI_BASE_URL``), ``provider`` (None: OpenAI),
    ``include_cues`` (send the measured cues with the audio).
    """

    kind: Literal["offline", "llm"] = "offline"
    labels: tuple[Name, ...] = ()
    keyframes: PositiveInt = 5
    k: NonNegativeInt = 3
    temperature: Annotated[FiniteFloat, _within(0.0, 2.0)] = 0.5
    model: Name | None = None
    base_url: Name | None = None
    provider: Literal["openai", "gemini", "vllm"] | None = None
    include_cues: Flag = True

    @classmethod
    def from_llm_settings(cls, settings: LLMSettings, **fields: Any) -> PlannerOptions:
        """Options from :class:`~engine.planner.llm.LLMSettings` (through its key-free ``public_dict``).

        ``fields`` sets the rest (``labels``, ``keyframes``, ``kind``; ``kind`` defaults to "llm"). The
        provider is the known one whose base URL the settings use, if any.
        """
        from engine.planner.llm import PROVIDERS as KNOWN_PROVIDERS

        public = settings.public_dict()
        provider = next((name for name, known in KNOWN_PROVIDERS.items()
                         if public["base_url"] and known.base_url == public["base_url"]), None)
        values: dict[str, Any] = {
            "kind": "llm", "model": public["model"], "base_url": public["base_url"], "provider": provider,
            "temperature": float(public["temperature"]), "k": public["k_examples"],
            "include_cues": public["include_cues"],
        }
        values.update(fields)
        return cls.model_validate(values)

    def llm_settings(self, api_key: str | None = None, **overrides: Any) -> LLMSettings:
        """The :class:`~engine.planner.llm.LLMSettings` to plan with; ``api_key`` comes from the session, never
        from the file. ``overrides`` sets any other field (``cache_dir``, ``timeout_s``)."""
        from engine.planner.llm import LLMSettings

        values: dict[str, Any] = {"temperature": self.temperature, "k_examples": self.k,
                                  "include_cues": self.include_cues}
        if self.model:
            values["model"] = self.model
        if self.base_url:
            values["base_url"] = self.base_url
        if api_key:
            values["api_key"] = api_key
        values.update(overrides)
        if self.provider:
            return LLMSettings.for_provider(self.provider, **values)
        return LLMSettings(**values)


def _size_from_input(value: Any) -> Any:
    if isinstance(value, Mapping) or not isinstance(value, (list, tuple)) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise ValueError(f"must be [width, height] in whole pixels, e.g. [512, 320], got {quoted(value)}")
    width, height = value
    if width < 64 or height < 64 or width % 8 or height % 8:
        raise ValueError(f"{width}x{height}: width and height must be multiples of 8, at least 64")
    return (width, height)


class RenderOptions(_Section):
    """How the video is rendered: the ``render`` command's options (see ``python main.py render --help``).

    ``generator``: "auto" (diffusion where a GPU and weights are, else the animatic), "animatic" or
    "diffusion". ``model`` / ``motion_adapter``: hub ids or folders (None: the generator's defaults).
    ``frames`` None renders ``duration × fps`` frames. ``size`` is ``(width, height)``. ``grounding_steps``
    is the fraction of the denoising steps that are grounded. ``scheduler`` None keeps the generator's.
    """

    generator: Literal["auto", "animatic", "diffusion"] = "auto"
    model: Name | None = None
    motion_adapter: Name | None = None
    steps: PositiveInt = 25
    guidance: NonNegativeFloat = 7.5
    seed: NonNegativeInt = 0
    fps: PositiveFloat = 8.0
    frames: PositiveInt | None = None
    size: Annotated[tuple[int, int], BeforeValidator(_size_from_input)] = (512, 320)
    grounding: Literal["hard", "soft", "off"] = "hard"
    grounding_strength: Annotated[FiniteFloat, _within(0.0, 100.0)] = 1.0
    grounding_steps: Annotated[FiniteFloat, _within(0.0, 1.0)] = 0.4
    scheduler: Literal["ddim", "euler", "lcm", "lightning"] | None = None

    def generator_options(self) -> dict[str, Any]:
        """The diffusion generator's options (``RenderRequest.options``, read by ``RenderSettings.from_options``)."""
        options = {"model": self.model, "motion_adapter": self.motion_adapter, "scheduler": self.scheduler,
                   "grounding": self.grounding, "grounding_strength": self.grounding_strength,
                   "grounding_fraction": self.grounding_steps}
        return {key: value for key, value in options.items() if value is not None}

    def make_request(self, layout: VideoLayout) -> RenderRequest:
        """The :class:`~engine.render.base.RenderRequest` for ``layout`` with these options."""
        from engine.render.run import make_request

        return make_request(layout, fps=self.fps, frames=self.frames, size=self.size, seed=self.seed,
                            steps=self.steps, guidance=self.guidance, options=self.generator_options())


# ------------------------------------------------------------------------------------------ paths


def _path_from_input(value: Any, base_dir: str | Path | None) -> Path | None:
    """An absolute path: a relative one is taken against ``base_dir`` (the project's folder), else the cwd."""
    if value is None:
        return None
    if isinstance(value, Path):
        path = value.expanduser()
    elif isinstance(value, str) and value.strip():
        path = Path(value.strip()).expanduser()
    else:
        raise ValueError(f"must be a file path (a non-empty string) or null, got {quoted(value)}")
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return Path(os.path.normpath(os.path.abspath(path)))


def _path_for_file(path: Path | None, project_file: str | Path | None) -> str | None:
    """``path`` as written into ``project_file``: relative to its folder when close by, else absolute."""
    if path is None:
        return None
    if project_file is None:
        return str(path)
    folder = Path(os.path.abspath(project_file)).parent
    try:
        relative = Path(os.path.relpath(path, folder))
    except ValueError:  # another drive (Windows): no relative path exists
        return str(path)
    if relative.parts.count("..") > MAX_RELATIVE_PARENT_STEPS:
        return str(path)
    return relative.as_posix()  # forward slashes read everywhere, so the file moves between systems


# ------------------------------------------------------------------------------------------ project


class Project(_Section):
    """One ``.spa2v`` project (see the module docstring): frozen; :meth:`replaced` makes a changed copy."""

    #: The recording, absolute (None: none chosen yet).
    audio: Path | None = None
    analysis_settings: AnalysisOptions = Field(default_factory=AnalysisOptions)
    #: The planned (and edited) layout; None before planning.
    layout: VideoLayout | None = None
    edit_state: EditState = Field(default_factory=EditState)
    planner: PlannerOptions = Field(default_factory=PlannerOptions)
    render: RenderOptions = Field(default_factory=RenderOptions)
    #: The last video rendered from this project, absolute.
    last_render: Path | None = None

    @field_validator("audio", "last_render", mode="before")
    @classmethod
    def _absolute_path(cls, value: Any, info: ValidationInfo) -> Path | None:
        # A file's relative paths are relative to its folder, passed by parse_project as the context.
        base_dir = (info.context or {}).get("base_dir")
        return _path_from_input(value, base_dir)

    @classmethod
    def new(cls, audio_path: str | Path | None = None, **sections: Any) -> Project:
        """A fresh project on the recording ``audio_path`` (made absolute), with default settings.

        ``sections`` sets any other field (``planner=PlannerOptions(kind="llm")``, ``layout=...``).
        """
        return cls.model_validate({"audio": audio_path, **sections})

    @property
    def audio_missing(self) -> bool:
        """Whether the project names a recording that is not there (moved, renamed, on a drive not mounted)."""
        return self.audio is not None and not self.audio.is_file()

    def to_json_dict(self, path: str | Path | None = None) -> dict[str, Any]:
        """The JSON object of a ``.spa2v`` file written at ``path``; paths are relative to its folder when
        close by (None: all paths absolute)."""
        return {
            "format": PROJECT_FORMAT,
            "version": PROJECT_VERSION,
            "audio": _path_for_file(self.audio, path),
            "analysis_settings": self.analysis_settings.to_json_dict(),
            "layout": None if self.layout is None else self.layout.to_json_dict(),
            "edit_state": self.edit_state.to_json_dict(),
            "planner": self.planner.to_json_dict(),
            "render": self.render.to_json_dict(),
            "last_render": _path_for_file(self.last_render, path),
        }


def parse_project(data: Any, source: str | Path | None = None,
                  base_dir: str | Path | None = None) -> tuple[Project, list[str]]:
    """Validate the JSON object of a ``.spa2v`` file; returns the project and warnings for the user.

    ``source`` (a path or any name) prefixes error messages; ``base_dir`` is the folder relative paths are
    taken against (the project file's; None: the working directory). Warnings name the field: a dropped
    API key, a recording that is missing (or was found beside the project instead). Raises
    :class:`InputError` with one line naming the field and what is accepted.
    """
    where = f"{source}: " if source is not None else ""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}expected a JSON object holding an SpA2V Studio project, got {type(data).__name__}")
    file_format = data.get("format")
    if file_format != PROJECT_FORMAT:
        hint = ""
        if file_format == VSL_FORMAT:
            hint = " (this is a video scene layout, not a project: open it as a layout)"
        raise InputError(f"{where}format: must be '{PROJECT_FORMAT}', got {quoted(file_format)}{hint}")
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > PROJECT_VERSION:
        raise InputError(f"{where}made by a newer SpA2V Studio (version {version}); "
                         f"this one reads version {PROJECT_VERSION}")
    if isinstance(version, bool) or version != PROJECT_VERSION:
        raise InputError(f"{where}version: {quoted(version)} is not supported; this program reads "
                         f"version {PROJECT_VERSION}")

    secrets: list[str] = []
    data = _without_secrets(data, "", secrets)
    warnings = [_secret_warning(name) for name in secrets]

    # A layout inside a project must say what it is, as a .vsl.json file must.
    layout = data.get("layout")
    if isinstance(layout, Mapping):
        if layout.get("format") != VSL_FORMAT:
            raise InputError(f"{where}layout.format: must be '{VSL_FORMAT}', got {quoted(layout.get('format'))}")
        if layout.get("version") != VSL_VERSION or isinstance(layout.get("version"), bool):
            raise InputError(f"{where}layout.version: {quoted(layout.get('version'))} is not supported; this program "
                             f"reads version {VSL_VERSION}")
    try:
        project = Project.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        # The VSL's own messages: "layout.keyframes[2].objects[0].box: x0 (120.0) must be less than x1 (80.0)".
        raise InputError(where + validation_message(exc)) from None

    if project.audio_missing:
        beside = Path(base_dir) / project.audio.name if base_dir is not None else None
        if beside is not None and beside.is_file():
            warnings.append(f"audio: {project.audio} is not there; using {beside} found beside the project")
            project = project.replaced(audio=beside)
        else:
            warnings.append(f"audio: the recording {project.audio} is missing; locate it to hear, plan and render")
    return project, warnings


def load_project(path: str | Path) -> tuple[Project, list[str]]:
    """Read and validate a ``.spa2v`` file; returns the project and warnings (see :func:`parse_project`).

    Relative paths in the file are taken against its folder. A missing recording is a warning
    (:attr:`Project.audio_missing`), not an error. Any problem with the file itself raises
    :class:`InputError` naming the file and the field.
    """
    path = Path(path)
    data = read_json_file(path, max_bytes=MAX_FILE_BYTES, what="project file")
    return parse_project(data, source=path, base_dir=Path(os.path.abspath(path)).parent)


def project_json_text(project: Project, path: str | Path | None = None) -> str:
    """The text of a ``.spa2v`` file at ``path`` (see :meth:`Project.to_json_dict`), free of secrets."""
    secrets: list[str] = []
    data = _without_secrets(project.to_json_dict(path), "", secrets)
    for name in secrets:  # only a caption or name someone typed a key into can get here
        log.warning("%s", _secret_warning(name))
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save_project(project: Project, path: str | Path) -> None:
    """Write ``project`` as a ``.spa2v`` file atomically: a crash or a failed write keeps the previous version."""
    atomic_write_text(path, project_json_text(project, path))
