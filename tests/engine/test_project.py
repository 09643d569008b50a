"""The ``.spa2v`` project file: round trip, paths that follow the project, errors, API keys, atomic saves."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from unittest import mock

import pytest

from app.cli import build_parser
from engine.errors import InputError
from engine.layout.model import VideoLayout
from engine.project import (
    GENERATORS,
    GROUNDING_MODES,
    PROVIDERS,
    SCHEDULERS,
    AnalysisOptions,
    CheckMatch,
    EditState,
    ObjectView,
    PlannerOptions,
    Project,
    RenderOptions,
    is_secret_name,
    load_project,
    parse_project,
    save_project,
)

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"


def layout_dict() -> dict[str, Any]:
    return {
        "format": "spa2v.vsl",
        "version": 1,
        "canvas": {"width": 454, "height": 256},
        "duration_s": 4.0,
        "reasoning": "a car passes from left to right",
        "video_caption": "a car on a street",
        "keyframes": [
            {"time_s": 0.0, "caption": "the car enters",
             "objects": [{"id": 0, "name": "car", "box": [10, 120, 90, 180]}]},
            {"time_s": 4.0, "caption": "the car leaves",
             "objects": [{"id": 0, "name": "car", "box": [350, 120, 440, 180]}]},
        ],
    }


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")  # the project never opens the recording, it only checks it is there
    return path


def full_project(folder: Path) -> Project:
    return Project.new(
        touch(folder / "audio" / "scene.wav"),
        analysis_settings=AnalysisOptions(kind="binaural", hop_s=0.02),
        layout=VideoLayout.from_json_dict(layout_dict()),
        edit_state=EditState(time_s=2.5, selected=(0,), onion=True, paths=False,
                             objects={0: ObjectView(colour="#E6194B", locked=True), 3: ObjectView(visible=False)},
                             check_matches=(CheckMatch(object_id=0, source_id=1, source_azimuth_deg=-41.5),)),
        planner=PlannerOptions(kind="llm", labels=("car@left", "dog"), k=2, temperature=0.7, provider="gemini",
                               model="gemini-2.0-flash", include_cues=False),
        render=RenderOptions(generator="diffusion", steps=6, guidance=1.5, seed=7, fps=12.0, frames=24,
                             size=(384, 256), grounding="soft", grounding_strength=2.0, grounding_steps=0.5,
                             scheduler="lcm", model="some/model"),
        last_render=folder / "renders" / "scene.mp4",
    )


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ round trip


def test_save_then_load_gives_the_same_project_and_the_same_file(tmp_path: Path) -> None:
    project = full_project(tmp_path)
    path = tmp_path / "scene.spa2v"
    save_project(project, path)
    written = json.loads(path.read_text(encoding="utf-8"))

    loaded, warnings = load_project(path)

    assert warnings == []
    assert loaded == project
    assert loaded.to_json_dict(path) == written
    assert written["format"] == "spa2v.project" and written["version"] == 1
    assert written["audio"] == "audio/scene.wav" and written["last_render"] == "renders/scene.mp4"
    assert written["edit_state"]["objects"]["0"] == {"colour": "#e6194b", "visible": True, "locked": True}
    assert written["edit_state"]["check_matches"] == [{"object_id": 0, "source_id": 1, "source_azimuth_deg": -41.5}]
    assert written["layout"] == VideoLayout.from_json_dict(layout_dict()).to_json_dict()


def test_a_new_project_has_defaults_and_an_absolute_audio_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "take.flac")
    project = Project.new("take.flac")
    assert project.audio == tmp_path / "take.flac" and not project.audio_missing
    assert project.layout is None and project.last_render is None
    assert project.planner.kind == "offline" and project.render.generator == "auto"
    data = project.to_json_dict(tmp_path / "take.spa2v")
    assert data["audio"] == "take.flac" and data["layout"] is None


# ------------------------------------------------------------------------------------------ paths


def test_relative_audio_follows_the_project_folder_when_it_moves(tmp_path: Path) -> None:
    folder = tmp_path / "before" / "job"
    save_project(full_project(folder), folder / "scene.spa2v")

    moved = tmp_path / "after" / "renamed-job"
    moved.parent.mkdir()
    shutil.move(str(folder), str(moved))
    project, warnings = load_project(moved / "scene.spa2v")

    assert warnings == []
    assert project.audio == moved / "audio" / "scene.wav" and not project.audio_missing
    assert project.last_render == moved / "renders" / "scene.mp4"


def test_paths_far_from_the_project_are_written_absolute(tmp_path: Path) -> None:
    beside = touch(tmp_path / "projects" / "recordings" / "a.wav")
    far = touch(tmp_path / "elsewhere" / "deep" / "b.wav")
    path = tmp_path / "projects" / "job" / "x.spa2v"
    assert Project.new(beside).to_json_dict(path)["audio"] == "../recordings/a.wav"
    assert Project.new(far).to_json_dict(path)["audio"] == str(far)


def test_a_missing_recording_is_flagged_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "scene.spa2v"
    save_project(full_project(tmp_path), path)
    (tmp_path / "audio" / "scene.wav").unlink()

    project, warnings = load_project(path)

    assert project.audio_missing
    assert project.audio == tmp_path / "audio" / "scene.wav"
    assert len(warnings) == 1 and warnings[0].startswith("audio: ") and "missing" in warnings[0]
    located = project.replaced(audio=touch(tmp_path / "found.wav"))
    assert not located.audio_missing


def test_a_recording_moved_next_to_the_project_is_found_there(tmp_path: Path) -> None:
    path = tmp_path / "job" / "scene.spa2v"
    save_project(Project.new(touch(tmp_path / "far" / "away" / "take.wav")), path)
    shutil.move(str(tmp_path / "far" / "away" / "take.wav"), str(path.parent / "take.wav"))

    project, warnings = load_project(path)

    assert project.audio == path.parent / "take.wav" and not project.audio_missing
    assert len(warnings) == 1 and "beside the project" in warnings[0]


# ------------------------------------------------------------------------------------------ errors


def test_a_file_from_a_newer_version_says_so(tmp_path: Path) -> None:
    data = full_project(tmp_path).to_json_dict() | {"version": 3}
    path = write_json(tmp_path / "new.spa2v", data)
    with pytest.raises(InputError) as caught:
        load_project(path)
    assert str(caught.value) == f"{path}: made by a newer SpA2V Studio (version 3); this one reads version 1"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"render": {"steps": 0}}, "render.steps", "greater than 0"),
        ({"render": {"size": [500, 320]}}, "render.size", "multiples of 8"),
        ({"render": {"scheduler": "magic"}}, "render.scheduler", "'ddim', 'euler', 'lcm' or 'lightning'"),
        ({"render": {"grounding_steps": 1.5}}, "render.grounding_steps", "[0, 1]"),
        ({"planner": {"kind": "oracle"}}, "planner.kind", "'offline' or 'llm'"),
        ({"planner": {"temperature": 3.0}}, "planner.temperature", "[0, 2]"),
        ({"planner": {"labels": ["car", ""]}}, "planner.labels[1]", "must not be empty"),
        ({"analysis_settings": {"hop_s": "fast"}}, "analysis_settings.hop_s", "a number"),
        ({"analysis_settings": {"kind": "stereo"}}, "analysis_settings.kind", "'binaural'"),
        ({"analysis_settings": {"spacing_m": 100.0}}, "analysis_settings.spacing_m", "[0.01, 5]"),
        ({"edit_state": {"time_s": -1.0}}, "edit_state.time_s", "at least 0"),
        ({"edit_state": {"objects": {"car": {}}}}, "edit_state.objects", "object ids"),
        ({"edit_state": {"objects": {"2": {"colour": "red"}}}}, "edit_state.objects[2].colour", "#rrggbb"),
        ({"edit_state": {"onion": 1}}, "edit_state.onion", "true or false"),
        ({"edit_state": {"check_matches": [{"object_id": 0, "source_id": 1, "source_azimuth_deg": 120.0}]}},
         "edit_state.check_matches[0].source_azimuth_deg", "[-90, 90]"),
        ({"edit_state": {"check_matches": [{"object_id": 0, "source_id": 1, "source_azimuth_deg": 10.0},
                                           {"object_id": 0, "source_id": 2, "source_azimuth_deg": 30.0}]}},
         "edit_state.check_matches", "object 0 is matched more than once"),
        ({"audio": 12}, "audio", "file path"),
        ({"last_render": ""}, "last_render", "file path"),
        ({"layout": [1, 2]}, "layout", "an object"),
        ({"layout": {**layout_dict(), "format": "other"}}, "layout.format", "'spa2v.vsl'"),
    ],
)
def test_a_bad_field_gives_one_line_naming_the_file_and_field(tmp_path: Path, change, field, words) -> None:
    path = write_json(tmp_path / "bad.spa2v", Project.new().to_json_dict() | change)
    with pytest.raises(InputError) as caught:
        load_project(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: ") and words in message and "\n" not in message


def test_layout_errors_use_the_layout_files_own_messages_under_layout(tmp_path: Path) -> None:
    layout = layout_dict()
    layout["keyframes"][1]["objects"][0]["box"] = [350, 120, 300, 180]
    path = write_json(tmp_path / "bad.spa2v", Project.new().to_json_dict() | {"layout": layout})
    with pytest.raises(InputError) as caught:
        load_project(path)
    assert str(caught.value) == f"{path}: layout.keyframes[1].objects[0].box: x0 (350.0) must be less than x1 (300.0)"

    layout = layout_dict()
    layout["keyframes"][1]["time_s"] = 9.0
    write_json(path, Project.new().to_json_dict() | {"layout": layout})
    with pytest.raises(InputError, match=r"bad\.spa2v: layout\.keyframes\[1\]\.time_s: 9\.0 lies after the end"):
        load_project(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON (line 1"),
        ("[]", "expected a JSON object"),
        (json.dumps({"format": "spa2v.vsl", "version": 1}), "format: must be 'spa2v.project', got 'spa2v.vsl' "
                                                            "(this is a video scene layout"),
        (json.dumps({"format": "spa2v.project", "version": "1"}), "version: '1' is not supported"),
    ],
)
def test_a_file_that_is_no_project_says_what_it_is(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "x.spa2v"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_project(path)
    assert str(caught.value).startswith(f"{path}: ") and words in str(caught.value)


def test_a_missing_project_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_project(tmp_path / "nowhere.spa2v")


# ------------------------------------------------------------------------------------------ API keys


def test_an_api_key_in_the_file_is_dropped_with_a_warning_and_never_written(tmp_path: Path) -> None:
    data = full_project(tmp_path).to_json_dict(tmp_path / "x.spa2v")
    data["planner"] |= {"api_key": SECRET, "key_envs": ["GEMINI_API_KEY"], "max_tokens": 800}
    data["openaiApiKey"] = "anything"
    data["render"]["model"] = SECRET  # pasted into the wrong box
    path = write_json(tmp_path / "x.spa2v", data)

    project, warnings = load_project(path)

    assert sorted(w.split(":")[0] for w in warnings) == ["openaiApiKey", "planner.api_key", "render.model"]
    assert all(SECRET not in w for w in warnings)
    assert project.render.model is None
    save_project(project, path)
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text and "api_key" not in text.lower() and "anything" not in text


def test_planner_options_from_llm_settings_leave_the_key_behind(tmp_path: Path) -> None:
    from engine.planner.llm import LLMSettings

    settings = LLMSettings.for_provider("gemini", api_key=SECRET, temperature=0.2, k_examples=4)
    planner = PlannerOptions.from_llm_settings(settings, labels=("car",))
    assert (planner.kind, planner.provider, planner.model, planner.k, planner.temperature) == (
        "llm", "gemini", "gemini-2.0-flash", 4, 0.2)
    path = tmp_path / "x.spa2v"
    save_project(Project.new(planner=planner), path)
    assert SECRET not in path.read_text(encoding="utf-8")

    again = planner.llm_settings(api_key="from-the-session")
    assert again.api_key == "from-the-session" and again.base_url == settings.base_url
    assert (again.model, again.k_examples, again.temperature) == (settings.model, 4, 0.2)
    assert PlannerOptions().llm_settings() == LLMSettings()


@pytest.mark.parametrize("name", ["api_key", "apiKey", "OPENAI_API_KEY", "key", "token", "access_token",
                                  "client_secret", "password", "Authorization"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["key_envs", "max_tokens", "sort_key", "keyframes", "tokens", "monkey"])
def test_names_that_are_not_secrets(name: str) -> None:
    assert not is_secret_name(name)


# ------------------------------------------------------------------------------------------ atomic save


def test_a_failed_save_leaves_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "scene.spa2v"
    first = full_project(tmp_path)
    save_project(first, path)
    before = path.read_bytes()

    changed = first.replaced(edit_state=first.edit_state.replaced(time_s=3.0))
    with mock.patch("engine.fileio.os.replace", side_effect=OSError("disk full")), pytest.raises(OSError):
        save_project(changed, path)

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio", "scene.spa2v"]  # no temporary file left
    assert load_project(path)[0] == first


# ------------------------------------------------------------------------------------------ engine agreement


def _literal_choices(model: type, field: str) -> tuple[str, ...]:
    """The values a ``Literal[...]`` (or ``Literal[...] | None``) field accepts."""
    annotation = model.model_fields[field].annotation
    if get_origin(annotation) is not Literal:
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    return get_args(annotation)


def _cli_choices(command: str) -> dict[str, Any]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: action.choices for action in commands.choices[command]._actions if action.choices}


def test_defaults_and_choices_agree_with_the_engine_stages() -> None:
    from engine.audio.hear import AnalysisSettings
    from engine.planner import prompt
    from engine.planner.llm import PROVIDERS as LLM_PROVIDERS
    from engine.planner.llm import LLMSettings
    from engine.render import base

    assert AnalysisOptions().to_engine() == AnalysisSettings()
    assert AnalysisOptions.from_engine(AnalysisSettings()) == AnalysisOptions()
    assert set(AnalysisOptions.model_fields) == {f.name for f in fields(AnalysisSettings)}
    assert AnalysisOptions(kind="spaced").to_engine().kind.value == "spaced"

    planner = PlannerOptions()
    assert (planner.k, planner.temperature, planner.keyframes) == (
        prompt.DEFAULT_K, prompt.DEFAULT_TEMPERATURE, prompt.DEFAULT_KEYFRAMES)
    assert planner.include_cues == LLMSettings().include_cues
    assert set(_literal_choices(PlannerOptions, "provider")) == set(LLM_PROVIDERS) == set(PROVIDERS)

    render = RenderOptions()
    assert (render.fps, render.size, render.steps, render.guidance) == (
        base.DEFAULT_FPS, base.DEFAULT_SIZE, base.DEFAULT_STEPS, base.DEFAULT_GUIDANCE)
    cli = _cli_choices("render")  # what the command line offers is what a project can hold
    for field, constant in (("generator", GENERATORS), ("scheduler", SCHEDULERS), ("grounding", GROUNDING_MODES)):
        assert set(cli[field]) == set(_literal_choices(RenderOptions, field)) == set(constant), field


def test_render_options_make_the_request_and_the_generator_options() -> None:
    options = RenderOptions(fps=4.0, size=(256, 128), steps=3, seed=5, scheduler="euler", grounding_steps=0.25)
    request = options.make_request(VideoLayout.from_json_dict(layout_dict()))
    assert (request.n_frames, request.fps, request.size, request.steps, request.seed) == (16, 4.0, (256, 128), 3, 5)
    assert request.options == {"scheduler": "euler", "grounding": "hard", "grounding_strength": 1.0,
                               "grounding_fraction": 0.25}


def test_parse_project_without_a_folder_keeps_absolute_paths(tmp_path: Path) -> None:
    project = full_project(tmp_path)
    again, warnings = parse_project(project.to_json_dict(None), source="recovery")
    assert again == project and warnings == []
