"""`speaker-diarization` pipeline: who spoke when, with any zoo speaker-embedding model.

Steps, each a function you can call on its own:

1. `detect_speech` (zoo.diarization.vad): speech regions, energy VAD by default or Silero (`vad="silero"`).
2. `sliding_windows`: windows of `window_seconds` every `hop_seconds` inside each region (a shorter region is
   one window); each is embedded by the model, `batch_size` windows per forward (default 32), so memory does
   not grow with the recording's length.
3. `cluster_embeddings`: agglomerative clustering (average linkage on cosine distance, merging while the
   clusters' mean similarity is at least `threshold`, by default the model's calibrated verification threshold;
   clusters of fewer than `min_cluster_size` windows then join the most similar larger one) or spectral
   clustering (pruned cosine affinities, the count from the largest eigengap); `num_speakers` fixes the count,
   `min_speakers` / `max_speakers` bound an estimated one.
4. `assign_speakers`: every 10 ms frame of speech gets the speaker whose centroid is most similar on average
   over the windows covering it. Overlap: a frame is covered by several windows (they overlap when
   `hop_seconds < window_seconds`); it gets a second speaker when *every* window covering it (at least two)
   sounds like both its best speaker p and its second-best q. "Sounds like" is measured against how alike the
   two speakers are anyway: with rho = cos(centroid p, centroid q), a window's relative similarity to q is
   (cos(window, q) - rho) / (1 - rho), 0 for a window no closer to q than p's centroid is and 1 for q's centroid;
   both relative similarities must reach `overlap_threshold` (default 0.4; an even mix of two orthogonal
   speakers scores 0.71). A clean turn change does not trigger it: the windows on either side of the change
   are each close to one speaker only. Limits: turn boundaries are
   placed to within about `hop_seconds / 2`; overlaps much shorter than a window are rarely found; a long
   overlap can form a cluster of its own (counted as an extra speaker) when the embeddings of mixed speech are
   far from both speakers.

Layouts: a waveform is `(time,)`; window features `(batch, frames, num_mel_bins)`; embeddings `(windows, dim)`,
L2-normalised; times are seconds. Output: a list of `{"speaker": "SPEAKER_00", "start": s, "end": s}` sorted by
start, speakers numbered in order of first appearance; two segments of different speakers may overlap.

>>> import numpy as np, tempfile
>>> from transformers import pipeline
>>> from zoo import EcapaTdnnConfig, EcapaTdnnForSpeakerEmbedding, SpeakerFeatureExtractor
>>> tmp = tempfile.TemporaryDirectory()
>>> EcapaTdnnForSpeakerEmbedding(EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8,
...     embedding_size=16)).save_pretrained(tmp.name)
>>> _ = SpeakerFeatureExtractor().save_pretrained(tmp.name)
>>> diarize = pipeline("speaker-diarization", model=tmp.name)
>>> tone = np.sin(2 * np.pi * 220 * np.arange(32000) / 16000).astype(np.float32)
>>> recording = np.concatenate([np.zeros(16000), tone, np.zeros(16000)]).astype(np.float32)  # speech from 1 s to 3 s
>>> diarize(recording, sampling_rate=16000, num_speakers=1)
[{'speaker': 'SPEAKER_00', 'start': 0.94, 'end': 3.06}]
>>> tmp.cleanup()
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from transformers.pipelines.base import ChunkPipeline

from ..audio import load_audio_native, resample
from .vad import detect_speech

CLUSTERING_METHODS = ("agglomerative", "spectral")


def sliding_windows(regions, window_seconds: float = 1.5, hop_seconds: float = 0.75) -> list[tuple[float, float]]:
    """Windows `(start, end)` covering each speech region; the last one of a region ends at the region's end.

    Args:
        regions: `(start, end)` speech regions in seconds.
        window_seconds: window length; a shorter region gives one window spanning it.
        hop_seconds: step between window starts, at most `window_seconds`.

    >>> sliding_windows([(0.0, 3.0), (4.0, 4.5), (5.0, 7.0)])
    [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0), (4.0, 4.5), (5.0, 6.5), (5.5, 7.0)]
    """
    if window_seconds <= 0 or not 0 < hop_seconds <= window_seconds:
        raise ValueError(f"need window_seconds > 0 and 0 < hop_seconds <= window_seconds, got {window_seconds}, {hop_seconds}")
    windows = []
    for start, end in regions:
        length = end - start
        if length <= window_seconds + 1e-9:
            windows.append((round(start, 3), round(end, 3)))
            continue
        count = math.ceil((length - window_seconds) / hop_seconds - 1e-9) + 1
        for index in range(count):
            begin = min(start + index * hop_seconds, end - window_seconds)
            windows.append((round(begin, 3), round(begin + window_seconds, 3)))
    return windows


def _normalize(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0, 1, ... in order of first appearance."""
    order = {}
    for label in labels:
        order.setdefault(int(label), len(order))
    return np.array([order[int(label)] for label in labels], dtype=np.int64)


