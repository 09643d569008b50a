"""GLIGEN graft: the trained box-grounding layers of GLIGEN moved into the AnimateDiff motion UNet.

Training-free masking (:mod:`engine.generator.grounding`) only steers where words are attended to; GLIGEN's
gated self-attention layers were *trained* to draw an object in a box, and ground more firmly. The public
SD 1.4 GLIGEN text-box weights (hub id :data:`DEFAULT_GLIGEN_ID`, a ``StableDiffusionGLIGENPipeline`` whose
``unet`` is a ``UNet2DConditionModel`` with ``attention_type="gated"``) keep the base SD weights frozen and
add, per spatial ``BasicTransformerBlock``, a ``fuser`` (``GatedSelfAttentionDense``: visual tokens attend
to the grounding tokens, scaled by ``tanh(alpha)`` gates), plus one ``position_net`` that turns (box, phrase
embedding) pairs into those grounding tokens. Because the base is shared with SD 1.5 in architecture, the
added layers can sit in an SD 1.5 + AnimateDiff UNet, the same combination SpA2V makes with MIGC.

diffusers' ``UNetMotionModel`` has no ``attention_type`` and ``from_unet2d`` builds plain blocks, so the
fusers and the position net are lost on the way to a motion UNet. :func:`graft_gligen` copies them in. In
the installed diffusers, ``BasicTransformerBlock`` reads ``attention_type`` only when it is built (to create
``fuser``); at run time it calls ``self.fuser(hidden_states, objs)`` after self-attention whenever
``cross_attention_kwargs["gligen"] = {"objs": …}`` is given. So a block "switches to gated attention" by
owning a ``fuser``; the motion modules are never handed ``cross_attention_kwargs`` by ``UNetMotionModel``
and keep running without one.

``UNetMotionModel.forward`` (unlike ``UNet2DConditionModel.forward``) does not run the position net itself:
:func:`gligen_cross_attention_kwargs` does, once per render, from the per-frame inputs that
:func:`build_gligen_inputs` assembles. Use it for the first steps only (GLIGEN's "scheduled sampling", 0.3 of
the steps by default): after that, call the UNet without the ``gligen`` entry and the fusers are skipped at
no cost.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import InputError

log = logging.getLogger(__name__)

#: GLIGEN for SD 1.4, text + box grounding, as a diffusers pipeline (the UNet is its ``unet`` subfolder).
DEFAULT_GLIGEN_ID = "masterful/gligen-1-4-generation-text-box"
#: Grounding tokens per frame, as GLIGEN was trained.
MAX_OBJS = 30
#: Fraction of the denoising steps GLIGEN's pipeline keeps the fusers on by default.
DEFAULT_GLIGEN_STEP_FRACTION = 0.3

#: Module names of spatial transformer blocks (``down_blocks.0.attentions.1.transformer_blocks.0`` and the same
#: under ``mid_block`` / ``up_blocks.N``); motion modules (``…motion_modules…``) do not match.
SPATIAL_BLOCK_NAME = re.compile(
    r"^(?:down_blocks\.\d+|up_blocks\.\d+|mid_block)\.attentions\.\d+\.transformer_blocks\.\d+$"
)

Box = tuple[float, float, float, float]
#: Embeds phrases: ``n`` strings in, an ``(n, D)`` tensor out.
PhraseEmbedder = Callable[[list[str]], torch.Tensor]


def load_gligen_unet(
    id_or_path: str | Path = DEFAULT_GLIGEN_ID,
    *,
    subfolder: str | None = None,
    torch_dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    local_files_only: bool | None = None,
) -> nn.Module:
    """The GLIGEN text-box ``UNet2DConditionModel`` from a hub id or a local folder.

    A local folder may be the pipeline (with ``unet/config.json``) or the UNet itself (``config.json``); a hub
    id is read as a pipeline repository (``subfolder="unet"``) unless ``subfolder`` says otherwise. Raises
    :class:`InputError` naming the source when the weights are missing or are not a gated (GLIGEN) UNet.
    """
    from diffusers import UNet2DConditionModel

    source = str(id_or_path)
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(f"GLIGEN weights {path}: expected a folder (the pipeline or its unet/), got a file")
        if subfolder is None:
            if (path / "unet" / "config.json").is_file():
                subfolder = "unet"
            elif not (path / "config.json").is_file():
                raise InputError(
                    f"GLIGEN weights {path}: no config.json or unet/config.json; expected a downloaded "
                    f"GLIGEN pipeline (e.g. {DEFAULT_GLIGEN_ID}) or its unet folder"
                )
        source = str(path)
    elif subfolder is None:
        subfolder = "unet"
    kwargs: dict[str, Any] = {"subfolder": subfolder}
    if torch_dtype is not None:
        kwargs["torch_dtype"] = torch_dtype
    if local_files_only is not None:
        kwargs["local_files_only"] = local_files_only
    try:
        unet = UNet2DConditionModel.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"GLIGEN weights {source!r} could not be loaded ({reason}); give a local folder or a hub id such as "
            f"{DEFAULT_GLIGEN_ID} that is downloaded or reachable"
        ) from error
    attention_type = unet.config.get("attention_type", "default")
    if attention_type != "gated" or not hasattr(unet, "position_net"):
        raise InputError(
            f"GLIGEN weights {source!r}: the UNet has attention_type {attention_type!r}; expected a GLIGEN text-box "
            "UNet (attention_type 'gated')"
        )
    if device is not None:
        unet = unet.to(device)
    return unet.eval()


def spatial_transformer_blocks(unet: nn.Module) -> dict[str, nn.Module]:
    """The spatial ``BasicTransformerBlock`` modules of a UNet by name (motion modules excluded)."""
    from diffusers.models.attention import BasicTransformerBlock

    return {
        name: module
        for name, module in unet.named_modules()
        if isinstance(module, BasicTransformerBlock) and SPATIAL_BLOCK_NAME.match(name)
    }


def has_gligen(unet: nn.Module) -> bool:
    """True when the UNet has a position net and a fuser in every spatial transformer block."""
    blocks = spatial_transformer_blocks(unet)
    return hasattr(unet, "position_net") and bool(blocks) and all(hasattr(b, "fuser") for b in blocks.values())


def graft_gligen(motion_unet: nn.Module, gligen_unet: nn.Module) -> list[str]:
    """Copy GLIGEN's fusers (one per spatial transformer block) and its position net into ``motion_unet``.

    Both UNets must have the same spatial layout (SD 1.x: same block names, widths and cross-attention size).
    The copies take the device and dtype of the block they join; the GLIGEN UNet is left untouched. Returns
    the names of the blocks that received a fuser. Raises :class:`InputError` when the GLIGEN UNet is not a
    gated one or does not fit.
    """
    if not hasattr(gligen_unet, "position_net"):
        raise InputError("the GLIGEN UNet has no position_net; expected a UNet built with attention_type 'gated'")
    targets = spatial_transformer_blocks(motion_unet)
    sources = spatial_transformer_blocks(gligen_unet)
    if not targets:
        raise InputError("the motion UNet has no spatial transformer blocks to graft GLIGEN onto")
    missing = sorted(set(targets) - set(sources))
    if missing:
        raise InputError(f"the GLIGEN UNet does not match the motion UNet: it has no block {missing[0]}")
    fusers: dict[str, nn.Module] = {}
    for name, block in targets.items():
        fuser = getattr(sources[name], "fuser", None)
        if fuser is None:
            raise InputError(f"the GLIGEN UNet's block {name} has no fuser; expected attention_type 'gated'")
        width = block.norm1.normalized_shape[0]
        if fuser.linear.out_features != width:
            raise InputError(
                f"the GLIGEN UNet does not match the motion UNet at {name}: fuser width "
                f"{fuser.linear.out_features}, block width {width}"
            )
        reference = next(block.parameters())
        fusers[name] = copy.deepcopy(fuser).to(device=reference.device, dtype=reference.dtype)
    for name, fuser in fusers.items():
        targets[name].fuser = fuser
    reference = next(motion_unet.parameters())
    motion_unet.position_net = copy.deepcopy(gligen_unet.position_net).to(
        device=reference.device, dtype=reference.dtype
    )
    return sorted(fusers)


def pooled_phrase_embedder(tokenizer: Any, text_encoder: nn.Module) -> PhraseEmbedder:
    """Phrase embedder from the pipeline's CLIP tokenizer and text encoder: the pooled (end-token) output.

    GLIGEN was trained on this embedding of each object's phrase alone (not its tokens in the caption).
    """

    def embed(phrases: list[str]) -> torch.Tensor:
        tokens = tokenizer(
            phrases, padding=True, max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        device = next(text_encoder.parameters()).device
        with torch.no_grad():
            output = text_encoder(
                input_ids=tokens.input_ids.to(device), attention_mask=tokens.attention_mask.to(device)
            )
        return output.pooler_output

    return embed


@dataclass(frozen=True)
class GligenInputs:
    """What GLIGEN's position net takes for a UNet batch of ``rows`` = ``(2 if cfg else 1) · T`` frames.

    ``boxes`` ``(rows, MAX_OBJS, 4)`` normalised xyxy, zero-padded; ``positive_embeddings``
    ``(rows, MAX_OBJS, D)`` pooled phrase embeddings; ``masks`` ``(rows, MAX_OBJS)``, 1 for a real object.
    """

    boxes: torch.Tensor
    positive_embeddings: torch.Tensor
    masks: torch.Tensor


def build_gligen_inputs(
    frames: Sequence[Sequence[tuple[str, Box]]],
    embed_phrases: PhraseEmbedder,
    *,
    cfg: bool,
    max_objs: int = MAX_OBJS,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> GligenInputs:
    """Per-frame GLIGEN inputs, rows ordered like the UNet batch: ``[uncond 0..T−1, cond 0..T−1]``.

    ``frames[t]`` lists ``(phrase, (x0, y0, x1, y1))`` of the objects present in frame t, boxes normalised to
    [0, 1]. Each distinct phrase is embedded once. The unconditional rows get all-zero masks, so the position
    net puts its learned null tokens there (as GLIGEN's own pipeline does); a frame with more than
    ``max_objs`` objects keeps the first ``max_objs`` (with a warning).
    """
    n_frames = len(frames)
    phrases = sorted({phrase for frame in frames for phrase, _ in frame})
    # With no object anywhere the empty phrase is embedded only to learn the width; every mask stays zero.
    embedded = embed_phrases(phrases or [""])
    by_phrase = {phrase: embedded[i] for i, phrase in enumerate(phrases)}
    width = embedded.shape[-1]
    boxes = torch.zeros(n_frames, max_objs, 4, dtype=dtype)
    embeddings = torch.zeros(n_frames, max_objs, width, dtype=dtype)
    masks = torch.zeros(n_frames, max_objs, dtype=dtype)
    for t, frame in enumerate(frames):
        if len(frame) > max_objs:
            log.warning("GLIGEN: frame %d has %d objects; only the first %d are grounded", t, len(frame), max_objs)
        for k, (phrase, box) in enumerate(frame[:max_objs]):
            boxes[t, k] = torch.tensor([min(1.0, max(0.0, float(v))) for v in box], dtype=dtype)
            embeddings[t, k] = by_phrase[phrase].to(dtype=dtype, device="cpu")
            masks[t, k] = 1.0
    if cfg:
        boxes = torch.cat([torch.zeros_like(boxes), boxes])
        embeddings = torch.cat([torch.zeros_like(embeddings), embeddings])
        masks = torch.cat([torch.zeros_like(masks), masks])
    return GligenInputs(boxes.to(device), embeddings.to(device), masks.to(device))


def gligen_cross_attention_kwargs(unet: nn.Module, inputs: GligenInputs) -> dict[str, Any]:
    """``cross_attention_kwargs`` that switch the grafted fusers on: ``{"gligen": {"objs": …}}``.

    Runs the position net once; reuse the result for every step in which GLIGEN should act.
    """
    position_net = getattr(unet, "position_net", None)
    if position_net is None:
        raise InputError("the UNet has no GLIGEN position net; graft GLIGEN weights first")
    reference = next(position_net.parameters())
    embeddings = inputs.positive_embeddings
    if embeddings.shape[-1] != position_net.positive_len:
        raise ValueError(
            f"phrase embeddings have width {embeddings.shape[-1]}; the GLIGEN position net expects "
            f"{position_net.positive_len} (the text encoder's hidden size)"
        )
    with torch.no_grad():
        objs = position_net(
            boxes=inputs.boxes.to(device=reference.device, dtype=reference.dtype),
            masks=inputs.masks.to(device=reference.device, dtype=reference.dtype),
            positive_embeddings=embeddings.to(device=reference.device, dtype=reference.dtype),
        )
    return {"gligen": {"objs": objs}}
