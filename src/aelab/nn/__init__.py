"""Building blocks shared by the models."""

from .builders import ARCHS, encoder_decoder
from .conv import ConvDecoder, ConvEncoder, check_conv_shape
from .critic import ConvDiscriminator
from .gaussian import LOG_2PI, gaussian_kl, gaussian_log_density, reparameterize
from .mlp import mlp
from .net import NORMS, Net, activation, has_batch_norm
from .pixelcnn import GatedPixelCNN
from .pool import PoolDecoder, PoolEncoder, pool_grid
from .quantizer import VectorQuantizer, codebook_usage

__all__ = ["ARCHS", "ConvDecoder", "ConvDiscriminator", "ConvEncoder", "GatedPixelCNN", "LOG_2PI", "NORMS", "Net",
           "PoolDecoder", "PoolEncoder", "VectorQuantizer", "activation", "check_conv_shape", "codebook_usage",
           "encoder_decoder", "gaussian_kl", "gaussian_log_density", "has_batch_norm", "mlp", "pool_grid",
           "reparameterize"]
