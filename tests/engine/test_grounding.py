"""Box grounding of the video UNet (engine.generator.grounding) and the GLIGEN graft (engine.generator.gligen).

Everything runs on tiny randomly initialised diffusers models of the real classes (SD-shaped UNet with two
levels, a motion adapter), built here from configs and seeded: no download, a few seconds on a CPU.

Attention weights are measured with a probe: a processor subclass whose ``_attend`` computes the softmax of
the same logits plus the same additive mask explicitly, checks that it reproduces the fused SDPA output, and
records the probabilities per layer.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
from transformers import CLIPTextConfig, CLIPTextModel

from engine.errors import InputError
from engine.generator.gligen import (
    MAX_OBJS,
    build_gligen_inputs,
    gligen_cross_attention_kwargs,
    graft_gligen,
    has_gligen,
    load_gligen_unet,
    pooled_phrase_embedder,
    spatial_transformer_blocks,
)
from engine.generator.grounding import (
    GroundedAttnProcessor,
    Grounding,
    GroundingConfig,
    box_cells,
    is_spatial_attention,
    layer_grids,
    phrase_token_indices,
)

TEXT_LEN = 77
TEXT_DIM = 32
LATENT_HW = (7, 10)  # odd on purpose: the layers see 7×10 and ceil-halved 4×5
N_FRAMES = 3

# Frame 0 and 2: a car (tokens 2, 3) on the left and a dog (token 5) on the right; frame 1: the dog only.
CAR_TOKENS = [2, 3]
DOG_TOKENS = [5]
CAR_BOX = (0.0, 0.0, 0.45, 0.6)
DOG_BOX = (0.55, 0.4, 1.0, 1.0)
REGIONS = [
    [(CAR_TOKENS, CAR_BOX), (DOG_TOKENS, DOG_BOX)],
    [(DOG_TOKENS, DOG_BOX)],
    [(CAR_TOKENS, CAR_BOX), (DOG_TOKENS, DOG_BOX)],
]


# ----------------------------------------------------------------------------- tiny models


def tiny_unet2d(attention_type: str = "default", seed: int = 0) -> UNet2DConditionModel:
    """SD-shaped UNet: cross-attention at the latent grid (down 0, up 1) and at half of it (mid block)."""
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=2,
        norm_num_groups=32,
        attention_type=attention_type,
    ).eval()


def tiny_motion_unet(seed: int = 0) -> UNetMotionModel:
    base = tiny_unet2d(seed=seed)
    torch.manual_seed(seed + 1)
    adapter = MotionAdapter(
        block_out_channels=(32, 64),
        motion_layers_per_block=1,
        motion_transformer_layers_per_block=1,
        motion_mid_block_layers_per_block=1,
        motion_num_attention_heads=2,
        motion_norm_num_groups=32,
        motion_max_seq_length=32,
        use_motion_mid_block=True,
    )
    return UNetMotionModel.from_unet2d(base, adapter).eval()


@pytest.fixture(scope="module")
def unet2d() -> UNet2DConditionModel:
    return tiny_unet2d()


@pytest.fixture(scope="module")
def motion_unet() -> UNetMotionModel:
    return tiny_motion_unet()


def image_inputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents ``(T, 4, h, w)`` and per-frame prompts ``(T, 77, D)`` for the 2-D UNet (frames as the batch)."""
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(N_FRAMES, 4, *LATENT_HW, generator=generator)
    prompts = torch.randn(N_FRAMES, TEXT_LEN, TEXT_DIM, generator=generator)
    return latents, prompts


def video_inputs(seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents ``(2, 4, T, h, w)`` (uncond, cond) and prompts ``(2T, 77, D)`` in the UNet's row order."""
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, 4, N_FRAMES, *LATENT_HW, generator=generator).repeat(2, 1, 1, 1, 1)
    prompts = torch.randn(2 * N_FRAMES, TEXT_LEN, TEXT_DIM, generator=generator)
    return latents, prompts


@torch.no_grad()
def run(unet: torch.nn.Module, latents: torch.Tensor, prompts: torch.Tensor, **kwargs: object) -> torch.Tensor:
    return unet(latents, 500, encoder_hidden_states=prompts, **kwargs).sample


# ----------------------------------------------------------------------------- the probe


