"""`speaker-embedding` and `speaker-verification` pipelines, for any zoo speaker-embedding model (ECAPA-TDNN, x-vector).

Layouts: a clip is decoded to a mono `(time,)` waveform at the model's rate (any input rate is resampled, stereo is
averaged); its features are `(1, frames, num_mel_bins)`; with `batch_size > 1` clips are padded to
`(batch, frames, num_mel_bins)` with an `attention_mask`, which the models honour, so a batch gives the same
embeddings as one clip at a time. Embeddings are `(embedding_size,)` float32, L2-normalised: the cosine score of
two clips is their dot product.

>>> import numpy as np, tempfile
>>> from transformers import pipeline
>>> from zoo import EcapaTdnnConfig, EcapaTdnnForSpeakerEmbedding, SpeakerFeatureExtractor
>>> tmp = tempfile.TemporaryDirectory()
>>> folder = tmp.name
>>> EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8,
...     embedding_size=16, threshold=0.6)).save_pretrained(folder)
>>> _ = SpeakerFeatureExtractor().save_pretrained(folder)
>>> embed = pipeline("speaker-embedding", model=folder)
>>> clip = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
>>> embed(clip, sampling_rate=16000).shape
(16,)
>>> verify = pipeline("speaker-verification", model=folder)
>>> out = verify((clip, clip), sampling_rate=16000)
>>> round(out["score"], 4), out["threshold"], out["same_speaker"]
(1.0, 0.6, True)
>>> tmp.cleanup()
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers.pipelines.base import ChunkPipeline, Pipeline

from ..audio import AudioError, load_audio_native, resample
from .score_norm import score_unit, verification_scores

# a score this far from the threshold counts as "close to it" in the `meaning` sentence, per score unit
BORDERLINE_MARGINS = {"cosine": 0.05, "s-norm": 0.5}


class _SpeakerPipelineMixin:
    """Audio -> features for one clip, shared by the speaker pipelines."""

    @property
    def model_sampling_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    def _features(self, clip: Any, sampling_rate=None, name: str = "audio") -> dict:
        """`{"input_features": (1, frames, num_mel_bins), "attention_mask": (1, frames)}` of one clip."""
        waveform, input_sr = load_audio_native(clip, sampling_rate, name=name)
        rate = self.model_sampling_rate
        waveform = resample(waveform, input_sr, rate)
        window = int(getattr(self.feature_extractor, "n_fft", 400))
        if waveform.shape[0] < window:
            raise AudioError(
                f"{name} has {waveform.shape[0]} samples at {rate} Hz, shorter than one {window / rate * 1000:.0f} ms analysis "
                f"window ({window} samples); pass at least {window / rate:.3f} s of audio (a second or more for a useful embedding)"
            )
        features = self.feature_extractor([waveform], sampling_rate=rate, return_tensors="pt", padding=True)
        return {"input_features": features["input_features"], "attention_mask": features["attention_mask"]}

    def _embed(self, model_inputs: dict) -> torch.Tensor:
        """`(batch, embedding_size)` L2-normalised float32 embeddings on the CPU."""
        features = model_inputs["input_features"].to(self.device, self.dtype if self.dtype is not None else torch.float32)
        mask = model_inputs["attention_mask"].to(self.device)
        embeddings = self.model(input_features=features, attention_mask=mask).embeddings
        return torch.nn.functional.normalize(embeddings.float(), dim=-1).cpu()


class SpeakerEmbeddingPipeline(_SpeakerPipelineMixin, Pipeline):
    """One speaker embedding per clip.

    Call with a path, bytes, a numpy array or tensor (pass `sampling_rate=`), a `datasets` Audio dict, or a list of
    them (with `batch_size=` to embed several per forward). Returns per clip a float32 numpy array
    `(embedding_size,)` of unit norm; `a @ b` is the cosine score of two clips.

    Args (call):
        sampling_rate: rate of an array input, in Hz; it is resampled to the model's rate.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = False

    def _sanitize_parameters(self, sampling_rate=None, **kwargs):
        if kwargs:
            raise TypeError(f"speaker-embedding got unexpected arguments {sorted(kwargs)}")
        return ({"sampling_rate": sampling_rate} if sampling_rate is not None else {}), {}, {}

    def preprocess(self, inputs: Any, sampling_rate=None):
        return self._features(inputs, sampling_rate, name="audio")

    def _forward(self, model_inputs):
        return {"embeddings": self._embed(model_inputs)}

    def postprocess(self, model_outputs):
        return model_outputs["embeddings"].reshape(-1).numpy()


