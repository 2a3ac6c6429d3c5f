"""`audio-source-separation` and `speech-enhancement` pipelines, for any zoo separation model.

Layouts: a chunk's `input_values` is `(1, time)`; the model returns `(batch, num_sources, time)`.
Long audio is cut into overlapping chunks that run one (or `batch_size`) at a time, so model memory
does not grow with the input's length; each chunk's sources are matched to the previous chunk's by
correlation over the overlap (the model's source order is arbitrary per chunk), rescaled to them, and
cross-faded in.
"""

from __future__ import annotations

import functools
import itertools
import os
from typing import Any

import numpy as np
import torch
from transformers.pipelines.base import ChunkPipeline

from ..audio import AudioError, load_audio_native, resample


class AudioSourceSeparationPipeline(ChunkPipeline):
    """Separate a mixture into `num_speakers` sources.

    Call with a path, bytes, a numpy array (pass `sampling_rate=`), a `datasets` Audio dict, or a list of
    them. Returns, per input, a list with one dict per source: `label`, `audio` (float32 numpy at the input's
    rate, or `output_sampling_rate=`), `sampling_rate`, and `estimated_si_snr` (dB; None without an estimator).

    Args (call):
        chunk_length_s: chunk duration in seconds for long audio (default 10).
        overlap_s: overlap between chunks in seconds (default 1).
        sampling_rate: rate of an array input.
        output_sampling_rate: rate of the returned sources; defaults to the input's.
        estimator: what fills `estimated_si_snr` (also accepted when the pipeline is built): a blind SI-SNR
            estimator model (anything with `.estimate(mixture, estimates) -> (batch, sources)` dB and a
            `config.sampling_rate`, e.g. `SiSnrEstimatorForQualityEstimation`; the sources are resampled to its rate),
            a local folder or Hub id of such a checkpoint, or a callable `estimator(mixture (batch, time),
            estimates (batch, sources, time)) -> (batch, sources)` SI-SNR in dB at the separator's rate.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = False

    def __init__(self, *args, estimator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.estimator = load_estimator(estimator)

    def _sanitize_parameters(
        self, chunk_length_s=None, overlap_s=None, sampling_rate=None, output_sampling_rate=None, estimator=None, **kwargs
    ):
        preprocess = {}
        if chunk_length_s is not None:
            preprocess["chunk_length_s"] = chunk_length_s
        if overlap_s is not None:
            preprocess["overlap_s"] = overlap_s
        if sampling_rate is not None:
            preprocess["sampling_rate"] = sampling_rate
        postprocess = {}
        if output_sampling_rate is not None:
            postprocess["output_sampling_rate"] = output_sampling_rate
        if estimator is not None:
            postprocess["estimator"] = load_estimator(estimator)
        return preprocess, {}, postprocess

    @property
    def model_sampling_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    def preprocess(self, inputs: Any, chunk_length_s: float = 10.0, overlap_s: float = 1.0, sampling_rate=None):
        waveform, input_sr = load_audio_native(inputs, sampling_rate, name="mixture")
        waveform = resample(waveform, input_sr, self.model_sampling_rate)
        min_samples = int(getattr(self.model.config, "kernel_size", 1))
        if waveform.shape[0] < min_samples:
            raise AudioError(
                f"mixture has {waveform.shape[0]} samples at {self.model_sampling_rate} Hz, fewer than one encoder frame "
                f"({min_samples} samples); pass at least {min_samples / self.model_sampling_rate * 1000:.1f} ms of audio"
            )
        chunk = max(int(chunk_length_s * self.model_sampling_rate), min_samples)
        overlap = min(int(overlap_s * self.model_sampling_rate), chunk // 2)
        hop = chunk - overlap
        total = waveform.shape[0]
        starts = list(range(0, max(total - overlap, 1), hop))
        if len(starts) > 1 and total - starts[-1] < min_samples:
            starts.pop()  # a sliver shorter than one frame: the previous chunk already covers most of it
        progress = None
        if len(starts) > 3:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(starts), desc="separating", unit="chunk")
        for index, start in enumerate(starts):
            end = total if index == len(starts) - 1 else min(start + chunk, total)
            piece = waveform[start:end]
            features = self.feature_extractor(
                piece, sampling_rate=self.model_sampling_rate, return_tensors="pt", return_attention_mask=True
            )
            yield {
                "input_values": features["input_values"],
                "attention_mask": features["attention_mask"],
                "is_last": index == len(starts) - 1,
                "start": start,
                "total": total,
                "overlap": overlap,
                "input_sampling_rate": input_sr,
            }
            if progress is not None:
                progress.update(1)
        if progress is not None:
            progress.close()

    def _forward(self, model_inputs):
        meta = {k: model_inputs.pop(k) for k in ("is_last", "start", "total", "overlap", "input_sampling_rate")}
        input_values = model_inputs["input_values"].to(self.device, self.dtype if self.dtype is not None else torch.float32)
        attention_mask = model_inputs["attention_mask"].to(self.device)
        estimates = self.model(input_values=input_values, attention_mask=attention_mask).waveforms
        out = {"waveforms": estimates.float().cpu(), "mixture": input_values.float().cpu(), "attention_mask": attention_mask.cpu()}
        return {**out, **meta}

    @staticmethod
    def _match(previous: np.ndarray, current: np.ndarray) -> tuple:
        """Permutation of `current`'s sources best correlated with `previous` over the same samples."""
        num = previous.shape[0]
        best, best_score = tuple(range(num)), -np.inf
        for perm in itertools.permutations(range(num)):
            score = sum(float(np.dot(previous[i], current[p])) for i, p in enumerate(perm))
            if score > best_score:
                best, best_score = perm, score
        return best

    def postprocess(self, model_outputs, output_sampling_rate=None, estimator=None):
        first = model_outputs[0]
        total, overlap = int(_item(first["total"])), int(_item(first["overlap"]))
        input_sr = int(_item(first["input_sampling_rate"]))
        num_sources = first["waveforms"].shape[-2]
        sources = np.zeros((num_sources, total), dtype=np.float32)
        mixture = np.zeros(total, dtype=np.float32)
        for index, output in enumerate(model_outputs):
            start = int(_item(output["start"]))
            length = int(output["attention_mask"].reshape(-1).sum())
            chunk = output["waveforms"].reshape(num_sources, -1)[:, :length].numpy()
            mixture[start : start + length] = output["mixture"].reshape(-1)[:length].numpy()
            if index == 0:
                sources[:, :length] = chunk
                continue
            span = min(overlap, length)
            previous = sources[:, start : start + span]
            chunk = chunk[list(self._match(previous, chunk[:, :span]))]
            # scale-invariant training leaves each chunk's gain free: match it to what is already there
            energy = (chunk[:, :span] ** 2).sum(-1)
            gain = np.where(energy > 1e-10, (previous * chunk[:, :span]).sum(-1) / np.maximum(energy, 1e-10), 1.0)
            chunk = chunk * np.clip(gain, 0.0, None)[:, None]
            fade = np.linspace(0.0, 1.0, span, dtype=np.float32)
            sources[:, start : start + span] = previous * (1 - fade) + chunk[:, :span] * fade
            sources[:, start + span : start + length] = chunk[:, span:]
        scores = [None] * num_sources
        estimator = estimator if estimator is not None else self.estimator
        if estimator is not None:
            scores = self._estimate_si_snr(estimator, mixture, sources)
        out_sr = int(output_sampling_rate or input_sr)
        return [
            {
                "label": f"source_{i + 1}",
                "audio": resample(sources[i], self.model_sampling_rate, out_sr),
                "sampling_rate": out_sr,
                "estimated_si_snr": scores[i],
            }
            for i in range(num_sources)
        ]


    def _estimate_si_snr(self, estimator, mixture: np.ndarray, sources: np.ndarray) -> list[float]:
        """One SI-SNR (dB) per source; `mixture` is `(time,)`, `sources` `(num_sources, time)` at the separator's rate."""
        with torch.no_grad():
            if hasattr(estimator, "estimate"):
                rate = getattr(getattr(estimator, "config", None), "sampling_rate", None)
                if rate is not None and int(rate) != self.model_sampling_rate:
                    mixture = resample(mixture, self.model_sampling_rate, int(rate))
                    sources = resample(sources, self.model_sampling_rate, int(rate))
                scores = estimator.estimate(mixture[None], sources[None])
            else:
                scores = estimator(torch.from_numpy(mixture)[None], torch.from_numpy(sources)[None])
        scores = torch.as_tensor(scores).detach().float().cpu().reshape(-1)
        if scores.numel() != sources.shape[0]:
            raise ValueError(f"the estimator returned {scores.numel()} scores for {sources.shape[0]} sources; it must return (batch, sources)")
        return [float(v) for v in scores]


