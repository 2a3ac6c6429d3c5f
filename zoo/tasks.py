"""What the shared training loop needs to know about each task: data, collation, model, validation metric.

A task class takes the recipe dict and offers `build_model()`, `train_dataset()`, `eval_dataset()`,
`collate(items)`, `metrics(batch, outputs) -> {name: (batch,) tensor}`, `feature_extractor()`,
`dataset_names()`, and `metric_for_best` / `greater_is_better`.

Validation averages each per-example metric over the set. A task whose score is not a mean (a correlation)
also defines `corpus_metrics({name: (examples,) tensor}) -> {name: float}`, which receives every per-example
value of the whole set; per-example values named `_x` go only there and are not averaged. Batch keys named `_x`
reach `metrics` but not the model. An optional `finalize(model, metrics)` runs before each new best checkpoint
is saved (the speaker task stores its calibrated decision threshold in the config there).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .audio import FORMANT_RATIOS, PITCH_SEMITONES, change_speed, shift_formants, shift_pitch
from .metrics import si_snr
from .registry import model_classes

# ASR training items with no speech (`data.silence_probability`): seconds long, and the level of their noise (dBFS RMS)
SILENCE_SECONDS = (0.5, 6.0)
SILENCE_DBFS = (-65.0, -15.0)


def average_weights(model, others: list, sources: list[str]) -> None:
    """Set `model`'s floating-point weights to their mean with the same weights of `others` (models of one
    architecture, or their state dicts: fine-tunes of one checkpoint, a uniform model soup, or snapshots of one run);
    integer buffers keep `model`'s. `sources` names them, `model`'s first, for the error when a weight is missing or
    of another shape."""
    state = model.state_dict()
    states = [other if isinstance(other, dict) else other.state_dict() for other in others]
    for name, value in state.items():
        for source, other in zip(sources[1:], states):
            if name not in other or other[name].shape != value.shape:
                found = "no such weight" if name not in other else f"shape {tuple(other[name].shape)}"
                raise ValueError(
                    f"model.init_from: {source!r} does not fit {sources[0]!r} to average them: weight {name!r} is "
                    f"{tuple(value.shape)} there and {found} here; list checkpoints of one architecture"
                )
        if value.is_floating_point():
            value.copy_(torch.stack([value.float()] + [other[name].float() for other in states]).mean(0).to(value.dtype))


def load_renamed_weights(model, checkpoint: str, rename: dict[str, str]) -> list[str]:
    """Copy the weights of `checkpoint` (a folder or Hub id holding model.safetensors) whose names start with a key
    of `rename` into `model`, that prefix replaced by its value (``{"ctc_conformer.": "encoder."}`` puts a CTC
    model's encoder into a seq2seq model). Every renamed weight must exist in `model` with the same shape, and at
    least one must match; returns the names loaded."""
    from safetensors.torch import load_file
    from transformers.utils import cached_file

    path = cached_file(checkpoint, "model.safetensors")
    source, target = load_file(path), model.state_dict()
    loaded = {}
    for name, tensor in source.items():
        prefix = next((p for p in rename if name.startswith(p)), None)
        if prefix is None:
            continue
        new_name = rename[prefix] + name[len(prefix):]
        if new_name not in target or target[new_name].shape != tensor.shape:
            have = tuple(target[new_name].shape) if new_name in target else "no such weight"
            raise ValueError(
                f"model.init_weights_from: {checkpoint}'s {name} {tuple(tensor.shape)} renamed to {new_name} does not fit "
                f"this model ({have}); make the recipe's model.config match the checkpoint's config.json for those layers"
            )
        loaded[new_name] = tensor
    if not loaded:
        raise ValueError(f"model.init_weights_from: no weight of {checkpoint} starts with {list(rename)}; its names start with "
                         f"{sorted({n.split('.')[0] + '.' for n in source})}")
    model.load_state_dict(loaded, strict=False)
    return sorted(loaded)


class RecipeTask:
    """What every task shares: the recipe, and the model it names, built for the recipe's task."""

    reinit_mismatched = False  # with model.init_from: start weights of another shape fresh instead of failing

    def __init__(self, recipe: dict):
        self.recipe = recipe
        self.data = recipe["data"]
        self.seed = int(recipe.get("training", {}).get("seed", 0))
        self._corpora = {}

    def build_model(self, **settings):
        """The recipe's model, its config from `model.config` plus `settings`, at the data's sampling rate.

        With `model.init_weights_from: {checkpoint, rename}` a fresh model takes some weights of another model's
        checkpoint (see `load_renamed_weights`), e.g. a seq2seq recognizer's encoder from a CTC checkpoint.
        With `model.init_from` (a checkpoint folder or Hub id) the model starts from that checkpoint's weights
        (a second training stage, or fine-tuning); a list of checkpoints of one architecture starts it from the mean
        of their weights (`average_weights`; with `training.max_steps: 0` the average is the checkpoint). `model.config`
        and `settings` still override its config. A weight
        whose shape they change is an error, except in tasks that set `reinit_mismatched` (the speaker task: its
        classifier is rebuilt for the new corpus' speakers).
        """
        config_cls, heads = model_classes(self.recipe["model"]["type"])
        overrides = {**self.recipe["model"].get("config", {}), **settings}
        sources = self.init_sources()
        if sources:
            models = [self._pretrained(source, heads, overrides) for source in sources]
            model = models[0]
            if len(models) > 1:  # a uniform "model soup" (Wortsman et al., 2022): fine-tunes of one model, averaged
                average_weights(model, models[1:], sources)
        else:
            model = heads[self.recipe["task"]](config_cls(**overrides))
            if self.recipe["model"].get("init_weights_from"):
                load_renamed_weights(model, **self.recipe["model"]["init_weights_from"])
        if model.config.sampling_rate != self.data["sampling_rate"]:
            source = f"model.init_from {self.recipe['model']['init_from']!r}" if sources else "the recipe's model.config"
            raise ValueError(
                f"model sampling_rate {model.config.sampling_rate} (from {source}) differs from data sampling_rate "
                f"{self.data['sampling_rate']}; make them equal in the recipe"
            )
        return model

    def init_sources(self) -> list[str]:
        """The checkpoints of `model.init_from`: none, one, or the several whose weights are averaged."""
        init_from = self.recipe["model"].get("init_from")
        if not init_from:
            return []
        return [str(one) for one in init_from] if isinstance(init_from, (list, tuple)) else [str(init_from)]

    def _pretrained(self, source: str, heads: dict, overrides: dict):
        """The recipe's model from the checkpoint `source` (one `model.init_from`), its config overridden."""
        try:
            model = heads[self.recipe["task"]].from_pretrained(source, **overrides, ignore_mismatched_sizes=self.reinit_mismatched)
        except RuntimeError as error:
            if "mismatched" not in str(error):
                raise
            raise ValueError(
                f"model.init_from {source!r}: its weights do not fit the recipe's model.config "
                f"{self.recipe['model'].get('config', {})} (the report above names the weights); make model.config match "
                f"{source}/config.json, or leave out the keys that change a weight's shape"
            ) from None
        if model.config.model_type != self.recipe["model"]["type"]:
            raise ValueError(f"model.init_from {source!r} is a {model.config.model_type}, not {self.recipe['model']['type']}")
        return model

    def corpus_source(self, split: str) -> str | list[str]:
        """The corpus (folder or Hub id) of one split: `data.<split>_corpus` when the recipe names one, else
        `data.corpus`; a list when the recipe names several to read together (`split` concatenates them)."""
        value = self.data.get(f"{split}_corpus", self.data["corpus"])
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value)

    def split(self, name: str):
        """One split of the recipe's corpus: `data.<name>_corpus` when the recipe names one (e.g. a bigger
        `train_corpus` next to a fixed validation/test corpus), else `data.corpus`; each loaded once with
        `zoo.data.hub.load_corpus`. A list of corpora (e.g. `train_corpus: [data/speech-asr6, data/speech-festival]`)
        gives their `name` splits one after another, with the columns they all have."""
        source = self.corpus_source(name)
        if isinstance(source, str):
            return self._split_of(source, name)
        if not source:
            raise ValueError(f"data.{name}_corpus is an empty list; name one corpus or more")
        parts = [self._split_of(one, name) for one in source]
        common = [c for c in parts[0].column_names if all(c in part.column_names for part in parts)]
        for column in ("audio", "text"):
            if column not in common:
                raise ValueError(f"the corpora {source} of data.{name}_corpus do not all have an {column!r} column")
        import datasets

        parts = [part.select_columns(common) for part in parts]
        parts = [parts[0]] + [part.cast(parts[0].features) for part in parts[1:]]
        return datasets.concatenate_datasets(parts)

    def one_corpus_source(self, split: str) -> str:
        """`corpus_source` for tasks that mix or separate from one corpus per split; a list is refused."""
        source = self.corpus_source(split)
        if not isinstance(source, str):
            raise ValueError(f"data.{split}_corpus lists {source}; this task reads one corpus per split, so name one "
                             f"(speech recognition recipes may list several)")
        return source

    def _split_of(self, source: str, name: str):
        if source not in self._corpora:
            from .data.hub import load_corpus

            self._corpora[source] = load_corpus(source)
        corpus = self._corpora[source]
        if name not in corpus:
            raise ValueError(f"corpus {source!r} has no {name!r} split (it has {list(corpus)}); build it with `zoo data speech`")
        return corpus[name]

    def dataset_names(self) -> list[str]:
        names = [str(self.data["corpus"])]
        for key, value in sorted(self.data.items()):
            if not key.endswith("_corpus"):
                continue
            for one in value if isinstance(value, (list, tuple)) else [value]:
                if str(one) not in names:  # train_corpus may also be validation_corpus
                    names.append(str(one))
        return names


