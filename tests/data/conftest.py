"""Shared tiny corpora for the `zoo.data` tests: built once per session, in a temporary cache and folder."""

import os

import pytest

from zoo.data import mixtures
from zoo.data.speech import build_speech
from zoo.data.text import harvest_sentences

TINY_SPEECH = dict(num_speakers=12, utterances_per_speaker=2, seed=3, workers=2, progress=False)


@pytest.fixture(scope="session", autouse=True)
def zoo_cache(tmp_path_factory):
    """Keep the sentence and noise caches out of the user's ~/.cache, and the noise bank short."""
    with pytest.MonkeyPatch.context() as patch:
        cache = tmp_path_factory.mktemp("zoo-cache")
        patch.setenv("ZOO_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(mixtures, "NOISE_SECONDS", 10.0)
        yield cache


@pytest.fixture(scope="session")
def sentences():
    """Sentences from the fortunes alone: enough for tiny builds and a second to read."""
    return harvest_sentences(("fortunes",), cache=False)


@pytest.fixture(scope="session")
def tiny_speech_kwargs():
    return dict(TINY_SPEECH)


@pytest.fixture(scope="session")
def tiny_speech_dir(tmp_path_factory, sentences):
    output = tmp_path_factory.mktemp("speech") / "tiny"
    build_speech(str(output), sentences=sentences, **TINY_SPEECH)
    return output


@pytest.fixture(scope="session")
def tiny_speech(tiny_speech_dir):
    import datasets

    return datasets.load_from_disk(str(tiny_speech_dir))


@pytest.fixture(scope="session")
def folder_bytes():
    """`folder_bytes(path) -> {relative path: bytes}` of every file below a folder, to compare two builds byte for byte."""

    def read(folder) -> dict[str, bytes]:
        found = {}
        for root, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, folder)] = handle.read()
        return found

    return read
