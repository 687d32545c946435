"""Encoder/decoder pairs by architecture name, shared by every model with an MLP or conv body."""

from __future__ import annotations

import math

from torch import nn

from ..errors import ConfigError
from .conv import ConvDecoder, ConvEncoder
from .mlp import mlp
from .net import Net
from .pool import FlatPoolDecoder, FlatPoolEncoder

# "pool": the ACAI paper's family (nn/pool.py); its code is a grid, so code sizes are multiples of h * w
ARCHS = ("mlp", "conv", "pool")


def encoder_decoder(arch: str, input_shape: tuple[int, ...], net: Net, enc_out: int, dec_in: int,
                    outputs: int = 1) -> tuple[nn.Module, nn.Module]:
    """Encoder (data -> enc_out features) and decoder (dec_in code -> flat pre-activations, B x outputs*C*H*W, with
    `outputs` values per input: 256 logits for a categorical over 8-bit levels, laid out (outputs, C, H, W)), with
    the body `net` describes (its hidden widths for mlp, its channels for conv and pool)."""
    d = math.prod(input_shape)
    out_shape = (outputs * input_shape[0], *input_shape[1:])
    if arch == "conv":
        return ConvEncoder(input_shape, net, enc_out), ConvDecoder(dec_in, net, out_shape)
    if arch == "pool":
        return FlatPoolEncoder(input_shape, net, enc_out), FlatPoolDecoder(dec_in, net, out_shape)
    if arch == "mlp":
        return (nn.Sequential(nn.Flatten(), mlp([d, *net.hidden, enc_out], net)),
                mlp([dec_in, *net.hidden[::-1], outputs * d], net))
    raise ConfigError(f"unknown arch {arch!r}; use {' or '.join(ARCHS)}")