class ProbeProcessor(GroundedAttnProcessor):
    """Grounded processor that records the attention probabilities of the grounded rows."""

    def _attend(self, query, key, value, attn_mask):
        logits = query @ key.transpose(-1, -2) / math.sqrt(query.shape[-1]) + attn_mask
        probs = logits.softmax(dim=-1)
        fused = super()._attend(query, key, value, attn_mask)
        assert torch.allclose(probs @ value, fused, atol=1e-5), "the probe does not measure what SDPA computed"
        self.grounding.probes[self.name] = probs  # (T, heads, Q, K)
        return fused


class ProbeGrounding(Grounding):
    processor_class = ProbeProcessor

    def __init__(self, *args, **kwargs) -> None:
        self.probes: dict[str, torch.Tensor] = {}
        super().__init__(*args, **kwargs)


def cross_probes(grounding: ProbeGrounding) -> dict[str, torch.Tensor]:
    probes = {name: p for name, p in grounding.probes.items() if ".attn2." in name}
    assert probes, "no cross-attention layer was grounded"
    return probes


def cells(grounding: Grounding, probs: torch.Tensor, box) -> torch.Tensor:
    return box_cells(box, grounding.layer_level(probs.shape[2]), LATENT_HW)


# ----------------------------------------------------------------------------- layer resolution


def test_layer_grids_follow_the_unets_ceil_halving():
    assert layer_grids((40, 64))[:4] == [(40, 64), (20, 32), (10, 16), (5, 8)]  # 512×320
    assert layer_grids((41, 64))[:4] == [(41, 64), (21, 32), (11, 16), (6, 8)]
    assert layer_grids((7, 10)) == [(7, 10), (4, 5), (2, 3), (1, 2), (1, 1)]


def test_box_cells_map_a_box_onto_each_level():
    # Left half of a 4-wide latent: 2 cells at level 0, 1 at level 1.
    assert box_cells((0.0, 0.0, 0.5, 1.0), 0, (1, 4)).tolist() == [True, True, False, False]
    assert box_cells((0.0, 0.0, 0.5, 1.0), 1, (1, 4)).tolist() == [True, False]
    # Odd side 5 at level 1: cells cover latent [0, 2), [2, 4), [4, 5); centres 0.2, 0.6, 0.9.
    assert box_cells((0.85, 0.0, 1.0, 1.0), 1, (1, 5)).tolist() == [False, False, True]
    # Level 2 of side 5: cells [0, 4) and the partial [4, 5), centres 0.4 and 0.9.
    assert box_cells((0.6, 0.0, 1.0, 1.0), 2, (1, 5)).tolist() == [False, True]
    # A sliver thinner than a cell still gets the nearest cell.
    assert box_cells((0.3, 0.3, 0.32, 0.32), 1, (8, 8)).sum() == 1


# ----------------------------------------------------------------------------- (1) where processors go


def test_processors_only_on_spatial_attention_and_removed_exactly(motion_unet):
    before = dict(motion_unet.attn_processors)
    assert any("motion_modules" in key for key in before)
    latents, prompts = video_inputs()
    with Grounding(motion_unet, GroundingConfig(), REGIONS, LATENT_HW, N_FRAMES, cfg=True) as grounding:
        during = motion_unet.attn_processors
        assert set(during) == set(before)
        for key, processor in during.items():
            spatial = ".attentions." in key and "motion_modules" not in key
            assert is_spatial_attention(key) == spatial
            if spatial:
                assert isinstance(processor, GroundedAttnProcessor)
                assert processor.original is before[key]
            else:
                assert processor is before[key]
        assert sorted(grounding.installed_on) == sorted(k for k in before if ".attentions." in k)
        run(motion_unet, latents, prompts)
    after = motion_unet.attn_processors
    assert all(after[key] is before[key] for key in before)


def test_mode_off_installs_nothing(motion_unet):
    before = dict(motion_unet.attn_processors)
    grounding = Grounding(motion_unet, GroundingConfig(mode="off"), REGIONS, LATENT_HW, N_FRAMES, cfg=True)
    assert not grounding.installed_on and not grounding.active
    assert all(motion_unet.attn_processors[key] is before[key] for key in before)
    grounding.remove()


# ----------------------------------------------------------------------------- (2) hard masks


