"""Metrics shared by training, evaluation and tests.

Model files keep their own copy of the SI-SNR loss so that a Hub folder loads with `trust_remote_code`
where zoo is not installed; everything else uses these.
"""

from __future__ import annotations

import numpy as np
import torch


def si_snr(estimate: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SNR in dB over the last axis, counting only samples where `mask` is 1.

    >>> import torch
    >>> x = torch.randn(8000)
    >>> round(float(si_snr(2 * x, x)), 1) > 80
    True
    """
    if mask is None:
        mask = torch.ones_like(target)
    mask = mask.to(target.dtype)
    lengths = mask.sum(-1, keepdim=True).clamp(min=1)
    estimate = (estimate - (estimate * mask).sum(-1, keepdim=True) / lengths) * mask
    target = (target - (target * mask).sum(-1, keepdim=True) / lengths) * mask
    scale = (estimate * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    return 10 * torch.log10((projection.pow(2).sum(-1) + eps) / ((estimate - projection).pow(2).sum(-1) + eps))


# ---------------------------------------------------------------------------------------------------------------
# speaker verification: a trial is a (score, label) pair, label 1 when both sides are the same speaker (target)


def _trials(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """`scores`, `labels` as float64 / bool numpy vectors, checked: same length, both classes present, finite."""
    scores = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"got {scores.size} scores but {labels.size} labels; pass one label (1 = same speaker) per score")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN/inf; check the embeddings (an all-zero input?)")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0/1 (or False/True), got values {sorted(set(labels.tolist()))[:5]}")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError(
            f"verification metrics need both target (1) and non-target (0) trials, got {int(labels.sum())} targets "
            f"out of {labels.size}; build trials from at least two speakers, one of them with two or more recordings"
        )
    return scores, labels


def _operating_points(scores, labels):
    """`(thresholds, fpr, fnr)`, thresholds the unique scores in decreasing order, the rates of "accept when
    score >= threshold"; ties share one point. Point 0 is the "reject everything" point (threshold +inf)."""
    scores, labels = _trials(scores, labels)
    try:  # sklearn's ROC is the reference; drop_intermediate=False keeps every point, like the fallback below
        from sklearn.metrics import roc_curve
    except ImportError:
        order = np.argsort(-scores, kind="mergesort")
        scores, labels = scores[order], labels[order]
        last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
        true_accepts = np.cumsum(labels)[last_of_tie]
        false_accepts = last_of_tie + 1 - true_accepts
        thresholds = np.r_[np.inf, scores[last_of_tie]]
        tpr = np.r_[0.0, true_accepts / labels.sum()]
        fpr = np.r_[0.0, false_accepts / (~labels).sum()]
    else:
        fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
        thresholds = np.r_[np.inf, thresholds[1:]]  # sklearn >= 1.3 already starts with inf; older ones with max + 1
    return thresholds, fpr, 1.0 - tpr


def det_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detection error trade-off: false-acceptance and false-rejection rates at every decision threshold.

    Args:
        scores: `(trials,)` similarity scores (higher = more likely the same speaker), numpy or torch.
        labels: `(trials,)` 1 for target trials (same speaker), 0 for non-target trials.

    Returns:
        `(fpr, fnr, thresholds)`, fractions in [0, 1]: the rates when trials with `score >= thresholds[k]` are
        accepted, thresholds the distinct scores in decreasing order (so fpr rises and fnr falls).

    >>> fpr, fnr, thresholds = det_curve([0.9, 0.8, 0.7, 0.4, 0.3, 0.2], [1, 0, 1, 1, 0, 0])
    >>> thresholds.tolist(), fpr.round(2).tolist(), fnr.round(2).tolist()
    ([0.9, 0.8, 0.7, 0.4, 0.3, 0.2], [0.0, 0.33, 0.33, 0.33, 0.67, 1.0], [0.67, 0.67, 0.33, 0.0, 0.0, 0.0])
    """
    thresholds, fpr, fnr = _operating_points(scores, labels)
    return fpr[1:], fnr[1:], thresholds[1:]


def eer(scores, labels) -> tuple[float, float]:
    """Equal error rate (percent) and the score threshold at which false acceptances and rejections are equal.

    The EER is where the DET curve (linear between operating points) crosses fpr = fnr, as in the VoxCeleb and
    CryCeleb evaluations. The threshold is interpolated the same way between the middles of the score intervals
    that realise the two operating points, so a perfectly separable set gets a threshold half way between the
    lowest target and the highest non-target score rather than on top of either. Accept a trial when
    `score >= threshold`.

    Args:
        scores: `(trials,)` similarity scores (e.g. cosine), numpy or torch.
        labels: `(trials,)` 1 for target trials (same speaker), 0 for non-target trials.

    >>> eer([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])  # separable: no error, threshold between the classes
    (0.0, 0.5)
    >>> rate, threshold = eer([0.9, 0.8, 0.7, 0.4, 0.3, 0.2], [1, 0, 1, 1, 0, 0])  # 1 miss, 1 false alarm out of 3
    >>> round(rate, 2), round(threshold, 2)
    (33.33, 0.55)
    """
    thresholds, fpr, fnr = _operating_points(scores, labels)
    gap = fnr - fpr  # +1 at "reject all", -1 at "accept all": it crosses zero once, it never rises
    k = int(np.flatnonzero(gap <= 0)[0])
    # the middle of the scores that keep each operating point; point 0 ("reject all") and the last ("accept all")
    # use the nearest score
    finite = thresholds[1:]
    middles = np.r_[finite[0], (finite[:-1] + finite[1:]) / 2, finite[-1]]
    if gap[k] == 0:
        return float(100 * fpr[k]), float(middles[k])
    alpha = gap[k - 1] / (gap[k - 1] - gap[k])  # fraction of the segment from point k-1 to k where the gap is 0
    rate = fpr[k - 1] + alpha * (fpr[k] - fpr[k - 1])
    return float(100 * rate), float(middles[k - 1] + alpha * (middles[k] - middles[k - 1]))


def min_dcf(scores, labels, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """Minimum normalised detection cost (NIST SRE, VoxCeleb challenge), over every decision threshold.

    `DCF = c_miss * P_miss * p_target + c_fa * P_fa * (1 - p_target)`, divided by the cost of the best
    decision without looking at the trial, `min(c_miss * p_target, c_fa * (1 - p_target))`: 0 is perfect,
    1 is no better than always rejecting (or accepting).

    Args:
        scores: `(trials,)` similarity scores, numpy or torch.
        labels: `(trials,)` 1 for target trials, 0 for non-target trials.
        p_target: prior probability of a target trial (VoxSRC: 0.05, NIST SRE 2008 and SpeechBrain: 0.01).
        c_miss: cost of rejecting a target trial.
        c_fa: cost of accepting a non-target trial.

    >>> min_dcf([0.9, 0.8, 0.7, 0.4, 0.3, 0.2], [1, 0, 1, 1, 0, 0], p_target=0.5)
    0.3333333333333333
    >>> min_dcf([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])  # reversed scores: no threshold beats rejecting everything
    1.0
    """
    if not 0 < p_target < 1:
        raise ValueError(f"p_target must lie strictly between 0 and 1, got {p_target}; VoxSRC uses 0.05, NIST SRE 0.01")
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"costs must be positive, got c_miss={c_miss}, c_fa={c_fa}")
    _, fpr, fnr = _operating_points(scores, labels)
    cost = c_miss * fnr * p_target + c_fa * fpr * (1 - p_target)
    return float(np.min(cost) / min(c_miss * p_target, c_fa * (1 - p_target)))


# ---------------------------------------------------------------------------------------------------------------
# speech recognition: word and character error rates (jiwer's alignment), on already normalised text


def _transcripts(references, hypotheses) -> tuple[list[str], list[str]]:
    """Both sides as equally long lists of strings; references must hold at least one word."""
    references = [references] if isinstance(references, str) else list(references)
    hypotheses = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(f"got {len(references)} references but {len(hypotheses)} hypotheses; pass one hypothesis per reference")
    if not references:
        raise ValueError("got no transcripts; pass at least one reference and its hypothesis")
    for i, (reference, hypothesis) in enumerate(zip(references, hypotheses)):
        if not isinstance(reference, str) or not isinstance(hypothesis, str):
            raise TypeError(f"transcript {i} is not a pair of strings ({type(reference).__name__}, {type(hypothesis).__name__})")
        if not reference.split():
            raise ValueError(f"reference {i} is empty ({reference!r}); error rates are relative to the reference length, drop it")
    return references, hypotheses


def edit_counts(references, hypotheses, unit: str = "word") -> tuple[int, int]:
    """Edits (substitutions + deletions + insertions) turning the references into the hypotheses, and the length
    of the references, in words (split on whitespace) or characters (spaces included, as jiwer and `evaluate` count).

    Args:
        references: one transcript or a list of them (normalised the same way as the hypotheses).
        hypotheses: the recognised text, one per reference.
        unit: "word" or "char".

    >>> edit_counts("the cat sat", "the bat sat down"), edit_counts("the cat", "the bat", unit="char")
    ((2, 3), (1, 7))
    """
    import jiwer

    references, hypotheses = _transcripts(references, hypotheses)
    if unit == "word":
        out = jiwer.process_words(references, [h if h.split() else "" for h in hypotheses])
        return int(out.substitutions + out.deletions + out.insertions), sum(len(r.split()) for r in references)
    if unit == "char":
        out = jiwer.process_characters(references, hypotheses)
        return int(out.substitutions + out.deletions + out.insertions), sum(len(r) for r in references)
    raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")


def wer(references, hypotheses) -> float:
    """Word error rate over a set: all word edits divided by all reference words (a fraction; it can exceed 1).

    >>> wer(["the cat sat", "on the mat"], ["the bat sat", "on mat"])
    0.3333333333333333
    """
    errors, words = edit_counts(references, hypotheses, "word")
    return errors / words


def cer(references, hypotheses) -> float:
    """Character error rate over a set: all character edits divided by all reference characters (a fraction).

    >>> cer("the cat", "the bat")
    0.14285714285714285
    """
    errors, characters = edit_counts(references, hypotheses, "char")
    return errors / characters
