"""Configuration of the CTC Conformer (Gulati et al., 2020, trained with CTC as in Graves et al., 2006): a two-layer stride-2 convolutional front end that cuts the 10 ms log-mel frame rate four times, then Conformer blocks (macaron feed-forward, self-attention with rotary positions, depthwise convolution module) and a linear layer giving per-frame character logits."""

from transformers import PretrainedConfig


class CtcConformerConfig(PretrainedConfig):
    r"""Configuration for [`CtcConformerModel`] and [`CtcConformerForCTC`].

    The defaults are a small model (about 2.2 M parameters with 30 characters) that trains on a CPU and transcribes
    with greedy decoding at a real-time factor near 0.005 on one thread; the paper's Conformer-S encoder (16 blocks
    of width 144, there with an LSTM decoder instead of CTC) is `CtcConformerConfig.conformer_s()`.

    Args:
        sampling_rate: Hz of the audio the feature extractor takes; it refuses other rates.
        num_mel_bins: log-mel features per frame (the feature extractor's `feature_size`).
        hop_length: samples between feature frames (160 = 10 ms at 16 kHz); with the x4 subsampling it gives
            `inputs_to_logits_ratio`, which the ASR pipeline needs to cut long audio into chunks (`chunk_length_s`).
        subsampling_channels: channels of the two stride-2 convolutions of the front end.
        hidden_size: width of the Conformer blocks.
        num_layers: Conformer blocks.
        num_heads: attention heads; must divide `hidden_size` into an even head size (rotary positions rotate pairs).
        ffn_dim: inner width of the two feed-forward modules of each block.
        conv_kernel_size: frames seen by the depthwise convolution of each block (odd: it is centred).
        dropout: dropout after the front end, in every module's residual branch and before the output layer.
        attention_dropout: dropout on the attention weights.
        layer_norm_eps: epsilon of every LayerNorm.
        rope_theta: base of the rotary position frequencies.
        vocab_size: output symbols, the CTC blank included (the tokenizer's `len(tokenizer)`).
        pad_token_id: the CTC blank: the tokenizer's `<pad>` id.
        ctc_loss_reduction: "mean" (each sequence's loss divided by its target length, then averaged over the
            batch, like `torch.nn.CTCLoss`) or "sum".
        ctc_zero_infinity: give zero loss (and gradient) to sequences too short for their transcript instead of inf.
        mask_time_prob: SpecAugment (Park et al., 2019) while training: about this share of each utterance's real
            frames is set to 0 (its mean: the features are normalised per utterance), in spans of `mask_time_length`
            frames; 0 turns time masks off. Never applied in eval mode.
        mask_time_length: frames per time mask.
        mask_feature_prob: likewise, about this share of the mel bins of every frame of an utterance is set to 0, in
            bands of `mask_feature_length` bins; 0 turns frequency masks off.
        mask_feature_length: mel bins per frequency mask.

    >>> config = CtcConformerConfig(hidden_size=16, num_layers=1, num_heads=2, ffn_dim=32, subsampling_channels=8)
    >>> config.inputs_to_logits_ratio, config.pad_token_id
    (640, 0)
    """

    model_type = "ctc_conformer"

    def __init__(
        self,
        sampling_rate: int = 16000,
        num_mel_bins: int = 80,
        hop_length: int = 160,
        subsampling_channels: int = 64,
        hidden_size: int = 144,
        num_layers: int = 4,
        num_heads: int = 4,
        ffn_dim: int = 576,
        conv_kernel_size: int = 15,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-5,
        rope_theta: float = 10000.0,
        vocab_size: int = 30,
        pad_token_id: int = 0,
        ctc_loss_reduction: str = "mean",
        ctc_zero_infinity: bool = True,
        mask_time_prob: float = 0.0,
        mask_time_length: int = 10,
        mask_feature_prob: float = 0.0,
        mask_feature_length: int = 8,
        **kwargs,
    ):
        if hidden_size % num_heads or (hidden_size // num_heads) % 2:
            raise ValueError(
                f"num_heads={num_heads} must divide hidden_size={hidden_size} into an even head size (rotary positions "
                "rotate pairs of features); e.g. hidden_size=144 with num_heads=4"
            )
        if conv_kernel_size < 1 or conv_kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd and >= 1 (the convolution is centred), got {conv_kernel_size}")
        if ctc_loss_reduction not in {"mean", "sum"}:
            raise ValueError(f"ctc_loss_reduction must be 'mean' or 'sum', got {ctc_loss_reduction!r}")
        if not 0 <= pad_token_id < vocab_size:
            raise ValueError(f"pad_token_id (the CTC blank) must lie in [0, vocab_size={vocab_size}), got {pad_token_id}")
        for name, prob, length in (("mask_time", mask_time_prob, mask_time_length), ("mask_feature", mask_feature_prob, mask_feature_length)):
            if not 0.0 <= prob < 1.0:
                raise ValueError(f"{name}_prob is a share of the frames or bins to mask, in [0, 1); got {prob}")
            if length < 1:
                raise ValueError(f"{name}_length must be >= 1, got {length}")
        if num_mel_bins < 4:
            raise ValueError(f"num_mel_bins must be >= 4 (two stride-2 convolutions run over it), got {num_mel_bins}")
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.hop_length = hop_length
        self.subsampling_channels = subsampling_channels
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_dim = ffn_dim
        self.conv_kernel_size = conv_kernel_size
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.rope_theta = rope_theta
        self.vocab_size = vocab_size
        self.ctc_loss_reduction = ctc_loss_reduction
        self.ctc_zero_infinity = ctc_zero_infinity
        self.mask_time_prob = mask_time_prob
        self.mask_time_length = mask_time_length
        self.mask_feature_prob = mask_feature_prob
        self.mask_feature_length = mask_feature_length
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def subsampling_factor(self) -> int:
        """Feature frames per output frame: two stride-2 convolutions."""
        return 4

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Audio samples per logit frame (640 = 40 ms at 16 kHz); the ASR pipeline aligns its chunks to it."""
        return self.hop_length * self.subsampling_factor

    @classmethod
    def conformer_s(cls, **kwargs) -> "CtcConformerConfig":
        """Conformer-S of the paper (hidden 144, 16 blocks, 4 heads, kernel 32 -> 31 here, as the convolution is
        centred); `kwargs` override any field."""
        published = dict(hidden_size=144, num_layers=16, num_heads=4, ffn_dim=576, conv_kernel_size=31, subsampling_channels=144)
        return cls(**{**published, **kwargs})
