"""CTC Conformer: shapes, padding, the CTC loss (as Wav2Vec2ForCTC computes it), save / load, Auto classes, learning."""

import ast
import importlib
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCTC

import zoo
from zoo import CtcConformerConfig, CtcConformerForCTC, CtcConformerModel
from zoo.asr.ctc_conformer.modeling_ctc_conformer import subsampled_lengths
from zoo.asr.processing_asr import greedy_decode

from .tones import TINY, TRAIN_TEXTS, batch


def make(cls=CtcConformerForCTC, **overrides):
    torch.manual_seed(0)
    return cls(CtcConformerConfig(**{**TINY, "dropout": 0.1, **overrides}))


@pytest.fixture
def model():
    return make().eval()


def test_output_shapes(model):
    out = model(torch.randn(3, 101, 80))
    assert out.logits.shape == (3, 26, 30) and out.loss is None
    hidden = make(CtcConformerModel).eval()(torch.randn(2, 400, 80)).last_hidden_state
    assert hidden.shape == (2, 100, 32)


def test_output_lengths_follow_the_subsampling(model):
    for frames in (1, 2, 3, 4, 5, 97, 100, 101):
        assert model(torch.randn(1, frames, 80)).logits.shape[1] == subsampled_lengths(frames) == (frames + 3) // 4
    # 640 samples per logit: what the ASR pipeline aligns its chunks to
    assert model.config.inputs_to_logits_ratio == 640 and "inputs_to_logits_ratio" not in model.config.to_dict()


def test_padded_batch_equals_one_by_one(model):
    lengths = [203, 150, 77, 4, 1]  # down to one frame, surrounded by padding
    features = torch.randn(len(lengths), max(lengths), 80)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        features[i, n:] = 7.0  # garbage in the padding must not leak
    with torch.no_grad():
        batched = model(features, attention_mask=mask).logits
        for i, n in enumerate(lengths):
            single = model(features[i : i + 1, :n]).logits[0]
            steps = subsampled_lengths(n)
            torch.testing.assert_close(batched[i, :steps], single, atol=1e-5, rtol=1e-5)
            # steps past the end decode to the blank, so greedy decoding of the padded batch equals one-by-one
            assert (batched[i, steps:].argmax(-1) == model.config.pad_token_id).all()


def test_ctc_loss_matches_torch_on_float32_log_probs(model):
    features, mask = torch.randn(2, 120, 80), torch.ones(2, 120, dtype=torch.long)
    mask[1, 90:] = 0
    labels = torch.tensor([[5, 6, 2, 7, 8], [9, 9, 10, -100, -100]])
    out = model(features, attention_mask=mask, labels=labels)
    log_probs = out.logits.log_softmax(-1).transpose(0, 1)
    expected = torch.nn.functional.ctc_loss(
        log_probs, torch.tensor([5, 6, 2, 7, 8, 9, 9, 10]), torch.tensor([30, 23]), torch.tensor([5, 3]), blank=0, zero_infinity=True
    )
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_ctc_loss_is_zero_not_inf_when_the_input_is_too_short(model):
    # 2 logit steps cannot emit 6 characters: zero_infinity gives 0 (no gradient) rather than inf
    out = model(torch.randn(1, 8, 80), labels=torch.tensor([[4, 5, 6, 7, 8, 9]]))
    assert out.loss.item() == 0.0
    strict = make(ctc_zero_infinity=False).eval()
    assert torch.isinf(strict(torch.randn(1, 8, 80), labels=torch.tensor([[4, 5, 6, 7, 8, 9]])).loss)


def test_sum_reduction():
    model = make(ctc_loss_reduction="sum").eval()
    features, labels = torch.randn(2, 100, 80), torch.tensor([[5, 6, 7], [8, 9, -100]])
    total = model(features, labels=labels).loss
    each = [model(features[i : i + 1], labels=labels[i : i + 1, : 3 - i]).loss for i in range(2)]
    torch.testing.assert_close(total, sum(each))


def test_training_reads_tone_speech(tone_model):
    # the loss falls from its start and the model learns to transcribe what it was trained on, exactly
    model, processor, losses = tone_model
    assert losses[-1] < 0.1 * losses[0] and len(losses) < 200
    inputs = batch(processor, TRAIN_TEXTS)
    with torch.no_grad():
        logits = model(inputs["input_features"], inputs["attention_mask"]).logits
    assert greedy_decode(logits, processor.tokenizer) == TRAIN_TEXTS


