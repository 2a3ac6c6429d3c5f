"""Listen, Attend and Spell with location-aware attention and joint CTC: log-mel frames -> x4 convolutional
subsampling -> Conformer encoder -> (a) a CTC layer, (b) an LSTM decoder whose attention also sees a convolution of
its previous attention weights (Chorowski et al., 2015); decoded by a beam search that adds CTC prefix scores and a
character LM to the decoder's scores (hybrid CTC/attention decoding, Watanabe et al., 2017).

Tensor layouts, used throughout this file:
    input_features     (batch, frames, num_mel_bins)   log-mel features from `AsrFeatureExtractor` (10 ms frames)
    attention_mask     (batch, frames)                 1 on real frames, 0 on padding
    hidden / memory    (batch, steps, hidden_size)     encoder output, one step every 4 frames (40 ms)
    step_mask          (batch, steps)                  bool, True on real encoder steps
    decoder_input_ids  (batch, target_length)          `<s>` then the transcript's characters (teacher forcing)
    labels             (batch, target_length)          the transcript's characters then `</s>`, padded with -100
    logits             (batch, target_length, vocab)   the decoder's next-character scores
    ctc_logits         (batch, steps, vocab)           per-step CTC scores; the blank is `pad_token_id`
    cross_attentions   1 x (batch, 1, target_length, steps)   the attention weights of every character

Padding never leaks: the encoder's convolutions see zeros past a sequence's end, attention gives padded steps no
weight (so the location convolution sees zeros there, as past a lone sequence's end), and every normalisation is a
LayerNorm; the decoder runs left to right, so positions past a transcript's end never reach real ones. A padded
batch gives the same outputs, and the same `generate()` text, as one-by-one calls.

`generate()` is this model's own (the stock `pipeline("automatic-speech-recognition")` calls it): transformers'
beam search knows nothing of CTC prefix scores. Its defaults come from the checkpoint's `generation_config`
(`num_beams`, `max_new_tokens` and the custom `ctc_weight`, `lm_weight`), so the stock pipeline decodes the way the
checkpoint was set up to, with no arguments.

This file imports only torch and transformers (and its configuration) so that a Hub folder carrying it loads with
`trust_remote_code=True` where zoo is not installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES
from transformers.utils import ModelOutput

from .configuration_las import LasConfig

# log-probability floor of the CTC prefix scorer: exp(-1e4) is 0 in float64, and sums of it stay finite
CTC_FLOOR = -1e4


def halved_lengths(lengths):
    """Frames left of `lengths` frames (a tensor or an int) after one convolution of kernel 3, stride 2, padding 1."""
    return (lengths - 1) // 2 + 1


def subsampled_lengths(lengths):
    """Encoder steps left of `lengths` frames after the two stride-2 convolutions of the front end: about a quarter."""
    return halved_lengths(halved_lengths(lengths))


@dataclass
class SpeechSeq2SeqOutput(ModelOutput):
    """Output of `LasForSpeechSeq2Seq.forward`.

    Args:
        loss: with labels, `ctc_weight * ctc_loss + (1 - ctc_weight) * attention_loss`.
        logits: `(batch, target_length, vocab_size)` decoder scores of the next character.
        attention_loss: the decoder's label-smoothed cross-entropy per character.
        ctc_loss: the CTC loss (per character, averaged over the batch); None without a CTC layer.
        ctc_logits: `(batch, steps, vocab_size)` CTC scores; padded steps pick the blank. None without a CTC layer.
        encoder_last_hidden_state: `(batch, steps, hidden_size)`.
        cross_attentions: with `output_attentions=True`, one `(batch, heads, target_length, steps)` tensor per
            decoder layer: where each character looked in the audio (one `(batch, 1, target_length, steps)` here).
    """

    loss: Optional[torch.FloatTensor] = None
    logits: Optional[torch.FloatTensor] = None
    attention_loss: Optional[torch.FloatTensor] = None
    ctc_loss: Optional[torch.FloatTensor] = None
    ctc_logits: Optional[torch.FloatTensor] = None
    encoder_last_hidden_state: Optional[torch.FloatTensor] = None
    cross_attentions: Optional[tuple] = None


@dataclass
class SpeechSeq2SeqGenerateOutput(ModelOutput):
    """`generate(..., return_dict_in_generate=True)`: `sequences` `(batch, length)` (`<s>`, characters, `</s>`, then
    padding) and `sequences_scores` `(batch,)`, the joint score of each transcript."""

    sequences: Optional[torch.LongTensor] = None
    sequences_scores: Optional[torch.FloatTensor] = None


# ---------------------------------------------------------------------------------------------------------------
# encoder: the Conformer of the CTC Conformer, repeated here so that this file stands alone


class ConvSubsampling(nn.Module):
    """Two stride-2 3x3 convolutions over (frames, mel bins), then a projection: 4x fewer frames, `hidden_size` wide."""

    def __init__(self, config: LasConfig):
        super().__init__()
        channels = config.subsampling_channels
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)
        self.activation = nn.ReLU()
        self.projection = nn.Linear(channels * subsampled_lengths(config.num_mel_bins), config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, features: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
        hidden = features.unsqueeze(1)  # (batch, 1, frames, num_mel_bins)
        for conv in (self.conv1, self.conv2):
            if lengths is not None:
                # a lone sequence sees zeros past its end; so must a padded one
                mask = torch.arange(hidden.shape[2], device=hidden.device)[None, :] < lengths[:, None]
                hidden = hidden * mask[:, None, :, None].to(hidden.dtype)
                lengths = halved_lengths(lengths)
            hidden = self.activation(conv(hidden))  # (batch, channels, frames / 2, mel bins / 2) per convolution
        batch, channels, steps, mels = hidden.shape
        hidden = hidden.permute(0, 2, 1, 3).reshape(batch, steps, channels * mels)  # (batch, steps, channels * mels)
        return self.dropout(self.projection(hidden))  # (batch, steps, hidden_size)


class FeedForward(nn.Module):
    """LayerNorm -> Linear -> SiLU -> Linear (with dropout); the Conformer block adds half of it before and after."""

    def __init__(self, width: int, inner: int, dropout: float, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(width, eps=eps)
        self.inner = nn.Linear(width, inner)
        self.activation = nn.SiLU()
        self.outer = nn.Linear(inner, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.activation(self.inner(self.norm(hidden))))  # (batch, length, inner)
        return self.dropout(self.outer(hidden))  # (batch, length, width)


def rotate(tensor: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: rotate each (first half, second half) feature pair by its position's angle."""
    first, second = tensor.chunk(2, dim=-1)
    return tensor * cos + torch.cat([-second, first], dim=-1) * sin


