"""A zoo separator's outputs on speech mixtures, each with its true SI-SNR: data for blind SI-SNR estimators (REAL-M).

`separate_mixtures` runs one or more separator checkpoints over `DynamicMixer` mixtures and keeps, per mixture,
the references and every separator's estimates, matched to the references by PIT and scaled to them by least
squares. Arrays (cached as one ``.npz`` keyed by a hash of every setting, the corpus and the separator weights):

    mixtures   (mixtures, time)                           float16
    sources    (mixtures, speakers, time)                 float16  references
    estimates  (mixtures, separators, speakers, time)     float16  estimate s is matched to reference s
    si_snr     (mixtures, separators, speakers)           float32  true SI-SNR (dB) of each estimate

`SeparatedEstimates` turns them into single (mixture, estimate, SI-SNR) examples. As in REAL-M, the range of
qualities is widened beyond what the separators produce: besides each estimate as the separator made it, every
estimate has `degraded_per_estimate` copies degraded at random (a ratio of another speaker leaking in, a blend
towards the mixture, or coloured noise), each scored again against the same reference.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..metrics import si_snr

CACHE_VERSION = 1
DEGRADATIONS = ("leak", "mixture", "noise")


def _separator_spec(entry) -> dict:
    """A recipe's separator entry: a checkpoint folder / Hub id, or `{checkpoint: ..., weights: ...safetensors}`."""
    if isinstance(entry, (str, os.PathLike)):
        return {"checkpoint": os.fspath(entry), "weights": None}
    if isinstance(entry, dict) and "checkpoint" in entry:
        return {"checkpoint": os.fspath(entry["checkpoint"]), "weights": entry.get("weights")}
    raise ValueError(
        f"a separator must be a checkpoint folder, e.g. checkpoints/convtasnet-zoo-2mix-8k, or a dict "
        f"{{checkpoint: FOLDER, weights: runs/NAME/state_500/model.safetensors}} for an earlier snapshot; got {entry!r}"
    )


