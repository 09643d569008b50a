"""Tiny, randomly initialised generator components: the real diffusers and transformers classes, built from
configs in a fraction of a second, with no download.

They have the shapes of the real thing scaled down (SD 1.5's UNet layout with two levels instead of four, a
motion adapter that fits it, a VAE with the same ×8 factor, a two-layer CLIP text encoder), so a test runs
the same code paths as a render with SD 1.5 + AnimateDiff, in milliseconds per step on a CPU. The weights
are random: the frames they give are noise, the shapes and the plumbing are what the tests check.

The tokenizer is a byte-level CLIP BPE written to a temporary folder (``vocab.json`` + ``merges.txt``) and
loaded by :class:`transformers.CLIPTokenizer` like any other: every byte is a token, a few common words
are whole tokens (so that an object name can span one token or several), and, as in CLIP's own vocabulary,
the end-of-text token has the highest id.

Everything is seeded: the same call gives the same weights.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import torch
from diffusers import (
    AnimateDiffPipeline,
    AutoencoderKL,
    AutoencoderTiny,
    DDIMScheduler,
    MotionAdapter,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MAX_TOKENS = 77
#: Words that become single tokens (with intermediate merges), so that token spans are not all one byte wide.
WHOLE_WORDS = (
    "a", "an", "the", "car", "cars", "violin", "piano", "drum", "dog", "man", "woman", "street", "room",
    "playing", "drives", "photo", "realistic", "night", "of", "in", "on", "and",
)
TEXT_DIM = 32
UNET_CHANNELS = (32, 64)


def byte_to_unicode() -> dict[int, str]:
    """Byte-level BPE's reversible byte → printable character map (the one ``tokenizers.ByteLevel`` uses).

    Printable Latin-1 bytes stand for themselves; the other bytes (controls, space, ...) are moved, in
    order, to the code points from 256 upward.
    """
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in kept}
    shifted = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + shifted)
            shifted += 1
    return mapping


def _word_merges(word: str) -> list[tuple[str, str]]:
    """Left-to-right merges that build ``word`` (as an end-of-word token) from its bytes."""
    symbols = [byte_to_unicode()[b] for b in word.encode("utf-8")]
    if len(symbols) < 2:
        return []
    merges = []
    left = symbols[0]
    for i, symbol in enumerate(symbols[1:], start=1):
        right = symbol + ("</w>" if i == len(symbols) - 1 else "")
        merges.append((left, right))
        left = left + right
    return merges


def write_tokenizer_files(folder: Path) -> Path:
    """Write ``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` of the tiny CLIP tokenizer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(byte_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in [*chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in WHOLE_WORDS:
        for pair in _word_merges(word):
            if pair not in merges:
                merges.append(pair)
                vocab.setdefault(pair[0] + pair[1], len(vocab))
    vocab[BOS_TOKEN] = len(vocab)
    vocab[EOS_TOKEN] = len(vocab)  # highest id, as in CLIP (its text model pools at the end-of-text token)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_TOKENS,
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "pad_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
        "do_lower_case": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


@lru_cache(maxsize=1)
def tokenizer_folder() -> Path:
    """The tiny tokenizer's files, written once per process to a temporary folder."""
    return write_tokenizer_files(Path(tempfile.mkdtemp(prefix="spa2v-tiny-tokenizer-")))


def tiny_tokenizer() -> CLIPTokenizer:
    """An offline byte-level CLIP tokenizer: 77 tokens, end-of-text with the highest id."""
    return CLIPTokenizer.from_pretrained(tokenizer_folder())


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    # Weights depend on the seed only, and the caller's global generator is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def tiny_text_encoder(tokenizer: CLIPTokenizer | None = None, seed: int = 0, hidden_size: int = TEXT_DIM
                      ) -> CLIPTextModel:
    """A two-layer CLIP text encoder whose vocabulary matches :func:`tiny_tokenizer`."""
    tokenizer = tokenizer or tiny_tokenizer()
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        projection_dim=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with _seeded(seed):
        return CLIPTextModel(config).eval()


def tiny_unet(seed: int = 0, cross_attention_dim: int = TEXT_DIM, attention_type: str = "default"
              ) -> UNet2DConditionModel:
    """SD 1.5's UNet layout in miniature: a cross-attention level and a plain level, one layer each.

    ``attention_type="gated"`` gives GLIGEN's variant (fusers and a position net) of the same layout.
    """
    with _seeded(seed):
        return UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            block_out_channels=UNET_CHANNELS,
            layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=cross_attention_dim,
            attention_head_dim=(2, 4),
            norm_num_groups=32,
            attention_type=attention_type,
        ).eval()


def tiny_motion_adapter(seed: int = 0, max_seq_length: int = 32) -> MotionAdapter:
    """A motion adapter matching :func:`tiny_unet` (with a mid-block module, like AnimateDiff v1.5-2).

    ``max_seq_length`` is the longest window its temporal attention takes; FreeNoise windows must fit in it.
    """
    with _seeded(seed):
        return MotionAdapter(
            block_out_channels=UNET_CHANNELS,
            motion_layers_per_block=1,
            motion_mid_block_layers_per_block=1,
            motion_num_attention_heads=2,
            motion_norm_num_groups=32,
            motion_max_seq_length=max_seq_length,
            use_motion_mid_block=True,
        ).eval()


def tiny_vae(seed: int = 0) -> AutoencoderKL:
    """A four-level KL autoencoder (×8 like SD's) with a handful of channels."""
    with _seeded(seed):
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 16, 16),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            sample_size=64,
        ).eval()


def tiny_taesd(seed: int = 0) -> AutoencoderTiny:
    """A tiny-autoencoder (TAESD's class) with eight channels per block, for the TAESD preview path."""
    with _seeded(seed):
        return AutoencoderTiny(
            encoder_block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            num_encoder_blocks=(1, 1, 1, 1),
            num_decoder_blocks=(1, 1, 1, 1),
        ).eval()


def tiny_scheduler() -> DDIMScheduler:
    """DDIM with the settings AnimateDiff is sampled with (linear betas, no clipping, linspace spacing)."""
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="linear",
        clip_sample=False,
        timestep_spacing="linspace",
        steps_offset=1,
    )


def tiny_components(seed: int = 0, max_seq_length: int = 32) -> dict:
    """The components of an AnimateDiff pipeline, by the names its constructor takes."""
    tokenizer = tiny_tokenizer()
    return {
        "vae": tiny_vae(seed),
        "text_encoder": tiny_text_encoder(tokenizer, seed),
        "tokenizer": tokenizer,
        "unet": tiny_unet(seed),
        "motion_adapter": tiny_motion_adapter(seed, max_seq_length),
        "scheduler": tiny_scheduler(),
    }


def tiny_animatediff_pipeline(seed: int = 0, max_seq_length: int = 32) -> AnimateDiffPipeline:
    """A whole :class:`diffusers.AnimateDiffPipeline` (its UNet turned into a ``UNetMotionModel``) on the CPU."""
    pipe = AnimateDiffPipeline(**tiny_components(seed, max_seq_length))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_model_folders(folder: Path, seed: int = 5) -> tuple[Path, Path]:
    """A tiny SD 1.5-style pipeline folder and a motion-adapter folder, as ``--model`` / ``--motion-adapter`` take."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    parts = tiny_components(seed=seed)
    sd_folder, adapter_folder = Path(folder) / "sd15", Path(folder) / "adapter"
    sd_scheduler = PNDMScheduler(skip_prk_steps=True, steps_offset=1)  # SD 1.5 ships a PNDM config
    StableDiffusionPipeline(vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"],
                            unet=parts["unet"], scheduler=sd_scheduler, safety_checker=None,
                            feature_extractor=None, requires_safety_checker=False).save_pretrained(sd_folder)
    parts["motion_adapter"].save_pretrained(adapter_folder)
    return sd_folder, adapter_folder
