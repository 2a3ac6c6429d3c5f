"""Configuration of ECAPA-TDNN (Desplanques et al., 2020): SE-Res2Net TDNN blocks, multi-layer feature aggregation and attentive statistics pooling over log-mel frames, giving a fixed-size speaker embedding."""

from typing import Optional

from transformers import PretrainedConfig


class EcapaTdnnConfig(PretrainedConfig):
    r"""Configuration for [`EcapaTdnnModel`] and [`EcapaTdnnForSpeakerEmbedding`].

    The defaults are a small model (about 1.8 M parameters) that trains on a CPU; the published VoxCeleb model
    (SpeechBrain's `spkrec-ecapa-voxceleb`, about 20.8 M parameters) is `EcapaTdnnConfig.published()`.

    Args:
        sampling_rate: Hz of the audio the feature extractor takes; it refuses other rates.
        num_mel_bins: log-mel features per frame (the feature extractor's `feature_size`).
        channels: output channels of the first TDNN block, of each SE-Res2Net block, and (last) of the
            multi-layer feature aggregation; at least 3 entries.
        kernel_sizes: kernel size (frames) of each entry of `channels`.
        dilations: dilation of each entry of `channels`; the SE-Res2Net blocks use 2, 3, 4.
        attention_channels: hidden width of the attentive statistics pooling.
        res2net_scale: channel groups of each Res2Net block; must divide the block's channels.
        se_channels: bottleneck width of each squeeze-and-excitation block.
        global_context: let the pooling attention see the utterance's mean and standard deviation too.
        embedding_size: size of the speaker embedding.
        num_labels: training speakers of the additive angular margin classifier; 0 builds no classifier
            (an embedding-only model). Set from `id2label` (speaker ids) when given.
        aam_margin: additive angular margin (radians) of the training loss.
        aam_scale: scale of the cosine logits.
        threshold: decision threshold for verification ("same speaker" when the score is at or above it),
            calibrated at the validation equal-error-rate point by training or `zoo eval`; None when uncalibrated.
            A cosine in [-1, 1], or in s-norm units when `score_norm` is "s-norm".
        score_norm: None scores a trial by the cosine of its embeddings; "s-norm" normalises that cosine against the
            training speakers (the classifier's rows, so it needs `num_labels` > 0): see `zoo.speaker.score_norm`.
        score_norm_top_k: closest cohort speakers whose scores set each side's s-norm statistics.
        cosine_threshold: with s-norm, the raw-cosine validation EER point too, for what compares raw cosines
            (the diarization pipeline's clustering); None otherwise.

    >>> EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16).num_labels
    0
    >>> EcapaTdnnConfig.published().channels
    [1024, 1024, 1024, 1024, 3072]
    """

    model_type = "ecapa_tdnn"

    def __init__(
        self,
        sampling_rate: int = 16000,
        num_mel_bins: int = 80,
        channels: Optional[list] = None,
        kernel_sizes: Optional[list] = None,
        dilations: Optional[list] = None,
        attention_channels: int = 64,
        res2net_scale: int = 8,
        se_channels: int = 64,
        global_context: bool = True,
        embedding_size: int = 192,
        num_labels: int = 0,
        aam_margin: float = 0.2,
        aam_scale: float = 30.0,
        threshold: Optional[float] = None,
        score_norm: Optional[str] = None,
        score_norm_top_k: int = 200,
        cosine_threshold: Optional[float] = None,
        **kwargs,
    ):
        channels = list(channels) if channels is not None else [256, 256, 256, 256, 768]
        kernel_sizes = list(kernel_sizes) if kernel_sizes is not None else [5] + [3] * (len(channels) - 2) + [1]
        dilations = list(dilations) if dilations is not None else [1] + list(range(2, len(channels))) + [1]
        if len(channels) < 3:
            raise ValueError(f"channels needs at least 3 entries (first TDNN, >= 1 SE-Res2Net block, aggregation), got {channels}")
        if len(kernel_sizes) != len(channels) or len(dilations) != len(channels):
            raise ValueError(
                f"channels, kernel_sizes and dilations need one entry per block; got {len(channels)}, {len(kernel_sizes)}, "
                f"{len(dilations)} entries"
            )
        for size in channels[1:-1]:
            if size % res2net_scale:
                raise ValueError(f"res2net_scale={res2net_scale} must divide every SE-Res2Net block's channels, got {size}")
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd and >= 1 (convolutions are centred), got {kernel_sizes}")
        if score_norm not in (None, "s-norm"):
            raise ValueError(f"score_norm={score_norm!r}; use None (cosine scores) or 's-norm'")
        if score_norm is not None and score_norm_top_k < 2:
            raise ValueError(f"score_norm_top_k={score_norm_top_k} must be at least 2")
        if score_norm is None and threshold is not None and not -1.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold is a cosine score in [-1, 1], got {threshold}")
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.channels = channels
        self.kernel_sizes = kernel_sizes
        self.dilations = dilations
        self.attention_channels = attention_channels
        self.res2net_scale = res2net_scale
        self.se_channels = se_channels
        self.global_context = global_context
        self.embedding_size = embedding_size
        self.aam_margin = aam_margin
        self.aam_scale = aam_scale
        self.threshold = None if threshold is None else float(threshold)
        self.score_norm = score_norm
        self.score_norm_top_k = int(score_norm_top_k)
        self.cosine_threshold = None if cosine_threshold is None else float(cosine_threshold)
        if kwargs.get("id2label") is None:  # the speaker ids, when given, fix the number of classes
            kwargs["num_labels"] = num_labels
        super().__init__(**kwargs)
        if self.id2label and not self.label2id:
            self.label2id = {label: index for index, label in self.id2label.items()}

    @classmethod
    def published(cls, **kwargs) -> "EcapaTdnnConfig":
        """SpeechBrain's VoxCeleb ECAPA-TDNN (`spkrec-ecapa-voxceleb`): channels 1024 x 4 and 3072, kernels 5, 3, 3, 3,
        1, dilations 1, 2, 3, 4, 1, attention 128, Res2Net scale 8, SE 128, 192-dimensional embeddings (about 20.8 M
        parameters without the classifier). `kwargs` override any field."""
        published = dict(
            channels=[1024, 1024, 1024, 1024, 3072], kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
            attention_channels=128, res2net_scale=8, se_channels=128, embedding_size=192,
        )
        return cls(**{**published, **kwargs})
