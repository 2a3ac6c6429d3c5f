"""What the shared training loop needs to know about each task: data, collation, model, validation metric.

A task class takes the recipe dict and offers `build_model()`, `train_dataset()`, `eval_dataset()`,
`collate(items)`, `metrics(batch, outputs) -> {name: (batch,) tensor}`, `feature_extractor()`,
`dataset_names()`, and `metric_for_best` / `greater_is_better`.

Validation averages each per-example metric over the set. A task whose score is not a mean (a correlation)
also defines `corpus_metrics({name: (examples,) tensor}) -> {name: float}`, which receives every per-example
value of the whole set; per-example values named `_x` go only there and are not averaged.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .metrics import si_snr
from .registry import model_classes


class RecipeTask:
    """What every task shares: the recipe, and the model it names, built for the recipe's task."""

    def __init__(self, recipe: dict):
        self.recipe = recipe
        self.data = recipe["data"]
        self.seed = int(recipe.get("training", {}).get("seed", 0))

    def build_model(self):
        config_cls, heads = model_classes(self.recipe["model"]["type"])
        config = config_cls(**self.recipe["model"].get("config", {}))
        if config.sampling_rate != self.data["sampling_rate"]:
            raise ValueError(
                f"model sampling_rate {config.sampling_rate} differs from data sampling_rate {self.data['sampling_rate']}; make them equal in the recipe"
            )
        return heads[self.recipe["task"]](config)


class SeparationTask(RecipeTask):
    """Source separation / enhancement trained on mixtures made on the fly from a speech corpus.

    Recipe `data` keys: `corpus` (a `zoo data speech` folder or a Hub id), `num_speakers`, `sampling_rate`,
    `condition` (clean | noisy | reverb), `segment_seconds`, `train_examples` (mixtures per epoch),
    `validation_examples`, `validation_seconds`.
    """

    metric_for_best = "si_snri"
    greater_is_better = True

    def _mixer(self, split: str, examples: int, seconds: float, seed: int):
        from .data.mixtures import DynamicMixer

        return DynamicMixer(
            self.data["corpus"],
            num_speakers=int(self.data.get("num_speakers", 2)),
            sampling_rate=int(self.data["sampling_rate"]),
            segment_seconds=seconds,
            condition=self.data.get("condition", "clean"),
            seed=seed,
            length=examples,
            split=split,
        )

    def train_dataset(self):
        return self._mixer("train", int(self.data.get("train_examples", 4000)), float(self.data.get("segment_seconds", 3.0)), self.seed)

    def eval_dataset(self):
        # a fixed set: the same mixtures at every validation, from speakers never seen in training
        return self._mixer(
            "validation", int(self.data.get("validation_examples", 100)), float(self.data.get("validation_seconds", 4.0)), self.seed + 10_000
        )

    def collate(self, items: list[dict]) -> dict:
        lengths = [len(item["mixture"]) for item in items]
        longest, speakers = max(lengths), np.asarray(items[0]["sources"]).shape[0]
        batch = {
            "input_values": torch.zeros(len(items), longest),
            "attention_mask": torch.zeros(len(items), longest, dtype=torch.long),
            "labels": torch.zeros(len(items), speakers, longest),
        }
        for i, (item, length) in enumerate(zip(items, lengths)):
            batch["input_values"][i, :length] = torch.as_tensor(item["mixture"])
            batch["attention_mask"][i, :length] = 1
            batch["labels"][i, :, :length] = torch.as_tensor(np.asarray(item["sources"]))
        return batch

    def metrics(self, batch: dict, outputs) -> dict:
        mask = batch["attention_mask"].unsqueeze(1)
        mixture = batch["input_values"].unsqueeze(1).expand_as(batch["labels"])
        baseline = si_snr(mixture.float(), batch["labels"].float(), mask).mean(-1)
        return {"si_snr": outputs.si_snr, "si_snri": outputs.si_snr - baseline}

    def feature_extractor(self):
        from transformers import Wav2Vec2FeatureExtractor

        return Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=int(self.data["sampling_rate"]), padding_value=0.0, do_normalize=False, return_attention_mask=True
        )

    def dataset_names(self) -> list[str]:
        return [str(self.data["corpus"])]


