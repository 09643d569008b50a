"""Playback of the loaded recording through PortAudio (sounddevice), friture-style.

No Python work happens in the audio callback beyond copying: a feeder thread reads blocks of the file
into a bounded queue, the callback copies prepared frames out (zeros on an underrun) and advances an
integer frame counter, and a 10 ms ``QTimer`` on the GUI thread reads that counter to move the
playhead. Where PortAudio or an output device is missing, :attr:`Player.available` is False with a
reason in :attr:`Player.unavailable_reason`; every other part of the studio keeps working.

The stream runs at the file's own sample rate; only if the device refuses it does the feeder resample
(linear interpolation, continuous across blocks) to the device's default rate.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

#: ``factory(samplerate, channels, callback) -> stream`` with start(), stop(), close().
StreamFactory = Callable[[int, int, Callable[..., None]], Any]

#: Frames per block the feeder reads.
FEED_BLOCK_FRAMES = 2048
#: Blocks buffered ahead of the callback (~0.7 s at 48 kHz).
QUEUE_BLOCKS = 16
#: Playhead refresh period (friture: 10 ms).
TICK_MS = 10


def _sounddevice_factory() -> tuple[StreamFactory | None, str, Callable[[], int] | None]:
    """The real stream factory, or (None, reason) when PortAudio or an output device is missing."""
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library not found
        return None, f"Playback is off: the PortAudio library is missing ({exc}).", None
    try:
        device = sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError, OSError) as exc:
        return None, f"Playback is off: no audio output device was found ({exc}).", None

    def factory(samplerate: int, channels: int, callback: Callable[..., None]) -> Any:
        return sd.OutputStream(
            samplerate=samplerate, channels=channels, dtype="float32", callback=callback, latency="low"
        )

    def default_rate() -> int:
        return int(device["default_samplerate"])

    return factory, "", default_rate


def _is_stream_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    try:
        import sounddevice as sd
    except OSError:
        return False
    return isinstance(exc, sd.PortAudioError)


class _LinearResampler:
    """Continuous linear-interpolation resampling of consecutive blocks (device refused the rate)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.step = from_rate / float(to_rate)
        self.reset()

    def reset(self) -> None:
        self._prev = np.zeros((1, 2), np.float32)
        self._phase = 0.0  # position of the next output sample, relative to _prev[0]

    def process(self, block: np.ndarray) -> np.ndarray:
        data = np.concatenate([self._prev, block], axis=0)
        n = data.shape[0]
        positions = np.arange(self._phase, n - 1, self.step)
        if positions.size == 0:
            self._prev = data[-1:]
            self._phase -= n - 1
            return np.zeros((0, 2), np.float32)
        base = np.arange(n)
        out = np.stack([np.interp(positions, base, data[:, c]) for c in range(2)], axis=1)
        self._phase = positions[-1] + self.step - (n - 1)
        self._prev = data[-1:]
        return out.astype(np.float32)


class ArraySource:
    """Samples in memory that the :class:`Player` plays like a file (an audition of the layout, say)."""

    def __init__(self, samples: np.ndarray, sample_rate: int) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[1] != 2 or int(sample_rate) <= 0:
            raise ValueError(f"expected (n, 2) samples and a positive rate, got {samples.shape} at {sample_rate}")
        self.samples = np.ascontiguousarray(samples)
        self.sample_rate = int(sample_rate)
        self.frames = int(samples.shape[0])

    def blocks(self, block_frames: int, start: int = 0) -> Iterator[np.ndarray]:
        """Consecutive (n, 2) float32 blocks from ``start`` to the end; the last one may be shorter."""
        for at in range(max(0, int(start)), self.frames, int(block_frames)):
            yield self.samples[at:at + int(block_frames)]


