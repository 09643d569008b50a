"""`check` on the command line: the table, the JSON of SPEC.md, the recording the layout names, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from engine.layout.model import VideoLayout, save_vsl
from engine.planner.camera import Camera

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def right_noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of noise panned hard right (pan-pot, 20 dB louder on the right: heard at about +80°)."""
    path = tmp_path_factory.mktemp("audio") / "right.wav"
    mono = np.random.default_rng(1).standard_normal(96000).astype(np.float32) * 0.1
    sf.write(path, np.stack([mono * 0.1, mono], axis=1), 48000)
    return path


def _layout(path: Path, azimuth_deg: float, audio: str | None = None, offscreen: list | None = None) -> Path:
    box = list(Camera().box(azimuth_deg, 4.0, "speaker"))
    keyframes = [{"time_s": t, "objects": [{"id": 0, "name": "speaker", "box": box}]} for t in (0.0, 1.0, 2.0)]
    data = {"duration_s": 2.0, "keyframes": keyframes, "audio": audio, "offscreen": offscreen or []}
    save_vsl(VideoLayout.model_validate(data), path)
    return path


def test_check_has_help() -> None:
    result = subprocess.run([sys.executable, "main.py", "check", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "usage:" in result.stdout and "--tolerance" in result.stdout


def test_a_box_on_the_sounds_side_agrees_and_the_json_says_ok(tmp_path: Path, right_noise: Path, capsys) -> None:
    layout = _layout(tmp_path / "right.vsl.json", 70.0)  # beyond the field of view: cut by the right edge
    out = tmp_path / "check.json"
    assert main(["check", str(layout), "--audio", str(right_noise), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "speaker" in printed and "agrees" in printed and "ok: every box agrees with the sound" in printed
    data = json.loads(out.read_text())
    assert data["ok"] is True
    assert data["objects"][0]["id"] == 0 and data["objects"][0]["name"] == "speaker"
    assert data["objects"][0]["flags"] == []


def test_a_box_on_the_wrong_side_is_flagged_yet_exits_0(tmp_path: Path, right_noise: Path, capsys) -> None:
    # The recording is found through the layout's own "audio" field (relative to the layout's folder).
    audio = tmp_path / "take.wav"
    audio.write_bytes(right_noise.read_bytes())
    layout = _layout(tmp_path / "left.vsl.json", -35.0, audio="take.wav")
    out = tmp_path / "check.json"
    assert main(["check", str(layout), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "keyframe 1 (0.0 s): the box is at -35° (left) but the sound is at +" in printed
    assert "1 of 1 object(s) disagree with the sound" in printed
    data = json.loads(out.read_text())
    assert data["ok"] is False and len(data["objects"][0]["flags"]) == 3


def test_an_analysis_json_is_used_as_it_is(tmp_path: Path, right_noise: Path, capsys) -> None:
    analysis = tmp_path / "a.json"
    assert main(["analyze", str(right_noise), "--json", str(analysis)]) == 0
    layout = _layout(tmp_path / "x.vsl.json", -35.0, offscreen=[{"name": "radio", "source_id": 0}])
    capsys.readouterr()
    assert main(["check", str(layout), "--analysis", str(analysis)]) == 0
    printed = capsys.readouterr().out
    assert "a.json" in printed and "off screen (not checked): source(s) 0" in printed
    assert "matches no measured source" in printed


@pytest.mark.parametrize("extra, message", [
    (["--tolerance", "0"], "--tolerance must be above 0"),
    (["--audio", "a.wav", "--analysis", "a.json"], "not both"),
    ([], "does not name its recording"),
    (["--audio", "/nonexistent/take-9.wav"], "take-9.wav"),
    (["--analysis", "/nonexistent/a.json"], "a.json"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    layout = _layout(tmp_path / "x.vsl.json", 35.0)
    assert main(["check", str(layout), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def test_a_broken_layout_exits_2_naming_the_field(tmp_path: Path, right_noise: Path, capsys) -> None:
    broken = tmp_path / "broken.vsl.json"
    broken.write_text(json.dumps({"format": "spa2v.vsl", "version": 1, "duration_s": 2.0, "keyframes": []}))
    assert main(["check", str(broken), "--audio", str(right_noise)]) == 2
    err = capsys.readouterr().err
    assert "broken.vsl.json" in err and "keyframes" in err


# ------------------------------------------------------------------------------------------ a studio project


def _crossing_scene(folder: Path) -> tuple[Path, VideoLayout]:
    """An analysis of a car crossing from -90 deg to where a violin stands (+53 deg), as a JSON file, and its
    layout with the violin's box dragged to the far left (see the engine's test of Checker.restore)."""
    from engine.audio.model import Analysis, CueFrames, Motion, RecordingKind, Side, Source, SourceTrack

    t = np.arange(0.05, 8.0, 0.1)
    sources = [Source(i, Side.CENTER, Motion.STATIONARY, 0.9, start, end,
                      SourceTrack(t, start + (end - start) * t / 8.0, np.full(t.size, -20.0)))
               for i, (start, end) in enumerate([(-90.0, 53.0), (53.0, 53.0)])]
    ft = np.arange(0.005, 8.0, 0.01)
    frames = CueFrames(hop_s=0.01, t=ft, ild_db=0 * ft, itd_ms=0 * ft, coherence=0 * ft + 0.8, level_dbfs=0 * ft - 20)
    path = folder / "crossing.analysis.json"
    Analysis(sample_rate=48000, channels=2, duration_s=8.0, frames=frames, sources=sources,
             kind=RecordingKind.BINAURAL).save_json(path)
    camera = Camera()
    keyframes = [{"time_s": 2.0 * k, "objects": [
        {"id": 0, "name": "car", "box": list(camera.box(-90.0 + 143.0 * k / 4, 4.0, "car"))},
        {"id": 1, "name": "violin", "box": list(camera.box(-53.0, 4.0, "violin"))}]} for k in range(5)]
    return path, VideoLayout.model_validate({"duration_s": 8.0, "keyframes": keyframes})


def test_a_project_is_checked_with_the_matching_the_studio_kept(tmp_path: Path, capsys) -> None:
    from engine.project import CheckMatch, EditState, Project, save_project

    analysis, layout = _crossing_scene(tmp_path)
    save_vsl(layout, tmp_path / "dragged.vsl.json")
    kept = (CheckMatch(object_id=0, source_id=0, source_azimuth_deg=-18.5),
            CheckMatch(object_id=1, source_id=1, source_azimuth_deg=53.0))
    save_project(Project.new(layout=layout, edit_state=EditState(check_matches=kept)), tmp_path / "scene.spa2v")

    out = tmp_path / "check.json"
    assert main(["check", str(tmp_path / "scene.spa2v"), "--analysis", str(analysis), "--json", str(out)]) == 0
    assert "1 of 2 object(s) disagree" in capsys.readouterr().out
    assert [o["id"] for o in json.loads(out.read_text())["objects"] if o["flags"]] == [1]  # the dragged violin
    # The bare layout file has no such record: matched afresh, the car's box takes the violin's sound.
    assert main(["check", str(tmp_path / "dragged.vsl.json"), "--analysis", str(analysis), "--json", str(out)]) == 0
    assert "2 of 2 object(s) disagree" in capsys.readouterr().out


def test_a_project_is_heard_with_its_own_settings_unless_the_command_line_says_otherwise(
        tmp_path: Path, right_noise: Path, monkeypatch, capsys) -> None:
    import engine.audio.hear as hear
    from engine.project import AnalysisOptions, Project, save_project

    heard_with = []
    real_analyze = hear.analyze
    monkeypatch.setattr(hear, "analyze", lambda audio, settings, **kw: heard_with.append(settings)
                        or real_analyze(audio, settings, **kw))
    layout = VideoLayout.from_json_dict(json.loads(_layout(tmp_path / "x.vsl.json", 70.0).read_text()))
    project = tmp_path / "take.spa2v"
    save_project(Project.new(right_noise, layout=layout,
                             analysis_settings=AnalysisOptions(kind="spaced", spacing_m=0.8)), project)
    assert main(["check", str(project)]) == 0
    assert main(["check", str(project), "--kind", "binaural"]) == 0
    assert [(s.kind.value, s.spacing_m) for s in heard_with] == [("spaced", 0.8), ("binaural", 0.8)]
    assert "right.wav" in capsys.readouterr().out  # the project's recording, where no --audio is given

    save_project(Project.new(right_noise), project)
    assert main(["check", str(project)]) == 2
    assert "the project has no layout yet" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ audition


def _read_audition(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(path, always_2d=True, dtype="float32")
    assert samples.shape[1] == 2 and np.all(np.isfinite(samples))
    return samples, rate


def _channel_rms(samples: np.ndarray) -> tuple[float, float]:
    left, right = np.sqrt(np.mean(samples.astype(np.float64) ** 2, axis=0))
    return float(left), float(right)


def test_the_audition_of_the_separated_source_is_heard_on_the_boxs_side(tmp_path: Path, right_noise: Path,
                                                                         capsys) -> None:
    layout = _layout(tmp_path / "right.vsl.json", 70.0)  # where the sound is heard (cut by the right edge)
    out = tmp_path / "audition.wav"
    assert main(["check", str(layout), "--audio", str(right_noise), "--audition", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ok: every box agrees" in printed  # the report comes first, unchanged
    assert f"audition (separated) written to {out}: 2.00 s at 48000 Hz" in printed
    samples, rate = _read_audition(out)
    assert rate == 48000 and samples.shape[0] == 2 * 48000  # the layout's (and the recording's) two seconds
    left, right = _channel_rms(samples)
    assert right > 0.01, "the audition is silent"
    assert right > 1.5 * left


def test_the_audition_follows_the_box_not_the_sound(tmp_path: Path, right_noise: Path, capsys) -> None:
    # A box dragged to the left keeps its (right-hand) sound, so the audition lets one hear the mistake.
    layout = _layout(tmp_path / "left.vsl.json", -35.0)
    out = tmp_path / "audition.flac"
    assert main(["check", str(layout), "--audio", str(right_noise), "--audition", str(out)]) == 0
    assert "disagree with the sound" in capsys.readouterr().out
    samples, rate = _read_audition(out)
    assert rate == 48000 and samples.shape[0] == 2 * 48000
    left, right = _channel_rms(samples)
    assert left > 1.5 * right > 0.0


def test_an_analysis_json_finds_its_recording_for_the_separated_audition(tmp_path: Path, right_noise: Path,
                                                                          capsys) -> None:
    analysis = tmp_path / "a.json"
    assert main(["analyze", str(right_noise), "--json", str(analysis)]) == 0
    layout = _layout(tmp_path / "x.vsl.json", 35.0)
    out = tmp_path / "audition.wav"
    assert main(["check", str(layout), "--analysis", str(analysis), "--audition", str(out)]) == 0
    samples, _rate = _read_audition(out)
    left, right = _channel_rms(samples)
    assert right > 1.5 * left > 0.0

    # Without its recording the separated audition cannot be made: one line says what to do instead.
    data = json.loads(analysis.read_text())
    data["audio_path"] = str(tmp_path / "gone.wav")
    analysis.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", str(layout), "--analysis", str(analysis), "--audition", str(tmp_path / "b.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--audition-signal test" in err
    assert not (tmp_path / "b.wav").exists()


@pytest.mark.parametrize("azimuth_deg", [35.0, -35.0])
def test_the_test_signal_audition_needs_no_recording(tmp_path: Path, capsys, azimuth_deg: float) -> None:
    layout = _layout(tmp_path / "x.vsl.json", azimuth_deg)  # names no recording
    out = tmp_path / "test.wav"
    assert main(["check", str(layout), "--audition", str(out), "--audition-signal", "test"]) == 0
    printed = capsys.readouterr().out
    assert "not checked" in printed and "audition (test) written to" in printed
    samples, rate = _read_audition(out)
    assert rate == 48000 and samples.shape[0] == 2 * 48000
    left, right = _channel_rms(samples)
    near, far = (right, left) if azimuth_deg > 0 else (left, right)
    assert near > 0.01 and near > 1.5 * far


@pytest.mark.parametrize("extra, message", [
    (["--audition", "out.mp3"], "out.mp3: an audition is written as .wav or .flac"),
    (["--audition-signal", "test"], "--audition-signal needs --audition"),
    (["--audition", "out.wav"], "does not name its recording"),
])
def test_bad_audition_arguments_exit_2_with_one_line(tmp_path: Path, capsys, extra: list[str],
                                                     message: str) -> None:
    layout = _layout(tmp_path / "x.vsl.json", 35.0)
    assert main(["check", str(layout), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
