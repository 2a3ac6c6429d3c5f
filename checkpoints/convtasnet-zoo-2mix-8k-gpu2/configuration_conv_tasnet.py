"""Configuration of Conv-TasNet (Luo & Mesgarani, 2019): a learned filterbank, a TCN mask estimator, a learned decoder."""

from transformers import PretrainedConfig


class ConvTasNetConfig(PretrainedConfig):
    r"""Configuration for [`ConvTasNetForSourceSeparation`] and [`ConvTasNetForSpeechEnhancement`].

    The defaults are a small model that trains on a CPU in under an hour; the paper's best model is
    `num_filters=512, kernel_size=16, bottleneck_channels=128, hidden_channels=512, skip_channels=128,
    num_blocks=8, num_repeats=3` (about 5 M parameters).

    Args:
        num_speakers: sources to estimate; 1 for speech enhancement, 3 for 3-speaker mixtures.
        sampling_rate: Hz; the pipeline resamples other rates to this.
        num_filters: encoder / decoder basis size (N in the paper).
        kernel_size: encoder window in samples (L); the stride is half of it.
        bottleneck_channels: TCN residual path width (B).
        hidden_channels: width inside each TCN block (H).
        skip_channels: TCN skip path width (Sc).
        conv_kernel_size: depthwise kernel size inside each block (P).
        num_blocks: blocks per repeat, with dilations 1, 2, ..., 2**(num_blocks-1) (X).
        num_repeats: repeats of the dilated stack (R).
        mask_activation: "relu" or "sigmoid".
        sisnr_clamp: upper bound (dB) of the per-source SI-SNR in the training loss; avoids over-fitting easy mixtures.

    >>> ConvTasNetConfig(num_speakers=3).num_speakers
    3
    """

    model_type = "conv_tasnet"

    def __init__(
        self,
        num_speakers: int = 2,
        sampling_rate: int = 8000,
        num_filters: int = 128,
        kernel_size: int = 16,
        bottleneck_channels: int = 64,
        hidden_channels: int = 128,
        skip_channels: int = 64,
        conv_kernel_size: int = 3,
        num_blocks: int = 7,
        num_repeats: int = 2,
        mask_activation: str = "relu",
        sisnr_clamp: float = 30.0,
        **kwargs,
    ):
        if num_speakers < 1:
            raise ValueError(f"num_speakers must be >= 1, got {num_speakers}")
        if kernel_size < 2 or kernel_size % 2:
            raise ValueError(f"kernel_size must be even and >= 2 (the stride is kernel_size // 2), got {kernel_size}")
        if mask_activation not in {"relu", "sigmoid"}:
            raise ValueError(f"mask_activation must be 'relu' or 'sigmoid', got {mask_activation!r}")
        self.num_speakers = num_speakers
        self.sampling_rate = sampling_rate
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.bottleneck_channels = bottleneck_channels
        self.hidden_channels = hidden_channels
        self.skip_channels = skip_channels
        self.conv_kernel_size = conv_kernel_size
        self.num_blocks = num_blocks
        self.num_repeats = num_repeats
        self.mask_activation = mask_activation
        self.sisnr_clamp = sisnr_clamp
        super().__init__(**kwargs)