class Player(QObject):
    """Plays an :class:`engine.audio.io.AudioSource`; the playhead is :attr:`position_s`.

    Signals: ``positionChanged(float)`` seconds, every 10 ms while playing and after a seek;
    ``stateChanged(bool)`` playing or not; ``finished()`` at the end of the file;
    ``availabilityChanged(bool, str)`` when playback turns out (un)available.
    """

    positionChanged = Signal(float)
    stateChanged = Signal(bool)
    finished = Signal()
    availabilityChanged = Signal(bool, str)

    def __init__(
        self,
        stream_factory: StreamFactory | None = None,
        device_rate: Callable[[], int] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``stream_factory`` replaces sounddevice (tests); ``device_rate`` gives the fallback rate."""
        super().__init__(parent)
        self.unavailable_reason = ""
        if stream_factory is None:
            stream_factory, self.unavailable_reason, device_rate = _sounddevice_factory()
        self._factory = stream_factory
        self._device_rate = device_rate
        self._source: Any = None
        self._stream: Any = None
        self._stream_rate = 0
        self._resampler: _LinearResampler | None = None
        self._playing = False
        # Shared with the callback and the feeder; guarded by _lock (held only for a few assignments).
        self._lock = threading.Lock()
        self._generation = 0
        self._base_frame = 0  # file frame where the current generation starts
        self._played = 0  # stream frames played since _base_frame
        self._current: np.ndarray | None = None  # block being copied out
        self._current_offset = 0
        self._eof = False
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._wake = threading.Condition()
        self._stop_feeder = False
        self._feeder: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    # --- public API ------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._factory is not None

    @property
    def is_playing(self) -> bool:
        return self._playing

    @property
    def has_source(self) -> bool:
        return self._source is not None

    @property
    def duration_s(self) -> float:
        return 0.0 if self._source is None else self._source.frames / float(self._source.sample_rate)

    @property
    def position_s(self) -> float:
        """The playhead in seconds of the file: what the output has consumed so far."""
        if self._source is None:
            return 0.0
        rate = float(self._source.sample_rate)
        with self._lock:
            base, played = self._base_frame, self._played
        if self._resampler is None:
            return min(base + played, self._source.frames) / rate
        return min(base / rate + played / float(self._stream_rate), self._source.frames / rate)

    @property
    def position_frames(self) -> int:
        """The playhead in frames of the file."""
        return round(self.position_s * (self._source.sample_rate if self._source else 0))

    @property
    def buffered_frames(self) -> int:
        """Frames prepared by the feeder and not yet played (for tests and diagnostics)."""
        with self._queue.mutex:
            blocks = list(self._queue.queue)
        current = self._current
        extra = 0 if current is None else current.shape[0] - self._current_offset
        return extra + sum(b[2].shape[0] for b in blocks if b[2] is not None)

    def load(self, source: Any) -> None:
        """Play ``source`` from now on (stops what was playing). Opens the output stream."""
        self._close_stream()
        self._source = source
        with self._lock:
            self._generation += 1
            self._base_frame = 0
            self._played = 0
            self._eof = False
            self._current = None
        self._drain()
        if self._factory is None or source is None:
            return
        self._open_stream(int(source.sample_rate))
        if self._stream is not None:
            self._start_feeder()
        self.positionChanged.emit(0.0)

    def switch_source(self, source: Any) -> None:
        """Play ``source`` from the same time on, playing if it was (A/B listening: the recording and another
        version of it, of the same length)."""
        was_playing, at = self._playing, self.position_s
        if was_playing:
            self.pause()
        self.load(source)
        self.seek(at)
        if was_playing:
            self.play()

    def play(self) -> None:
        if self._stream is None or self._playing:
            return
        if self.position_frames >= self._source.frames:
            self.seek(0.0)
        try:
            self._stream.start()
        except Exception as exc:
            if not _is_stream_error(exc):
                raise
            self._disable(f"Playback is off: the output stream did not start ({exc}).")
            return
        self._playing = True
        self._timer.start()
        self.stateChanged.emit(True)

    def pause(self) -> None:
        if not self._playing:
            return
        self._playing = False
        self._timer.stop()
        try:
            self._stream.stop()
        except Exception as exc:  # a vanished device must not take the studio down
            log.warning("stopping the output stream failed: %s", exc)
        self.stateChanged.emit(False)
        self.positionChanged.emit(self.position_s)

    def toggle(self) -> None:
        if self._playing:
            self.pause()
        else:
            self.play()

    def seek(self, time_s: float) -> None:
        """Move the playhead to ``time_s`` (clamped to the file)."""
        if self._source is None:
            return
        frame = int(np.clip(round(time_s * self._source.sample_rate), 0, self._source.frames))
        with self._lock:
            self._generation += 1
            self._base_frame = frame
            self._played = 0
            self._current = None
            self._eof = False
        self._drain()
        with self._wake:
            self._wake.notify_all()
        self.positionChanged.emit(self.position_s)

    def close(self) -> None:
        """Stop playback, close the stream and join the feeder thread."""
        self._close_stream()
        self._source = None

    # --- the audio callback (PortAudio's thread): copy only ------------------------------------------

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        written = 0
        with self._lock:
            generation = self._generation
            while written < frames:
                current = self._current
                if current is None:
                    try:
                        gen, _start, block = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if gen != generation:
                        continue
                    if block is None:
                        self._eof = True
                        break
                    self._current, self._current_offset = block, 0
                    continue
                take = min(frames - written, current.shape[0] - self._current_offset)
                outdata[written : written + take] = current[self._current_offset : self._current_offset + take]
                self._current_offset += take
                written += take
                if self._current_offset >= current.shape[0]:
                    self._current = None
            self._played += written
        if written < frames:
            outdata[written:] = 0.0

    # --- the feeder thread ---------------------------------------------------------------------------

    def _feed(self) -> None:
        generation = -1
        blocks = None
        source = self._source
        while not self._stop_feeder:
            with self._lock:
                current_gen, base = self._generation, self._base_frame
            if current_gen != generation:
                generation = current_gen
                blocks = source.blocks(FEED_BLOCK_FRAMES, start=base)
                position = base
                if self._resampler is not None:
                    self._resampler.reset()
            try:
                block = next(blocks) if blocks is not None else None
            except StopIteration:
                block = None
            except Exception as exc:  # a read fault: end playback here, say why in the log
                log.warning("reading audio for playback failed: %s", exc)
                block = None
            if block is None:
                self._put((generation, position, None), generation)
                blocks = None
                with self._wake:  # wait for a seek (or the end)
                    self._wake.wait_for(lambda g=generation: self._stop_feeder or self._generation != g, 0.5)
                continue
            start = position
            position += block.shape[0]
            if self._resampler is not None:
                block = self._resampler.process(block)
            self._put((generation, start, block), generation)

    def _put(self, item: tuple, generation: int) -> None:
        while not self._stop_feeder and self._generation == generation:
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _start_feeder(self) -> None:
        self._stop_feeder = False
        self._feeder = threading.Thread(target=self._feed, name="spa2v-playback-feeder", daemon=True)
        self._feeder.start()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    # --- stream management ---------------------------------------------------------------------------

    def _open_stream(self, rate: int) -> None:
        self._resampler = None
        try:
            self._stream = self._factory(rate, 2, self._callback)
            self._stream_rate = rate
            return
        except Exception as exc:
            if not _is_stream_error(exc) and not isinstance(exc, ValueError):
                raise
            first_error = exc
        fallback = None
        if self._device_rate is not None:
            try:
                fallback = int(self._device_rate())
            except Exception:
                fallback = None
        if fallback and fallback != rate:
            try:
                self._stream = self._factory(fallback, 2, self._callback)
                self._stream_rate = fallback
                self._resampler = _LinearResampler(rate, fallback)
                log.info("the output device refused %d Hz; resampling to %d Hz", rate, fallback)
                return
            except Exception as exc:
                if not _is_stream_error(exc) and not isinstance(exc, ValueError):
                    raise
        self._disable(f"Playback is off: the audio output could not be opened ({first_error}).")

    def _disable(self, reason: str) -> None:
        log.warning("%s", reason)
        self._factory = None
        self.unavailable_reason = reason
        self._stream = None
        self.availabilityChanged.emit(False, reason)

    def _close_stream(self) -> None:
        was_playing = self._playing
        self._playing = False
        self._timer.stop()
        if self._feeder is not None:
            self._stop_feeder = True
            with self._wake:
                self._wake.notify_all()
            self._feeder.join(timeout=5.0)
            self._feeder = None
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception as exc:
                log.warning("closing the output stream failed: %s", exc)
            self._stream = None
        self._drain()
        if was_playing:
            self.stateChanged.emit(False)

    def _tick(self) -> None:
        self.positionChanged.emit(self.position_s)
        if self._eof:
            self._playing = False
            self._timer.stop()
            try:
                self._stream.stop()
            except Exception as exc:
                log.warning("stopping the output stream failed: %s", exc)
            self.stateChanged.emit(False)
            self.finished.emit()
