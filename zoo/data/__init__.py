"""Offline corpora for the zoo, built from Debian packages and saved as `datasets.DatasetDict` folders.

- `zoo.data.text`: English sentences from fortunes, WordNet and GCIDE (`harvest_sentences`, `normalize_text`);
- `zoo.data.speech`: multi-speaker speech from espeak-ng and flite (`build_speech`);
- `zoo.data.mixtures`: LibriMix / WHAM! / WHAMR!-style mixtures (`build_mixtures`) and on-the-fly mixing (`DynamicMixer`);
- `zoo.data.separated`: a separator's outputs on dynamic mixtures with their true SI-SNR, for SI-SNR estimators;
- `zoo.data.events`: ESC-50-style labelled and captioned sound events from fluidsynth and sox (`build_events`);
- `zoo.data.sessions`: CryCeleb-style two-session speech, periods B and D (`build_sessions`);
- `zoo.data.cry`: SYNTHETIC infant cries with B/D periods, CryCeleb2023 columns (`build_cry`);
- `zoo.data.conversations`: multi-speaker conversations with reference segments for diarization (`build_conversations`);
- `zoo.data.hub`: `load_corpus` for these folders, local copies of real datasets and Hub ids;
- `zoo.data.cli`: `zoo data speech|mixtures|events|sentences|sessions|cry|conversations`.
"""

from zoo.data.conversations import build_conversations
from zoo.data.cry import build_cry
from zoo.data.events import build_events
from zoo.data.hub import load_corpus
from zoo.data.mixtures import DynamicMixer, build_mixtures
from zoo.data.sessions import build_sessions
from zoo.data.speech import build_speech
from zoo.data.text import build_sentences, harvest_sentences, normalize_text

__all__ = [
    "DynamicMixer",
    "build_conversations",
    "build_cry",
    "build_events",
    "build_mixtures",
    "build_sentences",
    "build_sessions",
    "build_speech",
    "harvest_sentences",
    "load_corpus",
    "normalize_text",
]
