"""Saves survive a crash at any moment (SPEC.md: "a crash mid-save never loses the previous version").

The main test kills a process that saves ~3 MB projects in a loop with SIGKILL, 200 times, at random moments
(seeded; every other kill aimed at a moment when the saver's temporary file exists), and checks after every
kill that the project file loads and is exactly one complete version: the last one whose save returned, or
the one being saved if its rename had happened. A kill that leaves the temporary file of
:func:`engine.fileio.atomic_write_bytes` behind landed mid-write; the contract checked for those leftovers is
the one of :mod:`engine.fileio`: the next successful save of the same file deletes them (their writer is
dead), so none pile up, and they never stand in the way of a save.

The saving processes are forked by one server process (tests/hardening/save_worker.py) that has imported the
engine already, so a kill costs milliseconds, not an interpreter start. A control run with a save that writes
in place (not atomic) shows that the same harness does catch a torn file.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.fileio import HOST_TAG, STALE_TEMP_AGE_S, TEMP_SUFFIX, atomic_write_text, remove_stale_temp_files
from engine.project import load_project, save_project
from tests.hardening.save_worker import version_of, version_project

REPO_ROOT = Path(__file__).resolve().parents[2]
KILLS = 200
SEED = 20_240_605
#: A kill comes this long (uniformly drawn) after the saver reports its first save started: a few saves'
#: worth, so kills land before the first save completes, mid-loop, mid-write and between writes.
MAX_KILL_DELAY_S = 0.15
#: Every other kill is aimed at a write: after a random delay the test watches for the saver's temporary file
#: and kills it up to this long after the file appears (a random kill lands mid-write only ~10 % of the time,
#: since serialising a project takes longer than writing it; on a fast disk or tmpfs, less).
AIM_WINDOW_S = 0.003
#: How long to wait for a line from the server before calling it hung.
LINE_TIMEOUT_S = 30.0

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL") or not hasattr(os, "fork"),
    reason="needs SIGKILL and fork (POSIX); Windows has neither",
)


# ------------------------------------------------------------------------------------------ the save server


class SaveServer:
    """The fork server of tests/hardening/save_worker.py, driven line by line."""

    def __init__(self, project_path: Path, unsafe: bool = False) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "tests.hardening.save_worker", str(project_path)]
        self.process = subprocess.Popen(
            [*command, "--unsafe"] if unsafe else command, cwd=REPO_ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="save-server-reader", daemon=True)
        self._reader.start()
        self.child_pid: int | None = None
        self._expect("ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next_line(self) -> str:
        try:
            line = self._lines.get(timeout=LINE_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"the save server said nothing for {LINE_TIMEOUT_S} s") from None
        if line is None:
            stderr = self.process.stderr.read() if self.process.stderr is not None else ""
            raise AssertionError(f"the save server ended (exit {self.process.poll()}): {stderr[-2000:]}")
        return line

    def _expect(self, wanted: str) -> None:
        line = self._next_line()
        assert line == wanted, f"the save server said {line!r}, expected {wanted!r}"

    def start_saver(self, first_version: int) -> int:
        """Fork a saver that saves versions ``first_version``, ``first_version + 1``, …; returns its pid once
        its first save has begun."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"fork {first_version}\n")
        self.process.stdin.flush()
        word, pid = self._next_line().split()
        assert word == "child", word
        self.child_pid = int(pid)
        self._expect(f"start {first_version}")
        return self.child_pid

    def kill_saver(self) -> list[str]:
        """SIGKILL the saver; returns what it had printed after its first ``start`` once it is reaped."""
        assert self.child_pid is not None
        pid, self.child_pid = self.child_pid, None
        os.kill(pid, signal.SIGKILL)
        printed = []
        while (line := self._next_line()) != f"reaped {pid}":
            printed.append(line)
        return printed

    def close(self) -> None:
        """Kill any saver left, stop the server and the reader."""
        if self.child_pid is not None:
            with suppress(ProcessLookupError):
                os.kill(self.child_pid, signal.SIGKILL)
        try:
            if self.process.stdin is not None:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextmanager
def save_server(project_path: Path, unsafe: bool = False) -> Iterator[SaveServer]:
    server = SaveServer(project_path, unsafe=unsafe)
    try:
        yield server
    finally:
        server.close()


def temp_files(project_path: Path) -> list[Path]:
    """The temporary files of atomic writes of ``project_path`` in its folder."""
    return sorted(p for p in project_path.parent.iterdir()
                  if p.name.startswith(f".{project_path.name}.") and p.name.endswith(TEMP_SUFFIX))


