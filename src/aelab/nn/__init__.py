"""Building blocks shared by the models."""

from .critic import ConvDiscriminator
from .conv import ConvDecoder, ConvEncoder, check_conv_shape
from .mlp import activation, mlp

__all__ = ["ConvDecoder", "ConvDiscriminator", "ConvEncoder", "activation", "check_conv_shape", "mlp"]
