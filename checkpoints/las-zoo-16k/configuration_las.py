"""Configuration of the Listen, Attend and Spell speech recognizer (Chan et al., 2016) with location-aware attention
(Chorowski et al., 2015) and an optional CTC layer for joint CTC / attention training and decoding (Watanabe et al.,
2017): a convolutional front end that cuts the 10 ms log-mel frame rate four times and Conformer blocks listen; an
LSTM decoder attends to them, its attention energies also seeing a convolution of the previous attention weights, and
spells the transcript character by character."""

from __future__ import annotations

from typing import Optional

from transformers import PretrainedConfig


class LasConfig(PretrainedConfig):
    r"""Configuration for [`LasForSpeechSeq2Seq`].

    Training minimises `ctc_weight * L_ctc + (1 - ctc_weight) * L_attention`; decoding (`generate`) scores each
    hypothesis by `(1 - ctc_weight) * log p_attention + ctc_weight * log p_ctc + lm_weight * log p_lm` with the
    decoding weights of the checkpoint's `generation_config` (see the model's `generate`).

    Args:
        sampling_rate: Hz of the audio the feature extractor takes; it refuses other rates.
        num_mel_bins: log-mel features per frame (the feature extractor's `feature_size`).
        hop_length: samples between feature frames (160 = 10 ms at 16 kHz).
        subsampling_channels: channels of the two stride-2 convolutions of the front end.
        hidden_size: width of the Conformer encoder ("listener") blocks.
        num_layers: Conformer encoder blocks.
        num_heads: encoder attention heads; must divide `hidden_size` into an even head size (rotary positions).
        ffn_dim: inner width of the encoder's feed-forward modules.
        conv_kernel_size: frames seen by the depthwise convolution of each encoder block (odd: it is centred).
        decoder_embedding_size: width of the decoder's character embeddings.
        decoder_hidden_size: width of the decoder's LSTM ("speller") layers.
        decoder_layers: LSTM layers of the decoder.
        attention_dim: width of the attention energy computation.
        location_channels: filters of the convolution over the previous attention weights.
        location_kernel_size: encoder steps that convolution spans (odd: centred; 31 steps = 1.24 s).
        dropout: dropout after the front end, in every residual branch, between LSTM layers and before outputs.
        attention_dropout: dropout on the encoder's attention weights.
        layer_norm_eps: epsilon of every LayerNorm.
        rope_theta: base of the encoder's rotary position frequencies.
        vocab_size: output symbols: the tokenizer's `len(tokenizer)` (CTC blank = `pad_token_id`, plus `<s>`, `</s>`).
        pad_token_id: the padding id, also the CTC blank.
        bos_token_id: `<s>`, the decoder's start symbol (`decoder_start_token_id`).
        eos_token_id: `</s>`, which ends a transcript.
        ctc_weight: weight of the CTC loss in training (0 builds no CTC layer: attention only; 1 is not allowed, the
            decoder would not learn); also the default CTC weight of joint decoding.
        label_smoothing: label smoothing of the decoder's cross-entropy.
        ctc_zero_infinity: give zero CTC loss to utterances too short for their transcript instead of inf.
        lm_config: the `CharLmConfig.to_dict()` of a character LM held inside the model for shallow fusion (None: no
            LM). Set by `zoo.asr.attach_lm`, which also copies the LM's weights in.

    >>> config = LasConfig(hidden_size=16, num_layers=1, num_heads=2, ffn_dim=32, subsampling_channels=8,
    ...                    decoder_embedding_size=8, decoder_hidden_size=16, attention_dim=16, location_channels=4)
    >>> config.vocab_size, config.decoder_start_token_id, config.eos_token_id, config.ctc_weight
    (32, 30, 31, 0.3)
    """

    model_type = "las"

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
        decoder_embedding_size: int = 64,
        decoder_hidden_size: int = 256,
        decoder_layers: int = 1,
        attention_dim: int = 128,
        location_channels: int = 10,
        location_kernel_size: int = 31,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-5,
        rope_theta: float = 10000.0,
        vocab_size: int = 32,
        pad_token_id: int = 0,
        bos_token_id: int = 30,
        eos_token_id: int = 31,
        ctc_weight: float = 0.3,
        label_smoothing: float = 0.1,
        ctc_zero_infinity: bool = True,
        lm_config: Optional[dict] = None,
        **kwargs,
    ):
        if hidden_size % num_heads or (hidden_size // num_heads) % 2:
            raise ValueError(
                f"num_heads={num_heads} must divide hidden_size={hidden_size} into an even head size (rotary positions "
                "rotate pairs of features); e.g. hidden_size=144 with num_heads=4"
            )
        for name, size in (("conv_kernel_size", conv_kernel_size), ("location_kernel_size", location_kernel_size)):
            if size < 1 or size % 2 == 0:
                raise ValueError(f"{name} must be odd and >= 1 (the convolution is centred), got {size}")
        if num_mel_bins < 4:
            raise ValueError(f"num_mel_bins must be >= 4 (two stride-2 convolutions run over it), got {num_mel_bins}")
        if decoder_layers < 1:
            raise ValueError(f"decoder_layers must be >= 1, got {decoder_layers}")
        _check_token_ids(vocab_size, pad_token_id, bos_token_id, eos_token_id)
        if not 0.0 <= ctc_weight < 1.0:
            raise ValueError(f"ctc_weight must lie in [0, 1) (0: attention only; the decoder needs a share), got {ctc_weight}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        if lm_config is not None and int(lm_config.get("vocab_size", -1)) != vocab_size:
            raise ValueError(
                f"lm_config has vocab_size={lm_config.get('vocab_size')} but the recognizer has {vocab_size}; the LM must "
                "use the recognizer's tokenizer (train it with the same character vocabulary)"
            )
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.hop_length = hop_length
        self.subsampling_channels = subsampling_channels
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_dim = ffn_dim
        self.conv_kernel_size = conv_kernel_size
        self.decoder_embedding_size = decoder_embedding_size
        self.decoder_hidden_size = decoder_hidden_size
        self.decoder_layers = decoder_layers
        self.attention_dim = attention_dim
        self.location_channels = location_channels
        self.location_kernel_size = location_kernel_size
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.rope_theta = rope_theta
        self.vocab_size = vocab_size
        self.ctc_weight = ctc_weight
        self.label_smoothing = label_smoothing
        self.ctc_zero_infinity = ctc_zero_infinity
        self.lm_config = dict(lm_config) if lm_config is not None else None
        kwargs.setdefault("decoder_start_token_id", bos_token_id)
        kwargs.setdefault("is_encoder_decoder", True)
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)

    @property
    def subsampling_factor(self) -> int:
        """Feature frames per encoder step: two stride-2 convolutions."""
        return 4

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Audio samples per encoder step (640 = 40 ms at 16 kHz)."""
        return self.hop_length * self.subsampling_factor


def _check_token_ids(vocab_size: int, pad: int, bos: int, eos: int) -> None:
    ids = {"pad_token_id": pad, "bos_token_id": bos, "eos_token_id": eos}
    outside = {name: value for name, value in ids.items() if not 0 <= value < vocab_size}
    if outside:
        raise ValueError(f"{outside} must lie in [0, vocab_size={vocab_size}); take them from the tokenizer")
    if len(set(ids.values())) != 3:
        raise ValueError(f"pad, bos and eos must be three different ids, got {ids}")
