"""Audio embeddings for retrieving in-context examples (SpA2V picks its k examples by kNN over audio embeddings).

Two embedders share one small interface (``embedder_id`` and ``embed(path, analysis=None)``):

- :class:`CompactEmbedder` (the default, numpy/scipy only, no weights): what the recording sounds like
  (log-mel statistics of the mid signal) joined with where it sounds (a summary of the measured spatial cues).
  The paper retrieves with CLAP, whose embedding knows *what* sounds but not *where*; for a layout the
  "where" matters as much, so the compact embedding gives the two halves equal weight.
- :class:`ClapEmbedder`: a CLAP audio tower (transformers' ``ClapModel``) loaded from a local folder or the
  local hub cache, never downloaded; for users who have the weights and want the paper's retrieval.

Feature layout of the compact embedding (``FEATURE_VERSION`` names it; change the version with the layout):

=========  =======================================================================================
dims       content
=========  =======================================================================================
0..39      per mel band: mean log energy minus the mean over all bands (spectral shape), / 15 dB
40..79     per mel band: std of log energy over frames, centred at 10 dB, / 6 dB
80..119    per mel band: std of the frame-to-frame (10 ms) delta of log energy, centred at 3 dB, / 2 dB
120        overall level: mean log band power (dB re full-scale white noise), centred at -45 dB, / 20 dB
---------  ---------------------------------------------------------------------------------------
121..124   recording kind one-hot (binaural, spaced, panpot, mono), x 0.5
125..129   x 0.5: ILD median / 10 dB, ILD spread (IQR) / 10 dB, ITD median / 0.4 ms, ITD spread / 0.4 ms,
           coherence median (2c - 1); over frames within 30 dB of the loudest
130..133   number of sources one-hot (0, 1, 2, 3 or more)
134..136   side histogram over sources, confidence-weighted (left, center, right)
137..141   motion histogram over sources, confidence-weighted (the five SPEC motion labels)
142..145   most confident source: azimuth start / 90, azimuth end / 90, sweep (end - start) / 90,
           level change / 10 dB
=========  =======================================================================================

The mel block (0..120) and the spatial block (121..145) are each L2-normalised and scaled by
``sqrt(weight)`` before the whole vector is L2-normalised, so the cosine similarity of two embeddings is the
weighted mean of the two blocks' cosine similarities and neither block can dominate by its size.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.audio.io import open_audio, resampled_blocks
from engine.audio.model import Analysis, Motion, RecordingKind, Side
from engine.errors import InputError

log = logging.getLogger(__name__)

#: Names the compact feature layout; stored with every example so a changed layout is recomputed, not compared.
FEATURE_VERSION = "compact-v1"

#: Rate of the mel analysis: speech/instrument timbre lives below 8 kHz, and 16 kHz keeps the STFT cheap.
MEL_RATE = 16000
N_FFT = 512  # 32 ms at 16 kHz
HOP = 160  # 10 ms
N_MELS = 40
MEL_FMIN_HZ = 50.0
MEL_FMAX_HZ = 8000.0
#: At most this much audio is embedded (evenly spread blocks beyond it would only cost time).
MAX_EMBED_S = 120.0

MEL_DIM = 3 * N_MELS + 1
SPATIAL_DIM = 4 + 5 + 4 + 3 + 5 + 4
DIM = MEL_DIM + SPATIAL_DIM

#: Share of the cosine similarity carried by the mel ("what") and the spatial ("where") block.
MEL_WEIGHT = 0.5
SPATIAL_WEIGHT = 0.5

_KINDS = (RecordingKind.BINAURAL, RecordingKind.SPACED, RecordingKind.PANPOT, RecordingKind.MONO)
_SIDES = (Side.LEFT, Side.CENTER, Side.RIGHT)
_MOTIONS = (Motion.STATIONARY, Motion.MOVING_LEFT, Motion.MOVING_RIGHT, Motion.APPROACHING, Motion.RECEDING)


class Embedder(Protocol):
    """What the example store needs of an embedder."""

    #: Identifies the embedding space; embeddings with another id are never compared with these.
    embedder_id: str

    def embed(self, audio_path: str | Path, analysis: Analysis | None = None) -> np.ndarray:
        """A 1-D float32 L2-normalised embedding of the recording."""
        ...


# ------------------------------------------------------------------------------------------ mel block


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = MEL_RATE,
                   fmin_hz: float = MEL_FMIN_HZ, fmax_hz: float = MEL_FMAX_HZ) -> np.ndarray:
    """Triangular mel filters (HTK mel scale) of shape (n_mels, n_fft // 2 + 1), each with unit area."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    edges_hz = mel_to_hz(np.linspace(hz_to_mel(np.array(fmin_hz)), hz_to_mel(np.array(fmax_hz)), n_mels + 2))
    bins_hz = np.fft.rfftfreq(n_fft, 1.0 / rate)
    bank = np.zeros((n_mels, bins_hz.size))
    for m in range(n_mels):
        lo, centre, hi = edges_hz[m], edges_hz[m + 1], edges_hz[m + 2]
        rising = (bins_hz - lo) / (centre - lo)
        falling = (hi - bins_hz) / (hi - centre)
        bank[m] = np.maximum(0.0, np.minimum(rising, falling))
        area = bank[m].sum()
        if area > 0:
            bank[m] /= area
        else:  # a band narrower than one FFT bin at low frequencies: take the nearest bin
            bank[m, int(np.argmin(np.abs(bins_hz - centre)))] = 1.0
    return bank


class _MelStats:
    """Streaming sums of per-band log-mel energy and its deltas (bounded memory for long files)."""

    def __init__(self) -> None:
        self.bank = mel_filterbank()
        self.window = np.hanning(N_FFT + 1)[:-1].astype(np.float64)
        # Scaled so that white noise of variance s² gives band power s²: levels read as dBFS-like numbers.
        self.power_scale = 1.0 / float(np.sum(self.window**2))
        self.count = 0
        self.sum = np.zeros(N_MELS)
        self.sum_sq = np.zeros(N_MELS)
        self.delta_count = 0
        self.delta_sum = np.zeros(N_MELS)
        self.delta_sum_sq = np.zeros(N_MELS)
        self.carry = np.zeros(0)  # samples not yet covered by a whole frame
        self.last_frame: np.ndarray | None = None

    def feed(self, mid: np.ndarray) -> None:
        samples = np.concatenate([self.carry, mid.astype(np.float64)])
        n_frames = 0 if samples.size < N_FFT else 1 + (samples.size - N_FFT) // HOP
        if n_frames == 0:
            self.carry = samples
            return
        index = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
        spectrum = np.abs(np.fft.rfft(samples[index] * self.window, axis=1)) ** 2 * self.power_scale
        # -100 dB floor: digital silence must not produce -inf and swamp the statistics.
        log_mel = 10.0 * np.log10(spectrum @ self.bank.T + 1e-10)
        self.count += n_frames
        self.sum += log_mel.sum(axis=0)
        self.sum_sq += (log_mel**2).sum(axis=0)
        chained = log_mel if self.last_frame is None else np.vstack([self.last_frame[None, :], log_mel])
        delta = np.diff(chained, axis=0)
        self.delta_count += delta.shape[0]
        self.delta_sum += delta.sum(axis=0)
        self.delta_sum_sq += (delta**2).sum(axis=0)
        self.last_frame = log_mel[-1]
        self.carry = samples[n_frames * HOP :]

    def vector(self) -> np.ndarray:
        if self.count == 0:
            return np.zeros(MEL_DIM)
        mean = self.sum / self.count
        std = np.sqrt(np.maximum(0.0, self.sum_sq / self.count - mean**2))
        if self.delta_count > 0:
            delta_mean = self.delta_sum / self.delta_count
            delta_std = np.sqrt(np.maximum(0.0, self.delta_sum_sq / self.delta_count - delta_mean**2))
        else:
            delta_std = np.zeros(N_MELS)
        level = float(mean.mean())
        # Fixed centres and scales (rough typical values of real and synthetic scenes), so an embedding
        # never depends on which other recordings happen to be in the store.
        return np.concatenate([
            (mean - level) / 15.0,
            (std - 10.0) / 6.0,
            (delta_std - 3.0) / 2.0,
            [(level + 45.0) / 20.0],
        ])


def mel_features(audio_path: str | Path) -> np.ndarray:
    """The mel block (``MEL_DIM`` values, unnormalised) of a recording's mid signal at 16 kHz.

    Raises :class:`~engine.errors.AudioInputError` for an unreadable file.
    """
    source = open_audio(audio_path)
    stats = _MelStats()
    budget = int(MAX_EMBED_S * MEL_RATE)
    for block in resampled_blocks(source, MEL_RATE, block_s=20.0):
        # Mid = (L + R) / 2: what is heard regardless of where it is; the spatial block covers the where.
        mid = block.mean(axis=1)[:budget]
        stats.feed(mid)
        budget -= mid.size
        if budget <= 0:
            break
    return stats.vector()


# -------------------------------------------------------------------------------------- spatial block


def _finite(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.zeros(0)
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _median_and_spread(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 0.0
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return float(q50), float(q75 - q25)


def spatial_features(analysis: Analysis) -> np.ndarray:
    """The spatial block (``SPATIAL_DIM`` values, unnormalised) from a recording's analysis."""
    frames = analysis.frames
    # Cues of quiet frames are mostly noise and reverberation: keep frames within 30 dB of the loudest.
    level = np.asarray(frames.level_dbfs, dtype=np.float64)
    keep = np.isfinite(level)
    if keep.any():
        keep &= level >= np.nanmax(level) - 30.0
    ild = _finite(np.asarray(frames.ild_db)[keep]) if keep.any() else np.zeros(0)
    itd = _finite(np.asarray(frames.itd_ms)[keep]) if keep.any() else np.zeros(0)
    coherence = _finite(np.asarray(frames.coherence)[keep]) if keep.any() else np.zeros(0)
    ild_median, ild_spread = _median_and_spread(ild)
    itd_median, itd_spread = _median_and_spread(itd)
    coherence_median = float(np.median(coherence)) if coherence.size else 0.0

    # The kind and the raw cue statistics say how the pair was recorded more than where things are, so they
    # count half; the per-source descriptors below carry the layout. (On an 18-scene bench this raised how
    # often the nearest other scene has the same true sides from 0.22 to 0.39; a small sample, a modest claim.)
    kind = 0.5 * np.array([1.0 if analysis.kind == k else 0.0 for k in _KINDS])
    cues = 0.5 * np.array([
        np.clip(ild_median / 10.0, -3, 3),
        np.clip(ild_spread / 10.0, 0, 3),
        np.clip(itd_median / 0.4, -3, 3),
        np.clip(itd_spread / 0.4, 0, 3),
        2.0 * coherence_median - 1.0,
    ])
    sources = analysis.sources
    count = np.zeros(4)
    count[min(len(sources), 3)] = 1.0
    sides = np.zeros(3)
    motions = np.zeros(5)
    dominant = np.zeros(4)
    if sources:
        weights = np.array([max(s.confidence, 0.05) for s in sources])
        weights /= weights.sum()
        for src, w in zip(sources, weights, strict=True):
            sides[_SIDES.index(src.side)] += w
            motions[_MOTIONS.index(src.motion)] += w
        top = max(sources, key=lambda s: s.confidence)
        dominant = np.array([
            top.azimuth_start_deg / 90.0,
            top.azimuth_end_deg / 90.0,
            (top.azimuth_end_deg - top.azimuth_start_deg) / 90.0,
            np.clip(top.level_change_db / 10.0, -3, 3),
        ])
    return np.concatenate([kind, cues, count, sides, motions, dominant])


# --------------------------------------------------------------------------------------------- joined


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else np.zeros_like(vector)


def combine(mel: np.ndarray, spatial: np.ndarray) -> np.ndarray:
    """Join the two blocks with their weights (see the module docstring) into one unit float32 vector."""
    joined = np.concatenate([
        math.sqrt(MEL_WEIGHT) * _unit(np.nan_to_num(mel)),
        math.sqrt(SPATIAL_WEIGHT) * _unit(np.nan_to_num(spatial)),
    ])
    return _unit(joined).astype(np.float32)


def embed_audio(path: str | Path, analysis: Analysis | None = None) -> np.ndarray:
    """The compact embedding (``DIM`` float32 values, L2 norm 1) of a recording.

    ``analysis`` is the recording's :func:`engine.audio.hear.analyze` result; it is computed when not given.
    Deterministic: the same file always gives the same vector. Raises
    :class:`~engine.errors.AudioInputError` for an unreadable or silent file.
    """
    if analysis is None:
        from engine.audio.hear import analyze

        analysis = analyze(path)
    return combine(mel_features(path), spatial_features(analysis))


class CompactEmbedder:
    """The default embedder: :func:`embed_audio` (no model weights, runs anywhere)."""

    embedder_id = f"compact/{FEATURE_VERSION}"

    def embed(self, audio_path: str | Path, analysis: Analysis | None = None) -> np.ndarray:
        """See :func:`embed_audio`."""
        return embed_audio(audio_path, analysis)


# ----------------------------------------------------------------------------------------------- CLAP


class ClapEmbedder:
    """CLAP audio embeddings (the paper's retrieval space) from weights already on this machine.

    ``model_id_or_path`` is a local folder or a hub id already in the local cache (e.g.
    ``laion/clap-htsat-unfused``); nothing is downloaded. The model loads on the first :meth:`embed`.
    Audio is embedded as 48 kHz mono (CLAP's input) in windows of the model's own length (10 s), evenly
    spread over at most ``MAX_EMBED_S``, and the window embeddings are averaged: this avoids the feature
    extractor's random crop of long audio, so the same file always gives the same vector.
    """

    SAMPLE_RATE = 48000
    MAX_WINDOWS = 12

    def __init__(self, model_id_or_path: str | Path, device: str | None = None) -> None:
        self.model_id_or_path = str(model_id_or_path)
        self.device = device
        self.embedder_id = f"clap/{self.model_id_or_path}"
        self._model: Any = None
        self._extractor: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch  # noqa: F401
            from transformers import ClapFeatureExtractor, ClapModel
        except ImportError as exc:
            raise InputError(
                f"CLAP embeddings need the 'transformers' and 'torch' packages ({exc}); "
                "install them or use the built-in compact embedding"
            ) from None
        given = Path(self.model_id_or_path).expanduser()
        if (given.is_absolute() or self.model_id_or_path.startswith((".", "~"))) and not given.is_dir():
            raise InputError(f"CLAP model '{self.model_id_or_path}': no such folder")
        try:
            # Only the audio half is used: the feature extractor suffices (no tokenizer files needed).
            extractor = ClapFeatureExtractor.from_pretrained(str(given) if given.is_dir() else self.model_id_or_path,
                                                             local_files_only=True)
            model = ClapModel.from_pretrained(str(given) if given.is_dir() else self.model_id_or_path,
                                              local_files_only=True)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise InputError(
                f"CLAP model '{self.model_id_or_path}': cannot load it from this machine ({exc}). "
                "Give a folder holding a CLAP checkpoint (config.json, weights, preprocessor_config.json) "
                "or a hub id already downloaded; nothing is fetched from the network"
            ) from None
        model.eval()
        if self.device:
            model.to(self.device)
        self._model, self._extractor = model, extractor

    def _windows(self, mono: np.ndarray) -> list[np.ndarray]:
        length = int(getattr(self._extractor, "nb_max_samples", 10 * self.SAMPLE_RATE))
        if mono.size <= length:
            return [mono]
        starts = np.linspace(0, mono.size - length, min(self.MAX_WINDOWS, math.ceil(mono.size / length)))
        return [mono[int(s) : int(s) + length] for s in starts]

    def embed(self, audio_path: str | Path, analysis: Analysis | None = None) -> np.ndarray:
        """The mean CLAP audio embedding of the recording, L2-normalised float32; ``analysis`` is unused.

        Raises :class:`~engine.errors.InputError` when transformers, torch or the weights are missing.
        """
        self._load()
        import torch

        source = open_audio(audio_path)
        budget = int(MAX_EMBED_S * self.SAMPLE_RATE)
        parts: list[np.ndarray] = []
        for block in resampled_blocks(source, self.SAMPLE_RATE):
            parts.append(block.mean(axis=1)[:budget])
            budget -= parts[-1].size
            if budget <= 0:
                break
        mono = np.concatenate(parts) if parts else np.zeros(self.SAMPLE_RATE, np.float32)
        inputs = self._extractor(self._windows(mono), sampling_rate=self.SAMPLE_RATE, return_tensors="pt")
        device = next(self._model.parameters()).device
        inputs = {k: v.to(device) for k, v in inputs.items() if hasattr(v, "to")}
        with torch.inference_mode():
            out = self._model.get_audio_features(**inputs)
        # transformers 4.x returns the projected tensor; 5.x an output object whose pooler_output holds it.
        features = out if isinstance(out, torch.Tensor) else out.pooler_output
        mean = features.float().mean(dim=0).cpu().numpy().astype(np.float64)
        return _unit(mean).astype(np.float32)


def clap_embedder(model_id_or_path: str | Path) -> ClapEmbedder:
    """A loaded CLAP embedder; raises :class:`InputError` saying why when the model cannot be loaded here."""
    clap = ClapEmbedder(model_id_or_path)
    clap._load()
    return clap


def make_embedder(clap_model: str | Path | None = None) -> Embedder:
    """The CLAP embedder when ``clap_model`` is given and loads; otherwise the compact one (with a logged note)."""
    if clap_model:
        clap = ClapEmbedder(clap_model)
        try:
            clap._load()
        except InputError as exc:
            log.warning("CLAP unavailable, using the compact audio embedding instead: %s", exc)
            return CompactEmbedder()
        return clap
    return CompactEmbedder()
