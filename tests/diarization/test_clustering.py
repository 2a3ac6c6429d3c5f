"""Windows, clustering and frame assignment of the diarization pipeline, fed known embeddings."""

import numpy as np
import pytest

from zoo.diarization.pipeline_diarization import (
    assign_speakers,
    cluster_embeddings,
    sliding_windows,
)
from zoo.diarization.rttm import diarization_error_rate

DIM = 16


def _speakers(count, seed=0):
    """`count` random unit directions: different speakers are nearly orthogonal."""
    vectors = np.random.default_rng(seed).standard_normal((count, DIM))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _noisy(centres, labels, noise=0.15, seed=1):
    rng = np.random.default_rng(seed)
    points = centres[labels] + noise * rng.standard_normal((len(labels), DIM))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def _same_partition(a, b):
    """Labels equal up to renaming."""
    return len(set(zip(a, b))) == len(set(a)) == len(set(b))


# --- windows ------------------------------------------------------------------------------------------------------


def test_windows_cover_every_region_and_end_on_its_end():
    regions = [(0.0, 4.0), (5.0, 5.3), (6.0, 7.6)]
    windows = sliding_windows(regions, 1.5, 0.75)
    assert windows[:5] == [(0.0, 1.5), (0.75, 2.25), (1.5, 3.0), (2.25, 3.75), (2.5, 4.0)]
    assert (5.0, 5.3) in windows and windows[-1] == (6.1, 7.6)
    assert sliding_windows([]) == []


@pytest.mark.parametrize("window, hop", [(0, 0.5), (1.0, 0), (1.0, 1.5)])
def test_bad_window_settings_are_refused(window, hop):
    with pytest.raises(ValueError, match="hop_seconds <= window_seconds"):
        sliding_windows([(0.0, 3.0)], window, hop)


# --- clustering ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["agglomerative", "spectral"])
@pytest.mark.parametrize("count", [2, 3, 4])
def test_count_is_found_and_windows_are_grouped(method, count):
    truth = np.repeat(np.arange(count), 8)[np.random.default_rng(count).permutation(8 * count)]
    labels = cluster_embeddings(_noisy(_speakers(count), truth), method=method)
    assert len(set(labels)) == count and _same_partition(labels, truth)


def test_labels_follow_first_appearance():
    truth = np.array([2, 2, 2, 0, 0, 0, 1, 1, 1, 2])
    labels = cluster_embeddings(_noisy(_speakers(3), truth))
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]


def test_num_speakers_and_bounds():
    truth = np.repeat(np.arange(3), 6)
    points = _noisy(_speakers(3), truth)
    for method in ("agglomerative", "spectral"):
        assert len(set(cluster_embeddings(points, num_speakers=2, method=method))) == 2
        assert len(set(cluster_embeddings(points, max_speakers=2, method=method))) == 2
        assert len(set(cluster_embeddings(points, min_speakers=4, method=method))) == 4
    one = _noisy(_speakers(1), np.zeros(10, dtype=int))
    assert set(cluster_embeddings(one)) == {0} and set(cluster_embeddings(one, method="spectral")) == {0}
    assert len(set(cluster_embeddings(one, num_speakers=2))) == 2


def test_threshold_decides_when_to_merge():
    # two directions 60 degrees apart (cosine 0.5): one speaker at threshold 0.3, two at 0.7
    a, b = np.eye(DIM)[0], 0.5 * np.eye(DIM)[0] + np.sqrt(0.75) * np.eye(DIM)[1]
    points = np.stack([a] * 4 + [b] * 4)
    assert len(set(cluster_embeddings(points, threshold=0.3))) == 1
    assert len(set(cluster_embeddings(points, threshold=0.7))) == 2


def test_stray_windows_join_a_speaker():
    truth = np.array([0] * 8 + [1] * 8)
    points = _noisy(_speakers(2), truth, noise=0.05)
    points[3] = _speakers(3, seed=7)[2]  # one window unlike anyone (a cough)
    labels = cluster_embeddings(points)
    assert len(set(labels)) == 2
    assert len(set(cluster_embeddings(points, min_cluster_size=1))) == 3


