"""The LLM planner: a multimodal model hears the recording and plans the Video Scene Layout.

``plan_llm`` sends the conversation of :mod:`engine.planner.prompt` (system instruction, k in-context
examples, the user's stereo audio and request) to any OpenAI-compatible Chat Completions endpoint
through the ``openai`` client: OpenAI's audio models, Gemini's OpenAI-compatible endpoint, or a local
vLLM server. ``revise_llm`` continues such a conversation with a change request.

Policies, in one place:

- **Answers** are read with :func:`engine.layout.repair.repair_layout_text` (JSON in prose or fences,
  single quotes, trailing commas, the paper's "Frame 1: ..." text). When nothing usable remains, the
  model gets *one* more turn: its own answer plus a user message that says exactly what was wrong.
- **Transient failures** (timeouts, connection errors, 429, 5xx) are retried up to
  ``max_attempts`` times in all, waiting 1, 2, 4 ... s, or what the server's ``Retry-After`` asks
  (up to :data:`MAX_RETRY_AFTER_S`). Deterministic waits, no jitter: a desktop app is one client.
  Everything else (401, 403, 404, 400) fails at once with a one-line message that says what to do.
  The ``openai`` client's own retries are off so that this module controls what is sent.
- **Cache**: a usable answer is stored as JSON under the user cache folder (``SPA2V_CACHE_DIR``
  overrides it), keyed by a SHA-256 of everything that shapes the request: the audio's bytes, the
  prompt version, model, base URL, examples, temperature, keyframes, cue switch, labels and any
  revision, and the text of every message (so also the measured cues and the event timeline). The
  API key is never part of the key, the file, the logs or an error message.
- **Events**: the planner hears when each source sounds (:func:`engine.audition.events.recording_events`:
  onsets and offsets from the separated sources, or from the analysis's tracks for long recordings),
  written into the measured cues of the user turn.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.audio.model import Analysis
from engine.audition.events import SourceEvents
from engine.errors import Cancelled, InputError, SpA2VError
from engine.fileio import atomic_write_text
from engine.planner import prompt as prompts
from engine.planner.prompt import PROMPT_VERSION, BuiltPrompt, ExampleLike, RevisionTurn

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
VLLM_BASE_URL = "http://127.0.0.1:8000/v1"

#: A server asking to wait longer than this is treated as "not now": the error says so.
MAX_RETRY_AFTER_S = 60.0
#: The first backoff wait; it doubles on each further attempt.
BACKOFF_BASE_S = 1.0
#: The key sent to a local server that needs none (vLLM accepts anything unless started with --api-key).
LOCAL_DUMMY_KEY = "not-needed"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}

ProgressFn = Callable[[float], None]
SleepFn = Callable[[float], None]


class PlannerError(SpA2VError):
    """The LLM planner could not produce a layout. The message is one line that says what to do."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PlannerConfigError(PlannerError, InputError):
    """A setting is wrong (missing or refused key, unknown model, bad value): the user must change it."""


@dataclass(frozen=True)
class Provider:
    """A known endpoint: its base URL, a model that hears audio, and where its key usually lives."""

    name: str
    base_url: str
    model: str
    key_envs: tuple[str, ...]


PROVIDERS: dict[str, Provider] = {
    "openai": Provider("openai", OPENAI_BASE_URL, "gpt-4o-audio-preview", ("OPENAI_API_KEY",)),
    "gemini": Provider("gemini", GEMINI_BASE_URL, "gemini-2.0-flash", ("GEMINI_API_KEY", "OPENAI_API_KEY")),
    "vllm": Provider("vllm", VLLM_BASE_URL, "Qwen/Qwen2-Audio-7B-Instruct", ("OPENAI_API_KEY",)),
}