class SeparationTask(RecipeTask):
    """Source separation / enhancement trained on mixtures made on the fly from a speech corpus.

    Recipe `data` keys: `corpus` (a `zoo data speech` folder or a Hub id; `train_corpus` / `validation_corpus`
    replace it for one split), `num_speakers`, `sampling_rate`,
    `condition` (clean | noisy | reverb), `segment_seconds`, `train_examples` (mixtures per epoch),
    `validation_examples`, `validation_seconds`, `speed_probability` and `speeds` (speed perturbation of each
    training source, default off), `formant_probability` and `formant_ratios` (formants moved with pitch and tempo
    kept, default off), `same_voice_probability` (training mixtures of one voice's speakers, default off).
    """

    metric_for_best = "si_snri"
    greater_is_better = True

    def _mixer(self, split: str, examples: int, seconds: float, seed: int):
        from .data.mixtures import DynamicMixer

        return DynamicMixer(
            self.one_corpus_source(split),  # e.g. a bigger train_corpus
            num_speakers=int(self.data.get("num_speakers", 2)),
            sampling_rate=int(self.data["sampling_rate"]),
            segment_seconds=seconds,
            condition=self.data.get("condition", "clean"),
            seed=seed,
            length=examples,
            split=split,
            # training only: validation and test mixtures stay the corpus's own voices
            speed_probability=float(self.data.get("speed_probability", 0.0)) if split == "train" else 0.0,
            speeds=tuple(self.data.get("speeds", (0.9, 1.1))),
            same_voice_probability=float(self.data.get("same_voice_probability", 0.0)) if split == "train" else 0.0,
            formant_probability=float(self.data.get("formant_probability", 0.0)) if split == "train" else 0.0,
            formant_ratios=tuple(self.data.get("formant_ratios", FORMANT_RATIOS)),
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
            self.one_corpus_source("train"), "train", int(self.data.get("train_mixtures", 1000)), float(self.data.get("segment_seconds", 2.0)), self.seed
        )

    def eval_dataset(self):
        # the validation speakers' mixtures, never seen in training; the same set at every validation
        return self.separated(
            self.one_corpus_source("validation"), "validation", int(self.data.get("validation_mixtures", 100)),
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


class SpeakerEmbeddingTask(RecipeTask):
    """Speaker embeddings (ECAPA-TDNN, x-vector) trained as a classifier over the training speakers.

    Training examples are random crops of random utterances of the corpus' train split (shorter utterances are
    looped), labelled with their speaker's index among the train split's speakers (stored in the config as
    `id2label`), each augmented at random: speed perturbation (resampling by 0.9 or 1.1, before the crop),
    reverberation (a shoebox room from a pool of pyroomacoustics RIRs) and additive noise (the train part of
    `zoo.data.mixtures.noise_bank`, at a random SNR). Features (log-mel) are computed in `collate`.

    Validation embeds utterances of the validation split, whose speakers never appear in training, and scores
    every pair of them by cosine: `eer` is the equal error rate (percent) over all same / different speaker
    pairs; lower is better. The best checkpoint's `config.threshold` is the score threshold at that EER point.

    Recipe `model.init_from` (a checkpoint folder or Hub id) fine-tunes that model instead of starting from random
    weights; its classifier is rebuilt for the new corpus' speakers (e.g. recipes/ecapa-tdnn-cryceleb-finetune.yaml).

    Recipe `data` keys: `corpus` (a `zoo data speech` folder or a Hub id with `audio` and `speaker_id`),
    `sampling_rate`, `segment_seconds` (crop length), `train_examples` (crops per epoch; each index is its own
    random draw), `speed_probability`, `speeds` (default [0.9, 1.1]), `reverb_probability`, `rir_pool` (rooms
    simulated once at start), `noise_probability`, `snr_db` ([low, high]), `validation_seconds` (the first
    seconds of each validation utterance; null for all of it), `validation_per_speaker` (utterances per
    validation speaker; null for all).
    """

    metric_for_best = "eer"
    greater_is_better = False
    reinit_mismatched = True

    def __init__(self, recipe: dict):
        super().__init__(recipe)
        self.sampling_rate = int(self.data["sampling_rate"])
        self.threshold: float | None = None  # set by every validation, stored in the config by `finalize`
        self._extractor = None
        per_speaker = self.data.get("validation_per_speaker")
        if per_speaker is not None and int(per_speaker) < 2:
            raise ValueError(f"data.validation_per_speaker must be >= 2 (same-speaker pairs need two utterances), got {per_speaker}")

    def speakers(self) -> list[str]:
        """The training speakers, sorted: index i is class i of the classifier."""
        return sorted(set(self.split("train")["speaker_id"]))

    def build_model(self):
        speakers = self.speakers()
        labels = dict(id2label=dict(enumerate(speakers)), label2id={speaker: i for i, speaker in enumerate(speakers)})
        if self.recipe["model"].get("init_from"):
            labels["threshold"] = None  # the pretrained model's threshold was calibrated for its own corpus
        return super().build_model(**labels)

    def train_dataset(self):
        data = self.data
        return SpeakerCrops(
            self.split("train"),
            self.speakers(),
            sampling_rate=self.sampling_rate,
            segment_seconds=float(data.get("segment_seconds", 2.0)),
            length=int(data.get("train_examples", 20000)),
            seed=self.seed,
            speed_probability=float(data.get("speed_probability", 0.0)),
            speeds=tuple(data.get("speeds", (0.9, 1.1))),
            reverb_probability=float(data.get("reverb_probability", 0.0)),
            rir_pool=int(data.get("rir_pool", 32)),
            noise_probability=float(data.get("noise_probability", 0.0)),
            snr_db=tuple(data.get("snr_db", (0.0, 15.0))),
        )

    def eval_dataset(self):
        seconds = self.data.get("validation_seconds", 4.0)
        per_speaker = self.data.get("validation_per_speaker")
        return SpeakerUtterances(
            self.split("validation"),
            sampling_rate=self.sampling_rate,
            max_seconds=None if seconds is None else float(seconds),
            per_speaker=None if per_speaker is None else int(per_speaker),
        )

    def feature_extractor(self):
        from .speaker.feature_extraction_speaker import SpeakerFeatureExtractor

        if self._extractor is None:
            # 25 ms windows every 10 ms at any rate, as many mel bins as the model takes
            rate = self.sampling_rate
            self._extractor = SpeakerFeatureExtractor(
                feature_size=int(self.recipe["model"].get("config", {}).get("num_mel_bins", 80)),
                sampling_rate=rate,
                n_fft=round(0.025 * rate),
                hop_length=round(0.010 * rate),
            )
        return self._extractor

    def collate(self, items: list[dict]) -> dict:
        features = self.feature_extractor()(
            [item["waveform"] for item in items], sampling_rate=self.sampling_rate, return_tensors="pt", padding=True
        )
        batch = {"input_features": features["input_features"], "attention_mask": features["attention_mask"]}
        if "label" in items[0]:
            batch["labels"] = torch.tensor([item["label"] for item in items])
        else:
            # validation speakers are not classes of the model: the key's "_" keeps it out of the forward call
            batch["_speaker"] = torch.tensor([item["speaker"] for item in items])
        return batch

    def metrics(self, batch: dict, outputs) -> dict:
        return {"_embeddings": outputs.embeddings, "_speaker": batch["_speaker"]}

    def corpus_metrics(self, values: dict) -> dict:
        from .metrics import eer

        speakers = values["_speaker"].long()
        embeddings = values["_embeddings"].reshape(len(speakers), -1)  # (utterances, embedding_size)
        first, second = torch.triu_indices(len(speakers), len(speakers), offset=1)
        scores = (embeddings[first] * embeddings[second]).sum(-1)  # cosine: the embeddings are L2-normalised
        rate, self.threshold = eer(scores, speakers[first] == speakers[second])
        return {"eer": rate}

    def finalize(self, model, metrics: dict) -> None:
        """Called by `zoo.train` before it saves a new best checkpoint: store the threshold of that validation."""
        if self.threshold is not None:
            model.config.threshold = round(float(self.threshold), 6)


# ---- augmentation shared by the speaker and ASR training sets


def _check_augmentation(probabilities: dict, snr_db) -> None:
    for name, p in probabilities.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"data.{name} must lie in [0, 1], got {p}")
    if len(snr_db) != 2 or snr_db[0] > snr_db[1]:
        raise ValueError(f"data.snr_db must be [low, high] in dB, got {list(snr_db)}")


