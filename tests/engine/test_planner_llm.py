"""The LLM planner against a real HTTP server on 127.0.0.1 (tests/fake_openai_server.py).

Nothing here reaches the network: every endpoint is the fake server or a closed local port, and the
environment's keys and base URL are cleared. Backoff waits go to an injected ``sleep`` that records
them, so the retry tests run in milliseconds.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.hear import analyze
from engine.audio.model import Analysis
from engine.audition.events import SourceEvents, events_from_tracks, recording_events
from engine.errors import Cancelled, InputError
from engine.planner import prompt as prompts
from engine.planner.llm import (
    GEMINI_BASE_URL,
    LLMSettings,
    PlannerConfigError,
    PlannerError,
    cache_root,
    plan_llm,
    revise_llm,
)
from engine.planner.prompt import PROMPT_VERSION, RevisionTurn, encode_audio_wav
from tests.fake_openai_server import FakeOpenAIServer, Scripted, error_reply, reply
from tests.recordings import write_two_sources_wav

SECRET = "sk-test-SECRET-0123456789abcdef"

# ------------------------------------------------------------------------------------- fixtures


def _panned_noise(path: Path, seconds: float, rate: int, right_gain: float, left_gain: float,
                  seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = 0.2 * rng.standard_normal(int(seconds * rate)).astype(np.float32)
    sf.write(path, np.stack([left_gain * x, right_gain * x], axis=1), rate)
    return path


def vsl(duration_s: float = 1.0, n: int = 5, name: str = "car", x_start: float = 40.0,
        x_end: float = 360.0, reasoning: str = "The engine moves from left to right.") -> dict:
    """A valid VSL dict: one object moving across the canvas."""
    times = np.linspace(0.0, duration_s, n)
    frames = []
    for k, t in enumerate(times):
        x = x_start + (x_end - x_start) * k / (n - 1)
        frames.append({"time_s": round(float(t), 3), "caption": f"The {name} at x={x:.0f}.",
                       "objects": [{"id": 0, "name": name, "box": [x, 120.0, x + 80.0, 170.0]}]})
    return {"format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256},
            "duration_s": duration_s, "reasoning": reasoning, "video_caption": f"A {name} passes by.",
            "keyframes": frames}


@dataclass
class FakeExample:
    """Duck-typed like engine.planner.examples.Example."""

    name: str
    audio_path: Path
    reasoning: str
    layout: dict
    cue_summary: str


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "spa2v-cache"))


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def user_audio(tmp_path: Path) -> Path:
    # 48 kHz so that the encoder has to downsample; louder on the right.
    return _panned_noise(tmp_path / "user.wav", 1.0, 48000, right_gain=1.0, left_gain=0.25)


@pytest.fixture
def analysis(user_audio: Path) -> Analysis:
    result = analyze(user_audio)
    assert result.sources, "the synthetic recording should have one source"
    return result


@pytest.fixture
def examples(tmp_path: Path) -> list[FakeExample]:
    out = []
    for i, (name, gain_l, gain_r) in enumerate([("piano", 1.0, 0.3), ("drum", 0.3, 1.0), ("car", 1.0, 1.0)]):
        path = _panned_noise(tmp_path / f"example_{i}.wav", 0.5, 16000, right_gain=gain_r, left_gain=gain_l,
                             seed=10 + i)
        out.append(FakeExample(
            name=f"example-{name}",
            audio_path=path,
            reasoning=f"EXAMPLE REASONING {i}: the {name} is heard on one side.",
            layout=vsl(0.5, name=name),
            cue_summary=f"EXAMPLE CUES {i}: azimuth -40 -> -40.",
        ))
    return out


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def settings(server: FakeOpenAIServer, tmp_path: Path) -> LLMSettings:
    return LLMSettings(model="fake-audio-model", base_url=server.base_url, api_key=SECRET,
                       cache_dir=tmp_path / "llm-cache", timeout_s=5.0)


def _plan(audio: Path, analysis: Analysis, settings: LLMSettings, sleeps: list[float],
          examples: list | None = None, **kwargs):
    return plan_llm(audio, analysis, examples or [], settings, sleep=sleeps.append, **kwargs)


def _decode_wav(part: dict) -> tuple[np.ndarray, int]:
    assert part["type"] == "input_audio"
    assert part["input_audio"]["format"] == "wav"
    data, rate = sf.read(io.BytesIO(base64.b64decode(part["input_audio"]["data"])), always_2d=True)
    return data, rate


def _text_of(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p["type"] == "text")


# ------------------------------------------------------------------------------------- answers


def test_a_good_answer_gives_a_valid_layout(server, settings, user_audio, analysis, sleeps) -> None:
    answer = json.dumps(vsl())
    server.push(reply(answer))
    progress: list[float] = []
    result = _plan(user_audio, analysis, settings, sleeps, progress=progress.append)
    assert not result.from_cache
    assert result.raw_text == answer
    frames = result.layout_dict["keyframes"]
    assert len(frames) == 5
    assert frames[0]["objects"][0]["name"] == "car"
    assert frames[0]["objects"][0]["id"] == 0
    assert len(server.requests) == 1
    body = server.requests[0].body
    assert body["model"] == "fake-audio-model"
    assert body["temperature"] == pytest.approx(0.5)
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert sleeps == []


def test_prose_wrapped_json_is_repaired_and_the_repairs_listed(server, settings, user_audio, analysis,
                                                                 sleeps) -> None:
    server.push(reply("Sure! Here is the layout you asked for:\n```json\n" + json.dumps(vsl())
                      + "\n```\nLet me know if you want changes."))
    result = _plan(user_audio, analysis, settings, sleeps)
    assert len(result.layout_dict["keyframes"]) == 5
    assert result.repairs, "stripping the prose around the JSON should be reported"
    assert len(server.requests) == 1


def test_broken_json_gets_one_retry_with_the_error_as_feedback(server, settings, user_audio, analysis,
                                                                 sleeps) -> None:
    broken = "I hear a car. There is no layout here, just words."
    server.push(reply(broken), reply(json.dumps(vsl())))
    result = _plan(user_audio, analysis, settings, sleeps)
    assert len(result.layout_dict["keyframes"]) == 5
    assert len(server.requests) == 2
    first, second = server.requests[0].messages, server.requests[1].messages
    assert second[: len(first)] == first  # the same conversation, continued
    assert second[-2] == {"role": "assistant", "content": broken}
    feedback = _text_of(second[-1])
    assert second[-1]["role"] == "user"
    assert "could not be used" in feedback
    assert "exactly 5 entries" in feedback
    assert sleeps == []  # a bad answer is no reason to wait


def test_an_answer_unusable_twice_is_a_clear_error(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(reply("I cannot do that."), reply(""))
    with pytest.raises(PlannerError, match="could not be read as a layout") as err:
        _plan(user_audio, analysis, settings, sleeps)
    assert "\n" not in str(err.value)
    assert "the answer was empty" in str(err.value)
    assert len(server.requests) == 2


@pytest.mark.parametrize("answer", [
    pytest.param(json.dumps(vsl()["keyframes"]), id="a-list-of-frames"),
    pytest.param(json.dumps({**vsl(), "keyframes": [
        {**frame, "objects": [{**obj, "box": json.dumps(obj["box"])} for obj in frame["objects"]]}
        for frame in vsl()["keyframes"]]}), id="boxes-as-strings"),
    pytest.param(json.dumps({**vsl(), "keyframes": "none"}), id="keyframes-not-a-list"),
])
def test_wrong_shapes_are_repaired_or_a_clear_error(server, settings, user_audio, analysis, sleeps,
                                                     answer: str) -> None:
    server.push(reply(answer), reply(answer))
    try:
        result = _plan(user_audio, analysis, settings, sleeps)
    except PlannerError as exc:
        assert "could not be read as a layout" in str(exc)
        assert "\n" not in str(exc)
        assert len(server.requests) == 2
        return
    for frame in result.layout_dict["keyframes"]:
        for obj in frame["objects"]:
            box = obj["box"]
            assert len(box) == 4 and all(isinstance(v, (int, float)) for v in box)
            assert 0 <= box[0] < box[2] <= 454 and 0 <= box[1] < box[3] <= 256


# ---------------------------------------------------------------------------------- transport


def test_429_is_retried_after_the_servers_retry_after(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(error_reply(429, "slow down", headers={"Retry-After": "3"}), reply(json.dumps(vsl())))
    result = _plan(user_audio, analysis, settings, sleeps)
    assert len(result.layout_dict["keyframes"]) == 5
    assert sleeps == [3.0]
    assert len(server.requests) == 2


def test_429_asking_for_a_long_wait_fails_at_once(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(error_reply(429, "slow down", headers={"Retry-After": "3600"}))
    with pytest.raises(PlannerError, match="try again later"):
        _plan(user_audio, analysis, settings, sleeps)
    assert sleeps == [] and len(server.requests) == 1


def test_no_quota_is_not_retried(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(error_reply(429, "You exceeded your current quota", code="insufficient_quota"))
    with pytest.raises(PlannerConfigError, match="no quota"):
        _plan(user_audio, analysis, settings, sleeps)
    assert len(server.requests) == 1


def test_500_is_retried_with_backoff(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(error_reply(500, "boom"), error_reply(503, "overloaded"), reply(json.dumps(vsl())))
    result = _plan(user_audio, analysis, settings, sleeps)
    assert len(result.layout_dict["keyframes"]) == 5
    assert sleeps == [1.0, 2.0]  # exponential backoff
    assert len(server.requests) == 3


def test_persistent_5xx_gives_up_after_max_attempts(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(*[error_reply(502, "bad gateway")] * 4)
    with pytest.raises(PlannerError, match=r"server error \(502\).*gave up after 4 attempts"):
        _plan(user_audio, analysis, settings, sleeps)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(server.requests) == 4


def test_a_hang_past_the_timeout_is_a_clear_timeout_error(server, settings, user_audio, analysis,
                                                           sleeps) -> None:
    server.push(reply(json.dumps(vsl()), delay_s=2.0), reply(json.dumps(vsl()), delay_s=2.0))
    quick = replace(settings, timeout_s=0.5, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(PlannerError, match=r"no answer from .* within 0.5 s") as err:
        _plan(user_audio, analysis, quick, sleeps)
    assert time.monotonic() - started < 1.9  # it did not wait for the server
    assert "gave up after 2 attempts" in str(err.value)
    assert sleeps == [1.0]


def test_an_unreachable_endpoint_says_so(settings, user_audio, analysis, sleeps) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = replace(settings, base_url=f"http://127.0.0.1:{port}/v1", max_attempts=2)
    with pytest.raises(PlannerError, match="could not be reached"):
        _plan(user_audio, analysis, closed, sleeps)
    assert sleeps == [1.0]


def test_401_mentions_the_api_key_and_never_shows_it(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(error_reply(401, f"Incorrect API key provided: {SECRET}", code="invalid_api_key"))
    with pytest.raises(PlannerConfigError) as err:
        _plan(user_audio, analysis, settings, sleeps)
    message = str(err.value)
    assert "API key" in message and "OPENAI_API_KEY" in message
    assert SECRET not in message
    assert isinstance(err.value, InputError)  # the CLI's exit code 2: the user must change a setting
    assert len(server.requests) == 1 and sleeps == []


@pytest.mark.parametrize(("status", "needle"), [(403, "denied"), (404, "not found"), (400, "accepts audio")])
def test_other_client_errors_are_not_retried(server, settings, user_audio, analysis, sleeps, status: int,
                                             needle: str) -> None:
    server.push(error_reply(status, "nope"))
    with pytest.raises(PlannerConfigError, match=needle) as err:
        _plan(user_audio, analysis, settings, sleeps)
    assert "fake-audio-model" in str(err.value)
    assert len(server.requests) == 1


def test_a_missing_key_fails_before_any_request(server, settings, user_audio, analysis, sleeps) -> None:
    keyless = replace(settings, api_key=None, require_key=True)
    with pytest.raises(PlannerConfigError, match="OPENAI_API_KEY"):
        _plan(user_audio, analysis, keyless, sleeps)
    remote = LLMSettings(model="gpt-4o-audio-preview", base_url="https://api.example.invalid/v1")
    with pytest.raises(PlannerConfigError, match="no API key"):
        _plan(user_audio, analysis, remote, sleeps)
    assert server.requests == []


def test_a_cached_plan_opens_without_a_key(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(reply(json.dumps(vsl())))
    _plan(user_audio, analysis, replace(settings, require_key=True), sleeps)
    keyless = replace(settings, api_key=None, require_key=True)
    assert _plan(user_audio, analysis, keyless, sleeps).from_cache
    assert len(server.requests) == 1


def test_a_local_server_needs_no_key_and_the_env_key_is_used(server, settings, user_audio, analysis, sleeps,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    server.push(reply(json.dumps(vsl())), reply(json.dumps(vsl())))
    _plan(user_audio, analysis, replace(settings, api_key=None, use_cache=False), sleeps)
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    _plan(user_audio, analysis, replace(settings, api_key=None, use_cache=False), sleeps)
    assert server.requests[1].headers["authorization"] == "Bearer sk-from-env"


def test_cancel_abandons_a_request_in_flight(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(reply(json.dumps(vsl()), delay_s=3.0))
    started = time.monotonic()
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    with pytest.raises(Cancelled):
        _plan(user_audio, analysis, settings, sleeps, is_cancelled=flag.is_set)
    assert time.monotonic() - started < 2.0
    assert not list(cache_root(settings).glob("*.json"))
    # The abandoned request's thread ends once the server answers; it must not linger after that.
    server.release_delays()
    for worker in [t for t in threading.enumerate() if t.name == "spa2v-llm-request"]:
        worker.join(5)
        assert not worker.is_alive()


# ------------------------------------------------------------------------------------- cache


def test_a_second_identical_call_comes_from_the_cache(server, settings, user_audio, analysis, sleeps,
                                                      examples) -> None:
    server.push(reply(json.dumps(vsl())), reply(json.dumps(vsl(x_start=10))))
    first = _plan(user_audio, analysis, settings, sleeps, examples=examples)
    second = _plan(user_audio, analysis, settings, sleeps, examples=examples)
    assert len(server.requests) == 1
    assert second.from_cache and not first.from_cache
    assert second.layout_dict == first.layout_dict and second.raw_text == first.raw_text
    # Anything that shapes the request makes a new entry.
    third = _plan(user_audio, analysis, replace(settings, temperature=0.9), sleeps, examples=examples)
    assert not third.from_cache and len(server.requests) == 2


def test_the_cache_key_ignores_the_api_key_and_files_never_hold_it(server, settings, user_audio, analysis,
                                                                   sleeps) -> None:
    server.push(reply(json.dumps(vsl())))
    _plan(user_audio, analysis, settings, sleeps)
    # Another key, same request: a cache hit (the key is no part of the cache key).
    again = _plan(user_audio, analysis, replace(settings, api_key="sk-other-key-XYZ"), sleeps)
    assert again.from_cache and len(server.requests) == 1
    files = [p for p in cache_root(settings).rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert SECRET not in text and "sk-other-key-XYZ" not in text
        assert json.loads(text)["key"]["prompt_version"] == PROMPT_VERSION
    assert SECRET not in repr(settings)
    assert SECRET not in json.dumps(settings.public_dict())


def test_the_cache_dir_follows_spa2v_cache_dir(tmp_path: Path) -> None:
    assert cache_root(LLMSettings()) == tmp_path / "spa2v-cache" / "llm"
    assert cache_root(LLMSettings(cache_dir=tmp_path / "x")) == tmp_path / "x"


# ------------------------------------------------------------------------------------- request


def test_the_request_carries_stereo_audio_and_k_example_conversations(server, settings, user_audio, analysis,
                                                                      sleeps, examples) -> None:
    server.push(reply(json.dumps(vsl())))
    _plan(user_audio, analysis, replace(settings, k_examples=2), sleeps, examples=examples)
    messages = server.requests[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert "454" in system and "256" in system and "5 keyframes" in system and "$" not in system
    # The examples, nearest first, each with its own audio; the answers hold their reasoning and layout.
    for i, (user, assistant) in enumerate(zip(messages[1:-1:2], messages[2:-1:2], strict=True)):
        audio_parts = [p for p in user["content"] if p["type"] == "input_audio"]
        assert len(audio_parts) == 1
        data, _ = _decode_wav(audio_parts[0])
        expected, _ = sf.read(examples[i].audio_path, always_2d=True)
        assert data.shape == expected.shape  # 16 kHz stays 16 kHz
        answer = json.loads(assistant["content"])
        assert answer["reasoning"] == examples[i].reasoning
        assert len(answer["keyframes"]) == 5
        assert answer["keyframes"][1]["time_s"] == pytest.approx(0.125)  # times are not rounded like boxes
        assert list(answer)[:5] == ["format", "version", "canvas", "duration_s", "reasoning"]
    # The user's turn: the audio as 16-bit stereo WAV at 16 kHz, right louder than left as recorded.
    user = messages[-1]
    data, rate = _decode_wav(user["content"][0])
    assert data.shape[1] == 2 and rate == 16000
    assert data.shape[0] == pytest.approx(16000, abs=2)
    left, right = np.sqrt(np.mean(data**2, axis=0))
    assert right > 2.5 * left
    text = _text_of(user)
    assert "1.00 s" in text and "0.00, 0.25, 0.50, 0.75, 1.00" in text


def test_include_cues_adds_the_measured_cue_text(server, settings, user_audio, analysis, sleeps,
                                                 examples) -> None:
    server.push(reply(json.dumps(vsl())), reply(json.dumps(vsl())))
    _plan(user_audio, analysis, settings, sleeps, examples=examples[:1])
    with_cues = server.requests[0].messages
    assert "Measured cues" in _text_of(with_cues[-1])
    assert "Source 1: right, azimuth +" in _text_of(with_cues[-1])
    assert "EXAMPLE CUES 0" in _text_of(with_cues[1])
    _plan(user_audio, analysis, replace(settings, include_cues=False), sleeps, examples=examples[:1])
    without = server.requests[1].messages
    assert "Measured cues" not in _text_of(without[-1])
    assert "EXAMPLE CUES 0" not in _text_of(without[1])


def test_labels_reach_the_request(server, settings, user_audio, analysis, sleeps) -> None:
    server.push(reply(json.dumps(vsl())))
    _plan(user_audio, analysis, settings, sleeps, labels="car@right")
    assert "car@right" in _text_of(server.requests[0].messages[-1])


def test_revision_sends_the_current_layout_and_the_change_request(server, settings, user_audio, analysis,
                                                                  sleeps) -> None:
    current = vsl(x_start=100.0)
    earlier = vsl(x_start=200.0)
    revised = vsl(x_start=20.0)
    server.push(reply(json.dumps(revised)))
    result = revise_llm(current, "make the car start further left", user_audio, analysis, settings,
                        history=[RevisionTurn(earlier, "make it a car")], sleep=sleeps.append)
    assert result.layout_dict["keyframes"][0]["objects"][0]["box"][0] == pytest.approx(20.0)
    messages = server.requests[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert any(p["type"] == "input_audio" for p in messages[1]["content"])
    assert json.loads(messages[2]["content"])["keyframes"][0]["objects"][0]["box"][0] == pytest.approx(200.0)
    assert "make it a car" in _text_of(messages[3])
    assert json.loads(messages[4]["content"]) == json.loads(prompts.answer_text(current))
    assert "make the car start further left" in _text_of(messages[5])
    # The same revision again is cached; another request is not.
    again = revise_llm(current, "make the car start further left", user_audio, analysis, settings,
                       history=[RevisionTurn(earlier, "make it a car")], sleep=sleeps.append)
    assert again.from_cache and len(server.requests) == 1
    server.push(reply(json.dumps(revised)))
    other = revise_llm(current, "make the car bigger", user_audio, analysis, settings, sleep=sleeps.append)
    assert not other.from_cache and len(server.requests) == 2


def test_an_empty_change_request_is_refused(settings, user_audio, analysis) -> None:
    with pytest.raises(InputError, match="change request is empty"):
        revise_llm(vsl(), "  ", user_audio, analysis, settings)


# ------------------------------------------------------------------------------ settings, audio


def test_provider_presets_and_settings_validation() -> None:
    gemini = LLMSettings.for_provider("gemini")
    assert gemini.resolved_base_url() == GEMINI_BASE_URL and gemini.model == "gemini-2.0-flash"
    vllm = LLMSettings.for_provider("vllm", model="my-audio-model")
    assert vllm.is_local() and vllm.model == "my-audio-model"
    assert vllm.resolve_api_key() == "not-needed"
    assert LLMSettings.for_provider("openai").resolved_base_url() == "https://api.openai.com/v1"
    with pytest.raises(PlannerConfigError, match="unknown LLM provider"):
        LLMSettings.for_provider("nope")
    with pytest.raises(PlannerConfigError, match="temperature"):
        LLMSettings(temperature=5.0).validate()
    assert "***" in repr(LLMSettings(api_key="abc")) and "abc" not in repr(LLMSettings(api_key="abc"))


def test_long_high_rate_mono_audio_is_sent_as_capped_16k_stereo(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    sf.write(path, 0.1 * np.sin(np.linspace(0, 40000, 44100 * 35)).astype(np.float32), 44100)
    data, rate = sf.read(io.BytesIO(encode_audio_wav(path)), always_2d=True, dtype="int16")
    assert rate == 16000 and data.shape == (16000 * 30, 2)
    assert np.array_equal(data[:, 0], data[:, 1])
    info = sf.info(io.BytesIO(encode_audio_wav(path)))
    assert info.subtype == "PCM_16"


def test_the_user_turn_says_when_the_audio_was_cut(analysis: Analysis) -> None:
    text = prompts.request_text(60.0, 5, heard_s=30.0)
    assert "first 30 s" in text
    assert "first" not in prompts.request_text(analysis.duration_s, 5, heard_s=analysis.duration_s)


def test_the_event_timeline_reaches_the_user_message(user_audio: Path, analysis: Analysis) -> None:
    wav = encode_audio_wav(user_audio)
    source = analysis.sources[0]
    events = [SourceEvents(source.id, [(0.12, 0.48), (0.61, 0.97)]), SourceEvents(99, [(0.0, 0.5)])]
    built = prompts.build_plan_messages(wav, analysis, events=events)
    text = _text_of(built.messages[-1])
    assert built.user_text == text
    assert "Source 1: 0.1–0.5 s, 0.6–1.0 s" in text
    assert "source 99" not in text.lower()  # an id the analysis does not hold cannot be tied to a source
    assert "appear when their sound starts and may leave when it stops" in text
    # The timeline replaces the tracks' coarse spans; without events the request is as before.
    assert "sounding" not in text
    plain = prompts.build_plan_messages(wav, analysis)
    assert plain.user_text == prompts.user_request_text(analysis, prompts.DEFAULT_KEYFRAMES, None, True,
                                                        1.0)
    assert "onset" not in plain.user_text and "sound starts" not in plain.user_text
    # The events are measured cues: without cues there are no events either.
    assert "0.1–0.5 s" not in prompts.build_plan_messages(wav, analysis, include_cues=False, events=events).user_text
    revision = prompts.build_revision_messages(vsl(), "move it left", wav, analysis, events=events)
    assert "Source 1: 0.1–0.5 s, 0.6–1.0 s" in _text_of(revision.messages[1])


def test_scripted_server_records_requests_to_other_paths(server: FakeOpenAIServer) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(server.base_url + "/nothing", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 404
    assert server.requests[0].path == "/v1/nothing"
    assert isinstance(Scripted().headers, dict)


# ------------------------------------------------------------------------------------- event timeline


def test_events_reach_the_request_and_are_part_of_the_cache_key(server, settings, user_audio, analysis,
                                                                 sleeps) -> None:
    source_id = analysis.sources[0].id
    early, late = [SourceEvents(source_id, [(0.12, 0.48)])], [SourceEvents(source_id, [(0.31, 0.92)])]
    server.push(*(reply(json.dumps(vsl())) for _ in range(4)))
    first = _plan(user_audio, analysis, settings, sleeps, events=early)
    assert not first.from_cache and "Source 1: 0.1–0.5 s" in _text_of(server.requests[0].messages[-1])
    assert _plan(user_audio, analysis, settings, sleeps, events=early).from_cache
    assert len(server.requests) == 1
    # Other events (or none) are another request: the cache key hashes the text of every message.
    later = _plan(user_audio, analysis, settings, sleeps, events=late)
    assert not later.from_cache and "Source 1: 0.3–0.9 s" in _text_of(server.requests[1].messages[-1])
    assert not _plan(user_audio, analysis, settings, sleeps).from_cache
    assert "onset" not in _text_of(server.requests[2].messages[-1])
    revise_llm(vsl(), "move it left", user_audio, analysis, settings, sleep=sleeps.append, events=late)
    assert "Source 1: 0.3–0.9 s" in _text_of(server.requests[3].messages[1])
    assert len(server.requests) == 4


def test_recording_events_time_each_source_from_the_recording(tmp_path: Path, server, settings,
                                                              sleeps) -> None:
    audio = write_two_sources_wav(tmp_path / "two.wav")
    measured = analyze(audio)
    events = recording_events(audio, measured)
    assert [e.source_id for e in events] == [s.id for s in measured.sources] == [0, 1]
    for event, (onset, offset) in zip(events, [(0.2, 1.4), (1.6, 2.7)], strict=True):
        ((start, end),) = event.intervals
        assert start == pytest.approx(onset, abs=0.03) and end == pytest.approx(offset, abs=0.03)
    # Planned with them, the model hears both sources' timelines.
    server.push(reply(json.dumps(vsl(3.0))))
    _plan(audio, measured, settings, sleeps, events=events)
    text = _text_of(server.requests[0].messages[-1])
    assert "When each source sounds" in text and "0.2–1.4 s" in text and "1.6–2.7 s" in text


def test_long_recordings_are_timed_from_the_tracks_without_reading_the_audio(tmp_path: Path,
                                                                             monkeypatch) -> None:
    import engine.audition.events as events_module
    import engine.audition.separate as separate_module

    audio = write_two_sources_wav(tmp_path / "two.wav")
    measured = analyze(audio)

    def refuse(*_args, **_kwargs):
        raise AssertionError("the recording was read")

    monkeypatch.setattr(separate_module, "load_stereo", refuse)
    monkeypatch.setattr(events_module, "SEPARATED_EVENTS_MAX_S", 2.0)
    events = recording_events(audio, measured)
    assert [e.to_dict() for e in events] == [e.to_dict() for e in events_from_tracks(measured)]
    assert all(e.intervals for e in events)


def test_recording_events_can_be_cancelled(user_audio: Path, analysis: Analysis) -> None:
    with pytest.raises(Cancelled):
        recording_events(user_audio, analysis, is_cancelled=lambda: True)
