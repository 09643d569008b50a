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

ROOT = Path(__file__).resolve().parents[2]


def _panned_noise(path: Path, gain_left: float, gain_right: float, seconds: float = 2.0) -> None:
    rng = np.random.default_rng(1)
    mono = rng.standard_normal(int(48000 * seconds)).astype(np.float32) * 0.1
    sf.write(path, np.stack([mono * gain_left, mono * gain_right], axis=1), 48000)


def test_every_command_has_help() -> None:
    for command in ("analyze", "plan", "make-bench", "screenshot", "open"):
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