def _rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) + 1e-8


def _add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float, level: float) -> np.ndarray:
    """`wave` plus `noise` scaled to `snr_db` below the speech level `level` (RMS), peak-limited to 1."""
    noisy = wave + noise * (level / _rms(noise)) * 10 ** (-snr_db / 20)
    return _limit_peak(noisy)


def _limit_peak(wave: np.ndarray) -> np.ndarray:
    peak = float(np.abs(wave).max())
    # keep it a valid float waveform; the normalised log-mel features ignore the gain
    return wave / peak if peak > 1.0 else wave


class SpeakerCrops:
    """Training crops for speaker embeddings: `crops[i] -> {"waveform": (T,) float32, "label": int}`.

    Every item draws a random utterance, optionally speeds it up or down by resampling, crops `segment_seconds`
    at random (looping shorter utterances), then optionally reverberates it with one of `rir_pool` simulated rooms
    and adds noise at an SNR drawn from `snr_db`. The draw depends only on `(seed, index)`, so items are
    reproducible and DataLoader workers agree. Works as a `torch.utils.data.Dataset`.
    """

    def __init__(self, dataset, speakers: list[str], sampling_rate: int, segment_seconds: float, length: int, seed: int = 0,
                 speed_probability: float = 0.0, speeds: tuple = (0.9, 1.1), reverb_probability: float = 0.0,
                 rir_pool: int = 32, noise_probability: float = 0.0, snr_db: tuple = (0.0, 15.0), split: str = "train"):
        import datasets

        _check_augmentation(
            {"speed_probability": speed_probability, "reverb_probability": reverb_probability, "noise_probability": noise_probability}, snr_db
        )
        if segment_seconds <= 0 or length < 1:
            raise ValueError(f"data.segment_seconds and data.train_examples must be positive, got {segment_seconds} and {length}")
        self.audio = dataset.select_columns(["audio"]).cast_column("audio", datasets.Audio(decode=False))
        label_of = {speaker: i for i, speaker in enumerate(speakers)}
        self.labels = [label_of[speaker] for speaker in dataset["speaker_id"]]
        self.sampling_rate, self.segment = sampling_rate, round(segment_seconds * sampling_rate)
        self.length, self.seed, self.split = length, seed, split
        self.speed_probability, self.speeds = speed_probability, tuple(float(s) for s in speeds)
        self.reverb_probability, self.noise_probability, self.snr_db = reverb_probability, noise_probability, tuple(snr_db)
        self.rirs = self._rooms(rir_pool) if reverb_probability > 0 else []
        self.bank = None
        if noise_probability > 0:
            from .data import mixtures

            self.bank = mixtures.noise_bank(sampling_rate)

    def _rooms(self, count: int) -> list[np.ndarray]:
        # simulating a room costs ~0.1 s: do it `count` times here rather than for every example
        import random

        from .data.mixtures import random_room, room_impulse_responses

        rng = random.Random(f"speaker-rooms-{self.seed}")
        return [room_impulse_responses(random_room(rng, 1), self.sampling_rate)[0][0].astype(np.float32) for _ in range(max(count, 1))]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        import random

        from .audio import load_audio
        from .data.mixtures import noise_segment

        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} crops")
        rng = random.Random(f"speaker-{self.seed}-{index}")
        row = rng.randrange(len(self.labels))
        wave = load_audio(self.audio[row]["audio"], self.sampling_rate)
        if rng.random() < self.speed_probability:
            wave = change_speed(wave, self.sampling_rate, rng.choice(self.speeds))
        if len(wave) < self.segment:
            wave = np.pad(wave, (0, self.segment - len(wave)), mode="wrap")
        start = rng.randrange(len(wave) - self.segment + 1)
        wave = wave[start : start + self.segment].astype(np.float32)
        level = _rms(wave)
        if self.rirs and rng.random() < self.reverb_probability:
            from scipy.signal import fftconvolve

            wet = fftconvolve(wave, self.rirs[rng.randrange(len(self.rirs))])[: self.segment]
            wave = (wet * level / _rms(wet)).astype(np.float32)
        if self.bank is not None and rng.random() < self.noise_probability:
            noise = noise_segment(self.bank, rng.choice(sorted(self.bank)), self.split, self.segment, rng.random())
            wave = _add_noise(wave, noise, rng.uniform(*self.snr_db), level).astype(np.float32)
        return {"waveform": _limit_peak(wave), "label": self.labels[row]}


