"""SepFormer for source separation and speech enhancement.

Tensor layouts, used throughout this file:
    waveform        (batch, time)
    attention_mask  (batch, time)                          1 on real samples, 0 on padding
    encoded         (batch, num_filters, frames)
    frame_mask      (batch, frames)                        True on real frames
    chunks          (batch, num_chunks, chunk_size, hidden_size)
    chunk_mask      (batch, num_chunks, chunk_size)        True where a chunk position holds a real frame
    estimates       (batch, num_speakers, time)

The masker cuts the encoded frames into chunks overlapping by half, with half a chunk of padding before the
first frame and after the last so that every real frame lies in exactly two chunks. Each dual-path block runs
a transformer within every chunk (attending along `chunk_size`) and one across chunks (attending along
`num_chunks`). Both attend in place on the same `chunks` tensor: only queries, keys and values are permuted,
never the hidden states.

CPU inference (eval mode, no autograd) computes the same transformers a few sequences at a time, over their
real frames only, on torch's threads (`SepformerTransformer._forward_in_groups`).

Padding never leaks into real frames: attention ignores padded keys (the chunking's own padding included),
normalisation statistics are taken over real positions only, and padded positions are zeroed after every
norm. A padded batch therefore gives the same estimates as one-by-one calls, up to float rounding.
This file imports only torch, transformers and the standard library so that a Hub folder carrying it loads with
`trust_remote_code=True` where zoo is not installed.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_sepformer import SepformerConfig


@dataclass
class SeparationOutput(ModelOutput):
    """Output of a separation / enhancement model.

    Args:
        loss: negative permutation-invariant SI-SNR (dB), averaged over the batch; only when `labels` are given.
        waveforms: `(batch, num_speakers, time)` estimated sources, padding positions zeroed.
        si_snr: `(batch,)` SI-SNR (dB) of the best permutation; only when `labels` are given.
        permutation: `(batch, num_speakers)` label index matched to each estimate; only when `labels` are given.
    """

    loss: Optional[torch.FloatTensor] = None
    waveforms: Optional[torch.FloatTensor] = None
    si_snr: Optional[torch.FloatTensor] = None
    permutation: Optional[torch.LongTensor] = None


def masked_si_snr(estimate: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """SI-SNR in dB over the real samples of `(..., time)` tensors; `mask` broadcasts to them."""
    lengths = mask.sum(-1, keepdim=True).clamp(min=1)
    estimate = (estimate - (estimate * mask).sum(-1, keepdim=True) / lengths) * mask
    target = (target - (target * mask).sum(-1, keepdim=True) / lengths) * mask
    scale = (estimate * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    projection = scale * target
    noise = estimate - projection
    return 10 * torch.log10((projection.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


def pit_si_snr(estimates: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
    """Best-permutation SI-SNR. `estimates`, `targets`: (batch, speakers, time); `mask`: (batch, time).

    Returns `(si_snr, permutation)`: `(batch,)` mean SI-SNR over speakers of the best assignment, and
    `(batch, speakers)` the target index matched to each estimate.
    """
    num_speakers = estimates.shape[1]
    # pairwise[b, i, j] = SI-SNR of estimate i against target j
    pairwise = masked_si_snr(estimates.unsqueeze(2), targets.unsqueeze(1), mask[:, None, None, :])
    perms = torch.tensor(list(itertools.permutations(range(num_speakers))), device=estimates.device)  # (P, S)
    index = torch.arange(num_speakers, device=estimates.device)
    scores = pairwise[:, index, perms].mean(-1)  # (batch, P)
    best = scores.argmax(-1)
    return scores.gather(1, best[:, None]).squeeze(1), perms[best]


# rows (sequences x length) a CPU inference pass takes through all layers of a transformer at once: a group's
# feed-forward activations (rows x ffn_dim floats, 4 MB at the published size) stay in the CPU's cache
INFERENCE_GROUP_POSITIONS = 1024


def sinusoids(length: int, width: int, device, dtype) -> torch.Tensor:
    """`(length, width)` sinusoidal positions, sin and cos interleaved (Vaswani et al., 2017)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    angles = position * frequency  # (length, width // 2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1).to(dtype)