def test_hard_mask_zeroes_object_attention_outside_its_box_at_every_resolution(unet2d):
    latents, prompts = image_inputs()
    with ProbeGrounding(unet2d, GroundingConfig(mode="hard"), REGIONS, LATENT_HW, N_FRAMES, cfg=False) as grounding:
        run(unet2d, latents, prompts)
    probes = cross_probes(grounding)
    assert {probs.shape[2] for probs in probes.values()} == {7 * 10, 4 * 5}  # two resolutions measured
    for name, probs in probes.items():
        for frame in (0, 2):
            for tokens, box in REGIONS[frame]:
                inside = cells(grounding, probs, box)
                assert 0 < inside.sum() < inside.numel(), name
                outside_p = probs[frame][:, ~inside][:, :, tokens]
                inside_p = probs[frame][:, inside][:, :, tokens]
                assert torch.count_nonzero(outside_p) == 0, f"{name}: frame {frame} tokens {tokens} leak outside"
                assert (inside_p > 0).all(), name
        # Untouched tokens (start token, other words) still get weight everywhere.
        assert (probs[..., [0, 1, 4, 40]] > 0).all()
        assert torch.allclose(probs.sum(-1), torch.ones(()), atol=1e-5)


# ----------------------------------------------------------------------------- (3) soft masks


def _inside_outside_ratio(grounding: ProbeGrounding, tokens, box, frame: int) -> dict[str, float]:
    ratios = {}
    for name, probs in cross_probes(grounding).items():
        inside = cells(grounding, probs, box)
        weight = probs[frame][..., tokens].sum(-1)  # (heads, Q)
        ratios[name] = (weight[:, inside].mean() / weight[:, ~inside].mean()).item()
    return ratios


def test_soft_mode_shifts_object_attention_into_its_box(unet2d):
    latents, prompts = image_inputs()
    ratios = {}
    for strength in (0.0, 2.0):  # strength 0 adds a zero bias: the ungrounded attention
        config = GroundingConfig(mode="soft", strength=strength)
        with ProbeGrounding(unet2d, config, REGIONS, LATENT_HW, N_FRAMES, cfg=False) as grounding:
            run(unet2d, latents, prompts)
        ratios[strength] = _inside_outside_ratio(grounding, CAR_TOKENS, CAR_BOX, frame=0)
    for name, plain in ratios[0.0].items():
        boosted = ratios[2.0][name]
        # ±2 on the logits: the inside/outside ratio grows by about e**4 (softmax renormalisation aside).
        assert boosted > 10 * plain, (name, plain, boosted)


# ----------------------------------------------------------------------------- (4) absent objects


def test_an_object_absent_from_a_frame_is_not_masked_there(unet2d):
    latents, prompts = image_inputs()
    with ProbeGrounding(unet2d, GroundingConfig(mode="hard"), REGIONS, LATENT_HW, N_FRAMES, cfg=False) as grounding:
        run(unet2d, latents, prompts)
    for name, probs in cross_probes(grounding).items():
        assert (probs[1][..., CAR_TOKENS] > 0).all(), name  # frame 1 has no car: its words go anywhere
        assert torch.count_nonzero(probs[0][:, ~cells(grounding, probs, CAR_BOX)][:, :, CAR_TOKENS]) == 0
        dog_outside = probs[1][:, ~cells(grounding, probs, DOG_BOX)][:, :, DOG_TOKENS]
        assert torch.count_nonzero(dog_outside) == 0, name  # while the dog is still grounded in frame 1


# ----------------------------------------------------------------------------- (5) step fraction


def test_set_step_turns_grounding_off_after_the_step_fraction(unet2d):
    latents, prompts = image_inputs()
    plain = run(unet2d, latents, prompts)
    config = GroundingConfig(mode="hard", step_fraction=0.4)
    with Grounding(unet2d, config, REGIONS, LATENT_HW, N_FRAMES, cfg=False) as grounding:
        grounding.set_step(3, 10)
        assert grounding.active
        early = run(unet2d, latents, prompts)
        grounding.set_step(4, 10)
        assert not grounding.active
        late = run(unet2d, latents, prompts)
    assert not torch.allclose(early, plain, atol=1e-4)
    assert torch.equal(late, plain)


# ----------------------------------------------------------------------------- (6) the motion UNet with CFG