def wait_for_write(project_path: Path, pid: int, timeout_s: float = 2.0) -> bool:
    """Poll until saver ``pid`` has a temporary file of ``project_path`` (it is writing); False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(writer_pid(p) == pid for p in temp_files(project_path)):
            return True
    return False


def writer_pid(temp_file: Path) -> int:
    """The pid in a temporary file's name (``.<name>.<host>-<pid>.<random>.tmp``)."""
    return int(temp_file.name.rsplit(".", 3)[-3].split("-")[1])


# ------------------------------------------------------------------------------------------ the tally


@dataclass
class Tally:
    """What the kills did: the figures the test prints."""

    kills: int = 0
    aimed: int = 0  # kills sent just after the saver's temporary file was seen
    mid_write: int = 0  # a temporary file was left: killed between creating it and the rename
    mid_write_aimed: int = 0
    before_first_save: int = 0  # the saver had completed no save yet: the previous saver's version must stay
    renamed_unreported: int = 0  # the file held the version being saved although "done" was not printed
    leftovers_cleaned: int = 0  # leftovers of dead savers that a later save deleted
    versions_seen: set[int] = field(default_factory=set)


def check_file_after_kill(project_path: Path, committed: int | None, last_started: int) -> int | None:
    """The version the project file holds after a kill, checked: it loads, it is exactly that version as
    written, not older than the last save that returned (``committed``) and not newer than the last one
    begun. None when there is no file yet (allowed only before any save returned)."""
    if not project_path.exists():
        assert committed is None, f"the project file is gone although version {committed} was saved"
        return None
    try:
        loaded, _warnings = load_project(project_path)
    except InputError as exc:
        raise AssertionError(f"after a kill the project does not load: {exc}") from None
    version = version_of(loaded)
    assert loaded == version_project(version), f"the file holds a torn or mixed version {version}"
    if committed is not None:
        assert version >= committed, f"version {committed} was saved, yet the file holds version {version}"
    assert version <= last_started, f"the file holds version {version}, never saved"
    return version


# ------------------------------------------------------------------------------------------ tests


