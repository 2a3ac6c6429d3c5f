"""Register every zoo model with the transformers Auto classes and every zoo pipeline with PIPELINE_REGISTRY.

Adding a model: add one `ZooModel` line to `MODELS`. Adding a task: one line to `PIPELINES`.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from dataclasses import dataclass

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioXVector,
    AutoModelForCausalLM,
    AutoModelForCTC,
    AutoModelForSpeechSeq2Seq,
    AutoProcessor,
    Wav2Vec2FeatureExtractor,
)
from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping
from transformers.pipelines import PIPELINE_REGISTRY


@dataclass(frozen=True)
class ZooModel:
    model_type: str
    module: str  # package holding configuration_<x>.py and modeling_<x>.py
    config: str
    heads: dict  # task -> class name; the first is what AutoModel gives
    feature_extractor: str | None = None  # dotted path; None means the stock waveform extractor
    # transformers' Auto class of its heads when not its task's AUTO_CLASSES entry (a seq2seq recognizer's task is
    # automatic-speech-recognition, like a CTC one's, but transformers loads it with AutoModelForSpeechSeq2Seq)
    auto_class: type | None = None


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
    ZooModel(
        "las",
        "zoo.asr.las",
        "LasConfig",
        {"automatic-speech-recognition": "LasForSpeechSeq2Seq"},
        feature_extractor="zoo.asr.feature_extraction_asr.AsrFeatureExtractor",
        auto_class=AutoModelForSpeechSeq2Seq,
    ),
    ZooModel(
        "transformer_asr",
        "zoo.asr.transformer_asr",
        "TransformerAsrConfig",
        {"automatic-speech-recognition": "TransformerAsrForSpeechSeq2Seq"},
        feature_extractor="zoo.asr.feature_extraction_asr.AsrFeatureExtractor",
        auto_class=AutoModelForSpeechSeq2Seq,
    ),
    # the character LM the seq2seq recognizers fuse in (a text model: the stock waveform extractor is never used)
    ZooModel("char_lm", "zoo.asr.char_lm", "CharLmConfig", {"text-generation": "CharLmForCausalLM"}),
]

# model type -> a zoo processor `AutoProcessor` must find by the name a checkpoint's preprocessor_config.json gives
# (transformers' own processors need no entry): the CTC recognizers' n-gram LM processor (`zoo lm attach`)
PROCESSORS = {"ctc_conformer": "zoo.asr.processing_asr_with_lm.AsrProcessorWithLM"}

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
    # transformers' own Auto class for causal LMs: the zoo's character LM, which the stock text-generation pipeline runs
    "text-generation": AutoModelForCausalLM,
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


def auto_class_for(model_type: str, task: str) -> type:
    """The Auto class that loads a zoo model type for a task: its own `auto_class` (AutoModelForSpeechSeq2Seq for an
    attention recognizer), else the task's `AUTO_CLASSES` entry."""
    entry = next((m for m in MODELS if m.model_type == model_type), None)
    return (entry.auto_class if entry is not None else None) or AUTO_CLASSES[task]


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
            (entry.auto_class or AUTO_CLASSES[task]).register(config_cls, cls, exist_ok=True)
    for model_type, path in PROCESSORS.items():
        AutoProcessor.register(model_classes(model_type)[0], _load(path), exist_ok=True)
    for task, path in PIPELINES.items():
        PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=_load(path), pt_model=AUTO_CLASSES[task], type="audio")
    _registered = True
