"""The blind SI-SNR estimator: the model, its use in the separation pipeline, and its training task end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import AutoModel, Wav2Vec2FeatureExtractor, pipeline

import zoo
from zoo import (
    AutoModelForSpeechQualityAssessment,
    ConvTasNetConfig,
    ConvTasNetForSourceSeparation,
    SiSnrEstimatorConfig,
    SiSnrEstimatorForQualityEstimation,
)
from zoo.metrics import si_snr

TINY = dict(num_filters=16, kernel_size=16, hidden_channels=16, num_blocks=3, mlp_channels=16)
TINY_SEPARATOR = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)


def _tiny(**overrides):
    torch.manual_seed(0)
    return SiSnrEstimatorForQualityEstimation(SiSnrEstimatorConfig(**{**TINY, **overrides})).eval()


def _save(model, path):
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=model.config.sampling_rate, padding_value=0.0, do_normalize=False, return_attention_mask=True
    ).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_speech(tmp_path_factory):
    """8 speakers x 3 utterances at 8 kHz (train, validation, and test with two unseen-voice speakers)."""
    from zoo.data.speech import build_speech

    out = tmp_path_factory.mktemp("speech") / "speech"
    build_speech(str(out), num_speakers=8, utterances_per_speaker=3, sampling_rate=8000, workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def separator_path(tmp_path_factory):
    torch.manual_seed(0)
    return _save(ConvTasNetForSourceSeparation(ConvTasNetConfig(**TINY_SEPARATOR)), tmp_path_factory.mktemp("separator"))


def test_shapes_and_loss():
    model = _tiny()
    mixture, estimates = torch.randn(2, 900), torch.randn(2, 3, 900)
    out = model(mixture, estimates=estimates, labels=torch.tensor([[5.0, -40.0, 12.0], [0.0, 50.0, 3.0]]))
    assert out.si_snr.shape == (2, 3) and out.loss.dim() == 0 and torch.isfinite(out.loss)
    low, high = model.config.si_snr_range
    assert bool(((out.si_snr >= low) & (out.si_snr <= high)).all())
    assert model(mixture, estimates=estimates[:, 0]).si_snr.shape == (2, 1)  # one source as (batch, time)
    with pytest.raises(ValueError, match="estimates must be"):
        model(mixture, estimates=torch.randn(2, 3, 800))
    with pytest.raises(ValueError, match="fewer than one encoder frame"):
        model(torch.randn(1, 8), estimates=torch.randn(1, 1, 8))


def test_padded_batch_equals_one_by_one():
    model = _tiny()
    lengths = [1600, 1037, 700]
    rng = torch.Generator().manual_seed(1)
    mixture, estimates = torch.zeros(3, 1600), torch.zeros(3, 2, 1600)
    mask = torch.zeros(3, 1600, dtype=torch.long)
    for i, n in enumerate(lengths):
        mixture[i, :n] = torch.randn(n, generator=rng)
        estimates[i, :, :n] = torch.randn(2, n, generator=rng)
        mask[i, :n] = 1
    batched = model.estimate(mixture, estimates, mask)
    for i, n in enumerate(lengths):
        single = model.estimate(mixture[i, :n], estimates[i, :, :n])
        torch.testing.assert_close(batched[i : i + 1], single, atol=1e-4, rtol=1e-4)


def test_scores_ignore_the_gain_of_each_input():
    model = _tiny()
    mixture, estimates = torch.randn(1, 1200), torch.randn(1, 2, 1200)
    torch.testing.assert_close(model.estimate(mixture * 7, estimates * 0.01), model.estimate(mixture, estimates), atol=1e-4, rtol=1e-4)


def test_save_load_round_trip(tmp_path):
    model = _tiny(si_snr_range=(-5, 25))
    mixture, estimates = torch.randn(2, 1000), torch.randn(2, 2, 1000)
    path = _save(model, tmp_path / "estimator")
    for auto in (AutoModel, AutoModelForSpeechQualityAssessment):
        loaded = auto.from_pretrained(path).eval()
        assert type(loaded) is SiSnrEstimatorForQualityEstimation and loaded.config.si_snr_range == [-5.0, 25.0]
        torch.testing.assert_close(loaded.estimate(mixture, estimates), model.estimate(mixture, estimates))


def test_loss_decreases_on_a_toy_problem():
    """Estimates are a source plus white noise at a known SNR; the model must learn to read the SNR."""
    torch.manual_seed(0)
    model = SiSnrEstimatorForQualityEstimation(SiSnrEstimatorConfig(**TINY, dropout=0.0))
    source, other = torch.randn(8, 400), torch.randn(8, 400)
    snr_db = torch.linspace(-5, 25, 8)
    estimates = source + torch.randn(8, 400) * 10 ** (-snr_db[:, None] / 20)
    labels = si_snr(estimates, source)[:, None]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model(source + other, estimates=estimates, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_pipeline_fills_estimated_si_snr(separator_path, tmp_path):
    estimator = _tiny()
    path = _save(estimator, tmp_path / "estimator")
    mixture = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    without = pipeline("audio-source-separation", model=separator_path)(mixture, sampling_rate=8000)
    assert [o["estimated_si_snr"] for o in without] == [None, None]

    by_model = pipeline("audio-source-separation", model=separator_path, estimator=estimator)(mixture, sampling_rate=8000)
    by_path = pipeline("audio-source-separation", model=separator_path, estimator=path)(mixture, sampling_rate=8000)
    at_call = pipeline("audio-source-separation", model=separator_path)(mixture, sampling_rate=8000, estimator=path)
    scores = [o["estimated_si_snr"] for o in by_model]
    assert all(isinstance(s, float) and -10 <= s <= 30 for s in scores)
    assert [o["estimated_si_snr"] for o in by_path] == pytest.approx(scores, abs=1e-4)
    assert [o["estimated_si_snr"] for o in at_call] == pytest.approx(scores, abs=1e-4)
    expected = estimator.estimate(mixture, np.stack([o["audio"] for o in by_model]))[0].tolist()
    assert scores == pytest.approx(expected, abs=1e-4)

    # an estimator at another rate gets the sources resampled to it; a plain callable still works
    at_16k = pipeline("audio-source-separation", model=separator_path, estimator=_tiny(sampling_rate=16000))(mixture, sampling_rate=8000)
    assert all(isinstance(o["estimated_si_snr"], float) for o in at_16k)
    called = pipeline("audio-source-separation", model=separator_path, estimator=lambda m, e: torch.full(e.shape[:2], 3.0))
    assert [o["estimated_si_snr"] for o in called(mixture, sampling_rate=8000)] == [3.0, 3.0]
    with pytest.raises(ValueError, match="no .estimate"):
        pipeline("audio-source-separation", model=separator_path, estimator=separator_path)


def test_training_task_end_to_end(tiny_speech, separator_path, tmp_path):
    """Separate, cache, train a few steps, save a Hub-layout checkpoint, then `zoo eval` it into the card."""
    from zoo.data.separated import SeparatedEstimates
    from zoo.evaluate import main as eval_main
    from zoo.train import main as train_main

    recipe = {
        "name": "tiny-sisnr-estimator",
        "task": "speech-quality-assessment",
        "model": {"type": "si_snr_estimator", "config": TINY},
        "data": {
            "corpus": str(tiny_speech), "separators": [separator_path], "num_speakers": 2, "sampling_rate": 8000,
            "segment_seconds": 0.5, "train_mixtures": 8, "validation_mixtures": 4, "validation_seconds": 0.5,
            "degraded_per_estimate": 1, "cache_dir": str(tmp_path / "cache"),
        },
        "training": {"batch_size": 4, "max_steps": 4, "eval_every": 2, "save_every": 2, "log_every": 1, "log_with": "none"},
        "output_dir": str(tmp_path / "checkpoint"),
        "run_dir": str(tmp_path / "run"),
    }
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    assert train_main([str(recipe_path)]) == 0

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["metric"] == "pearson" and [h["step"] for h in summary["history"]] == [2, 4]
    assert {"pearson", "mae_db"} <= set(summary["history"][-1]) and not any(k.startswith("_") for k in summary["history"][-1])
    assert -1 <= summary["history"][-1]["pearson"] <= 1
    assert sorted(p.name.split("-")[1] for p in (tmp_path / "cache").glob("*.npz")) == ["train", "validation"]

    # the cached examples: raw estimates carry their stored SI-SNR, degraded copies are scored afresh
    task = zoo.train.get_task(zoo.train.load_recipe(recipe_path))
    examples = task.train_dataset()
    assert isinstance(examples, SeparatedEstimates) and len(examples) == 8 * 2 * 2
    for item in (examples[0], examples[1]):
        assert item["mixture"].shape == item["estimate"].shape == (4000,)
        reference = examples.arrays["sources"][0, 0].astype(np.float32)
        assert item["si_snr"] == pytest.approx(float(si_snr(torch.from_numpy(item["estimate"]), torch.from_numpy(reference))), abs=0.05)

    checkpoint = Path(recipe["output_dir"])
    assert AutoModel.from_pretrained(checkpoint).config.model_type == "si_snr_estimator"
    assert eval_main([str(checkpoint), "--num-examples", "2"]) == 0
    card = (checkpoint / "README.md").read_text()
    assert "unseen voices, separator outputs of" in card and "pearson" in card and 'estimator="' in card


REMOTE_CHILD = """
import sys
sys.modules["zoo"] = None  # as on a machine without zoo
import numpy as np, torch
from transformers import AutoModel
model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
inputs = np.load(sys.argv[1] + "/../inputs.npz")
scores = model.estimate(inputs["mixture"], inputs["estimates"]).numpy()
np.testing.assert_allclose(scores, inputs["expected"], atol=1e-5)
print("REMOTE CODE OK")
"""


def test_checkpoint_loads_as_remote_code_without_zoo(tmp_path):
    import os
    import subprocess
    import sys

    from zoo import hub

    model = _tiny()
    folder = hub.save_checkpoint(model, tmp_path / "ckpt", task="speech-quality-assessment", datasets=["tiny"], metrics={"pearson": 0.5})
    mixture, estimates = np.random.default_rng(0).standard_normal((2, 2, 1200)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", mixture=mixture, estimates=estimates, expected=model.estimate(mixture, estimates).numpy())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    result = subprocess.run([sys.executable, "-c", REMOTE_CHILD, str(folder)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "REMOTE CODE OK" in result.stdout, result.stdout + result.stderr
