"""Corruption specs: `masking:0.3`, `gaussian:0.5+occlude:10`, `mask:FILE`, parsed and checked without torch.

A spec is a chain of terms applied left to right (Vincent et al., "Extracting and composing robust features
with denoising autoencoders", ICML 2008, Sec. 2.3; "Stacked denoising autoencoders", JMLR 2010, Sec. 4.2):

- gaussian:SIGMA      additive isotropic Gaussian noise, then clipped to the data's [0, 1]
- gaussian:LO-HI      the same with each example's sigma drawn uniformly from [LO, HI] (a blind denoiser's training,
                      DnCNN-B's sigma in [0, 55/255]: Zhang et al. 2017, Sec. IV-A)
- masking:P           a fraction P of the inputs, chosen at random per example, set to 0 (masking noise)
- saltpepper:P        a fraction P set to 0 or 1 with equal probability (salt-and-pepper noise)
- occlude:S           an S x S square at a random place, set to 0 (S, or SxT for a rectangle)
- mask:PATH           a user's mask: an image (white = missing) or a folder / .npy of them, one drawn per example

Terms that destroy inputs (all but gaussian) also mark them "missing": a denoiser can weigh them more in its loss
(`emphasis`, Vincent 2010's emphasised denoising) and an inpainter keeps every other input as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

KINDS = ("gaussian", "masking", "saltpepper", "occlude", "mask")
EXAMPLE = ("e.g. masking:0.3, gaussian:0.5+occlude:10, gaussian:0-0.2, saltpepper:0.2, occlude:8x12, "
           "mask:holes.png")


@dataclass(frozen=True)
class Term:
    """One corruption: its kind and parameters (`amount`: sigma or fraction, the range's low end when `high` > 0;
    `size`: occluder height, width)."""

    kind: str
    amount: float = 0.0
    high: float = 0.0  # gaussian: sigma drawn per example from [amount, high] when > 0
    size: tuple[int, int] = (0, 0)
    path: str = ""

    @property
    def destroys(self) -> bool:
        """Whether the term replaces inputs outright (and marks them missing) rather than perturbing them."""
        return self.kind != "gaussian"

    @property
    def known_positions(self) -> bool:
        """An inpainting task: the user knows where the holes are (a box or a mask), so known pixels are kept."""
        return self.kind in ("occlude", "mask")

    def text(self) -> str:
        if self.kind == "occlude":
            h, w = self.size
            return f"occlude:{h}" if h == w else f"occlude:{h}x{w}"
        if self.kind == "mask":
            return f"mask:{self.path}"
        if self.high:
            return f"{self.kind}:{self.amount:g}-{self.high:g}"
        return f"{self.kind}:{self.amount:g}"


@dataclass(frozen=True)
class CorruptionSpec:
    """A chain of terms, applied left to right."""

    terms: tuple[Term, ...]

    def text(self) -> str:
        return "+".join(t.text() for t in self.terms)

    @property
    def destroys(self) -> bool:
        return any(t.destroys for t in self.terms)

    @property
    def inpainting(self) -> bool:
        return any(t.known_positions for t in self.terms)


def _number(kind: str, value: str, low: float, high: float, what: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise ConfigError(f"corruption {kind}:{value}: {what} must be a number") from None
    if not (math.isfinite(v) and low <= v <= high) or v == 0:
        raise ConfigError(f"corruption {kind}:{value}: {what} must be in ({low:g}, {high:g}]")
    return v


def _term(text: str, base: Path | None) -> Term:
    kind, sep, arg = text.partition(":")
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind not in KINDS:
        raise ConfigError(f"unknown corruption {kind!r} in {text!r}; known: {', '.join(KINDS)} ({EXAMPLE})")
    if not sep or not arg:
        raise ConfigError(f"corruption {kind!r} needs a value after ':' ({EXAMPLE})")
    if kind == "gaussian" and "-" in arg.lstrip("-"):
        low, _, high = arg.partition("-")
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            raise ConfigError(f"corruption gaussian:{arg}: a range of sigmas is two numbers, low-high "
                              "(gaussian:0-0.2)") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 10):
            raise ConfigError(f"corruption gaussian:{arg}: a range of sigmas goes from a low >= 0 to a higher high "
                              "<= 10 (gaussian:0-0.2)")
        return Term(kind, lo, high=hi)
    if kind == "gaussian":
        return Term(kind, _number(kind, arg, 0.0, 10.0, "the noise's standard deviation"))
    if kind in ("masking", "saltpepper"):
        return Term(kind, _number(kind, arg, 0.0, 1.0, "the fraction of inputs"))
    if kind == "occlude":
        parts = arg.lower().split("x")
        try:
            size = tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"corruption occlude:{arg}: the square's side must be a whole number "
                              f"(occlude:10, or occlude:8x12 for height x width)") from None
        if len(size) == 1:
            size = (size[0], size[0])
        if len(size) != 2 or min(size) < 1:
            raise ConfigError(f"corruption occlude:{arg}: give a side >= 1 (occlude:10) or height x width (occlude:8x12)")
        return Term(kind, size=size)  # type: ignore[arg-type]
    path = Path(arg).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.exists():
        raise ConfigError(f"corruption mask:{arg}: no such file or folder ({path})")
    return Term(kind, path=str(path.resolve()))


def parse_corruption(text: str | None, base: Path | None = None) -> CorruptionSpec | None:
    """The spec of `text` ("" or None: no corruption); a mask's path is made absolute (relative to `base`)."""
    if text is None or not text.strip():
        return None
    parts = [p for p in text.split("+")]
    if any(not p.strip() for p in parts):
        raise ConfigError(f"corruption {text!r} has an empty term; join terms with '+' ({EXAMPLE})")
    return CorruptionSpec(tuple(_term(p.strip(), base) for p in parts))
