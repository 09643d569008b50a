"""The example database of the LLM planner: recordings with their layouts, retrieved by audio similarity.

SpA2V gives the model k in-context examples chosen by kNN over audio embeddings. A store is a folder:

```
examples.json     {"format": "spa2v.examples", "version": 1, "embedder": "...", "entries": [...]}
embeddings.npy    float32 (len(entries), dim): row i belongs to entries[i]
audio/            the examples' recordings (copies or hard links), named in the entries
```

Each entry holds ``name``, ``audio`` (file name relative to the store folder), ``reasoning``, ``layout`` (a
VSL dict), ``cue_summary``, ``embedder`` (the id of the embedding space its row lives in), ``audio_sha1`` and
``embedding_sha1`` (a checksum of its row, so a row that does not belong to its entry is noticed) and ``meta``.
An embedding of the wrong size, of another embedder or with a wrong checksum is recomputed when it is next
needed (with a logged note); a malformed ``examples.json`` raises :class:`~engine.errors.InputError` naming the
file and the field. Saves are atomic: the rows are written before the entries that point to them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio.model import Analysis
from engine.errors import AudioInputError, InputError
from engine.fileio import atomic_write_bytes, atomic_write_text
from engine.planner.embedding import CompactEmbedder, Embedder
from engine.planner.prompt import cue_summary

log = logging.getLogger(__name__)

STORE_FORMAT = "spa2v.examples"
STORE_VERSION = 1
EXAMPLES_FILE = "examples.json"
EMBEDDINGS_FILE = "embeddings.npy"
AUDIO_FOLDER = "audio"

_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Example:
    """One in-context example: a recording, the layout that fits it and the words that explain it."""

    name: str
    audio_path: Path
    reasoning: str
    layout: dict
    cue_summary: str
    embedding: np.ndarray | None = None
    #: The embedding space of ``embedding`` (``CompactEmbedder.embedder_id``, ``clap/<model>``).
    embedder_id: str = ""
    #: SHA-1 of the audio file's bytes: the same recording under another name is still the same.
    audio_sha1: str = ""
    #: Free facts about the example (a bench scene's category, kind and motions; where it came from).
    meta: dict = field(default_factory=dict)


def default_store_dir() -> Path:
    """The user's example store: ``$SPA2V_DATA_DIR/examples`` or ``<user data dir>/spa2v-studio/examples``."""
    env = os.environ.get("SPA2V_DATA_DIR")
    if env:
        return Path(env) / "examples"
    from platformdirs import user_data_dir

    return Path(user_data_dir("spa2v-studio", appauthor=False)) / "examples"


