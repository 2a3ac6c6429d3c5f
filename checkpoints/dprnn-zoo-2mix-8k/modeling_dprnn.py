"""DPRNN (dual-path recurrent neural network) for source separation and speech enhancement.

Tensor layouts, used throughout this file:
    waveform        (batch, time)
    attention_mask  (batch, time)                          1 on real samples, 0 on padding
    encoded         (batch, num_filters, frames)
    frame_mask      (batch, frames)                        True on real frames
    chunks          (batch, num_chunks, chunk_size, hidden_size)
    chunk_mask      (batch, num_chunks, chunk_size)        True where a chunk position holds a real frame
    estimates       (batch, num_speakers, time)

The masker cuts the encoded frames into chunks overlapping by half, with half a chunk of padding before the
first frame and after the last so that every real frame lies in exactly two chunks. Each dual-path block runs
a BiLSTM within every chunk (along `chunk_size`) and one across chunks (along `num_chunks`).

Padding never leaks into real frames. The real positions of every LSTM sequence are contiguous (a run of
frames within a chunk, or a run of chunks at one offset), so each sequence is shifted to start at its first
real position and packed to its real length: both directions start and stop on real frames, exactly as for
the sequence alone. Normalisation statistics are taken over real positions only and padded positions are
zeroed after every norm. A padded batch therefore gives the same estimates as one-by-one calls, up to float
rounding. This file imports only torch and transformers so that a Hub folder carrying it loads with
`trust_remote_code=True` where zoo is not installed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_dprnn import DprnnConfig


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
    """Layer norm over channels and real frames together (gLN), blind to padded frames. Input `(batch, channels, frames)`."""

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


class MaskedChunkNorm(nn.Module):
    """Layer norm over all real positions of all chunks and all features together, per example.

    DPRNN normalises each intra / inter output with a one-group GroupNorm over (features, chunk, chunks);
    this computes the same statistics over real positions only and zeroes the padded ones.
    """

    def __init__(self, width: int, eps: float = 1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.eps = eps

    def forward(self, chunks: torch.Tensor, chunk_mask: torch.Tensor) -> torch.Tensor:
        mask = chunk_mask.unsqueeze(-1)  # (batch, num_chunks, chunk_size, 1)
        chunks = chunks.masked_fill(~mask, 0.0)
        count = mask.sum((1, 2, 3), keepdim=True).clamp(min=1) * chunks.shape[-1]
        mean = chunks.sum((1, 2, 3), keepdim=True) / count
        centered = (chunks - mean).masked_fill_(~mask, 0.0)
        var = centered.pow(2).sum((1, 2, 3), keepdim=True) / count
        scale = torch.rsqrt(var + self.eps) * self.weight  # (batch, 1, 1, width)
        return torch.addcmul(self.bias, centered, scale).masked_fill_(~mask, 0.0)


def masked_lstm(lstm: nn.LSTM, sequences: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Run a batch-first `lstm` over the real run of each sequence only.

    `sequences`: (n, length, features); `valid`: (n, length) True on a contiguous run of real positions.
    Returns (n, length, directions * hidden); positions outside the run hold junk (finite) for the caller to mask.
    """
    count, length, _ = sequences.shape
    lengths = valid.sum(-1)
    if bool((lengths == length).all()):  # nothing to hide: one plain call
        return lstm(sequences)[0]
    start = valid.to(torch.int8).argmax(-1)  # first real position (0 for a sequence without any)
    steps = torch.arange(length, device=sequences.device)
    # shift each run to the front so that packing, which cuts the end of a sequence, drops only padding
    gather = (steps[None, :] + start[:, None]).clamp(max=length - 1)  # (n, length)
    shifted = sequences.gather(1, gather.unsqueeze(-1).expand(-1, -1, sequences.shape[-1]))
    # a sequence of padding only still needs one step to pack; its output is masked by the caller
    packed = pack_padded_sequence(shifted, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    output = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=length)[0]  # (n, length, hidden)
    back = (steps[None, :] - start[:, None]).clamp(min=0)  # undo the shift
    return output.gather(1, back.unsqueeze(-1).expand(-1, -1, output.shape[-1]))