class SpeakerUtterances:
    """Validation utterances: `utterances[i] -> {"waveform": (T,) float32, "speaker": int}`, a fixed list.

    Keeps the first `per_speaker` utterances of every speaker (all when None), in speaker order, each cut to its
    first `max_seconds` (whole when None); `speaker` indexes the sorted speakers of this set.
    """

    def __init__(self, dataset, sampling_rate: int, max_seconds: float | None = None, per_speaker: int | None = None):
        import datasets

        speakers = dataset["speaker_id"]
        names = sorted(set(speakers))
        rows: dict[str, list[int]] = {name: [] for name in names}
        for row, speaker in enumerate(speakers):
            if per_speaker is None or len(rows[speaker]) < per_speaker:
                rows[speaker].append(row)
        self.rows = [(row, i) for i, name in enumerate(names) for row in rows[name]]
        if len(names) < 2 or not any(len(r) >= 2 for r in rows.values()):
            raise ValueError(
                f"validation needs >= 2 speakers, one with >= 2 utterances, to score same / different pairs; "
                f"the set has {len(names)} speakers and {len(self.rows)} utterances"
            )
        self.audio = dataset.select_columns(["audio"]).cast_column("audio", datasets.Audio(decode=False))
        self.sampling_rate = sampling_rate
        self.max_samples = None if max_seconds is None else round(max_seconds * sampling_rate)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        from .audio import load_audio

        row, speaker = self.rows[index]
        wave = load_audio(self.audio[row]["audio"], self.sampling_rate)
        return {"waveform": wave[: self.max_samples] if self.max_samples else wave, "speaker": speaker}


