"""Configuration of the x-vector (Snyder et al., 2018): five TDNN layers over log-mel frames, statistics pooling and two fully connected layers, the first of which gives the speaker embedding."""

from typing import Optional

from transformers import PretrainedConfig


class XvectorConfig(PretrainedConfig):
    r"""Configuration for [`XvectorModel`] and [`XvectorForSpeakerEmbedding`].

    The defaults are a small model (about 1.2 M parameters) that trains on a CPU; the paper's model (about 4.4 M
    parameters without the classifier) is `XvectorConfig.published()`.

    Args:
        sampling_rate: Hz of the audio the feature extractor takes; it refuses other rates.
        num_mel_bins: log-mel features per frame (the feature extractor's `feature_size`).
        hidden_size: width of the first four frame-level TDNN layers (512 in the paper).
        pooling_channels: width of the fifth frame-level layer, whose mean and standard deviation are pooled;
            None means `3 * hidden_size` (the paper: 1500).
        kernel_sizes: kernel size (frames) of each of the five frame-level layers.
        dilations: dilation of each frame-level layer; the paper's contexts are t-2..t+2, {t-2, t, t+2},
            {t-3, t, t+3}, t, t.
        embedding_size: width of the first segment-level layer, whose affine output is the embedding.
        classifier_hidden_size: width of the second segment-level layer, between the embedding and the classifier;
            None means `embedding_size`.
        num_labels: training speakers of the additive angular margin classifier; 0 builds no classifier
            (an embedding-only model). Set from `id2label` (speaker ids) when given.
        aam_margin: additive angular margin (radians) of the training loss.
        aam_scale: scale of the cosine logits.
        threshold: cosine-score decision threshold for verification ("same speaker" when the score is at or
            above it), calibrated at the validation equal-error-rate point by training; None when uncalibrated.

    >>> XvectorConfig(hidden_size=16, embedding_size=16).pooling_channels
    48
    >>> XvectorConfig.published().pooling_channels
    1500
    """

    model_type = "xvector"

    def __init__(
        self,
        sampling_rate: int = 16000,
        num_mel_bins: int = 80,
        hidden_size: int = 256,
        pooling_channels: Optional[int] = None,
        kernel_sizes: Optional[list] = None,
        dilations: Optional[list] = None,
        embedding_size: int = 256,
        classifier_hidden_size: Optional[int] = None,
        num_labels: int = 0,
        aam_margin: float = 0.2,
        aam_scale: float = 30.0,
        threshold: Optional[float] = None,
        **kwargs,
    ):
        kernel_sizes = list(kernel_sizes) if kernel_sizes is not None else [5, 3, 3, 1, 1]
        dilations = list(dilations) if dilations is not None else [1, 2, 3, 1, 1]
        if len(kernel_sizes) != 5 or len(dilations) != 5:
            raise ValueError(f"the x-vector has 5 frame-level layers; pass 5 kernel_sizes and 5 dilations, got {kernel_sizes}, {dilations}")
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd and >= 1 (convolutions are centred), got {kernel_sizes}")
        if threshold is not None and not -1.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold is a cosine score in [-1, 1], got {threshold}")
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.hidden_size = hidden_size
        self.pooling_channels = pooling_channels if pooling_channels is not None else 3 * hidden_size
        self.kernel_sizes = kernel_sizes
        self.dilations = dilations
        self.embedding_size = embedding_size
        self.classifier_hidden_size = classifier_hidden_size if classifier_hidden_size is not None else embedding_size
        self.aam_margin = aam_margin
        self.aam_scale = aam_scale
        self.threshold = None if threshold is None else float(threshold)
        if kwargs.get("id2label") is None:  # the speaker ids, when given, fix the number of classes
            kwargs["num_labels"] = num_labels
        super().__init__(**kwargs)
        if self.id2label and not self.label2id:
            self.label2id = {label: index for index, label in self.id2label.items()}

    @classmethod
    def published(cls, **kwargs) -> "XvectorConfig":
        """The paper's x-vector: 512-wide frame layers, a 1500-wide pooled layer, 512-dimensional embeddings and a
        512-wide second segment layer. `kwargs` override any field."""
        published = dict(hidden_size=512, pooling_channels=1500, embedding_size=512, classifier_hidden_size=512)
        return cls(**{**published, **kwargs})
