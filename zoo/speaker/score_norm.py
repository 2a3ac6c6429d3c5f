"""Score normalisation for speaker verification: adaptive symmetric normalisation (s-norm).

A raw verification score is the cosine of two speaker embeddings. How high a cosine is for an impostor differs from
voice to voice: an embedding close to many speakers scores high against everyone. s-norm measures each side of a
trial against a cohort of other speakers and re-expresses the cosine in that side's impostor statistics:

    s_norm(e, t) = ((cos(e, t) - mu_e) / sd_e + (cos(e, t) - mu_t) / sd_t) / 2

where `mu_x`, `sd_x` are the mean and standard deviation of `x`'s cosines to its `top_k` closest cohort speakers
(adaptive s-norm; Matejka et al., Interspeech 2017). The score is in impostor standard deviations: around 0 for an
impostor-like pair, several units up for the same speaker.

The cohort is the training speakers as the model itself learnt them: the rows of its additive-angular-margin
classifier (one unit vector per training speaker, the centre the training pulled that speaker's embeddings to),
so a checkpoint carries its cohort in its weights and needs no training data at test time. A model opts in with
`config.score_norm = "s-norm"` (and `config.score_norm_top_k`); its `config.threshold` is then in s-norm units.
"""

from __future__ import annotations

import numpy as np

SCORE_NORMS = (None, "s-norm")
DEFAULT_TOP_K = 200


def cohort_of(model) -> np.ndarray | None:
    """`(speakers, embedding_size)` unit-norm cohort of a model whose `config.score_norm` is "s-norm"; None otherwise.

    Raises ValueError when the model asks for s-norm but has no classifier to take the cohort from.
    """
    kind = getattr(model.config, "score_norm", None)
    if kind is None:
        return None
    if kind not in SCORE_NORMS:
        raise ValueError(f"config.score_norm={kind!r} is unknown; use one of {SCORE_NORMS}")
    classifier = getattr(model, "classifier", None)
    weight = getattr(classifier, "weight", None)
    if weight is None:
        raise ValueError(
            "config.score_norm='s-norm' takes its cohort from the training-speaker classifier, but this model has none "
            "(num_labels=0); set config.score_norm=None, or load a checkpoint saved with its classifier"
        )
    cohort = weight.detach().float().cpu().numpy().astype(np.float64)
    return cohort / np.maximum(np.linalg.norm(cohort, axis=1, keepdims=True), 1e-12)


def cohort_statistics(embeddings: np.ndarray, cohort: np.ndarray, top_k: int = DEFAULT_TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each embedding's `top_k` highest cosines to the cohort.

    Args:
        embeddings: `(n, dim)` unit-norm embeddings.
        cohort: `(speakers, dim)` unit-norm cohort.
        top_k: closest cohort speakers kept (all of them when the cohort is smaller).

    Returns:
        `(mu, sd)`, each `(n,)`; `sd` is at least 1e-6.

    >>> cohort = np.eye(3)
    >>> mu, sd = cohort_statistics(np.array([[1.0, 0.0, 0.0]]), cohort, top_k=2)
    >>> mu.round(3).tolist(), sd.round(3).tolist()
    ([0.5], [0.5])
    """
    if top_k < 2:
        raise ValueError(f"top_k={top_k}: s-norm needs at least 2 cohort scores per embedding for a standard deviation")
    scores = np.asarray(embeddings, dtype=np.float64) @ np.asarray(cohort, dtype=np.float64).T  # (n, speakers)
    k = min(top_k, scores.shape[1])
    top = -np.partition(-scores, k - 1, axis=1)[:, :k]  # the k highest, unordered
    return top.mean(axis=1), np.maximum(top.std(axis=1), 1e-6)


def s_norm(scores: np.ndarray, stats_a: tuple[np.ndarray, np.ndarray], stats_b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Symmetric normalisation of `scores` (`(trials,)` cosines) by both sides' `(mu, sd)`, each `(trials,)`.

    >>> s_norm(np.array([0.5]), (np.array([0.1]), np.array([0.2])), (np.array([0.3]), np.array([0.1]))).tolist()
    [2.0]
    """
    (mu_a, sd_a), (mu_b, sd_b) = stats_a, stats_b
    return 0.5 * ((scores - mu_a) / sd_a + (scores - mu_b) / sd_b)


def verification_scores(model, enrollments: np.ndarray, tests: np.ndarray) -> np.ndarray:
    """`(trials,)` scores of row-paired unit-norm `enrollments` and `tests` (each `(trials, dim)`), the model's way:
    the cosine, or its s-norm when `config.score_norm` asks for it."""
    enrollments, tests = np.asarray(enrollments, dtype=np.float64), np.asarray(tests, dtype=np.float64)
    cosines = np.einsum("ij,ij->i", enrollments, tests)
    cohort = cohort_of(model)
    if cohort is None:
        return np.clip(cosines, -1.0, 1.0)
    top_k = int(getattr(model.config, "score_norm_top_k", DEFAULT_TOP_K))
    return s_norm(cosines, cohort_statistics(enrollments, cohort, top_k), cohort_statistics(tests, cohort, top_k))


def score_unit(model) -> str:
    """What the model's verification scores are, for sentences: "cosine" or "s-norm"."""
    return "s-norm" if getattr(model.config, "score_norm", None) == "s-norm" else "cosine"