TASKS["speaker-embedding"] = SpeakerEmbeddingTask


def _token_settings(recipe: dict, tokenizer, fields: tuple[str, ...], tokenizer_name: str) -> dict:
    """The model config values the tokenizer fixes (`vocab_size`, `pad_token_id`, ...); a recipe may not set others."""
    fixed = {"vocab_size": len(tokenizer), **{field: getattr(tokenizer, field) for field in fields if field != "vocab_size"}}
    settings = recipe["model"].get("config", {})
    for key, value in fixed.items():
        if settings.get(key, value) != value:
            raise ValueError(f"model.config.{key}={settings[key]} but the {tokenizer_name} needs {value}; drop it from the recipe")
    return fixed


class AsrCtcTask(RecipeTask):
    """Speech recognition with CTC (CTC Conformer), on the transcribed utterances of a `zoo data speech` corpus.

    Training examples are the train split's utterances (`repeats` copies of it per epoch, each copy with its own
    random draws), each optionally sped up or slowed down by resampling (speed perturbation, 0.9 / 1.1) and mixed
    with noise (the train part of `zoo.data.mixtures.noise_bank`, at a random SNR). Transcripts are normalised
    with `zoo.asr.processing_asr.normalize_text` and encoded by the character tokenizer; log-mel features and
    labels (padded with -100) are computed in `collate`.

    Validation transcribes validation-split utterances (speakers and sentences never seen in training) by greedy
    CTC decoding; `wer` (all word errors over all reference words) is the score, lower is better, and `cer` is
    reported next to it. The checkpoint holds the feature extractor and the tokenizer (a `Wav2Vec2Processor`), so
    transformers' `pipeline("automatic-speech-recognition", model=folder)` loads everything from the folder.

    Recipe `data` keys: `corpus` (a `zoo data speech` folder or a Hub id with `audio` and `text`), `sampling_rate`,
    `max_seconds` (training utterances longer than this are left out; default 12), `repeats` (copies of the train
    split per epoch; default 1), `speed_probability`, `speeds` (default [0.9, 1.1]), `formant_probability`,
    `formant_ratios` (default [0.85, 1.18]; formants moved with pitch and tempo kept), `pitch_probability`,
    `pitch_semitones` (default [-4, 4]; pitch and formants moved with tempo kept, sox's `pitch`), `noise_probability`,
    `snr_db` ([low, high], default [5, 20]), `silence_probability` (a share of the training items that are no speech
    at all, with an empty transcript: digital silence or a noise of the bank at -65 to -15 dBFS, so a recognizer
    learns to say nothing where nobody speaks; default 0), `silence_seconds` ([shortest, longest], default
    [0.5, 6]), `validation_examples` (the first utterances of the validation split; null for all).
    """

    metric_for_best = "wer"
    greater_is_better = False
    token_ids = ("vocab_size", "pad_token_id")  # model config fields the tokenizer fixes
    tokenizer_name = "character tokenizer"

    def __init__(self, recipe: dict):
        super().__init__(recipe)
        self.sampling_rate = int(self.data["sampling_rate"])
        self._processor = None
        self._output_lengths = None  # the model's frames -> logit steps, set by build_model

    def split(self, name: str):
        dataset = super().split(name)
        if "text" not in dataset.column_names:
            raise ValueError(f"corpus {self.data['corpus']!r} has no 'text' column (it has {dataset.column_names}); ASR needs transcripts")
        return dataset

    def processor(self):
        """The feature extractor (25 ms / 10 ms log-mel, as many bins as the model takes) and character tokenizer."""
        if self._processor is None:
            from .asr.feature_extraction_asr import AsrFeatureExtractor
            from .asr.processing_asr import build_char_tokenizer, build_processor

            rate = self.sampling_rate
            extractor = AsrFeatureExtractor(
                feature_size=int(self.recipe["model"].get("config", {}).get("num_mel_bins", 80)),
                sampling_rate=rate,
                n_fft=round(0.025 * rate),
                hop_length=round(0.010 * rate),
            )
            self._processor = build_processor(extractor, build_char_tokenizer())
        return self._processor

    def feature_extractor(self):
        # what `zoo.train` saves with the checkpoint: the processor, i.e. feature extractor + tokenizer
        return self.processor()

    def build_model(self):
        processor = self.processor()
        tokenizer, extractor = processor.tokenizer, processor.feature_extractor
        model = super().build_model(**_token_settings(self.recipe, tokenizer, self.token_ids, self.tokenizer_name))
        hop_length = getattr(model.config, "hop_length", extractor.hop_length)
        if hop_length != extractor.hop_length:
            raise ValueError(
                f"model.config.hop_length={hop_length} but the feature extractor steps {extractor.hop_length} samples "
                f"(10 ms at {self.sampling_rate} Hz); set hop_length: {extractor.hop_length} in the recipe"
            )
        grown = self.recipe["model"].get("new_blocks")
        if grown is not None:
            self._start_new_blocks_as_identity(model, grown)
        self._output_lengths = model._get_feat_extract_output_lengths
        return model

    def _start_new_blocks_as_identity(self, model, how: str) -> None:
        """`model.new_blocks: identity`: the encoder blocks a recipe adds on top of its `model.init_from` checkpoint's
        (a larger `num_layers`) start as identities (`CtcConformerModel.start_blocks_as_identity`), so the grown model
        starts with the checkpoint's outputs instead of behind random layers."""
        from transformers import AutoConfig

        init_from = self.recipe["model"].get("init_from")
        blocks = getattr(getattr(model, "ctc_conformer", None), "blocks", None)
        if how != "identity" or not init_from or blocks is None:
            raise ValueError(
                f"model.new_blocks: {how!r} needs the value 'identity', a model.init_from checkpoint to grow from, and a "
                f"Conformer encoder (model.type ctc_conformer); got model.type {self.recipe['model']['type']!r}, init_from {init_from!r}"
            )
        before = AutoConfig.from_pretrained(self.init_sources()[0]).num_layers
        if len(blocks) <= before:
            raise ValueError(
                f"model.new_blocks: identity, but the recipe's num_layers={len(blocks)} adds no block to the {before} of "
                f"{init_from}; raise model.config.num_layers or drop model.new_blocks"
            )
        model.ctc_conformer.start_blocks_as_identity(before)

    def train_dataset(self):
        data = self.data
        return AsrUtterances(
            self.split("train"),
            sampling_rate=self.sampling_rate,
            max_seconds=float(data.get("max_seconds", 12.0)),
            repeats=int(data.get("repeats", 1)),
            seed=self.seed,
            speed_probability=float(data.get("speed_probability", 0.0)),
            speeds=tuple(data.get("speeds", (0.9, 1.1))),
            noise_probability=float(data.get("noise_probability", 0.0)),
            snr_db=tuple(data.get("snr_db", (5.0, 20.0))),
            formant_probability=float(data.get("formant_probability", 0.0)),
            formant_ratios=tuple(data.get("formant_ratios", FORMANT_RATIOS)),
            pitch_probability=float(data.get("pitch_probability", 0.0)),
            pitch_semitones=tuple(data.get("pitch_semitones", PITCH_SEMITONES)),
            silence_probability=float(data.get("silence_probability", 0.0)),
            silence_seconds=tuple(data.get("silence_seconds", SILENCE_SECONDS)),
        )

    def eval_dataset(self):
        limit = self.data.get("validation_examples")
        return AsrUtterances(self.split("validation"), sampling_rate=self.sampling_rate, limit=None if limit is None else int(limit), split="validation")

    def collate(self, items: list[dict]) -> dict:
        processor = self.processor()
        features = processor.feature_extractor(
            [item["waveform"] for item in items], sampling_rate=self.sampling_rate, return_tensors="pt", padding=True
        )
        encoded = processor.tokenizer([item["text"] for item in items], padding=True, return_tensors="pt")
        return {
            "input_features": features["input_features"],
            "attention_mask": features["attention_mask"],
            "labels": encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100),  # CTC ignores -100
        }

    def metrics(self, batch: dict, outputs) -> dict:
        from .asr.processing_asr import greedy_decode
        from .metrics import edit_counts

        tokenizer = self.processor().tokenizer
        frames = batch["attention_mask"].sum(-1)
        lengths = None if self._output_lengths is None else self._output_lengths(frames)
        hypotheses = greedy_decode(outputs.logits, tokenizer, lengths)
        # the labels spell the normalised transcript exactly (every character is in the vocabulary)
        references = [tokenizer.decode(row[row >= 0].tolist(), group_tokens=False) for row in batch["labels"]]
        counts = [edit_counts(r, h, "word") + edit_counts(r, h, "char") for r, h in zip(references, hypotheses)]
        word_errors, words, char_errors, chars = (torch.tensor([float(c[i]) for c in counts]) for i in range(4))
        # summed over the whole set by corpus_metrics: WER is total errors over total words, not a mean of ratios
        return {"_word_errors": word_errors, "_words": words, "_char_errors": char_errors, "_chars": chars}

    def corpus_metrics(self, values: dict) -> dict:
        return {
            "wer": float(values["_word_errors"].sum() / values["_words"].sum().clamp(min=1)),
            "cer": float(values["_char_errors"].sum() / values["_chars"].sum().clamp(min=1)),
        }