def test_motion_unet_runs_grounded_with_cfg_and_leaves_the_uncond_half_alone(motion_unet):
    latents, prompts = video_inputs()
    plain = run(motion_unet, latents, prompts)
    with Grounding(motion_unet, GroundingConfig(), REGIONS, LATENT_HW, N_FRAMES, cfg=True):
        grounded = run(motion_unet, latents, prompts)
    assert grounded.shape == plain.shape == (2, 4, N_FRAMES, *LATENT_HW)
    assert torch.isfinite(grounded).all()
    assert not torch.allclose(grounded[1], plain[1], atol=1e-4)  # the conditional frames follow the boxes
    assert torch.allclose(grounded[0], plain[0], atol=1e-5)  # the negative-prompt half is not masked
    # Without any object there is nothing to ground: exactly the plain output.
    with Grounding(motion_unet, GroundingConfig(), [[]] * N_FRAMES, LATENT_HW, N_FRAMES, cfg=True) as empty:
        assert not empty.active
        assert torch.equal(run(motion_unet, latents, prompts), plain)


def test_wrong_batch_or_grid_is_a_clear_error(unet2d):
    latents, prompts = image_inputs()
    doubled = Grounding(unet2d, GroundingConfig(), REGIONS, LATENT_HW, N_FRAMES, cfg=True)
    with doubled, pytest.raises(ValueError, match="grounding expects 6"):
        run(unet2d, latents, prompts)
    other_size = Grounding(unet2d, GroundingConfig(), REGIONS, (8, 8), N_FRAMES, cfg=False)
    with other_size, pytest.raises(ValueError, match="no downsampling of the 8×8 latent"):
        run(unet2d, latents, prompts)
    assert not any(isinstance(p, GroundedAttnProcessor) for p in unet2d.attn_processors.values())


def test_bad_config_and_regions_are_rejected(unet2d):
    with pytest.raises(ValueError, match="mode"):
        GroundingConfig(mode="maybe")
    with pytest.raises(ValueError, match="step_fraction"):
        GroundingConfig(step_fraction=1.5)
    with pytest.raises(ValueError, match="start token"):
        Grounding(unet2d, GroundingConfig(), [[([0, 2], CAR_BOX)]], LATENT_HW, 1, cfg=False)
    with pytest.raises(ValueError, match="x0 < x1"):
        Grounding(unet2d, GroundingConfig(), [[([2], (0.5, 0.0, 0.5, 1.0))]], LATENT_HW, 1, cfg=False)
    with pytest.raises(ValueError, match="one list per frame"):
        Grounding(unet2d, GroundingConfig(), REGIONS[:2], LATENT_HW, N_FRAMES, cfg=False)
    assert all(
        isinstance(p, type(next(iter(unet2d.attn_processors.values())))) for p in unet2d.attn_processors.values()
    )


def test_masks_are_cached_per_resolution_in_the_inputs_dtype(unet2d):
    grounding = Grounding(unet2d, GroundingConfig(), REGIONS, LATENT_HW, N_FRAMES, cfg=False)
    try:
        first = grounding.bias(70, TEXT_LEN, torch.float16, torch.device("cpu"))
        assert first is grounding.bias(70, TEXT_LEN, torch.float16, torch.device("cpu"))
        assert first.dtype == torch.float16 and first.shape == (N_FRAMES, 1, 70, TEXT_LEN)
        assert first.stride(-2) % 16 == 0  # aligned rows: the fused kernels take it without copying
        assert grounding.bias(20, TEXT_LEN, torch.float32, torch.device("cpu")).shape[2] == 20
        assert grounding.bias(70, None, torch.float32, torch.device("cpu")) is None  # self_attention off
    finally:
        grounding.remove()


# ----------------------------------------------------------------------------- (8) self-attention


def test_self_attention_masking_keeps_box_queries_out_of_other_boxes(unet2d):
    latents, prompts = image_inputs()
    config = GroundingConfig(mode="hard", self_attention=True)
    with ProbeGrounding(unet2d, config, REGIONS, LATENT_HW, N_FRAMES, cfg=False) as grounding:
        run(unet2d, latents, prompts)
    probes = {name: p for name, p in grounding.probes.items() if ".attn1." in name}
    assert {p.shape[2] for p in probes.values()} == {70, 20}
    for name, probs in probes.items():
        car = cells(grounding, probs, CAR_BOX)
        dog = cells(grounding, probs, DOG_BOX)
        car_only, dog_only = car & ~dog, dog & ~car
        background = ~(car | dog)
        assert car_only.any() and dog_only.any() and background.any()
        frame = probs[0]  # (heads, Q, Q)
        assert torch.count_nonzero(frame[:, car_only][:, :, dog_only]) == 0, name
        assert torch.count_nonzero(frame[:, dog_only][:, :, car_only]) == 0, name
        assert (frame[:, car_only][:, :, car_only] > 0).all()
        assert (frame[:, car_only][:, :, background] > 0).all()
        assert (frame[:, background] > 0).all()  # background queries see everything
        assert (probs[1] > 0).all()  # frame 1 has a single object: no region to keep apart


