"""A saved checkpoint loads with `trust_remote_code=True` in a process where zoo cannot be imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import torch

import zoo
from zoo import hub

TINY = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)

CHILD = textwrap.dedent(
    """
    import sys
    sys.modules["zoo"] = None  # zoo is installed here; make it unimportable, as on a machine without it
    try:
        import zoo
    except ImportError:
        pass
    else:
        raise SystemExit("zoo is still importable")

    import numpy as np
    import torch
    from transformers import AutoFeatureExtractor, AutoModel

    folder = sys.argv[1]
    try:
        AutoModel.from_pretrained(folder)
    except ValueError as error:  # without zoo the model type is unknown: the source files are the only way
        assert "trust_remote_code" in str(error), error
    else:
        raise SystemExit("loaded without trust_remote_code although zoo is not importable")

    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    assert type(model).__name__ == "ConvTasNetForSourceSeparation"
    features = AutoFeatureExtractor.from_pretrained(folder)
    mixture = np.load(f"{folder}/../input.npy")
    inputs = features(mixture, sampling_rate=8000, return_tensors="pt")
    with torch.no_grad():
        waveforms = model(**inputs).waveforms.numpy()
    np.testing.assert_allclose(waveforms, np.load(f"{folder}/../expected.npy"), rtol=0, atol=1e-6)
    assert "zoo" not in {name.split(".")[0] for name, mod in sys.modules.items() if mod is not None}
    print("REMOTE CODE OK", waveforms.shape)
    """
)


def test_loads_with_trust_remote_code_without_zoo(tmp_path):
    torch.manual_seed(0)
    model = zoo.ConvTasNetForSourceSeparation(zoo.ConvTasNetConfig(**TINY)).eval()
    folder = hub.save_checkpoint(model, tmp_path / "ckpt", task="audio-source-separation")
    mixture = np.random.default_rng(0).standard_normal(1200).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(mixture)[None]).waveforms.numpy()
    np.save(tmp_path / "input.npy", mixture)
    np.save(tmp_path / "expected.npy", expected)

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))  # remote code is copied under HF_HOME/modules
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "REMOTE CODE OK (1, 2, 1200)" in result.stdout