class AsrUtterances:
    """Transcribed utterances: `utterances[i] -> {"waveform": (T,) float32, "text": normalised transcript}`.

    Keeps the utterances whose normalised transcript is not empty and, when `max_seconds` is given and the set has
    a `duration` column, that last at most `max_seconds`; `limit` keeps the first of them. Item `i` is utterance
    `i % len(utterances)`, so `repeats` copies of the set make one epoch. With augmentation each item draws, from
    `(seed, i)` alone, in this order: a formant shift, a pitch shift (tempo kept), a speed change (resampling) and
    an additive noise at an SNR in `snr_db`. With `silence_probability` an item is first drawn to be no speech
    instead: `silence_seconds` of digital silence (one in five) or of a noise of the bank at `SILENCE_DBFS`, with
    the transcript "". Works as a `torch.utils.data.Dataset`.
    """

    def __init__(self, dataset, sampling_rate: int, max_seconds: float | None = None, limit: int | None = None,
                 repeats: int = 1, seed: int = 0, speed_probability: float = 0.0, speeds: tuple = (0.9, 1.1),
                 noise_probability: float = 0.0, snr_db: tuple = (5.0, 20.0), split: str = "train",
                 formant_probability: float = 0.0, formant_ratios: tuple = FORMANT_RATIOS,
                 pitch_probability: float = 0.0, pitch_semitones: tuple = PITCH_SEMITONES,
                 silence_probability: float = 0.0, silence_seconds: tuple = SILENCE_SECONDS):
        import datasets

        from .asr.processing_asr import normalize_text

        _check_augmentation(
            {"speed_probability": speed_probability, "noise_probability": noise_probability,
             "formant_probability": formant_probability, "pitch_probability": pitch_probability,
             "silence_probability": silence_probability}, snr_db
        )
        if silence_probability and not (len(silence_seconds) == 2 and 0 < silence_seconds[0] <= silence_seconds[1]):
            raise ValueError(f"data.silence_seconds must be [shortest, longest] in seconds, e.g. [0.5, 6.0]; got {list(silence_seconds)}")
        if repeats < 1:
            raise ValueError(f"data.repeats must be >= 1, got {repeats}")
        if formant_probability and not (formant_ratios and all(ratio > 0 for ratio in formant_ratios)):
            raise ValueError(f"data.formant_ratios must be positive ratios, e.g. [0.85, 1.18], got {list(formant_ratios)}")
        if pitch_probability and not pitch_semitones:
            raise ValueError("data.pitch_semitones must list the shifts to draw from in semitones, e.g. [-4, 4]; got none")
        texts = [normalize_text(text) for text in dataset["text"]]
        durations = dataset["duration"] if max_seconds is not None and "duration" in dataset.column_names else None
        self.rows = [row for row, text in enumerate(texts) if text and (durations is None or durations[row] <= max_seconds)]
        if limit is not None:
            self.rows = self.rows[:limit]
        if not self.rows:
            raise ValueError(
                f"no utterances left of the {len(texts)} in the {split} split (empty transcripts, or all longer than "
                f"max_seconds={max_seconds}); raise data.max_seconds or check the corpus' text column"
            )
        self.texts = texts
        self.audio = dataset.select_columns(["audio"]).cast_column("audio", datasets.Audio(decode=False))
        self.sampling_rate, self.repeats, self.seed, self.split = sampling_rate, repeats, seed, split
        self.speed_probability, self.speeds = speed_probability, tuple(float(s) for s in speeds)
        self.formant_probability, self.formant_ratios = formant_probability, tuple(float(r) for r in formant_ratios)
        self.pitch_probability, self.pitch_semitones = pitch_probability, tuple(float(s) for s in pitch_semitones)
        self.noise_probability, self.snr_db = noise_probability, tuple(snr_db)
        self.silence_probability, self.silence_seconds = silence_probability, tuple(float(s) for s in silence_seconds)
        self.bank = None
        if noise_probability > 0 or silence_probability > 0:
            from .data import mixtures

            self.bank = mixtures.noise_bank(sampling_rate)

    def __len__(self) -> int:
        return len(self.rows) * self.repeats

    def __getitem__(self, index: int) -> dict:
        import random

        from .audio import load_audio
        from .data.mixtures import noise_segment

        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} utterances")
        rng = random.Random(f"asr-{self.seed}-{index}")
        if self.silence_probability and rng.random() < self.silence_probability:  # no draw when off: old recipes unchanged
            return {"waveform": self._no_speech(rng), "text": ""}
        row = self.rows[index % len(self.rows)]
        wave = load_audio(self.audio[row]["audio"], self.sampling_rate)
        if self.formant_probability and rng.random() < self.formant_probability:  # no draw when off
            wave = shift_formants(wave, self.sampling_rate, rng.choice(self.formant_ratios), seed=rng.randrange(2**31))
        if self.pitch_probability and rng.random() < self.pitch_probability:  # no draw when off: old recipes unchanged
            wave = shift_pitch(wave, self.sampling_rate, rng.choice(self.pitch_semitones))
        if self.speed_probability and rng.random() < self.speed_probability:
            wave = change_speed(wave, self.sampling_rate, rng.choice(self.speeds))
        if self.noise_probability and rng.random() < self.noise_probability:  # the bank may be loaded for no-speech items alone
            noise = noise_segment(self.bank, rng.choice(sorted(self.bank)), self.split, len(wave), rng.random())
            wave = _add_noise(wave, noise, rng.uniform(*self.snr_db), _rms(wave))
        return {"waveform": wave.astype(np.float32), "text": self.texts[row]}

    def _no_speech(self, rng) -> np.ndarray:
        from .data.mixtures import noise_segment
        from .data.speech import normalize_level

        length = round(rng.uniform(*self.silence_seconds) * self.sampling_rate)
        if rng.random() < 0.2:
            return np.zeros(length, dtype=np.float32)
        noise = noise_segment(self.bank, rng.choice(sorted(self.bank)), self.split, length, rng.random())
        return normalize_level(noise, rng.uniform(*SILENCE_DBFS), peak=float("inf"))