# ----------------------------------------------------------------------------- (7) GLIGEN graft


class StubTokenizer:
    """CLIP-tokenizer stand-in: one id per word (hashed), start 0, end 2, batches padded with the end id."""

    model_max_length = TEXT_LEN

    @staticmethod
    def word_ids(text: str) -> list[int]:
        return [3 + sum(map(ord, word)) % 90 for word in text.split()]

    def __call__(
        self, text, padding=False, max_length=None, truncation=False, return_tensors=None, add_special_tokens=True
    ):
        if isinstance(text, str):
            ids = self.word_ids(text)
            return SimpleNamespace(input_ids=[0, *ids, 2] if add_special_tokens else ids)
        rows = [[0, *self.word_ids(phrase)[: max_length - 2], 2] for phrase in text]
        width = max(map(len, rows))
        input_ids = torch.tensor([row + [2] * (width - len(row)) for row in rows])
        attention_mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
        return SimpleNamespace(input_ids=input_ids, attention_mask=attention_mask)


def test_phrase_token_indices_find_the_objects_words_in_the_prompt():
    tokenizer = StubTokenizer()
    prompt = "a red car and a dog on the road"
    assert phrase_token_indices(tokenizer, prompt, "red car") == [2, 3]
    assert phrase_token_indices(tokenizer, prompt, "dog") == [6]
    assert phrase_token_indices(tokenizer, prompt, "blue car") == [3]  # not verbatim: its head noun
    assert phrase_token_indices(tokenizer, prompt, "piano") == []
    assert phrase_token_indices(tokenizer, prompt, "red car", max_length=4) == [2]  # truncated prompt


def tiny_text_encoder() -> CLIPTextModel:
    torch.manual_seed(3)
    config = CLIPTextConfig(
        vocab_size=100,
        hidden_size=TEXT_DIM,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=TEXT_LEN,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=2,
    )
    return CLIPTextModel(config).eval()


@pytest.fixture(scope="module")
def grafted() -> tuple[UNetMotionModel, list[str]]:
    motion = tiny_motion_unet()
    gligen = tiny_unet2d(attention_type="gated", seed=7)
    names = graft_gligen(motion, gligen)
    return motion, names


def test_graft_puts_a_fuser_in_every_spatial_block_and_none_in_motion_modules(grafted):
    motion, names = grafted
    spatial = spatial_transformer_blocks(motion)
    assert names == sorted(spatial) and len(names) == 4  # down 0, mid, up 1 (×2)
    assert has_gligen(motion)
    assert all(hasattr(block, "fuser") for block in spatial.values())
    module_names = [name for name, _ in motion.named_modules()]
    assert any("motion_modules" in name for name in module_names)
    assert not any("motion_modules" in name and "fuser" in name for name in module_names)
    assert hasattr(motion, "position_net")
    assert not has_gligen(tiny_motion_unet())


def test_grounding_does_not_touch_the_grafted_fusers(grafted):
    motion, _ = grafted
    before = dict(motion.attn_processors)
    with Grounding(motion, GroundingConfig(), REGIONS, LATENT_HW, N_FRAMES, cfg=True) as grounding:
        assert not any(".fuser." in key for key in grounding.installed_on)
        assert all(motion.attn_processors[k] is before[k] for k in before if ".fuser." in k)
        latents, prompts = video_inputs()
        frames = [[("car", CAR_BOX), ("dog", DOG_BOX)]] * N_FRAMES
        both = _gligen_output(motion, latents, prompts, frames)  # masks and fusers in one forward
        assert torch.isfinite(both).all()


def _gligen_output(motion, latents, prompts, frames) -> torch.Tensor:
    embed = pooled_phrase_embedder(StubTokenizer(), tiny_text_encoder())
    inputs = build_gligen_inputs(frames, embed, cfg=True)
    return run(motion, latents, prompts, cross_attention_kwargs=gligen_cross_attention_kwargs(motion, inputs))


