"""Reading JSON files with one clear error, and atomic writes: a crash mid-save never loses the previous version.

An atomic write goes through a temporary file beside the target, ``.<name>.<owner>.<random>.tmp``, where
``<owner>`` is ``<host tag>-<pid>`` of the writing process. A process killed mid-write (SIGKILL, power cut)
leaves that file behind; the next successful write of the same target deletes it once its writer is known to
be dead (same host, no such process) or, when that cannot be checked (another host, Windows, a name without an
owner), once it is :data:`STALE_TEMP_AGE_S` old. So leftovers never pile up in a project folder, and a write in
progress in another process is never pulled from under it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.errors import InputError

TEMP_SUFFIX = ".tmp"
#: A leftover temporary file whose writer cannot be checked is deleted once it is this old (seconds).
STALE_TEMP_AGE_S = 3600.0
#: Which host wrote a temporary file: a pid means nothing on another machine sharing the folder.
HOST_TAG = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
#: What lies between ``.<name>.`` and ``.tmp``: an optional ``<host tag>-<pid>.``, then mkstemp's 8 random
#: characters (exactly: a person's own ``.scene.spa2v.backup.tmp`` is not ours to delete).
_TEMP_MIDDLE = re.compile(r"(?:(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)\.)?[a-z0-9_]{8}")


def _one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) made one space: error messages are one line."""
    return " ".join(str(text).split())


def read_json_file(path: str | Path, max_bytes: int | None = None, what: str = "file") -> Any:
    """The JSON value in ``path``; a missing, unreadable or malformed file raises :class:`InputError` naming
    the file and, for bad JSON, the line and column.

    ``max_bytes`` refuses a larger file before reading it (``what`` names the kind of file in that message,
    e.g. "layout file"), so that a wrong file chosen by mistake cannot fill the memory. A UTF-8 byte order
    mark (Windows editors write one) is skipped; nesting too deep for the parser is an InputError as well.
    """
    path = Path(path)
    try:
        if max_bytes is not None and path.is_file() and (size := path.stat().st_size) > max_bytes:
            raise InputError(f"{path}: the file is {size / 2**20:.1f} MB; a {what} is at most "
                             f"{max_bytes / 2**20:.0f} MB (is this the right file?)")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                         "expected a JSON text file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({_one_line(exc)})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        # Python's parser recurses once per nested [ or {; thousands deep is never a layout or a project.
        raise InputError(f"{path}: not usable JSON: lists or objects nested too deeply") from None


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync, then rename.

    On any error (or interruption) the previous content of ``path`` is left as it was and the temporary
    file is deleted; after a successful write, temporary files that writers of ``path`` killed mid-write
    left behind are deleted too (see the module docstring).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{HOST_TAG}-{os.getpid()}.", suffix=TEMP_SUFFIX,
                                    dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode the file had, or the usual one.
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_name, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)  # make the rename itself durable
    remove_stale_temp_files(path)


def _fsync_folder(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are durable enough
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _writer_alive(host: str | None, pid_text: str | None) -> bool | None:
    """Whether the process that named a temporary file still runs; None when that cannot be told."""
    if host != HOST_TAG or pid_text is None or os.name != "posix":
        return None  # os.kill on Windows would end the process, not probe it
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # another thread of this process may be writing the same file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except (OSError, OverflowError):
        return None
    return True


def remove_stale_temp_files(path: str | Path) -> list[Path]:
    """Delete the temporary files of atomic writes of ``path`` whose writer died mid-write (see the module
    docstring); returns those deleted. Best effort: a file that cannot be deleted is left alone."""
    path = Path(path)
    prefix = f".{path.name}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        match = _TEMP_MIDDLE.fullmatch(name[len(prefix):-len(TEMP_SUFFIX)])
        if match is None:  # another file's temporary file (".a.json.bak.….tmp" for "a.json"), or not ours
            continue
        try:
            alive = _writer_alive(match.group("host"), match.group("pid"))
            if alive is None:
                alive = now - entry.stat(follow_symlinks=False).st_mtime < STALE_TEMP_AGE_S
            if alive or not entry.is_file(follow_symlinks=False):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))