def _check_counts(num_embeddings: int, num_speakers, min_speakers, max_speakers) -> tuple[int | None, int, int]:
    for name, value in (("num_speakers", num_speakers), ("min_speakers", min_speakers), ("max_speakers", max_speakers)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name}={value!r} must be a positive integer (or None)")
    min_speakers = 1 if min_speakers is None else int(min_speakers)
    max_speakers = num_embeddings if max_speakers is None else int(max_speakers)
    if min_speakers > max_speakers:
        raise ValueError(f"min_speakers={min_speakers} is above max_speakers={max_speakers}")
    if num_speakers is not None and num_speakers > num_embeddings:
        raise ValueError(
            f"num_speakers={num_speakers} but the speech holds only {num_embeddings} window(s); pass fewer speakers, "
            "a shorter hop_seconds, or a longer recording"
        )
    return num_speakers, min(min_speakers, num_embeddings), min(max_speakers, num_embeddings)


def cluster_embeddings(
    embeddings: np.ndarray,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    threshold: float = 0.5,
    method: str = "agglomerative",
    min_cluster_size: int = 3,
) -> np.ndarray:
    """Speaker label per embedding, `(n,)` ints numbered in order of first appearance.

    Args:
        embeddings: `(n, dim)` speaker embeddings (normalised here).
        num_speakers: the number of speakers when known.
        min_speakers: smallest count an estimate may give.
        max_speakers: largest count an estimate may give.
        threshold: agglomerative: clusters merge while their average cosine similarity is at least this.
            Spectral ignores it (the count comes from the eigengap).
        method: "agglomerative" or "spectral".
        min_cluster_size: agglomerative without `num_speakers`: clusters with fewer windows are merged into the
            most similar larger one (stray windows are not speakers).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = np.eye(8)[0], np.eye(8)[1]
    >>> points = np.stack([a, a, b, b, a, b]) + 0.05 * rng.standard_normal((6, 8))
    >>> cluster_embeddings(points).tolist()
    [0, 0, 1, 1, 0, 1]
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty (n, dim) array, got shape {embeddings.shape}")
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN/inf values; check the model's output")
    if method not in CLUSTERING_METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {', '.join(CLUSTERING_METHODS)}")
    count = embeddings.shape[0]
    num_speakers, min_speakers, max_speakers = _check_counts(count, num_speakers, min_speakers, max_speakers)
    embeddings = _normalize(embeddings)
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    if method == "spectral" and count > 2:
        labels = _spectral(embeddings, num_speakers, min_speakers, max_speakers)
    else:
        labels = _agglomerative(embeddings, num_speakers, min_speakers, max_speakers, threshold, min_cluster_size)
    return _first_appearance(labels)


def _agglomerative(
    embeddings: np.ndarray, num_speakers, min_speakers: int, max_speakers: int, threshold: float, min_cluster_size: int
) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage

    # average linkage on cosine distance: two clusters merge while their mean pairwise similarity >= threshold
    tree = linkage(embeddings, method="average", metric="cosine")
    if num_speakers is not None:
        return fcluster(tree, t=num_speakers, criterion="maxclust")
    labels = fcluster(tree, t=max(1.0 - threshold, 0.0), criterion="distance")
    labels = _absorb_small_clusters(embeddings, labels, min_cluster_size, keep=min_speakers)
    found = len(np.unique(labels))
    if found < min_speakers:
        labels = fcluster(tree, t=min_speakers, criterion="maxclust")
    elif found > max_speakers:
        labels = fcluster(tree, t=max_speakers, criterion="maxclust")
    return labels


def _absorb_small_clusters(embeddings: np.ndarray, labels: np.ndarray, min_cluster_size: int, keep: int = 1) -> np.ndarray:
    """Move the windows of clusters smaller than `min_cluster_size` to the most similar large cluster.

    A threshold cut leaves stray windows (a cough, a window mostly of silence, a turn change) as clusters of their
    own, which would each count as a speaker; at least `keep` clusters are left standing.
    """
    labels = np.asarray(labels).copy()
    names, sizes = np.unique(labels, return_counts=True)
    large = names[sizes >= min_cluster_size]
    if len(large) < max(keep, 1):
        large = names[np.argsort(-sizes, kind="stable")[: max(keep, 1)]]
    small = np.setdiff1d(names, large)
    if small.size == 0:
        return labels
    centroids = _normalize(np.stack([embeddings[labels == k].mean(0) for k in large]))  # (large, dim)
    moved = np.isin(labels, small)
    labels[moved] = large[np.argmax(embeddings[moved] @ centroids.T, axis=1)]
    return labels


def _spectral(embeddings: np.ndarray, num_speakers, min_speakers: int, max_speakers: int, pruning: float = 0.25) -> np.ndarray:
    """Spectral clustering of cosine affinities, pruned to each row's strongest links (Park et al., 2019)."""
    from sklearn.cluster import KMeans

    count = embeddings.shape[0]
    affinity = np.clip(embeddings @ embeddings.T, 0.0, None)  # (n, n)
    # keep each row's strongest links (itself included): a quarter of them, but enough that a speaker's few
    # windows in a short recording still link to each other
    keep = min(count, max(6, int(math.ceil(pruning * count))))
    weakest = np.sort(affinity, axis=1)[:, -keep][:, None]
    affinity = np.where(affinity >= weakest, affinity, 0.0)
    affinity = (affinity + affinity.T) / 2
    np.fill_diagonal(affinity, 0.0)
    degree = np.maximum(affinity.sum(1), 1e-10)
    scale = 1.0 / np.sqrt(degree)
    laplacian = np.eye(count) - scale[:, None] * affinity * scale[None, :]  # normalised graph Laplacian
    eigenvalues, eigenvectors = np.linalg.eigh(laplacian)  # ascending
    if num_speakers is None:
        # the count with the largest eigengap (gaps[k - 1] = lambda_k - lambda_{k-1}, the gap after k clusters),
        # looked for up to 20 speakers, then brought within [min_speakers, max_speakers]
        gaps = np.diff(eigenvalues[: min(count - 1, 20) + 1])
        num_speakers = int(np.clip(np.argmax(gaps) + 1, min_speakers, max_speakers))
    if num_speakers == 1:
        return np.zeros(count, dtype=np.int64)
    spectral = _normalize(eigenvectors[:, :num_speakers])  # (n, k)
    return KMeans(n_clusters=num_speakers, n_init=10, random_state=0).fit_predict(spectral)