def test_single_embedding_and_errors():
    assert cluster_embeddings(np.ones((1, 4))).tolist() == [0]
    with pytest.raises(ValueError, match="non-empty"):
        cluster_embeddings(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="NaN"):
        cluster_embeddings(np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="unknown clustering method 'kmeans'"):
        cluster_embeddings(np.ones((3, 4)), method="kmeans")
    with pytest.raises(ValueError, match="num_speakers=5 but the speech holds only 3"):
        cluster_embeddings(np.eye(3), num_speakers=5)
    with pytest.raises(ValueError, match="min_speakers=3 is above max_speakers=2"):
        cluster_embeddings(np.eye(4), min_speakers=3, max_speakers=2)
    with pytest.raises(ValueError, match="num_speakers=0"):
        cluster_embeddings(np.eye(4), num_speakers=0)


# --- frame assignment ---------------------------------------------------------------------------------------------


def _timeline_embeddings(windows, turns, centres):
    """Each window's embedding: its speakers' directions weighted by how long each speaks in it."""
    out = []
    for start, end in windows:
        weights = np.zeros(len(centres))
        for speaker, (s, e) in turns:
            weights[speaker] += max(0.0, min(end, e) - max(start, s))
        vector = weights @ centres
        out.append(vector / np.linalg.norm(vector))
    return np.stack(out)


def _segments(turns, names=("A", "B", "C")):
    return [{"speaker": names[k], "start": s, "end": e} for k, (s, e) in turns]


def test_turns_without_overlap():
    centres = _speakers(3)
    turns = [(0, (0.0, 4.0)), (1, (4.0, 9.0)), (2, (9.0, 12.0)), (0, (13.0, 16.0))]
    regions = [(0.0, 12.0), (13.0, 16.0)]
    windows = sliding_windows(regions)
    embeddings = _timeline_embeddings(windows, turns, centres)
    labels = cluster_embeddings(embeddings, num_speakers=3)
    segments = assign_speakers(windows, embeddings, labels, regions, overlap_threshold=None)
    assert [s["speaker"] for s in segments] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02", "SPEAKER_00"]
    assert segments[-1]["start"] == 13.0 and segments[-1]["end"] == 16.0  # silence gaps stay silent
    # every boundary is placed within half a hop of the truth
    assert diarization_error_rate(_segments(turns), segments, collar=0.0) < 0.05
    for found, (_, (start, end)) in zip(segments, turns):
        assert abs(found["start"] - start) <= 0.375 + 1e-6 and abs(found["end"] - end) <= 0.375 + 1e-6


def test_long_overlap_gets_two_speakers_and_a_clean_change_does_not():
    centres = np.eye(DIM)[:2]
    turns = [(0, (0.0, 8.0)), (1, (4.0, 7.0)), (1, (10.0, 14.0)), (0, (14.0, 18.0))]
    regions = [(0.0, 8.0), (10.0, 18.0)]
    windows = sliding_windows(regions)
    embeddings = _timeline_embeddings(windows, turns, centres)
    labels = cluster_embeddings(embeddings, num_speakers=2)
    segments = assign_speakers(windows, embeddings, labels, regions, overlap_threshold=0.5)
    overlapped = [(a, b) for a in segments for b in segments if a["speaker"] < b["speaker"] and a["start"] < b["end"] and b["start"] < a["end"]]
    spans = [(max(a["start"], b["start"]), min(a["end"], b["end"])) for a, b in overlapped]
    assert spans, "the 3 s overlap was not found"
    assert all(start >= 3.5 and end <= 7.5 for start, end in spans)  # only around the true overlap, not at 14 s
    without = assign_speakers(windows, embeddings, labels, regions, overlap_threshold=None)
    assert diarization_error_rate(_segments(turns), segments, collar=0.0) < diarization_error_rate(_segments(turns), without, collar=0.0)


def test_assign_checks_its_inputs():
    with pytest.raises(ValueError, match="2 windows, 3 embeddings and 3 labels"):
        assign_speakers([(0, 1), (1, 2)], np.eye(3), np.arange(3), [(0, 2)])
    assert assign_speakers([], np.zeros((0, 3)), np.zeros(0), []) == []
