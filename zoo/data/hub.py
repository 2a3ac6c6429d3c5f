"""One loader for zoo corpora and real datasets: `load_corpus(name_or_path, ...)`.

What it accepts:

- a folder written by ``save_to_disk`` (every `zoo data` build) -> `datasets.load_from_disk`;
- a folder in a LibriMix layout (``metadata/*.csv`` with ``mixture_ID, mixture_path, source_1_path, ...``)
  -> the CSVs, with the wav paths resolved and cast to Audio;
- a folder in the VoxCeleb layout (``wav/<speaker>/<video>/<utterance>.wav``) -> one row per wav;
- a folder with a root ``metadata.csv`` holding ``file_name`` and ``split`` columns (the CryCeleb2023 layout,
  which `datasets`' audiofolder does not pair with audio in split-named subfolders) -> split by that column;
- any other folder (parquet, csv, audiofolder with ``metadata.csv`` ...) or a Hub id -> `datasets.load_dataset`
  (set ``HF_HUB_OFFLINE=1`` to stay offline; local folders never need the network).

Then columns are renamed to the zoo's names (``audio``, ``text``, ``speaker_id``, ``label``, ``id``,
``mixture``, ``s1``, ``s2`` ...) with a known mapping, picked by Hub id or recognised from the columns (folders
written by `zoo data`, which hold a ``zoo_corpus.json``, already use these names and are left alone),
plus any `column_mapping` you pass; and every Audio column is cast to `sampling_rate` when given.

Known mappings (`KNOWN_MAPPINGS`), from the datasets' published column names:

- ``openslr/librispeech_asr``: file, audio, text, speaker_id, chapter_id, id (``file`` -> ``path``);
- ``librimix``: LibriMix metadata CSVs (``mixture_ID`` -> ``id``, ``mixture_path`` -> ``mixture``,
  ``source_k_path`` -> ``sk``, ``noise_path`` -> ``noise``, ``length``);
- ``voxceleb``: ``speaker``/``speaker_id``/``spk_id`` -> ``speaker_id``, ``video``/``video_id``/``youtube_id`` -> ``video_id``;
- ``Ubenwa/CryCeleb2023``: an audiofolder whose ``metadata.csv`` has file_name, baby_id, period (B = birth,
  D = discharge), split, chronological_index (``baby_id`` -> ``speaker_id``; the names come from the
  challenge's baseline code, the audio is ``audio/<split>/<baby>/<period>/<baby>_<period>_<index>.wav``);
- ``ashraq/esc50``: filename, fold, target, category, esc10, src_file, take, audio (``target`` -> ``label``,
  ``filename`` -> ``id``).
"""

from __future__ import annotations

import csv
import glob
import os
import re

KNOWN_MAPPINGS: dict[str, dict[str, str]] = {
    "openslr/librispeech_asr": {"file": "path", "audio": "audio", "text": "text", "speaker_id": "speaker_id",
                                "chapter_id": "chapter_id", "id": "id"},
    "librimix": {"mixture_ID": "id", "mixture_path": "mixture", "source_1_path": "s1", "source_2_path": "s2",
                 "source_3_path": "s3", "noise_path": "noise", "length": "length"},
    "voxceleb": {"speaker": "speaker_id", "spk_id": "speaker_id", "speaker_id": "speaker_id", "video": "video_id",
                 "youtube_id": "video_id", "video_id": "video_id", "file": "path"},
    "Ubenwa/CryCeleb2023": {"baby_id": "speaker_id", "period": "period", "split": "source_split",
                            "chronological_index": "chronological_index", "file_name": "path"},
    "ashraq/esc50": {"filename": "id", "target": "label", "fold": "fold", "category": "category", "esc10": "esc10",
                     "src_file": "src_file", "take": "take", "audio": "audio"},
}
# columns that identify a dataset's format when it is loaded from a local copy
_SIGNATURES = (
    ("ashraq/esc50", {"filename", "target", "category", "esc10"}),
    ("Ubenwa/CryCeleb2023", {"baby_id", "period"}),
    ("librimix", {"mixture_ID"}),
    ("openslr/librispeech_asr", {"speaker_id", "chapter_id", "text"}),
    ("voxceleb", {"video_id"}),
    ("voxceleb", {"youtube_id"}),
)
_SPLIT_ALIASES = {"dev": "validation", "valid": "validation", "val": "validation", "eval": "test"}
_AUDIO_SUFFIXES = (".wav", ".flac")


