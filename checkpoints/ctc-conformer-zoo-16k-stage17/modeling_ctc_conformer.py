"""CTC Conformer speech recognizer: log-mel frames -> x4 convolutional subsampling -> Conformer blocks -> characters.

Tensor layouts, used throughout this file:
    input_features  (batch, frames, num_mel_bins)      log-mel features from `AsrFeatureExtractor` (10 ms frames)
    attention_mask  (batch, frames)                    1 on real frames, 0 on padding
    hidden          (batch, steps, hidden_size)        one step every 4 frames (40 ms)
    step_mask       (batch, steps)                     bool, True on real steps
    logits          (batch, steps, vocab_size)         per-step character scores; the CTC blank is `pad_token_id`
    labels          (batch, target_length)             character ids, padded with -100

Padding never leaks into real steps: the convolutions see zeros past a sequence's end (padded frames and steps are
zeroed before each of them), attention gives padded keys no weight, and every normalisation is a LayerNorm, which
works frame by frame (Conformer's BatchNorm would mix padding into the statistics while training). So a padded batch
gives the same logits as one-by-one calls. Padded steps get logits that pick the blank, so greedy decoding of a padded
batch (what transformers' ASR pipeline does with `batch_size`) gives the same text as one-by-one.

This file imports only torch and transformers so that a Hub folder carrying it loads with `trust_remote_code=True`
where zoo is not installed.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutput

from .configuration_ctc_conformer import CtcConformerConfig


def halved_lengths(lengths):
    """Frames left of `lengths` frames (a tensor or an int) after one convolution of kernel 3, stride 2, padding 1."""
    return (lengths - 1) // 2 + 1


def subsampled_lengths(lengths):
    """Steps left of `lengths` frames after the two stride-2 convolutions of the front end: about a quarter."""
    return halved_lengths(halved_lengths(lengths))


def spec_augment(features: torch.Tensor, lengths: Optional[torch.Tensor], config: CtcConformerConfig) -> torch.Tensor:
    """SpecAugment's masks (Park et al., 2019) on `(batch, frames, num_mel_bins)` features: in every utterance, time
    spans of `config.mask_time_length` frames covering about `config.mask_time_prob` of its real frames, and bands of
    `config.mask_feature_length` bins covering about `config.mask_feature_prob` of the bins, set to 0 (the features
    are normalised per utterance, so 0 is its mean). Spans are drawn from torch's global generator, never reach into
    padding, and may overlap."""
    batch, frames, bins = features.shape
    keep = torch.ones(batch, frames, bins, dtype=torch.bool, device=features.device)
    real = [frames] * batch if lengths is None else lengths.tolist()
    for row, length in enumerate(real):
        for prob, span, size, axis in (
            (config.mask_time_prob, config.mask_time_length, int(length), 0),
            (config.mask_feature_prob, config.mask_feature_length, bins, 1),
        ):
            if prob <= 0 or size <= span:
                continue
            count = int(prob * size / span + torch.rand(()).item())  # stochastic rounding: the share is kept on average
            for start in torch.randint(0, size - span + 1, (count,)).tolist():
                if axis == 0:
                    keep[row, start : start + span, :] = False
                else:
                    keep[row, :, start : start + span] = False
    return features * keep.to(features.dtype)


class ConvSubsampling(nn.Module):
    """Two stride-2 3x3 convolutions over (frames, mel bins), then a projection: 4x fewer frames, `hidden_size` wide."""

    def __init__(self, config: CtcConformerConfig):
        super().__init__()
        channels = config.subsampling_channels
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)
        self.activation = nn.ReLU()
        mel_steps = subsampled_lengths(config.num_mel_bins)
        self.projection = nn.Linear(channels * mel_steps, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, features: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
        hidden = features.unsqueeze(1)  # (batch, 1, frames, num_mel_bins)
        for conv in (self.conv1, self.conv2):
            if lengths is not None:
                # a lone sequence sees zeros past its end; so must a padded one
                mask = torch.arange(hidden.shape[2], device=hidden.device)[None, :] < lengths[:, None]
                hidden = hidden * mask[:, None, :, None].to(hidden.dtype)
                lengths = halved_lengths(lengths)
            hidden = self.activation(conv(hidden))  # (batch, channels, frames / 2, mel bins / 2) per convolution
        batch, channels, steps, mels = hidden.shape
        hidden = hidden.permute(0, 2, 1, 3).reshape(batch, steps, channels * mels)  # (batch, steps, channels * mels)
        return self.dropout(self.projection(hidden))  # (batch, steps, hidden_size)


class FeedForward(nn.Module):
    """LayerNorm -> Linear -> SiLU -> Linear; the block adds half of it (macaron style) before and after attention."""

    def __init__(self, config: CtcConformerConfig):
        super().__init__()
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.inner = nn.Linear(config.hidden_size, config.ffn_dim)
        self.activation = nn.SiLU()
        self.outer = nn.Linear(config.ffn_dim, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.activation(self.inner(self.norm(hidden))))  # (batch, steps, ffn_dim)
        return self.dropout(self.outer(hidden))  # (batch, steps, hidden_size)


def rotate(tensor: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: rotate each (first half, second half) feature pair by its position's angle."""
    first, second = tensor.chunk(2, dim=-1)
    return tensor * cos + torch.cat([-second, first], dim=-1) * sin


