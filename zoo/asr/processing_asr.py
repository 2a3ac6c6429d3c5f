"""Text side of the zoo speech recognizers: normalisation, the character tokenizer, the processor, greedy decoding.

The vocabulary is characters: `<pad>` (id 0, also the CTC blank), `<unk>`, the word delimiter `|` (a space in the
text), the apostrophe and the 26 lower-case letters. The tokenizer is transformers' own `Wav2Vec2CTCTokenizer`
and the processor transformers' own `Wav2Vec2Processor` (this feature extractor + that tokenizer), so a saved
checkpoint needs nothing from zoo to turn audio into text: `pipeline("automatic-speech-recognition", model=folder)`
and `AutoProcessor.from_pretrained(folder)` load them from the folder's `preprocessor_config.json`,
`tokenizer_config.json` and `vocab.json`.

The tokenizer maps any character outside the vocabulary to `<unk>`: pass text through `normalize_text` first.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata

import torch

# ids 0-2 are fixed: 0 is the blank CTC needs, and the tokenizer's pad token
SPECIAL_TOKENS = ("<pad>", "<unk>", "|")
CHARACTERS = "'abcdefghijklmnopqrstuvwxyz"


def normalize_text(text: str) -> str:
    """Lower case, accents stripped, letters and apostrophes kept, everything else a word break; single spaces.

    >>> normalize_text("  Hello, WORLD! It's Zoë's 2nd-rate café.")
    "hello world it's zoe's nd rate cafe"
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a transcript string, got {type(text).__name__}; pass str (decode bytes first)")
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("`", "'")  # typographic apostrophes are apostrophes
    kept = "".join(c if c in CHARACTERS else " " for c in text)
    return " ".join(kept.split())


def build_char_tokenizer(folder: str | os.PathLike | None = None, characters: str = CHARACTERS):
    """transformers' `Wav2Vec2CTCTokenizer` over `<pad>` (blank, id 0), `<unk>`, `|` (word delimiter) and `characters`.

    Args:
        folder: where to save the tokenizer (`vocab.json`, `tokenizer_config.json`); None saves nothing.
        characters: the output symbols besides the three special ones; the default is the apostrophe and a-z, what
            `normalize_text` keeps.

    Returns:
        The tokenizer; `len(tokenizer)` is the model's `vocab_size`, `tokenizer.pad_token_id` (0) its blank.

    >>> tokenizer = build_char_tokenizer()
    >>> len(tokenizer), tokenizer.pad_token_id
    (30, 0)
    >>> ids = tokenizer("it's a cat").input_ids
    >>> ids, tokenizer.decode(ids, group_tokens=False)
    ([12, 23, 3, 22, 2, 4, 2, 6, 4, 23], "it's a cat")
    """
    from transformers import Wav2Vec2CTCTokenizer

    if len(set(characters)) != len(characters) or any(c.isspace() or c in "|<>" for c in characters):
        raise ValueError(f"characters must be distinct and hold no whitespace, '|', '<' or '>', got {characters!r}")
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + tuple(characters))}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vocab.json")
        with open(path, "w") as file:
            json.dump(vocab, file, indent=2)
        tokenizer = Wav2Vec2CTCTokenizer(
            path,
            unk_token="<unk>",
            pad_token="<pad>",
            word_delimiter_token="|",
            bos_token=None,
            eos_token=None,
            do_lower_case=False,  # True would upper-case the text (wav2vec2's vocabulary is upper case); ours is lower
        )
    if folder is not None:
        tokenizer.save_pretrained(folder)
    return tokenizer


def build_processor(feature_extractor=None, tokenizer=None):
    """transformers' `Wav2Vec2Processor` of a zoo feature extractor (default: 80 log-mel bins at 16 kHz) and the
    character tokenizer; `zoo.hub.save_checkpoint(model, folder, feature_extractor=processor, ...)` saves both.

    >>> processor = build_processor()
    >>> type(processor).__name__, type(processor.feature_extractor).__name__, processor.tokenizer.pad_token_id
    ('Wav2Vec2Processor', 'AsrFeatureExtractor', 0)
    """
    from transformers import Wav2Vec2Processor

    from .feature_extraction_asr import AsrFeatureExtractor

    return Wav2Vec2Processor(
        feature_extractor=feature_extractor if feature_extractor is not None else AsrFeatureExtractor(),
        tokenizer=tokenizer if tokenizer is not None else build_char_tokenizer(),
    )