def test_gligen_gates_open_follow_the_boxes_and_closed_gates_do_nothing(grafted):
    motion, _ = grafted
    latents, prompts = video_inputs()
    left = [[("car", (0.0, 0.2, 0.4, 0.8))]] * N_FRAMES
    right = [[("car", (0.6, 0.2, 1.0, 0.8))]] * N_FRAMES
    fusers = [block.fuser for block in spatial_transformer_blocks(motion).values()]
    plain = run(motion, latents, prompts)
    try:
        for fuser in fusers:
            fuser.alpha_attn.data.fill_(0.0)
            fuser.alpha_dense.data.fill_(0.0)
        closed_left = _gligen_output(motion, latents, prompts, left)
        closed_right = _gligen_output(motion, latents, prompts, right)
        assert torch.equal(closed_left, closed_right)
        assert torch.equal(closed_left, plain)
        for fuser in fusers:
            fuser.alpha_attn.data.fill_(1.0)
            fuser.alpha_dense.data.fill_(1.0)
        open_left = _gligen_output(motion, latents, prompts, left)
        open_right = _gligen_output(motion, latents, prompts, right)
        assert torch.isfinite(open_left).all()
        assert not torch.allclose(open_left, open_right, atol=1e-4)
    finally:
        for fuser in fusers:
            fuser.alpha_attn.data.fill_(0.0)
            fuser.alpha_dense.data.fill_(0.0)


def test_gligen_inputs_are_per_frame_rows_in_cfg_order():
    calls = []

    def embed(phrases):
        calls.append(list(phrases))
        return torch.stack([torch.full((TEXT_DIM,), float(len(p))) for p in phrases])

    frames = [[("car", (0.1, 0.2, 0.3, 0.4)), ("dog", (0.5, 0.5, 0.9, 1.2))], [("dog", (0.0, 0.0, 1.0, 1.0))]]
    inputs = build_gligen_inputs(frames, embed, cfg=True)
    assert calls == [["car", "dog"]]  # each phrase embedded once
    assert inputs.boxes.shape == (4, MAX_OBJS, 4)
    assert inputs.positive_embeddings.shape == (4, MAX_OBJS, TEXT_DIM)
    assert inputs.masks.sum(dim=1).tolist() == [0.0, 0.0, 2.0, 1.0]  # uncond rows carry no object
    assert inputs.boxes[2, 1].tolist() == pytest.approx([0.5, 0.5, 0.9, 1.0])  # clipped to the frame
    assert inputs.boxes[3, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert inputs.positive_embeddings[3, 0, 0].item() == 3.0  # "dog"
    no_cfg = build_gligen_inputs(frames, embed, cfg=False, max_objs=1)
    assert no_cfg.masks.tolist() == [[1.0], [1.0]]


def test_pooled_phrase_embedder_gives_one_vector_per_phrase():
    embed = pooled_phrase_embedder(StubTokenizer(), tiny_text_encoder())
    vectors = embed(["car", "red car", "car"])
    assert vectors.shape == (3, TEXT_DIM)
    assert torch.equal(vectors[0], vectors[2]) and not torch.equal(vectors[0], vectors[1])


def test_load_gligen_unet_reads_local_folders_and_explains_what_is_missing(tmp_path):
    tiny_unet2d(attention_type="gated").save_pretrained(tmp_path / "pipeline" / "unet")
    unet = load_gligen_unet(tmp_path / "pipeline")
    assert hasattr(unet, "position_net") and unet.config.attention_type == "gated"
    assert hasattr(load_gligen_unet(tmp_path / "pipeline" / "unet"), "position_net")

    tiny_unet2d().save_pretrained(tmp_path / "plain")
    with pytest.raises(InputError, match="attention_type 'default'"):
        load_gligen_unet(tmp_path / "plain")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no config\.json"):
        load_gligen_unet(tmp_path / "empty")
    (tmp_path / "file.bin").write_bytes(b"")
    with pytest.raises(InputError, match="expected a folder"):
        load_gligen_unet(tmp_path / "file.bin")
    with pytest.raises(InputError, match="could not be loaded"):
        load_gligen_unet("spa2v-tests/no-such-gligen", local_files_only=True)


def test_graft_rejects_a_plain_unet():
    with pytest.raises(InputError, match="position_net"):
        graft_gligen(tiny_motion_unet(), tiny_unet2d())
