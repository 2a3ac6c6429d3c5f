"""Configuration of the blind SI-SNR estimator of REAL-M (Subakan et al., 2022): scores a separated source from the mixture and the estimate alone."""

from transformers import PretrainedConfig


class SiSnrEstimatorConfig(PretrainedConfig):
    r"""Configuration for [`SiSnrEstimatorForQualityEstimation`].

    Each (mixture, estimate) pair is a 2-channel signal: a strided conv encoder, a few dilated depthwise-separable
    conv blocks, mean and standard deviation pooled over the real frames, and an MLP give one SI-SNR in dB.
    The defaults (about 53 k parameters, 4 ms windows with a 2 ms hop at 8 kHz) train on two CPU cores in minutes.

    Args:
        sampling_rate: Hz of the mixture and the estimates; the separation pipeline resamples other rates to this.
        num_filters: encoder channels.
        kernel_size: encoder window in samples; the stride is half of it.
        hidden_channels: width of the conv blocks.
        conv_kernel_size: depthwise kernel size inside each block (odd).
        num_blocks: conv blocks, with dilations 1, 2, ..., 2**(num_blocks-1).
        mlp_channels: hidden width of the MLP head.
        dropout: dropout before the MLP's last layer.
        si_snr_range: `(low, high)` dB; targets are clipped to it and predictions lie inside it (a sigmoid spans it).
        loss: "mse" or "l1", on the range scaled to [0, 1] so the loss size does not depend on the range.

    >>> SiSnrEstimatorConfig(si_snr_range=(-5, 25)).si_snr_range
    [-5.0, 25.0]
    """

    model_type = "si_snr_estimator"

    def __init__(
        self,
        sampling_rate: int = 8000,
        num_filters: int = 128,
        kernel_size: int = 32,
        hidden_channels: int = 64,
        conv_kernel_size: int = 3,
        num_blocks: int = 6,
        mlp_channels: int = 64,
        dropout: float = 0.1,
        si_snr_range: tuple = (-10.0, 30.0),
        loss: str = "mse",
        **kwargs,
    ):
        if kernel_size < 2 or kernel_size % 2:
            raise ValueError(f"kernel_size must be even and >= 2 (the stride is kernel_size // 2), got {kernel_size}")
        if conv_kernel_size < 1 or conv_kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size must be odd so blocks keep the frame count, got {conv_kernel_size}")
        low, high = (float(v) for v in si_snr_range)
        if not low < high:
            raise ValueError(f"si_snr_range must be (low, high) with low < high, got {tuple(si_snr_range)}")
        if loss not in {"mse", "l1"}:
            raise ValueError(f"loss must be 'mse' or 'l1', got {loss!r}")
        self.sampling_rate = sampling_rate
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.hidden_channels = hidden_channels
        self.conv_kernel_size = conv_kernel_size
        self.num_blocks = num_blocks
        self.mlp_channels = mlp_channels
        self.dropout = dropout
        self.si_snr_range = [low, high]  # a list, as it comes back from config.json
        self.loss = loss
        super().__init__(**kwargs)