def greedy_decode(logits: torch.Tensor, tokenizer, lengths: torch.Tensor | None = None) -> list[str]:
    """Best-path CTC decoding: the most likely symbol of every step, repeats merged, blanks dropped.

    Args:
        logits: `(batch, steps, vocab_size)` model logits.
        tokenizer: the checkpoint's CTC tokenizer (its pad token is the blank).
        lengths: `(batch,)` real steps of each row; None decodes every step.

    >>> tokenizer = build_char_tokenizer()
    >>> ids = torch.tensor([[0, 6, 6, 0, 4, 4, 23, 2, 0, 0]])  # "cc_aat|__": repeats merge, blanks go
    >>> greedy_decode(torch.nn.functional.one_hot(ids, 30).float(), tokenizer)
    ['cat']
    >>> greedy_decode(torch.nn.functional.one_hot(ids, 30).float(), tokenizer, lengths=torch.tensor([4]))
    ['c']
    """
    best = logits.argmax(-1)  # (batch, steps)
    rows = best.tolist() if lengths is None else [row[: int(n)] for row, n in zip(best.tolist(), lengths)]
    return [text.strip() for text in tokenizer.batch_decode(rows)]


# ---------------------------------------------------------------------------------------------------------------
# the attention (sequence-to-sequence) recognizers' tokenizer

# appended after the CTC vocabulary, so every CTC id means the same here (<pad> = 0 is still the CTC blank)
SEQ2SEQ_SPECIAL_TOKENS = ("<s>", "</s>")


def build_seq2seq_tokenizer(folder: str | os.PathLike | None = None, characters: str = CHARACTERS):
    """The character tokenizer of the attention recognizers (LAS, Transformer ASR): transformers' tokenizers-backed
    `PreTrainedTokenizerFast`, so `AutoTokenizer.from_pretrained(folder)` loads it from `tokenizer.json` alone.

    Ids: those of `build_char_tokenizer` (`<pad>` 0 = CTC blank, `<unk>`, `|` for a space, `characters`), then
    `<s>` (the decoder's start symbol) and `</s>`, which encoding appends to every text: the decoder learns to stop.
    Unlike the CTC tokenizer, decoding never merges repeated characters ("hello" stays "hello"), which is what the
    stock ASR pipeline's seq2seq path needs (it decodes `generate()` output with `skip_special_tokens=True`).

    Args:
        folder: where to save the tokenizer (`tokenizer.json`, `tokenizer_config.json`); None saves nothing.
        characters: the output symbols besides the special ones; the default is what `normalize_text` keeps.

    >>> tokenizer = build_seq2seq_tokenizer()
    >>> len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id
    (32, 0, 30, 31)
    >>> ids = tokenizer("hello it's").input_ids
    >>> ids, tokenizer.decode(ids, skip_special_tokens=True)
    ([11, 8, 15, 15, 18, 2, 12, 23, 3, 22, 31], "hello it's")
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if len(set(characters)) != len(characters) or any(c.isspace() or c in "|<>" for c in characters):
        raise ValueError(f"characters must be distinct and hold no whitespace, '|', '<' or '>', got {characters!r}")
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + tuple(characters) + SEQ2SEQ_SPECIAL_TOKENS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(" ", "|")])
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    eos = ("</s>", vocab["</s>"])
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[eos])
    backend.decoder = decoders.Sequence([decoders.Replace("|", " "), decoders.Fuse()])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        clean_up_tokenization_spaces=False,  # would glue "'s" words to the word before
    )
    if folder is not None:
        tokenizer.save_pretrained(folder)
    return tokenizer


def build_seq2seq_processor(feature_extractor=None, tokenizer=None):
    """transformers' `Wav2Vec2Processor` of a zoo feature extractor (default: 80 log-mel bins at 16 kHz) and the
    seq2seq character tokenizer; `zoo.hub.save_checkpoint(model, folder, feature_extractor=processor, ...)` saves both.

    >>> processor = build_seq2seq_processor()
    >>> type(processor).__name__, processor.tokenizer.eos_token_id
    ('Wav2Vec2Processor', 31)
    """
    from transformers import Wav2Vec2Processor

    from .feature_extraction_asr import AsrFeatureExtractor

    return Wav2Vec2Processor(
        feature_extractor=feature_extractor if feature_extractor is not None else AsrFeatureExtractor(),
        tokenizer=tokenizer if tokenizer is not None else build_seq2seq_tokenizer(),
    )
