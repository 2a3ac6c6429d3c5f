"""ECAPA-TDNN speaker embeddings (Desplanques et al., 2020), with an additive angular margin classifier for training.

Tensor layouts, used throughout this file:
    input_features  (batch, frames, num_mel_bins)   log-mel features from `SpeakerFeatureExtractor`
    attention_mask  (batch, frames)                 1 on real frames, 0 on padding
    hidden          (batch, channels, frames)       convolutions run over frames
    frame_mask      (batch, 1, frames)
    pooled          (batch, 2 * channels)           attentive mean and standard deviation
    embeddings      (batch, embedding_size)         L2-normalised
    logits          (batch, num_labels)             scaled cosine to each training speaker

Padding never leaks into real frames: every convolution wider than one frame sees zeros past a sequence's end
(padded frames are zeroed before it), the squeeze-excitation means and the pooling statistics are taken over real
frames only, and the pooling attention gives padded frames zero weight. BatchNorm in eval mode works frame by
frame, so a padded batch gives the same embeddings as one-by-one calls. (In training, BatchNorm's batch statistics
do include padded frames; the training recipes crop fixed-length segments, so their batches have no padding.)
CPU inference (eval mode, no autograd) embeds a few utterances at a time, on torch's threads
(`EcapaTdnnModel._embed_in_groups`). This file imports only torch, transformers and the standard library so that a
Hub folder carrying it loads with `trust_remote_code=True` where zoo is not installed.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_ecapa_tdnn import EcapaTdnnConfig


@dataclass
class SpeakerEmbeddingOutput(ModelOutput):
    """Output of a speaker-embedding model.

    Args:
        loss: additive angular margin softmax loss over the training speakers; only when the model has a
            classifier (`num_labels > 0`) and `labels` are given.
        logits: `(batch, num_labels)` scaled cosine between each embedding and each training speaker, without the
            margin; only when the model has a classifier.
        embeddings: `(batch, embedding_size)` L2-normalised speaker embeddings; compare two with a dot product
            (cosine score) and accept "same speaker" at `config.threshold` or above.
    """

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    embeddings: Optional[torch.FloatTensor] = None


def masked_mean_std(hidden: torch.Tensor, weights: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and standard deviation over frames; `weights` broadcast to `hidden` and sum to 1 per row.

    `hidden`: (batch, channels, frames); `weights`: (batch, 1, frames) (the same for every channel) or
    (batch, channels, frames). Returns two (batch, channels) tensors.
    """
    # the weighted sums are matrix products: no (batch, channels, frames) product tensor is allocated, which on a
    # CPU costs more than the arithmetic (a fresh 60 MB tensor means page faults on every call)
    if weights.shape[1] == 1:
        column = weights.transpose(1, 2)  # (batch, frames, 1)
        mean = torch.matmul(hidden, column).squeeze(-1)  # (batch, channels)
        centered = hidden - mean.unsqueeze(-1)
        # in place when no gradient is needed: one (batch, channels, frames) tensor fewer
        squares = centered.square_() if not torch.is_grad_enabled() else centered.square()
        variance = torch.matmul(squares, column).squeeze(-1)
    else:
        mean = torch.einsum("bct,bct->bc", hidden, weights)
        centered = hidden - mean.unsqueeze(-1)
        squares = centered.square_() if not torch.is_grad_enabled() else centered.square()
        variance = torch.einsum("bct,bct->bc", squares, weights)
    # sqrt of a clamped variance rather than torch.std: std's backward is NaN on constant inputs
    return mean, variance.clamp(min=eps).sqrt()


