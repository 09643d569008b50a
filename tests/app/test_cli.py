"""The command line as a user meets it: exit codes, one-line errors, the analysis JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from tests.fake_openai_server import FakeOpenAIServer, reply
from tests.recordings import write_two_sources_wav

ROOT = Path(__file__).resolve().parents[2]


def _panned_noise(path: Path, gain_left: float, gain_right: float, seconds: float = 2.0) -> None:
    rng = np.random.default_rng(1)
    mono = rng.standard_normal(int(48000 * seconds)).astype(np.float32) * 0.1
    sf.write(path, np.stack([mono * gain_left, mono * gain_right], axis=1), 48000)


def test_every_command_has_help() -> None:
    for command in ("analyze", "plan", "render", "evaluate", "examples", "make-bench", "screenshot", "open"):
        result = subprocess.run(
            [sys.executable, "main.py", command, "--help"], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0 and "usage:" in result.stdout, command


def test_missing_audio_exits_2_with_one_line(capsys) -> None:
    code = main(["analyze", "/nonexistent/take-7.wav"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "take-7.wav" in err and "no such file" in err


def test_unknown_option_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["analyze", "--frobnicate"])
    assert info.value.code == 2


def test_corrupt_audio_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"fLaC" + b"\x07" * 300)
    assert main(["analyze", str(bad)]) == 2
    assert "broken.flac" in capsys.readouterr().err


def test_analyze_prints_sources_and_writes_spec_json(tmp_path: Path, capsys) -> None:
    audio = tmp_path / "right.wav"
    _panned_noise(audio, 0.2, 1.0)
    out = tmp_path / "a.json"
    assert main(["analyze", str(audio), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "source 0: right" in printed
    data = json.loads(out.read_text())
    assert data["format"] == "spa2v.analysis" and data["version"] == 1
    assert data["channels"] == 2 and data["sample_rate"] == 48000
    assert abs(data["duration_s"] - 2.0) < 1e-3
    frames = data["frames"]
    assert abs(frames["hop_s"] - 0.01) < 1e-9
    n = len(frames["t"])
    assert n > 150 and all(len(frames[k]) == n for k in ("ild_db", "itd_ms", "coherence", "level_dbfs"))
    # A pan-pot source on the right: positive ILD (right louder) in the frames, side right.
    ild = np.array([v for v in frames["ild_db"] if v is not None])
    assert np.median(ild) > 10
    assert [s["side"] for s in data["sources"]] == ["right"]
    assert data["sources"][0]["azimuth_start_deg"] > 15


def test_plan_writes_a_layout_with_the_box_on_the_right(tmp_path: Path, capsys) -> None:
    audio = tmp_path / "right.wav"
    _panned_noise(audio, 0.2, 1.0)
    out = tmp_path / "right.vsl.json"
    assert main(["plan", str(audio), "--out", str(out), "--labels", "car", "--keyframes", "3"]) == 0
    layout = json.loads(out.read_text())
    assert layout["format"] == "spa2v.vsl" and len(layout["keyframes"]) == 3
    [obj] = layout["keyframes"][1]["objects"]
    assert obj["name"] == "car" and (obj["box"][0] + obj["box"][2]) / 2 > 454 * 2 / 3
    assert "layout written" in capsys.readouterr().out


def test_plan_rejects_a_bad_label_hint_without_writing(tmp_path: Path, capsys) -> None:
    audio = tmp_path / "right.wav"
    _panned_noise(audio, 0.2, 1.0)
    out = tmp_path / "x.vsl.json"
    assert main(["plan", str(audio), "--out", str(out), "--labels", "car@above"]) == 2
    assert "car@above" in capsys.readouterr().err and not out.exists()


# ------------------------------------------------------------------------------- evaluate, LLM planner


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    assert main(["make-bench", "--out", str(folder), "--n", "4", "--seed", "5"]) == 0
    return folder


@pytest.fixture
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's data and cache folders inside the test's folder; no key in the environment."""
    monkeypatch.setenv("SPA2V_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_evaluate_scores_ground_truth_against_itself_as_perfect(bench: Path, tmp_path: Path, capsys) -> None:
    pred = tmp_path / "pred"
    pred.mkdir()
    for truth in bench.glob("*.vsl.json"):
        (pred / truth.name).write_text(truth.read_text())
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(bench), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "all / combined" in printed and "MaxIoU" in printed
    scores = json.loads(out.read_text())
    assert scores["overall"]["count"] == 4 and set(scores["per_file"]) == {f"scene_00{i}" for i in range(4)}
    for metric in ("maxiou", "ltsim"):
        assert scores["overall"][metric] == pytest.approx(100.0, abs=1e-6)
    # DocSim weighs each matched pair by sqrt(its area fraction), so identical layouts score below 100.
    assert 0 < scores["overall"]["docsim"] < 100


def test_evaluate_ranks_offline_plans_below_the_truth_and_names_missing_files(bench: Path, tmp_path: Path,
                                                                               capsys) -> None:
    pred = tmp_path / "pred"
    for name in ("scene_000", "scene_001"):
        assert main(["plan", str(bench / f"{name}.wav"), "--out", str(pred / f"{name}.vsl.json")]) == 0
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(bench), "--json", str(out), "--exact-labels"]) == 0
    scores = json.loads(out.read_text())
    assert scores["overall"]["count"] == 2 and 0 < scores["overall"]["ltsim"] < 100
    assert scores["missing"]["no_prediction"] == ["scene_002", "scene_003"]
    assert "| all | combined |" in scores["table_markdown"]
    assert "2 ground-truth file(s) have no prediction" in capsys.readouterr().out