def _is_clip_list(value) -> bool:
    """A list / tuple of clips (not one clip given as a list of samples)."""
    if not isinstance(value, (list, tuple)):
        return False
    return len(value) == 0 or not all(isinstance(v, (int, float, np.number)) for v in value)


def parse_trial(inputs: Any) -> tuple[list, Any]:
    """`(enrollment clips, test clip)` of a verification trial: a pair `(a, b)` or `{"enrollment": ..., "test": ...}`.

    >>> parse_trial(("a.wav", "b.wav"))
    (['a.wav'], 'b.wav')
    >>> parse_trial({"enrollment": ["a1.wav", "a2.wav"], "test": "b.wav"})
    (['a1.wav', 'a2.wav'], 'b.wav')
    """
    if isinstance(inputs, dict) and ("enrollment" in inputs or "test" in inputs):
        missing = {"enrollment", "test"} - set(inputs)
        if missing:
            raise ValueError(f"a verification trial dict needs 'enrollment' and 'test'; {sorted(missing)} missing (got keys {sorted(inputs)})")
        enrollment = inputs["enrollment"]
        enrollment = list(enrollment) if _is_clip_list(enrollment) else [enrollment]
        if not enrollment:
            raise ValueError("'enrollment' is an empty list; pass at least one clip of the claimed speaker")
        return enrollment, inputs["test"]
    if isinstance(inputs, tuple) and len(inputs) == 2:
        return [inputs[0]], inputs[1]
    described = f"a tuple of {len(inputs)}" if isinstance(inputs, tuple) else type(inputs).__name__
    raise ValueError(
        f"a verification trial is a pair (enrollment_clip, test_clip) or a dict {{'enrollment': clip or [clips], 'test': clip}}; "
        f"got {described}. Call verifier(a, b) or verifier((a, b)); a list is a batch of such trials"
    )


def explain_score(score: float, threshold: float, source: str = "the model's calibrated threshold", unit: str = "cosine") -> str:
    """One sentence on what a score (a cosine, or an s-norm score when `unit` is "s-norm") means against the threshold.

    >>> explain_score(0.71, 0.45)
    "Score 0.71 is well above the threshold 0.45 (the model's calibrated threshold): very likely the same speaker."
    >>> explain_score(4.2, 4.0, unit="s-norm")
    "Score 4.20 is just above the threshold 4.00 (the model's calibrated threshold): probably the same speaker, but close to the decision boundary."
    """
    margin, close = score - threshold, BORDERLINE_MARGINS[unit]
    if margin >= close:
        where, verdict = "well above", "very likely the same speaker"
    elif margin >= 0:
        where, verdict = "just above", "probably the same speaker, but close to the decision boundary"
    elif margin > -close:
        where, verdict = "just below", "probably different speakers, but close to the decision boundary"
    else:
        where, verdict = "well below", "very likely different speakers"
    digits = 2 if abs(margin) >= 0.01 else 3  # enough digits that the two numbers differ when they do
    return f"Score {score:.{digits}f} is {where} the threshold {threshold:.{digits}f} ({source}): {verdict}."