class AdditiveAngularMarginHead(nn.Module):
    """Cosine classifier over the training speakers with an additive angular margin loss (AAM-softmax, ArcFace).

    The loss adds `margin` to the angle between an embedding and its own speaker's weight before the softmax, so
    embeddings of a speaker gather within a tighter cone than a plain softmax asks for.
    """

    def __init__(self, embedding_size: int, num_labels: int, margin: float, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_labels, embedding_size))
        self.margin, self.scale = margin, scale
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)

    def forward(self, embeddings: torch.Tensor, labels: Optional[torch.Tensor] = None):
        # cosines, the margin's trigonometry and the softmax are unstable in half precision: use float32
        cosine = nn.functional.linear(
            nn.functional.normalize(embeddings.float(), dim=-1), nn.functional.normalize(self.weight.float(), dim=-1)
        )  # (batch, num_labels)
        logits = self.scale * cosine
        if labels is None:
            return logits, None
        sine = (1.0 - cosine.pow(2)).clamp(min=0.0).sqrt()
        with_margin = cosine * math.cos(self.margin) - sine * math.sin(self.margin)  # cos(theta + margin)
        # past theta = pi - margin, cos(theta + margin) would rise again: keep it falling (ArcFace's fallback)
        with_margin = torch.where(cosine > math.cos(math.pi - self.margin), with_margin, cosine - math.sin(math.pi - self.margin) * self.margin)
        target = nn.functional.one_hot(labels, cosine.shape[-1]).bool()
        margin_logits = self.scale * torch.where(target, with_margin, cosine)
        return logits, nn.functional.cross_entropy(margin_logits, labels)