class MaskedGlobalLayerNorm(nn.Module):
    """Layer norm over channels and real frames together (gLN), blind to padded frames. Input `(batch, channels, frames)`."""

    def __init__(self, channels: int, eps: float = 1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.eps = eps

    def forward(self, hidden: torch.Tensor, frame_mask: Optional[torch.Tensor]) -> torch.Tensor:
        if frame_mask is None:  # no padding in the batch: the fused kernel computes the same statistics
            return nn.functional.group_norm(hidden, 1, self.weight.view(-1), self.bias.view(-1), self.eps)
        count = frame_mask.sum((1, 2), keepdim=True).clamp(min=1) * hidden.shape[1]
        mean = (hidden * frame_mask).sum((1, 2), keepdim=True) / count
        var = ((hidden - mean).pow(2) * frame_mask).sum((1, 2), keepdim=True) / count
        return ((hidden - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias) * frame_mask


class MaskedChunkNorm(nn.Module):
    """Layer norm over all real positions of all chunks and all features together, per example.

    SepFormer normalises each intra / inter output with a one-group GroupNorm over (features, chunk, chunks);
    this computes the same statistics over real positions only and zeroes the padded ones.
    """

    def __init__(self, width: int, eps: float = 1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.eps = eps

    def forward(self, chunks: torch.Tensor, chunk_mask: torch.Tensor) -> torch.Tensor:
        mask = chunk_mask.unsqueeze(-1)  # (batch, num_chunks, chunk_size, 1)
        chunks = chunks.masked_fill(~mask, 0.0)
        count = mask.sum((1, 2, 3), keepdim=True).clamp(min=1) * chunks.shape[-1]
        mean = chunks.sum((1, 2, 3), keepdim=True) / count
        centered = (chunks - mean).masked_fill_(~mask, 0.0)
        var = centered.pow(2).sum((1, 2, 3), keepdim=True) / count
        scale = torch.rsqrt(var + self.eps) * self.weight  # (batch, 1, 1, width)
        return torch.addcmul(self.bias, centered, scale).masked_fill_(~mask, 0.0)


class SepformerAttention(nn.Module):
    """Multi-head self-attention along one axis of `chunks`: within chunks, or across them."""

    def __init__(self, config: SepformerConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.head_dim = config.hidden_size // config.num_heads
        self.dropout = config.dropout
        self.in_proj = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, chunks: torch.Tensor, attn_mask: torch.Tensor, across_chunks: bool) -> torch.Tensor:
        """Returns `(batch, num_chunks, chunk_size, width)`, or `(batch, chunk_size, num_chunks, width)` when `across_chunks`."""
        batch, num_chunks, chunk_size, width = chunks.shape
        qkv = self.in_proj(chunks).view(batch, num_chunks, chunk_size, 3, self.num_heads, self.head_dim)
        # SDPA's fused CPU kernel takes 4-d (sequences, heads, length, head_dim) inputs only, strided is fine
        if across_chunks:
            qkv = qkv.permute(3, 0, 2, 4, 1, 5)  # (3, batch, chunk_size, heads, num_chunks, head_dim)
        else:
            qkv = qkv.permute(3, 0, 1, 4, 2, 5)  # (3, batch, num_chunks, heads, chunk_size, head_dim)
        query, key, value = qkv.flatten(1, 2).unbind(0)  # each (sequences, heads, length, head_dim); a view when batch == 1
        attended = nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        # the kernel writes (sequences, length, heads, head_dim) memory: merging the heads is a view, not a copy;
        # across chunks the result stays (batch, chunk_size, num_chunks, width) for the caller's residual add to
        # transpose back in the same pass
        sequences, _, length, _ = attended.shape
        attended = attended.transpose(1, 2).reshape(batch, sequences // batch, length, width)
        return self.out_proj(attended)


class SepformerTransformerLayer(nn.Module):
    """Pre-norm transformer layer: x + attention(norm(x)), then x + ffn(norm(x))."""

    def __init__(self, config: SepformerConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = SepformerAttention(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(config.hidden_size, config.ffn_dim)
        self.ffn_out = nn.Linear(config.ffn_dim, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, chunks: torch.Tensor, attn_mask: torch.Tensor, across_chunks: bool) -> torch.Tensor:
        attended = self.dropout(self.attention(self.attention_norm(chunks), attn_mask, across_chunks))
        if across_chunks:
            chunks = chunks + attended.transpose(1, 2)  # (batch, num_chunks, chunk_size, width), laid out as `chunks`
        else:
            chunks = attended.add_(chunks)  # in place on a fresh buffer: one allocation less (autograd-safe for linear)
        # in-place ReLU and residual on the fresh linear outputs: these (positions x ffn_dim) buffers are the largest
        # of the forward, and every allocation of that size costs page faults
        inner = self.dropout(self.ffn_in(self.ffn_norm(chunks)).relu_())
        return self.dropout(self.ffn_out(inner)).add_(chunks)

    def forward_inference(
        self, hidden: torch.Tensor, attn_mask: Optional[torch.Tensor], buffers: dict, packed: Optional[dict] = None
    ) -> torch.Tensor:
        """The same layer without autograd or dropout, attending along `length` of `(sequences, length, width)`.

        Updates `hidden` in place and returns it. With `packed` (this layer's weights in oneDNN's layout, from
        `SepformerTransformer._packed_weights`) the four projections run as oneDNN matrix products, the ReLU
        fused into the first feed-forward one. Otherwise both residual branches are accumulated by the matrix
        products themselves (`addmm_` into the residual), so no branch output is allocated and added afterwards,
        and the projections write into `buffers`, reused by every layer: a fresh tensor of this size costs page
        faults.
        """
        if packed is not None:
            return self._forward_packed(hidden, attn_mask, packed)
        sequences, length, width = hidden.shape
        flat = hidden.view(-1, width)  # (sequences * length, width)
        attention = self.attention
        qkv = _buffer(buffers, "qkv", (flat.shape[0], 3 * width), hidden)
        torch.addmm(attention.in_proj.bias, self.attention_norm(flat), attention.in_proj.weight.t(), out=qkv)
        attended = self._attend(qkv, sequences, length, attn_mask)
        flat.addmm_(attended, attention.out_proj.weight.t()).add_(attention.out_proj.bias)
        inner = _buffer(buffers, "inner", (flat.shape[0], self.ffn_in.out_features), hidden)
        torch.addmm(self.ffn_in.bias, self.ffn_norm(flat), self.ffn_in.weight.t(), out=inner).relu_()
        flat.addmm_(inner, self.ffn_out.weight.t()).add_(self.ffn_out.bias)
        return hidden

    def _forward_packed(self, hidden: torch.Tensor, attn_mask: Optional[torch.Tensor], packed: dict) -> torch.Tensor:
        sequences, length, width = hidden.shape
        flat = hidden.view(-1, width)
        attention = self.attention
        qkv = _onednn_linear(self.attention_norm(flat), packed["in_proj"], attention.in_proj.bias)
        attended = self._attend(qkv, sequences, length, attn_mask)
        flat.add_(_onednn_linear(attended, packed["out_proj"], attention.out_proj.bias))
        inner = _onednn_linear(self.ffn_norm(flat), packed["ffn_in"], self.ffn_in.bias, "relu")
        flat.add_(_onednn_linear(inner, packed["ffn_out"], self.ffn_out.bias))
        return hidden

    def _attend(self, qkv: torch.Tensor, sequences: int, length: int, attn_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """`(sequences * length, 3 * width)` projected queries, keys and values -> `(sequences * length, width)` attended."""
        attention = self.attention
        qkv = qkv.view(sequences, length, 3, attention.num_heads, attention.head_dim).permute(2, 0, 3, 1, 4)
        attended = nn.functional.scaled_dot_product_attention(*qkv.unbind(0), attn_mask=attn_mask)
        # the kernel writes (sequences, length, heads, head_dim) memory: merging the heads is a view, not a copy
        return attended.transpose(1, 2).reshape(sequences * length, -1)


def _onednn_linear(inputs: torch.Tensor, packed_weight: torch.Tensor, bias: torch.Tensor, activation: str = "none") -> torch.Tensor:
    """`activation(inputs @ weight.T + bias)` by oneDNN from a weight packed by `_pack_linear_weight`."""
    return torch.ops.mkldnn._linear_pointwise(inputs, packed_weight, bias, activation, [], "")


def _pack_linear_weight(weight: torch.Tensor) -> Optional[torch.Tensor]:
    """`weight` `(out, in)` in oneDNN's blocked layout, for `_onednn_linear`; None where this torch has no oneDNN.

    This is what `torch.compile` does to linear weights on CPU when it freezes a model for inference: the
    matrix products then skip re-laying out the weight at every call and run at oneDNN's full rate, about
    15% faster than `addmm` at these sizes on an AVX-512 CPU. Float32 only: other dtypes keep `addmm`.
    """
    if weight.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None)
    except (AttributeError, RuntimeError):  # a torch built without these operators
        return None


def _buffer(buffers: dict, name: str, shape: tuple, like: torch.Tensor) -> torch.Tensor:
    """A `shape` tensor from `buffers[name]`, which grows when too small; its first rows when larger."""
    size = shape[0] * shape[1]
    if name not in buffers or buffers[name].numel() < size:
        buffers[name] = like.new_empty(size)
    return buffers[name][:size].view(shape)


class SepformerTransformer(nn.Module):
    """Sinusoidal positions along the attended axis, pre-norm layers, a final layer norm."""

    def __init__(self, config: SepformerConfig, num_layers: int, across_chunks: bool):
        super().__init__()
        self.across_chunks = across_chunks
        self.layers = nn.ModuleList(SepformerTransformerLayer(config) for _ in range(num_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, chunks: torch.Tensor, attn_mask: torch.Tensor, chunk_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """`chunks` `(batch, num_chunks, chunk_size, width)` -> the same shape; `attn_mask` from `_key_mask`.

        `chunk_mask` `(batch, num_chunks, chunk_size)`, True on real frames, lets CPU inference skip padding.
        """
        if _cpu_inference(self, chunks):
            return self._forward_in_groups(chunks, attn_mask, chunk_mask)
        _, num_chunks, chunk_size, width = chunks.shape
        if self.across_chunks:
            positions = sinusoids(num_chunks, width, chunks.device, chunks.dtype).unsqueeze(1)  # (num_chunks, 1, width)
        else:
            positions = sinusoids(chunk_size, width, chunks.device, chunks.dtype)  # (chunk_size, width)
        hidden = chunks + positions
        for layer in self.layers:
            hidden = layer(hidden, attn_mask, self.across_chunks)
        return self.norm(hidden)

    def _packed_weights(self) -> list:
        """Per layer, its projection weights packed for oneDNN (`_pack_linear_weight`), or None for `addmm`.

        Packed once and kept until a weight changes: the key holds each weight's storage and version counter,
        which every in-place update (an optimizer step, `load_state_dict`) increments.
        """
        names = ("in_proj", "out_proj", "ffn_in", "ffn_out")
        linears = [
            dict(zip(names, (layer.attention.in_proj, layer.attention.out_proj, layer.ffn_in, layer.ffn_out)))
            for layer in self.layers
        ]
        key = tuple((linear.weight.data_ptr(), linear.weight._version, linear.weight.dtype) for layers in linears for linear in layers.values())
        cached = getattr(self, "_packed_cache", None)
        if cached is None or cached[0] != key:
            packed = [{name: _pack_linear_weight(linear.weight) for name, linear in layers.items()} for layers in linears]
            packed = [None if any(weight is None for weight in weights.values()) else weights for weights in packed]
            cached = self._packed_cache = (key, packed)
        return cached[1]

    def _forward_in_groups(self, chunks: torch.Tensor, attn_mask: torch.Tensor, chunk_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """CPU inference: every layer over a few sequences at a time, each cut to its real frames.

        Sequences (chunks, or chunk positions across chunks) never interact, so all layers can run on a group
        of them before the next group starts. A group's activations, about `INFERENCE_GROUP_POSITIONS` rows,
        stay in the CPU cache through all layers; whole-input activations (the feed-forward's is 4x the input)
        would go through main memory at every layer, and every fresh allocation of that size costs page faults.
        With several torch threads, whole groups go to the threads rather than every operation being split
        between them (see `_run_on_threads`).

        The real frames of a sequence are one contiguous run (the chunking pads only before and after them),
        so attending to its real keys alone is slicing them out, not masking: padded positions cost nothing,
        and are left zero in the output (the caller's masked norm ignores them). With an attention mask that
        has holes, whole sequences run under `attn_mask` instead.
        """
        batch, _, _, width = chunks.shape
        out = torch.zeros_like(chunks)
        if self.across_chunks:  # one sequence per chunk position, running across chunks
            source, target = chunks.transpose(1, 2), out.transpose(1, 2)  # (batch, chunk_size, num_chunks, width) views
        else:
            source, target = chunks, out
        num_sequences, length = source.shape[1:3]
        if chunk_mask is None:
            real = attn_mask.view(batch, num_sequences, length)
        else:
            real = chunk_mask.transpose(1, 2) if self.across_chunks else chunk_mask  # (batch, num_sequences, length)
        groups = _sequence_groups(real, INFERENCE_GROUP_POSITIONS)
        positions = sinusoids(length, width, chunks.device, chunks.dtype)  # (length, width)
        packed = self._packed_weights()
        pending = iter(groups)

        def run_groups():  # takes groups until none is left; its own buffers
            buffers = {}
            for example, first, stop, keys in pending:
                if keys is None:  # holes in the mask: all positions, padded keys masked
                    keys, rows = slice(0, length), slice(example * num_sequences + first, example * num_sequences + stop)
                    mask = attn_mask[rows]
                else:
                    mask = None
                hidden = chunks.new_empty(stop - first, keys.stop - keys.start, width)  # (sequences, keys, width)
                torch.add(source[example, first:stop, keys], positions[keys], out=hidden)
                for layer, weights in zip(self.layers, packed):
                    hidden = layer.forward_inference(hidden, mask, buffers, weights)  # (sequences, keys, width)
                target[example, first:stop, keys] = self.norm(hidden)

        _run_on_threads(run_groups, min(torch.get_num_threads(), len(groups)))
        return out


def _sequence_groups(real: torch.Tensor, rows: int) -> list:
    """Split `(batch, sequences, length)` real-position flags into groups for `_forward_in_groups`.

    Returns `(example, first, stop, keys)` tuples: sequences `first:stop` of `example`, whose real positions
    are all `keys` (a slice), about `rows` positions in all; fully padded sequences are left out. Largest
    groups come first: threads taking them in turn then end on small ones, and neither waits long for the
    other. When some sequence's real positions are not one run, every sequence gets a group with `keys=None`.
    """
    batch, num_sequences, length = real.shape
    count = real.sum(-1)
    start = real.to(torch.uint8).argmax(-1)  # first real position
    end = length - real.flip(-1).to(torch.uint8).argmax(-1)  # one past the last
    runs = bool(((end - start == count) | (count == 0)).all())
    step = max(1, rows // length)
    if not runs:
        return [(e, first, min(first + step, num_sequences), None) for e in range(batch) for first in range(0, num_sequences, step)]
    groups = []
    for example, (starts, ends, counts) in enumerate(zip(start.tolist(), end.tolist(), count.tolist())):
        first = 0
        while first < num_sequences:
            if counts[first] == 0:
                first += 1
                continue
            keys = (starts[first], ends[first])
            step = max(1, rows // (keys[1] - keys[0]))
            stop = first + 1
            while stop < num_sequences and stop - first < step and (starts[stop], ends[stop]) == keys and counts[stop]:
                stop += 1
            groups.append((example, first, stop, slice(*keys)))
            first = stop
    return sorted(groups, key=lambda group: (group[2] - group[1]) * (group[3].stop - group[3].start), reverse=True)


def _cpu_inference(module: nn.Module, tensor: torch.Tensor) -> bool:
    """Whether `module` runs CPU inference: eval mode, no autograd or autocast, not traced or compiled."""
    return (
        tensor.device.type == "cpu"
        and not (module.training or torch.is_grad_enabled() or torch.is_autocast_enabled("cpu"))
        and not (torch.jit.is_tracing() or torch.compiler.is_compiling())
    )


_THREAD_POOLS: dict = {}  # (process id, threads) -> ThreadPoolExecutor whose threads run torch ops single-threaded


def _run_on_threads(job, threads: int) -> None:
    """Run `job()` once on each of `threads` threads, each running its torch operations single-threaded.

    The jobs share out independent work among themselves. Splitting every operation between torch's threads
    instead makes them meet at the end of each one; on a busy machine a thread that waits there for a
    descheduled partner loses a scheduler time slice, hundreds of times per forward. Grad mode and inference
    mode are per thread in torch, so the caller's are set again in each worker.
    """
    if threads <= 1:
        job()
        return
    caller_threads, inference = torch.get_num_threads(), torch.is_inference_mode_enabled()
    key = (os.getpid(), threads)  # a forked child inherits the pool object but none of its threads
    if key not in _THREAD_POOLS:
        _THREAD_POOLS[key] = ThreadPoolExecutor(threads, "sepformer", initializer=torch.set_num_threads, initargs=(1,))

    def worker():
        with torch.inference_mode(inference), torch.no_grad():
            job()

    try:
        # every job finishes before this returns or raises: none is left writing into the caller's tensors
        errors = [future.exception() for future in [_THREAD_POOLS[key].submit(worker) for _ in range(threads)]]
    finally:
        torch.set_num_threads(caller_threads)  # a new worker's set_num_threads(1) also sets torch's global default
    for error in errors:
        if error is not None:
            raise error


class SepformerDualPathBlock(nn.Module):
    """Intra-chunk transformer, norm, residual; then inter-chunk transformer, norm, residual."""

    def __init__(self, config: SepformerConfig):
        super().__init__()
        self.intra = SepformerTransformer(config, config.num_intra_layers, across_chunks=False)
        self.intra_norm = MaskedChunkNorm(config.hidden_size)
        self.inter = SepformerTransformer(config, config.num_inter_layers, across_chunks=True)
        self.inter_norm = MaskedChunkNorm(config.hidden_size)

    def forward(self, chunks, chunk_mask, intra_mask, inter_mask) -> torch.Tensor:
        chunks = chunks + self.intra_norm(self.intra(chunks, intra_mask, chunk_mask), chunk_mask)
        return chunks + self.inter_norm(self.inter(chunks, inter_mask, chunk_mask), chunk_mask)


def segment(hidden: torch.Tensor, frame_mask: torch.Tensor, chunk_size: int):
    """Cut `(batch, frames, width)` into `(batch, num_chunks, chunk_size, width)` chunks overlapping by half.

    Half a chunk of padding goes before the first frame and at least as much after the last, so every real
    frame lies in exactly two chunks. Returns the chunks and their `(batch, num_chunks, chunk_size)` mask.
    """
    batch, frames, width = hidden.shape
    hop = chunk_size // 2
    num_chunks = -(-frames // hop) + 1  # halves 1 .. num_chunks - 1 hold the frames; half 0 and the last are padding
    right = (num_chunks + 1) * hop - hop - frames
    padded = nn.functional.pad(hidden, (0, 0, hop, right))  # (batch, (num_chunks + 1) * hop, width)
    chunks = padded.unfold(1, chunk_size, hop).transpose(2, 3).contiguous()  # (batch, num_chunks, chunk_size, width)
    chunk_mask = nn.functional.pad(frame_mask, (hop, right)).unfold(1, chunk_size, hop)  # (batch, num_chunks, chunk_size)
    return chunks, chunk_mask


def overlap_add(chunks: torch.Tensor, frames: int) -> torch.Tensor:
    """Inverse of `segment`: sum the two chunk positions of every frame; `(batch, frames, width)`."""
    batch, num_chunks, chunk_size, width = chunks.shape
    halves = chunks.view(batch, num_chunks, 2, chunk_size // 2, width)
    # half h (1 .. num_chunks - 1) is the first half of chunk h plus the second half of chunk h - 1
    summed = halves[:, 1:, 0] + halves[:, :-1, 1]  # (batch, num_chunks - 1, hop, width)
    return summed.view(batch, -1, width)[:, :frames]


def _key_mask(valid: torch.Tensor) -> torch.Tensor:
    """`(batch, sequences, keys)` validity -> an SDPA boolean mask `(batch * sequences, 1, 1, keys)`.

    A query row whose keys are all padding would get a softmax of all -inf (NaN); such rows belong to padded
    positions, whose outputs are discarded, so they attend everywhere instead.
    """
    return (valid | ~valid.any(-1, keepdim=True)).flatten(0, 1)[:, None, None, :]


class SepformerMasker(nn.Module):
    """Encoded mixture -> one mask per speaker, through dual-path transformer blocks."""

    def __init__(self, config: SepformerConfig):
        super().__init__()
        self.num_speakers = config.num_speakers
        self.chunk_size = config.chunk_size
        self.norm = MaskedGlobalLayerNorm(config.num_filters)
        self.bottleneck = nn.Conv1d(config.num_filters, config.hidden_size, 1, bias=False)
        self.blocks = nn.ModuleList(SepformerDualPathBlock(config) for _ in range(config.num_layers))
        self.prelu = nn.PReLU()
        self.speaker_proj = nn.Linear(config.hidden_size, config.num_speakers * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_gate = nn.Linear(config.hidden_size, config.hidden_size)
        self.mask_proj = nn.Linear(config.hidden_size, config.num_filters, bias=False)

    def forward(self, encoded: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        batch, filters, frames = encoded.shape
        norm_mask = None if bool(frame_mask.all()) else frame_mask.unsqueeze(1).to(encoded.dtype)
        hidden = self.bottleneck(self.norm(encoded, norm_mask)).transpose(1, 2)  # (batch, frames, hidden)
        chunks, chunk_mask = segment(hidden, frame_mask, self.chunk_size)  # (batch, num_chunks, chunk_size, hidden)
        intra_mask = _key_mask(chunk_mask)  # (batch * num_chunks, 1, 1, chunk_size)
        inter_mask = _key_mask(chunk_mask.transpose(1, 2))  # (batch * chunk_size, 1, 1, num_chunks)
        for block in self.blocks:
            chunks = block(chunks, chunk_mask, intra_mask, inter_mask)
        hidden = overlap_add(self.prelu(chunks), frames)  # (batch, frames, hidden)
        # the paper projects every chunk position to the speakers before the overlap-add; a linear map commutes
        # with the sum, so projecting after it is the same model at half the cost (each frame sums two
        # positions, so the bias counts twice)
        hidden = nn.functional.linear(hidden, self.speaker_proj.weight, 2 * self.speaker_proj.bias)
        hidden = hidden.view(batch, frames, self.num_speakers, -1)  # (batch, frames, speakers, hidden)
        hidden = torch.tanh(self.output(hidden)) * torch.sigmoid(self.output_gate(hidden))
        masks = torch.relu(self.mask_proj(hidden))  # (batch, frames, speakers, filters)
        return masks.permute(0, 2, 3, 1)  # (batch, speakers, filters, frames)


class SepformerPreTrainedModel(PreTrainedModel):
    config_class = SepformerConfig
    base_model_prefix = "sepformer"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        # PyTorch's own initialisations, as the reference implementation, rather than N(0, 0.02)
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d, nn.PReLU, nn.LayerNorm)):
            module.reset_parameters()
        elif isinstance(module, (MaskedGlobalLayerNorm, MaskedChunkNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class SepformerModel(SepformerPreTrainedModel):
    """Encoder, masker and decoder; returns `(batch, num_speakers, time)` estimates without a loss."""

    def __init__(self, config: SepformerConfig):
        super().__init__(config)
        self.stride = config.kernel_size // 2
        self.encoder = nn.Conv1d(1, config.num_filters, config.kernel_size, stride=self.stride, bias=False)
        self.masker = SepformerMasker(config)
        self.decoder = nn.ConvTranspose1d(config.num_filters, 1, config.kernel_size, stride=self.stride, bias=False)
        self.post_init()

    def forward(self, input_values: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if input_values.dim() != 2:
            raise ValueError(f"input_values must be (batch, time), got shape {tuple(input_values.shape)}")
        batch, time = input_values.shape
        kernel = self.config.kernel_size
        if time < kernel:
            raise ValueError(f"input has {time} samples, fewer than one encoder frame ({kernel}); pass longer audio")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_values)
        attention_mask = attention_mask.to(input_values.dtype)
        input_values = input_values * attention_mask
        # right-pad so the frames tile the signal exactly; the decoder output is cut back to `time`
        pad = (-(time - kernel)) % self.stride
        padded = nn.functional.pad(input_values, (0, pad)).unsqueeze(1)  # (batch, 1, time + pad)
        encoded = torch.relu(self.encoder(padded))  # (batch, filters, frames)
        lengths = attention_mask.sum(-1)
        # a sequence of n real samples, padded alone, would have ceil((n - kernel) / stride) + 1 frames
        valid_frames = torch.div(lengths - kernel + self.stride - 1, self.stride, rounding_mode="floor").clamp(min=0) + 1
        frames = torch.arange(encoded.shape[-1], device=encoded.device)
        frame_mask = frames[None, :] < valid_frames[:, None]  # (batch, frames)
        encoded = encoded * frame_mask.unsqueeze(1)
        masks = self.masker(encoded, frame_mask)  # (batch, speakers, filters, frames)
        masked = (masks * encoded.unsqueeze(1)).flatten(0, 1)  # (batch * speakers, filters, frames)
        decoded = self.decoder(masked).view(batch, self.config.num_speakers, -1)[..., :time]
        return decoded * attention_mask.unsqueeze(1)  # (batch, speakers, time)


class SepformerForSourceSeparation(SepformerPreTrainedModel):
    """SepFormer with a permutation-invariant SI-SNR loss.

    Args (forward):
        input_values: `(batch, time)` mixtures at `config.sampling_rate`.
        attention_mask: `(batch, time)`, 1 on real samples; None means no padding.
        labels: `(batch, num_speakers, time)` reference sources; when given the loss is computed.

    >>> import torch
    >>> model = SepformerForSourceSeparation(SepformerConfig(num_filters=16, hidden_size=16, num_heads=2,
    ...     ffn_dim=32, chunk_size=10))
    >>> out = model(torch.randn(2, 800), labels=torch.randn(2, 2, 800))
    >>> tuple(out.waveforms.shape), out.loss.dim()
    ((2, 2, 800), 0)
    """

    def __init__(self, config: SepformerConfig):
        super().__init__(config)
        self.sepformer = SepformerModel(config)
        self.post_init()

    def forward(self, input_values, attention_mask=None, labels=None, return_dict=None, **kwargs):
        estimates = self.sepformer(input_values, attention_mask)
        loss = si_snr = permutation = None
        if labels is not None:
            if labels.dim() == 2:
                labels = labels.unsqueeze(1)
            if labels.shape != estimates.shape:
                raise ValueError(f"labels must be (batch, num_speakers, time) = {tuple(estimates.shape)}, got {tuple(labels.shape)}")
            mask = torch.ones_like(input_values) if attention_mask is None else attention_mask.to(input_values.dtype)
            # SI-SNR's log and ratios are unstable in half precision; compute them in float32
            si_snr, permutation = pit_si_snr(estimates.float(), labels.float(), mask.float())
            loss = -si_snr.clamp(max=self.config.sisnr_clamp).mean()
        return SeparationOutput(loss=loss, waveforms=estimates, si_snr=si_snr, permutation=permutation)


class SepformerForSpeechEnhancement(SepformerForSourceSeparation):
    """SepFormer estimating one clean speech source from a noisy (and reverberant) input.

    Same interface as [`SepformerForSourceSeparation`]; `labels` may be `(batch, time)`.
    """

    def __init__(self, config: SepformerConfig):
        if config.num_speakers != 1:
            raise ValueError(f"speech enhancement estimates one source; set num_speakers=1, got {config.num_speakers}")
        super().__init__(config)