@dataclass(frozen=True)
class LLMSettings:
    """How to reach the model and how to ask it. The API key is held, never shown or stored.

    ``base_url`` None means ``OPENAI_BASE_URL`` from the environment, else OpenAI's. ``api_key`` None
    means the first of ``key_envs`` that is set; a local base URL (localhost) works without a key.
    ``require_key`` None decides by the base URL; True/False forces it.
    """

    model: str = PROVIDERS["openai"].model
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False, compare=False)
    key_envs: tuple[str, ...] = ("OPENAI_API_KEY",)
    require_key: bool | None = None
    temperature: float = prompts.DEFAULT_TEMPERATURE
    k_examples: int = prompts.DEFAULT_K
    include_cues: bool = True
    timeout_s: float = 120.0
    max_attempts: int = 4
    max_tokens: int | None = None
    use_cache: bool = True
    cache_dir: Path | None = None

    @classmethod
    def for_provider(cls, name: str, **overrides: Any) -> LLMSettings:
        """Settings for a known provider ("openai", "gemini", "vllm"); any field can be overridden."""
        try:
            provider = PROVIDERS[name]
        except KeyError:
            known = ", ".join(PROVIDERS)
            raise PlannerConfigError(f"unknown LLM provider {name!r}; expected one of {known}") from None
        base = {"model": provider.model, "base_url": provider.base_url, "key_envs": provider.key_envs}
        return cls(**{**base, **overrides})

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name != "api_key")
        key = "'***'" if self.api_key else "None"
        return f"LLMSettings({shown}, api_key={key})"

    def resolved_base_url(self) -> str:
        """The endpoint's base URL: the setting, else ``OPENAI_BASE_URL``, else OpenAI's."""
        return (self.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).strip()

    def is_local(self) -> bool:
        """Whether the endpoint runs on this machine (then a key is optional)."""
        return (urlparse(self.resolved_base_url()).hostname or "") in _LOCAL_HOSTS

    def resolve_api_key(self) -> str:
        """The key to send. Raises :class:`PlannerConfigError` when one is needed and none is set."""
        if self.api_key and self.api_key.strip():
            return self.api_key.strip()
        for name in self.key_envs:
            value = os.environ.get(name, "").strip()
            if value:
                return value
        required = (not self.is_local()) if self.require_key is None else self.require_key
        if not required:
            return LOCAL_DUMMY_KEY
        envs = " or ".join(self.key_envs) or "OPENAI_API_KEY"
        raise PlannerConfigError(
            f"no API key for {self.resolved_base_url()}: set {envs} or enter a key in the planner settings "
            "(or use the offline planner)"
        )

    def validate(self) -> None:
        """Raise :class:`PlannerConfigError` naming the first setting out of range."""
        if not self.model or not self.model.strip():
            raise PlannerConfigError("the LLM model name is empty; e.g. gpt-4o-audio-preview or gemini-2.0-flash")
        parsed = urlparse(self.resolved_base_url())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise PlannerConfigError(
                f"the base URL {self.resolved_base_url()!r} is not an http(s) address; e.g. {OPENAI_BASE_URL}"
            )
        if not 0.0 <= self.temperature <= 2.0:
            raise PlannerConfigError(f"temperature is {self.temperature}; expected a number in [0, 2]")
        if self.k_examples < 0:
            raise PlannerConfigError(f"k_examples is {self.k_examples}; expected 0 or more")
        if not self.timeout_s > 0:
            raise PlannerConfigError(f"timeout_s is {self.timeout_s}; expected a positive number of seconds")
        if self.max_attempts < 1:
            raise PlannerConfigError(f"max_attempts is {self.max_attempts}; expected at least 1")

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data without the key (for projects and logs)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}
        out["key_envs"] = list(self.key_envs)
        out["cache_dir"] = None if self.cache_dir is None else str(self.cache_dir)
        return out


@dataclass
class PlanResult:
    """A planned (or revised) layout: the VSL JSON dict, the repairs made to the answer, the answer's
    raw text, and whether it came from the cache."""

    layout_dict: dict
    repairs: list[str]
    raw_text: str
    from_cache: bool


# ------------------------------------------------------------------------------------------ cache


def cache_root(settings: LLMSettings | None = None) -> Path:
    """Where answers are cached: the setting, else ``$SPA2V_CACHE_DIR/llm``, else the user cache dir."""
    if settings is not None and settings.cache_dir is not None:
        return Path(settings.cache_dir)
    env = os.environ.get("SPA2V_CACHE_DIR")
    if env:
        return Path(env) / "llm"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("spa2v-studio", appauthor=False)) / "llm"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_fields(
    settings: LLMSettings,
    audio_sha256: str,
    built: BuiltPrompt,
    n_keyframes: int,
    labels: str | None,
    revision: Mapping[str, Any] | None,
) -> dict[str, Any]:
    # Named fields keep the cache file readable; the hash of all prompt text also catches what they
    # do not name (the cue text after an analysis change, an edited example reasoning).
    return {
        "audio_sha256": audio_sha256,
        "prompt_version": PROMPT_VERSION,
        "model": settings.model,
        "base_url": settings.resolved_base_url(),
        "k": len(built.example_names),
        "examples": list(built.example_names),
        "temperature": settings.temperature,
        "n_keyframes": n_keyframes,
        "include_cues": settings.include_cues,
        "labels": labels or "",
        "max_tokens": settings.max_tokens,
        "revision": revision,
        "prompt_text_sha256": hashlib.sha256(prompts.text_of_messages(built.messages).encode()).hexdigest(),
    }


