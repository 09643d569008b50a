"""Files are data, weights are safetensors, and an API key never reaches a file.

- Loading any project or layout of the bad-input corpus (tests/hardening/corpus.py) never unpickles, evaluates,
  executes or compiles anything: those functions are replaced by tripwires while every file is loaded again,
  and the results must equal those of the first, unguarded pass.
- Paths in a project (engine/project.py): a relative path is taken against the project file's folder and
  normalised lexically, so ``..`` steps are allowed and resolved (the recording may live beside the project
  folder); absolute paths anywhere are allowed; symlinks are kept as links, not resolved, and a dangling one is
  a missing recording. The rule is safe because a project's paths are only ever read: loading reads nothing
  but the project file, and saving writes nothing but the project file (and its temporary sibling).
- The generator loads weights with ``use_safetensors=True``: a folder holding only pickled ``.bin`` weights
  (the tests' tiny models, saved that way) is refused with one clear InputError, and ``torch.load`` / pickle
  are never called, although the same ``.bin`` loads when safetensors are not required.
- With ``OPENAI_API_KEY`` set to a unique secret, a plan with the LLM planner (against the local fake server,
  which does receive the key), a saved project, an exported VSL, an animatic render and an analysis JSON, with
  the log going to a file at DEBUG level, leave the secret in none of the files written, nor on the terminal.
"""

from __future__ import annotations

import builtins
import io
import json
import logging
import marshal
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from app.cli import main
from engine.errors import InputError
from engine.layout.model import load_vsl, save_vsl
from engine.project import PlannerOptions, Project, load_project, save_project
from tests.fake_openai_server import FakeOpenAIServer, reply
from tests.hardening.corpus import CASES, SUPPORT_RECORDING, good_vsl, write_corpus, write_support_recording

DATA_CASES = [case for case in CASES if case.kind in ("vsl", "project")]


# ------------------------------------------------------------------------------------------ files are data


def _load_every_file(paths: dict[str, Path]) -> dict[str, Any]:
    """What loading each corpus layout or project gives: its JSON (and warnings), or its error line."""
    results: dict[str, Any] = {}
    for case in DATA_CASES:
        try:
            if case.kind == "vsl":
                results[case.name] = load_vsl(paths[case.name]).to_json_dict()
            else:
                project, warnings = load_project(paths[case.name])
                results[case.name] = (project.to_json_dict(), warnings)
        except InputError as exc:
            results[case.name] = ("error", str(exc))
    return results


def _refusing(calls: list[str], name: str, why: str) -> Callable[..., Any]:
    """A stand-in for ``name`` that records the call in ``calls`` and fails: "``name`` was called``why``"."""
    def called(*_args: Any, **_kwargs: Any) -> Any:
        calls.append(name)
        raise AssertionError(f"{name} was called{why}")

    return called


def test_loading_layouts_and_projects_never_unpickles_or_evaluates(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_corpus(tmp_path / "corpus", DATA_CASES)
    unguarded = _load_every_file(paths)  # first: every lazy import is done before the tripwires go in
    calls: list[str] = []

    def tripwire(name: str) -> Callable[..., Any]:
        return _refusing(calls, name, " while loading a data file")

    for owner, name in ((builtins, "eval"), (builtins, "exec"), (builtins, "compile"),
                        (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (marshal, "loads"),
                        (torch, "load")):
        monkeypatch.setattr(owner, name, tripwire(f"{getattr(owner, '__name__', owner)}.{name}"))
    try:
        guarded = _load_every_file(paths)
    finally:
        monkeypatch.undo()
    assert calls == []
    assert guarded == unguarded
    assert sum(1 for value in guarded.values() if isinstance(value, tuple) and value[0] == "error") > 30


@pytest.fixture
def opened_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Path, str]]]:
    """Every file opened through ``open`` / ``io.open`` / ``os.open`` while the test runs: (path, mode)."""
    opened: list[tuple[Path, str]] = []
    real_io_open, real_os_open = io.open, os.open

    def recording_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)):
            opened.append((Path(os.path.abspath(file)), mode))
        return real_io_open(file, mode, *args, **kwargs)

    def recording_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        opened.append((Path(os.path.abspath(path)), "w" if writing else "r"))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(io, "open", recording_open)
    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(os, "open", recording_os_open)
    yield opened


