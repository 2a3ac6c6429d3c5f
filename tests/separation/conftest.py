import pytest
import yaml


@pytest.fixture(scope="session")
def tiny_speech(tmp_path_factory):
    """A speech corpus of 8 speakers x 3 utterances at 8 kHz, built by the real builder in seconds."""
    from zoo.data.speech import build_speech

    out = tmp_path_factory.mktemp("speech") / "speech"
    build_speech(str(out), num_speakers=8, utterances_per_speaker=3, sampling_rate=8000, workers=2, progress=False)
    return out


@pytest.fixture
def tiny_recipe(tiny_speech, tmp_path):
    """A recipe for a 16-channel Conv-TasNet that trains a step in milliseconds; returns its path."""
    recipe = {
        "name": "tiny-convtasnet",
        "task": "audio-source-separation",
        "model": {
            "type": "conv_tasnet",
            "config": dict(
                num_speakers=2, sampling_rate=8000, num_filters=16, kernel_size=16, bottleneck_channels=8,
                hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1,
            ),
        },
        "data": {
            "corpus": str(tiny_speech), "num_speakers": 2, "sampling_rate": 8000, "condition": "clean",
            "segment_seconds": 0.5, "train_examples": 64, "validation_examples": 4, "validation_seconds": 0.5,
        },
        "training": {
            "seed": 0, "batch_size": 2, "learning_rate": 0.003, "warmup_steps": 2, "max_steps": 12,
            "eval_every": 6, "save_every": 3, "log_every": 2, "log_with": "none",
        },
        "output_dir": str(tmp_path / "checkpoint"),
        "run_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path