class SpeakerVerificationPipeline(_SpeakerPipelineMixin, ChunkPipeline):
    """Do two recordings come from the same speaker?

    Call with a pair `verifier(a, b)` / `verifier((a, b))`, or a dict `{"enrollment": clip or [clips], "test": clip}`
    (the enrollment embedding is the mean of the clips' embeddings, re-normalised), or a list of such trials. Clips
    are anything the speaker-embedding pipeline takes. Returns per trial a dict:

    - `score`: cosine similarity of the enrollment and test embeddings, in [-1, 1]; for a checkpoint with
      `config.score_norm="s-norm"`, that cosine normalised against the training speakers (`zoo.speaker.score_norm`:
      impostor standard deviations, around 0 for unrelated voices);
    - `cosine`: the raw cosine, whatever the scoring;
    - `threshold`: the decision threshold used (`threshold=`, else the model's `config.threshold`, calibrated at
      the validation equal-error-rate point when the checkpoint was trained or evaluated);
    - `same_speaker`: `score >= threshold`;
    - `meaning`: a sentence putting the score in words.

    Args (call, also accepted when the pipeline is built):
        threshold: override the model's decision threshold (in the model's score units: a cosine, or s-norm).
        sampling_rate: rate of array inputs, in Hz.

    A model without a calibrated threshold and no `threshold=` raises a ValueError: there is no decision to make.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = False

    def __call__(self, inputs, *args, **kwargs):
        if len(args) == 1 and not isinstance(inputs, list):  # verifier(a, b)
            inputs, args = (inputs, args[0]), ()
        elif args:
            raise TypeError(f"speaker-verification takes one trial, a pair of clips or a list of trials; got {1 + len(args)} positional arguments")
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, sampling_rate=None, threshold=None, **kwargs):
        if kwargs:
            raise TypeError(f"speaker-verification got unexpected arguments {sorted(kwargs)}")
        if threshold is not None:
            if score_unit(self.model) == "cosine" and not (isinstance(threshold, (int, float)) and -1.0 <= float(threshold) <= 1.0):
                raise ValueError(f"threshold={threshold!r} must be a cosine score in [-1, 1]")
            if not (isinstance(threshold, (int, float)) and np.isfinite(threshold)):
                raise ValueError(f"threshold={threshold!r} must be a finite s-norm score (this model scores in s-norm units)")
        # only what was given: a None here would override a threshold= given when the pipeline was built
        preprocess = {k: v for k, v in (("threshold", threshold), ("sampling_rate", sampling_rate)) if v is not None}
        return preprocess, {}, ({"threshold": threshold} if threshold is not None else {})

    def _threshold(self, threshold):
        if threshold is not None:
            return float(threshold), "set by the threshold= argument"
        calibrated = getattr(self.model.config, "threshold", None)
        if calibrated is None:
            raise ValueError(
                f"this {self.model.config.model_type} model has no calibrated decision threshold (config.threshold is None); "
                f"pass threshold=<{score_unit(self.model)} score>, or calibrate the checkpoint with `zoo eval CHECKPOINT` (it writes the "
                "validation equal-error-rate threshold into config.json). For raw scores use pipeline('speaker-embedding')"
            )
        return float(calibrated), "the model's calibrated threshold"

    def preprocess(self, inputs: Any, sampling_rate=None, threshold=None):
        self._threshold(threshold)  # refuse before any audio is decoded
        enrollment, test = parse_trial(inputs)
        clips = [("enrollment", clip, f"enrollment clip {i}") for i, clip in enumerate(enrollment)] + [("test", test, "test clip")]
        for index, (role, clip, name) in enumerate(clips):
            yield {**self._features(clip, sampling_rate, name=name), "role": role, "is_last": index == len(clips) - 1}

    def _forward(self, model_inputs):
        return {"embeddings": self._embed(model_inputs), "role": model_inputs["role"], "is_last": model_inputs["is_last"]}

    def postprocess(self, model_outputs, threshold=None):
        threshold, source = self._threshold(threshold)
        roles = [output["role"] if isinstance(output["role"], str) else output["role"][0] for output in model_outputs]
        embeddings = torch.cat([output["embeddings"].reshape(1, -1) for output in model_outputs])  # (clips, dim)
        enrollment = embeddings[[i for i, role in enumerate(roles) if role == "enrollment"]].mean(0)
        enrollment = torch.nn.functional.normalize(enrollment, dim=-1)
        test = embeddings[roles.index("test")]
        cosine = float(torch.clamp(enrollment @ test, -1.0, 1.0))
        score = float(verification_scores(self.model, enrollment.numpy()[None], test.numpy()[None])[0])
        return {"score": score, "cosine": cosine, "threshold": threshold, "same_speaker": score >= threshold,
                "meaning": explain_score(score, threshold, source, unit=score_unit(self.model))}