def known_mapping(name_or_path: str, column_names: list[str] | None = None) -> dict[str, str]:
    """The known column mapping for a Hub id, or for a local copy recognised by its column names."""
    if name_or_path in KNOWN_MAPPINGS:
        return dict(KNOWN_MAPPINGS[name_or_path])
    columns = set(column_names or [])
    for name, signature in _SIGNATURES:
        if signature <= columns:
            return dict(KNOWN_MAPPINGS[name])
    return {}


def _split_name(text: str) -> str:
    """Split name of a LibriMix CSV such as ``mixture_train-360_mix_both.csv`` or ``mixture_dev_mix_clean.csv``."""
    for word in re.split(r"[^a-z]+", text.lower()):
        if word in ("train", "test", "validation"):
            return word
        if word in _SPLIT_ALIASES:
            return _SPLIT_ALIASES[word]
    return "train"


def _librimix_csvs(folder: str) -> list[str]:
    found = []
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.csv"), recursive=True)):
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if "mixture_ID" in header and "mixture_path" in header:
            found.append(path)
    return found


def _resolve(path: str, roots: list[str]) -> str:
    """An existing file for `path`: as given, or its tail under one of `roots` (LibriMix CSVs hold absolute paths
    of the machine that generated them)."""
    if os.path.exists(path):
        return path
    parts = path.replace("\\", "/").split("/")
    for root in roots:
        for k in range(len(parts)):
            candidate = os.path.join(root, *parts[k:])
            if parts[k:] and os.path.exists(candidate):
                return candidate
    raise FileNotFoundError(f"audio file {path!r} from a LibriMix CSV is not under {roots}; move the wavs next to the metadata folder")


def _load_librimix(folder: str, csv_paths: list[str]):
    import datasets

    splits: dict[str, list[dict]] = {}
    for path in csv_paths:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        roots = [folder, os.path.dirname(path), os.path.dirname(os.path.dirname(path))]
        split = _split_name(os.path.basename(path))
        for row in rows:
            splits.setdefault(split, []).append({k: (_resolve(v, roots) if k.endswith("_path") else v) for k, v in row.items()})
    result = {}
    for split, rows in splits.items():
        columns = {k: [row.get(k) for row in rows] for k in rows[0]}
        if "length" in columns:
            columns["length"] = [int(float(v)) for v in columns["length"]]
        dataset = datasets.Dataset.from_dict(columns)
        for name in columns:
            if name.endswith("_path"):
                dataset = dataset.cast_column(name, datasets.Audio())
        result[split] = dataset
    return datasets.DatasetDict(result)


def _split_metadata(folder: str) -> str | None:
    """A root ``metadata.csv`` with ``file_name`` and ``split`` columns (the CryCeleb2023 layout), or None."""
    path = os.path.join(folder, "metadata.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as handle:
        header = next(csv.reader(handle), [])
    return path if {"file_name", "split"} <= set(header) else None


def _load_split_metadata(folder: str, path: str):
    """Rows of a root metadata.csv, split by its ``split`` column. `datasets`' audiofolder ignores such a file
    when the audio sits in split-named subfolders, so it is read here."""
    import datasets

    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    splits: dict[str, dict[str, list]] = {}
    for row in rows:
        split = _SPLIT_ALIASES.get(row["split"], row["split"])
        columns = splits.setdefault(split, {"audio": [], **{k: [] for k in row if k != "file_name"}})
        columns["audio"].append(os.path.join(folder, row["file_name"]))
        for key, value in row.items():
            if key != "file_name":
                columns[key].append(value)
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(columns).cast_column("audio", datasets.Audio()) for split, columns in splits.items()}
    )


def _is_voxceleb(folder: str) -> bool:
    return bool(glob.glob(os.path.join(folder, "wav", "id*", "*", "*.wav")) or glob.glob(os.path.join(folder, "wav", "id*", "*", "*.m4a")))