TASKS["automatic-speech-recognition"] = AsrCtcTask


def _error_counts(references: list[str], hypotheses: list[str]) -> dict:
    """Per-utterance word / character errors and lengths, for `corpus_metrics` to sum into WER and CER."""
    from .metrics import edit_counts

    counts = [edit_counts(r, h, "word") + edit_counts(r, h, "char") for r, h in zip(references, hypotheses)]
    word_errors, words, char_errors, chars = (torch.tensor([float(c[i]) for c in counts]) for i in range(4))
    return {"_word_errors": word_errors, "_words": words, "_char_errors": char_errors, "_chars": chars}


class AsrSeq2SeqTask(AsrCtcTask):
    """Speech recognition with an attention decoder (LAS, Transformer ASR), trained jointly with its CTC layer when
    the model has one: `ctc_weight * L_ctc + (1 - ctc_weight) * L_attention`, computed by the model.

    Data, augmentation, features and the WER / CER score are the CTC task's; the tokenizer is the seq2seq one
    (`build_seq2seq_tokenizer`: the CTC ids plus `<s>`, `</s>`; encoding appends `</s>`, so labels teach the decoder
    to stop). Validation transcribes with the model's own `generate()`: greedy attention decoding by default (fast),
    or what `data.validation_generation` asks for (e.g. `{num_beams: 4, ctc_weight: 0.3}`).

    Recipe keys besides the CTC task's: `model.generation`, the decoding defaults written into the checkpoint's
    `generation_config.json` and so used by the stock pipeline (`num_beams`, `ctc_weight`, `lm_weight`,
    `max_new_tokens`; the model's defaults are 4 beams and the training `ctc_weight`); `data.validation_generation`.
    """

    token_ids = ("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id")
    tokenizer_name = "seq2seq character tokenizer"

    def processor(self):
        """The feature extractor (25 ms / 10 ms log-mel, as many bins as the model takes) and the seq2seq tokenizer."""
        if self._processor is None:
            from .asr.processing_asr import build_seq2seq_processor, build_seq2seq_tokenizer

            extractor = super().processor().feature_extractor
            self._processor = build_seq2seq_processor(extractor, build_seq2seq_tokenizer())
        return self._processor

    def build_model(self):
        model = super().build_model()
        for name, value in (self.recipe["model"].get("generation") or {}).items():
            setattr(model.generation_config, name, value)
        self._model = model  # validation decodes with it (the same module accelerate wraps)
        return model

    def metrics(self, batch: dict, outputs) -> dict:
        tokenizer = self.processor().tokenizer
        settings = {"num_beams": 1, "ctc_weight": 0.0, "lm_weight": 0.0, **(self.data.get("validation_generation") or {})}
        sequences = self._model.generate(batch["input_features"], batch["attention_mask"], **settings)
        hypotheses = [text.strip() for text in tokenizer.batch_decode(sequences, skip_special_tokens=True)]
        labels = batch["labels"].masked_fill(batch["labels"] < 0, tokenizer.pad_token_id)
        references = tokenizer.batch_decode(labels, skip_special_tokens=True)
        return _error_counts(references, hypotheses)


