"""zoo: a speech & audio model zoo for the Hugging Face ecosystem.

Importing zoo registers every zoo model with `AutoConfig` / `AutoModel` / `AutoFeatureExtractor` and every
zoo pipeline with transformers' `PIPELINE_REGISTRY`, so `pipeline("audio-source-separation", model=...)`
and `AutoModel.from_pretrained(...)` work with no `trust_remote_code`.
"""

from .asr.ctc_conformer.configuration_ctc_conformer import CtcConformerConfig
from .asr.ctc_conformer.modeling_ctc_conformer import CtcConformerForCTC, CtcConformerModel
from .asr.char_lm.configuration_char_lm import CharLmConfig
from .asr.char_lm.modeling_char_lm import CharLmForCausalLM
from .asr.feature_extraction_asr import AsrFeatureExtractor
from .asr.las.configuration_las import LasConfig
from .asr.las.modeling_las import LasForSpeechSeq2Seq
from .asr.transformer_asr.configuration_transformer_asr import TransformerAsrConfig
from .asr.transformer_asr.modeling_transformer_asr import TransformerAsrForSpeechSeq2Seq
from .audio import AudioError, load_audio, load_audio_native, resample, save_audio
from .quality.si_snr_estimator.configuration_si_snr_estimator import SiSnrEstimatorConfig
from .quality.si_snr_estimator.modeling_si_snr_estimator import SiSnrEstimatorForQualityEstimation, SiSnrEstimatorModel
from .registry import (
    MODELS,
    AutoModelForSourceSeparation,
    AutoModelForSpeechEnhancement,
    AutoModelForSpeechQualityAssessment,
    register_all,
)
from .separation.conv_tasnet.configuration_conv_tasnet import ConvTasNetConfig
from .separation.conv_tasnet.modeling_conv_tasnet import (
    ConvTasNetForSourceSeparation,
    ConvTasNetForSpeechEnhancement,
    ConvTasNetModel,
)
from .separation.dprnn.configuration_dprnn import DprnnConfig
from .separation.dprnn.modeling_dprnn import DprnnForSourceSeparation, DprnnForSpeechEnhancement, DprnnModel
from .separation.sepformer.configuration_sepformer import SepformerConfig
from .separation.sepformer.modeling_sepformer import (
    SepformerForSourceSeparation,
    SepformerForSpeechEnhancement,
    SepformerModel,
)
from .speaker.ecapa_tdnn.configuration_ecapa_tdnn import EcapaTdnnConfig
from .speaker.ecapa_tdnn.modeling_ecapa_tdnn import EcapaTdnnForSpeakerEmbedding, EcapaTdnnModel
from .speaker.feature_extraction_speaker import SpeakerFeatureExtractor
from .speaker.xvector.configuration_xvector import XvectorConfig
from .speaker.xvector.modeling_xvector import XvectorForSpeakerEmbedding, XvectorModel

register_all()

__version__ = "0.1.0"
__all__ = [
    "AsrFeatureExtractor",
    "AudioError",
    "AutoModelForSourceSeparation",
    "AutoModelForSpeechEnhancement",
    "AutoModelForSpeechQualityAssessment",
    "CharLmConfig",
    "CharLmForCausalLM",
    "ConvTasNetConfig",
    "ConvTasNetForSourceSeparation",
    "ConvTasNetForSpeechEnhancement",
    "ConvTasNetModel",
    "CtcConformerConfig",
    "CtcConformerForCTC",
    "CtcConformerModel",
    "DprnnConfig",
    "DprnnForSourceSeparation",
    "DprnnForSpeechEnhancement",
    "DprnnModel",
    "EcapaTdnnConfig",
    "EcapaTdnnForSpeakerEmbedding",
    "EcapaTdnnModel",
    "LasConfig",
    "LasForSpeechSeq2Seq",
    "MODELS",
    "SepformerConfig",
    "SepformerForSourceSeparation",
    "SepformerForSpeechEnhancement",
    "SepformerModel",
    "SiSnrEstimatorConfig",
    "SiSnrEstimatorForQualityEstimation",
    "SiSnrEstimatorModel",
    "SpeakerFeatureExtractor",
    "TransformerAsrConfig",
    "TransformerAsrForSpeechSeq2Seq",
    "XvectorConfig",
    "XvectorForSpeakerEmbedding",
    "XvectorModel",
    "load_audio",
    "load_audio_native",
    "resample",
    "save_audio",
]
