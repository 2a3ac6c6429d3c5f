"""Speaker verification evaluation: trials, embeddings, EER / minDCF, the CryCeleb protocol, DET curves, and
`zoo eval` for speaker-embedding checkpoints.

    zoo eval checkpoints/ecapa-tdnn-zoo-16k                                  # test-split trials of the training corpus
    zoo eval checkpoints/ecapa-tdnn-zoo-16k --verification-corpus data/sessions --verification-corpus data/cry
    zoo eval checkpoints/ecapa-tdnn-zoo-16k --verification-corpus Ubenwa/CryCeleb2023   # a local copy or the Hub
    zoo eval checkpoints/ecapa-tdnn-zoo-16k --no-card                        # print only

Two trial protocols, for any dataset with a `speaker_id` column (rows of a `datasets.Dataset`):

- pairs (`pair_trials`): every pair of recordings of a split (or a sample of them), target when both are the same
  speaker; on the training corpus's test split, whose speakers never appear in training, over all its speakers and
  over the unseen voices only (TTS voices never used in training, `unseen_voice` column).
- CryCeleb (`period_trials`): with a `period` column, each speaker's birth ("B") recordings are its enrollment and
  every discharge ("D") recording a test; each (enrolled speaker, test recording) pair is a trial, scored by the
  cosine between the re-normalised mean of the enrollment embeddings and the test embedding. Used on the real
  CryCeleb2023 (``Ubenwa/CryCeleb2023``, its dev split: the test split's identities are anonymous) and on zoo's
  two-session speech (`zoo data sessions`) and synthetic cry (`zoo data cry`) corpora.

Scores are cosines of L2-normalised embeddings. `zoo eval` also calibrates the decision threshold at the EER point
of the validation split's pair trials and writes it into the checkpoint's `config.json` (`threshold`) unless training
already set it, draws the DET curves into `det_curve.png`, and writes the results into the model card.

Layouts: embeddings `(recordings, embedding_size)` float32, L2-normalised; scores and labels `(trials,)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from ..metrics import det_curve, eer, min_dcf
from ..hub import update_card_section
from .score_norm import DEFAULT_TOP_K, cohort_of, cohort_statistics, s_norm

TASK = "speaker-embedding"
RESULT_TASK = "speaker-verification"  # the card's row title for EER / minDCF
ENROLL_PERIOD, TEST_PERIOD = "B", "D"  # CryCeleb: birth, discharge
P_TARGET = 0.01  # minDCF prior, as NIST SRE 2008 and SpeechBrain's VoxCeleb recipes
DET_PLOT = "det_curve.png"


# ---------------------------------------------------------------------------------------------------------------
# 1. trials


@dataclass
class Trials:
    """Verification trials over the rows of one dataset.

    Each trial compares an enrollment (one or more rows, their embeddings averaged) with one test row.

    Attributes:
        name: what the trials are, for tables and plots.
        enrollments: per enrollment, the row indices whose embeddings are averaged.
        enrollment_speakers: the speaker of each enrollment.
        tests: `(tests,)` row index of each test recording.
        pairs: `(trials, 2)` int: enrollment index, test index (into `tests`).
        labels: `(trials,)` bool, True for target trials (same speaker).
    """

    name: str
    enrollments: list[np.ndarray]
    enrollment_speakers: list[str]
    tests: np.ndarray
    pairs: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def rows(self) -> np.ndarray:
        """Sorted unique rows whose embeddings the trials need."""
        return np.unique(np.concatenate([*self.enrollments, self.tests]))

    def counts(self) -> tuple[int, int]:
        """`(target trials, non-target trials)`."""
        return int(self.labels.sum()), int((~self.labels).sum())

    def scores(self, embeddings: np.ndarray, chunk: int = 262_144, cohort: np.ndarray | None = None,
               top_k: int = DEFAULT_TOP_K) -> np.ndarray:
        """`(trials,)` cosine scores from `(rows, embedding_size)` embeddings indexed by dataset row; with a `cohort`
        (`(speakers, dim)`, unit norm), their s-norm against it (`zoo.speaker.score_norm`, `top_k` closest speakers).

        An enrollment of several rows is the mean of their (normalised) embeddings, normalised again.

        >>> trials = period_trials(["a", "a", "b", "b"], ["B", "D", "B", "D"])
        >>> emb = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.0, 1.0]])
        >>> trials.scores(emb).round(2).tolist(), trials.labels.tolist()
        ([0.8, 0.0, 0.6, 1.0], [True, False, False, True])
        """
        embeddings = np.asarray(embeddings, dtype=np.float64)
        enroll = np.stack([embeddings[rows].mean(0) for rows in self.enrollments])  # (enrollments, dim)
        enroll /= np.maximum(np.linalg.norm(enroll, axis=1, keepdims=True), 1e-12)
        test = embeddings[self.tests]
        test = test / np.maximum(np.linalg.norm(test, axis=1, keepdims=True), 1e-12)  # (tests, dim)
        scores = np.empty(len(self.pairs))
        for start in range(0, len(self.pairs), chunk):
            pairs = self.pairs[start : start + chunk]
            scores[start : start + chunk] = np.einsum("ij,ij->i", enroll[pairs[:, 0]], test[pairs[:, 1]])
        if cohort is None:
            return scores
        (mu_e, sd_e), (mu_t, sd_t) = cohort_statistics(enroll, cohort, top_k), cohort_statistics(test, cohort, top_k)
        e, t = self.pairs[:, 0], self.pairs[:, 1]
        return s_norm(scores, (mu_e[e], sd_e[e]), (mu_t[t], sd_t[t]))


def _speaker_array(speaker_ids, rows) -> tuple[np.ndarray, np.ndarray]:
    speakers = np.asarray([str(s) for s in speaker_ids])
    rows = np.arange(len(speakers)) if rows is None else np.asarray(rows, dtype=np.int64)
    return speakers, rows


def pair_trials(speaker_ids, rows=None, max_trials: int | None = None, seed: int = 0, name: str = "pairs") -> Trials:
    """Trials between pairs of recordings: every pair of `rows`, or a sample of about `max_trials` of them.

    Args:
        speaker_ids: the speaker of every dataset row.
        rows: the rows to draw recordings from (e.g. the unseen voices only); None takes all.
        max_trials: None keeps every pair. Otherwise up to half are target pairs (all of them when there are fewer)
            and the rest non-target pairs, drawn uniformly without repetition with `seed`.
        seed: sampling seed.
        name: the trials' name.

    >>> trials = pair_trials(["a", "a", "b", "c"])
    >>> trials.pairs.tolist(), trials.labels.tolist()
    ([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]], [True, False, False, False, False, False])
    """
    speakers, rows = _speaker_array(speaker_ids, rows)
    chosen = speakers[rows]
    names, counts = np.unique(chosen, return_counts=True)
    if len(names) < 2 or counts.max() < 2:
        raise ValueError(
            f"pair trials need at least two speakers and one speaker with two or more recordings; got {len(rows)} "
            f"recordings of {len(names)} speaker(s) ({counts.max() if len(counts) else 0} at most per speaker)"
        )
    n = len(rows)
    if max_trials is None or max_trials >= n * (n - 1) // 2:
        first, second = np.triu_indices(n, k=1)
    else:
        if max_trials < 2:
            raise ValueError(f"max_trials must be at least 2 (one target, one non-target), got {max_trials}")
        rng = np.random.default_rng(seed)
        # every target pair, per speaker; then sample
        by_speaker = [np.flatnonzero(chosen == s) for s in names]
        target = np.concatenate([i[np.stack(np.triu_indices(len(i), k=1), 1)] for i in by_speaker if len(i) > 1])  # (pairs, 2)
        keep = min(len(target), max_trials // 2)
        target = target[np.sort(rng.choice(len(target), keep, replace=False))]
        wanted = max_trials - keep
        total_nontarget = (n * n - int((counts**2).sum())) // 2
        if wanted >= total_nontarget:
            first, second = np.triu_indices(n, k=1)
            different = chosen[first] != chosen[second]
            nontarget = np.stack([first[different], second[different]], 1)
        else:
            found: set[int] = set()
            while len(found) < wanted:
                a, b = rng.integers(0, n, size=(2, 2 * (wanted - len(found)) + 16))
                a, b = np.minimum(a, b), np.maximum(a, b)
                ok = chosen[a] != chosen[b]
                for key in (a[ok] * n + b[ok]).tolist():
                    if len(found) == wanted:
                        break
                    found.add(key)
            keys = np.array(sorted(found), dtype=np.int64)
            nontarget = np.stack([keys // n, keys % n], 1)
        both = np.concatenate([target, nontarget])
        both = both[np.lexsort((both[:, 1], both[:, 0]))]
        first, second = both[:, 0], both[:, 1]
    pairs = np.stack([first, second], 1).astype(np.int64)
    return Trials(
        name=name,
        enrollments=[np.array([r]) for r in rows],
        enrollment_speakers=chosen.tolist(),
        tests=rows.copy(),
        pairs=pairs,
        labels=chosen[first] == chosen[second],
    )


def period_trials(speaker_ids, periods, rows=None, enroll_period: str = ENROLL_PERIOD, test_period: str = TEST_PERIOD,
                  name: str = "B->D") -> Trials:
    """CryCeleb trials: enroll each speaker on its `enroll_period` recordings, test on every `test_period` recording.

    Only speakers with recordings in both periods take part; each (enrolled speaker, test recording) pair is a trial.

    Args:
        speaker_ids: the speaker of every dataset row.
        periods: the period of every row ("B" = birth, "D" = discharge in CryCeleb; compared case-insensitively).
        rows: the rows to use; None takes all.
        enroll_period: the enrollment period.
        test_period: the test period.
        name: the trials' name.

    >>> trials = period_trials(["a", "a", "a", "b", "b", "c"], ["B", "B", "D", "B", "D", "B"])
    >>> [e.tolist() for e in trials.enrollments], trials.tests.tolist(), trials.labels.tolist()
    ([[0, 1], [3]], [2, 4], [True, False, False, True])
    """
    speakers, rows = _speaker_array(speaker_ids, rows)
    periods = np.asarray([str(p).strip().upper() for p in periods])
    if len(periods) != len(speakers):
        raise ValueError(f"got {len(speakers)} speaker ids but {len(periods)} periods; pass one period per row")
    enroll_period, test_period = enroll_period.upper(), test_period.upper()
    enroll_rows = rows[periods[rows] == enroll_period]
    test_rows = rows[periods[rows] == test_period]
    both = sorted(set(speakers[enroll_rows]) & set(speakers[test_rows]))
    if len(both) < 2:
        found = sorted(set(periods[rows].tolist()))
        raise ValueError(
            f"CryCeleb trials need at least two speakers with both {enroll_period!r} and {test_period!r} recordings; got "
            f"{len(both)} among {len(set(speakers[rows]))} speakers (periods found: {found}); pass a split that has "
            "both periods of its speakers (CryCeleb2023: the dev split)"
        )
    enrollments = [enroll_rows[speakers[enroll_rows] == s] for s in both]
    tests = test_rows[np.isin(speakers[test_rows], both)]
    enroll_index, test_index = np.meshgrid(np.arange(len(both)), np.arange(len(tests)), indexing="ij")
    pairs = np.stack([enroll_index.ravel(), test_index.ravel()], 1).astype(np.int64)
    labels = np.asarray(both)[pairs[:, 0]] == speakers[tests][pairs[:, 1]]
    return Trials(name=name, enrollments=enrollments, enrollment_speakers=both, tests=tests, pairs=pairs, labels=labels)


# ---------------------------------------------------------------------------------------------------------------
# 2. embeddings


def compute_embeddings(model, feature_extractor, dataset, rows=None, batch_size: int = 16, max_seconds: float | None = None,
                       audio_column: str = "audio", desc: str = "embeddings", progress: bool = True) -> np.ndarray:
    """Embeddings of a dataset's recordings, computed in padded batches.

    Recordings are decoded with `zoo.audio.load_audio` (any rate resampled to the feature extractor's, stereo
    downmixed; an empty or NaN recording raises `AudioError` naming its row) and batched by similar length.

    Args:
        model: a speaker-embedding model: `model(input_features, attention_mask).embeddings`.
        feature_extractor: its `SpeakerFeatureExtractor`.
        dataset: a `datasets.Dataset` (or a list of audio inputs) with an `audio_column`.
        rows: the rows to embed; None embeds every row.
        batch_size: recordings per forward pass.
        max_seconds: keep only the first `max_seconds` of longer recordings; None keeps all.
        audio_column: the audio column.
        desc: progress bar label.
        progress: show a tqdm progress bar.

    Returns:
        `(len(dataset), embedding_size)` float32, L2-normalised; rows not asked for are zeros.
    """
    from tqdm.auto import tqdm

    from ..audio import AudioError, load_audio

    rate = int(feature_extractor.sampling_rate)
    size = len(dataset)
    rows = np.arange(size) if rows is None else np.asarray(rows, dtype=np.int64)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    is_dataset = hasattr(dataset, "column_names")
    if is_dataset and audio_column not in dataset.column_names:
        raise ValueError(f"the dataset has no {audio_column!r} column (it has {dataset.column_names}); pass audio_column=")
    # similar lengths in a batch waste less padding; the order does not change the embeddings
    if is_dataset and "duration" in dataset.column_names:
        durations = np.asarray(dataset["duration"], dtype=np.float64)[rows]
        rows = rows[np.argsort(-durations, kind="stable")]
    embeddings = None
    was_training = model.training
    model.eval()
    try:
        for start in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch", disable=not progress):
            batch_rows = rows[start : start + batch_size]
            if is_dataset:
                audio = dataset.select(batch_rows.tolist())[audio_column]
            else:
                audio = [dataset[int(r)] for r in batch_rows]
            waveforms = []
            for row, item in zip(batch_rows, audio):
                try:
                    waveform = load_audio(item, rate, name=f"{desc}: row {row}")
                except AudioError:
                    raise
                except Exception as error:  # noqa: BLE001 - a decoder's own error: say which row
                    raise AudioError(f"{desc}: row {row} could not be decoded ({error}); check that recording") from None
                if max_seconds is not None:
                    waveform = waveform[: int(max_seconds * rate)]
                waveforms.append(waveform)
            inputs = feature_extractor(waveforms, sampling_rate=rate, return_tensors="pt", padding=True)
            with torch.inference_mode():
                output = model(input_features=inputs["input_features"], attention_mask=inputs["attention_mask"])
            batch = torch.nn.functional.normalize(output.embeddings.float(), dim=-1).cpu().numpy()  # (batch, dim)
            if embeddings is None:
                embeddings = np.zeros((size, batch.shape[1]), dtype=np.float32)
            embeddings[batch_rows] = batch
    finally:
        model.train(was_training)
    if embeddings is None:
        raise ValueError("no recordings to embed; pass a non-empty dataset or rows")
    return embeddings


# ---------------------------------------------------------------------------------------------------------------
# 3. metrics and the DET plot


def verification_metrics(scores, labels, threshold: float | None = None, p_target: float = P_TARGET) -> dict:
    """EER (percent), minDCF, the EER threshold and trial counts; with `threshold`, the error rates there too.

    >>> m = verification_metrics([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], threshold=0.85)
    >>> m["eer"], m["min_dcf"], m["target_trials"], m["frr_at_threshold"], m["far_at_threshold"]
    (0.0, 0.0, 2, 50.0, 0.0)
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    rate, eer_threshold = eer(scores, labels)
    metrics = {
        "eer": rate,
        "min_dcf": min_dcf(scores, labels, p_target=p_target),
        "eer_threshold": eer_threshold,
        "target_trials": int(labels.sum()),
        "nontarget_trials": int((~labels).sum()),
    }
    if threshold is not None:
        metrics["frr_at_threshold"] = float(100 * np.mean(scores[labels] < threshold))
        metrics["far_at_threshold"] = float(100 * np.mean(scores[~labels] >= threshold))
    return metrics