def file_sha1(path: str | Path) -> str:
    """SHA-1 hex digest of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            for piece in iter(lambda: handle.read(1 << 20), b""):
                digest.update(piece)
    except OSError as exc:
        raise AudioInputError(path, f"cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _row_sha1(row: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(row, dtype=np.float32).tobytes()).hexdigest()[:16]


def _safe_name(name: str) -> str:
    cleaned = _NAME_OK.sub("_", name.strip()).strip("._")
    return cleaned or "example"


class ExampleStore:
    """A folder of examples with kNN retrieval by cosine similarity of audio embeddings.

    ``embedder`` defaults to :class:`~engine.planner.embedding.CompactEmbedder`; a CLAP embedder whose model
    cannot be loaded is replaced by the compact one with a logged note. ``describe`` turns an analysis into an
    example's ``cue_summary``; by default the prompt's own cue text, so examples and the user's recording are
    described alike. A folder without ``examples.json`` is an empty store; nothing is written until a change.
    """

    def __init__(
        self,
        folder: str | Path,
        embedder: Embedder | None = None,
        describe: Callable[[Analysis], str] = cue_summary,
    ) -> None:
        self.folder = Path(folder)
        self.embedder: Embedder = embedder or CompactEmbedder()
        self.describe = describe
        self._examples: list[Example] = []
        self._load()

    # ----------------------------------------------------------------------------------- reading

    @property
    def examples_path(self) -> Path:
        return self.folder / EXAMPLES_FILE

    @property
    def embeddings_path(self) -> Path:
        return self.folder / EMBEDDINGS_FILE

    def _load(self) -> None:
        path = self.examples_path
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, Mapping):
            raise InputError(f"{path}: expected a JSON object with 'format', 'version' and 'entries'")
        if data.get("format") != STORE_FORMAT:
            raise InputError(f"{path}: field 'format' must be '{STORE_FORMAT}', got {data.get('format')!r}")
        if data.get("version") != STORE_VERSION:
            raise InputError(
                f"{path}: field 'version' is {data.get('version')!r}; this studio reads version {STORE_VERSION}"
            )
        entries = data.get("entries")
        if not isinstance(entries, list):
            raise InputError(f"{path}: field 'entries' must be a list")
        examples = [self._parse_entry(entry, f"{path}: entries[{i}]") for i, entry in enumerate(entries)]
        seen: set[str] = set()
        for i, example in enumerate(examples):
            if example.name in seen:
                raise InputError(f"{path}: entries[{i}]: field 'name' repeats {example.name!r}; names must be unique")
            seen.add(example.name)
        checksums = [str(e.get("embedding_sha1", "")) if isinstance(e, Mapping) else "" for e in entries]
        self._attach_rows(examples, checksums)
        self._examples = examples

    def _parse_entry(self, entry: Any, where: str) -> Example:
        if not isinstance(entry, Mapping):
            raise InputError(f"{where} must be an object")

        def text(key: str, required: bool = True) -> str:
            value = entry.get(key)
            if value is None and not required:
                return ""
            if not isinstance(value, str) or (required and not value.strip()):
                raise InputError(f"{where}: field '{key}' must be a non-empty string, got {value!r}")
            return value

        name = text("name")
        audio = text("audio")
        audio_rel = Path(audio)
        # Keep the store self-contained: an entry may not point outside its folder.
        if audio_rel.is_absolute() or ".." in audio_rel.parts:
            raise InputError(f"{where}: field 'audio' must be a path inside the store folder, got {audio!r}")
        layout = entry.get("layout")
        if not isinstance(layout, Mapping) or not isinstance(layout.get("keyframes"), list):
            raise InputError(f"{where}: field 'layout' must be a VSL object with a 'keyframes' list")
        meta = entry.get("meta", {})
        if not isinstance(meta, Mapping):
            raise InputError(f"{where}: field 'meta' must be an object")
        return Example(
            name=name,
            audio_path=self.folder / audio_rel,
            reasoning=text("reasoning", required=False),
            layout=dict(layout),
            cue_summary=text("cue_summary", required=False),
            embedding=None,
            embedder_id=text("embedder", required=False),
            audio_sha1=text("audio_sha1", required=False),
            meta=dict(meta),
        )

    def _attach_rows(self, examples: list[Example], checksums: list[str]) -> None:
        """Give each example its stored row when the row is its own; others stay None (recomputed later)."""
        if not examples or not self.embeddings_path.exists():
            return
        try:
            rows = np.load(self.embeddings_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); the embeddings will be recomputed", self.embeddings_path, exc)
            return
        if rows.ndim != 2 or rows.shape[0] != len(examples):
            log.warning("%s: shape %s does not match %d entries; the embeddings will be recomputed",
                        self.embeddings_path, rows.shape, len(examples))
            return
        for example, row, checksum in zip(examples, rows, checksums, strict=True):
            row = np.asarray(row, dtype=np.float32)
            if checksum and checksum != _row_sha1(row):
                log.info("example %r: its embedding row does not match its entry; recomputing", example.name)
                continue
            if np.all(np.isfinite(row)) and np.linalg.norm(row) > 0:
                example.embedding = row

    # --------------------------------------------------------------------------------- the store

    def __len__(self) -> int:
        return len(self._examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(list(self._examples))

    def __contains__(self, name: object) -> bool:
        return any(e.name == name for e in self._examples)

    def names(self) -> list[str]:
        """The examples' names in store order."""
        return [e.name for e in self._examples]

    def get(self, name: str) -> Example:
        """The example called ``name``; :class:`InputError` when there is none."""
        for example in self._examples:
            if example.name == name:
                return example
        raise InputError(f"example store {self.folder}: no example named {name!r}")

    def save(self) -> None:
        """Write ``embeddings.npy`` then ``examples.json`` atomically (rows first: a crash in between leaves
        checksums that no longer match, so the rows are recomputed rather than mis-attributed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        dims = {e.embedding.shape[0] for e in self._examples if e.embedding is not None}
        dim = max(dims) if dims else 0
        rows = np.zeros((len(self._examples), dim), dtype=np.float32)
        for i, example in enumerate(self._examples):
            # A missing or odd-sized row is written as zeros; its checksum marks it for recomputation.
            if example.embedding is not None and example.embedding.shape[0] == dim:
                rows[i] = example.embedding
        buffer = io.BytesIO()
        np.save(buffer, rows, allow_pickle=False)
        atomic_write_bytes(self.embeddings_path, buffer.getvalue())
        entries = []
        for example, row in zip(self._examples, rows, strict=True):
            has_row = example.embedding is not None and example.embedding.shape[0] == dim
            entries.append({
                "name": example.name,
                "audio": example.audio_path.relative_to(self.folder).as_posix()
                if example.audio_path.is_relative_to(self.folder) else example.audio_path.name,
                "reasoning": example.reasoning,
                "layout": example.layout,
                "cue_summary": example.cue_summary,
                "embedder": example.embedder_id if has_row else "",
                "embedding_sha1": _row_sha1(row) if has_row else "",
                "audio_sha1": example.audio_sha1,
                "meta": example.meta,
            })
        document = {"format": STORE_FORMAT, "version": STORE_VERSION, "entries": entries}
        atomic_write_text(self.examples_path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")

    def _unique_name(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self:
            name = f"{wanted}-{n}"
            n += 1
        return name

    def _copy_audio(self, audio_path: Path, name: str, link: bool = False) -> Path:
        target = self.folder / AUDIO_FOLDER / f"{name}{audio_path.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and target.samefile(audio_path):
            return target
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            if link:
                try:
                    os.link(audio_path, partial)
                except OSError:  # another file system, or links not allowed: copy instead
                    shutil.copy2(audio_path, partial)
            else:
                shutil.copy2(audio_path, partial)
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise InputError(f"{audio_path}: cannot copy into the example store {self.folder} ({exc})") from None
        return target

    def _embed(self, audio_path: Path, analysis: Analysis | None) -> np.ndarray:
        try:
            return np.asarray(self.embedder.embed(audio_path, analysis), dtype=np.float32)
        except AudioInputError:
            raise
        except InputError as exc:
            if isinstance(self.embedder, CompactEmbedder):
                raise
            # The optional embedder (CLAP) is unusable here: retrieval must still work, so fall back.
            log.warning("example store: %s; using the compact audio embedding instead", exc)
            self.embedder = CompactEmbedder()
            return np.asarray(self.embedder.embed(audio_path, analysis), dtype=np.float32)

    def _insert(self, audio_path: Path, layout: Mapping[str, Any], reasoning: str | None, name: str,
                meta: dict, link: bool = False) -> Example:
        from engine.audio.hear import analyze

        analysis = analyze(audio_path)
        stored_audio = self._copy_audio(audio_path, name, link=link)
        example = Example(
            name=name,
            audio_path=stored_audio,
            reasoning=reasoning if reasoning is not None else str(layout.get("reasoning", "") or ""),
            layout=json.loads(json.dumps(layout)),  # a plain deep copy: later edits of the caller's dict stay out
            cue_summary=self.describe(analysis),
            embedding=self._embed(stored_audio, analysis),
            embedder_id=self.embedder.embedder_id,
            audio_sha1=file_sha1(stored_audio),
            meta=meta,
        )
        for i, existing in enumerate(self._examples):
            if existing.name == name:
                self._examples[i] = example
                # A replaced example whose audio had another suffix would leave its old copy behind.
                if existing.audio_path != stored_audio and existing.audio_path.is_relative_to(self.folder):
                    existing.audio_path.unlink(missing_ok=True)
                break
        else:
            self._examples.append(example)
        return example

    def add(self, audio_path: str | Path, layout_dict: Mapping[str, Any], reasoning: str | None = None,
            name: str | None = None, meta: Mapping[str, Any] | None = None) -> Example:
        """Save a recording and its (edited) layout as an example; returns it.

        The audio is copied into the store, analysed for its cue summary and embedded, and the store is saved.
        ``reasoning`` defaults to the layout's own. Without ``name`` the audio's stem is used (made unique);
        an explicit ``name`` already in the store replaces that example. Raises :class:`InputError` for a
        layout without a ``keyframes`` list and :class:`~engine.errors.AudioInputError` for unusable audio.
        """
        audio_path = Path(audio_path)
        if not isinstance(layout_dict, Mapping) or not isinstance(layout_dict.get("keyframes"), list):
            raise InputError("the example's layout must be a VSL object with a 'keyframes' list")
        if name is None:
            name = self._unique_name(_safe_name(audio_path.stem))
        else:
            name = _safe_name(name)
        example = self._insert(audio_path, layout_dict, reasoning, name, dict(meta or {"source": "user"}))
        self.save()
        return example

    def remove(self, name: str) -> None:
        """Delete the example called ``name`` and its audio copy, then save. :class:`InputError` if absent."""
        example = self.get(name)
        self._examples.remove(example)
        self.save()
        # The audio goes only after the entry no longer points to it, and only if no other entry uses it.
        if example.audio_path.is_relative_to(self.folder) and not any(
            e.audio_path == example.audio_path for e in self._examples
        ):
            example.audio_path.unlink(missing_ok=True)

    @classmethod
    def build_from_bench(cls, bench_dir: str | Path, store_dir: str | Path, embedder: Embedder | None = None,
                         link: bool = False) -> ExampleStore:
        """A store filled with the scenes of a ``make-bench`` folder (``scene_*.json`` + ``.vsl.json`` + audio).

        Each scene becomes an example named like its files, with the ground-truth layout, its reasoning, and
        ``meta`` holding the scene's category, recording kind and source motions. Scenes already in the store
        are replaced; other examples stay. ``link`` hard-links the audio instead of copying (copies across
        file systems). Raises :class:`InputError` for a folder without scenes or a scene without its layout.
        """
        bench_dir = Path(bench_dir)
        truths = sorted(p for p in bench_dir.glob("scene_*.json") if not p.name.endswith(".vsl.json"))
        if not truths:
            raise InputError(f"{bench_dir}: no scene_*.json files; make one with 'make-bench --out {bench_dir}'")
        store = cls(store_dir, embedder=embedder)
        for truth_path in truths:
            truth = _read_json(truth_path)
            layout_path = truth_path.with_name(truth_path.name[: -len(".json")] + ".vsl.json")
            layout = _read_json(layout_path)
            audio_name = truth.get("audio")
            if not isinstance(audio_name, str) or not (bench_dir / audio_name).is_file():
                raise InputError(f"{truth_path}: field 'audio' must name an audio file beside it, got {audio_name!r}")
            sources = truth.get("sources") if isinstance(truth.get("sources"), list) else []
            meta = {
                "source": "bench",
                "category": truth.get("category"),
                "kind": truth.get("kind"),
                "motions": [s.get("motion") for s in sources if isinstance(s, Mapping)],
                "types": [s.get("type") for s in sources if isinstance(s, Mapping)],
            }
            if not isinstance(layout, Mapping) or not isinstance(layout.get("keyframes"), list):
                raise InputError(f"{layout_path}: field 'keyframes' must be a list")
            store._insert(bench_dir / audio_name, layout, None, _safe_name(truth_path.stem), meta, link=link)
        store.save()
        return store

    # ------------------------------------------------------------------------------------- retrieval

    def _refresh(self) -> None:
        """Recompute embeddings that are missing, of another size or of another embedder, then save."""
        changed = False
        dims = {e.embedding.shape[0] for e in self._examples
                if e.embedding is not None and e.embedder_id == self.embedder.embedder_id}
        dim = dims.pop() if len(dims) == 1 else None
        for example in self._examples:
            stale = (example.embedding is None or example.embedder_id != self.embedder.embedder_id
                     or (dim is not None and example.embedding.shape[0] != dim))
            if not stale:
                continue
            if not example.audio_path.is_file():
                log.warning("example %r: its audio %s is missing; it is left out of retrieval",
                            example.name, example.audio_path)
                example.embedding = None
                continue
            log.info("example %r: recomputing its embedding (%s -> %s)", example.name,
                     example.embedder_id or "none", self.embedder.embedder_id)
            try:
                example.embedding = self._embed(example.audio_path, None)
            except AudioInputError as exc:
                log.warning("example %r: cannot embed its audio (%s); it is left out of retrieval",
                            example.name, exc)
                example.embedding = None
                continue
            example.embedder_id = self.embedder.embedder_id
            if not example.audio_sha1:
                example.audio_sha1 = file_sha1(example.audio_path)
            changed = True
        if changed:
            try:
                self.save()
            except OSError as exc:  # a read-only store still retrieves; it recomputes again next time
                log.warning("example store %s: cannot save the recomputed embeddings (%s)", self.folder, exc)

    def nearest_scored(self, query: str | Path | np.ndarray, k: int = 3, exclude: Iterable[str] = (),
                       exclude_same_audio: bool = False) -> list[tuple[Example, float]]:
        """The ``k`` most similar examples with their cosine similarity, most similar first.

        ``query`` is an audio file or an embedding from this store's embedder. ``exclude`` holds example names
        or audio SHA-1 digests to leave out; ``exclude_same_audio`` also leaves out every example whose audio
        has the same bytes as the query file (leave-one-out evaluation). ``k`` larger than the store returns all.
        Raises :class:`InputError` for an embedding of the wrong size.
        """
        if k <= 0 or not self._examples:
            return []
        self._refresh()
        excluded = set(exclude)
        if isinstance(query, np.ndarray):
            vector = np.asarray(query, dtype=np.float64).ravel()
        else:
            query_path = Path(query)
            if exclude_same_audio:
                excluded.add(file_sha1(query_path))
            vector = np.asarray(self._embed(query_path, None), dtype=np.float64)
        candidates = [
            e for e in self._examples
            if e.embedding is not None and e.embedder_id == self.embedder.embedder_id
            and e.name not in excluded and e.audio_sha1 not in excluded
        ]
        if not candidates:
            return []
        matrix = np.stack([c.embedding for c in candidates]).astype(np.float64)
        if vector.shape[0] != matrix.shape[1]:
            raise InputError(
                f"the query embedding has {vector.shape[0]} values; this store's embeddings "
                f"({self.embedder.embedder_id}) have {matrix.shape[1]}"
            )
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(vector)), 1e-12)
        similarity = matrix @ vector / np.maximum(norms, 1e-12)
        # Stable sort: equal similarities keep store order, so retrieval is reproducible.
        order = np.argsort(-similarity, kind="stable")[:k]
        return [(candidates[i], float(similarity[i])) for i in order]

    def nearest(self, query: str | Path | np.ndarray, k: int = 3, exclude: Iterable[str] = (),
                exclude_same_audio: bool = False) -> list[Example]:
        """The ``k`` examples nearest to ``query`` by cosine similarity (see :meth:`nearest_scored`)."""
        return [example for example, _ in self.nearest_scored(query, k, exclude, exclude_same_audio)]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


#: The synthetic scenes a new user's store starts with: enough variety (kinds, sides, motions, one and two
#: sources) for k = 3 neighbours to be relevant, small enough to build in well under a minute.
STARTER_SCENES = 24
STARTER_SEED = 20240


def open_store(
    folder: str | Path | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExampleStore:
    """The example store at ``folder`` (default :func:`default_store_dir`), filled on first use.

    An empty store is first filled with :data:`STARTER_SCENES` synthetic ``make-bench`` scenes (fixed seed, so
    every installation starts from the same examples); their files stay in ``<folder>/starter``. ``progress``
    gets one line of text per step. The user's own examples are added with :meth:`ExampleStore.add`.
    """
    folder = Path(folder) if folder is not None else default_store_dir()
    store = ExampleStore(folder, embedder=embedder)
    if len(store):
        return store
    from engine.synth.bench import make_bench

    starter = folder / "starter"
    if progress is not None:
        progress(f"first use: writing {STARTER_SCENES} synthetic example scenes to {starter}")
    try:
        make_bench(starter, STARTER_SCENES, seed=STARTER_SEED, audio_format="flac")
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the example store ({exc.strerror or exc})") from None
    if progress is not None:
        progress("analysing and embedding them (once)")
    # Linked, not copied: the starter scenes already live inside the store's folder.
    return ExampleStore.build_from_bench(starter, folder, embedder=embedder, link=True)