def test_evaluate_of_a_folder_without_layouts_exits_2(tmp_path: Path, bench: Path, capsys) -> None:
    assert main(["evaluate", "--pred", str(tmp_path), "--gt", str(bench)]) == 2
    assert "none share a name" in capsys.readouterr().err


def _answer(x0: float, name: str = "car", caption: str = "a car") -> str:
    frames = [{"time_s": t, "caption": caption, "objects": [{"id": 0, "name": name, "box": [x0, 120, x0 + 90, 190]}]}
              for t in (0.0, 1.0, 2.0)]
    layout = {"format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256}, "duration_s": 2.0,
              "reasoning": "louder on the right", "video_caption": caption, "keyframes": frames}
    return "Here is the layout:\n```json\n" + json.dumps(layout) + "\n```"


def test_plan_with_the_llm_sends_audio_examples_and_cues_then_revises(bench: Path, user_dirs: Path,
                                                                        capsys) -> None:
    audio = user_dirs / "right.wav"
    _panned_noise(audio, 0.2, 1.0)
    store = user_dirs / "store"
    assert main(["examples", "build", "--bench", str(bench), "--store", str(store)]) == 0
    out = user_dirs / "plan.vsl.json"
    with FakeOpenAIServer([reply(_answer(300.0)), reply(_answer(20.0, caption="further left"))]) as server:
        common = ["--base-url", server.base_url, "--model", "fake-audio-model"]
        assert main(["plan", str(audio), "--out", str(out), "--planner", "llm", "--keyframes", "3",
                     "--examples", str(store), *common]) == 0
        request = server.requests[0].body
        audio_parts = [part for m in request["messages"] if isinstance(m["content"], list)
                       for part in m["content"] if part.get("type") == "input_audio"]
        assert len(audio_parts) == 4  # three examples and the user's recording
        assert "Measured cues" in request["messages"][-1]["content"][-1]["text"]
        planned = json.loads(out.read_text())
        assert planned["keyframes"][0]["objects"][0]["box"][0] == 300.0
        assert planned["audio"] == "right.wav"  # relative to the layout, so the folder can move
        assert "repaired" in capsys.readouterr().out  # the prose around the JSON was stripped

        # Revision needs no AUDIO: the layout names its recording.
        revised = user_dirs / "plan.revised.vsl.json"
        assert main(["plan", "--revise", "make the car start further left", "--from", str(out), *common]) == 0
        conversation = json.dumps(server.requests[1].body["messages"])
        assert "make the car start further left" in conversation and "300" in conversation
    assert json.loads(revised.read_text())["keyframes"][0]["objects"][0]["box"][0] == 20.0
    assert json.loads(out.read_text())["keyframes"][0]["objects"][0]["box"][0] == 300.0  # untouched


def test_llm_plan_without_a_key_says_which_variable_and_writes_nothing(user_dirs: Path, capsys) -> None:
    audio = user_dirs / "right.wav"
    _panned_noise(audio, 0.2, 1.0)
    out = user_dirs / "x.vsl.json"
    code = main(["plan", str(audio), "--out", str(out), "--planner", "llm", "--k", "0",
                 "--base-url", "https://api.example.invalid/v1"])
    err = capsys.readouterr().err
    assert code == 2 and "OPENAI_API_KEY" in err and not out.exists()


