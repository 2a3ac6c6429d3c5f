"""Checks every zoo separation model must pass, shared like transformers' ModelTesterMixin.

A test module subclasses `SeparationModelTests` as `Test<Model>` and sets the class attributes; the tests
here then run on that model's tiny configuration. Model-specific tests stay in the model's own module.
"""

import ast
import importlib
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, Wav2Vec2FeatureExtractor, pipeline

import zoo  # noqa: F401  (registers the Auto classes and pipelines)


class SeparationModelTests:
    config_class = None  # e.g. SepformerConfig
    model_class = None  # e.g. SepformerForSourceSeparation
    enhancement_class = None  # e.g. SepformerForSpeechEnhancement
    tiny: dict = {}  # config values of a model that runs in milliseconds
    training_steps = 15  # steps for test_training_reduces_the_loss to gain 3 dB on a toy mixture

    @pytest.fixture(autouse=True, scope="class")
    def one_thread(self):
        # tiny models gain nothing from a second thread, and on a busy machine every hand-off between threads
        # can cost a scheduler time slice: a step-by-step LSTM then runs 30x slower on two threads than on one
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)

    def make(self, head=None, **overrides):
        torch.manual_seed(0)
        return (head or self.model_class)(self.config_class(**{**self.tiny, **overrides}))

    @pytest.fixture
    def model(self):
        return self.make().eval()

    def test_output_shapes(self, model):
        out = model(torch.randn(3, 1000))
        assert out.waveforms.shape == (3, 2, 1000)
        assert out.loss is None

    def test_three_speakers(self):
        out = self.make(num_speakers=3)(torch.randn(2, 900), labels=torch.randn(2, 3, 900))
        assert out.waveforms.shape == (2, 3, 900) and out.permutation.shape == (2, 3)

    def test_padded_batch_equals_one_by_one(self, model):
        # 23 samples: a single frame, surrounded by padding in the batch
        lengths = [1600, 1203, 777, 23]
        inputs = torch.zeros(len(lengths), max(lengths))
        mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
        singles = []
        with torch.no_grad():
            for i, n in enumerate(lengths):
                x = torch.randn(n)
                inputs[i, :n], mask[i, :n] = x, 1
                singles.append(model(x[None]).waveforms[0])
            batched = model(inputs, attention_mask=mask).waveforms
        for i, n in enumerate(lengths):
            # padding is hidden from every norm, convolution, attention and LSTM: only float rounding differs
            torch.testing.assert_close(batched[i, :, :n], singles[i], atol=1e-6, rtol=1e-5)
            assert n == max(lengths) or batched[i, :, n:].abs().max() == 0

    def test_loss_is_permutation_invariant(self, model):
        mixture = torch.randn(2, 800)
        sources = torch.randn(2, 2, 800)
        loss = model(mixture, labels=sources).loss
        swapped = model(mixture, labels=sources.flip(1)).loss
        torch.testing.assert_close(loss, swapped)
        out = model(mixture, labels=model(mixture).waveforms.detach().flip(1))
        assert out.permutation.tolist() == [[1, 0], [1, 0]] and out.loss.item() < -30 + 1e-3  # clamped at 30 dB

    def test_silence_gives_silence_without_nan(self, model):
        out = model(torch.zeros(1, 1000), labels=torch.zeros(1, 2, 1000))
        assert torch.isfinite(out.waveforms).all() and out.waveforms.abs().max() == 0
        assert torch.isfinite(out.loss)

    def test_too_short_input_is_refused(self, model):
        with pytest.raises(ValueError, match="fewer than one encoder frame"):
            model(torch.randn(1, 5))
        with pytest.raises(ValueError, match=r"\(batch, time\)"):
            model(torch.randn(1000))

    def test_enhancement_needs_one_source(self):
        with pytest.raises(ValueError, match="num_speakers=1"):
            self.make(self.enhancement_class, num_speakers=2)

    def test_enhancement_takes_2d_labels(self):
        out = self.make(self.enhancement_class, num_speakers=1)(torch.randn(2, 800), labels=torch.randn(2, 800))
        assert out.waveforms.shape == (2, 1, 800) and out.loss.dim() == 0

    def test_save_load_round_trip(self, model, tmp_path):
        model.save_pretrained(tmp_path)
        assert (tmp_path / "model.safetensors").exists()
        loaded = AutoModel.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, self.model_class)
        x = torch.randn(1, 1200)
        torch.testing.assert_close(loaded(x).waveforms, model(x).waveforms)

    def test_pipeline_separates_a_long_file_in_chunks(self, model, tmp_path):
        model.save_pretrained(tmp_path)
        Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=8000, padding_value=0.0, do_normalize=False, return_attention_mask=True
        ).save_pretrained(tmp_path)
        separator = pipeline("audio-source-separation", model=str(tmp_path))
        out = separator(
            np.random.default_rng(0).standard_normal(12000).astype(np.float32), sampling_rate=8000,
            chunk_length_s=0.5, overlap_s=0.1,
        )
        assert [o["label"] for o in out] == ["source_1", "source_2"] and out[0]["audio"].shape == (12000,)

    def test_training_reduces_the_loss(self):
        model = self.make()
        t = torch.arange(1600) / 8000
        sources = torch.stack([torch.sin(2 * torch.pi * 220 * t), torch.sign(torch.sin(2 * torch.pi * 31 * t))])[None]
        mixture = sources.sum(1)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for _ in itertools.repeat(None, self.training_steps):
            loss = model(mixture, labels=sources).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        assert losses[-1] < losses[0] - 3  # at least 3 dB better than at the start

    def test_modeling_file_imports_only_torch_and_transformers(self):
        # a Hub folder carries this file for `trust_remote_code=True` where zoo is not installed
        modeling = importlib.import_module(self.model_class.__module__)
        config_module = self.config_class.__module__.rsplit(".", 1)[1]
        tree = ast.parse(Path(modeling.__file__).read_text())
        nodes = list(ast.walk(tree))
        roots = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        roots |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom) and node.level == 0}
        relative = {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.level > 0}
        assert roots <= {"__future__", "concurrent", "os", "dataclasses", "itertools", "math", "typing", "torch", "transformers"}, roots
        assert relative == {config_module}, relative