def load_separator(entry):
    """The separation model of a recipe's separator entry, in eval mode, and a hash of its weights."""
    from transformers import AutoModel

    from ..registry import register_all

    register_all()
    spec = _separator_spec(entry)
    model = AutoModel.from_pretrained(spec["checkpoint"]).eval()
    weights = spec["weights"] or os.path.join(spec["checkpoint"], "model.safetensors")
    if spec["weights"]:
        from safetensors.torch import load_file

        if not os.path.isfile(weights):
            raise FileNotFoundError(f"separator weights {weights!r} not found; point `weights` at a model.safetensors of the same model")
        model.load_state_dict(load_file(weights))
    digest = hashlib.sha1()
    if os.path.isfile(weights):
        with open(weights, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    else:  # a Hub id: the weights live in the HF cache; name and config identify them well enough
        digest.update(json.dumps([spec["checkpoint"], model.config.to_dict()], sort_keys=True, default=str).encode())
    return model, digest.hexdigest()[:16]


def pit_match(estimates: torch.Tensor, references: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder `(batch, speakers, time)` estimates to the references by best mean SI-SNR; scale each to its reference.

    Returns `(matched, si_snr)`: `(batch, speakers, time)` estimates, least-squares scaled to their references, and
    `(batch, speakers)` their SI-SNR in dB.
    """
    speakers = estimates.shape[1]
    pairwise = si_snr(estimates.unsqueeze(2), references.unsqueeze(1))  # (batch, estimate, reference)
    perms = torch.tensor(list(itertools.permutations(range(speakers))))  # (P, speakers): reference -> estimate
    index = torch.arange(speakers)
    scores = pairwise[:, perms, index].mean(-1)  # (batch, P)
    best = perms[scores.argmax(-1)]  # (batch, speakers)
    matched = torch.gather(estimates, 1, best.unsqueeze(-1).expand_as(estimates))
    # a scale-invariant separator's gain is arbitrary; degrading an estimate needs it at its reference's level
    gain = (matched * references).sum(-1, keepdim=True) / matched.pow(2).sum(-1, keepdim=True).clamp(min=1e-10)
    matched = matched * gain
    return matched, si_snr(matched, references)


def separate_mixtures(
    speech,
    separators: list,
    *,
    num_speakers: int = 2,
    sampling_rate: int = 8000,
    condition: str = "clean",
    segment_seconds: float = 2.0,
    num_mixtures: int = 1000,
    seed: int = 0,
    split: str = "train",
    batch_size: int = 8,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Separate `num_mixtures` dynamic mixtures with every separator; the arrays of the module docstring.

    Args:
        speech: a `zoo data speech` folder, its DatasetDict (then `split` is used) or one split's Dataset.
        separators: checkpoint folders (or `{checkpoint, weights}` dicts) of separation models at `sampling_rate`.
        num_speakers, sampling_rate, condition, segment_seconds, seed, split: as for `DynamicMixer`.
        num_mixtures: mixtures to make.
        batch_size: mixtures per separator call.
        cache_dir: folder of the ``.npz`` cache; None disables caching.
        progress: show a tqdm bar.
    """
    from tqdm.auto import tqdm

    from .mixtures import DynamicMixer, _load_speech

    if not separators:
        raise ValueError("no separators given; list checkpoint folders, e.g. separators: [checkpoints/convtasnet-zoo-2mix-8k]")
    import datasets

    dataset = _load_speech(speech)
    if isinstance(dataset, datasets.DatasetDict):
        dataset = dataset[split]
    models, hashes = zip(*(load_separator(entry) for entry in separators))
    for entry, model in zip(separators, models):
        rate, speakers = int(model.config.sampling_rate), getattr(model.config, "num_speakers", None)
        if rate != sampling_rate or speakers != num_speakers:
            raise ValueError(
                f"separator {_separator_spec(entry)['checkpoint']!r} separates {speakers} speakers at {rate} Hz, but the data "
                f"asks for {num_speakers} speakers at {sampling_rate} Hz; set data.num_speakers / data.sampling_rate to match"
            )
    settings = dict(
        version=CACHE_VERSION, corpus=getattr(dataset, "_fingerprint", None), separators=list(hashes), num_speakers=num_speakers,
        sampling_rate=sampling_rate, condition=condition, segment_seconds=segment_seconds, num_mixtures=num_mixtures,
        seed=seed, split=split,
    )
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"separated-{split}-{key}.npz" if cache_dir is not None and settings["corpus"] else None
    if path is not None and path.exists():
        with np.load(path) as data:
            return {name: data[name] for name in data.files}

    mixer = DynamicMixer(dataset, num_speakers=num_speakers, sampling_rate=sampling_rate, segment_seconds=segment_seconds,
                         condition=condition, seed=seed, length=num_mixtures, split=split)
    arrays = {"mixtures": [], "sources": [], "estimates": [], "si_snr": []}
    starts = range(0, num_mixtures, batch_size)
    for start in tqdm(starts, desc=f"separating {split} mixtures", unit="batch", disable=not progress):
        items = [mixer[i] for i in range(start, min(start + batch_size, num_mixtures))]
        mixtures = torch.from_numpy(np.stack([item["mixture"] for item in items])).float()  # (batch, time)
        sources = torch.from_numpy(np.stack([item["sources"] for item in items])).float()  # (batch, speakers, time)
        estimates, scores = [], []
        with torch.no_grad():
            for model in models:
                matched, score = pit_match(model(input_values=mixtures).waveforms.float(), sources)
                estimates.append(matched)
                scores.append(score)
        arrays["mixtures"].append(mixtures.half().numpy())
        arrays["sources"].append(sources.half().numpy())
        arrays["estimates"].append(torch.stack(estimates, 1).half().numpy())  # (batch, separators, speakers, time)
        arrays["si_snr"].append(torch.stack(scores, 1).numpy())  # (batch, separators, speakers)
    arrays = {name: np.concatenate(parts) for name, parts in arrays.items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # a kill mid-write leaves only the tmp file
    return arrays


def degrade(estimate: np.ndarray, other: np.ndarray, mixture: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A worse copy of a `(time,)` estimate: another speaker leaking in, a blend towards the mixture, or coloured noise."""
    kind = DEGRADATIONS[int(rng.integers(len(DEGRADATIONS)))]
    level = float(np.sqrt(np.mean(estimate.astype(np.float64) ** 2))) + 1e-8
    if kind == "leak":  # the other speaker at U(-5, 25) dB below the estimate
        ratio_db = rng.uniform(-5.0, 25.0)
        other_level = float(np.sqrt(np.mean(other.astype(np.float64) ** 2))) + 1e-8
        out = estimate + other * (level / other_level) * 10 ** (-ratio_db / 20)
    elif kind == "mixture":  # a separator that gave up part of the way: 0 is the estimate, 1 the mixture
        weight = rng.uniform(0.0, 1.0)
        out = (1 - weight) * estimate + weight * mixture
    else:  # white noise through a random one-pole low-pass, at U(-5, 30) dB SNR
        noise = rng.standard_normal(estimate.shape[0])
        pole = rng.uniform(0.0, 0.95)
        noise = np.asarray(_one_pole(noise, pole))
        noise *= level / (np.sqrt(np.mean(noise**2)) + 1e-8) * 10 ** (-rng.uniform(-5.0, 30.0) / 20)
        out = estimate + noise
    return out.astype(np.float32), kind


def _one_pole(signal: np.ndarray, pole: float) -> np.ndarray:
    from scipy.signal import lfilter

    return lfilter([1.0 - pole], [1.0, -pole], signal)


class SeparatedEstimates:
    """Single examples from `separate_mixtures` arrays: ``{"mixture", "estimate", "si_snr", "degraded"}``.

    Example `i` is view `i % (1 + degraded_per_estimate)` of estimate `i // (1 + degraded_per_estimate)`; view 0 is
    the estimate as its separator made it, the others are degraded copies, the same for a given `(seed, i)`.
    Works as a ``torch.utils.data.Dataset``.

    Args:
        arrays: what `separate_mixtures` returns.
        degraded_per_estimate: degraded copies of each estimate.
        seed: drives the degradations.
    """

    def __init__(self, arrays: dict[str, np.ndarray], degraded_per_estimate: int = 2, seed: int = 0):
        self.arrays = arrays
        self.mixtures, self.separators, self.speakers = arrays["estimates"].shape[:3]
        self.views = 1 + int(degraded_per_estimate)
        self.seed = seed

    def __len__(self) -> int:
        return self.mixtures * self.separators * self.speakers * self.views

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        flat, view = divmod(index, self.views)
        mixture_index, rest = divmod(flat, self.separators * self.speakers)
        separator, speaker = divmod(rest, self.speakers)
        mixture = self.arrays["mixtures"][mixture_index].astype(np.float32)
        estimate = self.arrays["estimates"][mixture_index, separator, speaker].astype(np.float32)
        if view == 0:
            target = float(self.arrays["si_snr"][mixture_index, separator, speaker])
            return {"mixture": mixture, "estimate": estimate, "si_snr": target, "degraded": False}
        rng = np.random.default_rng([self.seed, index])
        sources = self.arrays["sources"][mixture_index].astype(np.float32)
        others = [s for s in range(self.speakers) if s != speaker]
        other = sources[others[int(rng.integers(len(others)))]] if others else np.zeros_like(mixture)
        estimate, _ = degrade(estimate, other, mixture, rng)
        target = float(si_snr(torch.from_numpy(estimate), torch.from_numpy(sources[speaker])))
        return {"mixture": mixture, "estimate": estimate, "si_snr": target, "degraded": True}
