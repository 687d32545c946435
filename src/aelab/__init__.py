"""aelab: the autoencoder family behind one model interface, one trainer and one CLI."""

__version__ = "0.1.0"

from . import models as models  # noqa: E402  (fills the model registry)
from .errors import AelabError  # noqa: E402
from .train.run import load  # noqa: E402

__all__ = ["AelabError", "load", "__version__"]