class TdnnBlock(nn.Module):
    """Conv1d (a time-delay layer) -> ReLU -> BatchNorm; zero-padded "same" length."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)
        self.activation = nn.ReLU(inplace=True)  # on the convolution's fresh output, which backward does not need
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        if frame_mask is not None and self.kernel_size > 1:
            # a lone sequence sees zeros past its end; so must a padded one
            hidden = hidden * frame_mask
        if self.kernel_size == 1 and not torch.is_grad_enabled():
            hidden = _pointwise(self.conv.weight, hidden, self.conv.bias)
        else:
            hidden = self.conv(hidden)
        return self.norm(self.activation(hidden))  # (batch, out_channels, frames)


def _pointwise(weight: torch.Tensor, hidden: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """A 1x1 convolution for inference: `(out, in)` or `(out, in, 1)` weights on `(batch, in, frames)`.

    On CPU this is oneDNN's convolution, torch's own choice for batches of 16 or more or several threads; for
    smaller batches on one thread (each thread's groups in CPU inference) torch would take an im2col path
    about a quarter slower.
    """
    weight = weight.reshape(weight.shape[0], -1, 1)  # (out, in, 1)
    if hidden.dtype == torch.float32 and _cpu_inference(None, hidden) and torch.backends.mkldnn.is_available():
        return torch.mkldnn_convolution(hidden, weight, bias, [0], [1], [1], 1)  # (batch, out, frames)
    return nn.functional.conv1d(hidden, weight, bias)


class Res2NetBlock(nn.Module):
    """Res2Net: split the channels into `scale` groups; group i > 0 is convolved after adding group i-1's output,
    so later groups see ever wider contexts at the cost of one group-width convolution each."""

    def __init__(self, channels: int, scale: int, kernel_size: int, dilation: int):
        super().__init__()
        self.scale = scale
        width = channels // scale
        self.blocks = nn.ModuleList(TdnnBlock(width, width, kernel_size, dilation) for _ in range(scale - 1))

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        groups = torch.chunk(hidden, self.scale, dim=1)  # scale x (batch, channels / scale, frames)
        outputs = [groups[0]]
        previous = None
        for block, group in zip(self.blocks, groups[1:]):
            previous = block(group if previous is None else group + previous, frame_mask)
            outputs.append(previous)
        return torch.cat(outputs, dim=1)  # (batch, channels, frames)


class SqueezeExcitation(nn.Module):
    """Rescale each channel by a gate computed from the channel means over the utterance's real frames."""

    def __init__(self, channels: int, se_channels: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, se_channels, 1)
        self.conv2 = nn.Conv1d(se_channels, channels, 1)

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        if frame_mask is None:
            squeezed = hidden.mean(-1, keepdim=True)  # (batch, channels, 1)
        else:
            squeezed = (hidden * frame_mask).sum(-1, keepdim=True) / frame_mask.sum(-1, keepdim=True)
        gate = torch.sigmoid(self.conv2(torch.relu(self.conv1(squeezed))))  # (batch, channels, 1)
        return hidden * gate if torch.is_grad_enabled() else hidden.mul_(gate)  # in place: `hidden` is a fresh tensor


class SeRes2NetBlock(nn.Module):
    """TDNN (1x1) -> Res2Net (dilated) -> TDNN (1x1) -> squeeze-excitation, plus a residual connection."""

    def __init__(self, in_channels: int, out_channels: int, config: EcapaTdnnConfig, kernel_size: int, dilation: int):
        super().__init__()
        self.tdnn1 = TdnnBlock(in_channels, out_channels, 1, 1)
        self.res2net = Res2NetBlock(out_channels, config.res2net_scale, kernel_size, dilation)
        self.tdnn2 = TdnnBlock(out_channels, out_channels, 1, 1)
        self.se = SqueezeExcitation(out_channels, config.se_channels)
        self.shortcut = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        residual = hidden if self.shortcut is None else self.shortcut(hidden)
        hidden = self.tdnn2(self.res2net(self.tdnn1(hidden, frame_mask), frame_mask), frame_mask)
        hidden = self.se(hidden, frame_mask)
        return hidden + residual if torch.is_grad_enabled() else hidden.add_(residual)  # (batch, out_channels, frames)


class AttentiveStatisticsPooling(nn.Module):
    """Channel-wise attention over frames, then the attention-weighted mean and standard deviation per channel.

    With global context the attention also sees the utterance's plain mean and standard deviation at every frame.
    """

    def __init__(self, channels: int, attention_channels: int, global_context: bool):
        super().__init__()
        self.global_context = global_context
        self.tdnn = TdnnBlock(channels * (3 if global_context else 1), attention_channels, 1, 1)
        self.attention = nn.Conv1d(attention_channels, channels, 1)

    def forward(self, hidden: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        if self.global_context:
            mean, std = masked_mean_std(hidden, frame_mask / frame_mask.sum(-1, keepdim=True))  # (batch, channels) x 2
            # the attention's first 1x1 convolution over [hidden; mean; std] is W_h @ hidden plus W_m @ mean + W_s @ std
            # + bias, which is the same at every frame: computed once per utterance rather than broadcast to
            # (batch, 3 * channels, frames) and convolved (a third of the arithmetic, a ninth of the memory)
            channels = hidden.shape[1]
            weight = self.tdnn.conv.weight.squeeze(-1)  # (attention_channels, 3 * channels)
            context = torch.addmm(self.tdnn.conv.bias, torch.cat([mean, std], dim=1), weight[:, channels:].t())  # (batch, attention)
            if torch.is_grad_enabled():
                attention = torch.matmul(weight[:, :channels], hidden) + context.unsqueeze(-1)  # (batch, attention, frames)
            else:
                attention = _pointwise(weight[:, :channels], hidden).add_(context.unsqueeze(-1))
            attention = self.tdnn.norm(self.tdnn.activation(attention))
        else:
            attention = self.tdnn(hidden, None)  # (batch, attention_channels, frames)
        if torch.is_grad_enabled():
            scores = self.attention(torch.tanh(attention))  # (batch, channels, frames)
        else:
            scores = _pointwise(self.attention.weight, attention.tanh_(), self.attention.bias)
        scores = scores.masked_fill_(frame_mask == 0, torch.finfo(scores.dtype).min)  # padded frames get weight 0
        if torch.is_grad_enabled():
            weights = torch.softmax(scores, dim=-1)
        else:  # the same softmax, in place: one (batch, channels, frames) tensor fewer
            weights = scores.sub_(scores.amax(-1, keepdim=True)).exp_()
            weights = weights.div_(weights.sum(-1, keepdim=True))
        mean, std = masked_mean_std(hidden, weights)
        return torch.cat([mean, std], dim=1)  # (batch, 2 * channels)


# frames (utterances x frames) a CPU inference pass takes through the network at once: about three 3 s
# utterances, whose activations (1024 or 3072 channels per frame) stay in the CPU's cache from layer to layer
INFERENCE_GROUP_FRAMES = 1024


def _cpu_inference(module: Optional[nn.Module], tensor: torch.Tensor) -> bool:
    """Whether `module` runs CPU inference: eval mode, no autograd or autocast, not traced or compiled."""
    return (
        tensor.device.type == "cpu"
        and not ((module is not None and module.training) or torch.is_grad_enabled() or torch.is_autocast_enabled("cpu"))
        and not (torch.jit.is_tracing() or torch.compiler.is_compiling())
    )


_THREAD_POOLS: dict = {}  # (process id, threads) -> ThreadPoolExecutor whose threads run torch ops single-threaded


def _run_on_threads(job, threads: int) -> None:
    """Run `job()` once on each of `threads` threads, each running its torch operations single-threaded.

    The jobs share out independent work among themselves. Splitting every operation between torch's threads
    instead makes them meet at the end of each one; on a busy machine a thread that waits there for a
    descheduled partner loses a scheduler time slice, hundreds of times per forward. Grad mode and inference
    mode are per thread in torch, so the caller's are set again in each worker.
    """
    if threads <= 1:
        job()
        return
    caller_threads, inference = torch.get_num_threads(), torch.is_inference_mode_enabled()
    key = (os.getpid(), threads)  # a forked child inherits the pool object but none of its threads
    if key not in _THREAD_POOLS:
        _THREAD_POOLS[key] = ThreadPoolExecutor(threads, "ecapa-tdnn", initializer=torch.set_num_threads, initargs=(1,))

    def worker():
        with torch.inference_mode(inference), torch.no_grad():
            job()

    try:
        # every job finishes before this returns or raises: none is left writing into the caller's tensors
        errors = [future.exception() for future in [_THREAD_POOLS[key].submit(worker) for _ in range(threads)]]
    finally:
        torch.set_num_threads(caller_threads)  # a new worker's set_num_threads(1) also sets torch's global default
    for error in errors:
        if error is not None:
            raise error


class EcapaTdnnPreTrainedModel(PreTrainedModel):
    config_class = EcapaTdnnConfig
    base_model_prefix = "ecapa_tdnn"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own (Kaiming-uniform) init, as the reference implementations use, rather than N(0, 0.02)
        if isinstance(module, (nn.Conv1d, nn.Linear, nn.BatchNorm1d, AdditiveAngularMarginHead)):
            module.reset_parameters()


def _check_inputs(config, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> None:
    if input_features.dim() != 3 or input_features.shape[-1] != config.num_mel_bins:
        raise ValueError(
            f"input_features must be (batch, frames, {config.num_mel_bins}) log-mel features, got shape "
            f"{tuple(input_features.shape)}; compute them from 16 kHz audio with the checkpoint's feature extractor "
            "(AutoFeatureExtractor.from_pretrained(...)(waveforms, sampling_rate=16000, return_tensors='pt'))"
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


class EcapaTdnnModel(EcapaTdnnPreTrainedModel):
    """ECAPA-TDNN without a classifier: log-mel frames -> L2-normalised speaker embedding.

    Args (forward):
        input_features: `(batch, frames, num_mel_bins)` log-mel features.
        attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
    """

    def __init__(self, config: EcapaTdnnConfig):
        super().__init__(config)
        channels, kernels, dilations = config.channels, config.kernel_sizes, config.dilations
        self.blocks = nn.ModuleList([TdnnBlock(config.num_mel_bins, channels[0], kernels[0], dilations[0])])
        for i in range(1, len(channels) - 1):
            self.blocks.append(SeRes2NetBlock(channels[i - 1], channels[i], config, kernels[i], dilations[i]))
        # multi-layer feature aggregation: every SE-Res2Net block's output, concatenated
        self.aggregation = TdnnBlock(sum(channels[1:-1]), channels[-1], kernels[-1], dilations[-1])
        self.pooling = AttentiveStatisticsPooling(channels[-1], config.attention_channels, config.global_context)
        self.pooling_norm = nn.BatchNorm1d(2 * channels[-1])
        self.projection = nn.Linear(2 * channels[-1], config.embedding_size)
        self.post_init()

    def forward(self, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, **kwargs) -> SpeakerEmbeddingOutput:
        _check_inputs(self.config, input_features, attention_mask)
        if _cpu_inference(self, input_features):
            embeddings = self._embed_in_groups(input_features, attention_mask)
        else:
            embeddings = self._embed(input_features, attention_mask)
        return SpeakerEmbeddingOutput(embeddings=embeddings)

    def _embed_in_groups(self, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """CPU inference: `_embed` on a few utterances at a time, each group cut to its last real frame, the
        groups shared out between torch's threads (see `_run_on_threads`).

        In eval mode nothing mixes utterances (BatchNorm applies its running statistics frame by frame), so
        groups give the same embeddings as the whole batch. A group of about `INFERENCE_GROUP_FRAMES` frames
        keeps its activations in the CPU cache from one layer to the next; the whole batch's go through main
        memory. Each thread gets the same number of groups, of sizes differing by one utterance at most.
        """
        batch, frames, _ = input_features.shape
        if attention_mask is None:
            ends = [frames] * batch
        else:  # one past each utterance's last real frame
            ends = (frames - attention_mask.bool().flip(-1).to(torch.uint8).argmax(-1)).tolist()
        threads = torch.get_num_threads()
        # groups of about INFERENCE_GROUP_FRAMES frames, as many for every thread
        count = min(batch, threads * -(-batch * frames // (threads * INFERENCE_GROUP_FRAMES)))
        sizes = [batch // count + (i < batch % count) for i in range(count)]  # the larger ones first
        starts = [sum(sizes[:i]) for i in range(count)]
        embeddings = input_features.new_empty(batch, self.config.embedding_size)
        groups = iter(zip(starts, sizes))

        def run_groups():  # takes groups until none is left
            for start, size in groups:
                end = max(ends[start : start + size])  # frames past it are padding in every utterance of the group
                mask = None if attention_mask is None else attention_mask[start : start + size, :end]
                embeddings[start : start + size] = self._embed(input_features[start : start + size, :end], mask)

        _run_on_threads(run_groups, min(threads, count))
        return embeddings

    def _embed(self, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """`(batch, frames, num_mel_bins)` features -> `(batch, embedding_size)` L2-normalised embeddings."""
        hidden = input_features.transpose(1, 2)  # (batch, num_mel_bins, frames)
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[0], hidden.shape[-1], device=hidden.device)
        frame_mask = attention_mask.to(hidden.dtype).unsqueeze(1)  # (batch, 1, frames)
        # no padding in the batch: skip the masking multiplications (the pooling still takes the mask)
        conv_mask = None if bool(attention_mask.all()) else frame_mask
        outputs = []
        for block in self.blocks:
            hidden = block(hidden, conv_mask)
            outputs.append(hidden)
        hidden = self.aggregation(torch.cat(outputs[1:], dim=1), conv_mask)  # (batch, channels[-1], frames)
        pooled = self.pooling_norm(self.pooling(hidden, frame_mask))  # (batch, 2 * channels[-1])
        embeddings = self.projection(pooled)  # (batch, embedding_size)
        return nn.functional.normalize(embeddings, dim=-1)


class EcapaTdnnForSpeakerEmbedding(EcapaTdnnPreTrainedModel):
    """ECAPA-TDNN speaker embeddings, trained with an additive angular margin softmax over the training speakers.

    Args (forward):
        input_features: `(batch, frames, num_mel_bins)` log-mel features from the checkpoint's feature extractor.
        attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
        labels: `(batch,)` training-speaker indices (`config.id2label`); when given the loss is computed.

    >>> import torch
    >>> config = EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16,
    ...     num_labels=5)
    >>> model = EcapaTdnnForSpeakerEmbedding(config)
    >>> out = model(torch.randn(2, 120, 80), labels=torch.tensor([0, 3]))
    >>> tuple(out.embeddings.shape), tuple(out.logits.shape), out.loss.dim()
    ((2, 16), (2, 5), 0)
    >>> round(float(out.embeddings.detach().norm(dim=-1)[0]), 4)
    1.0
    """

    def __init__(self, config: EcapaTdnnConfig):
        super().__init__(config)
        self.ecapa_tdnn = EcapaTdnnModel(config)
        self.classifier = (
            AdditiveAngularMarginHead(config.embedding_size, config.num_labels, config.aam_margin, config.aam_scale)
            if config.num_labels
            else None
        )
        self.post_init()

    def forward(self, input_features, attention_mask=None, labels=None, return_dict=None, **kwargs) -> SpeakerEmbeddingOutput:
        embeddings = self.ecapa_tdnn(input_features, attention_mask).embeddings
        loss = logits = None
        if labels is not None and self.classifier is None:
            raise ValueError(
                "labels were given but this model has no classifier (num_labels=0); build it with "
                "num_labels=<training speakers> (or id2label=...) to train it"
            )
        if self.classifier is not None:
            if labels is not None:
                labels = labels.reshape(-1).long()
                if labels.shape[0] != embeddings.shape[0] or labels.min() < 0 or labels.max() >= self.config.num_labels:
                    raise ValueError(
                        f"labels must be (batch,) = ({embeddings.shape[0]},) speaker indices in [0, {self.config.num_labels}), "
                        f"got shape {tuple(labels.shape)} with values {labels.min().item()}..{labels.max().item()}"
                    )
            logits, loss = self.classifier(embeddings, labels)
        return SpeakerEmbeddingOutput(loss=loss, logits=logits, embeddings=embeddings)