def assign_speakers(
    windows,
    embeddings: np.ndarray,
    labels: np.ndarray,
    regions,
    overlap_threshold: float | None = 0.4,
    frame_seconds: float = 0.01,
) -> list[dict]:
    """Segments from labelled window embeddings: the most similar speaker per frame, and a second where overlapped.

    Args:
        windows: `(start, end)` seconds of each embedded window, `(n,)` of them.
        embeddings: `(n, dim)` window embeddings.
        labels: `(n,)` cluster of each window.
        regions: `(start, end)` speech regions; frames outside them are silence.
        overlap_threshold: relative similarity (see the module docstring) both speakers must reach in every
            window covering a frame for it to get two speakers; None turns overlap detection off.
        frame_seconds: time resolution of the segment boundaries.

    >>> import numpy as np
    >>> a, b = np.eye(4)[0], np.eye(4)[1]
    >>> windows = [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0), (2.25, 3.75), (3.0, 4.5)]
    >>> [(s["speaker"], s["start"], s["end"]) for s in assign_speakers(windows, np.stack([a, a, a, b, b]), np.array([0, 0, 0, 1, 1]), [(0.0, 4.5)])]
    [('SPEAKER_00', 0.0, 3.0), ('SPEAKER_01', 3.0, 4.5)]
    """
    windows = np.asarray(windows, dtype=np.float64).reshape(-1, 2)
    embeddings = _normalize(np.asarray(embeddings, dtype=np.float64))
    labels = np.asarray(labels)
    if not (windows.shape[0] == embeddings.shape[0] == labels.shape[0]):
        raise ValueError(f"got {windows.shape[0]} windows, {embeddings.shape[0]} embeddings and {labels.shape[0]} labels; need one each")
    if windows.shape[0] == 0:
        return []
    clusters = np.unique(labels)
    centroids = _normalize(np.stack([embeddings[labels == k].mean(0) for k in clusters]))  # (speakers, dim)
    similarity = embeddings @ centroids.T  # (windows, speakers)
    end = max(float(windows[:, 1].max()), max((e for _, e in regions), default=0.0))
    num_frames = int(math.ceil(end / frame_seconds - 1e-9))
    total = np.zeros((num_frames, len(clusters)))
    lowest = np.full((num_frames, len(clusters)), np.inf)
    covering = np.zeros(num_frames, dtype=np.int64)
    for (start, stop), row in zip(windows, similarity):
        first, last = int(round(start / frame_seconds)), int(round(stop / frame_seconds))
        total[first:last] += row
        np.minimum(lowest[first:last], row, out=lowest[first:last])
        covering[first:last] += 1
    speech = np.zeros(num_frames, dtype=bool)
    for start, stop in regions:
        speech[int(round(start / frame_seconds)) : int(round(stop / frame_seconds))] = True
    speech &= covering > 0
    mean = total / np.maximum(covering, 1)[:, None]  # (frames, speakers)
    ranking = np.argsort(-mean, axis=1)
    active = np.zeros((num_frames, len(clusters)), dtype=bool)
    active[np.arange(num_frames), ranking[:, 0]] = True
    if overlap_threshold is not None and len(clusters) > 1:
        best, second = ranking[:, 0], ranking[:, 1]
        frames = np.arange(num_frames)
        rho = (centroids @ centroids.T)[best, second]  # (frames,) how alike the two speakers are anyway
        span = np.maximum(1.0 - rho, 1e-6)
        relative_best = (lowest[frames, best] - rho) / span
        relative_second = (lowest[frames, second] - rho) / span
        both = (covering >= 2) & (rho < 0.99) & (relative_best >= overlap_threshold) & (relative_second >= overlap_threshold)
        active[frames[both], second[both]] = True
    active &= speech[:, None]
    segments = []
    for column in range(len(clusters)):
        edges = np.diff(np.concatenate([[0], active[:, column].astype(np.int8), [0]]))
        for first, last in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            segments.append({"speaker": column, "start": round(float(first * frame_seconds), 3), "end": round(float(last * frame_seconds), 3)})
    segments.sort(key=lambda s: (s["start"], s["end"], s["speaker"]))
    names = {}
    for segment in segments:  # number speakers by first appearance
        segment["speaker"] = names.setdefault(segment["speaker"], f"SPEAKER_{len(names):02d}")
    return segments


