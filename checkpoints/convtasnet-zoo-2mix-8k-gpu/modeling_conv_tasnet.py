"""Conv-TasNet for source separation and speech enhancement.

Tensor layouts, used throughout this file:
    waveform        (batch, time)
    attention_mask  (batch, time)              1 on real samples, 0 on padding
    encoded         (batch, num_filters, frames)
    frame_mask      (batch, 1, frames)
    estimates       (batch, num_speakers, time)

Padding never leaks into real samples: normalisation statistics are taken over real frames only and
every depthwise convolution sees zeros past a sequence's end, so a padded batch gives the same
estimates as one-by-one calls. This file imports only torch and transformers so that a Hub folder
carrying it loads with `trust_remote_code=True` where zoo is not installed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_conv_tasnet import ConvTasNetConfig


@dataclass
class SeparationOutput(ModelOutput):
    """Output of a separation / enhancement model.

    Args:
        loss: negative permutation-invariant SI-SNR (dB), averaged over the batch; only when `labels` are given.
        waveforms: `(batch, num_speakers, time)` estimated sources, padding positions zeroed.
        si_snr: `(batch,)` SI-SNR (dB) of the best permutation; only when `labels` are given.
        permutation: `(batch, num_speakers)` label index matched to each estimate; only when `labels` are given.
    """

    loss: Optional[torch.FloatTensor] = None
    waveforms: Optional[torch.FloatTensor] = None
    si_snr: Optional[torch.FloatTensor] = None
    permutation: Optional[torch.LongTensor] = None


def masked_si_snr(estimate: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """SI-SNR in dB over the real samples of `(..., time)` tensors; `mask` broadcasts to them."""
    lengths = mask.sum(-1, keepdim=True).clamp(min=1)
    estimate = (estimate - (estimate * mask).sum(-1, keepdim=True) / lengths) * mask
    target = (target - (target * mask).sum(-1, keepdim=True) / lengths) * mask
    scale = (estimate * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    noise = estimate - projection
    return 10 * torch.log10((projection.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


def pit_si_snr(estimates: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
    """Best-permutation SI-SNR. `estimates`, `targets`: (batch, speakers, time); `mask`: (batch, time).

    Returns `(si_snr, permutation)`: `(batch,)` mean SI-SNR over speakers of the best assignment, and
    `(batch, speakers)` the target index matched to each estimate.
    """
    num_speakers = estimates.shape[1]
    # pairwise[b, i, j] = SI-SNR of estimate i against target j
    pairwise = masked_si_snr(estimates.unsqueeze(2), targets.unsqueeze(1), mask[:, None, None, :])
    perms = torch.tensor(list(itertools.permutations(range(num_speakers))), device=estimates.device)  # (P, S)
    index = torch.arange(num_speakers, device=estimates.device)
    scores = pairwise[:, index, perms].mean(-1)  # (batch, P)
    best = scores.argmax(-1)
    return scores.gather(1, best[:, None]).squeeze(1), perms[best]


class MaskedGlobalLayerNorm(nn.Module):
    """Layer norm over channels and real frames together (gLN), blind to padded frames."""

    def __init__(self, channels: int, eps: float = 1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.eps = eps

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        if frame_mask is None:  # no padding in the batch: the fused kernel computes the same statistics
            return nn.functional.group_norm(hidden, 1, self.weight.view(-1), self.bias.view(-1), self.eps)
        count = frame_mask.sum((1, 2), keepdim=True).clamp(min=1) * hidden.shape[1]
        mean = (hidden * frame_mask).sum((1, 2), keepdim=True) / count
        var = ((hidden - mean).pow(2) * frame_mask).sum((1, 2), keepdim=True) / count
        return ((hidden - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias) * frame_mask


class ConvTasNetBlock(nn.Module):
    """1x1 conv -> PReLU -> gLN -> dilated depthwise conv -> PReLU -> gLN -> residual and skip 1x1 convs."""

    def __init__(self, config: ConvTasNetConfig, dilation: int):
        super().__init__()
        hidden = config.hidden_channels
        self.in_conv = nn.Conv1d(config.bottleneck_channels, hidden, 1)
        self.act1 = nn.PReLU()
        self.norm1 = MaskedGlobalLayerNorm(hidden)
        padding = (config.conv_kernel_size - 1) * dilation // 2
        self.depthwise = nn.Conv1d(hidden, hidden, config.conv_kernel_size, padding=padding, dilation=dilation, groups=hidden)
        self.act2 = nn.PReLU()
        self.norm2 = MaskedGlobalLayerNorm(hidden)
        self.residual = nn.Conv1d(hidden, config.bottleneck_channels, 1)
        self.skip = nn.Conv1d(hidden, config.skip_channels, 1)

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]):
        # norm1 zeroes padded frames, so the depthwise conv sees the same zeros a lone sequence would
        out = self.norm1(self.act1(self.in_conv(hidden)), frame_mask)  # (batch, hidden, frames)
        out = self.norm2(self.act2(self.depthwise(out)), frame_mask)
        return hidden + self.residual(out), self.skip(out)


class ConvTasNetMasker(nn.Module):
    """Temporal convolutional network: encoded mixture -> one mask per speaker."""

    def __init__(self, config: ConvTasNetConfig):
        super().__init__()
        self.num_speakers = config.num_speakers
        self.norm = MaskedGlobalLayerNorm(config.num_filters)
        self.bottleneck = nn.Conv1d(config.num_filters, config.bottleneck_channels, 1)
        self.blocks = nn.ModuleList(
            ConvTasNetBlock(config, dilation=2**x) for _ in range(config.num_repeats) for x in range(config.num_blocks)
        )
        self.out_act = nn.PReLU()
        self.out_conv = nn.Conv1d(config.skip_channels, config.num_speakers * config.num_filters, 1)
        self.mask_act = nn.ReLU() if config.mask_activation == "relu" else nn.Sigmoid()

    def forward(self, encoded: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        batch, filters, frames = encoded.shape
        hidden = self.bottleneck(self.norm(encoded, frame_mask))  # (batch, bottleneck, frames)
        skip_sum = 0.0
        for block in self.blocks:
            hidden, skip = block(hidden, frame_mask)
            skip_sum = skip_sum + skip
        masks = self.mask_act(self.out_conv(self.out_act(skip_sum)))  # (batch, speakers * filters, frames)
        masks = masks.view(batch, self.num_speakers, filters, frames)
        return masks if frame_mask is None else masks * frame_mask.unsqueeze(1)


class ConvTasNetPreTrainedModel(PreTrainedModel):
    config_class = ConvTasNetConfig
    base_model_prefix = "conv_tasnet"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own (Kaiming-uniform) conv init trains Conv-TasNet better than N(0, 0.02)
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d, nn.PReLU)):
            module.reset_parameters()
        elif isinstance(module, MaskedGlobalLayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class ConvTasNetModel(ConvTasNetPreTrainedModel):
    """Encoder, masker and decoder; returns `(batch, num_speakers, time)` estimates without a loss."""

    def __init__(self, config: ConvTasNetConfig):
        super().__init__(config)
        self.stride = config.kernel_size // 2
        self.encoder = nn.Conv1d(1, config.num_filters, config.kernel_size, stride=self.stride, bias=False)
        self.masker = ConvTasNetMasker(config)
        self.decoder = nn.ConvTranspose1d(config.num_filters, 1, config.kernel_size, stride=self.stride, bias=False)
        self.post_init()

    def forward(self, input_values: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if input_values.dim() != 2:
            raise ValueError(f"input_values must be (batch, time), got shape {tuple(input_values.shape)}")
        batch, time = input_values.shape
        kernel = self.config.kernel_size
        if time < kernel:
            raise ValueError(f"input has {time} samples, fewer than one encoder frame ({kernel}); pass longer audio")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_values)
        attention_mask = attention_mask.to(input_values.dtype)
        input_values = input_values * attention_mask
        # right-pad so the frames tile the signal exactly; the decoder output is cut back to `time`
        pad = (-(time - kernel)) % self.stride
        padded = nn.functional.pad(input_values, (0, pad)).unsqueeze(1)  # (batch, 1, time + pad)
        encoded = torch.relu(self.encoder(padded))  # (batch, filters, frames)
        lengths = attention_mask.sum(-1)
        # a sequence of n real samples, padded alone, would have ceil((n - kernel) / stride) + 1 frames
        valid_frames = torch.div(lengths - kernel + self.stride - 1, self.stride, rounding_mode="floor").clamp(min=0) + 1
        frames = torch.arange(encoded.shape[-1], device=encoded.device)
        frame_mask = (frames[None, :] < valid_frames[:, None]).to(encoded.dtype).unsqueeze(1)  # (batch, 1, frames)
        encoded = encoded * frame_mask
        if bool((valid_frames == encoded.shape[-1]).all()):
            frame_mask = None  # nothing to hide: take the faster unmasked path
        masks = self.masker(encoded, frame_mask)  # (batch, speakers, filters, frames)
        masked = (masks * encoded.unsqueeze(1)).flatten(0, 1)  # (batch * speakers, filters, frames)
        decoded = self.decoder(masked).view(batch, self.config.num_speakers, -1)[..., :time]
        return decoded * attention_mask.unsqueeze(1)  # (batch, speakers, time)


class ConvTasNetForSourceSeparation(ConvTasNetPreTrainedModel):
    """Conv-TasNet with a permutation-invariant SI-SNR loss.

    Args (forward):
        input_values: `(batch, time)` mixtures at `config.sampling_rate`.
        attention_mask: `(batch, time)`, 1 on real samples; None means no padding.
        labels: `(batch, num_speakers, time)` reference sources; when given the loss is computed.

    >>> import torch
    >>> model = ConvTasNetForSourceSeparation(ConvTasNetConfig(num_filters=16, bottleneck_channels=8,
    ...     hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1))
    >>> out = model(torch.randn(2, 800), labels=torch.randn(2, 2, 800))
    >>> tuple(out.waveforms.shape), out.loss.dim()
    ((2, 2, 800), 0)
    """

    def __init__(self, config: ConvTasNetConfig):
        super().__init__(config)
        self.conv_tasnet = ConvTasNetModel(config)
        self.post_init()

    def forward(self, input_values, attention_mask=None, labels=None, return_dict=None, **kwargs):
        estimates = self.conv_tasnet(input_values, attention_mask)
        loss = si_snr = permutation = None
        if labels is not None:
            if labels.dim() == 2:
                labels = labels.unsqueeze(1)
            if labels.shape != estimates.shape:
                raise ValueError(f"labels must be (batch, num_speakers, time) = {tuple(estimates.shape)}, got {tuple(labels.shape)}")
            mask = torch.ones_like(input_values) if attention_mask is None else attention_mask.to(input_values.dtype)
            # SI-SNR's log and ratios are unstable in half precision; compute them in float32
            si_snr, permutation = pit_si_snr(estimates.float(), labels.float(), mask.float())
            loss = -si_snr.clamp(max=self.config.sisnr_clamp).mean()
        return SeparationOutput(loss=loss, waveforms=estimates, si_snr=si_snr, permutation=permutation)


class ConvTasNetForSpeechEnhancement(ConvTasNetForSourceSeparation):
    """Conv-TasNet estimating one clean speech source from a noisy (and reverberant) input.

    Same interface as [`ConvTasNetForSourceSeparation`]; `labels` may be `(batch, time)`.
    """

    def __init__(self, config: ConvTasNetConfig):
        if config.num_speakers != 1:
            raise ValueError(f"speech enhancement estimates one source; set num_speakers=1, got {config.num_speakers}")
        super().__init__(config)
