"""The LLM planner against a server that keeps failing: one clear error in the end, never a hang, never a
half-applied layout.

Fifty scripted failures in a row — server errors, answers that are not a layout, timeouts and dropped
connections, interleaved — against the local fake server (a real HTTP server on 127.0.0.1). The planner
is allowed exactly 50 attempts, so the run must end with the 50th failure: one PlannerError of one line,
within what 50 timeouts may take, with no request sent after it gave up. In the studio the same storm ends
in one failure report while the layout and its undo history stay as they were.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio.hear import analyze
from engine.planner.llm import LLMSettings, PlannerError, plan_llm
from tests.fake_openai_server import FakeOpenAIServer, Scripted, dropped, error_reply, reply

FAILURES = 50
TIMEOUT_S = 0.4
SECRET = "sk-fault-test-000"


def _storm(n: int) -> list[Scripted]:
    """``n`` transient failures cycling through 500/502/503/504, timeouts (answers later than the client
    waits) and dropped connections."""
    kinds = itertools.cycle([
        lambda: error_reply(500, "internal error"),
        lambda: dropped(),
        lambda: error_reply(502, "bad gateway"),
        lambda: reply("{}", delay_s=TIMEOUT_S * 3),  # arrives after the client gave up
        lambda: error_reply(503, "overloaded", headers={"Retry-After": "0"}),
        lambda: Scripted("<html>504 Gateway Time-out</html>", status=504),
    ])
    return [next(kinds)() for _ in range(n)]


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPA2V_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    x = 0.2 * rng.standard_normal(16000).astype(np.float32)
    path = tmp_path / "right.wav"
    sf.write(path, np.stack([0.25 * x, x], axis=1), 16000)
    return path


def test_fifty_failures_in_a_row_end_in_one_clear_error_without_hanging(recording: Path, tmp_path: Path) -> None:
    analysis = analyze(recording)
    waits: list[float] = []
    with FakeOpenAIServer(_storm(FAILURES)) as server:
        settings = LLMSettings(model="fake-audio-model", base_url=server.base_url, api_key=SECRET,
                               cache_dir=tmp_path / "llm", timeout_s=TIMEOUT_S, max_attempts=FAILURES)
        started = time.monotonic()
        with pytest.raises(PlannerError) as caught:
            plan_llm(recording, analysis, [], settings, sleep=waits.append)
        elapsed = time.monotonic() - started
        sent = len(server.requests)
        server.release_delays()
    message = str(caught.value)
    assert sent == FAILURES  # every attempt was made, and none after giving up
    assert "\n" not in message and f"gave up after {FAILURES} attempts" in message
    assert server.base_url in message and SECRET not in message
    assert len(waits) == FAILURES - 1  # a backoff between attempts, none after the last
    # No hang: 50 requests, a third of them timing out, each bounded by the configured timeout (backoff
    # waits are not slept here).
    assert elapsed < FAILURES * TIMEOUT_S + 15.0


def test_answers_that_are_never_a_layout_end_in_one_error_naming_what_was_wrong(recording: Path,
                                                                                tmp_path: Path) -> None:
    analysis = analyze(recording)
    junk = ["not json at all", '{"keyframes": "soon"}', "[]", '{"format": "spa2v.vsl", "version": 7}', ""]
    with FakeOpenAIServer([reply(text) for text in junk * 10]) as server:
        settings = LLMSettings(model="fake-audio-model", base_url=server.base_url, api_key=SECRET,
                               cache_dir=tmp_path / "llm", timeout_s=TIMEOUT_S)
        for _ in range(FAILURES // 2):  # each plan asks twice: the answer, then once more with what was wrong
            with pytest.raises(PlannerError, match="could not be read as a layout, twice") as caught:
                plan_llm(recording, analysis, [], settings, sleep=lambda s: None)
            assert "\n" not in str(caught.value)
        assert len(server.requests) == FAILURES


def test_a_failing_plan_in_the_studio_leaves_the_layout_and_its_history_alone(qtbot, recording: Path,
                                                                              tmp_path: Path, monkeypatch) -> None:
    import engine.planner.llm
    from app.editor import EditorController
    from tests.gui.test_editing import _agreeing_layout
    from ui.planner_panel import PlanSettings

    # The real backoff (1, 2, 4 … s, at most MAX_RETRY_AFTER_S each) would wait most of an hour over 50 tries.
    monkeypatch.setattr(engine.planner.llm, "MAX_RETRY_AFTER_S", 0.001)
    editor = EditorController()
    editor.set_recording(recording, analyze(recording), 1.0)
    editor.document.set_layout(_agreeing_layout())
    editor.document.set_video_caption("my own caption")  # an edit that must survive
    before = editor.document.layout
    failures: list[str] = []  # messages only: a kept exception's traceback would hold the finished thread
    editor.plan_runner.failed.connect(lambda exc: failures.append(str(exc)))
    with FakeOpenAIServer(_storm(FAILURES)) as server:
        settings = PlanSettings(planner="llm", provider="vllm", model="fake-audio-model", base_url=server.base_url,
                                k_examples=0)
        editor.planner.set_api_key(SECRET)
        import app.tasks

        options = {"timeout_s": TIMEOUT_S, "max_attempts": FAILURES}
        editor.plan_runner.start(app.tasks.plan_task(recording, editor.analysis, settings, api_key=SECRET,
                                                     llm_options=options))
        qtbot.waitUntil(lambda: not editor.plan_runner.busy, timeout=int((FAILURES * TIMEOUT_S + 60) * 1000))
        server.release_delays()
    assert len(failures) == 1 and "gave up after" in failures[0]
    assert editor.document.layout is before
    assert editor.document.undo_stack.count() == 1 and editor.document.undo_stack.undoText() != "Plan"
    editor.shutdown()
