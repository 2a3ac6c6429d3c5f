"""RTTM reading and writing, and the diarization error rate on hand-made cases."""

import io

import pytest

from zoo.diarization.rttm import (
    check_segments,
    diarization_error_rate,
    read_rttm,
    write_rttm,
)

REFERENCE = [
    {"speaker": "alice", "start": 0.0, "end": 4.0},
    {"speaker": "bob", "start": 3.5, "end": 7.25},  # overlaps alice for 0.5 s
    {"speaker": "alice", "start": 8.0, "end": 10.0},
]


def test_round_trip_through_a_file(tmp_path):
    path = tmp_path / "conversation.rttm"
    write_rttm(REFERENCE, "conv_1", path)
    assert read_rttm(path) == {"conv_1": check_segments(REFERENCE)}
    assert path.read_text().splitlines()[1] == "SPEAKER conv_1 1 3.500 3.750 <NA> <NA> bob <NA> <NA>"


def test_several_recordings_share_one_open_file(tmp_path):
    path = tmp_path / "all.rttm"
    with open(path, "w") as handle:
        write_rttm(REFERENCE, "a", handle)
        write_rttm(REFERENCE[:1], "b", handle)
    recordings = read_rttm(str(path))
    assert sorted(recordings) == ["a", "b"] and len(recordings["a"]) == 3 and recordings["b"] == check_segments(REFERENCE[:1])


def test_comments_and_other_line_types_are_skipped():
    text = ";; a comment\nSPKR-INFO x 1 <NA> <NA> <NA> unknown a <NA> <NA>\n\nSPEAKER x 1 1.0 0.5 <NA> <NA> a <NA> <NA>\n"
    assert read_rttm(io.StringIO(text)) == {"x": [{"speaker": "a", "start": 1.0, "end": 1.5}]}


@pytest.mark.parametrize(
    "text, message",
    [
        ("SPEAKER x 1 1.0\n", r"<file>:1: a SPEAKER line needs at least 8 fields"),
        ("\nSPEAKER x 1 one 0.5 <NA> <NA> a <NA> <NA>\n", r":2: start 'one' and duration '0.5' must be numbers"),
        ("SPEAKER x 1 1.0 -0.5 <NA> <NA> a <NA> <NA>\n", "negative"),
    ],
)
def test_bad_lines_are_refused_with_their_number(text, message):
    with pytest.raises(ValueError, match=message):
        read_rttm(io.StringIO(text))


def test_missing_file_and_bad_names_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.rttm"):
        read_rttm(tmp_path / "nope.rttm")
    with pytest.raises(ValueError, match="file id 'my meeting'"):
        write_rttm(REFERENCE, "my meeting", io.StringIO())
    with pytest.raises(ValueError, match="speaker 'bob smith'"):
        write_rttm([{"speaker": "bob smith", "start": 0, "end": 1}], "x", io.StringIO())


@pytest.mark.parametrize(
    "segments, message",
    [
        ([{"speaker": "a", "start": 2.0, "end": 1.0}], r"segments\[0\].*0 <= start <= end"),
        ([{"speaker": "a", "start": 0.0}], r"segments\[0\].*'end'"),
        ("a.rttm", "list of"),
    ],
)
def test_bad_segments_are_refused(segments, message):
    with pytest.raises(ValueError, match=message):
        check_segments(segments)


def test_perfect_hypothesis_has_zero_der_whatever_the_names():
    renamed = [{**s, "speaker": {"alice": "SPEAKER_01", "bob": "SPEAKER_00"}[s["speaker"]]} for s in REFERENCE]
    assert diarization_error_rate(REFERENCE, renamed) == 0.0
    assert diarization_error_rate(REFERENCE, renamed, collar=0.0, skip_overlap=True) == 0.0


def test_hand_computed_errors():
    # reference speech: alice 4 + bob 3.75 + alice 2 = 9.75 s; the hypothesis gives everything to one speaker,
    # 0-7.25 and 8-10: in the 0.5 s overlap one speaker is missed, bob's 3.25 s alone are confused
    hypothesis = [{"speaker": "x", "start": 0.0, "end": 7.25}, {"speaker": "x", "start": 8.0, "end": 10.0}]
    parts = diarization_error_rate(REFERENCE, hypothesis, collar=0.0, detailed=True)
    assert parts["total"] == pytest.approx(9.75)
    assert parts["missed_detection"] == pytest.approx(0.5)
    assert parts["confusion"] == pytest.approx(3.25)
    assert parts["false_alarm"] == pytest.approx(0.0)
    assert parts["der"] == pytest.approx(3.75 / 9.75)
    # skipping the overlap removes its 1 s of reference speech (0.5 s x 2 speakers) and the miss
    skipped = diarization_error_rate(REFERENCE, hypothesis, collar=0.0, skip_overlap=True, detailed=True)
    assert skipped["total"] == pytest.approx(8.75) and skipped["missed_detection"] == pytest.approx(0.0)


def test_false_alarm_over_the_scored_region_and_collar():
    reference = [{"speaker": "a", "start": 1.0, "end": 3.0}]
    late = [{"speaker": "b", "start": 1.1, "end": 3.0}]  # starts 0.1 s late
    assert diarization_error_rate(reference, late, collar=0.0) == pytest.approx(0.05)
    assert diarization_error_rate(reference, late, collar=0.25) == 0.0  # +-0.125 s around boundaries is not scored
    noisy = [{"speaker": "b", "start": 0.0, "end": 3.0}]
    parts = diarization_error_rate(reference, noisy, collar=0.0, uem=(0.0, 5.0), detailed=True)
    assert parts["false_alarm"] == pytest.approx(1.0) and parts["der"] == pytest.approx(0.5)


def test_empty_sides():
    assert diarization_error_rate([], []) == 0.0
    assert diarization_error_rate(REFERENCE, [], collar=0.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="collar=-1"):
        diarization_error_rate(REFERENCE, REFERENCE, collar=-1)