def test_project_paths_resolve_dot_dot_keep_links_and_are_only_read(tmp_path: Path, opened_files) -> None:
    folder = tmp_path / "projects" / "job"
    folder.mkdir(parents=True)
    beside = tmp_path / "projects" / "recordings"
    beside.mkdir()
    recording = write_support_recording(beside)
    (tmp_path / "elsewhere" / "deep").mkdir(parents=True)
    far = write_support_recording(tmp_path / "elsewhere" / "deep")
    (folder / "link.wav").symlink_to(recording)
    (folder / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    before = {p: p.read_bytes() for p in (recording, far)}
    layout = good_vsl(2.0)

    def project_file(name: str, audio: str, last_render: str | None = None) -> Path:
        path = folder / name
        data = {"format": "spa2v.project", "version": 1, "audio": audio, "layout": layout,
                "last_render": last_render}
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    climbing = project_file("climbing.spa2v", "../recordings/" + SUPPORT_RECORDING, last_render="../../x.mp4")
    absolute_file = project_file("absolute.spa2v", str(far))
    linked_file = project_file("linked.spa2v", "link.wav")
    dangling_file = project_file("dangling.spa2v", "dangling.wav")

    opened_files.clear()
    # `..` is resolved against the project's folder, lexically: an absolute path without `..`.
    project, warnings = load_project(climbing)
    assert project.audio == recording and ".." not in project.audio.parts and project.audio.is_absolute()
    assert project.last_render == tmp_path / "x.mp4" and warnings == []
    # Absolute paths anywhere are allowed.
    absolute, _ = load_project(absolute_file)
    assert absolute.audio == far and not absolute.audio_missing
    # A symlink stays a link (the project keeps naming it); a dangling one is a missing recording.
    linked, _ = load_project(linked_file)
    assert linked.audio == folder / "link.wav" and linked.audio.is_symlink() and not linked.audio_missing
    dangling, warnings = load_project(dangling_file)
    assert dangling.audio == folder / "dangling.wav" and dangling.audio_missing
    assert any("missing" in warning for warning in warnings)
    # Loading read the project files and nothing else: not the recordings, not last_render.
    assert {path for path, _mode in opened_files} == {climbing, absolute_file, linked_file, dangling_file}
    assert all("w" not in mode and "a" not in mode for _path, mode in opened_files)

    # Saving writes the project file (through a temporary file beside it) and nothing else.
    opened_files.clear()
    out = folder / "saved.spa2v"
    save_project(project, out)
    written = {path for path, mode in opened_files if "w" in mode or "a" in mode or "x" in mode}
    assert written and all(path.parent == folder and path.name.startswith((".saved.spa2v.", "saved.spa2v"))
                           for path in written)
    assert {p: p.read_bytes() for p in (recording, far)} == before
    # One `..` is written relative (the folder can move with its neighbour); further up, absolute.
    saved = json.loads(out.read_text())
    assert saved["audio"] == "../recordings/" + SUPPORT_RECORDING and saved["last_render"] == str(tmp_path / "x.mp4")


def test_a_layouts_recording_resolves_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    path = tmp_path / "plans" / "scene.vsl.json"
    path.write_text(json.dumps({**good_vsl(), "audio": "../takes/./scene.wav"}), encoding="utf-8")
    assert load_vsl(path).audio_path(path) == tmp_path / "takes" / "scene.wav"


# ------------------------------------------------------------------------------------------ safetensors only


@pytest.fixture(scope="module")
def pickled_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tests' tiny models saved with pickled ``.bin`` weights (``sd15``: UNet and VAE; ``adapter``), and the
    same motion adapter as safetensors (``adapter_safetensors``)."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    from tests.tiny_models import tiny_components

    folder = tmp_path_factory.mktemp("pickled-models")
    parts = tiny_components(seed=5)
    folders = {"sd15": folder / "sd15", "adapter": folder / "adapter",
               "adapter_safetensors": folder / "adapter-safetensors"}
    StableDiffusionPipeline(vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"],
                            unet=parts["unet"], scheduler=PNDMScheduler(skip_prk_steps=True, steps_offset=1),
                            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
                            ).save_pretrained(folders["sd15"], safe_serialization=False)
    parts["motion_adapter"].save_pretrained(folders["adapter"], safe_serialization=False)
    parts["motion_adapter"].save_pretrained(folders["adapter_safetensors"])
    return folders


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``torch.load`` and pickle's loaders replaced by recorders that refuse; returns what was called."""
    calls: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        return _refusing(calls, name, ": pickled weights were about to be loaded")

    for owner, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(owner, name, refuse(f"{owner.__name__}.{name}"))
    return calls


def _refusal(model: Path, adapter: Path) -> str:
    from engine.generator.loading import load_animatediff

    with pytest.raises(InputError) as info:
        load_animatediff(str(model), str(adapter), local_files_only=True)
    message = str(info.value)
    assert "\n" not in message and "safetensors" in message
    return message


def test_a_motion_adapter_with_only_pickled_weights_is_refused(pickled_models, no_unpickling) -> None:
    adapter = pickled_models["adapter"]
    assert sorted(p.suffix for p in adapter.iterdir()) == [".bin", ".json"]
    message = _refusal(pickled_models["sd15"], adapter)
    assert str(adapter) in message and "--motion-adapter" in message
    assert no_unpickling == []


def test_a_model_with_pickled_unet_and_vae_is_refused(pickled_models, no_unpickling) -> None:
    model = pickled_models["sd15"]
    assert not list((model / "unet").glob("*.safetensors")) and list((model / "unet").glob("*.bin"))
    message = _refusal(model, pickled_models["adapter_safetensors"])
    assert str(model) in message and "--model" in message
    assert no_unpickling == []


def test_the_pickled_weights_themselves_are_loadable(pickled_models) -> None:
    # The control: the refusal above is the safetensors rule, not a broken file.
    from diffusers import MotionAdapter

    adapter = MotionAdapter.from_pretrained(str(pickled_models["adapter"]), use_safetensors=False)
    assert sum(p.numel() for p in adapter.parameters()) > 0


# ------------------------------------------------------------------------------------------ no key in files


def _answer(duration_s: float) -> str:
    layout = good_vsl(duration_s)
    return "Here is the layout:\n```json\n" + json.dumps(layout) + "\n```"


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The studio's rotating log file (app/logging_setup.py) in the test's folder, at DEBUG level, removed after."""
    from logging.handlers import RotatingFileHandler

    from app import logging_setup

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    monkeypatch.setattr(logging_setup, "_LOG_FILE", None)
    path = logging_setup.setup_logging(logging.DEBUG, tmp_path / "logs")
    assert path is not None
    yield path
    for handler in root.handlers:
        if handler not in handlers and isinstance(handler, RotatingFileHandler):
            handler.close()
            root.removeHandler(handler)
    root.setLevel(level)


def test_the_api_key_reaches_the_server_and_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys,
                                                     log_file: Path) -> None:
    from engine.planner.llm import LLMSettings

    secret = f"sk-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "cache"))  # the LLM's answer cache, decoded audio
    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    audio = write_support_recording(work)
    planned = work / "scene.vsl.json"

    with FakeOpenAIServer([reply(_answer(2.0))]) as server:
        assert main(["-v", "plan", str(audio), "--out", str(planned), "--planner", "llm", "--k", "0",
                     "--keyframes", "3", "--base-url", server.base_url, "--model", "fake-audio-model"]) == 0
        # The key was used: the test would prove nothing if it never reached the server.
        assert server.requests[0].headers["authorization"] == f"Bearer {secret}"
    layout = load_vsl(planned)
    settings = LLMSettings(base_url=server.base_url, model="fake-audio-model", api_key=secret)
    logging.getLogger("spa2v.test").info("planner settings: %r", settings)
    project = Project.new(audio, layout=layout, planner=PlannerOptions.from_llm_settings(settings))
    save_project(project, work / "scene.spa2v")
    save_vsl(layout, work / "exported.vsl.json")
    assert main(["render", str(planned), "--generator", "animatic", "--out", str(work / "scene.mp4"),
                 "--size", "64x64", "--frames", "4"]) == 0
    assert main(["analyze", str(audio), "--json", str(work / "scene.analysis.json")]) == 0
    for handler in logging.getLogger().handlers:
        handler.flush()
    terminal = capsys.readouterr()

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    names = {path.name for path in written}
    assert {"scene.vsl.json", "scene.spa2v", "exported.vsl.json", "scene.mp4", "scene.analysis.json",
            log_file.name} <= names
    assert any(path.is_relative_to(tmp_path / "cache" / "llm") for path in written)  # the answer cache
    log_text = log_file.read_text(encoding="utf-8")
    assert "chat/completions" in log_text and "planner settings" in log_text  # the log did record the work
    unique = secret.removeprefix("sk-canary-")
    for path in written:
        data = path.read_bytes()
        assert secret.encode() not in data and unique.encode() not in data, f"the key is in {path}"
    assert unique not in terminal.out and unique not in terminal.err
