"""X-vector: the shared speaker-model checks, its published size and config checks."""

import pytest
from transformers import AutoConfig

import zoo
from zoo import XvectorConfig, XvectorForSpeakerEmbedding, XvectorModel

from .test_ecapa_tdnn import SpeakerModelTests


class TestXvector(SpeakerModelTests):
    config_class = XvectorConfig
    model_class = XvectorForSpeakerEmbedding
    base_class = XvectorModel
    tiny = dict(hidden_size=16, embedding_size=16)


def test_published_size_matches_the_paper_layers():
    """Snyder et al. 2018, table 1, on 80 mel bins: frame1 5x80 -> 512, frame2/3 3x512 -> 512, frame4 512 -> 512,
    frame5 512 -> 1500 (conv weights + biases, BatchNorm scale + shift), stats 3000 -> segment6 512."""
    frames = (5 * 80 * 512 + 512) + 2 * (3 * 512 * 512 + 512) + (512 * 512 + 512) + (512 * 1500 + 1500)
    norms = 2 * (4 * 512 + 1500)
    segment6 = 3000 * 512 + 512
    assert XvectorModel(XvectorConfig.published()).num_parameters() == frames + norms + segment6 == 4_354_964


def test_default_config_is_cpu_sized():
    assert 500_000 < XvectorModel(XvectorConfig()).num_parameters() < 2_000_000


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="5 frame-level layers"):
        XvectorConfig(kernel_sizes=[5, 3, 3])
    with pytest.raises(ValueError, match="odd"):
        XvectorConfig(kernel_sizes=[5, 3, 2, 1, 1])
    with pytest.raises(ValueError, match="threshold"):
        XvectorConfig(threshold=-2)


def test_registered_with_the_zoo():
    entry = next(m for m in zoo.MODELS if m.model_type == "xvector")
    assert entry.heads == {"speaker-embedding": "XvectorForSpeakerEmbedding"}
    assert AutoConfig.for_model("xvector").model_type == "xvector"
