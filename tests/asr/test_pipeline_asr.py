"""transformers' own ASR pipeline with a zoo checkpoint: files, arrays, batching, long audio in chunks, remote code.

The checkpoint is a tiny CTC Conformer trained for a second on tone "speech" (see tones.py), so the transcripts
are checked, not only their type.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
from transformers import AutoProcessor, AutoTokenizer, Wav2Vec2CTCTokenizer, Wav2Vec2Processor, pipeline

import zoo  # noqa: F401  (registers the model with AutoModelForCTC)
from zoo import AsrFeatureExtractor, CtcConformerForCTC
from zoo.metrics import cer

from .tones import RATE, TRAIN_TEXTS, tones

LONG = "abc dab cd ba dcb ad bbc da cab acd bd"  # 6 s, never seen whole in training


@pytest.fixture(scope="module")
def asr(tone_folder):
    return pipeline("automatic-speech-recognition", model=tone_folder)


def test_checkpoint_holds_everything_the_pipeline_loads(tone_folder):
    names = set(os.listdir(tone_folder))
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json", "vocab.json", "README.md"} <= names
    assert {"modeling_ctc_conformer.py", "configuration_ctc_conformer.py", "feature_extraction_asr.py"} <= names
    config = json.loads(open(os.path.join(tone_folder, "config.json")).read())
    assert config["auto_map"]["AutoModelForCTC"] == "modeling_ctc_conformer.CtcConformerForCTC"
    assert json.loads(open(os.path.join(tone_folder, "preprocessor_config.json")).read())["processor_class"] == "Wav2Vec2Processor"
    processor = AutoProcessor.from_pretrained(tone_folder)
    assert isinstance(processor, Wav2Vec2Processor) and isinstance(processor.feature_extractor, AsrFeatureExtractor)
    assert isinstance(AutoTokenizer.from_pretrained(tone_folder), Wav2Vec2CTCTokenizer)
    assert "automatic-speech-recognition" in open(os.path.join(tone_folder, "README.md")).read()


def test_pipeline_treats_the_model_as_ctc(asr):
    assert asr.type == "ctc" and isinstance(asr.model, CtcConformerForCTC)
    assert isinstance(asr.feature_extractor, AsrFeatureExtractor) and isinstance(asr.tokenizer, Wav2Vec2CTCTokenizer)


def test_transcribes_a_file(asr, tmp_path):
    path = tmp_path / "speech.wav"
    sf.write(path, tones(TRAIN_TEXTS[0]), RATE)
    assert asr(str(path)) == {"text": TRAIN_TEXTS[0]}
    # another rate is resampled by the pipeline
    sf.write(tmp_path / "speech-8k.wav", tones(TRAIN_TEXTS[0], rate=8000), 8000)
    assert isinstance(asr(str(tmp_path / "speech-8k.wav"))["text"], str)


def test_batching_gives_the_same_text_as_one_by_one(asr):
    texts = TRAIN_TEXTS[:5]  # lengths 0.3 to 1.9 s: every batch is padded
    singles = [asr(tones(t))["text"] for t in texts]
    batched = asr([tones(t) for t in texts], batch_size=2)
    assert [b["text"] for b in batched] == singles == texts


def test_long_audio_in_chunks(asr):
    wave = tones(LONG)
    assert len(wave) / RATE == pytest.approx(6.08)
    whole = asr(wave)["text"]
    chunked = asr({"raw": wave, "sampling_rate": RATE}, chunk_length_s=2)["text"]
    assert isinstance(chunked, str) and cer(LONG, whole) < 0.1
    # 2 s chunks overlapping by 1/3 s each side, stitched at logit level (640 samples per step)
    assert cer(LONG, chunked) < 0.2
    chunked_batched = asr(wave, chunk_length_s=2, batch_size=2)["text"]
    assert chunked_batched == chunked


def test_char_timestamps(asr):
    out = asr(tones("cab"), return_timestamps="char")
    assert out["text"] == "cab" and [c["text"] for c in out["chunks"]] == ["c", "a", "b"]
    starts = [c["timestamp"][0] for c in out["chunks"]]
    assert starts == sorted(starts) and starts[-1] < 0.48


REMOTE_CHILD = textwrap.dedent(
    """
    import sys
    sys.modules["zoo"] = None  # zoo is installed here; make it unimportable, as on a machine without it
    import numpy as np
    from transformers import pipeline

    folder, expected = sys.argv[1], sys.argv[2]
    asr = pipeline("automatic-speech-recognition", model=folder, trust_remote_code=True)
    assert type(asr.model).__module__.startswith("transformers_modules."), type(asr.model).__module__
    assert type(asr.feature_extractor).__module__.startswith("transformers_modules."), type(asr.feature_extractor).__module__
    text = asr(np.load(f"{folder}/../input.npy"))["text"]
    assert text == expected, (text, expected)
    assert "zoo" not in {name.split(".")[0] for name, mod in sys.modules.items() if mod is not None}
    print("REMOTE CODE OK")
    """
)


def test_pipeline_loads_with_trust_remote_code_without_zoo(tone_folder):
    np.save(os.path.join(tone_folder, "..", "input.npy"), tones(TRAIN_TEXTS[2]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_CHILD, tone_folder, TRAIN_TEXTS[2]], capture_output=True, text=True, env=env, timeout=120
    )
    assert "REMOTE CODE OK" in result.stdout, result.stderr[-3000:]
