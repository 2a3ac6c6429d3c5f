"""Fixtures for the Space tests: tiny random checkpoints, the `zoo demo` server, and a headless chromium.

The browser tests drive Debian's chromium (`apt-get install chromium`) through the `playwright` package's
bundled driver; `playwright install` is never needed. They skip, saying so, when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from ..servers import free_port, serving

REPO_ROOT = Path(__file__).resolve().parents[2]
SPACES_DIR = REPO_ROOT / "spaces"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT_S = 240  # imports take ~15 s (~30 s on a loaded 2-core runner), then each Space warms its models
TINY = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)


def save_tiny_checkpoint(folder: Path, head: str, num_speakers: int, sampling_rate: int) -> Path:
    """A random-weights Conv-TasNet checkpoint in Hub layout (config, safetensors, feature extractor)."""
    from transformers import Wav2Vec2FeatureExtractor

    import zoo

    model_class = getattr(zoo, head)
    model_class(zoo.ConvTasNetConfig(num_speakers=num_speakers, sampling_rate=sampling_rate, **TINY)).save_pretrained(
        folder
    )
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, do_normalize=False, return_attention_mask=True
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_separation_checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny-sep-8k"), "ConvTasNetForSourceSeparation", 2, 8000)


@pytest.fixture(scope="session")
def tiny_estimator_checkpoint(tmp_path_factory) -> Path:
    """A random-weights blind SI-SNR estimator, so the Space shows estimates without the shipped one."""
    import zoo

    folder = tmp_path_factory.mktemp("tiny-estimator-8k")
    config = zoo.SiSnrEstimatorConfig(num_filters=16, hidden_channels=8, num_blocks=2, mlp_channels=8)
    zoo.SiSnrEstimatorForQualityEstimation(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_enhancement_checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny-enh-16k"), "ConvTasNetForSpeechEnhancement", 1, 16000)


TINY_ECAPA = dict(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16)


def save_tiny_speaker_checkpoint(folder: Path, model_type: str, threshold: float | None) -> Path:
    """A random-weights speaker-embedding checkpoint (ECAPA-TDNN or x-vector) with its log-mel feature extractor."""
    import torch

    import zoo

    torch.manual_seed(0)
    if model_type == "ecapa_tdnn":
        model = zoo.EcapaTdnnForSpeakerEmbedding(zoo.EcapaTdnnConfig(**TINY_ECAPA, threshold=threshold))
    else:
        model = zoo.XvectorForSpeakerEmbedding(zoo.XvectorConfig(hidden_size=16, embedding_size=16, threshold=threshold))
    model.save_pretrained(folder)
    zoo.SpeakerFeatureExtractor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_speaker_checkpoint(tmp_path_factory) -> Path:
    """A tiny random ECAPA-TDNN with a decision threshold, as a calibrated checkpoint has."""
    return save_tiny_speaker_checkpoint(tmp_path_factory.mktemp("tiny-ecapa-16k"), "ecapa_tdnn", 0.5)


@pytest.fixture(scope="session")
def tiny_xvector_checkpoint(tmp_path_factory) -> Path:
    """A tiny random x-vector without a threshold (uncalibrated)."""
    return save_tiny_speaker_checkpoint(tmp_path_factory.mktemp("tiny-xvector-16k"), "xvector", None)




@pytest.fixture(scope="session")
def tiny_asr_checkpoint(tmp_path_factory) -> Path:
    """A tiny CTC Conformer trained for a second to read tone "speech" (tests/asr/tones.py), in Hub layout: real
    transcripts from a checkpoint that loads in a blink."""
    import torch

    from zoo.hub import save_checkpoint

    from ..asr.tones import train_tone_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, processor, _ = train_tone_model()
    finally:
        torch.set_num_threads(threads)
    folder = tmp_path_factory.mktemp("tiny-asr") / "tone-ctc"
    return save_checkpoint(model, folder, feature_extractor=processor, task="automatic-speech-recognition")


def write_flat_arpa(path: Path, words) -> Path:
    """An ARPA bigram LM in which every word (and </s>, <unk>) is equally likely after anything: the smallest model
    kenlm loads (it wants a bigram section), enough for the LM to limit the beam search to `words`."""
    import math

    vocabulary = [*words, "</s>", "<unk>"]
    log10_p = f"{math.log10(1 / len(vocabulary)):.6f}"
    lines = ["\\data\\", f"ngram 1={len(vocabulary) + 1}", f"ngram 2={len(vocabulary)}", "", "\\1-grams:", "-99\t<s>\t0"]
    lines += [f"{log10_p}\t{word}\t0" for word in vocabulary]
    lines += ["", "\\2-grams:"] + [f"{log10_p}\t<s> {word}" for word in vocabulary]
    path.write_text("\n".join([*lines, "", "\\end\\", ""]))
    return path


@pytest.fixture(scope="session")
def tiny_asr_lm_checkpoint(tiny_asr_checkpoint, tmp_path_factory) -> Path | None:
    """The tone CTC model with a flat word LM (via pyctcdecode) as a `Wav2Vec2ProcessorWithLM` folder, which the
    stock ASR pipeline decodes with beam search; None without pyctcdecode and kenlm."""
    try:
        import kenlm  # noqa: F401  (pyctcdecode needs it to load an LM)
        from pyctcdecode import build_ctcdecoder
    except ImportError:
        return None
    import shutil

    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-asr-lm") / "tone-ctc-lm"
    shutil.copytree(tiny_asr_checkpoint, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # pyctcdecode's labels, by id: "" is the CTC blank, " " the word delimiter
    special = {tokenizer.pad_token: "", tokenizer.word_delimiter_token: " ", tokenizer.unk_token: "\u2047"}
    labels = [special.get(token, token) for token in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))]
    from ..asr.tones import TRAIN_TEXTS

    words = sorted({word for text in TRAIN_TEXTS for word in text.split()})  # what the tone model was taught
    arpa = write_flat_arpa(tmp_path_factory.mktemp("tone-lm") / "tone.arpa", words)
    decoder = build_ctcdecoder(labels, kenlm_model_path=str(arpa), beta=0.0)  # no word bonus: "acdc", not "ac c"
    # what Wav2Vec2ProcessorWithLM.save_pretrained writes (that class refuses a feature extractor other than
    # wav2vec2's): the decoder's alphabet.json + language_model/, and the processor class the pipeline looks for
    decoder.save_to_dir(str(folder))
    config = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**config, "processor_class": "Wav2Vec2ProcessorWithLM"}, indent=2))
    return folder


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM}; install it with `apt-get install -y chromium`"
        )
    return CHROMIUM


def serve_demo(workdir: Path, models: dict[str, str]):
    """Run `zoo demo` on a free port with the ZOO_*_MODEL variables in `models` (the others unset, so the Spaces
    use the checkpoints shipped in the repo); yield its URL once it answers, then stop it."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not (key.startswith("ZOO_") and key.endswith("_MODEL"))}
    env |= {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **models}
    command = [sys.executable, "-m", "zoo.cli", "demo", "--port", str(port), "--spaces-dir", str(SPACES_DIR)]
    url = f"http://127.0.0.1:{port}/"
    with serving(command, url, workdir / "zoo-demo.log", SERVER_START_TIMEOUT_S, "`zoo demo`", cwd=workdir, env=env):
        yield url