class DprnnPath(nn.Module):
    """BiLSTM along one axis of `chunks` (within chunks or across them), a linear map back to the features, a norm."""

    def __init__(self, config: DprnnConfig, across_chunks: bool):
        super().__init__()
        self.across_chunks = across_chunks
        self.rnn = nn.LSTM(config.hidden_size, config.rnn_hidden_size, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * config.rnn_hidden_size, config.hidden_size)
        self.norm = MaskedChunkNorm(config.hidden_size)

    def forward(self, chunks: torch.Tensor, chunk_mask: torch.Tensor) -> torch.Tensor:
        batch, num_chunks, chunk_size, width = chunks.shape
        if self.across_chunks:
            sequences = chunks.transpose(1, 2).reshape(batch * chunk_size, num_chunks, width)
            valid = chunk_mask.transpose(1, 2).reshape(batch * chunk_size, num_chunks)
        else:
            sequences = chunks.view(batch * num_chunks, chunk_size, width)
            valid = chunk_mask.reshape(batch * num_chunks, chunk_size)
        hidden = self.proj(masked_lstm(self.rnn, sequences, valid))  # (sequences, length, width)
        if self.across_chunks:
            hidden = hidden.view(batch, chunk_size, num_chunks, width).transpose(1, 2)
        else:
            hidden = hidden.view(batch, num_chunks, chunk_size, width)
        return self.norm(hidden, chunk_mask)  # (batch, num_chunks, chunk_size, width)


class DprnnBlock(nn.Module):
    """Intra-chunk BiLSTM path and residual, then inter-chunk BiLSTM path and residual."""

    def __init__(self, config: DprnnConfig):
        super().__init__()
        self.intra = DprnnPath(config, across_chunks=False)
        self.inter = DprnnPath(config, across_chunks=True)

    def forward(self, chunks: torch.Tensor, chunk_mask: torch.Tensor) -> torch.Tensor:
        chunks = chunks + self.intra(chunks, chunk_mask)
        return chunks + self.inter(chunks, chunk_mask)


