"""What the shared training loop needs to know about each task: data, collation, model, validation metric.

A task class takes the recipe dict and offers `build_model()`, `train_dataset()`, `eval_dataset()`,
`collate(items)`, `metrics(batch, outputs) -> {name: (batch,) tensor}`, `feature_extractor()`,
`dataset_names()`, and `metric_for_best` / `greater_is_better`.
"""

from __future__ import annotations

import numpy as np
import torch

from .metrics import si_snr
from .registry import model_classes


class SeparationTask:
    """Source separation / enhancement trained on mixtures made on the fly from a speech corpus.

    Recipe `data` keys: `corpus` (a `zoo data speech` folder or a Hub id), `num_speakers`, `sampling_rate`,
    `condition` (clean | noisy | reverb), `segment_seconds`, `train_examples` (mixtures per epoch),
    `validation_examples`, `validation_seconds`.
    """

    metric_for_best = "si_snri"
    greater_is_better = True

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


TASKS = {
    "audio-source-separation": SeparationTask,
    "speech-enhancement": SeparationTask,
}