class QualityEstimationTask(RecipeTask):
    """Blind SI-SNR estimation (REAL-M): score a separator's output from the mixture and that output alone.

    The data are the outputs of the zoo's own separator checkpoints on mixtures made from a speech corpus (train
    split for training, validation split for validation), each with its true SI-SNR against the PIT-matched
    reference, plus degraded copies that widen the range of qualities (see `zoo.data.separated`). They are
    computed once, before training, and cached as a `.npz` keyed by every setting and the separators' weights.

    Validation reports `pearson` (correlation of predicted and true SI-SNR over the whole set) and `mae_db`, both
    against true values clipped to the model's `si_snr_range`, the range its predictions live in.

    Recipe `data` keys: `corpus`, `separators` (checkpoint folders, or `{checkpoint, weights}` for an earlier
    snapshot), `num_speakers`, `sampling_rate`, `condition`, `segment_seconds`, `train_mixtures`,
    `validation_mixtures`, `validation_seconds`, `degraded_per_estimate`, `separation_batch_size`, `cache_dir`
    (default: `$ZOO_CACHE/separated`, i.e. ~/.cache/zoo/separated).
    """

    metric_for_best = "pearson"
    greater_is_better = True

    def separated(self, speech, split: str, num_mixtures: int, seconds: float, seed: int, cache: bool = True, progress: bool = True):
        """`zoo.data.separated.SeparatedEstimates` of the recipe's separators on `num_mixtures` mixtures of `speech`."""
        from .data.separated import SeparatedEstimates, separate_mixtures
        from .data.text import cache_dir

        arrays = separate_mixtures(
            speech,
            list(self.data["separators"]),
            num_speakers=int(self.data.get("num_speakers", 2)),
            sampling_rate=int(self.data["sampling_rate"]),
            condition=self.data.get("condition", "clean"),
            segment_seconds=seconds,
            num_mixtures=num_mixtures,
            seed=seed,
            split=split,
            batch_size=int(self.data.get("separation_batch_size", 8)),
            cache_dir=(self.data.get("cache_dir") or os.path.join(cache_dir(), "separated")) if cache else None,
            progress=progress,
        )
        return SeparatedEstimates(arrays, degraded_per_estimate=int(self.data.get("degraded_per_estimate", 2)), seed=seed)

    def train_dataset(self):
        return self.separated(
            self.data["corpus"], "train", int(self.data.get("train_mixtures", 1000)), float(self.data.get("segment_seconds", 2.0)), self.seed
        )

    def eval_dataset(self):
        # the validation speakers' mixtures, never seen in training; the same set at every validation
        return self.separated(
            self.data["corpus"], "validation", int(self.data.get("validation_mixtures", 100)),
            float(self.data.get("validation_seconds", 4.0)), self.seed + 10_000,
        )

    def collate(self, items: list[dict]) -> dict:
        lengths = [len(item["mixture"]) for item in items]
        longest = max(lengths)
        batch = {
            "input_values": torch.zeros(len(items), longest),
            "estimates": torch.zeros(len(items), 1, longest),
            "attention_mask": torch.zeros(len(items), longest, dtype=torch.long),
            "labels": torch.tensor([[float(item["si_snr"])] for item in items]),  # (batch, 1) dB
        }
        for i, (item, length) in enumerate(zip(items, lengths)):
            batch["input_values"][i, :length] = torch.as_tensor(item["mixture"])
            batch["estimates"][i, 0, :length] = torch.as_tensor(item["estimate"])
            batch["attention_mask"][i, :length] = 1
        return batch

    def metrics(self, batch: dict, outputs) -> dict:
        # the model predicts inside its si_snr_range ("-10" reads "-10 or worse"): score it against clipped targets
        low, high = self._si_snr_range()
        predicted, target = outputs.si_snr.reshape(-1), batch["labels"].reshape(-1).clamp(low, high)
        return {"mae_db": (predicted - target).abs(), "_predicted": predicted, "_target": target}

    def _si_snr_range(self) -> tuple[float, float]:
        config_cls, _ = model_classes(self.recipe["model"]["type"])
        low, high = config_cls(**self.recipe["model"].get("config", {})).si_snr_range
        return float(low), float(high)

    def corpus_metrics(self, values: dict) -> dict:
        return {"pearson": pearson(values["_predicted"], values["_target"])}

    def feature_extractor(self):
        from transformers import Wav2Vec2FeatureExtractor

        return Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=int(self.data["sampling_rate"]), padding_value=0.0, do_normalize=False, return_attention_mask=True
        )

    def dataset_names(self) -> list[str]:
        return [str(self.data["corpus"])]


def pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pearson correlation of two `(n,)` tensors; 0 when either is constant.

    >>> round(pearson(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 7.0])), 3)
    0.993
    """
    x, y = x.double() - x.double().mean(), y.double() - y.double().mean()
    denominator = float(x.norm() * y.norm())
    return float((x * y).sum()) / denominator if denominator > 0 else 0.0


TASKS = {
    "audio-source-separation": SeparationTask,
    "speech-enhancement": SeparationTask,
    "speech-quality-assessment": QualityEstimationTask,
}
