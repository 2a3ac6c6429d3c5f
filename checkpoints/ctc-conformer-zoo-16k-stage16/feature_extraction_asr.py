"""Log-mel filterbank front end of the zoo speech recognizers (CTC Conformer).

Layouts: a waveform is `(time,)` mono float at `sampling_rate`; features are `(batch, frames, feature_size)` with one
frame every `hop_length` samples (10 ms), and `attention_mask` is `(batch, frames)`, 1 on real frames.

Each utterance is turned into features on its own before padding, so the features of an utterance do not depend on
the batch it came in. This file imports only numpy, torch and transformers so that a Hub folder carrying it loads
with `trust_remote_code=True` where zoo is not installed.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank
from transformers.utils import logging

logger = logging.get_logger(__name__)


class AsrFeatureExtractor(SequenceFeatureExtractor):
    r"""Waveforms -> `input_features` `(batch, frames, feature_size)` normalised log-mel energies and an `attention_mask`.

    Frames are 25 ms Hann windows every 10 ms, centred (the signal is zero-padded by half a window at both ends), so
    an utterance of `n` samples has `1 + n // hop_length` frames. The log of the mel energies is normalised per
    utterance and per mel bin to zero mean and unit variance over its frames, which removes the input gain and a
    fixed channel colouring and keeps the features in a range the model trains well on.

    Args:
        feature_size: mel bins (80, as in most speech recognizers).
        sampling_rate: Hz; audio at another rate is refused.
        padding_value: value of padded feature frames.
        n_fft: FFT size in samples (400 = 25 ms at 16 kHz); also the window length.
        hop_length: samples between frames (160 = 10 ms at 16 kHz).
        f_min: lowest mel filter edge, Hz.
        f_max: highest mel filter edge, Hz; None means `sampling_rate / 2`.
        normalize: normalise each utterance's log-mel to zero mean and unit variance per bin.
        log_floor: added to the mel energies before the log, so digital silence gives finite features.
        return_attention_mask: return the `(batch, frames)` mask by default.

    >>> import numpy as np
    >>> fe = AsrFeatureExtractor()
    >>> batch = fe([np.zeros(16000, dtype=np.float32), np.ones(8000, dtype=np.float32)], sampling_rate=16000,
    ...            return_tensors="pt", padding=True)
    >>> tuple(batch["input_features"].shape), batch["attention_mask"].sum(-1).tolist()
    ((2, 101, 80), [101, 51])
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        n_fft: int = 400,
        hop_length: int = 160,
        f_min: float = 0.0,
        f_max: Optional[float] = None,
        normalize: bool = True,
        log_floor: float = 1e-6,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        f_max = sampling_rate / 2 if f_max is None else f_max
        if not 0 <= f_min < f_max <= sampling_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sampling_rate / 2 = {sampling_rate / 2}, got f_min={f_min}, f_max={f_max}")
        if hop_length < 1 or n_fft < hop_length:
            raise ValueError(f"need 1 <= hop_length <= n_fft, got hop_length={hop_length}, n_fft={n_fft}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.f_min = f_min
        self.f_max = f_max
        self.normalize = normalize
        self.log_floor = log_floor
        # (n_fft // 2 + 1, feature_size) triangular filters on the HTK mel scale
        self.mel_filters = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=feature_size,
            min_frequency=f_min,
            max_frequency=f_max,
            sampling_rate=sampling_rate,
            norm=None,
            mel_scale="htk",
        )

    def to_dict(self) -> dict:
        output = super().to_dict()
        output.pop("mel_filters", None)  # rebuilt from the settings above; no need to store 16 k floats
        return output

    def log_mel(self, waveform: np.ndarray) -> np.ndarray:
        """`(time,)` waveform -> `(1 + time // hop_length, feature_size)` float32 log-mel features."""
        signal = np.asarray(waveform, dtype=np.float32)
        # a read-only array (a file decoded into a bytes buffer) would make torch warn; the copy is cheap
        signal = torch.from_numpy(signal if signal.flags.writeable else signal.copy())
        window = torch.hann_window(self.n_fft, periodic=True)
        # zero ("constant") padding rather than reflection: works for clips shorter than half a window
        padded = torch.nn.functional.pad(signal[None, None], (self.n_fft // 2, self.n_fft // 2))[0, 0]
        spectrum = torch.stft(padded, self.n_fft, self.hop_length, window=window, center=False, return_complex=True)
        power = spectrum.abs().pow(2)  # (n_fft // 2 + 1, frames)
        mel = torch.from_numpy(self.mel_filters.T.astype(np.float32)) @ power  # (feature_size, frames)
        features = torch.log(mel + self.log_floor).T  # (frames, feature_size)
        if self.normalize:
            mean = features.mean(0, keepdim=True)
            std = features.std(0, unbiased=False, keepdim=True)
            # a constant bin (digital silence, one frame) gives 0 rather than 0 / 0
            features = (features - mean) / (std + 1e-5)
        return features.numpy()

    def __call__(
        self,
        raw_speech: Union[np.ndarray, list, torch.Tensor],
        sampling_rate: Optional[int] = None,
        return_tensors: Optional[str] = None,
        padding: Union[bool, str] = True,
        max_length: Optional[int] = None,
        truncation: bool = False,
        pad_to_multiple_of: Optional[int] = None,
        return_attention_mask: Optional[bool] = None,
        **kwargs,
    ) -> BatchFeature:
        """Featurize one waveform or a batch of them.

        Args:
            raw_speech: a `(time,)` waveform, a list of them (lengths may differ), or a `(batch, time)` array /
                tensor; mono float samples at `sampling_rate`.
            sampling_rate: the rate of `raw_speech` in Hz; must equal the extractor's. Pass it: without it the
                rate cannot be checked.
            return_tensors: "pt", "np" or None (lists).
            padding: True / "longest" pads to the longest utterance; "max_length" pads to `max_length` frames.
            max_length: frames to pad (or, with `truncation`, cut) to.
            truncation: cut utterances longer than `max_length` frames.
            pad_to_multiple_of: pad the frame count to a multiple of this.
            return_attention_mask: defaults to the extractor's `return_attention_mask`.

        Returns:
            A `BatchFeature` with `input_features` `(batch, frames, feature_size)` and `attention_mask`
            `(batch, frames)`.
        """
        if sampling_rate is not None and int(sampling_rate) != int(self.sampling_rate):
            raise ValueError(
                f"this feature extractor expects {self.sampling_rate} Hz audio, got {sampling_rate} Hz; resample it first "
                f"(e.g. zoo.load_audio(audio, {self.sampling_rate}, input_sampling_rate={sampling_rate}))"
            )
        if sampling_rate is None:
            logger.warning(
                f"no sampling_rate passed to {type(self).__name__}; assuming {self.sampling_rate} Hz. Pass "
                "sampling_rate= so a wrong rate is caught instead of giving silently wrong transcripts."
            )
        waveforms = self._as_waveforms(raw_speech)
        features = [self.log_mel(w) for w in waveforms]
        batch = BatchFeature({"input_features": features})
        return self.pad(
            batch,
            padding=padding,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=self.return_attention_mask if return_attention_mask is None else return_attention_mask,
            return_tensors=return_tensors,
        )

    @staticmethod
    def _as_waveforms(raw_speech) -> list[np.ndarray]:
        """A list of checked `(time,)` float32 arrays from any accepted input."""
        if isinstance(raw_speech, torch.Tensor):
            raw_speech = raw_speech.detach().cpu().float().numpy()
        if isinstance(raw_speech, np.ndarray):
            if raw_speech.ndim == 1:
                items = [raw_speech]
            elif raw_speech.ndim == 2:
                items = list(raw_speech)
            else:
                raise ValueError(
                    f"expected a (time,) waveform or a (batch, time) array, got shape {tuple(raw_speech.shape)}; "
                    "pass a list of mono waveforms"
                )
        elif isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("got an empty list of waveforms; pass at least one")
            # a list of numbers is one waveform; a list of arrays / lists / tensors is a batch
            if all(isinstance(x, (int, float, np.floating, np.integer)) for x in raw_speech):
                items = [np.asarray(raw_speech, dtype=np.float32)]
            else:
                items = [x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in raw_speech]
        else:
            raise ValueError(f"cannot featurize {type(raw_speech).__name__}; pass a numpy array, a torch tensor or a list of them")
        waveforms = []
        for i, item in enumerate(items):
            if item.ndim != 1:
                raise ValueError(
                    f"waveform {i} has shape {tuple(item.shape)}; pass mono (time,) audio (average the channels, or use "
                    "zoo.load_audio, which downmixes)"
                )
            if item.size == 0:
                raise ValueError(f"waveform {i} is empty (0 samples); pass audio with sound in it")
            item = item.astype(np.float32, copy=False)
            if not np.isfinite(item).all():
                raise ValueError(f"waveform {i} contains NaN/inf samples; clean it (e.g. np.nan_to_num) before featurizing")
            waveforms.append(item)
        return waveforms