def test_revise_without_a_layout_to_revise_exits_2(user_dirs: Path, capsys) -> None:
    assert main(["plan", "--revise", "move it left"]) == 2
    assert "--from" in capsys.readouterr().err


def test_a_clap_model_that_is_not_here_is_a_clear_error(user_dirs: Path, capsys) -> None:
    audio = user_dirs / "right.wav"
    _panned_noise(audio, 0.2, 1.0)
    code = main(["plan", str(audio), "--out", str(user_dirs / "x.vsl.json"), "--planner", "llm",
                 "--base-url", "http://127.0.0.1:9/v1", "--clap", str(user_dirs / "no-clap-here")])
    assert code == 2 and "no-clap-here" in capsys.readouterr().err


def test_render_writes_an_mp4_with_the_layouts_recording(tmp_path: Path, capsys) -> None:
    from engine.render.video import probe_video

    audio = tmp_path / "right.wav"
    _panned_noise(audio, 0.2, 1.0, seconds=2.0)
    layout = tmp_path / "right.vsl.json"
    assert main(["plan", str(audio), "--out", str(layout), "--labels", "car", "--keyframes", "3"]) == 0
    out = tmp_path / "right.mp4"
    assert main(["render", str(layout), "--out", str(out), "--size", "128x80", "--png", str(tmp_path / "png")]) == 0
    video = probe_video(out)
    assert video["frames"] == 16 and video["codec"] == "h264" and (video["width"], video["height"]) == (128, 80)
    assert video["audio_duration_s"] == pytest.approx(2.0, abs=0.03)
    assert len(list((tmp_path / "png").glob("*.png"))) == 16
    assert "16 frames" in capsys.readouterr().out