def test_200_kills_at_random_moments_never_lose_or_tear_the_project(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    project_path = tmp_path / "scene.spa2v"
    tally = Tally()
    committed: int | None = None  # the newest version whose save returned ("done" printed), or that is on disk
    next_version = 1
    started = time.monotonic()
    with save_server(project_path) as server:
        for kill in range(KILLS):
            leftovers_before = set(temp_files(project_path))
            pid = server.start_saver(next_version)
            aimed = kill % 2 == 1
            if aimed:
                time.sleep(rng.uniform(0.0, MAX_KILL_DELAY_S / 2))
                wait_for_write(project_path, pid)
                time.sleep(rng.uniform(0.0, AIM_WINDOW_S))
            else:
                time.sleep(rng.uniform(0.0, MAX_KILL_DELAY_S))
            printed = server.kill_saver()
            tally.kills += 1
            tally.aimed += aimed

            starts = [next_version] + [int(line.split()[1]) for line in printed if line.startswith("start ")]
            dones = [int(line.split()[1]) for line in printed if line.startswith("done ")]
            assert starts == list(range(next_version, next_version + len(starts))), printed
            assert dones == starts[:len(dones)], printed
            if dones:
                committed = dones[-1]
            else:
                tally.before_first_save += 1
            version = check_file_after_kill(project_path, committed, starts[-1])
            if version is not None:
                tally.versions_seen.add(version)
                if version != committed:
                    tally.renamed_unreported += 1
                    assert version == starts[-1] and len(starts) == len(dones) + 1
                committed = version

            leftovers = temp_files(project_path)
            mine = [p for p in leftovers if writer_pid(p) == pid]
            assert len(mine) <= 1, f"one saver left {len(mine)} temporary files: {mine}"
            tally.mid_write += len(mine)
            tally.mid_write_aimed += len(mine) if aimed else 0
            if mine:
                assert len(starts) > len(dones), "a temporary file was left although every save had returned"
            others = [p for p in leftovers if p not in mine]
            if dones:  # a save returned after the previous savers died: it must have deleted their leftovers
                assert not others, f"leftovers of dead savers survived a later save: {others}"
            tally.leftovers_cleaned += len(leftovers_before - set(leftovers))
            next_version = starts[-1] + 1

    # A save from this (live) process deletes every leftover of the dead savers and leaves only the file.
    left = temp_files(project_path)
    save_project(version_project(next_version), project_path)
    tally.leftovers_cleaned += len(left)
    assert [p.name for p in tmp_path.iterdir()] == [project_path.name]
    assert version_of(load_project(project_path)[0]) == next_version

    elapsed_s = time.monotonic() - started
    print(f"\ncrash safety: {tally.kills} kills survived, {tally.mid_write} mid-write (temporary file left; "
          f"{tally.mid_write - tally.mid_write_aimed} of {tally.kills - tally.aimed} random kills, "
          f"{tally.mid_write_aimed} of {tally.aimed} aimed at a write), "
          f"{tally.before_first_save} before the saver's first save returned, {tally.renamed_unreported} after "
          f"the rename but before the save returned; {len(tally.versions_seen)} distinct versions seen on disk; "
          f"{tally.leftovers_cleaned} leftovers deleted by later saves; {elapsed_s:.1f} s")
    assert tally.kills == KILLS
    # The harness must really hit saves in progress, or it proves nothing.
    assert tally.mid_write >= KILLS // 20, f"only {tally.mid_write} of {KILLS} kills landed mid-write"
    assert len(tally.versions_seen) >= KILLS // 10, "the saves hardly ever got through: the kills came too soon"


def test_the_harness_catches_a_save_that_is_not_atomic(tmp_path: Path) -> None:
    """Control: the same kills against a save that writes the file in place tear it sooner or later."""
    rng = random.Random(SEED + 1)
    project_path = tmp_path / "scene.spa2v"
    save_project(version_project(0), project_path)
    torn_after: int | None = None
    next_version = 1
    with save_server(project_path, unsafe=True) as server:
        for kill in range(1, 101):
            server.start_saver(next_version)
            time.sleep(rng.uniform(0.0, MAX_KILL_DELAY_S))
            printed = server.kill_saver()
            next_version += 1 + sum(line.startswith("start ") for line in printed)
            try:
                version_of(load_project(project_path)[0])
            except (InputError, ValueError, AssertionError):
                torn_after = kill
                break
    print(f"\nnon-atomic control: a torn project file after {torn_after} kills")
    assert torn_after is not None, "100 kills never caught a save writing in place: the harness is blind"


def test_leftovers_are_deleted_only_when_their_writer_is_gone(tmp_path: Path) -> None:
    """The rule of :func:`engine.fileio.remove_stale_temp_files`, case by case."""
    target = tmp_path / "a.json"
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # reaped: its pid names no process any more
    old = time.time() - STALE_TEMP_AGE_S - 60

    def leftover(middle: str, age_old: bool = False, name: str = "a.json") -> Path:
        path = tmp_path / f".{name}.{middle}{TEMP_SUFFIX}"
        path.write_text("half a save", encoding="utf-8")
        if age_old:
            os.utime(path, (old, old))
        return path

    dead = leftover(f"{HOST_TAG}-{ended.pid}.abcd1234")
    live_other = leftover(f"{HOST_TAG}-{os.getppid()}.abcd1234")  # a running process (pytest's parent)
    own = leftover(f"{HOST_TAG}-{os.getpid()}.abcd1234", age_old=True)  # another thread of ours may be writing
    other_tag = "0badc0de" if HOST_TAG != "0badc0de" else "0badc0df"
    other_host = leftover(f"{other_tag}-{ended.pid}.abcd1234")  # its pid means nothing here
    other_host_old = leftover(f"{other_tag}-{ended.pid}.efgh5678", age_old=True)
    unnamed_young = leftover("k2j3h4g5")  # the names before owners were written: by age only
    unnamed_old = leftover("z9y8x7w6", age_old=True)
    other_target = leftover(f"{HOST_TAG}-{ended.pid}.abcd1234", name="a.json.bak")
    not_a_temp = leftover("backup", age_old=True)  # a person's own ".a.json.backup.tmp"

    atomic_write_text(target, "whole")
    remaining = {p.name for p in tmp_path.iterdir()}
    assert target.read_text(encoding="utf-8") == "whole"
    for gone in (dead, other_host_old, unnamed_old):
        assert gone.name not in remaining, gone.name
    for kept in (live_other, own, other_host, unnamed_young, other_target, not_a_temp):
        assert kept.name in remaining, kept.name
    assert remove_stale_temp_files(target) == []  # nothing more to delete