class SelfAttention(nn.Module):
    """LayerNorm -> multi-head self-attention with rotary positions -> dropout (the encoder's)."""

    def __init__(self, config: LasConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.head_size = config.hidden_size // config.num_heads
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout = config.attention_dropout
        self.dropout = nn.Dropout(config.dropout)
        self.rope_theta = config.rope_theta

    def forward(self, hidden: torch.Tensor, step_mask: Optional[torch.Tensor]) -> torch.Tensor:
        batch, steps, width = hidden.shape
        qkv = self.qkv(self.norm(hidden)).reshape(batch, steps, 3, self.num_heads, self.head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, steps, head_size)
        frequencies = self.rope_theta ** (-torch.arange(0, self.head_size, 2, device=hidden.device, dtype=torch.float32) / self.head_size)
        angles = torch.arange(steps, device=hidden.device, dtype=torch.float32)[:, None] * frequencies[None, :]
        angles = torch.cat([angles, angles], dim=-1)  # (steps, head_size)
        cos, sin = angles.cos().to(hidden.dtype), angles.sin().to(hidden.dtype)
        query, key = rotate(query, cos, sin), rotate(key, cos, sin)
        mask = None if step_mask is None else step_mask[:, None, None, :]  # (batch, 1, 1, steps): no weight on padding
        attended = nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.attention_dropout if self.training else 0.0
        )  # (batch, heads, steps, head_size)
        attended = attended.transpose(1, 2).reshape(batch, steps, width)  # (batch, steps, hidden_size)
        return self.dropout(self.out(attended))


class ConvolutionModule(nn.Module):
    """LayerNorm -> pointwise conv + GLU -> depthwise conv -> LayerNorm (not the paper's BatchNorm: batch-independent)
    -> SiLU -> pointwise conv -> dropout."""

    def __init__(self, config: LasConfig):
        super().__init__()
        width = config.hidden_size
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.pointwise_in = nn.Conv1d(width, 2 * width, kernel_size=1)
        self.glu = nn.GLU(dim=1)
        self.depthwise = nn.Conv1d(width, width, config.conv_kernel_size, padding=config.conv_kernel_size // 2, groups=width)
        self.depthwise_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.activation = nn.SiLU()
        self.pointwise_out = nn.Conv1d(width, width, kernel_size=1)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden: torch.Tensor, step_mask: Optional[torch.Tensor]) -> torch.Tensor:
        hidden = self.norm(hidden).transpose(1, 2)  # (batch, hidden_size, steps)
        hidden = self.glu(self.pointwise_in(hidden))  # (batch, hidden_size, steps)
        if step_mask is not None:
            hidden = hidden * step_mask[:, None, :].to(hidden.dtype)  # zeros past the end, as for a lone sequence
        hidden = self.depthwise(hidden).transpose(1, 2)  # (batch, steps, hidden_size)
        hidden = self.activation(self.depthwise_norm(hidden)).transpose(1, 2)  # (batch, hidden_size, steps)
        return self.dropout(self.pointwise_out(hidden).transpose(1, 2))  # (batch, steps, hidden_size)


class ConformerBlock(nn.Module):
    """x + FFN/2 -> + self-attention -> + convolution -> + FFN/2 -> LayerNorm (Gulati et al., 2020, figure 1)."""

    def __init__(self, config: LasConfig):
        super().__init__()
        args = (config.hidden_size, config.ffn_dim, config.dropout, config.layer_norm_eps)
        self.feed_forward_in = FeedForward(*args)
        self.attention = SelfAttention(config)
        self.convolution = ConvolutionModule(config)
        self.feed_forward_out = FeedForward(*args)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, step_mask: Optional[torch.Tensor]) -> torch.Tensor:
        hidden = hidden + 0.5 * self.feed_forward_in(hidden)
        hidden = hidden + self.attention(hidden, step_mask)
        hidden = hidden + self.convolution(hidden, step_mask)
        hidden = hidden + 0.5 * self.feed_forward_out(hidden)
        return self.norm(hidden)  # (batch, steps, hidden_size)


