"""ECAPA-TDNN, and the checks every zoo speaker-embedding model must pass (`SpeakerModelTests`, used by test_xvector)."""

import ast
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioXVector

import zoo
from zoo import EcapaTdnnConfig, EcapaTdnnForSpeakerEmbedding, EcapaTdnnModel, SpeakerFeatureExtractor, hub

# a checkpoint loads with trust_remote_code=True where zoo cannot be imported (see tests/test_remote_code.py)
REMOTE_CHILD = textwrap.dedent(
    """
    import sys
    sys.modules["zoo"] = None  # zoo is installed here; make it unimportable, as on a machine without it
    import numpy as np
    import torch
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioXVector

    folder, class_name = sys.argv[1], sys.argv[2]
    # transformers' own Auto class for speaker embeddings resolves too (auto_map names it)
    assert type(AutoModelForAudioXVector.from_pretrained(folder, trust_remote_code=True)).__name__ == class_name
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    features = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    assert type(features).__module__.startswith("transformers_modules."), type(features).__module__
    assert type(model).__name__ == class_name, type(model).__name__
    inputs = features(np.load(f"{folder}/../input.npy"), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        embeddings = model(**inputs).embeddings.numpy()
    np.testing.assert_allclose(embeddings, np.load(f"{folder}/../expected.npy"), rtol=0, atol=1e-5)
    assert model.config.threshold == 0.25
    assert "zoo" not in {name.split(".")[0] for name, mod in sys.modules.items() if mod is not None}
    print("REMOTE CODE OK", embeddings.shape)
    """
)


