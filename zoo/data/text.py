"""Harvest clean, speakable English sentences offline from Debian packages.

Sources (all plain files, no network):

- ``fortunes``: ``/usr/share/games/fortunes`` (package ``fortunes``), fortunes split into sentences;
- ``wordnet``: ``/usr/share/wordnet/data.*`` (package ``wordnet-base``), glosses and their quoted examples;
- ``gcide``: ``/usr/share/dictd/gcide.dict.dz`` (package ``dict-gcide``), the literary quotations of Webster 1913.

Each sentence is a dict ``{"text", "original_text", "source", "kind"}``: ``original_text`` is the sentence as
read (whitespace collapsed), ``text`` its LibriSpeech-style normalisation (uppercase letters, apostrophe,
space), ``kind`` one of ``fortune``, ``quotation`` (gcide), ``example`` or ``gloss`` (wordnet; glosses are
definitions such as "A broad political stance.", the rest are real sentences).
The list is filtered (ASCII letters and basic punctuation only, 3..25 words, no digits, URLs, acronyms or
abbreviations), deduplicated on ``text`` keeping the first occurrence, and ordered deterministically
(sources in the order given, files in sorted order, file order within a file). It is cached as JSON lines
under ``$ZOO_CACHE`` (default ``~/.cache/zoo``).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator

FORTUNES_DIR = "/usr/share/games/fortunes"
WORDNET_DIR = "/usr/share/wordnet"
GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"
SOURCES = ("fortunes", "wordnet", "gcide")
MIN_WORDS, MAX_WORDS = 3, 25
# bump when the filter or the parsers change, so stale caches are not reused
CACHE_VERSION = 5

# fortune files that are pictures, code or deliberately garbled, not prose
_SKIP_FORTUNES = {"ascii-art", "perl", "translate-me"}
# a sentence must be made of these characters only
_ALLOWED = re.compile(r"^[A-Za-z ,;:.!?'\"-]+$")
# tokens that end in a full stop without ending a sentence
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "prof", "rev", "gen", "col", "capt", "lt",
    "sgt", "mt", "no", "fig", "ca", "cf", "ie", "eg", "esp", "obs", "inc", "ltd", "co", "corp",
}
# sentence boundary: terminal punctuation (optionally a closing quote) then space then a capital or quote
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"']))\s+(?=[\"A-Z])")


def normalize_text(text: str) -> str:
    """LibriSpeech-style transcript: uppercase letters, apostrophes inside words, single spaces.

    Args:
        text: a sentence in ordinary spelling.

    >>> normalize_text('"Don\\'t panic," she said -- twice.')
    "DON'T PANIC SHE SAID TWICE"
    """
    words = []
    for word in re.sub(r"[^A-Z' ]+", " ", text.upper().replace("-", " ")).split():
        # apostrophes stay inside words (DON'T) and after a plural S (DOGS'), never as quote marks
        word = word.lstrip("'")
        word = word if word.endswith("S'") else word.rstrip("'")
        if word:
            words.append(word)
    return " ".join(words)


def is_speakable(sentence: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> bool:
    """True for one clean English sentence a TTS engine reads without surprises.

    Args:
        sentence: candidate sentence (whitespace already collapsed).
        min_words: fewest words accepted.
        max_words: most words accepted.

    >>> is_speakable("The cat sat on the mat.")
    True
    >>> is_speakable("Call 555 1234 now!"), is_speakable("See http www.example.com today."), is_speakable("UNIX is fun.")
    (False, False, False)
    """
    body = sentence.rstrip('"')
    if not _ALLOWED.match(sentence) or not body or body[-1] not in ".!?" or not sentence.lstrip('"')[:1].isupper():
        return False
    if re.search(r'[.!?](?!")', body[:-1]):
        return False  # ellipses, abbreviations, two sentences in one (a quoted question is fine)
    if sentence.count('"') % 2 or "--" in sentence or "''" in sentence or "'\"" in sentence:
        return False
    words = sentence.split()
    if not min_words <= len(normalize_text(sentence).split()) <= max_words:
        return False  # counted as spoken: "well-known" is two words
    for word in words:
        core = word.strip(",;:.!?\"")
        if not core or not re.match(r"^[A-Za-z]+(?:['-][A-Za-z]+)*'?$", core):
            return False  # stray punctuation, leading apostrophe, dangling hyphen
        letters = core.replace("'", "").replace("-", "")
        if len(letters) > 1 and letters.isupper():
            return False  # acronyms and shouting are spelt out or read oddly
        if any(ch.isupper() for ch in letters[1:]) and not letters.isupper():
            return False  # camelCase, McNames, code identifiers
        if len(letters) > 20 or re.search(r"(.)\1\1", letters.lower()):
            return False  # very long words, "awwwesome", "zzz"
    last = words[-1].strip(",;:.!?\"").lower()
    # the splitter cut at an abbreviation or an initial
    return not (last in _ABBREVIATIONS or (len(last) == 1 and last not in {"a", "i"}))


def split_sentences(paragraph: str) -> list[str]:
    """Collapse whitespace and split a paragraph into sentences at `. ! ?` followed by a capital."""
    paragraph = " ".join(paragraph.split())
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def _clean_quotes(sentence: str) -> str:
    # fortunes use `` '' and ` ' quotes; straight ones are the only kind we keep
    return sentence.replace("``", '"').replace("''", '"').replace("`", "'")


def _fortune_paragraphs(directory: str) -> Iterator[tuple[str, str]]:
    for path in sorted(glob.glob(os.path.join(directory, "*"))):
        name = os.path.basename(path)
        if "." in name or name in _SKIP_FORTUNES or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as handle:
            entries = handle.read().split("\n%\n")
        for entry in entries:
            lines = [line for line in entry.splitlines() if not line.strip().startswith("--")]
            # poems, dialogues and code are laid out with indentation or short lines; prose is not
            if any(line.startswith(("    ", "\t\t")) for line in lines):
                continue
            yield "\n".join(lines), "fortune"


def _wordnet_paragraphs(directory: str) -> Iterator[tuple[str, str]]:
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(directory, f"data.{pos}")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(" ") or "|" not in line:
                    continue  # licence header
                gloss = line.split("|", 1)[1].strip()
                for part in gloss.split(";"):
                    part = part.strip()
                    quoted = re.fullmatch(r'"([^"]+)"(?:\s*-+\s*[A-Za-z. ]+)?', part)
                    kind = "example" if quoted else "gloss"
                    part = quoted.group(1).strip() if quoted else part
                    if not part:
                        continue
                    part = part[0].upper() + part[1:]
                    yield (part if part[-1] in ".!?" else part + "."), kind


def _gcide_paragraphs(path: str) -> Iterator[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        block: list[str] = []
        for line in handle:
            # quotations are indented by 12 spaces and end with an "--Author." attribution
            if line.startswith(" " * 10) and line.strip():
                text = line.strip()
                if "--" in text:
                    block.append(text.split("--", 1)[0])
                    yield " ".join(block), "quotation"
                    block = []
                else:
                    block.append(text)
            else:
                block = []


def _paragraphs(source: str) -> Iterator[tuple[str, str]]:
    if source == "fortunes":
        return _fortune_paragraphs(FORTUNES_DIR)
    if source == "wordnet":
        return _wordnet_paragraphs(WORDNET_DIR)
    if source == "gcide":
        return _gcide_paragraphs(GCIDE_DICT)
    raise ValueError(f"unknown sentence source {source!r}; choose from {', '.join(SOURCES)}")


def _source_files(source: str) -> list[str]:
    if source == "fortunes":
        return sorted(glob.glob(os.path.join(FORTUNES_DIR, "*")))
    if source == "wordnet":
        return sorted(glob.glob(os.path.join(WORDNET_DIR, "data.*")))
    return [GCIDE_DICT] if os.path.exists(GCIDE_DICT) else []


def _iter_sentences(sources: Iterable[str]) -> Iterator[dict]:
    seen: set[str] = set()
    for source in sources:
        for paragraph, kind in _paragraphs(source):
            for sentence in split_sentences(_clean_quotes(paragraph)):
                if not is_speakable(sentence):
                    continue
                text = normalize_text(sentence)
                if text in seen:
                    continue
                seen.add(text)
                yield {"text": text, "original_text": sentence, "source": source, "kind": kind}


def cache_dir() -> str:
    """The zoo's cache folder: ``$ZOO_CACHE`` or ``~/.cache/zoo``."""
    return os.environ.get("ZOO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "zoo")


def harvest_sentences(sources: Iterable[str] = SOURCES, refresh: bool = False, cache: bool = True) -> list[dict]:
    """Return the filtered, deduplicated sentence list (cached after the first call).

    Args:
        sources: which of ``fortunes``, ``wordnet``, ``gcide`` to read, in this order.
        refresh: rebuild the cache even if it exists.
        cache: read and write the JSON-lines cache; False always re-reads the sources.

    Returns:
        A list of ``{"text", "original_text", "source", "kind"}`` dicts in a deterministic order.
    """
    sources = tuple(sources)
    for source in sources:
        if source not in SOURCES:
            raise ValueError(f"unknown sentence source {source!r}; choose from {', '.join(SOURCES)}")
    missing = [s for s in sources if not _source_files(s)]
    if missing:
        raise FileNotFoundError(
            f"no files for sentence source(s) {missing}; install them with "
            "`apt-get install fortunes wordnet-base dict-gcide` or drop them from sources="
        )
    # the key changes when the installed files do, so an upgraded package rebuilds the cache
    stamp = [CACHE_VERSION, sources] + [(p, os.path.getsize(p)) for s in sources for p in _source_files(s)]
    key = hashlib.sha1(json.dumps(stamp).encode()).hexdigest()[:12]
    path = os.path.join(cache_dir(), f"sentences-{key}.jsonl")
    if cache and not refresh and os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
    sentences = list(_iter_sentences(sources))
    if cache:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=True) + "\n" for row in sentences)
        os.replace(tmp, path)  # atomic, so parallel builds never read half a cache
    return sentences


