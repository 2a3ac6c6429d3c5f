"""Blind SI-SNR estimator (REAL-M, Subakan et al., 2022): how good is a separated source, without its reference?

Tensor layouts, used throughout this file:
    mixture         (batch, time)
    estimates       (batch, sources, time)      a separator's outputs for that mixture
    attention_mask  (batch, time)               1 on real samples, 0 on padding
    pairs           (batch * sources, 2, time)  channel 0 the mixture, channel 1 one estimate
    hidden          (batch * sources, channels, frames)
    frame_mask      (batch * sources, 1, frames)
    si_snr          (batch, sources)            dB

Both channels are scaled to unit RMS over their real samples first, so the score ignores the arbitrary gain of a
scale-invariant separator, as SI-SNR itself does. Padding never leaks into real frames: statistics are taken over
real frames only and every depthwise convolution sees zeros past a sequence's end, so a padded batch scores the
same as one-by-one calls. This file imports only torch and transformers so that a Hub folder carrying it loads
with `trust_remote_code=True` where zoo is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_si_snr_estimator import SiSnrEstimatorConfig


@dataclass
class SiSnrEstimationOutput(ModelOutput):
    """Output of [`SiSnrEstimatorForQualityEstimation`].

    Args:
        loss: MSE or L1 between predicted and clipped true SI-SNR, on the range scaled to [0, 1]; only when
            `labels` are given.
        si_snr: `(batch, sources)` estimated SI-SNR in dB of each estimate, inside `config.si_snr_range`.
    """

    loss: Optional[torch.FloatTensor] = None
    si_snr: Optional[torch.FloatTensor] = None


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


def dilated_depthwise(conv: nn.Conv1d, hidden: torch.Tensor, dilation: int) -> torch.Tensor:
    """`conv` (depthwise, undilated, "same" padding) applied with `dilation`, as `dilation` interleaved undilated convs.

    Exactly a dilated convolution with zero padding, but PyTorch's CPU backward of a dilated depthwise conv is
    some 20x slower than of an undilated one, so frames j, j + d, j + 2d, ... are convolved as their own sequence.
    """
    if dilation == 1:
        return conv(hidden)
    batch, channels, frames = hidden.shape
    hidden = nn.functional.pad(hidden, (0, (-frames) % dilation))  # (batch, channels, d * n); the tail is zeros, as past the end
    hidden = hidden.view(batch, channels, -1, dilation).permute(0, 3, 1, 2).reshape(batch * dilation, channels, -1)  # (batch * d, channels, n)
    hidden = conv(hidden)
    hidden = hidden.view(batch, dilation, channels, -1).permute(0, 2, 3, 1).reshape(batch, channels, -1)  # (batch, channels, d * n)
    return hidden[..., :frames]


class SiSnrEstimatorBlock(nn.Module):
    """Dilated depthwise conv -> PReLU -> gLN -> 1x1 conv -> PReLU -> gLN, with a residual connection."""

    def __init__(self, config: SiSnrEstimatorConfig, dilation: int):
        super().__init__()
        channels = config.hidden_channels
        self.dilation = dilation
        padding = (config.conv_kernel_size - 1) // 2
        self.depthwise = nn.Conv1d(channels, channels, config.conv_kernel_size, padding=padding, groups=channels)
        self.act1 = nn.PReLU()
        self.norm1 = MaskedGlobalLayerNorm(channels)
        self.pointwise = nn.Conv1d(channels, channels, 1)
        self.act2 = nn.PReLU()
        self.norm2 = MaskedGlobalLayerNorm(channels)

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        # the depthwise conv must see the zeros a lone sequence would have past its end
        inputs = hidden if frame_mask is None else hidden * frame_mask
        out = self.norm1(self.act1(dilated_depthwise(self.depthwise, inputs, self.dilation)), frame_mask)  # (batch, channels, frames)
        out = self.norm2(self.act2(self.pointwise(out)), frame_mask)
        return hidden + out


class SiSnrEstimatorPreTrainedModel(PreTrainedModel):
    config_class = SiSnrEstimatorConfig
    base_model_prefix = "si_snr_estimator"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own (Kaiming-uniform) init, as for Conv-TasNet; N(0, 0.02) starves the small conv stack
        if isinstance(module, (nn.Conv1d, nn.Linear, nn.PReLU)):
            module.reset_parameters()
        elif isinstance(module, MaskedGlobalLayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class SiSnrEstimatorModel(SiSnrEstimatorPreTrainedModel):
    """Encoder and conv blocks: `(pairs, 2, time)` (mixture, estimate) pairs -> `(pairs, 2 * hidden_channels)` pooled features."""

    def __init__(self, config: SiSnrEstimatorConfig):
        super().__init__(config)
        self.stride = config.kernel_size // 2
        self.encoder = nn.Conv1d(2, config.num_filters, config.kernel_size, stride=self.stride, bias=False)
        self.norm = MaskedGlobalLayerNorm(config.num_filters)
        self.bottleneck = nn.Conv1d(config.num_filters, config.hidden_channels, 1)
        self.blocks = nn.ModuleList(SiSnrEstimatorBlock(config, dilation=2**i) for i in range(config.num_blocks))
        self.post_init()

    def forward(self, pairs: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if pairs.dim() != 3 or pairs.shape[1] != 2:
            raise ValueError(f"pairs must be (batch, 2, time), got shape {tuple(pairs.shape)}")
        batch, _, time = pairs.shape
        kernel = self.config.kernel_size
        if time < kernel:
            raise ValueError(f"input has {time} samples, fewer than one encoder frame ({kernel}); pass longer audio")
        if attention_mask is None:
            attention_mask = torch.ones(batch, time, dtype=pairs.dtype, device=pairs.device)
        sample_mask = attention_mask.to(pairs.dtype).unsqueeze(1)  # (batch, 1, time)
        lengths = sample_mask.sum(-1, keepdim=True).clamp(min=1)
        # unit RMS over the real samples: the score must not depend on the separator's arbitrary output gain
        pairs = pairs * sample_mask
        pairs = pairs - pairs.sum(-1, keepdim=True) / lengths * sample_mask
        rms = torch.sqrt(pairs.pow(2).sum(-1, keepdim=True) / lengths + 1e-8)
        pairs = pairs / rms  # (batch, 2, time), zero on padding
        # right-pad so the frames tile the signal exactly, as a lone sequence would be padded
        pad = (-(time - kernel)) % self.stride
        hidden = torch.relu(self.encoder(nn.functional.pad(pairs, (0, pad))))  # (batch, filters, frames)
        # a sequence of n real samples, padded alone, would have ceil((n - kernel) / stride) + 1 frames
        valid_frames = torch.div(lengths.view(-1) - kernel + self.stride - 1, self.stride, rounding_mode="floor").clamp(min=0) + 1
        frames = torch.arange(hidden.shape[-1], device=hidden.device)
        frame_mask = (frames[None, :] < valid_frames[:, None]).to(hidden.dtype).unsqueeze(1)  # (batch, 1, frames)
        pool_mask = frame_mask
        if bool((valid_frames == hidden.shape[-1]).all()):
            frame_mask = None  # nothing to hide: take the faster unmasked path
        hidden = self.bottleneck(self.norm(hidden, frame_mask))  # (batch, hidden, frames)
        for block in self.blocks:
            hidden = block(hidden, frame_mask)
        count = pool_mask.sum(-1).clamp(min=1)  # (batch, 1)
        mean = (hidden * pool_mask).sum(-1) / count  # (batch, hidden)
        std = torch.sqrt(((hidden - mean.unsqueeze(-1)).pow(2) * pool_mask).sum(-1) / count + 1e-6)
        return torch.cat([mean, std], dim=-1)  # (batch, 2 * hidden)


class SiSnrEstimatorForQualityEstimation(SiSnrEstimatorPreTrainedModel):
    """Blind SI-SNR estimator: scores each separated source from the mixture and that source alone, no reference needed.

    Args (forward):
        input_values: `(batch, time)` mixtures at `config.sampling_rate`.
        estimates: `(batch, sources, time)` separated sources of those mixtures, or `(batch, time)` for one source.
        attention_mask: `(batch, time)`, 1 on real samples; None means no padding.
        labels: `(batch, sources)` (or `(batch,)`) true SI-SNR in dB of each estimate against its reference; when
            given the loss is computed, on targets clipped to `config.si_snr_range`.

    >>> import torch
    >>> model = SiSnrEstimatorForQualityEstimation(SiSnrEstimatorConfig(num_filters=16, hidden_channels=16,
    ...     num_blocks=2, mlp_channels=16))
    >>> out = model(torch.randn(2, 800), estimates=torch.randn(2, 3, 800), labels=torch.randn(2, 3) * 10)
    >>> tuple(out.si_snr.shape), out.loss.dim()
    ((2, 3), 0)
    >>> tuple(model.estimate(torch.randn(800), torch.randn(2, 800)).shape)  # one mixture, two sources
    (1, 2)
    """

    def __init__(self, config: SiSnrEstimatorConfig):
        super().__init__(config)
        self.si_snr_estimator = SiSnrEstimatorModel(config)
        pooled = 2 * config.hidden_channels
        self.head = nn.Sequential(
            nn.Linear(pooled, config.mlp_channels),
            nn.PReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.mlp_channels, 1),
        )
        self.post_init()

    def forward(self, input_values, estimates, attention_mask=None, labels=None, return_dict=None, **kwargs):
        if input_values.dim() != 2:
            raise ValueError(f"input_values must be (batch, time) mixtures, got shape {tuple(input_values.shape)}")
        if estimates.dim() == 2:
            estimates = estimates.unsqueeze(1)  # one source per mixture
        batch, time = input_values.shape
        if estimates.dim() != 3 or estimates.shape[0] != batch or estimates.shape[-1] != time:
            raise ValueError(
                f"estimates must be (batch, sources, time) = ({batch}, sources, {time}) to match input_values, "
                f"got shape {tuple(estimates.shape)}"
            )
        sources = estimates.shape[1]
        mixture = input_values.unsqueeze(1).expand(batch, sources, time)
        pairs = torch.stack([mixture, estimates.to(input_values.dtype)], dim=2).flatten(0, 1)  # (batch * sources, 2, time)
        mask = None
        if attention_mask is not None:
            mask = attention_mask.unsqueeze(1).expand(batch, sources, time).flatten(0, 1)  # (batch * sources, time)
        pooled = self.si_snr_estimator(pairs, mask)  # (batch * sources, 2 * hidden)
        scaled = torch.sigmoid(self.head(pooled).view(batch, sources))  # the range mapped to [0, 1]
        low, high = self.config.si_snr_range
        si_snr = low + (high - low) * scaled
        loss = None
        if labels is not None:
            labels = labels.view(batch, -1).to(scaled.dtype) if labels.dim() == 1 else labels.to(scaled.dtype)
            if labels.shape != scaled.shape:
                raise ValueError(f"labels must be (batch, sources) = {tuple(scaled.shape)} SI-SNRs in dB, got {tuple(labels.shape)}")
            target = (labels.clamp(low, high) - low) / (high - low)
            if self.config.loss == "l1":
                loss = nn.functional.l1_loss(scaled.float(), target.float())
            else:
                loss = nn.functional.mse_loss(scaled.float(), target.float())
        return SiSnrEstimationOutput(loss=loss, si_snr=si_snr)

    @torch.no_grad()
    def estimate(self, mixture, estimates, attention_mask=None) -> torch.Tensor:
        """`(batch, sources)` estimated SI-SNR (dB), in eval mode: the separation pipeline's `estimator=` protocol.

        Args:
            mixture: `(batch, time)` or `(time,)` tensor or numpy array at `config.sampling_rate`.
            estimates: `(batch, sources, time)`, or `(sources, time)` with a `(time,)` mixture.
            attention_mask: `(batch, time)`, 1 on real samples; None means no padding.
        """
        parameter = next(self.parameters())
        mixture = mixture if torch.is_tensor(mixture) else torch.from_numpy(np.asarray(mixture, dtype=np.float32))
        estimates = estimates if torch.is_tensor(estimates) else torch.from_numpy(np.asarray(estimates, dtype=np.float32))
        if mixture.dim() == 1:
            mixture = mixture.unsqueeze(0)
            estimates = estimates.unsqueeze(0) if estimates.dim() == 2 else estimates.view(1, 1, -1)
        mixture = mixture.to(parameter.device, parameter.dtype)
        estimates = estimates.to(parameter.device, parameter.dtype)
        if attention_mask is not None:
            attention_mask = torch.as_tensor(attention_mask).to(parameter.device)
        was_training = self.training
        self.eval()  # dropout off: the same input always gets the same score
        try:
            return self(mixture, estimates=estimates, attention_mask=attention_mask).si_snr
        finally:
            self.train(was_training)