class SpeakerModelTests:
    config_class = None  # e.g. EcapaTdnnConfig
    model_class = None  # e.g. EcapaTdnnForSpeakerEmbedding
    base_class = None  # e.g. EcapaTdnnModel
    tiny: dict = {}  # config values of a model that runs in milliseconds, with embedding_size=16

    @pytest.fixture(autouse=True, scope="class")
    def one_thread(self):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)

    def make(self, cls=None, **overrides):
        torch.manual_seed(0)
        return (cls or self.model_class)(self.config_class(**{**self.tiny, **overrides}))

    @pytest.fixture
    def model(self):
        return self.make().eval()

    def test_output_shapes(self, model):
        out = model(torch.randn(3, 150, 80))
        assert out.embeddings.shape == (3, 16)
        torch.testing.assert_close(out.embeddings.norm(dim=-1), torch.ones(3))
        assert out.loss is None and out.logits is None  # num_labels=0: no classifier

    def test_classifier_loss_and_logits(self):
        model = self.make(num_labels=7)
        out = model(torch.randn(4, 90, 80), labels=torch.tensor([0, 6, 2, 2]))
        assert out.logits.shape == (4, 7) and out.loss.dim() == 0 and torch.isfinite(out.loss)
        assert model(torch.randn(2, 90, 80)).loss is None  # logits without labels, no loss
        with pytest.raises(ValueError, match=r"in \[0, 7\)"):
            model(torch.randn(2, 90, 80), labels=torch.tensor([0, 7]))

    def test_labels_need_a_classifier(self, model):
        with pytest.raises(ValueError, match="num_labels=0"):
            model(torch.randn(2, 90, 80), labels=torch.tensor([0, 1]))

    def test_padded_batch_equals_one_by_one(self, model):
        lengths = [300, 211, 57, 3]  # 3 frames: shorter than the widest receptive field, surrounded by padding
        inputs = torch.zeros(len(lengths), max(lengths), 80)
        mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
        singles = []
        with torch.no_grad():
            for i, n in enumerate(lengths):
                x = torch.randn(n, 80)
                inputs[i, :n], mask[i, :n] = x, 1
                singles.append(model(x[None]).embeddings[0])
            inputs[mask == 0] = 123.0  # whatever the padding holds, it must not matter
            batched = model(inputs, attention_mask=mask).embeddings
        for i in range(len(lengths)):
            torch.testing.assert_close(batched[i], singles[i], atol=1e-4, rtol=0)

    def test_silence_gives_finite_embeddings(self, model):
        assert torch.isfinite(model(torch.zeros(2, 100, 80)).embeddings).all()
        trained = self.make(num_labels=3)
        out = trained(torch.zeros(2, 100, 80), labels=torch.tensor([0, 1]))
        out.loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in trained.parameters() if p.grad is not None)

    def test_bad_inputs_name_the_fix(self, model):
        with pytest.raises(ValueError, match="feature extractor"):
            model(torch.randn(1, 16000))  # a waveform, not features
        with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
            model(torch.randn(1, 100, 40))
        with pytest.raises(ValueError, match="attention_mask must be"):
            model(torch.randn(2, 100, 80), attention_mask=torch.ones(2, 99))
        with pytest.raises(ValueError, match="no real frames"):
            model(torch.randn(2, 100, 80), attention_mask=torch.tensor([[1] * 100, [0] * 100]))

    def test_save_load_round_trip_and_auto_classes(self, tmp_path):
        model = self.make(num_labels=3, id2label={0: "alice", 1: "bob", 2: "carol"}, threshold=0.42).eval()
        model.save_pretrained(tmp_path)
        SpeakerFeatureExtractor().save_pretrained(tmp_path)
        config = AutoConfig.from_pretrained(tmp_path)
        assert type(config) is self.config_class
        assert config.threshold == 0.42 and config.id2label == {0: "alice", 1: "bob", 2: "carol"}
        assert config.label2id == {"alice": 0, "bob": 1, "carol": 2}
        assert isinstance(AutoFeatureExtractor.from_pretrained(tmp_path), SpeakerFeatureExtractor)
        x = torch.randn(2, 120, 80)
        for auto in (AutoModelForAudioXVector, AutoModel):
            loaded = auto.from_pretrained(tmp_path).eval()
            assert type(loaded) is self.model_class
            out, expected = loaded(x), model(x)
            torch.testing.assert_close(out.embeddings, expected.embeddings)
            torch.testing.assert_close(out.logits, expected.logits)

    def test_base_model_gives_the_same_embeddings(self, model):
        base = self.make(self.base_class).eval()
        base.load_state_dict({k.split(".", 1)[1]: v for k, v in model.state_dict().items()})
        x = torch.randn(2, 80, 80)
        torch.testing.assert_close(base(x).embeddings, model(x).embeddings)

    def test_training_separates_two_toy_speakers(self):
        """Two 'speakers' with different spectral shapes: a few steps bring same-speaker cosines above cross ones."""
        torch.manual_seed(0)
        model = self.make(num_labels=2)
        shapes = torch.randn(2, 1, 80)
        labels = torch.tensor([0, 1] * 4)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(25):
            x = shapes[labels] + torch.randn(8, 60, 80)  # (batch, frames, mels)
            loss = model(x, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        assert np.mean(losses[-5:]) < np.mean(losses[:5])
        model.eval()
        with torch.no_grad():
            e = model(shapes[labels] + torch.randn(8, 60, 80)).embeddings
        cos = e @ e.T
        same = labels[:, None] == labels[None, :]
        off_diagonal = ~torch.eye(8, dtype=torch.bool)
        assert cos[same & off_diagonal].mean() > cos[~same].mean() + 0.2

    def test_modeling_file_imports_only_torch_and_transformers(self):
        # a Hub folder carries this file for `trust_remote_code=True` where zoo is not installed
        modeling = importlib.import_module(self.model_class.__module__)
        config_module = self.config_class.__module__.rsplit(".", 1)[1]
        nodes = list(ast.walk(ast.parse(Path(modeling.__file__).read_text())))
        roots = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        roots |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom) and node.level == 0}
        relative = {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.level > 0}
        assert roots <= {"__future__", "concurrent", "os", "dataclasses", "math", "typing", "torch", "transformers"}, roots
        assert relative == {config_module}, relative

    def test_checkpoint_loads_with_trust_remote_code_without_zoo(self, tmp_path):
        model = self.make(threshold=0.25).eval()
        features = SpeakerFeatureExtractor()
        folder = hub.save_checkpoint(model, tmp_path / "ckpt", feature_extractor=features, task="speaker-embedding")
        assert {"feature_extraction_speaker.py", Path(importlib.import_module(self.model_class.__module__).__file__).name} <= {
            p.name for p in folder.iterdir()
        }
        waves = [np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1 for n in (8000, 5000)]
        np.save(tmp_path / "input.npy", waves[0])
        with torch.no_grad():
            expected = model(**features(waves[0], sampling_rate=16000, return_tensors="pt")).embeddings.numpy()
        np.save(tmp_path / "expected.npy", expected)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), OMP_NUM_THREADS="1")
        result = subprocess.run(
            [sys.executable, "-c", REMOTE_CHILD, str(folder), self.model_class.__name__],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "REMOTE CODE OK (1, 16)" in result.stdout


class TestEcapaTdnn(SpeakerModelTests):
    config_class = EcapaTdnnConfig
    model_class = EcapaTdnnForSpeakerEmbedding
    base_class = EcapaTdnnModel
    tiny = dict(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16)


def test_published_size_matches_speechbrain():
    """SpeechBrain's ECAPA_TDNN(80, lin_neurons=192, channels=[1024] * 4 + [3072]) has 20,767,552 parameters
    (speechbrain 1.x, counted with sum(p.numel() for p in model.parameters())); with 512 channels, 6,194,048."""
    assert EcapaTdnnModel(EcapaTdnnConfig.published()).num_parameters() == 20_767_552
    small = EcapaTdnnConfig.published(channels=[512, 512, 512, 512, 1536])
    assert EcapaTdnnModel(small).num_parameters() == 6_194_048


def test_default_config_is_cpu_sized():
    assert 1_000_000 < EcapaTdnnModel(EcapaTdnnConfig()).num_parameters() < 2_000_000


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="res2net_scale"):
        EcapaTdnnConfig(channels=[16, 12, 16, 16, 48])
    with pytest.raises(ValueError, match="one entry per block"):
        EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], kernel_sizes=[5, 3, 1])
    with pytest.raises(ValueError, match="at least 3"):
        EcapaTdnnConfig(channels=[16, 48])
    with pytest.raises(ValueError, match="odd"):
        EcapaTdnnConfig(kernel_sizes=[4, 3, 3, 3, 1])
    with pytest.raises(ValueError, match="threshold"):
        EcapaTdnnConfig(threshold=1.5)


