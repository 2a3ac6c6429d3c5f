"""Register every zoo model with the transformers Auto classes and every zoo pipeline with PIPELINE_REGISTRY.

Adding a model: add one `ZooModel` line to `MODELS`. Adding a task: one line to `PIPELINES`.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from dataclasses import dataclass

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioXVector, AutoModelForCTC, Wav2Vec2FeatureExtractor
from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping
from transformers.pipelines import PIPELINE_REGISTRY


@dataclass(frozen=True)
class ZooModel:
    model_type: str
    module: str  # package holding configuration_<x>.py and modeling_<x>.py
    config: str
    heads: dict  # task -> class name; the first is what AutoModel gives
    feature_extractor: str | None = None  # dotted path; None means the stock waveform extractor


MODELS = [
    ZooModel(
        "conv_tasnet",
        "zoo.separation.conv_tasnet",
        "ConvTasNetConfig",
        {"audio-source-separation": "ConvTasNetForSourceSeparation", "speech-enhancement": "ConvTasNetForSpeechEnhancement"},
    ),
    ZooModel(
        "sepformer",
        "zoo.separation.sepformer",
        "SepformerConfig",
        {"audio-source-separation": "SepformerForSourceSeparation", "speech-enhancement": "SepformerForSpeechEnhancement"},
    ),
    ZooModel(
        "dprnn",
        "zoo.separation.dprnn",
        "DprnnConfig",
        {"audio-source-separation": "DprnnForSourceSeparation", "speech-enhancement": "DprnnForSpeechEnhancement"},
    ),
    ZooModel(
        "si_snr_estimator",
        "zoo.quality.si_snr_estimator",
        "SiSnrEstimatorConfig",
        {"speech-quality-assessment": "SiSnrEstimatorForQualityEstimation"},
    ),
    ZooModel(
        "ecapa_tdnn",
        "zoo.speaker.ecapa_tdnn",
        "EcapaTdnnConfig",
        {"speaker-embedding": "EcapaTdnnForSpeakerEmbedding"},
        feature_extractor="zoo.speaker.feature_extraction_speaker.SpeakerFeatureExtractor",
    ),
    ZooModel(
        "xvector",
        "zoo.speaker.xvector",
        "XvectorConfig",
        {"speaker-embedding": "XvectorForSpeakerEmbedding"},
        feature_extractor="zoo.speaker.feature_extraction_speaker.SpeakerFeatureExtractor",
    ),
    ZooModel(
        "ctc_conformer",
        "zoo.asr.ctc_conformer",
        "CtcConformerConfig",
        {"automatic-speech-recognition": "CtcConformerForCTC"},
        feature_extractor="zoo.asr.feature_extraction_asr.AsrFeatureExtractor",
    ),
]

# task -> (pipeline class path, pipeline type)
PIPELINES = {
    "audio-source-separation": "zoo.separation.pipeline_separation.AudioSourceSeparationPipeline",
    "speech-enhancement": "zoo.separation.pipeline_separation.SpeechEnhancementPipeline",
    "speaker-embedding": "zoo.speaker.pipeline_speaker.SpeakerEmbeddingPipeline",
    "speaker-verification": "zoo.speaker.pipeline_speaker.SpeakerVerificationPipeline",
    "speaker-diarization": "zoo.diarization.pipeline_diarization.SpeakerDiarizationPipeline",
}



def _auto_class(name: str, task: str) -> type:
    """An Auto class like transformers' own, for a task transformers has none for."""
    doc = f"`{name}.from_pretrained(path)` gives the zoo model class of the checkpoint's type for {task}."
    return type(name, (_BaseAutoModelClass,), {"_model_mapping": _LazyAutoMapping(OrderedDict(), OrderedDict()), "__doc__": doc})


AutoModelForSourceSeparation = _auto_class("AutoModelForSourceSeparation", "audio-source-separation")
AutoModelForSpeechEnhancement = _auto_class("AutoModelForSpeechEnhancement", "speech-enhancement")
AutoModelForSpeechQualityAssessment = _auto_class("AutoModelForSpeechQualityAssessment", "speech-quality-assessment")

# task -> the Auto class its pipeline loads models with
AUTO_CLASSES = {
    "audio-source-separation": AutoModelForSourceSeparation,
    "speech-enhancement": AutoModelForSpeechEnhancement,
    "speech-quality-assessment": AutoModelForSpeechQualityAssessment,
    # transformers' own Auto class for x-vector style speaker embeddings (Wav2Vec2ForXVector, ...)
    "speaker-embedding": AutoModelForAudioXVector,
    # verification and diarization run the same speaker-embedding models
    "speaker-verification": AutoModelForAudioXVector,
    "speaker-diarization": AutoModelForAudioXVector,
    # transformers' own Auto class for CTC models: its stock ASR pipeline then runs zoo recognizers as it does Wav2Vec2ForCTC
    "automatic-speech-recognition": AutoModelForCTC,
}


def _load(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def model_classes(model_type: str) -> tuple[type, dict[str, type]]:
    """`(config_class, {task: model_class})` of a zoo model type."""
    for entry in MODELS:
        if entry.model_type == model_type:
            name = entry.module.rsplit(".", 1)[1]
            config_cls = getattr(importlib.import_module(f"{entry.module}.configuration_{name}"), entry.config)
            modeling = importlib.import_module(f"{entry.module}.modeling_{name}")
            return config_cls, {task: getattr(modeling, cls) for task, cls in entry.heads.items()}
    known = ", ".join(m.model_type for m in MODELS)
    raise ValueError(f"unknown zoo model type {model_type!r}; choose one of {known}")


def model_class_for(config, task: str | None = None) -> type:
    """The zoo class for a config and task (the model's first task when None)."""
    _, heads = model_classes(config.model_type)
    if task is None:
        return next(iter(heads.values()))
    if task not in heads:
        raise ValueError(f"{config.model_type} has no {task!r} head; it has {', '.join(heads)}")
    return heads[task]


_registered = False


def register_all() -> None:
    """Idempotent: safe to call on every `import zoo`."""
    global _registered
    if _registered:
        return
    for entry in MODELS:
        config_cls, heads = model_classes(entry.model_type)
        AutoConfig.register(entry.model_type, config_cls, exist_ok=True)
        first = next(iter(heads.values()))
        AutoModel.register(config_cls, first, exist_ok=True)
        fe_cls = _load(entry.feature_extractor) if entry.feature_extractor else Wav2Vec2FeatureExtractor
        AutoFeatureExtractor.register(config_cls, fe_cls, exist_ok=True)
        for task, cls in heads.items():
            AUTO_CLASSES[task].register(config_cls, cls, exist_ok=True)
    for task, path in PIPELINES.items():
        PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=_load(path), pt_model=AUTO_CLASSES[task], type="audio")
    _registered = True
