"""Speaker diarization: voice activity detection, the `speaker-diarization` pipeline, RTTM files and DER.

    from transformers import pipeline
    import zoo  # registers the pipelines

    diarize = pipeline("speaker-diarization", model="checkpoints/ecapa-tdnn-zoo-16k")
    segments = diarize("meeting.wav")                # [{"speaker": "SPEAKER_00", "start": 0.5, "end": 3.2}, ...]
    write_rttm(segments, "meeting", "meeting.rttm")
    diarization_error_rate(read_rttm("reference.rttm")["meeting"], segments)
"""

from .pipeline_diarization import (
    SpeakerDiarizationPipeline,
    assign_speakers,
    cluster_embeddings,
    sliding_windows,
)
from .rttm import (
    check_segments,
    diarization_error_rate,
    read_rttm,
    to_annotation,
    write_rttm,
)
from .vad import EnergyVad, SileroVad, detect_speech, silero_available

__all__ = [
    "EnergyVad",
    "SileroVad",
    "SpeakerDiarizationPipeline",
    "assign_speakers",
    "check_segments",
    "cluster_embeddings",
    "detect_speech",
    "diarization_error_rate",
    "read_rttm",
    "silero_available",
    "sliding_windows",
    "to_annotation",
    "write_rttm",
]