# a task whose models differ in kind: the recipe's model type picks the task class over TASKS[task]
TASKS_BY_MODEL_TYPE = {"las": AsrSeq2SeqTask, "transformer_asr": AsrSeq2SeqTask}


class CharLmTask(RecipeTask):
    """A character language model (for shallow fusion in the seq2seq recognizers), trained on text.

    The text is `zoo.data.text.harvest_sentences()` (fortunes, WordNet glosses and examples, GCIDE quotations),
    normalised like transcripts (`normalize_text`), deduplicated, and WITHOUT every sentence read in the corpora of
    `data.exclude_corpora` (every split): the recognizer's validation and test sentences never reach its LM. A fixed,
    seeded `validation_sentences` of the rest are held out; the score is bits per character (`bits_per_char`, the
    mean next-character cross-entropy in bits over all characters and `</s>`; lower is better), with `perplexity`
    next to it. The ids are the seq2seq recognizers' (`build_seq2seq_tokenizer`), so `zoo attach-lm` can fuse it.

    Recipe `data` keys: `sources` (default all three), `exclude_corpora` (folders or Hub ids with a `text` column),
    `validation_sentences` (default 1000), `train_sentences` (the first of the shuffled rest; null for all),
    `max_characters` (longer sentences are left out; default 250).
    """

    metric_for_best = "bits_per_char"
    greater_is_better = False

    def __init__(self, recipe: dict):
        super().__init__(recipe)
        self._tokenizer = None
        self._splits = None

    def tokenizer(self):
        if self._tokenizer is None:
            from .asr.processing_asr import build_seq2seq_tokenizer

            self._tokenizer = build_seq2seq_tokenizer()
        return self._tokenizer

    def feature_extractor(self):
        # what `zoo.train` saves with the checkpoint: a text model's tokenizer
        return self.tokenizer()

    def excluded_sentences(self) -> set[str]:
        """The normalised text of every utterance in `data.exclude_corpora`, all splits."""
        from .asr.processing_asr import normalize_text
        from .data.hub import load_corpus

        excluded = set()
        for source in self.data.get("exclude_corpora") or []:
            corpus = load_corpus(str(source))
            for name in corpus:
                if "text" not in corpus[name].column_names:
                    raise ValueError(f"data.exclude_corpora: {source!r} split {name!r} has no 'text' column (it has {corpus[name].column_names})")
                excluded.update(normalize_text(text) for text in corpus[name]["text"])
        return excluded

    def sentences(self) -> dict[str, list[str]]:
        """`{"train": [...], "validation": [...]}`: normalised, deduplicated, excluded sentences, split by the seed."""
        if self._splits is None:
            import random

            from .asr.processing_asr import normalize_text
            from .data.text import SOURCES, harvest_sentences

            sources = tuple(self.data.get("sources") or SOURCES)
            longest = int(self.data.get("max_characters", 250))
            excluded = self.excluded_sentences()
            texts = {normalize_text(row["text"]) for row in harvest_sentences(sources)}
            texts = sorted(t for t in texts if t and len(t) <= longest and t not in excluded)
            random.Random(f"char-lm-{self.seed}").shuffle(texts)
            held_out = int(self.data.get("validation_sentences", 1000))
            if len(texts) <= held_out:
                raise ValueError(f"only {len(texts)} sentences left after exclusion; lower data.validation_sentences={held_out}")
            limit = self.data.get("train_sentences")
            train = texts[held_out:] if limit is None else texts[held_out : held_out + int(limit)]
            self._splits = {"train": train, "validation": texts[:held_out], "excluded": len(excluded)}
        return self._splits

    def build_model(self):
        fixed = _token_settings(self.recipe, self.tokenizer(), AsrSeq2SeqTask.token_ids, AsrSeq2SeqTask.tokenizer_name)
        config_cls, heads = model_classes(self.recipe["model"]["type"])
        return heads[self.recipe["task"]](config_cls(**{**self.recipe["model"].get("config", {}), **fixed}))

    def train_dataset(self):
        return [{"text": text} for text in self.sentences()["train"]]

    def eval_dataset(self):
        return [{"text": text} for text in self.sentences()["validation"]]

    def collate(self, items: list[dict]) -> dict:
        tokenizer = self.tokenizer()
        encoded = [[tokenizer.bos_token_id] + tokenizer(item["text"]).input_ids for item in items]  # <s> text </s>
        longest = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(items), longest), tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros(len(items), longest, dtype=torch.long)
        for i, ids in enumerate(encoded):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention_mask[i, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": input_ids.masked_fill(attention_mask == 0, -100)}

    def metrics(self, batch: dict, outputs) -> dict:
        targets = batch["labels"][:, 1:]  # (batch, length - 1): what each position predicts
        nll = torch.nn.functional.cross_entropy(
            outputs.logits[:, :-1].float().transpose(1, 2), targets, ignore_index=-100, reduction="none"
        )  # (batch, length - 1)
        return {"_nll": nll.sum(-1), "_tokens": (targets >= 0).sum(-1).float()}

    def corpus_metrics(self, values: dict) -> dict:
        nats = float(values["_nll"].sum() / values["_tokens"].sum().clamp(min=1))
        return {"bits_per_char": nats / float(np.log(2)), "perplexity": float(np.exp(nats))}

    def dataset_names(self) -> list[str]:
        from .data.text import SOURCES

        return [f"zoo harvested sentences ({', '.join(self.data.get('sources') or SOURCES)})"]


TASKS["text-generation"] = CharLmTask
