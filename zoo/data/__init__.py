"""Offline corpora for the zoo, built from Debian packages and saved as `datasets.DatasetDict` folders.

- `zoo.data.text`: English sentences from fortunes, WordNet and GCIDE (`harvest_sentences`, `normalize_text`);
- `zoo.data.speech`: multi-speaker speech from espeak-ng and flite (`build_speech`);
- `zoo.data.mixtures`: LibriMix / WHAM! / WHAMR!-style mixtures (`build_mixtures`) and on-the-fly mixing (`DynamicMixer`);
- `zoo.data.separated`: a separator's outputs on dynamic mixtures with their true SI-SNR, for SI-SNR estimators;
- `zoo.data.events`: ESC-50-style labelled and captioned sound events from fluidsynth and sox (`build_events`);
- `zoo.data.hub`: `load_corpus` for these folders, local copies of real datasets and Hub ids;
- `zoo.data.cli`: `zoo data speech|mixtures|events|sentences`.
"""

from zoo.data.events import build_events
from zoo.data.hub import load_corpus
from zoo.data.mixtures import DynamicMixer, build_mixtures
from zoo.data.speech import build_speech
from zoo.data.text import build_sentences, harvest_sentences, normalize_text

__all__ = [
    "DynamicMixer",
    "build_events",
    "build_mixtures",
    "build_sentences",
    "build_speech",
    "harvest_sentences",
    "load_corpus",
    "normalize_text",
]
