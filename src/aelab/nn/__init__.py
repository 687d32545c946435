"""Building blocks shared by the models."""

from .builders import ARCHS, encoder_decoder
from .conv import ConvDecoder, ConvEncoder, check_conv_shape
from .critic import ConvDiscriminator
from .gaussian import LOG_2PI, gaussian_kl, gaussian_log_density, reparameterize
from .mlp import activation, mlp

__all__ = ["ARCHS", "ConvDecoder", "ConvDiscriminator", "ConvEncoder", "LOG_2PI", "activation", "check_conv_shape",
           "encoder_decoder", "gaussian_kl", "gaussian_log_density", "mlp", "reparameterize"]