def test_render_of_a_broken_layout_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    layout = tmp_path / "bad.vsl.json"
    layout.write_text('{"format": "spa2v.vsl", "version": 1, "duration_s": -1, "keyframes": []}')
    out = tmp_path / "bad.mp4"
    assert main(["render", str(layout), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.vsl.json" in err and err.count("\n") == 1 and not out.exists()


def test_render_with_the_diffusion_generator_from_local_model_folders(tmp_path: Path, capsys) -> None:
    from engine.render.video import probe_video
    from tests.tiny_models import save_tiny_model_folders

    sd_folder, adapter_folder = save_tiny_model_folders(tmp_path)
    audio = tmp_path / "right.wav"
    _panned_noise(audio, 0.2, 1.0, seconds=1.0)
    layout = tmp_path / "right.vsl.json"
    assert main(["plan", str(audio), "--out", str(layout), "--labels", "car", "--keyframes", "2"]) == 0
    out, previews = tmp_path / "right.mp4", tmp_path / "previews"
    assert main(["render", str(layout), "--out", str(out), "--generator", "diffusion", "--model", str(sd_folder),
                 "--motion-adapter", str(adapter_folder), "--device", "cpu", "--size", "64x64", "--frames", "4",
                 "--steps", "2", "--previews", str(previews)]) == 0
    assert probe_video(out)["frames"] == 4
    assert sorted(p.name for p in previews.glob("*.png")) == ["step_000.png", "step_001.png"]
    assert "(diffusion" in capsys.readouterr().out


def test_auto_generator_without_a_gpu_renders_the_animatic(tmp_path: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU: auto would pick the diffusion generator")
    layout = tmp_path / "right.vsl.json"
    audio = tmp_path / "right.wav"
    _panned_noise(audio, 0.2, 1.0, seconds=1.0)
    assert main(["plan", str(audio), "--out", str(layout), "--keyframes", "2"]) == 0
    assert main(["render", str(layout), "--out", str(tmp_path / "a.mp4"), "--size", "64x64"]) == 0
    captured = capsys.readouterr()
    assert "no GPU here" in captured.err and "(animatic" in captured.out


# ------------------------------------------------------------------------------------- event timeline


def test_analyze_events_says_when_each_source_sounds(tmp_path: Path, capsys) -> None:
    from engine.audio.model import Analysis

    audio = write_two_sources_wav(tmp_path / "two.wav")
    out = tmp_path / "a.json"
    assert main(["analyze", str(audio), "--events", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "when each source sounds: source 0 (left): 0.2–1.4 s; source 1 (right): 1.6–2.7 s" in printed
    data = json.loads(out.read_text())
    assert [e["source_id"] for e in data["events"]] == [s["id"] for s in data["sources"]] == [0, 1]
    for event, (onset, offset) in zip(data["events"], [(0.2, 1.4), (1.6, 2.7)], strict=True):
        ((start, end),) = event["intervals"]
        assert start == pytest.approx(onset, abs=0.03) and end == pytest.approx(offset, abs=0.03)
    # The extra key leaves the analysis JSON readable as such.
    assert [s.side.value for s in Analysis.load_json(out).sources] == ["left", "right"]


def _answer_3s(x0: float) -> str:
    frames = [{"time_s": t, "caption": "a car", "objects": [{"id": 0, "name": "car", "box": [x0, 120, x0 + 90, 190]}]}
              for t in (0.0, 1.5, 3.0)]
    return json.dumps({"format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256},
                       "duration_s": 3.0, "reasoning": "two sounds", "video_caption": "a car", "keyframes": frames})


def _user_text(message: dict) -> str:
    return "\n".join(part["text"] for part in message["content"] if part.get("type") == "text")


def test_the_llm_planner_is_told_when_each_source_sounds(user_dirs: Path, capsys) -> None:
    audio = write_two_sources_wav(user_dirs / "two.wav")
    out = user_dirs / "two.vsl.json"
    with FakeOpenAIServer([reply(_answer_3s(100.0)), reply(_answer_3s(20.0)), reply(_answer_3s(200.0))]) as server:
        common = ["--base-url", server.base_url, "--model", "fake-audio-model"]
        assert main(["plan", str(audio), "--out", str(out), "--planner", "llm", "--keyframes", "3", "--k", "0",
                     *common]) == 0
        assert "finding when each source sounds" in capsys.readouterr().err
        text = _user_text(server.requests[0].messages[-1])
        assert "When each source sounds (measured onset–offset, seconds)" in text
        assert "0.2–1.4 s" in text and "1.6–2.7 s" in text

        # A revision is told the same; without the measured cues there is no timeline either.
        assert main(["plan", "--revise", "move the car left", "--from", str(out), *common]) == 0
        assert "finding when each source sounds" in capsys.readouterr().err
        revision = _user_text(server.requests[1].messages[1])
        assert "0.2–1.4 s" in revision and "1.6–2.7 s" in revision
        assert main(["plan", str(audio), "--out", str(out), "--planner", "llm", "--keyframes", "3", "--k", "0",
                     "--no-cues", *common]) == 0
        assert "finding when each source sounds" not in capsys.readouterr().err
        assert "onset" not in _user_text(server.requests[2].messages[-1])


def test_analyze_hears_the_recording_as_the_kind_and_spacing_given(tmp_path: Path, capsys) -> None:
    """A source at +60° of a 40 cm spaced pair reaches the right microphone 1.01 ms first. Told the pair is 80 cm
    wide, the same delay is a source at +26°; the kind given is said as given, not as detected."""
    rate, delay = 48000, round(0.4 * np.sin(np.radians(60)) / 343.0 * 48000)
    noise = np.random.default_rng(5).standard_normal(2 * rate + delay) * 0.2
    audio = tmp_path / "pair.wav"
    sf.write(audio, np.stack([noise[:2 * rate], noise[delay:2 * rate + delay]], axis=1).astype(np.float32), rate)

    def heard(*options: str) -> tuple[dict, str]:
        out = tmp_path / "a.json"
        assert main(["analyze", str(audio), "--json", str(out), *options]) == 0
        return json.loads(out.read_text()), capsys.readouterr().out

    detected, printed = heard()
    assert detected["recording_kind"] == "spaced" and "(detected, confidence" in printed
    assert detected["sources"][0]["azimuth_start_deg"] == pytest.approx(60, abs=5)
    wide, printed = heard("--kind", "spaced", "--spacing", "80")
    assert "recording: spaced (given with --kind)" in printed
    assert wide["sources"][0]["azimuth_start_deg"] == pytest.approx(26, abs=5)
    assert main(["analyze", str(audio), "--spacing", "0"]) == 2
    assert "--spacing 0" in capsys.readouterr().err
    analysis = tmp_path / "a.json"
    layout = tmp_path / "x.vsl.json"
    assert main(["plan", str(audio), "--out", str(layout), "--kind", "spaced"]) == 0
    assert main(["check", str(layout), "--analysis", str(analysis), "--kind", "binaural"]) == 2
    assert "--kind and --spacing say how to analyse the recording" in capsys.readouterr().err