class ConformerEncoder(nn.Module):
    """Log-mel frames -> `(batch, steps, hidden_size)`, one step every 4 frames, and the `(batch, steps)` step mask."""

    def __init__(self, config: LasConfig):
        super().__init__()
        self.subsampling = ConvSubsampling(config)
        self.blocks = nn.ModuleList([ConformerBlock(config) for _ in range(config.num_layers)])

    def forward(self, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        # no padding in the batch: skip every masking step
        lengths = None if attention_mask is None or bool(attention_mask.all()) else attention_mask.sum(-1).long()
        hidden = self.subsampling(input_features, lengths)  # (batch, steps, hidden_size)
        mask = None
        if lengths is not None:
            mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < subsampled_lengths(lengths)[:, None]
        for block in self.blocks:
            hidden = block(hidden, mask)
        if mask is None:
            mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
        return hidden, mask


# ---------------------------------------------------------------------------------------------------------------
# decoder: the speller


class LocationAwareAttention(nn.Module):
    """Additive attention that also sees where it looked at the previous character (Chorowski et al., 2015):
    `e[j] = w . tanh(W s + V h[j] + U f[j])`, with `f = F * previous_weights` a convolution of the previous weights,
    which lets the alignment move forward through the audio instead of jumping to a similar-sounding place."""

    def __init__(self, config: LasConfig):
        super().__init__()
        self.query = nn.Linear(config.decoder_hidden_size, config.attention_dim, bias=False)
        self.key = nn.Linear(config.hidden_size, config.attention_dim)
        self.location_conv = nn.Conv1d(
            1, config.location_channels, config.location_kernel_size, padding=config.location_kernel_size // 2, bias=False
        )
        self.location = nn.Linear(config.location_channels, config.attention_dim, bias=False)
        self.energy = nn.Linear(config.attention_dim, 1, bias=False)

    def forward(self, query, keys, memory, memory_mask, previous):
        """`query` `(hypotheses, decoder_hidden_size)`, `keys` = `self.key(memory)` `(hypotheses, steps,
        attention_dim)`, `memory` `(hypotheses, steps, hidden_size)`, `memory_mask` `(hypotheses, steps)` bool and
        the `previous` weights `(hypotheses, steps)` -> new weights `(hypotheses, steps)`, context `(hypotheses, hidden_size)`."""
        location = self.location_conv(previous[:, None]).transpose(1, 2)  # (hypotheses, steps, location_channels)
        energies = self.energy(torch.tanh(keys + self.query(query)[:, None] + self.location(location)))[..., 0]  # (hypotheses, steps)
        weights = energies.masked_fill(~memory_mask, torch.finfo(energies.dtype).min).softmax(-1)
        context = torch.bmm(weights[:, None], memory)[:, 0]  # (hypotheses, hidden_size)
        return weights, context


class LasDecoder(nn.Module):
    """The speller: `[embedding of the previous character; previous context]` -> LSTM layers -> attention ->
    `tanh(Linear([state; context]))` -> next-character logits. `forward` for teacher forcing, `step` for decoding."""

    def __init__(self, config: LasConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.decoder_embedding_size)
        inputs = [config.decoder_embedding_size + config.hidden_size] + [config.decoder_hidden_size] * (config.decoder_layers - 1)
        self.cells = nn.ModuleList([nn.LSTMCell(size, config.decoder_hidden_size) for size in inputs])
        self.attention = LocationAwareAttention(config)
        self.output = nn.Linear(config.decoder_hidden_size + config.hidden_size, config.decoder_hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.decoder_hidden_size, config.vocab_size)

    def prepare(self, memory: torch.Tensor, memory_mask: torch.Tensor) -> dict:
        """What every step reuses: the encoder output, its mask and its attention keys."""
        return {"memory": memory, "memory_mask": memory_mask, "keys": self.attention.key(memory)}

    def initial_state(self, context: dict) -> dict:
        """Zero LSTM states and context; attention weights spread evenly over the real steps (no location yet)."""
        memory = context["memory"]
        zeros = memory.new_zeros(memory.shape[0], self.lm_head.in_features)
        mask = context["memory_mask"].to(memory.dtype)
        return {
            "hidden": [zeros] * len(self.cells),
            "cell": [zeros] * len(self.cells),
            "context": memory.new_zeros(memory.shape[0], memory.shape[2]),
            "weights": mask / mask.sum(-1, keepdim=True),  # (hypotheses, steps)
        }

    def step(self, tokens: torch.Tensor, context: dict, state: dict) -> tuple[torch.Tensor, dict]:
        """The last character of every hypothesis, `(hypotheses,)` -> `(hypotheses, vocab)` logits, new state."""
        inputs = torch.cat([self.embed_tokens(tokens), state["context"]], dim=-1)  # (hypotheses, embedding + hidden_size)
        hidden, cell = [], []
        for cell_layer, h, c in zip(self.cells, state["hidden"], state["cell"]):
            h, c = cell_layer(inputs, (h, c))  # each (hypotheses, decoder_hidden_size)
            hidden.append(h)
            cell.append(c)
            inputs = self.dropout(h)
        weights, attended = self.attention(hidden[-1], context["keys"], context["memory"], context["memory_mask"], state["weights"])
        output = torch.tanh(self.output(torch.cat([hidden[-1], attended], dim=-1)))  # (hypotheses, decoder_hidden_size)
        logits = self.lm_head(self.dropout(output))  # (hypotheses, vocab)
        return logits, {"hidden": hidden, "cell": cell, "context": attended, "weights": weights}

    def forward(self, input_ids, context: dict, need_weights: bool = False):
        """Teacher forcing: `(batch, length)` ids -> `(batch, length, vocab)` logits and, with `need_weights`, a
        one-element tuple of `(batch, 1, length, steps)` attention weights."""
        state = self.initial_state(context)
        logits, weights = [], []
        for position in range(input_ids.shape[1]):
            step_logits, state = self.step(input_ids[:, position], context, state)
            logits.append(step_logits)
            weights.append(state["weights"])
        logits = torch.stack(logits, dim=1)  # (batch, length, vocab)
        return logits, ((torch.stack(weights, dim=1)[:, None],) if need_weights else None)


# ---------------------------------------------------------------------------------------------------------------
# decoding: the character LM of shallow fusion, CTC prefix scores, the joint beam search


class FusionLm(nn.Module):
    """The character LM of shallow fusion: `CharLmForCausalLM`'s layers under the same names (embed_tokens, lstm,
    lm_head), so `zoo.asr.attach_lm` copies a trained LM's weights in as they are."""

    def __init__(self, lm_config: dict):
        super().__init__()
        self.embed_tokens = nn.Embedding(lm_config["vocab_size"], lm_config["embedding_size"])
        self.lstm = nn.LSTM(
            lm_config["embedding_size"], lm_config["hidden_size"], lm_config["num_layers"], batch_first=True,
            dropout=lm_config["dropout"] if lm_config["num_layers"] > 1 else 0.0,
        )
        self.dropout = nn.Dropout(lm_config["dropout"])
        self.lm_head = nn.Linear(lm_config["hidden_size"], lm_config["vocab_size"])

    def initial_state(self, hypotheses: int, device) -> dict:
        shape = (self.lstm.num_layers, hypotheses, self.lstm.hidden_size)
        return {"h": torch.zeros(shape, device=device), "c": torch.zeros(shape, device=device)}

    def step(self, tokens: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """`(hypotheses,)` last characters -> `(hypotheses, vocab)` logits of the next one, new state."""
        output, (h, c) = self.lstm(self.embed_tokens(tokens)[:, None], (state["h"], state["c"]))  # (hypotheses, 1, hidden)
        return self.lm_head(output[:, 0]), {"h": h, "c": c}


def reorder(state, index: torch.Tensor):
    """A decoding state (tensors in dicts / lists / tuples; hypotheses on dim 0, or dim 1 for LSTM (h, c)) with the
    hypotheses `index` picks, in that order."""
    if isinstance(state, dict):
        return {key: (value.index_select(1, index) if key in ("h", "c") else reorder(value, index)) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(reorder(value, index) for value in state)
    if state is None:
        return None
    return state.index_select(0, index)


class CtcPrefixScorer:
    """CTC prefix scores (Watanabe et al., 2017, algorithm 2) of every one-character extension of a set of hypotheses.

    For a prefix g, `n[t]` and `b[t]` are the log-probabilities that the first t + 1 frames spell g, ending in a
    non-blank or a blank frame. Extending g by c follows the recursions n'[t] = (n'[t-1] + phi[t-1]) x_c[t] and
    b'[t] = (b'[t-1] + n'[t-1]) x_blank[t] (in probabilities), where phi = n + b, or b alone when c repeats g's last
    character. Both are first-order linear recursions, so they are computed at once for every frame with cumulative
    sums (a log-cumsum-exp) instead of a loop over frames. The prefix score of g + c is the probability of all
    label sequences that start with it, sum_t phi[t-1] x_c[t]; for c = `</s>` it is the probability of g whole,
    n[T] + b[T]. Scores are float64: the cumulative sums span thousands of nats.

    Padded frames must carry log-probability 0 for the blank (the model's CTC logits do): they then add nothing.
    """

    def __init__(self, log_probs: torch.Tensor, blank: int, eos: int):
        self.x = log_probs.double().clamp(min=CTC_FLOOR)  # (hypotheses, steps, vocab)
        self.blank, self.eos = blank, eos
        self.cumulative = self.x.cumsum(1)  # (hypotheses, steps, vocab): sum of x_c over frames 0..t
        self.blank_cumulative = self.cumulative[:, :, blank]  # (hypotheses, steps)

    def initial_state(self) -> dict:
        """The empty prefix: nothing spelt, every frame so far blank; its prefix score is log 1."""
        hypotheses = self.x.shape[0]
        return {
            "n": torch.full_like(self.blank_cumulative, CTC_FLOOR),
            "b": self.blank_cumulative.clone(),
            "score": torch.zeros(hypotheses, dtype=torch.float64, device=self.x.device),
            "last": torch.full((hypotheses,), -1, dtype=torch.long, device=self.x.device),
        }

    def _phi_before(self, state: dict, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        """phi[t-1] for t = 0..T-1 (log 1 before the first frame for the empty prefix, log 0 otherwise):
        `(hypotheses, steps, vocab)` for every next character, or `(hypotheses, steps)` for the given `tokens`."""
        n, b, last = state["n"], state["b"], state["last"]
        total = torch.logaddexp(n, b)  # (hypotheses, steps)
        if tokens is None:
            phi = total[:, :, None].expand(-1, -1, self.x.shape[2]).clone()  # (hypotheses, steps, vocab)
            repeated = last >= 0
            # a repeated character needs a blank between its two copies: only paths ending in a blank continue
            phi[repeated, :, last[repeated]] = b[repeated]
        else:
            phi = torch.where((tokens == last)[:, None], b, total)  # (hypotheses, steps)
        first = torch.where(last < 0, 0.0, CTC_FLOOR).to(phi.dtype)  # (hypotheses,)
        first = first.reshape(-1, *([1] * (phi.dim() - 1))).expand(-1, 1, *phi.shape[2:])
        return torch.cat([first, phi[:, :-1]], dim=1)

    def scores(self, state: dict) -> torch.Tensor:
        """`(hypotheses, vocab)` log prefix scores of every extension (`</s>`: the whole prefix; the blank: floor)."""
        scores = torch.logsumexp(self._phi_before(state, None) + self.x, dim=1)  # (hypotheses, vocab)
        scores[:, self.eos] = torch.logaddexp(state["n"][:, -1], state["b"][:, -1])
        scores[:, self.blank] = CTC_FLOOR
        return scores

    def advance(self, state: dict, source: torch.Tensor, tokens: torch.Tensor, scores: torch.Tensor) -> dict:
        """The state of hypotheses `source` extended by `tokens` (each `(hypotheses,)`); `scores` from `scores()`."""
        parent = {key: value.index_select(0, source) for key, value in state.items()}
        x = self.x.index_select(0, source).gather(2, tokens[:, None, None].expand(-1, self.x.shape[1], 1))[:, :, 0]  # (hyp, steps)
        cumulative = self.cumulative.index_select(0, source).gather(2, tokens[:, None, None].expand(-1, self.x.shape[1], 1))[:, :, 0]
        # n'[t] = sum over s <= t of phi[s-1] * prod_{s..t} x_c, i.e. exp(C[t]) * cumsum(phi[s-1] / exp(C[s-1]))
        n = cumulative + torch.logcumsumexp(self._phi_before(parent, tokens) - (cumulative - x), dim=1)
        n = n.clamp(min=CTC_FLOOR)
        blank_cumulative = self.blank_cumulative.index_select(0, source)
        blank_x = self.x[:, :, self.blank].index_select(0, source)
        n_before = torch.cat([torch.full_like(n[:, :1], CTC_FLOOR), n[:, :-1]], dim=1)  # n'[t-1]; nothing before frame 0
        b = (blank_cumulative + torch.logcumsumexp(n_before - (blank_cumulative - blank_x), dim=1)).clamp(min=CTC_FLOOR)
        return {"n": n, "b": b, "score": scores.index_select(0, source).gather(1, tokens[:, None])[:, 0], "last": tokens}


# ---------------------------------------------------------------------------------------------------------------
# the model


class LasPreTrainedModel(PreTrainedModel):
    config_class = LasConfig
    base_model_prefix = "las"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own init for every layer (Kaiming-uniform projections, N(0, 1) embeddings), rather than N(0, 0.02)
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.LayerNorm, nn.Embedding, nn.LSTM, nn.LSTMCell)):
            module.reset_parameters()

    def _get_feat_extract_output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Encoder steps of inputs of `lengths` feature frames (about a quarter)."""
        return subsampled_lengths(lengths)


def _check_inputs(config, input_features: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> None:
    if input_features.dim() != 3 or input_features.shape[-1] != config.num_mel_bins:
        raise ValueError(
            f"input_features must be (batch, frames, {config.num_mel_bins}) log-mel features, got shape "
            f"{tuple(input_features.shape)}; compute them from {config.sampling_rate} Hz audio with the checkpoint's "
            "feature extractor (AutoFeatureExtractor.from_pretrained(...)(waveforms, sampling_rate=..., return_tensors='pt'))"
        )
    if attention_mask is not None:
        if tuple(attention_mask.shape) != tuple(input_features.shape[:2]):
            raise ValueError(
                f"attention_mask must be (batch, frames) = {tuple(input_features.shape[:2])}, got {tuple(attention_mask.shape)}; "
                "pass the feature extractor's attention_mask"
            )
        empty = (attention_mask.sum(-1) == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"batch rows {empty} have no real frames (attention_mask all 0); drop them or pass audio")


# what generate() falls back to when neither its arguments nor the generation config set a value
DECODING_DEFAULTS = {"num_beams": 1, "ctc_weight": 0.0, "lm_weight": 0.0, "max_new_tokens": 1024}
# generation arguments that the stock pipeline and generate() callers pass and that this model's decoding has no use for
IGNORED_GENERATE_ARGUMENTS = {"pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "use_cache", "max_length", "early_stopping", "length_penalty"}


def mark_as_speech_seq2seq(model_class: type) -> type:
    """Make transformers' stock ASR pipeline decode `model_class` as a sequence-to-sequence model.

    The pipeline picks its "seq2seq" path (audio -> `generate()` -> tokenizer.decode) only for class names listed in
    `MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES`; registering with `AutoModelForSpeechSeq2Seq` does not list them.
    This module adds its class there when it is imported, from zoo or as a checkpoint's remote code alike.
    """
    model_type = model_class.config_class.model_type
    if model_class.__name__ not in MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES.values() and model_type not in MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES:
        MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES[model_type] = model_class.__name__
    return model_class


@mark_as_speech_seq2seq
class LasForSpeechSeq2Seq(LasPreTrainedModel, GenerationMixin):
    """Conformer listener with a CTC layer and an LSTM speller with location-aware attention, trained jointly;
    `generate()` runs joint CTC / attention beam search with optional character-LM shallow fusion.

    Works with transformers' own `pipeline("automatic-speech-recognition", model=folder)` (also with `batch_size`),
    which calls `generate()` with the checkpoint's decoding defaults.

    Args (forward):
        input_features: `(batch, frames, num_mel_bins)` log-mel features from the checkpoint's feature extractor.
        attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
        decoder_input_ids: `(batch, target_length)` ids starting with `<s>`; None: `labels` shifted right (or `<s>`
            alone when there are no labels).
        labels: `(batch, target_length)` character ids ending with `</s>` (the tokenizer appends it), padded with
            -100; when given the joint loss is computed.
        output_attentions: return the decoder's attention weights (the alignment of characters to audio).

    Returns:
        `SpeechSeq2SeqOutput`.

    >>> import torch
    >>> config = LasConfig(hidden_size=16, num_layers=1, num_heads=2, ffn_dim=32, subsampling_channels=8,
    ...                    decoder_embedding_size=8, decoder_hidden_size=16, attention_dim=16, location_channels=4)
    >>> model = LasForSpeechSeq2Seq(config).eval()
    >>> out = model(torch.randn(2, 101, 80), labels=torch.tensor([[5, 6, 2, 7, 31], [9, 9, 31, -100, -100]]))
    >>> tuple(out.logits.shape), tuple(out.ctc_logits.shape), out.loss.dim()
    ((2, 5, 32), (2, 26, 32), 0)
    >>> model.generate(torch.randn(1, 101, 80), num_beams=2, max_new_tokens=3).shape[0]
    1
    """

    def __init__(self, config: LasConfig):
        super().__init__(config)
        self.encoder = ConformerEncoder(config)
        self.ctc_head = nn.Linear(config.hidden_size, config.vocab_size) if config.ctc_weight > 0 else None
        self.decoder = LasDecoder(config)
        self.lm = FusionLm(config.lm_config) if config.lm_config is not None else None
        self.dropout = nn.Dropout(config.dropout)
        self.post_init()
        # decoding defaults, saved as generation_config.json: joint CTC / attention beam search when there is a CTC
        # layer, LM fusion when there is an LM. A loaded checkpoint's own generation_config.json replaces them.
        defaults = {"num_beams": 4, "max_new_tokens": DECODING_DEFAULTS["max_new_tokens"], "ctc_weight": config.ctc_weight,
                    "lm_weight": 0.3 if self.lm is not None else 0.0}
        for name, value in defaults.items():  # setattr: GenerationConfig.update ignores names it does not know
            setattr(self.generation_config, name, value)
        # not "made from the model config" any more: loading such a file would drop the custom ctc_weight / lm_weight
        self.generation_config._from_model_config = False

    # -- encoder and CTC

    def encode(self, input_features, attention_mask=None) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """`(hidden (batch, steps, hidden_size), step_mask (batch, steps), ctc_logits (batch, steps, vocab) or None)`."""
        _check_inputs(self.config, input_features, attention_mask)
        hidden, step_mask = self.encoder(input_features, attention_mask)
        ctc_logits = None
        if self.ctc_head is not None:
            ctc_logits = self.ctc_head(self.dropout(hidden))  # (batch, steps, vocab)
            if not bool(step_mask.all()):
                # steps past an utterance's end emit the blank with certainty: they add nothing to any CTC score
                blank = torch.full_like(ctc_logits[0, 0], torch.finfo(ctc_logits.dtype).min)
                blank[self.config.pad_token_id] = 0.0
                ctc_logits = torch.where(step_mask[..., None], ctc_logits, blank)
        return hidden, step_mask, ctc_logits

    def forward(
        self, input_features, attention_mask=None, decoder_input_ids=None, labels=None, output_attentions=None, return_dict=None, **kwargs
    ) -> SpeechSeq2SeqOutput:
        config = self.config
        if labels is not None and labels.numel() and labels.max() >= config.vocab_size:
            raise ValueError(
                f"labels must be character ids below vocab_size={config.vocab_size} (or -100 for padding), got "
                f"{labels.max().item()}; encode the text with the checkpoint's tokenizer"
            )
        hidden, step_mask, ctc_logits = self.encode(input_features, attention_mask)
        if decoder_input_ids is None:
            if labels is not None:
                # teacher forcing: <s> then the transcript; -100 padding becomes pad ids the causal decoder never reads back
                decoder_input_ids = labels.masked_fill(labels < 0, config.pad_token_id).roll(1, dims=1)
                decoder_input_ids[:, 0] = config.decoder_start_token_id
            else:
                decoder_input_ids = torch.full((hidden.shape[0], 1), config.decoder_start_token_id, device=hidden.device)
        context = self.decoder.prepare(hidden, step_mask)
        logits, cross_attentions = self.decoder(decoder_input_ids, context, need_weights=bool(output_attentions))

        loss = attention_loss = ctc_loss = None
        if labels is not None:
            # cross-entropy and CTC are unstable in half precision; compute them in float32
            attention_loss = nn.functional.cross_entropy(
                logits.float().reshape(-1, config.vocab_size), labels.reshape(-1), ignore_index=-100, label_smoothing=config.label_smoothing
            )
            loss = attention_loss
            if ctc_logits is not None:
                ctc_loss = self.ctc_loss(ctc_logits, step_mask, labels)
                loss = config.ctc_weight * ctc_loss + (1 - config.ctc_weight) * attention_loss
        return SpeechSeq2SeqOutput(
            loss=loss, logits=logits, attention_loss=attention_loss, ctc_loss=ctc_loss, ctc_logits=ctc_logits,
            encoder_last_hidden_state=hidden, cross_attentions=cross_attentions,
        )

    def ctc_loss(self, ctc_logits: torch.Tensor, step_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """CTC loss of the transcript (`labels` without `</s>` and padding), per character, averaged over the batch."""
        targets = (labels >= 0) & (labels != self.config.eos_token_id)
        log_probs = nn.functional.log_softmax(ctc_logits, dim=-1, dtype=torch.float32).transpose(0, 1)  # (steps, batch, vocab)
        with torch.backends.cudnn.flags(enabled=False):  # cuDNN's CTC needs all targets on the CPU, and int32
            return nn.functional.ctc_loss(
                log_probs, labels.masked_select(targets), step_mask.sum(-1), targets.sum(-1),
                blank=self.config.pad_token_id, reduction="mean", zero_infinity=self.config.ctc_zero_infinity,
            )

    # -- decoding

    def _decoding_settings(self, generation_config: Optional[GenerationConfig], overrides: dict) -> dict:
        """Each setting from the call's arguments, else the call's `generation_config`, else the model's, else the
        built-in default; checked against what this checkpoint has."""
        settings = {}
        for name, default in DECODING_DEFAULTS.items():
            value = overrides.get(name)
            for config in (generation_config, self.generation_config):
                if value is None and config is not None:
                    value = getattr(config, name, None)
            settings[name] = default if value is None else value
        num_beams, ctc_weight, lm_weight = int(settings["num_beams"]), float(settings["ctc_weight"]), float(settings["lm_weight"])
        if num_beams < 1:
            raise ValueError(f"num_beams must be >= 1 (1 is greedy), got {num_beams}")
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must lie in [0, 1] (0: attention scores only), got {ctc_weight}")
        if ctc_weight > 0 and self.ctc_head is None:
            raise ValueError(f"ctc_weight={ctc_weight} but this checkpoint has no CTC layer (trained with ctc_weight=0); pass ctc_weight=0")
        if lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {lm_weight}")
        if lm_weight > 0 and self.lm is None:
            raise ValueError(
                f"lm_weight={lm_weight} but this checkpoint holds no language model; pass lm_weight=0, or add one with "
                "`zoo attach-lm ASR_CHECKPOINT LM_CHECKPOINT --output FOLDER`"
            )
        if int(settings["max_new_tokens"]) < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {settings['max_new_tokens']}")
        return {"num_beams": num_beams, "ctc_weight": ctc_weight, "lm_weight": lm_weight, "max_new_tokens": int(settings["max_new_tokens"])}

    @torch.no_grad()
    def generate(
        self,
        input_features: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        num_beams: Optional[int] = None,
        ctc_weight: Optional[float] = None,
        lm_weight: Optional[float] = None,
        max_new_tokens: Optional[int] = None,
        generation_config: Optional[GenerationConfig] = None,
        return_dict_in_generate: Optional[bool] = None,
        **kwargs,
    ):
        """Transcribe: beam search scoring `(1 - ctc_weight) * log p_attention + ctc_weight * log p_ctc +
        lm_weight * log p_lm` (CTC prefix scores; LM shallow fusion), greedy with `num_beams=1` and both weights 0.

        Every argument left None comes from `generation_config` (the call's, then the checkpoint's
        `generation_config.json`), so `pipeline("automatic-speech-recognition", model=folder)` decodes as the
        checkpoint was set up to; pass them to the pipeline call (`asr(audio, num_beams=1, ctc_weight=0)`) to override.

        Args:
            input_features: `(batch, frames, num_mel_bins)` log-mel features.
            attention_mask: `(batch, frames)`, 1 on real frames; None means no padding.
            num_beams: hypotheses kept per utterance; 1 is greedy.
            ctc_weight: weight of the CTC prefix scores, in [0, 1]; needs a CTC layer.
            lm_weight: weight of the character LM's log-probabilities; needs an LM (`zoo attach-lm`).
            max_new_tokens: characters per transcript at most; each utterance also stops at one character per
                encoder step (40 ms), as many as CTC could align.
            generation_config: a `GenerationConfig` whose `num_beams`, `ctc_weight`, `lm_weight`, `max_new_tokens`
                replace the checkpoint's.
            return_dict_in_generate: return `SpeechSeq2SeqGenerateOutput` (sequences and their scores).

        Returns:
            `(batch, length)` ids: `<s>`, the transcript's characters, `</s>`, then padding; decode them with
            `tokenizer.batch_decode(ids, skip_special_tokens=True)`.
        """
        if kwargs.get("do_sample"):
            raise ValueError("sampling (do_sample=True) is not supported; this model decodes by (joint) beam search")
        unknown = sorted(set(kwargs) - IGNORED_GENERATE_ARGUMENTS - {"do_sample"} - set(vars(GenerationConfig())))
        if unknown:
            raise TypeError(f"generate() got unexpected arguments {unknown}; it takes num_beams, ctc_weight, lm_weight, max_new_tokens")
        settings = self._decoding_settings(
            generation_config, {"num_beams": num_beams, "ctc_weight": ctc_weight, "lm_weight": lm_weight, "max_new_tokens": max_new_tokens}
        )
        if return_dict_in_generate is None:
            return_dict_in_generate = bool(getattr(generation_config, "return_dict_in_generate", False))
        hidden, step_mask, ctc_logits = self.encode(input_features, attention_mask)
        limits = step_mask.sum(-1).clamp(max=settings["max_new_tokens"])  # (batch,) characters per utterance at most
        ctc_log_probs = ctc_logits.float().log_softmax(-1) if settings["ctc_weight"] > 0 else None
        sequences, scores = self._beam_search(hidden, step_mask, ctc_log_probs, limits, **{k: settings[k] for k in ("num_beams", "ctc_weight", "lm_weight")})
        if return_dict_in_generate:
            return SpeechSeq2SeqGenerateOutput(sequences=sequences, sequences_scores=scores)
        return sequences

    def _beam_search(self, hidden, step_mask, ctc_log_probs, limits, num_beams: int, ctc_weight: float, lm_weight: float):
        """Batched beam search; every utterance's hypotheses depend on its own inputs only.

        Each step extends every live hypothesis by every character, scores the extensions, and keeps the
        `num_beams` best per utterance; `</s>` among the `num_beams` best candidates ends a hypothesis. As every
        score term is a log-probability (the CTC term is the change of a prefix probability, which can only fall),
        scores only fall: an utterance is done once its best ended hypothesis beats every live one.
        """
        config = self.config
        batch, beams, vocab = hidden.shape[0], num_beams, config.vocab_size
        device = hidden.device
        bos, eos, pad = config.decoder_start_token_id, config.eos_token_id, config.pad_token_id
        rows = torch.arange(batch, device=device).repeat_interleave(beams)  # utterance of each hypothesis
        context = self.decoder.prepare(hidden.repeat_interleave(beams, 0), step_mask.repeat_interleave(beams, 0))
        decoder_state = self.decoder.initial_state(context)
        lm_state = self.lm.initial_state(batch * beams, device) if lm_weight > 0 else None
        ctc = ctc_state = None
        if ctc_weight > 0:
            ctc = CtcPrefixScorer(ctc_log_probs.repeat_interleave(beams, 0), blank=pad, eos=eos)
            ctc_state = ctc.initial_state()

        scores = torch.full((batch, beams), -math.inf, device=device)
        scores[:, 0] = 0.0  # one live hypothesis to start with, not `beams` copies of it
        tokens = torch.full((batch * beams, 1), bos, dtype=torch.long, device=device)
        best_scores = torch.full((batch,), -math.inf, device=device)
        best_tokens: list = [tokens.new_zeros(0)] * batch
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        never = torch.zeros(vocab, dtype=torch.bool, device=device)
        never[[pad, bos]] = True  # the blank / padding and <s> are never spelt
        not_eos = torch.arange(vocab, device=device) != eos
        ranks = torch.arange(2 * beams, device=device)

        for length in range(int(limits.max()) + 1):
            logits, decoder_state = self.decoder.step(tokens[:, -1], context, decoder_state)
            increments = (1.0 - ctc_weight) * logits.float().log_softmax(-1)  # (hypotheses, vocab)
            if ctc is not None:
                ctc_scores = ctc.scores(ctc_state)  # (hypotheses, vocab)
                increments = increments + ctc_weight * (ctc_scores - ctc_state["score"][:, None]).float()
            if lm_state is not None:
                lm_logits, lm_state = self.lm.step(tokens[:, -1], lm_state)
                increments = increments + lm_weight * lm_logits.float().log_softmax(-1)
            at_limit = (length >= limits)[rows]  # (hypotheses,): only </s> may follow
            increments = increments.masked_fill(never | (at_limit[:, None] & not_eos), -math.inf)

            candidates = (scores.reshape(-1, 1) + increments).reshape(batch, beams * vocab)
            top_scores, top_index = candidates.topk(2 * beams, dim=1)  # (batch, 2 * beams): enough to refill the beam
            source, token = top_index // vocab, top_index % vocab
            is_eos = token == eos
            ended = is_eos & (ranks < beams) & ~done[:, None] & (top_scores > -math.inf)
            for row, rank in ended.nonzero().tolist():
                if top_scores[row, rank] > best_scores[row]:
                    best_scores[row] = top_scores[row, rank]
                    best_tokens[row] = tokens[row * beams + source[row, rank], 1:].clone()
            # the best `beams` candidates that do not end go on (in rank order)
            keep = (is_eos.long() * 2 * beams + ranks).argsort(dim=1)[:, :beams]  # (batch, beams)
            scores = top_scores.gather(1, keep).masked_fill(is_eos.gather(1, keep), -math.inf)
            token = token.gather(1, keep).reshape(-1)  # (hypotheses,)
            parent = (torch.arange(batch, device=device)[:, None] * beams + source.gather(1, keep)).reshape(-1)
            tokens = torch.cat([tokens.index_select(0, parent), token[:, None]], dim=1)
            decoder_state = reorder(decoder_state, parent)
            if lm_state is not None:
                lm_state = reorder(lm_state, parent)
            if ctc is not None:
                ctc_state = ctc.advance(ctc_state, parent, token, ctc_scores)
            done |= best_scores >= scores.max(dim=1).values
            if bool(done.all()):
                break

        longest = max(len(t) for t in best_tokens) + 2
        sequences = torch.full((batch, longest), pad, dtype=torch.long, device=device)
        for row, spelt in enumerate(best_tokens):
            sequences[row, : len(spelt) + 2] = torch.cat([spelt.new_tensor([bos]), spelt, spelt.new_tensor([eos])])
        return sequences, best_scores