def segment(hidden: torch.Tensor, frame_mask: torch.Tensor, chunk_size: int):
    """Cut `(batch, frames, width)` into `(batch, num_chunks, chunk_size, width)` chunks overlapping by half.

    Half a chunk of padding goes before the first frame and at least as much after the last, so every real
    frame lies in exactly two chunks. Returns the chunks and their `(batch, num_chunks, chunk_size)` mask.
    """
    batch, frames, width = hidden.shape
    hop = chunk_size // 2
    num_chunks = -(-frames // hop) + 1  # halves 1 .. num_chunks - 1 hold the frames; half 0 and the last are padding
    right = (num_chunks + 1) * hop - hop - frames
    padded = nn.functional.pad(hidden, (0, 0, hop, right))  # (batch, (num_chunks + 1) * hop, width)
    chunks = padded.unfold(1, chunk_size, hop).transpose(2, 3).contiguous()  # (batch, num_chunks, chunk_size, width)
    chunk_mask = nn.functional.pad(frame_mask, (hop, right)).unfold(1, chunk_size, hop)  # (batch, num_chunks, chunk_size)
    return chunks, chunk_mask


def overlap_add(chunks: torch.Tensor, frames: int) -> torch.Tensor:
    """Inverse of `segment`: sum the two chunk positions of every frame; `(batch, frames, width)`."""
    batch, num_chunks, chunk_size, width = chunks.shape
    halves = chunks.view(batch, num_chunks, 2, chunk_size // 2, width)
    # half h (1 .. num_chunks - 1) is the first half of chunk h plus the second half of chunk h - 1
    summed = halves[:, 1:, 0] + halves[:, :-1, 1]  # (batch, num_chunks - 1, hop, width)
    return summed.view(batch, -1, width)[:, :frames]


class DprnnMasker(nn.Module):
    """Encoded mixture -> one mask per speaker, through dual-path BiLSTM blocks."""

    def __init__(self, config: DprnnConfig):
        super().__init__()
        self.num_speakers = config.num_speakers
        self.chunk_size = config.chunk_size
        self.norm = MaskedGlobalLayerNorm(config.num_filters)
        self.bottleneck = nn.Conv1d(config.num_filters, config.hidden_size, 1, bias=False)
        self.blocks = nn.ModuleList(DprnnBlock(config) for _ in range(config.num_layers))
        self.prelu = nn.PReLU()
        self.speaker_proj = nn.Linear(config.hidden_size, config.num_speakers * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_gate = nn.Linear(config.hidden_size, config.hidden_size)
        self.mask_proj = nn.Linear(config.hidden_size, config.num_filters, bias=False)

    def forward(self, encoded: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        batch, filters, frames = encoded.shape
        norm_mask = None if bool(frame_mask.all()) else frame_mask.unsqueeze(1).to(encoded.dtype)
        hidden = self.bottleneck(self.norm(encoded, norm_mask)).transpose(1, 2)  # (batch, frames, hidden)
        chunks, chunk_mask = segment(hidden, frame_mask, self.chunk_size)  # (batch, num_chunks, chunk_size, hidden)
        for block in self.blocks:
            chunks = block(chunks, chunk_mask)
        hidden = overlap_add(self.prelu(chunks), frames)  # (batch, frames, hidden)
        # the paper projects every chunk position to the speakers before the overlap-add; a linear map commutes
        # with the sum, so projecting after it is the same model at half the cost (each frame sums two
        # positions, so the bias counts twice)
        hidden = nn.functional.linear(hidden, self.speaker_proj.weight, 2 * self.speaker_proj.bias)
        hidden = hidden.view(batch, frames, self.num_speakers, -1)  # (batch, frames, speakers, hidden)
        hidden = torch.tanh(self.output(hidden)) * torch.sigmoid(self.output_gate(hidden))
        masks = torch.relu(self.mask_proj(hidden))  # (batch, frames, speakers, filters)
        return masks.permute(0, 2, 3, 1)  # (batch, speakers, filters, frames)


class DprnnPreTrainedModel(PreTrainedModel):
    config_class = DprnnConfig
    base_model_prefix = "dprnn"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own initialisations, as the reference implementation, rather than N(0, 0.02)
        if isinstance(module, (nn.Linear, nn.LSTM, nn.Conv1d, nn.ConvTranspose1d, nn.PReLU)):
            module.reset_parameters()
        elif isinstance(module, (MaskedGlobalLayerNorm, MaskedChunkNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class DprnnModel(DprnnPreTrainedModel):
    """Encoder, masker and decoder; returns `(batch, num_speakers, time)` estimates without a loss."""

    def __init__(self, config: DprnnConfig):
        super().__init__(config)
        self.stride = config.kernel_size // 2
        self.encoder = nn.Conv1d(1, config.num_filters, config.kernel_size, stride=self.stride, bias=False)
        self.masker = DprnnMasker(config)
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
        frame_mask = frames[None, :] < valid_frames[:, None]  # (batch, frames)
        encoded = encoded * frame_mask.unsqueeze(1)
        masks = self.masker(encoded, frame_mask)  # (batch, speakers, filters, frames)
        masked = (masks * encoded.unsqueeze(1)).flatten(0, 1)  # (batch * speakers, filters, frames)
        decoded = self.decoder(masked).view(batch, self.config.num_speakers, -1)[..., :time]
        return decoded * attention_mask.unsqueeze(1)  # (batch, speakers, time)


class DprnnForSourceSeparation(DprnnPreTrainedModel):
    """DPRNN with a permutation-invariant SI-SNR loss.

    Args (forward):
        input_values: `(batch, time)` mixtures at `config.sampling_rate`.
        attention_mask: `(batch, time)`, 1 on real samples; None means no padding.
        labels: `(batch, num_speakers, time)` reference sources; when given the loss is computed.

    >>> import torch
    >>> model = DprnnForSourceSeparation(DprnnConfig(num_filters=16, hidden_size=16, rnn_hidden_size=16,
    ...     chunk_size=10, num_layers=1))
    >>> out = model(torch.randn(2, 800), labels=torch.randn(2, 2, 800))
    >>> tuple(out.waveforms.shape), out.loss.dim()
    ((2, 2, 800), 0)
    """

    def __init__(self, config: DprnnConfig):
        super().__init__(config)
        self.dprnn = DprnnModel(config)
        self.post_init()

    def forward(self, input_values, attention_mask=None, labels=None, return_dict=None, **kwargs):
        estimates = self.dprnn(input_values, attention_mask)
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


class DprnnForSpeechEnhancement(DprnnForSourceSeparation):
    """DPRNN estimating one clean speech source from a noisy (and reverberant) input.

    Same interface as [`DprnnForSourceSeparation`]; `labels` may be `(batch, time)`.
    """

    def __init__(self, config: DprnnConfig):
        if config.num_speakers != 1:
            raise ValueError(f"speech enhancement estimates one source; set num_speakers=1, got {config.num_speakers}")
        super().__init__(config)
