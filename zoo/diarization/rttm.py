"""Diarization segments: RTTM files and the diarization error rate.

A *segment* is a dict `{"speaker": str, "start": float, "end": float}` in seconds: what the
`speaker-diarization` pipeline returns and what a `zoo data conversations` row holds in `segments`.
Segments of different speakers may overlap (two people talking at once).

RTTM (NIST Rich Transcription Time Marked) has one `SPEAKER` line per segment:
`SPEAKER <file-id> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>`.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable
from typing import IO, Union

PathOrFile = Union[str, os.PathLike, IO[str]]


def check_segments(segments: Iterable[dict], name: str = "segments") -> list[dict]:
    """Validated copies `{"speaker", "start", "end"}` sorted by start; raises ValueError naming a bad segment.

    >>> check_segments([{"speaker": "B", "start": 2, "end": 3.5}, {"speaker": "A", "start": 0, "end": 1}])
    [{'speaker': 'A', 'start': 0.0, 'end': 1.0}, {'speaker': 'B', 'start': 2.0, 'end': 3.5}]
    """
    if isinstance(segments, (str, bytes)) or not hasattr(segments, "__iter__"):
        raise ValueError(f"{name} must be a list of {{'speaker', 'start', 'end'}} dicts, got {type(segments).__name__}")
    out = []
    for index, segment in enumerate(segments):
        if not isinstance(segment, dict) or not {"speaker", "start", "end"} <= set(segment):
            raise ValueError(f"{name}[{index}] = {segment!r} is not a dict with 'speaker', 'start' and 'end' (seconds)")
        start, end = float(segment["start"]), float(segment["end"])
        if not (0 <= start <= end):
            raise ValueError(f"{name}[{index}] = {segment!r} needs 0 <= start <= end (seconds)")
        out.append({"speaker": str(segment["speaker"]), "start": start, "end": end})
    return sorted(out, key=lambda s: (s["start"], s["end"], s["speaker"]))


def _check_token(value: str, what: str) -> str:
    value = str(value)
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"RTTM {what} {value!r} must be non-empty and without whitespace; replace spaces with '_'")
    return value


def write_rttm(segments: Iterable[dict], file_id: str, path_or_file: PathOrFile) -> None:
    """Write segments as RTTM `SPEAKER` lines.

    Args:
        segments: `{"speaker", "start", "end"}` dicts (seconds).
        file_id: the recording's name in the RTTM (no whitespace).
        path_or_file: a path (overwritten) or an open text file (appended to, so several recordings
            can share one RTTM file).

    >>> import io
    >>> buffer = io.StringIO()
    >>> write_rttm([{"speaker": "SPEAKER_00", "start": 0.5, "end": 1.75}], "meeting", buffer)
    >>> buffer.getvalue()
    'SPEAKER meeting 1 0.500 1.250 <NA> <NA> SPEAKER_00 <NA> <NA>\\n'
    """
    file_id = _check_token(file_id, "file id")
    lines = [
        f"SPEAKER {file_id} 1 {s['start']:.3f} {s['end'] - s['start']:.3f} <NA> <NA> {_check_token(s['speaker'], 'speaker')} <NA> <NA>\n"
        for s in check_segments(segments)
    ]
    if hasattr(path_or_file, "write"):
        path_or_file.writelines(lines)
        return
    with open(os.fspath(path_or_file), "w", encoding="utf-8") as handle:
        handle.writelines(lines)


def read_rttm(path_or_file: PathOrFile) -> dict[str, list[dict]]:
    """Read an RTTM file: `{file_id: [segments sorted by start]}`; lines other than `SPEAKER` are skipped.

    >>> import io
    >>> read_rttm(io.StringIO("SPEAKER a 1 0.5 1.25 <NA> <NA> spk1 <NA> <NA>\\n"))
    {'a': [{'speaker': 'spk1', 'start': 0.5, 'end': 1.75}]}
    """
    if hasattr(path_or_file, "read"):
        name, text = getattr(path_or_file, "name", "<file>"), path_or_file.read()
    else:
        name = os.fspath(path_or_file)
        if not os.path.exists(name):
            raise FileNotFoundError(f"RTTM file {name!r} does not exist; check the path")
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    recordings: dict[str, list[dict]] = {}
    for number, line in enumerate(io.StringIO(text), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";", "#")) or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise ValueError(f"{name}:{number}: a SPEAKER line needs at least 8 fields (type file chnl tbeg tdur ortho stype name), got {line.strip()!r}")
        try:
            start, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise ValueError(f"{name}:{number}: start {fields[3]!r} and duration {fields[4]!r} must be numbers (seconds)") from None
        if start < 0 or duration < 0:
            raise ValueError(f"{name}:{number}: negative start {start} or duration {duration}")
        recordings.setdefault(fields[1], []).append({"speaker": fields[7], "start": start, "end": round(start + duration, 6)})
    return {file_id: check_segments(segments) for file_id, segments in recordings.items()}


def to_annotation(segments: Iterable[dict], uri: str | None = None):
    """A `pyannote.core.Annotation` of the segments (zero-length ones dropped)."""
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for index, segment in enumerate(check_segments(segments)):
        if segment["end"] > segment["start"]:
            annotation[Segment(segment["start"], segment["end"]), index] = segment["speaker"]
    return annotation


def diarization_error_rate(
    reference_segments: Iterable[dict],
    hypothesis_segments: Iterable[dict],
    collar: float = 0.25,
    skip_overlap: bool = False,
    uem: tuple[float, float] | None = None,
    detailed: bool = False,
):
    """Diarization error rate with `pyannote.metrics`: (missed + false alarm + confusion) / reference speech.

    Speaker names need not match: the hypothesis is mapped to the reference with the optimal one-to-one
    mapping. A fraction, not a percentage (0.1 = 10 %); it can exceed 1 with much false alarm.

    Args:
        reference_segments: the ground truth.
        hypothesis_segments: the system output.
        collar: total width in seconds of the unscored zone centred on each reference boundary, as
            pyannote.metrics counts it (0.25 = +-0.125 s; NIST md-eval's `-c 0.25` is `collar=0.5` here).
        skip_overlap: do not score regions where reference speakers overlap.
        uem: `(start, end)` seconds of the scored region; default: from the earliest to the latest segment
            of either side.
        detailed: return a dict with `der` and its parts in seconds: `missed_detection`, `false_alarm`,
            `confusion`, `total` (reference speech scored), so rates over many files can be pooled.

    >>> ref = [{"speaker": "A", "start": 0, "end": 2}, {"speaker": "B", "start": 2, "end": 4}]
    >>> diarization_error_rate(ref, [{"speaker": "x", "start": 0, "end": 2}, {"speaker": "y", "start": 2, "end": 4}])
    0.0
    >>> diarization_error_rate(ref, [{"speaker": "x", "start": 0, "end": 4}], collar=0.0)
    0.5
    """
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    if collar < 0:
        raise ValueError(f"collar={collar} must be >= 0 seconds")
    reference, hypothesis = check_segments(reference_segments, "reference"), check_segments(hypothesis_segments, "hypothesis")
    if uem is None:
        spans = reference + hypothesis
        uem = (min((s["start"] for s in spans), default=0.0), max((s["end"] for s in spans), default=0.0))
    if uem[1] < uem[0]:
        raise ValueError(f"uem={uem} must be (start, end) with start <= end")
    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyannote warns about empty annotations; an empty side is a legitimate input here
        components = metric.compute_components(
            to_annotation(reference), to_annotation(hypothesis), uem=Timeline([Segment(*uem)]) if uem[1] > uem[0] else Timeline()
        )
    der = float(metric.compute_metric(components))
    if not detailed:
        return der
    return {
        "der": der,
        "missed_detection": float(components["missed detection"]),
        "false_alarm": float(components["false alarm"]),
        "confusion": float(components["confusion"]),
        "total": float(components["total"]),
    }
