"""Small Transformer encoder for classification, pre-LN or post-LN.

Attention is written with separate ``q``, ``k``, ``v`` and ``out`` Linear layers (not
``nn.MultiheadAttention``, which packs q/k/v in one tensor) so that each projection is its own
scalable weight; the attention itself is ``F.scaled_dot_product_attention``.

Tokenisation (``embed``):
- sequences (T,): ``nn.Embedding(vocab_size, width)``, one token per position;
- vectors (L,): each scalar a token, ``Linear(1, width)``;
- images (C, H, W): each row a token (``Linear(C*W, width)``, H tokens), or, when H >= 16,
  non-overlapping 4x4 patches (``Linear(C*16, width)``, H*W/16 tokens; H and W must be
  multiples of 4).
A learned positional embedding (a plain parameter, N(0, 0.02^2) as in BERT/ViT, not scalable) is
added, then ``depth`` blocks, mean pooling over tokens, LayerNorm and a Linear head.

Block (pre-LN):  x += drop(attn(LN1(x)));  x += drop(ff2(act(ff1(LN2(x)))))
Block (post-LN): x = LN1(x + drop(attn(x)));  x = LN2(x + drop(ff2(act(ff1(x)))))
``norm_position: none`` drops every LayerNorm (the blocks are pre-LN ones without their norms,
and no norm before the head): a Transformer without normalisation.
ff1 maps width -> 4*width. The feed-forward nonlinearity is ``spec.activation`` (pass "gelu" for
the usual GELU).

Scalable layers and depth index (longest path, residual skips add no depth): ``embed`` 0; block
i's ``blocks.i.attn.q``/``.k``/``.v`` all 1+4i (they run side by side), ``blocks.i.attn.out``
2+4i, ``blocks.i.ff1`` 3+4i, ``blocks.i.ff2`` 4+4i; ``head`` 1+4*depth. So a model of ``depth``
blocks lists 2 + 6*depth layers. Only ff1 carries the activation; all others are "linear".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from initsearch.data.shape import DataShape
from initsearch.models._common import make_activation, named_layers
from initsearch.models.base import ScalableLayer, ScalableModel
from initsearch.models.spec import ModelSpec
from initsearch.models.validate import PATCH, PATCH_MIN_HEIGHT

POS_STD = 0.02


class SelfAttention(nn.Module):
    """Multi-head self-attention with four separately scalable projections."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, w = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(n, t, self.heads, w // self.heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(
            split(self.q(x)),
            split(self.k(x)),
            split(self.v(x)),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(n, t, w))


def layer_norm(spec: ModelSpec) -> nn.Module:
    """A LayerNorm over the width, or nothing for ``norm_position: none`` (the
    normalisation-free Transformer, whose trainability rests on its init alone)."""
    assert spec.width is not None
    return nn.Identity() if spec.norm_position == "none" else nn.LayerNorm(spec.width)


class Block(nn.Module):
    """One encoder block; ``norm_position`` decides where the two LayerNorms sit."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        assert spec.width is not None
        self.pre_norm = spec.norm_position != "post"
        self.norm1 = layer_norm(spec)
        self.attn = SelfAttention(spec.width, spec.heads, spec.dropout)
        self.norm2 = layer_norm(spec)
        self.ff1 = nn.Linear(spec.width, 4 * spec.width)
        self.act = make_activation(spec.activation)
        self.ff2 = nn.Linear(4 * spec.width, spec.width)
        self.drop = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()

    def _ff(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff2(self.act(self.ff1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.drop(self.attn(self.norm1(x)))
            return x + self.drop(self._ff(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attn(x)))
        return self.norm2(x + self.drop(self._ff(x)))


class Transformer(ScalableModel):
    """Encoder-only Transformer classifier; see the module docstring for layer order and depth."""

    def __init__(self, spec: ModelSpec, shape: DataShape) -> None:
        super().__init__(spec, shape)
        spec = self.spec
        self.patches = False
        self.embed: nn.Module
        if shape.kind == "sequence":
            assert shape.vocab_size is not None
            self.embed = nn.Embedding(shape.vocab_size, spec.width)
            tokens = shape.input_shape[0]
        elif shape.kind == "vector":
            self.embed = nn.Linear(1, spec.width)
            tokens = shape.input_shape[0]
        else:
            c, h, w = shape.input_shape
            self.patches = h >= PATCH_MIN_HEIGHT
            if self.patches:
                self.embed = nn.Linear(c * PATCH * PATCH, spec.width)
                tokens = (h // PATCH) * (w // PATCH)
            else:
                self.embed = nn.Linear(c * w, spec.width)
                tokens = h
        self.max_tokens = tokens
        self.pos = nn.Parameter(torch.randn(1, tokens, spec.width) * POS_STD)
        self.drop = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(Block(spec) for _ in range(spec.depth))
        self.norm = layer_norm(spec)
        self.head = nn.Linear(spec.width, shape.num_classes)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Reshape a batch into (N, T, features) for the embedding (token ids stay (N, T))."""
        if self.kind == "sequence":
            return x
        if self.kind == "vector":
            return x.unsqueeze(-1)
        n, c, h, w = x.shape
        if not self.patches:
            return x.permute(0, 2, 1, 3).reshape(n, h, c * w)
        x = x.reshape(n, c, h // PATCH, PATCH, w // PATCH, PATCH)
        return x.permute(0, 2, 4, 1, 3, 5).reshape(n, -1, c * PATCH * PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(self._tokens(x))
        t = h.shape[1]
        if t > self.max_tokens:
            raise ValueError(
                f"input has {t} tokens; this model was built for at most {self.max_tokens}"
            )
        h = self.drop(h + self.pos[:, :t])
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h.mean(dim=1)))

    def scalable_layers(self) -> list[ScalableLayer]:
        act = self.spec.activation
        entries: list[tuple[nn.Module, int, str]] = [(self.embed, 0, "linear")]
        for i, block in enumerate(self.blocks):
            d = 1 + 4 * i
            attn = block.attn  # type: ignore[union-attr]
            entries += [(attn.q, d, "linear"), (attn.k, d, "linear"), (attn.v, d, "linear")]
            entries.append((attn.out, d + 1, "linear"))
            entries.append((block.ff1, d + 2, act))  # type: ignore[union-attr]
            entries.append((block.ff2, d + 3, "linear"))  # type: ignore[union-attr]
        entries.append((self.head, 1 + 4 * len(self.blocks), "linear"))
        return named_layers(self, entries)