class SpeakerDiarizationPipeline(ChunkPipeline):
    """Who spoke when: VAD, sliding-window speaker embeddings, clustering, overlap-aware segments.

    Call with a path, bytes, a numpy array (pass `sampling_rate=`), a `datasets` Audio dict, or a list of them.
    Returns per input a list of `{"speaker": "SPEAKER_00", "start": seconds, "end": seconds}` sorted by start.

    Args (call, also accepted when the pipeline is built):
        sampling_rate: rate of an array input.
        num_speakers: the number of speakers when known; else it is estimated.
        min_speakers / max_speakers: bounds on the estimated number.
        threshold: agglomerative merge threshold (cosine similarity); default: the model's calibrated
            verification threshold `config.threshold` (`config.cosine_threshold` for a model that verifies in
            s-norm units), else 0.5.
        clustering: "spectral" (default: on the zoo's validation conversations it found the right number of speakers
            in 92 % of them against 32 % for agglomerative, DER 5.1 % against 11.6 %; scripts/eval_diarization.py)
            or "agglomerative".
        overlap: assign a second speaker to overlapped frames (default True).
        overlap_threshold: relative similarity both speakers must reach around a frame (default 0.4, see above).
        min_cluster_size: agglomerative: clusters of fewer windows join the most similar larger one (default 3).
        vad: "energy" (default), "silero", "none", or a callable `vad(waveform, sampling_rate) -> [(start, end)]`.
        vad_options: dict of settings for a named VAD, e.g. `{"onset_db": 15}` (see zoo.diarization.vad).
        window_seconds / hop_seconds: embedding windows (default 1.5 s every 0.75 s).
        batch_size: windows per model forward (default 32).
        progress: show a progress bar; default: when there are more than 200 windows.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = False

    def __init__(self, *args, batch_size=None, **kwargs):
        super().__init__(*args, batch_size=32 if batch_size is None else batch_size, **kwargs)

    def _sanitize_parameters(
        self,
        sampling_rate=None,
        vad=None,
        vad_options=None,
        window_seconds=None,
        hop_seconds=None,
        progress=None,
        num_speakers=None,
        min_speakers=None,
        max_speakers=None,
        threshold=None,
        clustering=None,
        overlap=None,
        overlap_threshold=None,
        min_cluster_size=None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"speaker-diarization got unexpected arguments {sorted(kwargs)}")
        preprocess = {
            k: v
            for k, v in dict(
                sampling_rate=sampling_rate, vad=vad, vad_options=vad_options, window_seconds=window_seconds,
                hop_seconds=hop_seconds, progress=progress,
            ).items()
            if v is not None
        }
        if window_seconds is not None or hop_seconds is not None:
            sliding_windows([], window_seconds or 1.5, hop_seconds or 0.75)  # check them before any audio is read
        if clustering is not None and clustering not in CLUSTERING_METHODS:
            raise ValueError(f"unknown clustering={clustering!r}; choose one of {', '.join(CLUSTERING_METHODS)}")
        _check_counts(10**9, num_speakers, min_speakers, max_speakers)
        postprocess = {
            k: v
            for k, v in dict(
                num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers, threshold=threshold,
                clustering=clustering, overlap=overlap, overlap_threshold=overlap_threshold, min_cluster_size=min_cluster_size,
            ).items()
            if v is not None
        }
        return preprocess, {}, postprocess

    @property
    def model_sampling_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    def preprocess(
        self,
        inputs: Any,
        sampling_rate=None,
        vad="energy",
        vad_options=None,
        window_seconds: float = 1.5,
        hop_seconds: float = 0.75,
        progress=None,
    ):
        waveform, input_sr = load_audio_native(inputs, sampling_rate, name="recording")
        rate = self.model_sampling_rate
        waveform = resample(waveform, input_sr, rate)
        duration = waveform.shape[0] / rate
        regions = detect_speech(waveform, rate, vad, **(vad_options or {}))
        windows = sliding_windows(regions, window_seconds, hop_seconds)
        meta = {"duration": duration, "regions": regions}
        if not windows:  # no speech: one placeholder so the pipeline has something to run; postprocess drops it
            features = self.feature_extractor([np.zeros(rate // 10, dtype=np.float32)], sampling_rate=rate, return_tensors="pt")
            yield {**features, "start": 0.0, "end": 0.0, "placeholder": True, "is_last": True, **meta}
            return
        bar = None
        if progress or (progress is None and len(windows) > 200):
            from tqdm.auto import tqdm

            bar = tqdm(total=len(windows), desc="diarizing", unit="window")
        for index, (start, end) in enumerate(windows):
            piece = waveform[int(round(start * rate)) : int(round(end * rate))]
            features = self.feature_extractor([piece], sampling_rate=rate, return_tensors="pt", padding=True)
            yield {
                "input_features": features["input_features"],  # (1, frames, num_mel_bins)
                "attention_mask": features["attention_mask"],  # (1, frames)
                "start": start,
                "end": end,
                "placeholder": False,
                "is_last": index == len(windows) - 1,
                **meta,
            }
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()

    def _forward(self, model_inputs):
        meta = {k: v for k, v in model_inputs.items() if k not in ("input_features", "attention_mask")}
        features = model_inputs["input_features"].to(self.device, self.dtype if self.dtype is not None else torch.float32)
        mask = model_inputs["attention_mask"].to(self.device)
        embeddings = self.model(input_features=features, attention_mask=mask).embeddings  # (batch, dim)
        return {"embeddings": embeddings.float().cpu(), **meta}

    def postprocess(
        self,
        model_outputs,
        num_speakers=None,
        min_speakers=None,
        max_speakers=None,
        threshold=None,
        clustering="spectral",
        overlap=True,
        overlap_threshold=None,
        min_cluster_size=3,
    ):
        outputs = [o for o in model_outputs if not _item(o["placeholder"])]
        if not outputs:
            return []
        regions = [(float(start), float(end)) for start, end in model_outputs[0]["regions"]]
        windows = [(float(_item(o["start"])), float(_item(o["end"]))) for o in outputs]
        embeddings = torch.cat([o["embeddings"].reshape(1, -1) for o in outputs]).numpy()  # (windows, dim)
        if threshold is None:
            config = self.model.config
            threshold = config.cosine_threshold if getattr(config, "score_norm", None) else getattr(config, "threshold", None)
            threshold = 0.5 if threshold is None else float(threshold)
        labels = cluster_embeddings(
            embeddings, num_speakers, min_speakers, max_speakers, threshold=threshold, method=clustering, min_cluster_size=min_cluster_size
        )
        if not overlap:
            overlap_threshold = None
        elif overlap_threshold is None:
            overlap_threshold = 0.4
        return assign_speakers(windows, embeddings, labels, regions, overlap_threshold=overlap_threshold)


def _item(value):
    """Pipeline batching turns scalars into one-element lists or tensors; get the scalar back."""
    while isinstance(value, (list, tuple)):
        value = value[0]
    return value.item() if hasattr(value, "item") else value