DET_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40)  # percent


def plot_det(curves: dict, path, title: str | None = None) -> Path:
    """Draw DET curves (miss rate against false-alarm rate, both on probit axes) into a PNG.

    Args:
        curves: `{label: (scores, labels)}`; each curve is marked at its EER.
        path: the PNG to write.
        title: the figure title.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed; set before pyplot is imported
    import matplotlib.pyplot as plt
    from scipy.special import ndtri

    low, high = DET_TICKS[0] / 100 / 2, 0.5
    probit = lambda rate: ndtri(np.clip(rate, low, high))  # rates off the axes sit on its edge
    figure, axis = plt.subplots(figsize=(5.5, 5.5), dpi=90)
    for label, (scores, labels) in curves.items():
        fpr, fnr, _ = det_curve(scores, labels)
        rate, _ = eer(scores, labels)
        line = axis.plot(probit(np.r_[0.0, fpr]), probit(np.r_[1.0, fnr]), label=f"{label} (EER {rate:.2f} %)", linewidth=1.5)[0]
        axis.plot(probit(rate / 100), probit(rate / 100), "o", color=line.get_color(), markersize=4)
    ticks = ndtri(np.asarray(DET_TICKS) / 100)
    names = [f"{t:g}" for t in DET_TICKS]
    axis.set_xticks(ticks, names)
    axis.set_yticks(ticks, names)
    axis.set_xlim(ndtri(low), ndtri(high))
    axis.set_ylim(ndtri(low), ndtri(high))
    axis.plot([ndtri(low), ndtri(high)], [ndtri(low), ndtri(high)], ":", color="grey", linewidth=0.8)
    axis.set_xlabel("False acceptance rate (%)")
    axis.set_ylabel("False rejection rate (%)")
    axis.grid(True, linewidth=0.4, alpha=0.6)
    if title:
        axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, loc="lower left")  # DET curves run from the top left to the bottom right
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path)
    plt.close(figure)
    return path


# ---------------------------------------------------------------------------------------------------------------
# 4. corpora


def corpus_kind(name_or_path: str) -> str | None:
    """The `kind` a `zoo data` build recorded in its `zoo_corpus.json` ("speech", "sessions", "cry" ...), or None."""
    path = Path(name_or_path) / "zoo_corpus.json"
    if path.is_file():
        try:
            return str(json.loads(path.read_text()).get("kind") or "") or None
        except (OSError, ValueError):
            return None
    return None


def describe_corpus(name_or_path: str) -> str:
    """One phrase saying what a corpus holds: synthetic TTS speech, synthetic cries, or recorded audio."""
    kind = corpus_kind(name_or_path)
    if kind == "cry":
        return "synthetic infant cries (zoo's source-filter synthesizer; no recorded cries)"
    if kind is not None:
        return "synthetic speech (TTS voices: espeak-ng and flite; no recorded speech)"
    metadata = Path(name_or_path) / "metadata.csv"
    header = metadata.read_text().split("\n", 1)[0].split(",") if metadata.is_file() else []
    if "cryceleb" in str(name_or_path).lower() or {"baby_id", "period"} <= {h.strip() for h in header}:
        return "recorded infant cries (CryCeleb2023)"
    return "an external corpus"


def load_split(name_or_path: str, split: str, sampling_rate: int):
    """One split of a corpus through `zoo.data.hub.load_corpus`, audio decoded at `sampling_rate`."""
    from ..data.hub import load_corpus

    return load_corpus(name_or_path, split=split, sampling_rate=sampling_rate)


def period_split(name_or_path: str, split: str, sampling_rate: int):
    """`(dataset, split)`: `split` of a corpus with `speaker_id` and `period`, or its validation split when `split`
    has too few speakers recorded in both periods (CryCeleb2023's test identities are anonymous)."""
    import os

    from ..data.hub import load_corpus

    try:
        loaded = load_corpus(name_or_path, sampling_rate=sampling_rate)
    except (FileNotFoundError, ConnectionError, OSError) as error:
        if os.path.exists(name_or_path):
            raise
        raise ValueError(
            f"could not load {name_or_path!r} ({type(error).__name__}: {str(error)[:200]}); pass a local folder, or a Hub id "
            "with network access (unset HF_HUB_OFFLINE; gated datasets such as Ubenwa/CryCeleb2023 also need their terms "
            "accepted and `huggingface-cli login`)"
        ) from None
    splits = [split] + [s for s in ("validation",) if s != split]
    problems = []
    for candidate in splits:
        if candidate not in loaded:
            problems.append(f"no {candidate!r} split (it has {list(loaded)})")
            continue
        dataset = loaded[candidate]
        missing = {"speaker_id", "period"} - set(dataset.column_names)
        if missing:
            raise ValueError(
                f"{name_or_path} has no {sorted(missing)} column(s) (it has {dataset.column_names}); a CryCeleb-style corpus "
                "needs speaker_id and period ('B'/'D'): build one with `zoo data sessions` or `zoo data cry`"
            )
        try:
            period_trials(dataset["speaker_id"], dataset["period"])
        except ValueError as error:
            problems.append(f"{candidate!r}: {error}")
            continue
        return dataset, candidate
    raise ValueError(f"{name_or_path} has no split usable for CryCeleb trials: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------------------------
# 5. `zoo eval` for a speaker-embedding checkpoint


def is_speaker_checkpoint(folder) -> bool:
    """True when a checkpoint folder's recipe (or card) says its task is speaker-embedding."""
    folder = Path(folder)
    for name, read in (("recipe.yaml", yaml.safe_load), ("card_data.json", json.loads)):
        path = folder / name
        if path.is_file():
            try:
                task = (read(path.read_text()) or {}).get("task")
            except (OSError, ValueError, yaml.YAMLError):
                continue
            if task:
                return task in {TASK, "speaker-verification"}
    return False


def speaker_checkpoint_in(argv: list[str]) -> bool:
    """Whether a `zoo eval` command line names a speaker-embedding checkpoint (a corpus given as an option's value is
    no checkpoint: it has neither recipe.yaml nor card_data.json)."""
    return any(is_speaker_checkpoint(a) for a in argv if not a.startswith("-"))


def load_speaker_model(checkpoint: str):
    """`(model, feature_extractor)` of a speaker-embedding checkpoint, in eval mode."""
    from transformers import AutoFeatureExtractor

    from .. import registry

    registry.register_all()
    model_cls = registry.AUTO_CLASSES.get(TASK)
    if model_cls is None:
        from transformers import AutoModelForAudioXVector as model_cls
    model = model_cls.from_pretrained(checkpoint).eval()
    feature_extractor = AutoFeatureExtractor.from_pretrained(checkpoint)
    return model, feature_extractor


def write_threshold(checkpoint, threshold: float, score_norm: str | None = None, score_norm_top_k: int | None = None,
                    cosine_threshold: float | None = None) -> None:
    """Set `threshold` and the scoring it is in (`score_norm`, and `score_norm_top_k` for s-norm) in a checkpoint's
    config.json, leaving everything else as it is; `cosine_threshold` is the raw-cosine EER point an s-norm model
    keeps beside its s-norm `threshold` (None removes it)."""
    path = Path(checkpoint) / "config.json"
    config = json.loads(path.read_text())
    config["threshold"] = round(float(threshold), 6)
    if score_norm is not None or "score_norm" in config:
        config["score_norm"] = score_norm
    if score_norm_top_k is not None:
        config["score_norm_top_k"] = int(score_norm_top_k)
    if cosine_threshold is not None:
        config["cosine_threshold"] = round(float(cosine_threshold), 6)
    else:
        config.pop("cosine_threshold", None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _percent(value: float) -> str:
    return f"{value:.2f}"


def evaluate_speaker(checkpoint: str, *, corpus: str | None = None, split: str = "test",
                     verification_corpora: tuple[str, ...] = (), verification_split: str = "test",
                     max_trials: int | None = None, batch_size: int = 16, max_seconds: float | None = None,
                     seed: int = 1234, recalibrate: bool = False, write_config: bool = True, plot: bool = True,
                     progress: bool = True, score_norm: str | None = "config", score_norm_top_k: int | None = None) -> dict:
    """Evaluate a speaker-embedding checkpoint; see the module docstring.

    Args:
        checkpoint: a folder saved by `zoo train` (holding recipe.yaml) or `zoo.hub.save_checkpoint`.
        corpus: the speech corpus whose `split` gives the pair trials; None uses the recipe's `data.corpus`.
        split: the split of `corpus` to test on.
        verification_corpora: corpora with `speaker_id` and `period` columns for CryCeleb trials (folders or Hub ids).
        verification_split: their split (falls back to validation when that one cannot give trials).
        max_trials: sample about this many pair trials per set; None takes every pair.
        batch_size: recordings per forward pass.
        max_seconds: embed only the first seconds of each recording; None embeds them whole.
        seed: trial sampling seed (only used with `max_trials`).
        recalibrate: recompute the threshold even when the config already has one.
        write_config: write a newly calibrated threshold (and a changed `score_norm`) into config.json; False only
            reports it.
        score_norm: "config" scores as the checkpoint's `config.score_norm` says; None (cosine) or "s-norm" sets it
            for this evaluation, and a change recalibrates the threshold (its units change with it).
        score_norm_top_k: cohort speakers per s-norm statistic; None keeps `config.score_norm_top_k` (default 200).
        plot: write `det_curve.png` into the checkpoint.
        progress: show progress bars.

    Returns:
        `{"results": [...] (update_card_results form), "rows": [...] (one per trial set), "threshold": float | None,
        "threshold_source": str, "markdown": str, "det_plot": path | None}`.
    """
    model, feature_extractor = load_speaker_model(checkpoint)
    rate = int(feature_extractor.sampling_rate)
    norm_changed = score_norm != "config" and score_norm != getattr(model.config, "score_norm", None)
    if score_norm != "config":
        model.config.score_norm = score_norm  # cohort_of below refuses an unknown one
    if score_norm_top_k is not None:
        norm_changed = norm_changed or score_norm_top_k != getattr(model.config, "score_norm_top_k", DEFAULT_TOP_K)
        model.config.score_norm_top_k = int(score_norm_top_k)
    cohort = cohort_of(model)  # None: cosine scores
    top_k = int(getattr(model.config, "score_norm_top_k", DEFAULT_TOP_K))
    suffix = f", s-norm top {top_k}" if cohort is not None else ""  # result names: cosine and s-norm rows coexist
    if norm_changed:
        recalibrate = True
    recipe_path = Path(checkpoint) / "recipe.yaml"
    recipe = yaml.safe_load(recipe_path.read_text()) if recipe_path.is_file() else {}
    corpus = corpus or (recipe.get("data") or {}).get("corpus")
    if not corpus:
        raise ValueError(f"{checkpoint} has no recipe.yaml naming its corpus; pass corpus= (zoo eval --corpus PATH)")
    name = Path(checkpoint).name
    sets: list[tuple[Trials, np.ndarray, str, str]] = []  # trials, scores, corpus, split

    def embed(dataset, rows, what):
        return compute_embeddings(model, feature_extractor, dataset, rows=rows, batch_size=batch_size, max_seconds=max_seconds,
                                  desc=f"{name}: {what}", progress=progress)

    # 1. the decision threshold, at the EER point of the validation split's pair trials
    threshold = getattr(model.config, "threshold", None)
    source = "already in config.json (set by training or an earlier `zoo eval`; `--recalibrate` recomputes it)"
    validation = load_split(corpus, "validation", rate)
    trials = pair_trials(validation["speaker_id"], max_trials=max_trials, seed=seed, name="validation speakers")
    validation_embeddings = embed(validation, trials.rows, "validation")
    scores = trials.scores(validation_embeddings, cohort=cohort, top_k=top_k)
    validation_row = (trials, scores, corpus, "validation")
    validation_threshold = eer(scores, trials.labels)[1]
    if threshold is None or recalibrate:
        threshold = validation_threshold
        source = "calibrated by `zoo eval` at the EER point of the validation split"
        if write_config:
            # an s-norm model keeps a cosine threshold too, for what compares raw cosines (diarization's clustering)
            cosine_threshold = None if cohort is None else eer(trials.scores(validation_embeddings), trials.labels)[1]
            write_threshold(checkpoint, threshold, score_norm=getattr(model.config, "score_norm", None),
                            score_norm_top_k=top_k if cohort is not None else None, cosine_threshold=cosine_threshold)
        else:
            source += " (not written: --no-card)"
    elif abs(validation_threshold - threshold) > 1e-4:
        source += f"; this evaluation's validation EER point is at {validation_threshold:.4f}"

    # 2. pair trials on the test split: every speaker, then the unseen voices only
    test = load_split(corpus, split, rate)
    all_rows = np.arange(len(test))
    unseen_rows = np.flatnonzero(np.asarray(test["unseen_voice"], dtype=bool)) if "unseen_voice" in test.column_names else None
    embeddings = embed(test, all_rows, split)
    test_trials = [pair_trials(test["speaker_id"], max_trials=max_trials, seed=seed, name="held-out speakers")]
    if unseen_rows is not None and len(unseen_rows) and len(set(np.asarray(test["speaker_id"])[unseen_rows])) >= 2:
        test_trials.append(pair_trials(test["speaker_id"], unseen_rows, max_trials=max_trials, seed=seed, name="unseen voices"))
        test_trials += unseen_voice_trials(test, unseen_rows, max_trials, seed)
    sets += [(trials, trials.scores(embeddings, cohort=cohort, top_k=top_k), corpus, split) for trials in test_trials]

    # 3. CryCeleb B->D trials on every verification corpus
    for other in verification_corpora:
        dataset, used = period_split(other, verification_split, rate)
        trials = period_trials(dataset["speaker_id"], dataset["period"], name="B->D")
        sets.append((trials, trials.scores(embed(dataset, trials.rows, f"{Path(other).name} {used}"), cohort=cohort, top_k=top_k),
                     other, used))

    # 4. metrics, results, DET plot, markdown
    rows, results = [], []
    for trials, scores, used_corpus, used_split in [validation_row] + sets:
        metrics = verification_metrics(scores, trials.labels, threshold)
        protocol = "CryCeleb protocol: B enrollment, D tests" if trials.name == "B->D" else f"all pairs, {trials.name}" if max_trials is None else f"sampled pairs, {trials.name}"
        # one name per trial set whatever the sampling, so a later `zoo eval` replaces its card results
        dataset_name = f"{used_corpus} ({'CryCeleb B->D trials' if trials.name == 'B->D' else trials.name}{suffix})"
        row = {"trials": trials.name, "corpus": str(used_corpus), "split": used_split, "protocol": protocol, **metrics,
               "recordings": len(trials.rows), "speakers": len(set(trials.enrollment_speakers))}
        rows.append(row)
        results.append({"task": RESULT_TASK, "dataset": dataset_name, "split": used_split,
                        "metrics": {"eer": round(metrics["eer"], 2), "min-dcf": round(metrics["min_dcf"], 4)},
                        "examples": len(trials)})
    det_plot = None
    if plot:
        det_plot = plot_det({f"{Path(r['corpus']).name} {r['split']}, {r['trials']}": (s, t.labels)
                             for r, (t, s, _, _) in zip(rows, [validation_row] + sets)},
                            Path(checkpoint) / DET_PLOT, title=f"{name}: DET curves ({'cosine' if cohort is None else 's-norm'} scoring)")
    markdown = results_markdown(rows, threshold, source, det_plot is not None, max_trials, top_k if cohort is not None else None)
    return {"results": results, "rows": rows, "threshold": threshold, "threshold_source": source, "markdown": markdown,
            "det_plot": det_plot}


def unseen_voice_trials(test, unseen_rows: np.ndarray, max_trials: int | None, seed: int) -> list:
    """Pair trials within each unseen voice (``engine voice``, e.g. "flite rms") that has two or more speakers: the
    speakers of one TTS voice differ only in variant, rate and pitch, so these are the hardest trials, and a voice
    whose engine ignores a setting shows it here."""
    if not {"engine", "voice"} <= set(test.column_names):
        return []
    keys = np.array([f"{engine} {voice}" for engine, voice in zip(test["engine"], test["voice"])])
    speakers = np.asarray(test["speaker_id"])
    trials = []
    for key in sorted(set(keys[unseen_rows])):
        rows = unseen_rows[keys[unseen_rows] == key]
        if len(set(speakers[rows])) >= 2:
            trials.append(pair_trials(test["speaker_id"], rows, max_trials=max_trials, seed=seed, name=f"unseen voice {key}"))
    return trials


def results_markdown(rows: list[dict], threshold: float | None, source: str, det_plot: bool, max_trials: int | None,
                     top_k: int | None = None) -> str:
    """The card's speaker verification section: a table of every trial set, the threshold, what the data is;
    `top_k` says the scores are s-norm against that many closest training speakers (None: cosine)."""
    lines = ["### Speaker verification", ""]
    scoring = ("Cosine scoring of the L2-normalised embeddings. " if top_k is None else
               f"Scores: the cosine of the L2-normalised embeddings in s-norm (each side's cosine to its {top_k} closest "
               "training speakers, the classifier's rows, sets the mean and spread it is normalised by; "
               "`zoo.speaker.score_norm`). ")
    lines.append(
        scoring + "Pair trials: "
        + ("every pair" if max_trials is None else f"about {max_trials} sampled pairs (half target where possible)")
        + " of recordings of the split, target when both are the same speaker; the test split's speakers never occur in "
        "training, and *unseen voices* are TTS voices never used in training (espeak-ng en-029, flite rms). "
        "B->D (the CryCeleb protocol): each speaker enrolled on the mean of its period-B (birth) embeddings and tested "
        f"against every period-D (discharge) recording. minDCF: p_target {P_TARGET}, C_miss = C_fa = 1."
    )
    lines.append("")
    if threshold is not None:
        lines.append(f"Decision threshold (`threshold` in config.json): {'cosine' if top_k is None else 's-norm score'} "
                     f"**{threshold:.4f}**, {source}; the last "
                     "column gives the error rates a verifier using it makes.")
        lines.append("")
    header = ["Trials", "Corpus", "Split", "Speakers", "Recordings", "Target / non-target trials", "EER (%)", "minDCF"]
    if threshold is not None:
        header.append("FRR / FAR at threshold (%)")
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["protocol"], f"`{r['corpus']}`", r["split"], str(r["speakers"]), str(r["recordings"]),
                 f"{r['target_trials']:,} / {r['nontarget_trials']:,}", _percent(r["eer"]), f"{r['min_dcf']:.4f}"]
        if threshold is not None:
            cells.append(f"{_percent(r['frr_at_threshold'])} / {_percent(r['far_at_threshold'])}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    kinds = {}
    for r in rows:
        kinds.setdefault(describe_corpus(r["corpus"]), []).append(f"`{r['corpus']}`")
    data = "**Data:** " + "; ".join(f"{', '.join(dict.fromkeys(names))}: {kind}" for kind, names in kinds.items()) + "."
    if any(kind.startswith("synthetic") for kind in kinds):
        data += " Synthetic corpora say little about real recordings: expect higher error rates on real speech and cries."
    lines.append(data)
    if det_plot:
        lines += ["", f"![DET curves of the trial sets above]({DET_PLOT})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo eval",
        description="Evaluate a speaker-embedding checkpoint (EER, minDCF; CryCeleb B->D trials), calibrate its decision "
        "threshold on the validation split and write the results, a DET plot and the threshold into the checkpoint.",
    )
    parser.add_argument("checkpoint", help="a speaker-embedding checkpoint folder, e.g. checkpoints/ecapa-tdnn-zoo-16k")
    parser.add_argument("--split", default="test", help="split of the training corpus for pair trials (default: test)")
    parser.add_argument("--corpus", help="override the recipe's corpus (a folder or a Hub id)")
    parser.add_argument("--verification-corpus", action="append", default=[], metavar="PATH_OR_HUB_ID",
                        help="a corpus with speaker_id and period (B/D) columns for CryCeleb trials, e.g. data/sessions, "
                        "data/cry, Ubenwa/CryCeleb2023; repeat for several")
    parser.add_argument("--verification-split", default="test",
                        help="split of the verification corpora (default: test; falls back to validation when the split cannot give trials)")
    parser.add_argument("--max-trials", type=int, help="sample about this many pair trials per set (default: every pair)")
    parser.add_argument("--batch-size", type=int, default=16, help="recordings per forward pass (default: 16)")
    parser.add_argument("--max-seconds", type=float, help="embed only the first seconds of each recording (default: all)")
    parser.add_argument("--seed", type=int, default=1234, help="trial sampling seed, with --max-trials (default: 1234)")
    parser.add_argument("--recalibrate", action="store_true", help="recompute the decision threshold even if training set one")
    parser.add_argument("--score-norm", choices=["cosine", "s-norm"],
                        help="score trials by the cosine, or by its s-norm against the training speakers (the classifier's "
                        "rows); a change from the checkpoint's config.score_norm recalibrates the threshold and, without "
                        "--no-card, writes both into config.json (default: as the checkpoint says)")
    parser.add_argument("--score-norm-top-k", type=int, help="cohort speakers per s-norm statistic (default: the config's, 200)")
    parser.add_argument("--no-card", action="store_true",
                        help="print the results only: no card, no DET plot, and config.json's threshold left as it is")
    args = parser.parse_args(argv)
    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "config.json").is_file():
        parser.error(f"{checkpoint / 'config.json'} not found: pass a checkpoint folder saved by `zoo train`")
    evaluation = evaluate_speaker(
        str(checkpoint), corpus=args.corpus, split=args.split, verification_corpora=tuple(args.verification_corpus),
        verification_split=args.verification_split, max_trials=args.max_trials, batch_size=args.batch_size,
        max_seconds=args.max_seconds, seed=args.seed, recalibrate=args.recalibrate, write_config=not args.no_card,
        plot=not args.no_card, score_norm={None: "config", "cosine": None, "s-norm": "s-norm"}[args.score_norm],
        score_norm_top_k=args.score_norm_top_k,
    )
    for result in evaluation["results"]:
        print(json.dumps(result))
    if evaluation["threshold"] is not None:
        print(f"decision threshold {evaluation['threshold']:.4f} ({evaluation['threshold_source']})")
    if not args.no_card:
        update_card_section(checkpoint, "speaker-eval", evaluation["markdown"], evaluation["results"])
        print(f"results written into {checkpoint / 'README.md'}; DET curves in {checkpoint / DET_PLOT}")
    else:
        print(evaluation["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