class SelfAttention(nn.Module):
    """LayerNorm -> multi-head self-attention with rotary positions (relative, like Conformer's own relative
    encoding, and blind to where an utterance was cut into chunks) -> dropout."""

    def __init__(self, config: CtcConformerConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.head_size = config.hidden_size // config.num_heads
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_dropout
        self.dropout = nn.Dropout(config.dropout)
        self.rope_theta = config.rope_theta

    def forward(self, hidden: torch.Tensor, step_mask: Optional[torch.Tensor]) -> torch.Tensor:
        batch, steps, width = hidden.shape
        qkv = self.qkv(self.norm(hidden)).reshape(batch, steps, 3, self.num_heads, self.head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, steps, head_size)
        # computed here rather than kept as a buffer: a few hundred numbers, and nothing to restore on load
        frequencies = self.rope_theta ** (-torch.arange(0, self.head_size, 2, device=hidden.device, dtype=torch.float32) / self.head_size)
        angles = torch.arange(steps, device=hidden.device, dtype=torch.float32)[:, None] * frequencies[None, :]
        angles = torch.cat([angles, angles], dim=-1)  # (steps, head_size)
        cos, sin = angles.cos().to(hidden.dtype), angles.sin().to(hidden.dtype)
        query, key = rotate(query, cos, sin), rotate(key, cos, sin)
        # padded keys get no weight; padded queries still attend (to real keys) and are ignored downstream
        mask = None if step_mask is None else step_mask[:, None, None, :]  # (batch, 1, 1, steps)
        attended = nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.attention_dropout if self.training else 0.0
        )  # (batch, heads, steps, head_size)
        attended = attended.transpose(1, 2).reshape(batch, steps, width)  # (batch, steps, hidden_size)
        return self.dropout(self.out(attended))


class ConvolutionModule(nn.Module):
    """LayerNorm -> pointwise conv + GLU -> depthwise conv -> LayerNorm -> SiLU -> pointwise conv -> dropout.

    The paper normalises after the depthwise convolution with BatchNorm; a LayerNorm keeps every utterance
    independent of the others in its batch (and of their padding), in training as in inference.
    """

    def __init__(self, config: CtcConformerConfig):
        super().__init__()
        width = config.hidden_size
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.pointwise_in = nn.Conv1d(width, 2 * width, kernel_size=1)
        self.glu = nn.GLU(dim=1)
        self.depthwise = nn.Conv1d(width, width, config.conv_kernel_size, padding=config.conv_kernel_size // 2, groups=width)
        self.depthwise_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.activation = nn.SiLU()
        self.pointwise_out = nn.Conv1d(width, width, kernel_size=1)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden: torch.Tensor, step_mask: Optional[torch.Tensor]) -> torch.Tensor:
        hidden = self.norm(hidden).transpose(1, 2)  # (batch, hidden_size, steps)
        hidden = self.glu(self.pointwise_in(hidden))  # (batch, hidden_size, steps)
        if step_mask is not None:
            hidden = hidden * step_mask[:, None, :].to(hidden.dtype)  # zeros past the end, as for a lone sequence
        hidden = self.depthwise(hidden).transpose(1, 2)  # (batch, steps, hidden_size)
        hidden = self.activation(self.depthwise_norm(hidden)).transpose(1, 2)  # (batch, hidden_size, steps)
        return self.dropout(self.pointwise_out(hidden).transpose(1, 2))  # (batch, steps, hidden_size)


