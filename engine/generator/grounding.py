"""Training-free box grounding: attention processors that keep each object's words inside its box.

The diffusion UNet learns *where* a word is drawn in its cross-attention: a latent position that attends
strongly to "car" becomes car. :class:`Grounding` replaces the processors of the UNet's **spatial**
attention layers (Peekaboo-style masking, no training) so that, in the first denoising steps, where the
composition is decided:

* **cross-attention** — an object's prompt tokens may be attended to only from latent positions inside that
  frame's box (``mode="hard"``: an additive ``-inf`` bias outside, so their attention weight there is exactly
  zero after the softmax), or are boosted inside and damped outside (``mode="soft"``: ``±strength`` added to
  the logits, i.e. the unnormalised weight is multiplied by ``e**strength`` inside and ``e**-strength``
  outside). All other tokens — the start token, the other words, the end and padding tokens — are untouched,
  so every query keeps at least the start token and the softmax stays well defined;
* **spatial self-attention** (optional, ``self_attention=True``) — a query inside box *k* does not attend to
  positions that lie in other boxes only (it still sees its own box and the background), so objects do not
  leak into each other's regions. Background queries attend everywhere.

Where the masks go:

* Only the spatial attention of ``down_blocks.*.attentions``, ``mid_block.attentions`` and
  ``up_blocks.*.attentions`` (their ``transformer_blocks.*.attn1`` / ``attn2``). The motion modules of a
  ``UNetMotionModel`` attend over *time* (their sequence is the frames of one latent position); a spatial box
  means nothing there, so they are left exactly as they were. GLIGEN fusers grafted by
  :mod:`engine.generator.gligen` keep their own processors too.
* Only the **conditional** half of a classifier-free-guidance batch. The unconditional rows carry the
  negative prompt, whose token positions have nothing to do with the objects' words; masking them would
  suppress arbitrary tokens of the negative prompt. Grounding the conditional branch alone makes the guidance
  difference ``cond − uncond`` carry the layout, which is where CFG takes its direction from.
* Per frame: the spatial blocks see ``(2 if cfg else 1) · T`` rows ordered ``[uncond 0..T−1, cond 0..T−1]``;
  frame *t*'s conditional row is ``T + t`` (``t`` without CFG). An object absent from frame *t* has no mask in
  frame *t*; a frame without objects gets a zero bias.

Layer resolution: a spatial layer sees ``h·w`` tokens. The UNet's stride-2 convolutions (kernel 3,
padding 1) turn a side of ``n`` into ``ceil(n / 2)``, and the up path upsamples back to the skip sizes, so
the layers' grids are ``(ceil(H / 2**k), ceil(W / 2**k))`` of the latent grid ``(H, W)`` for k = 0, 1, 2, …
— these products are distinct, so the sequence length alone names the level. Cell ``i`` of level *k* covers
latent rows ``[i·2**k, min((i+1)·2**k, H))`` (what nearest-neighbour upsampling puts back there); a cell
belongs to a box when its centre, in normalised frame coordinates, lies in the box. A box too small to
contain any centre at a coarse level still gets the one cell nearest its centre, so an object's words are
never shut out of a whole layer.

Speed: masks are built once per render for each (kind, grid, key length, dtype, device) on first use and
cached; attention runs through :func:`torch.nn.functional.scaled_dot_product_attention` with the additive
bias (padded in memory to a 16-element row stride so the fused kernels take it without a copy). The
unconditional rows run without any mask in a separate call, keeping the fastest kernel. When grounding is
off (``mode="off"``: nothing is installed at all; after the step fraction, or at a call with nothing to
ground) a processor forwards straight to the original processor (diffusers' ``AttnProcessor2_0``), so the
cost is one attribute test per layer call.

Memory of the optional self-attention mask: ``T · (h·w)²`` elements for the finest grid — for 16 frames of
512×320 (latent 64×40) about 210 MB in float16 — which is why it is off by default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("hard", "soft", "off")

#: Processor keys of spatial attention: ``down_blocks.0.attentions.1.transformer_blocks.0.attn2.processor`` and
#: the same under ``mid_block`` / ``up_blocks.N``. Motion modules (``…motion_modules…``) and GLIGEN fusers
#: (``…transformer_blocks.0.fuser.attn.processor``) do not match.
SPATIAL_ATTENTION_KEY = re.compile(
    r"^(?:down_blocks\.\d+|up_blocks\.\d+|mid_block)\.attentions\.\d+\.transformer_blocks\.\d+\.attn[12]\.processor$"
)

#: Rows of a cached bias are padded in memory to a multiple of this many elements: the memory-efficient SDPA
#: kernels want an aligned row stride and would otherwise copy the mask at every call.
_BIAS_ALIGN = 16

Box = tuple[float, float, float, float]
#: One object in one frame: its token positions in that frame's 77-token prompt, and its normalised box.
Region = tuple[Sequence[int], Box]


def is_spatial_attention(processor_key: str) -> bool:
    """True for an ``attn_processors`` key of a spatial (image-plane) attention layer of the UNet."""
    return SPATIAL_ATTENTION_KEY.match(processor_key) is not None


@dataclass(frozen=True)
class GroundingConfig:
    """How strongly and how long the boxes steer the attention.

    ``mode``: ``"hard"`` (object tokens get zero attention outside their box), ``"soft"`` (an additive logit
    bias of ``+strength`` inside, ``-strength`` outside; about 5 and above behaves like hard) or ``"off"``.
    ``step_fraction``: grounding acts while ``step_index < step_fraction · n_steps``; the layout is fixed in
    the first steps and later steps refine detail, which masks would only harm. ``self_attention``: also mask
    spatial self-attention between regions (more memory, see the module docstring).
    """

    mode: str = "hard"
    strength: float = 1.0
    step_fraction: float = 0.4
    self_attention: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"grounding mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if not (math.isfinite(self.strength) and self.strength >= 0):
            raise ValueError(f"grounding strength {self.strength}; expected a finite number >= 0")
        if not 0.0 <= self.step_fraction <= 1.0:
            raise ValueError(f"grounding step_fraction {self.step_fraction}; expected a fraction in [0, 1]")


def layer_grids(latent_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """Grids ``(h, w)`` the UNet's layers see for a latent of ``latent_hw``: level k is ``ceil(side / 2**k)``.

    The list runs from the latent grid itself down to 1×1; a UNet uses its first few entries.
    """
    height, width = (int(side) for side in latent_hw)
    if height < 1 or width < 1:
        raise ValueError(f"latent size {latent_hw}; expected positive height and width")
    grids = [(height, width)]
    while grids[-1] != (1, 1):
        h, w = grids[-1]
        grids.append((-(-h // 2), -(-w // 2)))
    return grids


def cell_centres(cells: int, stride: int, latent_side: int) -> torch.Tensor:
    """Normalised centres of the ``cells`` cells of one level (``stride = 2**level``) along a latent side.

    Cell i covers latent rows ``[i·stride, min((i+1)·stride, latent_side))``; at odd sizes the last cell is a
    partial one (the stride-2 convolutions round up) and its centre is that of its valid part.
    """
    start = torch.arange(cells, dtype=torch.float64) * stride
    end = torch.clamp(start + stride, max=latent_side)
    return ((start + end) / (2 * latent_side)).float()


def box_cells(box: Box, level: int, latent_hw: tuple[int, int]) -> torch.Tensor:
    """Flattened boolean ``(h·w,)`` mask of the cells of level ``level`` whose centre lies in ``box``.

    ``box`` is ``(x0, y0, x1, y1)`` normalised to the frame, the grid is ``layer_grids(latent_hw)[level]``.
    Never empty: a box smaller than a cell gets the cell nearest its centre.
    """
    h, w = layer_grids(latent_hw)[level]
    x0, y0, x1, y1 = box
    cy = cell_centres(h, 2**level, latent_hw[0])
    cx = cell_centres(w, 2**level, latent_hw[1])
    rows = (cy >= y0) & (cy < y1)
    cols = (cx >= x0) & (cx < x1)
    if not rows.any():
        rows = torch.zeros(h, dtype=torch.bool)
        rows[torch.argmin((cy - (y0 + y1) / 2).abs())] = True
    if not cols.any():
        cols = torch.zeros(w, dtype=torch.bool)
        cols[torch.argmin((cx - (x0 + x1) / 2).abs())] = True
    return (rows[:, None] & cols[None, :]).reshape(-1)


@dataclass(frozen=True)
class _Object:
    tokens: tuple[int, ...]
    box: Box


def _checked_regions(regions: Sequence[Sequence[Region]], n_frames: int) -> list[list[_Object]]:
    """The regions as validated objects per frame; ``ValueError`` naming the frame and object otherwise."""
    if len(regions) != n_frames:
        raise ValueError(f"grounding regions cover {len(regions)} frames; expected one list per frame ({n_frames})")
    frames: list[list[_Object]] = []
    for t, frame in enumerate(regions):
        objects = []
        for k, (token_indices, box) in enumerate(frame):
            tokens = tuple(sorted({int(i) for i in token_indices}))
            if any(i < 1 for i in tokens):
                raise ValueError(
                    f"grounding frame {t}, object {k}: token indices {tokens}; index 0 is the start token, which "
                    "must stay unmasked; expected indices from 1"
                )
            if len(box) != 4:
                raise ValueError(f"grounding frame {t}, object {k}: box {box}; expected (x0, y0, x1, y1)")
            x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
            if not (x0 < x1 and y0 < y1):
                raise ValueError(
                    f"grounding frame {t}, object {k}: box {tuple(box)}; expected x0 < x1 and y0 < y1 within [0, 1]"
                )
            if tokens:
                objects.append(_Object(tokens, (x0, y0, x1, y1)))
        frames.append(objects)
    return frames


def phrase_token_indices(tokenizer: Any, prompt: str, phrase: str, max_length: int = 77) -> list[int]:
    """Positions of ``phrase``'s tokens in the tokenised ``prompt`` (start token at 0, so words from 1).

    Every exact occurrence of the phrase's token sequence counts. When the phrase does not occur as such
    (the caption says "a car", the object is "red car"), the occurrences of its last token — usually the head
    noun — are used. Positions past the prompt's truncation (``max_length − 1`` keeps the end token) are
    dropped; an empty list means the prompt does not mention the object.
    """
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False).input_ids)
    phrase_ids = list(tokenizer(phrase, add_special_tokens=False).input_ids)
    if not phrase_ids:
        return []
    n = len(phrase_ids)
    found = [i + j + 1 for i in range(len(prompt_ids) - n + 1) if prompt_ids[i : i + n] == phrase_ids for j in range(n)]
    if not found:
        found = [i + 1 for i, token in enumerate(prompt_ids) if token == phrase_ids[-1]]
    return sorted({i for i in found if i < max_length - 1})


class GroundedAttnProcessor:
    """Attention processor of one spatial layer: grounded SDPA while its :class:`Grounding` is active.

    Otherwise it forwards the call unchanged to the processor it replaced. The grounded path follows
    diffusers' ``AttnProcessor2_0`` step for step, adding the grounding bias for the conditional rows.
    """

    def __init__(self, grounding: Grounding, name: str, original: Any) -> None:
        self.grounding = grounding
        self.name = name
        self.original = original

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        if self.grounding.active:
            bias = self._bias_for(hidden_states, encoder_hidden_states)
            if bias is not None:
                return self._grounded(attn, hidden_states, encoder_hidden_states, attention_mask, temb, bias)
        return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)

    def _bias_for(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None) -> torch.Tensor | None:
        grounding = self.grounding
        rows = (2 if grounding.cfg else 1) * grounding.n_frames
        if hidden_states.shape[0] != rows:
            raise ValueError(
                f"{self.name}: the UNet batch has {hidden_states.shape[0]} rows; grounding expects {rows} "
                f"({'2 × ' if grounding.cfg else ''}{grounding.n_frames} frames)"
            )
        if hidden_states.ndim == 4:
            sequence_length = hidden_states.shape[2] * hidden_states.shape[3]
        else:
            sequence_length = hidden_states.shape[1]
        if encoder_hidden_states is None:
            key_length = None
        elif isinstance(encoder_hidden_states, torch.Tensor):
            key_length = encoder_hidden_states.shape[1]
        else:  # IP-adapter style tuples: not grounded
            return None
        return grounding.bias(sequence_length, key_length, hidden_states.dtype, hidden_states.device)

    def _grounded(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        temb: torch.Tensor | None,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size = hidden_states.shape[0]
        key_length = hidden_states.shape[1] if encoder_hidden_states is None else encoder_hidden_states.shape[1]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, key_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        grounded = self.grounding.grounded_rows
        if bias.dtype != query.dtype:  # autocast: SDPA wants the mask in the query's dtype
            bias = bias.to(query.dtype)
        grounded_mask = bias if attention_mask is None else attention_mask[grounded] + bias
        out_grounded = self._attend(query[grounded], key[grounded], value[grounded], grounded_mask)
        if grounded.start > 0:  # the unconditional rows: no grounding, fastest kernel
            plain = slice(0, grounded.start)
            plain_mask = None if attention_mask is None else attention_mask[plain]
            out_plain = F.scaled_dot_product_attention(query[plain], key[plain], value[plain], attn_mask=plain_mask)
            hidden_states = torch.cat([out_plain, out_grounded])
        else:
            hidden_states = out_grounded

        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim)
        hidden_states = hidden_states.to(query.dtype)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor

    def _attend(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor
    ) -> torch.Tensor:
        """Scaled dot-product attention of the grounded rows, ``(T, heads, Q, d)``, with the additive mask."""
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask)


class Grounding:
    """Box grounding installed on a UNet's spatial attention for one render; a context manager.

    ``regions[t]`` lists ``(token_indices, (x0, y0, x1, y1))`` of the objects present in frame t: indices into
    frame t's own tokenised prompt (1..76 for CLIP; 0 is the start token), boxes normalised to [0, 1].
    ``latent_hw`` is the latent grid (render size / 8); ``cfg`` says whether the UNet batch holds an
    unconditional half before the conditional one. The UNet is a diffusers ``UNetMotionModel`` or
    ``UNet2DConditionModel`` (frames as the batch).

    Call :meth:`set_step` before each denoising step; :meth:`remove` (or leaving the ``with`` block) puts every
    original processor back. ``mode="off"`` installs nothing.
    """

    #: The processor installed on each spatial layer (tests swap in a probing subclass).
    processor_class: type[GroundedAttnProcessor] = GroundedAttnProcessor

    def __init__(
        self,
        unet: nn.Module,
        config: GroundingConfig,
        regions: Sequence[Sequence[Region]],
        latent_hw: tuple[int, int],
        n_frames: int,
        cfg: bool,
    ) -> None:
        if n_frames < 1:
            raise ValueError(f"grounding for {n_frames} frames; expected at least 1")
        self.config = config
        self.n_frames = int(n_frames)
        self.cfg = bool(cfg)
        self.latent_hw = (int(latent_hw[0]), int(latent_hw[1]))
        self._frames = _checked_regions(regions, self.n_frames)
        self._grids = layer_grids(self.latent_hw)
        self._levels = {h * w: level for level, (h, w) in enumerate(self._grids)}
        self._cache: dict[tuple[Any, ...], torch.Tensor | None] = {}
        self._has_objects = any(self._frames)
        self._has_pairs = any(len(frame) > 1 for frame in self._frames)
        self.active = False
        self._unet: nn.Module | None = None
        self._originals: dict[str, Any] = {}
        #: Processor keys this grounding replaced (spatial attention only).
        self.installed_on: list[str] = []
        if config.mode == "off":
            return
        originals = dict(unet.attn_processors)
        replaced = dict(originals)
        for key, original in originals.items():
            if is_spatial_attention(key):
                replaced[key] = self.processor_class(self, key, original)
                self.installed_on.append(key)
        unet.set_attn_processor(replaced)
        self._unet = unet
        self._originals = originals
        self.set_step(0, 1)

    # ------------------------------------------------------------------ lifecycle

    def set_step(self, step_index: int, n_steps: int) -> None:
        """Turn grounding on for ``step_index < step_fraction · n_steps`` (0-based), off after."""
        self.active = self._unet is not None and self._has_objects and step_index < self.config.step_fraction * n_steps

    def remove(self) -> None:
        """Put back the exact processor objects that were there before; drop the cached masks. Idempotent."""
        if self._unet is not None:
            self._unet.set_attn_processor(dict(self._originals))
            self._unet = None
        self.active = False
        self._cache.clear()

    def __enter__(self) -> Grounding:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    # ------------------------------------------------------------------ masks

    def layer_grid(self, sequence_length: int) -> tuple[int, int]:
        """The ``(h, w)`` grid of a spatial layer that sees ``sequence_length`` tokens per frame."""
        return self._grids[self.layer_level(sequence_length)]

    def layer_level(self, sequence_length: int) -> int:
        """The downsampling level k (grid ``ceil(latent / 2**k)``) of a layer seeing ``sequence_length`` tokens."""
        try:
            return self._levels[sequence_length]
        except KeyError:
            raise ValueError(
                f"a spatial attention layer sees {sequence_length} positions, which is no downsampling of the "
                f"{self.latent_hw[0]}×{self.latent_hw[1]} latent grid this grounding was built for"
            ) from None

    @property
    def grounded_rows(self) -> slice:
        """Rows of the UNet batch that are grounded: the conditional frames."""
        return slice(self.n_frames, 2 * self.n_frames) if self.cfg else slice(0, self.n_frames)

    # Masks are built once per layer size and cached; under torch.compile that Python work must stay
    # out of the graph, or every new size recompiles until the limit and compile falls back to eager.
    @torch.compiler.disable
    def bias(
        self, sequence_length: int, key_length: int | None, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor | None:
        """Additive attention bias ``(T, 1, Q, K)`` for the grounded rows of a layer, or None (nothing to do).

        ``key_length`` None means self-attention (``K = Q``); otherwise the text length (77). Built on first
        use and cached for the rest of the render.
        """
        cache_key = (sequence_length, key_length, dtype, device)
        if cache_key not in self._cache:
            level = self.layer_level(sequence_length)
            if key_length is None:
                wanted = self.config.self_attention and self._has_pairs
                built = self._self_bias(level, dtype, device) if wanted else None
            else:
                built = self._cross_bias(level, key_length, dtype, device)
            self._cache[cache_key] = built
        return self._cache[cache_key]

    def _empty_bias(self, queries: int, keys: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        padded = -(-keys // _BIAS_ALIGN) * _BIAS_ALIGN
        return torch.zeros(self.n_frames, 1, queries, padded, dtype=dtype, device=device)[..., :keys]

    def _cross_bias(self, level: int, key_length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        queries = math.prod(self._grids[level])
        bias = self._empty_bias(queries, key_length, dtype, device)
        hard = self.config.mode == "hard"
        outside_value = -math.inf if hard else -self.config.strength
        inside_value = 0.0 if hard else self.config.strength
        for t, objects in enumerate(self._frames):
            # A word shared by two objects (one "car" token for two cars) may go in either box.
            allowed: dict[int, torch.Tensor] = {}
            for obj in objects:
                inside = box_cells(obj.box, level, self.latent_hw)
                for token in obj.tokens:
                    if token >= key_length:
                        raise ValueError(
                            f"grounding frame {t}: token index {token} is beyond the prompt's {key_length} tokens"
                        )
                    allowed[token] = allowed[token] | inside if token in allowed else inside
            if not allowed:
                continue
            tokens = torch.tensor(sorted(allowed), device=device)
            inside = torch.stack([allowed[token] for token in sorted(allowed)], dim=1).to(device)  # (Q, n_tokens)
            values = torch.where(
                inside,
                torch.tensor(inside_value, dtype=dtype, device=device),
                torch.tensor(outside_value, dtype=dtype, device=device),
            )
            bias[t, 0].index_copy_(1, tokens, values)
        return bias

    def _self_bias(self, level: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        queries = math.prod(self._grids[level])
        bias = self._empty_bias(queries, queries, dtype, device)
        blocked_value = -math.inf if self.config.mode == "hard" else -self.config.strength
        for t, objects in enumerate(self._frames):
            if len(objects) < 2:
                continue
            member = torch.stack([box_cells(obj.box, level, self.latent_hw) for obj in objects], dim=1).to(device)
            in_any = member.any(dim=1)
            member_f = member.to(torch.float32)
            shares_a_box = (member_f @ member_f.T) > 0
            # A query in some box must not see a key that lies only in boxes other than its own.
            blocked = in_any[:, None] & in_any[None, :] & ~shares_a_box
            bias[t, 0].masked_fill_(blocked, blocked_value)
        return bias
