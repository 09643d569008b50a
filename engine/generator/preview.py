"""Live previews: what the video will look like, from every denoising step, for almost no time.

A preview shows the step's *predicted clean* latents (the scheduler's estimate of the final latents,
x̂₀), not the noisy latents being denoised, which look like noise until the last steps.

Two ways to turn latents into RGB:

* **Linear** (the default): SD's latents are close to a per-pixel linear code of colour, so
  ``rgb ≈ latent · W + b`` with a 4×3 matrix W and a bias. W and b are fitted here, by least squares,
  against the pipeline's *own* VAE: a few smooth random latents are decoded once, the decoded images are
  averaged over each latent pixel's 8×8 footprint, and the fit maps latent pixels to those colours.
  The fit takes one small VAE decode and is cached per VAE; a preview then costs one tiny matmul on the
  GPU and a copy of ``T × H/8 × W/8`` pixels.
* **TAESD** (diffusers' ``AutoencoderTiny``, "madebyollin/taesd"): a distilled decoder that gives sharp
  previews at full size. It is used when it is on this machine already (it is never downloaded for a
  preview), and its frames are halved in size to keep the copy to the GUI small.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.generator.loading import dtype_kwargs

log = logging.getLogger(__name__)

TAESD_MODEL = "madebyollin/taesd"
#: Latents decoded to fit the linear preview: count and side (latent pixels).
FIT_SAMPLES = 4
FIT_SIDE = 16

_FITS: weakref.WeakKeyDictionary[torch.nn.Module, LatentRGB] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LatentRGB:
    """``rgb = latent · weight + bias`` for one VAE: ``weight`` is (channels, 3), ``bias`` (3,).

    Latents are in the UNet's space (already multiplied by the VAE's scaling factor); RGB is in [-1, 1]
    like the VAE's output. ``residual_rms`` is the fit's RMS error on its own samples.
    """

    weight: np.ndarray
    bias: np.ndarray
    residual_rms: float


def _smooth_latents(n: int, channels: int, side: int, generator: torch.Generator) -> torch.Tensor:
    # Coarse noise upsampled plus a little fine noise: areas of colour with edges, roughly the statistics
    # of real latents (unit variance in the UNet's space) rather than white noise, which decodes to grey.
    coarse = torch.randn((n, channels, max(2, side // 4), max(2, side // 4)), generator=generator)
    smooth = F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False)
    fine = torch.randn((n, channels, side, side), generator=generator)
    latents = smooth + 0.3 * fine
    return latents / latents.std()


@torch.inference_mode()
def fit_latent_rgb(vae: Any, n_samples: int = FIT_SAMPLES, side: int = FIT_SIDE, seed: int = 0) -> LatentRGB:
    """Fit the linear latent → RGB map of :class:`LatentRGB` against ``vae`` (an ``AutoencoderKL``).

    Decodes ``n_samples`` latents of ``side × side`` on the VAE's device and dtype; cached per VAE object.
    """
    cached = _FITS.get(vae)
    if cached is not None:
        return cached
    channels = int(vae.config.latent_channels)
    scaling = float(vae.config.scaling_factor)
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
    latents = _smooth_latents(n_samples, channels, side, torch.Generator().manual_seed(seed))
    param = next(vae.parameters())
    decoded = vae.decode((latents / scaling + shift).to(device=param.device, dtype=param.dtype)).sample
    decoded = decoded.float().cpu()
    factor = decoded.shape[-1] // side
    colours = F.avg_pool2d(decoded, kernel_size=factor) if factor > 1 else decoded  # (n, 3, side, side)
    x = latents.permute(0, 2, 3, 1).reshape(-1, channels).double()
    y = colours.permute(0, 2, 3, 1).reshape(-1, 3).double()
    design = torch.cat([x, torch.ones((x.shape[0], 1), dtype=x.dtype)], dim=1)
    solution = torch.linalg.lstsq(design, y).solution  # (channels + 1, 3)
    residual = float((design @ solution - y).pow(2).mean().sqrt())
    fit = LatentRGB(solution[:channels].numpy().astype(np.float32), solution[channels].numpy().astype(np.float32),
                    residual)
    _FITS[vae] = fit
    log.debug("latent → RGB preview fitted (RMS error %.3f)", residual)
    return fit


def rgb_to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(T, H, W, 3) in [-1, 1] → uint8 on the CPU (NaN, from an fp16 overflow say, becomes black)."""
    rgb = torch.nan_to_num(rgb.float(), nan=-1.0)
    return ((rgb + 1.0) * 127.5).clamp_(0, 255).round_().to(torch.uint8).cpu().numpy()


class LinearPreview:
    """Latents → small RGB frames (1/8 of the render size) through a :class:`LatentRGB` fit."""

    kind = "linear"

    def __init__(self, fit: LatentRGB, device: torch.device | str = "cpu") -> None:
        self.fit = fit
        self._weight = torch.as_tensor(fit.weight, device=device)
        self._bias = torch.as_tensor(fit.bias, device=device)

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """``(1, C, T, h, w)`` predicted clean latents → ``(T, h, w, 3)`` uint8."""
        video = latents[0].to(self._weight.dtype)  # (C, T, h, w)
        rgb = torch.einsum("cthw,cr->thwr", video, self._weight.to(video.device)) + self._bias.to(video.device)
        return rgb_to_uint8(rgb)


class TaesdPreview:
    """Latents → RGB frames at half the render size through a tiny autoencoder (TAESD)."""

    kind = "taesd"

    def __init__(self, decoder: Any, downscale: int = 2) -> None:
        self.decoder = decoder
        self.downscale = downscale

    @torch.inference_mode()
    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """``(1, C, T, h, w)`` predicted clean latents → ``(T, H/2, W/2, 3)`` uint8."""
        param = next(self.decoder.parameters())
        frames = latents[0].permute(1, 0, 2, 3).to(device=param.device, dtype=param.dtype)  # (T, C, h, w)
        images = self.decoder.decode(frames / float(self.decoder.config.scaling_factor)).sample
        if self.downscale > 1:
            images = F.avg_pool2d(images.float(), kernel_size=self.downscale)
        return rgb_to_uint8(images.permute(0, 2, 3, 1))


def load_local_taesd(device: torch.device | str, dtype: torch.dtype, model: str = TAESD_MODEL) -> Any | None:
    """TAESD from the local Hugging Face cache or a local folder, or None when it is not on this machine."""
    try:
        from diffusers import AutoencoderTiny

        decoder = AutoencoderTiny.from_pretrained(model, local_files_only=True, use_safetensors=True,
                                                  low_cpu_mem_usage=False, **dtype_kwargs(dtype))
    except (OSError, ValueError) as exc:
        log.debug("no local TAESD (%s): previews use the linear fit", exc)
        return None
    return decoder.to(device).eval()