class ConformerBlock(nn.Module):
    """x + FFN/2 -> + self-attention -> + convolution -> + FFN/2 -> LayerNorm (Gulati et al., 2020, figure 1)."""

    def __init__(self, config: CtcConformerConfig):
        super().__init__()
        self.feed_forward_in = FeedForward(config)
        self.attention = SelfAttention(config)
        self.convolution = ConvolutionModule(config)
        self.feed_forward_out = FeedForward(config)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    @torch.no_grad()
    def zero_residual_branches(self) -> None:
        """Zero the last layer of every residual branch: the block then only layer-norms its input. The zeroed layers
        still get gradients, so training grows the branches from nothing."""
        for layer in (self.feed_forward_in.outer, self.attention.out, self.convolution.pointwise_out, self.feed_forward_out.outer):
            layer.weight.zero_()
            layer.bias.zero_()

    def forward(self, hidden: torch.Tensor, step_mask: Optional[torch.Tensor]) -> torch.Tensor:
        hidden = hidden + 0.5 * self.feed_forward_in(hidden)
        hidden = hidden + self.attention(hidden, step_mask)
        hidden = hidden + self.convolution(hidden, step_mask)
        hidden = hidden + 0.5 * self.feed_forward_out(hidden)
        return self.norm(hidden)  # (batch, steps, hidden_size)


