"""Configuration of SepFormer (Subakan et al., 2021): a learned filterbank, a dual-path transformer mask estimator,
a learned decoder."""

from transformers import PretrainedConfig


class SepformerConfig(PretrainedConfig):
    r"""Configuration for [`SepformerForSourceSeparation`] and [`SepformerForSpeechEnhancement`].

    The defaults are a tiny model that trains on a CPU. The published model ("Attention is all you need in
    speech separation", WSJ0-2mix, about 26 M parameters) is `SepformerConfig.published()`.

    Args:
        num_speakers: sources to estimate; 1 for speech enhancement, 3 for 3-speaker mixtures.
        sampling_rate: Hz; the pipeline resamples other rates to this.
        num_filters: encoder / decoder basis size (N in the paper).
        kernel_size: encoder window in samples (L); the stride is half of it.
        hidden_size: width of the dual-path transformers (d_model); the masker projects N to it and back.
        chunk_size: frames per chunk (C); chunks overlap by half, so it must be even.
        num_layers: dual-path blocks, each one intra-chunk and one inter-chunk transformer (N in the paper).
        num_intra_layers: transformer layers attending within a chunk, per block (k).
        num_inter_layers: transformer layers attending across chunks, per block (k).
        num_heads: attention heads; must divide hidden_size.
        ffn_dim: inner width of each transformer layer's feed-forward network.
        dropout: dropout on attention weights and on every residual branch; only active in training.
        layer_norm_eps: epsilon of the transformers' layer norms.
        sisnr_clamp: upper bound (dB) of the per-source SI-SNR in the training loss; avoids over-fitting easy mixtures.

    >>> SepformerConfig(num_speakers=3).num_speakers
    3
    >>> SepformerConfig.published().num_intra_layers
    8
    """

    model_type = "sepformer"

    def __init__(
        self,
        num_speakers: int = 2,
        sampling_rate: int = 8000,
        num_filters: int = 64,
        kernel_size: int = 16,
        hidden_size: int = 64,
        chunk_size: int = 100,
        num_layers: int = 1,
        num_intra_layers: int = 1,
        num_inter_layers: int = 1,
        num_heads: int = 4,
        ffn_dim: int = 128,
        dropout: float = 0.0,
        layer_norm_eps: float = 1e-6,
        sisnr_clamp: float = 30.0,
        **kwargs,
    ):
        if num_speakers < 1:
            raise ValueError(f"num_speakers must be >= 1, got {num_speakers}")
        if kernel_size < 2 or kernel_size % 2:
            raise ValueError(f"kernel_size must be even and >= 2 (the stride is kernel_size // 2), got {kernel_size}")
        if chunk_size < 2 or chunk_size % 2:
            raise ValueError(f"chunk_size must be even and >= 2 (chunks overlap by half), got {chunk_size}")
        if hidden_size % 2 or hidden_size % num_heads:
            raise ValueError(
                f"hidden_size must be even (sinusoidal positions) and divisible by num_heads={num_heads}, got {hidden_size}"
            )
        if min(num_layers, num_intra_layers, num_inter_layers) < 1:
            raise ValueError(
                f"num_layers, num_intra_layers and num_inter_layers must be >= 1, got "
                f"{num_layers}, {num_intra_layers}, {num_inter_layers}"
            )
        self.num_speakers = num_speakers
        self.sampling_rate = sampling_rate
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.hidden_size = hidden_size
        self.chunk_size = chunk_size
        self.num_layers = num_layers
        self.num_intra_layers = num_intra_layers
        self.num_inter_layers = num_inter_layers
        self.num_heads = num_heads
        self.ffn_dim = ffn_dim
        self.dropout = dropout
        self.layer_norm_eps = layer_norm_eps
        self.sisnr_clamp = sisnr_clamp
        super().__init__(**kwargs)

    @classmethod
    def published(cls, **kwargs) -> "SepformerConfig":
        """The paper's WSJ0-2mix model: 256 filters of 16 samples (stride 8), chunks of 250 frames, 2 blocks of
        8 intra + 8 inter layers, 8 heads, FFN 1024 (about 25.7 M parameters). `kwargs` override any field."""
        published = dict(
            num_filters=256, kernel_size=16, hidden_size=256, chunk_size=250, num_layers=2,
            num_intra_layers=8, num_inter_layers=8, num_heads=8, ffn_dim=1024,
        )
        return cls(**{**published, **kwargs})
