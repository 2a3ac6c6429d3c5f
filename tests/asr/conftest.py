import pytest
import torch

from zoo.hub import save_checkpoint

from .tones import train_tone_model


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    # tiny models gain nothing from a second thread, and the machine may be busy
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tone_model():
    """`(model, processor, losses)` of a tiny CTC Conformer that reads tone speech (about a second to train)."""
    return train_tone_model()


@pytest.fixture(scope="session")
def tone_folder(tone_model, tmp_path_factory):
    """The tone model saved as a Hub-layout checkpoint: model, feature extractor, tokenizer, card."""
    model, processor, _ = tone_model
    return str(save_checkpoint(model, tmp_path_factory.mktemp("asr") / "tone-ctc", feature_extractor=processor, task="automatic-speech-recognition"))