def cache_key(key_fields: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the key fields."""
    canonical = json.dumps(key_fields, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _cache_load(path: Path) -> PlanResult | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        result = PlanResult(dict(data["layout"]), list(data["repairs"]), str(data["raw_text"]), True)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A damaged entry costs one request, never a failure.
        log.warning("ignoring unreadable LLM cache entry %s (%s)", path, exc)
        return None
    return result


def _cache_store(path: Path, key_fields: Mapping[str, Any], result: PlanResult) -> None:
    data = {"key": dict(key_fields), "created": time.time(), "layout": result.layout_dict,
            "repairs": result.repairs, "raw_text": result.raw_text}
    try:
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1))
    except OSError as exc:
        log.warning("cannot write the LLM cache entry %s (%s); continuing without it", path, exc)


# -------------------------------------------------------------------------------------- requests


def _scrub(text: str, secret: str) -> str:
    """``text`` without the key: servers sometimes echo (part of) it in error messages."""
    if secret and secret != LOCAL_DUMMY_KEY:
        text = text.replace(secret, "***")
    return text


def _retry_after_s(response: Any) -> float | None:
    """Seconds a response asks to wait (``Retry-After`` in seconds or an HTTP date, or ``retry-after-ms``)."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(exc: Any) -> str:
    """The server's own error message from an APIStatusError, short."""
    body = getattr(exc, "body", None)
    message = ""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = str(inner.get("message") or "")
        elif isinstance(inner, str):
            message = inner
    message = message or str(getattr(exc, "message", "") or "")
    message = " ".join(message.split())
    return message[:300]


def _error_code(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            return str(inner.get("code") or inner.get("type") or "")
    return ""


class _Transient(Exception):
    """A failure worth another attempt; carries the final message and the server's wait, if any."""

    def __init__(self, message: str, wait_s: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.wait_s = wait_s
        self.status = status


def _classify(exc: Exception, settings: LLMSettings, key: str) -> Exception:
    """Map an ``openai`` exception to a :class:`PlannerError` (final) or :class:`_Transient` (retry)."""
    import openai

    base = settings.resolved_base_url()
    model = settings.model
    if isinstance(exc, openai.APITimeoutError):
        return _Transient(f"no answer from {base} within {settings.timeout_s:g} s; the model may be busy "
                          "or the request too large: raise the timeout or try again later")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({_scrub(' '.join(str(cause).split()), key)[:200]})" if cause else ""
        return _Transient(f"the endpoint {base} could not be reached{detail}: check the base URL, the network "
                          "connection, or that the local server is running")
    if not isinstance(exc, openai.APIStatusError):
        return PlannerError(_scrub(f"the request to {base} failed: {exc}", key))
    status = exc.status_code
    said = _scrub(_server_message(exc), key)
    said_part = f" (server: {said})" if said else ""
    if status == 401:
        return PlannerConfigError(
            f"the endpoint {base} refused the API key (401){said_part}: check OPENAI_API_KEY or the key in "
            "the planner settings", status)
    if status == 403:
        return PlannerConfigError(
            f"access to model '{model}' at {base} was denied (403){said_part}: check that the API key's "
            "project may use this model (and the region is supported)", status)
    if status == 404:
        return PlannerConfigError(
            f"model '{model}' was not found at {base} (404){said_part}: check the model name and that the "
            "base URL ends with the API version (e.g. /v1)", status)
    if status == 429:
        if _error_code(exc) == "insufficient_quota":
            return PlannerConfigError(
                f"the account behind the API key has no quota left for {base} (429){said_part}: check its "
                "billing, or use another key or the offline planner", status)
        wait = _retry_after_s(exc.response)
        if wait is not None and wait > MAX_RETRY_AFTER_S:
            return PlannerError(f"rate limited by {base} (429): the server asks to wait {wait:.0f} s; "
                                "try again later", status)
        return _Transient(f"rate limited by {base} (429){said_part}: wait a minute and try again, or check "
                          "the account's rate limits", wait, status)
    if status >= 500:
        return _Transient(f"the endpoint {base} had a server error ({status}){said_part}: try again later",
                          _retry_after_s(exc.response), status)
    if status in (400, 413, 415, 422):
        return PlannerConfigError(
            f"the endpoint {base} rejected the request ({status}){said_part}: check that model '{model}' "
            "accepts audio input (input_audio) and that the recording is not too long", status)
    return PlannerError(f"the endpoint {base} answered HTTP {status}{said_part}", status)


@dataclass
class _Answer:
    text: str
    finish_reason: str | None


def _sleep_cancellable(seconds: float, sleep: SleepFn, is_cancelled: Callable[[], bool] | None) -> None:
    if is_cancelled is None:
        sleep(seconds)
        return
    # In slices, so a cancel during a long Retry-After wait is seen within a tenth of a second.
    end = time.monotonic() + seconds
    while True:
        if is_cancelled():
            raise Cancelled()
        left = end - time.monotonic()
        if left <= 0:
            return
        sleep(min(0.1, left))


def _call_cancellable(fn: Callable[[], Any], is_cancelled: Callable[[], bool] | None,
                      on_cancel: Callable[[], None]) -> Any:
    """Run ``fn``; when ``is_cancelled`` turns true meanwhile, call ``on_cancel`` and raise Cancelled."""
    if is_cancelled is None:
        return fn()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed over to the caller's thread
            box["error"] = exc

    # A daemon thread: an abandoned request must not keep the application from exiting.
    worker = threading.Thread(target=run, name="spa2v-llm-request", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        if worker.is_alive() and is_cancelled():
            on_cancel()
            raise Cancelled()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Session:
    """One conversation with the endpoint: a client, retries, cancellation, progress."""

    def __init__(self, settings: LLMSettings, sleep: SleepFn | None,
                 progress: ProgressFn | None, is_cancelled: Callable[[], bool] | None) -> None:
        import openai

        settings.validate()
        self.settings = settings
        self.key = settings.resolve_api_key()  # before anything is sent
        self.sleep = sleep or time.sleep
        self.progress = progress
        self.is_cancelled = is_cancelled
        self.client = openai.OpenAI(
            base_url=settings.resolved_base_url(),
            api_key=self.key,
            timeout=settings.timeout_s,
            max_retries=0,
        )

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(max(0.0, min(1.0, fraction)))

    def check_cancelled(self) -> None:
        if self.is_cancelled is not None and self.is_cancelled():
            raise Cancelled()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self.client.close()

    def complete(self, messages: list[dict[str, Any]]) -> _Answer:
        """One completion, retried on transient failures. Raises PlannerError or Cancelled."""
        settings = self.settings
        kwargs: dict[str, Any] = {"model": settings.model, "messages": messages,
                                  "temperature": settings.temperature}
        if settings.max_tokens is not None:
            kwargs["max_tokens"] = settings.max_tokens
        last: _Transient | None = None
        for attempt in range(1, settings.max_attempts + 1):
            self.check_cancelled()
            started = time.monotonic()
            try:
                response = _call_cancellable(lambda: self.client.chat.completions.create(**kwargs),
                                             self.is_cancelled, self.close)
            except Cancelled:
                raise
            except Exception as exc:
                mapped = _classify(exc, settings, self.key)
                if not isinstance(mapped, _Transient):
                    raise mapped from None
                last = mapped
                log.info("LLM request attempt %d/%d failed: %s", attempt, settings.max_attempts, mapped)
                if attempt < settings.max_attempts:
                    wait = mapped.wait_s if mapped.wait_s is not None else BACKOFF_BASE_S * 2 ** (attempt - 1)
                    _sleep_cancellable(min(wait, MAX_RETRY_AFTER_S), self.sleep, self.is_cancelled)
                continue
            log.info("LLM answer from %s (%s) in %.1f s", settings.resolved_base_url(), settings.model,
                     time.monotonic() - started)
            return _answer_of(response, settings)
        assert last is not None
        raise PlannerError(f"{last} (gave up after {settings.max_attempts} attempts)", last.status)


def _answer_of(response: Any, settings: LLMSettings) -> _Answer:
    """The text of the first choice; a malformed response is an error naming the endpoint."""
    try:
        choice = response.choices[0]
        content = choice.message.content
        finish = getattr(choice, "finish_reason", None)
    except (AttributeError, IndexError, TypeError):
        raise PlannerError(
            f"the endpoint {settings.resolved_base_url()} sent a response without a message; is it an "
            "OpenAI-compatible Chat Completions server?") from None
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(str(p.get("text", "")) if isinstance(p, Mapping) else str(p) for p in content)
    return _Answer(content or "", finish)


# ------------------------------------------------------------------------------------------ parse


def _parse(text: str, finish_reason: str | None, duration_s: float, n_keyframes: int,
           expect_objects: bool) -> tuple[dict, list[str]] | str:
    """The repaired layout and repairs, or a sentence saying what is wrong with the answer."""
    from engine.layout.model import Canvas
    from engine.layout.repair import repair_layout_text

    if not text.strip():
        return "the answer was empty."
    try:
        result = repair_layout_text(
            text,
            canvas=Canvas(width=prompts.CANVAS_WIDTH, height=prompts.CANVAS_HEIGHT),
            duration_s=duration_s,
            n_keyframes=n_keyframes,
        )
    except InputError as exc:
        problem = str(exc).rstrip(".") + "."
        if finish_reason == "length":
            problem += " The answer was cut off at the length limit: keep the captions and reasoning short."
        return problem
    layout = result.layout.to_json_dict()
    if expect_objects and not any(frame.get("objects") for frame in layout.get("keyframes", [])):
        return "the layout has no boxes, but the recording has sounding sources: give each one a box."
    return layout, list(result.repairs)


def _complete_and_parse(session: _Session, messages: list[dict[str, Any]], duration_s: float,
                        n_keyframes: int, expect_objects: bool) -> PlanResult:
    """Ask, read the answer; if unusable, ask once more with the answer and what was wrong with it."""
    session.report(0.2)
    answer = session.complete(messages)
    session.report(0.6)
    parsed = _parse(answer.text, answer.finish_reason, duration_s, n_keyframes, expect_objects)
    if isinstance(parsed, str):
        log.info("LLM answer unusable (%s); asking once more", parsed)
        retry_messages = [
            *messages,
            {"role": "assistant", "content": answer.text or "(empty)"},
            {"role": "user", "content": prompts.feedback_text(parsed, n_keyframes, duration_s)},
        ]
        first_problem = parsed
        answer = session.complete(retry_messages)
        session.report(0.9)
        parsed = _parse(answer.text, answer.finish_reason, duration_s, n_keyframes, expect_objects)
        if isinstance(parsed, str):
            raise PlannerError(
                f"the model's answer could not be read as a layout, twice: first {first_problem.rstrip('.')}; "
                f"then {parsed.rstrip('.')}. Try again, another model, or the offline planner")
    layout, repairs = parsed
    return PlanResult(layout, repairs, answer.text, from_cache=False)


def _run(settings: LLMSettings, built_fn: Callable[[], BuiltPrompt], audio_path: str | Path,
         n_keyframes: int, duration_s: float, labels: str | None, revision: Mapping[str, Any] | None,
         expect_objects: bool, progress: ProgressFn | None, is_cancelled: Callable[[], bool] | None,
         sleep: SleepFn | None) -> PlanResult:
    settings.validate()
    if progress is not None:
        progress(0.0)
    if is_cancelled is not None and is_cancelled():
        raise Cancelled()
    audio_sha = file_sha256(audio_path)
    built = built_fn()
    if progress is not None:
        progress(0.1)
    key_fields = _cache_fields(settings, audio_sha, built, n_keyframes, labels, revision)
    path = cache_root(settings) / f"{cache_key(key_fields)}.json"
    if settings.use_cache:
        cached = _cache_load(path)
        if cached is not None:
            log.info("LLM layout from the cache (%s)", path.name)
            if progress is not None:
                progress(1.0)
            return cached
    # Only a request needs the key: a plan already cached opens without one, as the generation stage
    # does. A missing key still fails here, before anything is sent.
    session = _Session(settings, sleep, progress, is_cancelled)
    try:
        session.check_cancelled()
        result = _complete_and_parse(session, built.messages, duration_s, n_keyframes, expect_objects)
        if settings.use_cache:
            _cache_store(path, key_fields, result)
        session.report(1.0)
        return result
    finally:
        session.close()


def _labels_text(labels: str | Sequence[Any] | None) -> str | None:
    """Labels as one text (``"car@left, piano"``) whether given as text or as parsed hints."""
    if labels is None or isinstance(labels, str):
        return labels or None
    parts = []
    for hint in labels:
        side = getattr(hint, "side", None)
        name = getattr(hint, "name", str(hint))
        parts.append(f"{name}@{side.value}" if side is not None else name)
    return ", ".join(parts) or None


def plan_llm(
    audio_path: str | Path,
    analysis: Analysis,
    examples: Sequence[ExampleLike],
    settings: LLMSettings,
    n_keyframes: int = prompts.DEFAULT_KEYFRAMES,
    labels: str | Sequence[Any] | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    *,
    sleep: SleepFn | None = None,
    events: Sequence[SourceEvents] | None = None,
) -> PlanResult:
    """Plan a VSL for the recording at ``audio_path`` with a multimodal LLM.

    ``analysis`` is :func:`engine.audio.hear.analyze` of the same file (duration; cues when
    ``settings.include_cues``); the first ``settings.k_examples`` of ``examples`` (nearest first) become
    in-context conversations. ``labels`` as in ``plan --labels`` ("car@left, piano") or parsed hints.
    ``events`` (:func:`engine.audition.events.recording_events` of the same file) join the cues as the
    sources' timeline; other events ask for another answer than the cached one, as any change of the
    request's text does.
    ``progress`` gets 0..1; ``is_cancelled()`` turning true stops the work with Cancelled (an
    in-flight request is abandoned). ``sleep`` replaces ``time.sleep`` for backoff waits (tests).
    Raises :class:`PlannerConfigError` (an InputError) for settings the user must change, and
    :class:`PlannerError` when the endpoint fails or the answer stays unusable.
    """
    if n_keyframes < 2:
        raise PlannerConfigError(f"the number of keyframes is {n_keyframes}; the LLM planner needs at least 2")
    labels_text = _labels_text(labels)
    chosen = list(examples)[: max(0, settings.k_examples)]

    def build() -> BuiltPrompt:
        wav = prompts.encode_audio_wav(audio_path)
        return prompts.build_plan_messages(wav, analysis, chosen, n_keyframes, labels_text, settings.include_cues,
                                           events=events)

    return _run(settings, build, audio_path, n_keyframes, float(analysis.duration_s), labels_text,
                None, bool(analysis.sources), progress, is_cancelled, sleep)


def revise_llm(
    current_layout_dict: Mapping[str, Any],
    request_text: str,
    audio_path: str | Path,
    analysis: Analysis,
    settings: LLMSettings,
    history: Sequence[RevisionTurn] | None = None,
    progress: ProgressFn | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    *,
    labels: str | Sequence[Any] | None = None,
    sleep: SleepFn | None = None,
    events: Sequence[SourceEvents] | None = None,
) -> PlanResult:
    """Revise a layout by a change request ("make the car start further left") in a multi-turn talk.

    The conversation is: system instruction, the user's audio and original request, the layouts so
    far as the model's answers with the earlier change requests (``history``, oldest first) between
    them, ``current_layout_dict`` as its latest answer, then ``request_text``. The answer is read
    and repaired as in :func:`plan_llm`, with the same errors, retries and cache; ``events`` as there.
    """
    if not isinstance(current_layout_dict, Mapping):
        raise InputError("the layout to revise must be a VSL JSON object")
    history = list(history or [])
    frames = current_layout_dict.get("keyframes")
    n_keyframes = len(frames) if isinstance(frames, list) and len(frames) >= 2 else prompts.DEFAULT_KEYFRAMES
    labels_text = _labels_text(labels)

    def build() -> BuiltPrompt:
        wav = prompts.encode_audio_wav(audio_path)
        return prompts.build_revision_messages(current_layout_dict, request_text, wav, analysis, history,
                                               labels_text, settings.include_cues, events=events)

    revision = {
        "request": request_text,
        "prior_layout": current_layout_dict,
        "history": [{"layout": t.layout, "request": t.request_text} for t in history],
    }
    return _run(settings, build, audio_path, n_keyframes, float(analysis.duration_s), labels_text,
                revision, bool(analysis.sources), progress, is_cancelled, sleep)


def settings_with_key(settings: LLMSettings, api_key: str | None) -> LLMSettings:
    """A copy of ``settings`` holding ``api_key`` (e.g. typed into the settings dialog)."""
    return replace(settings, api_key=api_key)
