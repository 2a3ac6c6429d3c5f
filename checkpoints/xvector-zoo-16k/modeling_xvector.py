"""X-vector speaker embeddings (Snyder et al., 2018), with an additive angular margin classifier for training.

Tensor layouts, used throughout this file:
    input_features  (batch, frames, num_mel_bins)   log-mel features from `SpeakerFeatureExtractor`
    attention_mask  (batch, frames)                 1 on real frames, 0 on padding
    hidden          (batch, channels, frames)       the frame-level layers run over frames
    frame_mask      (batch, 1, frames)
    pooled          (batch, 2 * pooling_channels)   mean and standard deviation over real frames
    embeddings      (batch, embedding_size)         L2-normalised
    logits          (batch, num_labels)             scaled cosine to each training speaker

Padding never leaks into real frames: every convolution wider than one frame sees zeros past a sequence's end
(padded frames are zeroed before it) and the pooling statistics are taken over real frames only. BatchNorm in eval
mode works frame by frame, so a padded batch gives the same embeddings as one-by-one calls. This file imports only
torch and transformers so that a Hub folder carrying it loads with `trust_remote_code=True` where zoo is not
installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_xvector import XvectorConfig


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


class AdditiveAngularMarginHead(nn.Module):
    """Cosine classifier over the training speakers with an additive angular margin loss (AAM-softmax, ArcFace)."""

    def __init__(self, embedding_size: int, num_labels: int, margin: float, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_labels, embedding_size))
        self.margin, self.scale = margin, scale
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)

    def forward(self, hidden: torch.Tensor, labels: Optional[torch.Tensor] = None):
        # cosines, the margin's trigonometry and the softmax are unstable in half precision: use float32
        cosine = nn.functional.linear(
            nn.functional.normalize(hidden.float(), dim=-1), nn.functional.normalize(self.weight.float(), dim=-1)
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


class TdnnLayer(nn.Module):
    """One frame-level layer: dilated Conv1d (a time-delay layer) -> ReLU -> BatchNorm; zero-padded "same" length."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)
        self.activation = nn.ReLU()
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        if frame_mask is not None and self.kernel_size > 1:
            # a lone sequence sees zeros past its end; so must a padded one
            hidden = hidden * frame_mask
        return self.norm(self.activation(self.conv(hidden)))  # (batch, out_channels, frames)


class XvectorPreTrainedModel(PreTrainedModel):
    config_class = XvectorConfig
    base_model_prefix = "xvector"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own (Kaiming-uniform) init, as the reference implementations use, rather than N(0, 0.02)
        if isinstance(module, (nn.Conv1d, nn.Linear, nn.BatchNorm1d, AdditiveAngularMarginHead)):
            module.reset_parameters()


