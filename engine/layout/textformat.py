"""Text forms of a layout: the paper's textual VSL format, and a forgiving JSON reader for LLM answers.

The paper's format (SpA2V, appendix A, figures 6–7) is what its MLLM planner writes::

    Reasoning: The sounds are from a piano and a woman ...
    Frame 1: {"frame layout": [{"id": 0, "name": "piano", "box": [245.9, 165.8, 357.1, 255.1]}, ...],
              "frame caption": "In a room with dark walls ..."}
    ...
    Frame 5: {"frame layout": [...], "frame caption": "..."}
    Video Caption: Two individuals are in a room ...

It carries no canvas, duration or keyframe times: frame k of N is read as the keyframe at
``(k−1)·D/(N−1)`` (SPEC.md), so a round trip through this format puts the keyframes on that grid.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.errors import InputError
from engine.layout.model import VSL_FORMAT, VSL_VERSION, Canvas, VideoLayout, keyframe_times

# "Frame 3:" possibly in markdown bold ("**Frame 3:**") or with the colon outside the bold.
_FRAME_MARK = re.compile(r"\*{0,2}\s*frame\s*(\d+)\s*\*{0,2}\s*:\s*\*{0,2}", re.IGNORECASE)
_VIDEO_CAPTION_MARK = re.compile(r"\*{0,2}\s*video[ _]caption\s*\*{0,2}\s*:\s*\*{0,2}", re.IGNORECASE)
_REASONING_MARK = re.compile(r"\*{0,2}\s*reasoning\s*\*{0,2}\s*:\s*\*{0,2}", re.IGNORECASE)
_VSL_MARK = re.compile(r"\*{0,2}\s*vsl\s*\*{0,2}\s*:\s*\*{0,2}\s*$", re.IGNORECASE)

_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}
_CLOSERS_AFTER_STRING = ",:}]"


# ------------------------------------------------------------------------------------ relaxed JSON


def find_balanced(text: str, start: int = 0, opener: str = "{") -> tuple[int, int] | None:
    """``(begin, end)`` of the first bracketed span opening with ``opener`` at or after ``start``.

    Brackets inside quoted strings (either quote) do not count. When the text ends before the span
    closes, the span runs to the end of the text (the reader then reports what is missing).
    """
    closer = {"{": "}", "[": "]"}[opener]
    begin = text.find(opener, start)
    if begin < 0:
        return None
    depth = 0
    quote: str | None = None
    i = begin
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote and (quote == '"' or _string_ends_here(text, i)):
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0 and ch == closer:
                return begin, i + 1
        i += 1
    return begin, len(text)


def _string_ends_here(text: str, i: int) -> bool:
    """Whether the single quote at ``i`` closes a string (not an apostrophe as in "the man's car").

    A closing quote is followed by one of ``, : } ]`` or the end (after optional spaces).
    """
    rest = text[i + 1:].lstrip()
    return not rest or rest[0] in _CLOSERS_AFTER_STRING


def relaxed_json_loads(text: str) -> tuple[Any, list[str]]:
    """Parse JSON as LLMs write it: the value and one note per kind of fix that was needed.

    Fixed: single-quoted strings (apostrophes inside them are kept), Python's ``True``/``False``/``None``,
    trailing commas, ``//`` and ``#`` comments, raw line breaks inside strings. Raises :class:`InputError`
    (without a file name: the caller knows where the text came from) when it still is not JSON.
    """
    try:
        return json.loads(text), []
    except json.JSONDecodeError:
        pass
    fixed, notes = _relax(text)
    try:
        return json.loads(fixed), notes
    except json.JSONDecodeError as exc:
        snippet = fixed[max(0, exc.pos - 30): exc.pos + 30].replace("\n", " ")
        raise InputError(f"not valid JSON even after repairs: {exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno} (near {snippet!r})") from None


def _relax(text: str) -> tuple[str, list[str]]:
    """Rewrite near-JSON into JSON, token by token, so that nothing inside strings is touched by mistake."""
    out: list[str] = []
    fixes: set[str] = set()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            i = _copy_string(text, i, out, fixes)
            continue
        if ch == "," and _next_significant(text, i + 1) in ("}", "]"):
            fixes.add("trailing commas removed")
            i += 1
            continue
        if ch == "#" or text.startswith("//", i):
            fixes.add("comments removed")
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch.isalpha() or ch == "_":
            match = re.match(r"[A-Za-z_][A-Za-z_0-9]*", text[i:])
            word = match.group(0) if match else ch
            if word in _PYTHON_WORDS:
                fixes.add("Python literals (True/False/None) read as JSON (true/false/null)")
                word = _PYTHON_WORDS[word]
            out.append(word)
            i += len(match.group(0)) if match else 1
            continue
        out.append(ch)
        i += 1
    return "".join(out), sorted(fixes)


def _next_significant(text: str, i: int) -> str:
    """The next character after ``i`` that is not white space or inside a comment ('' at the end)."""
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        else:
            return text[i]
    return ""


def _copy_string(text: str, start: int, out: list[str], fixes: set[str]) -> int:
    """Copy the string starting at ``start`` as a double-quoted JSON string; return the index after it."""
    quote = text[start]
    if quote == "'":
        fixes.add("single quotes read as double quotes")
    out.append('"')
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            # \' is not a JSON escape; the quote needs none inside a double-quoted string.
            out.append("'" if nxt == "'" else ch + nxt)
            i += 2
            continue
        if ch == quote and (quote == '"' or _string_ends_here(text, i)):
            out.append('"')
            return i + 1
        if ch == '"':  # only reachable inside a single-quoted string
            out.append('\\"')
        elif ch == "\n":
            fixes.add("line breaks inside strings escaped")
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(ch)
        i += 1
    return i  # unterminated: json.loads will say so


# ------------------------------------------------------------------------------------ paper format


def looks_like_paper_text(text: str) -> bool:
    """Whether ``text`` holds at least one ``Frame k: {`` entry of the paper's format."""
    return any(text[m.end():].lstrip().startswith("{") for m in _FRAME_MARK.finditer(text))


def parse_paper_text(text: str, canvas: Canvas | None = None, duration_s: float | None = None,
                     n_keyframes: int | None = None) -> dict[str, Any]:
    """Read the paper's textual format into a VSL-shaped dict (not yet validated or repaired).

    Frame k becomes the keyframe at ``(k−1)·D/(N−1)`` with N = ``n_keyframes`` or, when not given, the largest
    frame number; without ``duration_s`` no times are set (and no ``duration_s``). Objects are kept as written
    (``{"id", "name", "box"}``). ``Reasoning:`` before the first frame and ``Video Caption:`` after the last are
    read when present. Raises :class:`InputError` when no ``Frame k: {...}`` entry is found or one cannot be read.
    """
    data, _notes = parse_paper_text_with_notes(text, canvas, duration_s, n_keyframes)
    return data


def parse_paper_text_with_notes(text: str, canvas: Canvas | None = None, duration_s: float | None = None,
                                n_keyframes: int | None = None) -> tuple[dict[str, Any], list[str]]:
    """:func:`parse_paper_text`, and the notes of the JSON fixes the frames needed."""
    frames: list[tuple[int, Any]] = []
    notes: list[str] = []
    first_frame_at = last_end = None
    pos = 0
    while (match := _FRAME_MARK.search(text, pos)) is not None:
        if not text[match.end():].lstrip().startswith("{"):
            pos = match.end()  # "frame 2: the car enters" in prose is not an entry
            continue
        span = find_balanced(text, match.end())
        assert span is not None  # the text after the mark starts with "{"
        number = int(match.group(1))
        try:
            value, fixes = relaxed_json_loads(text[span[0]:span[1]])
        except InputError as exc:
            raise InputError(f"Frame {number}: {exc}") from None
        notes += [f for f in fixes if f not in notes]
        frames.append((number, value))
        first_frame_at = match.start() if first_frame_at is None else first_frame_at
        last_end, pos = span[1], span[1]
    if not frames:
        raise InputError("no 'Frame 1: {...}' entry found; expected the paper's format "
                         "'Frame 1: {\"frame layout\": [...], \"frame caption\": \"...\"} ... Video Caption: ...'")
    assert first_frame_at is not None and last_end is not None

    head = text[:first_frame_at]
    reasoning_match = _REASONING_MARK.search(head)
    reasoning = head[reasoning_match.end():] if reasoning_match else ""
    reasoning = _VSL_MARK.sub("", reasoning.strip()).strip()

    tail = text[last_end:]
    caption_match = _VIDEO_CAPTION_MARK.search(tail)
    video_caption = ""
    if caption_match:
        # The caption runs to the end of its paragraph; what follows a blank line is not part of it.
        video_caption = re.split(r"\n\s*\n", tail[caption_match.end():].strip(), maxsplit=1)[0].strip()
        video_caption = video_caption.strip("*").strip()

    n = n_keyframes or max(number for number, _ in frames)
    grid = keyframe_times(duration_s, max(n, 1)) if duration_s is not None else None
    keyframes: list[dict[str, Any]] = []
    for number, value in frames:
        frame: dict[str, Any] = {"frame_number": number}
        if isinstance(value, dict):
            frame["objects"] = _first_present(value, ("frame layout", "frame_layout", "objects", "layout"))
            frame["caption"] = _first_present(value, ("frame caption", "frame_caption", "caption"))
            if "time_s" in value:
                frame["time_s"] = value["time_s"]
        else:
            frame["objects"] = value  # "Frame 1: [...]" without the wrapper object
        if grid is not None and "time_s" not in frame and 1 <= number <= len(grid):
            frame["time_s"] = grid[number - 1]
        keyframes.append(frame)

    data: dict[str, Any] = {"format": VSL_FORMAT, "version": VSL_VERSION, "reasoning": reasoning,
                            "video_caption": video_caption, "keyframes": keyframes}
    if canvas is not None:
        data["canvas"] = {"width": canvas.width, "height": canvas.height}
    if duration_s is not None:
        data["duration_s"] = float(duration_s)
    return data, notes


def _first_present(mapping: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((mapping[key] for key in keys if key in mapping), None)


def format_paper_text(layout: VideoLayout, include_reasoning: bool = True) -> str:
    """The layout in the paper's textual format: ``Reasoning:``, one ``Frame k:`` line per keyframe, ``Video Caption:``.

    Times, duration and canvas are not part of this format (see the module docstring).
    """
    lines: list[str] = []
    if include_reasoning and layout.reasoning:
        lines += [f"Reasoning: {_one_line(layout.reasoning)}", ""]
    for k, frame in enumerate(layout.keyframes, start=1):
        entry = {
            "frame layout": [{"id": o.id, "name": o.name, "box": list(o.box)} for o in frame.objects],
            "frame caption": frame.caption,
        }
        lines.append(f"Frame {k}: {json.dumps(entry, ensure_ascii=False)}")
    lines += ["", f"Video Caption: {_one_line(layout.video_caption)}".rstrip()]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    # A blank line would end the reasoning or caption paragraph when the text is read back.
    return re.sub(r"\s*\n\s*", " ", text.strip())