@pytest.fixture(scope="session")
def demo_url(
    chromium_path,
    tiny_separation_checkpoint,
    tiny_enhancement_checkpoint,
    tiny_estimator_checkpoint,
    tiny_speaker_checkpoint,
    tiny_xvector_checkpoint,
    tiny_asr_checkpoint,
    tiny_asr_lm_checkpoint,
    tmp_path_factory,
):
    """`zoo demo` with its Spaces pointed at tiny random checkpoints (fast, independent of the shipped weights)."""
    # the working directory is not the repo root: the Spaces must not depend on the cwd
    yield from serve_demo(
        tmp_path_factory.mktemp("demo"),
        {
            "ZOO_SEPARATION_MODEL": str(tiny_separation_checkpoint),
            "ZOO_ENHANCEMENT_MODEL": str(tiny_enhancement_checkpoint),
            "ZOO_ESTIMATOR_MODEL": str(tiny_estimator_checkpoint),
            "ZOO_SPEAKER_MODEL": str(tiny_speaker_checkpoint),
            "ZOO_SPEAKER_LEADERBOARD": f"{tiny_speaker_checkpoint},{tiny_xvector_checkpoint}",
            "ZOO_ASR_MODEL": ",".join(str(m) for m in (tiny_asr_checkpoint, tiny_asr_lm_checkpoint) if m is not None),
        },
    )


@pytest.fixture(scope="session")
def shipped_demo_url(chromium_path, tmp_path_factory):
    """`zoo demo` exactly as README command 1 runs it: the checkpoints shipped in checkpoints/, no overrides."""
    yield from serve_demo(tmp_path_factory.mktemp("shipped-demo"), {})


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, demo_url):
    """A fresh tab on the demo, loaded, 30 s default timeout for every wait."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(demo_url)
    yield page
    context.close()