def load_estimator(estimator):
    """The `estimator=` of a separation pipeline, ready to call: a path or Hub id is loaded with `AutoModel`.

    Args:
        estimator: None, a model with `.estimate(mixture, estimates)`, a callable
            `estimator(mixture, estimates) -> (batch, sources)`, or a folder / Hub id of an estimator checkpoint.
    """
    if estimator is None or hasattr(estimator, "estimate"):
        return estimator
    if isinstance(estimator, (str, os.PathLike)):
        return _load_estimator_checkpoint(os.fspath(estimator))
    if callable(estimator):
        return estimator
    raise TypeError(
        f"estimator must be a model with .estimate, a callable estimator(mixture, estimates), or a checkpoint path / Hub id; "
        f"got {type(estimator).__name__}"
    )


@functools.lru_cache(maxsize=4)
def _load_estimator_checkpoint(path: str):
    """An estimator checkpoint, loaded once per process: `estimator=` given per call would otherwise reload it."""
    from transformers import AutoModel

    from ..registry import register_all

    register_all()  # a zoo checkpoint's model type must be known to AutoModel
    model = AutoModel.from_pretrained(path).eval()
    if not hasattr(model, "estimate"):
        raise ValueError(
            f"estimator={path!r} loads a {type(model).__name__}, which has no .estimate(mixture, estimates); "
            "pass an SI-SNR estimator checkpoint such as one trained with recipes/sisnr-estimator-zoo-8k.yaml"
        )
    return model


class SpeechEnhancementPipeline(AudioSourceSeparationPipeline):
    """Estimate clean speech from a noisy input; returns the same list of dicts with one entry, `label` "speech"."""

    def postprocess(self, model_outputs, output_sampling_rate=None, estimator=None):
        outputs = super().postprocess(model_outputs, output_sampling_rate, estimator)
        outputs[0]["label"] = "speech"
        return outputs


def _item(value):
    """Pipeline batching turns scalars into one-element lists or tensors; get the scalar back."""
    while isinstance(value, (list, tuple)):
        value = value[0]
    return value.item() if hasattr(value, "item") else value