def _load_voxceleb(folder: str):
    """VoxCeleb1/2 layout: ``wav/<speaker id>/<YouTube video id>/<utterance>.wav`` (or ``aac/.../*.m4a``)."""
    import datasets

    paths = sorted(glob.glob(os.path.join(folder, "wav", "id*", "*", "*.wav")) + glob.glob(os.path.join(folder, "wav", "id*", "*", "*.m4a")))
    rows = {"audio": [], "speaker_id": [], "video_id": [], "id": []}
    for path in paths:
        speaker, video, name = path.split(os.sep)[-3:]
        rows["audio"].append(path)
        rows["speaker_id"].append(speaker)
        rows["video_id"].append(video)
        rows["id"].append(f"{speaker}/{video}/{os.path.splitext(name)[0]}")
    dataset = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    return datasets.DatasetDict({"train": dataset})


def _rename(dataset, mapping: dict[str, str]):
    present = {old: new for old, new in mapping.items() if old in dataset.column_names and old != new}
    clashes = [new for old, new in present.items() if new in dataset.column_names and new not in present]
    if clashes:
        raise ValueError(f"renaming {present} would overwrite existing column(s) {clashes}; pass column_mapping= to choose other names")
    return dataset.rename_columns(present) if present else dataset


def _cast_audio(dataset, sampling_rate: int | None):
    import datasets

    if sampling_rate is None:
        return dataset
    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Audio):
            dataset = dataset.cast_column(name, datasets.Audio(sampling_rate=sampling_rate, decode=feature.decode))
    return dataset


def load_corpus(name_or_path: str, split: str | None = None, column_mapping: dict[str, str] | None = None,
                sampling_rate: int | None = None, **kwargs):
    """Load a zoo corpus, a local copy of a real dataset or a Hub dataset, with zoo column names.

    Args:
        name_or_path: a folder (``save_to_disk`` output, LibriMix or VoxCeleb layout, parquet / csv /
            audiofolder) or a Hub id such as ``"openslr/librispeech_asr"``.
        split: return only this split (``dev``/``valid`` also find ``validation``); None returns them all.
        column_mapping: extra ``{old: new}`` renames, applied after (and overriding) the known mapping;
            map a column to itself to keep its name.
        sampling_rate: cast every Audio column to this rate (decoding resamples); None keeps the stored rate.
        **kwargs: passed to `datasets.load_dataset` (e.g. ``name="clean"``, ``streaming=True``, ``revision=``).

    Returns:
        A `datasets.Dataset` when `split` is given, else a `datasets.DatasetDict`.
    """
    import datasets

    path = os.fspath(name_or_path)
    zoo_built = os.path.exists(os.path.join(path, "zoo_corpus.json"))
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "dataset_dict.json")) or os.path.exists(os.path.join(path, "state.json")):
            loaded = datasets.load_from_disk(path)
        elif _librimix_csvs(path):
            loaded = _load_librimix(path, _librimix_csvs(path))
        elif _is_voxceleb(path):
            loaded = _load_voxceleb(path)
        elif _split_metadata(path):
            loaded = _load_split_metadata(path, _split_metadata(path))
        else:
            loaded = datasets.load_dataset(path, **kwargs)
    elif os.path.exists(path):
        raise ValueError(f"{path!r} is a file; pass the folder that holds the dataset, or a Hub id")
    else:
        loaded = datasets.load_dataset(path, **kwargs)

    if split is not None and isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        wanted = split if split in loaded else next((s for s in loaded if _SPLIT_ALIASES.get(s, s) == _SPLIT_ALIASES.get(split, split)), None)
        if wanted is None:
            raise ValueError(f"split {split!r} not found in {path!r}; it has {list(loaded)}")
        loaded = loaded[wanted]
    parts = loaded if isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)) else {None: loaded}
    renamed = {}
    for name, part in parts.items():
        # zoo builds already use zoo names (the synthetic cry corpus keeps both baby_id and speaker_id)
        mapping = {} if zoo_built else known_mapping(path, part.column_names)
        mapping.update(column_mapping or {})
        part = _cast_audio(_rename(part, mapping), sampling_rate)
        renamed[_SPLIT_ALIASES.get(name, name) if name is not None else None] = part
    if None in renamed:
        return renamed[None]
    return type(loaded)(renamed)