class XvectorModel(XvectorPreTrainedModel):
    """The x-vector network without a classifier: log-mel frames -> L2-normalised speaker embedding.

    Args (forward):
        input_features: `(batch, frames, num_mel_bins)` log-mel features.
        attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
    """

    def __init__(self, config: XvectorConfig):
        super().__init__(config)
        widths = [config.num_mel_bins] + [config.hidden_size] * 4 + [config.pooling_channels]
        self.frame_layers = nn.ModuleList(
            TdnnLayer(widths[i], widths[i + 1], config.kernel_sizes[i], config.dilations[i]) for i in range(5)
        )
        # segment6 in the paper: its affine output, before the non-linearity, is the x-vector
        self.embedding = nn.Linear(2 * config.pooling_channels, config.embedding_size)
        self.post_init()

    def forward(self, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, **kwargs) -> SpeakerEmbeddingOutput:
        embeddings = self.affine_embeddings(input_features, attention_mask)
        return SpeakerEmbeddingOutput(embeddings=nn.functional.normalize(embeddings, dim=-1))

    def affine_embeddings(self, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The `(batch, embedding_size)` affine output of segment6, before normalisation."""
        if input_features.dim() != 3 or input_features.shape[-1] != self.config.num_mel_bins:
            raise ValueError(
                f"input_features must be (batch, frames, {self.config.num_mel_bins}) log-mel features, got shape "
                f"{tuple(input_features.shape)}; compute them from 16 kHz audio with the checkpoint's feature extractor "
                "(AutoFeatureExtractor.from_pretrained(...)(waveforms, sampling_rate=16000, return_tensors='pt'))"
            )
        hidden = input_features.transpose(1, 2)  # (batch, num_mel_bins, frames)
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[0], hidden.shape[-1], device=hidden.device)
        if tuple(attention_mask.shape) != tuple(input_features.shape[:2]):
            raise ValueError(
                f"attention_mask must be (batch, frames) = {tuple(input_features.shape[:2])}, got {tuple(attention_mask.shape)}; "
                "pass the feature extractor's attention_mask"
            )
        lengths = attention_mask.sum(-1)
        if bool((lengths == 0).any()):
            empty = (lengths == 0).nonzero().flatten().tolist()
            raise ValueError(f"batch rows {empty} have no real frames (attention_mask all 0); drop them or pass audio")
        frame_mask = attention_mask.to(hidden.dtype).unsqueeze(1)  # (batch, 1, frames)
        conv_mask = None if bool(attention_mask.all()) else frame_mask
        for layer in self.frame_layers:
            hidden = layer(hidden, conv_mask)  # (batch, channels, frames)
        # statistics pooling over real frames; sqrt of a clamped variance: torch.std's backward is NaN on constants
        weights = frame_mask / frame_mask.sum(-1, keepdim=True)
        mean = (hidden * weights).sum(-1)  # (batch, pooling_channels)
        std = (weights * (hidden - mean.unsqueeze(-1)).pow(2)).sum(-1).clamp(min=1e-12).sqrt()
        return self.embedding(torch.cat([mean, std], dim=1))  # (batch, embedding_size)


class XvectorForSpeakerEmbedding(XvectorPreTrainedModel):
    """X-vector speaker embeddings, trained with an additive angular margin softmax over the training speakers.

    The classifier sits on top of a second segment-level layer (ReLU -> BatchNorm -> Linear -> ReLU -> BatchNorm
    after the embedding), as in the paper; only the embedding is used for verification.

    Args (forward):
        input_features: `(batch, frames, num_mel_bins)` log-mel features from the checkpoint's feature extractor.
        attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
        labels: `(batch,)` training-speaker indices (`config.id2label`); when given the loss is computed.

    >>> import torch
    >>> model = XvectorForSpeakerEmbedding(XvectorConfig(hidden_size=16, embedding_size=16, num_labels=5))
    >>> out = model(torch.randn(2, 120, 80), labels=torch.tensor([0, 3]))
    >>> tuple(out.embeddings.shape), tuple(out.logits.shape), out.loss.dim()
    ((2, 16), (2, 5), 0)
    """

    def __init__(self, config: XvectorConfig):
        super().__init__(config)
        self.xvector = XvectorModel(config)
        if config.num_labels:
            self.segment_layers = nn.Sequential(
                nn.ReLU(),
                nn.BatchNorm1d(config.embedding_size),
                nn.Linear(config.embedding_size, config.classifier_hidden_size),  # segment7
                nn.ReLU(),
                nn.BatchNorm1d(config.classifier_hidden_size),
            )
            self.classifier = AdditiveAngularMarginHead(config.classifier_hidden_size, config.num_labels, config.aam_margin, config.aam_scale)
        else:
            self.segment_layers = self.classifier = None
        self.post_init()

    def forward(self, input_features, attention_mask=None, labels=None, return_dict=None, **kwargs) -> SpeakerEmbeddingOutput:
        affine = self.xvector.affine_embeddings(input_features, attention_mask)  # (batch, embedding_size)
        embeddings = nn.functional.normalize(affine, dim=-1)
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
            # the classifier path starts from segment6's affine output, as in the paper; verification uses its direction
            logits, loss = self.classifier(self.segment_layers(affine), labels)
        return SpeakerEmbeddingOutput(loss=loss, logits=logits, embeddings=embeddings)