def build_sentences(output: str | None = "data/sentences", refresh: bool = False, tiny: bool = False):
    """Save the sentence list as a DatasetDict (one ``train`` split) with `save_to_disk`.

    Args:
        output: folder to write, or None to only return it.
        refresh: re-read the sources instead of the cache.
        tiny: only the first 200 sentences of the fortunes, for tests.

    Returns:
        A `datasets.DatasetDict` with columns ``text``, ``original_text``, ``source``, ``kind``.
    """
    import datasets

    from zoo.data.speech import save_dataset_dict, to_dataset_dict

    rows = harvest_sentences(("fortunes",) if tiny else SOURCES, refresh=refresh)[: 200 if tiny else None]
    features = datasets.Features({name: datasets.Value("string") for name in ("text", "original_text", "source", "kind")})
    description = f"zoo sentences: {len(rows)} clean English sentences from {', '.join(('fortunes',) if tiny else SOURCES)}"
    stamp = hashlib.sha1(json.dumps([CACHE_VERSION, tiny, len(rows)]).encode()).hexdigest()[:16]
    dataset = to_dataset_dict({"train": rows}, features, description, stamp)
    if output:
        save_dataset_dict(dataset, output, {"kind": "sentences", "rows": len(rows), "tiny": tiny})
    return dataset
