"""Configuration of DPRNN (Luo, Chen & Yoshioka, 2020): a learned filterbank, a dual-path BiLSTM mask estimator,
a learned decoder."""

from transformers import PretrainedConfig


class DprnnConfig(PretrainedConfig):
    r"""Configuration for [`DprnnForSourceSeparation`] and [`DprnnForSpeechEnhancement`].

    The defaults are a tiny model that trains on a CPU. The paper's best WSJ0-2mix model (2-sample windows,
    about 2.6 M parameters) is `DprnnConfig.published()`.

    Args:
        num_speakers: sources to estimate; 1 for speech enhancement, 3 for 3-speaker mixtures.
        sampling_rate: Hz; the pipeline resamples other rates to this.
        num_filters: encoder / decoder basis size (N in the paper).
        kernel_size: encoder window in samples (L); the stride is half of it.
        hidden_size: feature width inside the dual-path blocks; the masker projects N to it and back.
        rnn_hidden_size: hidden units of each LSTM direction (H).
        chunk_size: frames per chunk (K); chunks overlap by half, so it must be even.
        num_layers: dual-path blocks, each one intra-chunk and one inter-chunk BiLSTM.
        sisnr_clamp: upper bound (dB) of the per-source SI-SNR in the training loss; avoids over-fitting easy mixtures.

    >>> DprnnConfig(num_speakers=3).num_speakers
    3
    >>> DprnnConfig.published().num_layers
    6
    """

    model_type = "dprnn"

    def __init__(
        self,
        num_speakers: int = 2,
        sampling_rate: int = 8000,
        num_filters: int = 64,
        kernel_size: int = 16,
        hidden_size: int = 64,
        rnn_hidden_size: int = 64,
        chunk_size: int = 100,
        num_layers: int = 2,
        sisnr_clamp: float = 30.0,
        **kwargs,
    ):
        if num_speakers < 1:
            raise ValueError(f"num_speakers must be >= 1, got {num_speakers}")
        if kernel_size < 2 or kernel_size % 2:
            raise ValueError(f"kernel_size must be even and >= 2 (the stride is kernel_size // 2), got {kernel_size}")
        if chunk_size < 2 or chunk_size % 2:
            raise ValueError(f"chunk_size must be even and >= 2 (chunks overlap by half), got {chunk_size}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.num_speakers = num_speakers
        self.sampling_rate = sampling_rate
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.hidden_size = hidden_size
        self.rnn_hidden_size = rnn_hidden_size
        self.chunk_size = chunk_size
        self.num_layers = num_layers
        self.sisnr_clamp = sisnr_clamp
        super().__init__(**kwargs)

    @classmethod
    def published(cls, **kwargs) -> "DprnnConfig":
        """The paper's best WSJ0-2mix model: 64 filters of 2 samples (stride 1), 128 LSTM units per direction,
        chunks of 250 frames, 6 blocks (about 2.6 M parameters). `kwargs` override any field."""
        published = dict(num_filters=64, kernel_size=2, hidden_size=64, rnn_hidden_size=128, chunk_size=250, num_layers=6)
        return cls(**{**published, **kwargs})