def test_bad_inputs_are_refused(model):
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        model(torch.randn(1, 16000))
    with pytest.raises(ValueError, match=r"\(batch, frames, 80\)"):
        model(torch.randn(1, 100, 40))
    with pytest.raises(ValueError, match="attention_mask must be"):
        model(torch.randn(2, 100, 80), attention_mask=torch.ones(2, 99))
    with pytest.raises(ValueError, match=r"rows \[1\] have no real frames"):
        model(torch.randn(2, 100, 80), attention_mask=torch.tensor([[1] * 100, [0] * 100]))
    with pytest.raises(ValueError, match="below vocab_size=30"):
        model(torch.randn(1, 100, 80), labels=torch.tensor([[3, 30]]))


def test_config_checks():
    with pytest.raises(ValueError, match="even head size"):
        CtcConformerConfig(hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="conv_kernel_size must be odd"):
        CtcConformerConfig(conv_kernel_size=4)
    with pytest.raises(ValueError, match="'mean' or 'sum'"):
        CtcConformerConfig(ctc_loss_reduction="max")
    with pytest.raises(ValueError, match="pad_token_id"):
        CtcConformerConfig(vocab_size=30, pad_token_id=30)
    assert CtcConformerConfig.conformer_s().num_layers == 16


def test_spec_augment_masks_only_real_frames_while_training():
    from zoo.asr.ctc_conformer.modeling_ctc_conformer import spec_augment

    config = CtcConformerConfig(**{**TINY, "mask_time_prob": 0.2, "mask_time_length": 5, "mask_feature_prob": 0.25, "mask_feature_length": 4})
    torch.manual_seed(1)
    features = torch.randn(3, 200, 80) + 10.0  # no real value is 0
    lengths = torch.tensor([200, 120, 30])
    masked = spec_augment(features, lengths, config)
    for row, length in enumerate(lengths.tolist()):
        zero = masked[row, :length] == 0
        frames, bins = zero.all(-1), zero.all(0)
        assert 0 < frames.float().mean() < 0.5 and 0 < bins.float().mean() < 0.6
        assert (zero == (frames[:, None] | bins[None, :])).all()  # whole frames and whole bands only
        # padding is left as it was (the model zeroes it anyway) and so are the frames that are not masked
        torch.testing.assert_close(masked[row, length:], features[row, length:] * bins[None, :].logical_not())
    torch.testing.assert_close(masked[~(masked == 0)], features[~(masked == 0)])

    model, plain = make(mask_time_prob=0.2, mask_feature_prob=0.25, dropout=0.0), make(dropout=0.0)
    inputs = torch.randn(2, 160, 80)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(inputs).logits, plain.eval()(inputs).logits)  # inference is unchanged
        torch.manual_seed(2)
        assert not torch.allclose(model.train()(inputs).logits, plain.train()(inputs).logits)
    for bad, message in (({"mask_time_prob": 1.0}, "mask_time_prob"), ({"mask_feature_length": 0}, "mask_feature_length must be >= 1")):
        with pytest.raises(ValueError, match=message):
            CtcConformerConfig(**bad)


def test_save_load_round_trip_and_auto_classes(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "ctc_conformer"
    for auto in (AutoModelForCTC, AutoModel):
        loaded = auto.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, CtcConformerForCTC)
        features = torch.randn(1, 150, 80)
        torch.testing.assert_close(loaded(features).logits, model(features).logits)
    assert "ctc_conformer" in {m.model_type for m in zoo.MODELS}


def test_modeling_file_imports_only_torch_and_transformers():
    # a Hub folder carries this file for `trust_remote_code=True` where zoo is not installed
    modeling = importlib.import_module(CtcConformerForCTC.__module__)
    nodes = list(ast.walk(ast.parse(Path(modeling.__file__).read_text())))
    roots = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom) and node.level == 0}
    relative = {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.level > 0}
    assert roots <= {"__future__", "typing", "torch", "transformers"}, roots
    assert relative == {"configuration_ctc_conformer"}, relative