def test_registered_with_the_zoo():
    entry = next(m for m in zoo.MODELS if m.model_type == "ecapa_tdnn")
    assert entry.heads == {"speaker-embedding": "EcapaTdnnForSpeakerEmbedding"}
    assert AutoConfig.for_model("ecapa_tdnn").model_type == "ecapa_tdnn"
    assert type(AutoModelForAudioXVector.from_config(EcapaTdnnConfig(**TestEcapaTdnn.tiny))) is EcapaTdnnForSpeakerEmbedding


def test_cpu_inference_in_groups_on_threads_equals_the_autograd_path(monkeypatch):
    """No-grad CPU inference splits the batch between torch's threads, each group cut to its last real frame;
    the embeddings are those of the general path (grad enabled, whole batch)."""
    torch.manual_seed(0)
    model = EcapaTdnnModel(EcapaTdnnConfig(**TestEcapaTdnn.tiny)).eval()
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):  # not the identity at init
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    calls = []
    original = EcapaTdnnModel._embed_in_groups
    monkeypatch.setattr(EcapaTdnnModel, "_embed_in_groups", lambda self, *args: calls.append(1) or original(self, *args))
    features = torch.randn(5, 160, 80)
    mask = torch.ones(5, 160, dtype=torch.long)
    mask[1, 100:] = 0
    mask[2, 40:] = 0
    mask[3, 70:80] = 0  # a hole, which the mask alone handles
    mask[3, 130:] = 0
    mask[4, 120:] = 0  # the second group (utterances 3 and 4) is cut to 130 frames
    expected = model(features, attention_mask=mask).embeddings.detach()  # grad enabled: the general path
    assert not calls
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            fast = model(features, attention_mask=mask).embeddings
        threads_after = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)
    assert threads_after == 2  # the workers' single-threaded setting does not leak out
    assert calls == [1]
    torch.testing.assert_close(fast, expected, atol=1e-6, rtol=1e-5)