class CtcConformerPreTrainedModel(PreTrainedModel):
    config_class = CtcConformerConfig
    base_model_prefix = "ctc_conformer"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own init for every layer (Kaiming-uniform convolutions and projections), rather than N(0, 0.02)
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.LayerNorm)):
            module.reset_parameters()

    def _get_feat_extract_output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Logit steps of inputs of `lengths` feature frames (about a quarter)."""
        return subsampled_lengths(lengths)


def _check_inputs(config, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> None:
    if input_features.dim() != 3 or input_features.shape[-1] != config.num_mel_bins:
        raise ValueError(
            f"input_features must be (batch, frames, {config.num_mel_bins}) log-mel features, got shape "
            f"{tuple(input_features.shape)}; compute them from {config.sampling_rate} Hz audio with the checkpoint's "
            "feature extractor (AutoFeatureExtractor.from_pretrained(...)(waveforms, sampling_rate=..., return_tensors='pt'))"
        )
    if attention_mask is not None:
        if tuple(attention_mask.shape) != tuple(input_features.shape[:2]):
            raise ValueError(
                f"attention_mask must be (batch, frames) = {tuple(input_features.shape[:2])}, got {tuple(attention_mask.shape)}; "
                "pass the feature extractor's attention_mask"
            )
        empty = (attention_mask.sum(-1) == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"batch rows {empty} have no real frames (attention_mask all 0); drop them or pass audio")


class CtcConformerModel(CtcConformerPreTrainedModel):
    """The Conformer encoder: log-mel frames -> `(batch, steps, hidden_size)`, one step every 4 frames.

    Args (forward):
        input_features: `(batch, frames, num_mel_bins)` log-mel features.
        attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
    """

    def __init__(self, config: CtcConformerConfig):
        super().__init__(config)
        self.subsampling = ConvSubsampling(config)
        self.blocks = nn.ModuleList([ConformerBlock(config) for _ in range(config.num_layers)])
        self.post_init()

    @torch.no_grad()
    def start_blocks_as_identity(self, first: int) -> None:
        """Make blocks `first:` (new blocks on top of `first` trained ones) pass the trained blocks' output on
        unchanged, so a deeper model grown from a trained one starts where that one was: their residual branches are
        zeroed, block `first - 1`'s final LayerNorm scale and shift move to the top block, and the norms in between
        are plain (a LayerNorm of an already normalised input returns it, up to its epsilon)."""
        if not 0 < first < len(self.blocks):
            raise ValueError(f"blocks {first}: of {len(self.blocks)} are not new blocks on top of trained ones; need 0 < first < {len(self.blocks)}")
        for block in self.blocks[first:]:
            block.zero_residual_branches()
            block.norm.reset_parameters()
        self.blocks[-1].norm.load_state_dict(self.blocks[first - 1].norm.state_dict())
        self.blocks[first - 1].norm.reset_parameters()

    def forward(self, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, **kwargs) -> BaseModelOutput:
        _check_inputs(self.config, input_features, attention_mask)
        # no padding in the batch: skip every masking step
        lengths = None if attention_mask is None or bool(attention_mask.all()) else attention_mask.sum(-1).long()
        if self.training and (self.config.mask_time_prob > 0 or self.config.mask_feature_prob > 0):
            input_features = spec_augment(input_features, lengths, self.config)
        hidden = self.subsampling(input_features, lengths)  # (batch, steps, hidden_size)
        step_mask = None
        if lengths is not None:
            step_mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < subsampled_lengths(lengths)[:, None]
        for block in self.blocks:
            hidden = block(hidden, step_mask)
        return BaseModelOutput(last_hidden_state=hidden)


class CtcConformerForCTC(CtcConformerPreTrainedModel):
    """Conformer encoder with a linear layer giving per-step character logits, trained with CTC.

    Works with transformers' own `pipeline("automatic-speech-recognition", model=folder)` (greedy decoding,
    `chunk_length_s` for long audio, `batch_size`), like `Wav2Vec2ForCTC`.

    Args (forward):
        input_features: `(batch, frames, num_mel_bins)` log-mel features from the checkpoint's feature extractor.
        attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
        labels: `(batch, target_length)` character ids from the checkpoint's tokenizer, padded with -100; when
            given the CTC loss is computed.

    Returns:
        `CausalLMOutput` with `logits` `(batch, steps, vocab_size)` and, with labels, the CTC `loss`.

    >>> import torch
    >>> config = CtcConformerConfig(hidden_size=16, num_layers=1, num_heads=2, ffn_dim=32, subsampling_channels=8)
    >>> model = CtcConformerForCTC(config)
    >>> out = model(torch.randn(2, 101, 80), labels=torch.tensor([[5, 6, 2, 7], [9, 9, -100, -100]]))
    >>> tuple(out.logits.shape), out.loss.dim()
    ((2, 26, 30), 0)
    """

    def __init__(self, config: CtcConformerConfig):
        super().__init__(config)
        self.ctc_conformer = CtcConformerModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_features, attention_mask=None, labels=None, return_dict=None, **kwargs) -> CausalLMOutput:
        if labels is not None and labels.numel() and labels.max() >= self.config.vocab_size:
            raise ValueError(
                f"labels must be character ids below vocab_size={self.config.vocab_size} (or -100 for padding), got "
                f"{labels.max().item()}; encode the text with the checkpoint's tokenizer"
            )
        hidden = self.ctc_conformer(input_features, attention_mask).last_hidden_state  # (batch, steps, hidden_size)
        logits = self.lm_head(self.dropout(hidden))  # (batch, steps, vocab_size)
        if attention_mask is None:
            steps = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long, device=logits.device)
        else:
            steps = self._get_feat_extract_output_lengths(attention_mask.sum(-1).long())
            padded = torch.arange(logits.shape[1], device=logits.device)[None, :] >= steps[:, None]  # (batch, steps)
            if bool(padded.any()):
                # steps past an utterance's end emit the blank: greedy decoding of a padded batch equals one-by-one
                blank = torch.full_like(logits[0, 0], torch.finfo(logits.dtype).min)
                blank[self.config.pad_token_id] = 0.0
                logits = torch.where(padded[..., None], blank, logits)

        loss = None
        if labels is not None:
            targets = labels >= 0
            target_lengths = targets.sum(-1)
            # CTC loss is unstable in half precision; compute it in float32. (steps, batch, vocab) for ctc_loss
            log_probs = nn.functional.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
            with torch.backends.cudnn.flags(enabled=False):  # cuDNN's CTC needs all targets on the CPU, and int32
                loss = nn.functional.ctc_loss(
                    log_probs,
                    labels.masked_select(targets),
                    steps,
                    target_lengths,
                    blank=self.config.pad_token_id,
                    reduction=self.config.ctc_loss_reduction,
                    zero_infinity=self.config.ctc_zero_infinity,
                )
        return CausalLMOutput(loss=loss, logits=logits)
