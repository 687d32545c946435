"""The model contract (encode / decode / updates), the batch and noise a loss sees, the registry of models.

Vocabulary used everywhere: a *step* is one batch of training (the global step counter); an
*update* is one optimiser update inside a step (a VAE-GAN step runs three updates); a *stage*
is one model trained to the end inside a run (RBM pre-training, the main model, a prior).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from ..config import from_dict, to_dict
from ..errors import ConfigError
from ..nn import likelihood as lik
from ..nn.collective import Collective
from .capabilities import Traits


class Noise:
    """The random draws of one update in one step, made for the whole global batch and cut to this process's rows.

    Seeded by (seed, step, update, draw number) alone, so the training noise depends neither on the RNG
    state nor on how many processes share the batch: N processes train exactly as one would. Drawn on the training
    device, never copied from the CPU: the numbers differ between device types (CUDA's generator is not the CPU's).
    """

    def __init__(self, seed: int, step: int, update: int, rows: tuple[int, int], total: int,
                 device: torch.device | str = "cpu") -> None:
        self.seed = seed
        self.key = ((seed * 1_000_003 + step) * 1_009 + update) * 1_013
        self.rows, self.total, self.device = rows, total, torch.device(device)
        self.draws = 0

    def _generator(self) -> torch.Generator:
        self.draws += 1
        return torch.Generator(self.device).manual_seed((self.key + self.draws) % (2**63))

    def randn(self, *shape: int) -> Tensor:
        """Standard normal draws of shape (rows of this process, *shape), made on the device."""
        full = torch.randn(self.total, *shape, generator=self._generator(), device=self.device)
        return full[self.rows[0] : self.rows[1]]

    def rand(self, *shape: int) -> Tensor:
        """Uniform [0, 1) draws of shape (rows of this process, *shape), made on the device."""
        full = torch.rand(self.total, *shape, generator=self._generator(), device=self.device)
        return full[self.rows[0] : self.rows[1]]


@dataclass
class Batch:
    """One training batch: data shaped (B, *input_shape), labels when the data has them.

    Losses draw their noise through the batch (`randn_like`, `randn`, `bernoulli`): from the trainer's
    `Noise` when it set one, else from torch's global generator (a loss called by hand).
    """

    x: Tensor
    y: Tensor | None = None
    noise: Noise | None = None
    index: Tensor | None = None  # each row's position in the training data (set by the trainer)
    # A denoiser's batch (TrainConfig.corrupt): x is the corrupted input, `clean` what the loss compares with,
    # `missing` (bool, x's shape) the inputs the corruption destroyed, weighted `emphasis` in a per-input loss.
    clean: Tensor | None = None
    missing: Tensor | None = None
    emphasis: float = 1.0
    # of `missing`, the holes whose place is known (occlusion, a user's mask), bool, x's shape: what an inpainter is
    # told at restore time (`restore(x, known=~holes)`), so a model that reads the mask sees it in training too
    holes: Tensor | None = None
    # the processes sharing the global batch (the trainer's `Ranks`), for a loss that keeps statistics of the whole
    # batch (VQ-VAE's EMA codebook); None: this batch is all there is
    ranks: Collective | None = None

    @property
    def target(self) -> Tensor:
        """What a reconstruction is compared with: the clean input (x itself unless the batch was corrupted)."""
        return self.x if self.clean is None else self.clean

    def input_weights(self) -> Tensor | None:
        """Per-input loss weights (B, D): `emphasis` on destroyed inputs, 1 elsewhere; None when all are 1."""
        if self.missing is None or self.emphasis == 1.0:
            return None
        return 1.0 + (self.emphasis - 1.0) * self.missing.flatten(1).to(self.x.dtype)

    def fixed_randn(self, *shape: int) -> Tensor:
        """N(0, 1) draws that belong to each example: the same row gets the same draw at every step.

        Salakhutdinov & Hinton's "deterministic noise" (Semantic hashing, 2009): fixed per training case, so the
        gradient stays deterministic. Seeded by (seed, row) alone; without row indices (a loss called by hand),
        fresh draws from torch's generator.
        """
        device = self.x.device
        if self.index is None:
            return torch.randn(self.x.shape[0], *shape, device=device)
        seed = self.noise.seed if self.noise is not None else 0
        rows = [torch.randn(*shape, device=device,
                            generator=torch.Generator(device).manual_seed(seed * 1_000_003 + 7_919 * int(i) + 1))
                for i in self.index.tolist()]
        return torch.stack(rows) if rows else torch.zeros(0, *shape, device=device)

    def randn_like(self, t: Tensor) -> Tensor:
        """N(0, 1) draws shaped like `t`, whose first dimension is the batch."""
        if self.noise is None:
            return torch.randn_like(t)
        return self.noise.randn(*t.shape[1:]).to(t.dtype)

    def randn(self, *shape: int) -> Tensor:
        """N(0, 1) draws of shape (B, *shape), on the batch's device."""
        if self.noise is None:
            return torch.randn(self.x.shape[0], *shape, device=self.x.device)
        return self.noise.randn(*shape)

    def rand(self, *shape: int) -> Tensor:
        """Uniform [0, 1) draws of shape (B, *shape), on the batch's device."""
        if self.noise is None:
            return torch.rand(self.x.shape[0], *shape, device=self.x.device)
        return self.noise.rand(*shape)

    def bernoulli(self, p: Tensor) -> Tensor:
        """A Bernoulli draw with probabilities `p` (first dimension the batch)."""
        if self.noise is None:
            return torch.bernoulli(p)
        return (self.noise.rand(*p.shape[1:]).to(p.dtype) < p).to(p.dtype)


@dataclass(frozen=True)
class Progress:
    """Where training is when an update runs: schedules (KL warm-up, ramps, `every`) read it."""

    step: int  # steps done before this one (0 for the first batch)
    total_steps: int
    steps_per_epoch: int

    @property
    def epoch(self) -> float:
        """Epochs done, fractional (0.5 = half-way through the first epoch)."""
        return self.step / self.steps_per_epoch

    @property
    def fraction(self) -> float:
        """Fraction of this stage's steps done, in [0, 1)."""
        return self.step / self.total_steps

    @classmethod
    def at(cls, step: int = 0, total_steps: int = 1, steps_per_epoch: int = 1) -> "Progress":
        """A progress value for calling a loss outside the trainer (tests, notebooks)."""
        return cls(step, max(total_steps, step + 1), steps_per_epoch)


def ramp(progress: Progress, epochs: float) -> float:
    """Linear warm-up factor: 0 at the start, 1 after `epochs` epochs (1 throughout when epochs is 0)."""
    return 1.0 if epochs <= 0 else min(1.0, progress.epoch / epochs)


@dataclass
class Update:
    """One optimiser update inside a step: the parameters it may change and the loss it follows.

    `every` = n runs it only on every n-th step (a generator updated once per n critic updates);
    `lr_scale(progress)` multiplies the run's learning-rate schedule for this update (a model's own ramp).
    """

    name: str
    params: list[nn.Parameter]
    loss: Callable[[Batch, Progress], dict[str, Tensor]]
    every: int = 1
    lr_scale: Callable[[Progress], float] | None = None

    def due(self, progress: Progress) -> bool:
        """Whether this update runs at `progress`."""
        return progress.step % self.every == 0


class Trainable(nn.Module):
    """Anything the trainer can train: a config, an input shape and its `updates()`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    traits: ClassVar[Traits] = Traits()  # what the family is; what it can do are its methods (models.capabilities)

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def example_input(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n inputs of the kind this model takes, for tests and smoke runs: uniform in [0, 1] by default."""
        return torch.rand(n, *self.input_shape, generator=generator)

    def updates(self) -> list[Update]:
        raise NotImplementedError

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. (C, H, W)."""
        return tuple(self.config.input_shape)

    def check_input(self, x: Tensor) -> None:
        """Refuse data whose per-example shape differs from the model's."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"data of shape {tuple(x.shape[1:])} does not fit model {self.name!r}, "
                f"which expects {self.input_shape}"
            )

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-example evaluation terms, shape (B,) each."""
        return {}

    def prepare(self, x: Tensor) -> None:
        """Data-dependent initialisation before a stage's first step (never on resume); default: none."""

    def set_training_data(self, x: Tensor) -> None:
        """What the loss reads of the whole training set by `Batch.index` (semhash's neighbourhood targets),
        computed again at every start and resume after `prepare`, never saved; default: nothing."""

    # --- stages: how this model uses the stages of its run -------------------------------
    def stage_output(self, x: Tensor) -> Tensor:
        """What a later stage that names this one as its input trains on (a batch of `x` in, a batch out)."""
        raise ConfigError(f"model {self.name!r} produces nothing for a later stage to train on")

    def stage_output_config(self) -> dict[str, Any]:
        """What a stage trained on `stage_output` must be configured with to fit it: its input shape (a VQ-VAE
        adds its codebook size). The planner puts this into such a stage's config; recipes never restate it."""
        with torch.no_grad():
            out = self.stage_output(self.example_input(1))
        return {"input_shape": list(out.shape[1:])}

    def initialise_from(self, stages: dict[str, "Trainable"]) -> None:
        """Take initial weights from the trained stages before this one (e.g. unroll RBMs); default: none."""

    def attach(self, stages: dict[str, "Trainable"]) -> None:
        """Take the trained stages after this one into the composed model (e.g. a prior); default: none."""


class Autoencoder(Trainable):
    """Base of every autoencoder: `encode` data to a code, `decode` it back to data in [0, 1].

    A prior stage trained on its codes (`--prior gmm`) is attached as `prior`, and brings a `sample` method with it
    (the `Sampler` capability is this model as it is: absent until then).
    """

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    @property
    def prior(self) -> "DensityModel | None":
        """The density over codes attached from a prior stage, if the run has one."""
        return self._modules.get("prior")  # type: ignore[return-value]

    def stage_output(self, x: Tensor) -> Tensor:
        """Codes, flat, as examples of shape (1, 1, d): what an RBM above or a prior over codes sees."""
        return self.encode(x).flatten(1).unsqueeze(1).unsqueeze(1)

    def from_stage_output(self, s: Tensor) -> Tensor:
        """Data from what `stage_output` gives (or a prior samples): the inverse side of the pair."""
        return self.decode(s.flatten(1))

    def attach(self, stages: dict[str, Trainable]) -> None:
        if "prior" in stages:
            self._modules["prior"] = stages["prior"]  # a submodule (moves with .to()), read through the property
            if not hasattr(type(self), "sample"):  # the Sampler capability comes with the prior (a family's own wins)
                self.sample = self._sample_prior

    @torch.no_grad()  # a draw, not a path for gradients
    def _sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decodings of n draws from the attached prior over codes: `sample` once a prior is attached."""
        return self.from_stage_output(self.prior.sample(n, generator=generator))

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Squared error and cross-entropy summed over pixels, and PSNR (dB, peak 1), per example."""
        return reconstruction_terms(self(x), x)


def reconstruction_terms(recon: Tensor, x: Tensor) -> dict[str, Tensor]:
    """Squared error and Bernoulli cross-entropy of a reconstruction in [0, 1] summed over pixels, and PSNR (dB,
    peak 1), per example: what every autoencoder is scored by, whatever its own likelihood."""
    flat, recon = x.flatten(1), recon.flatten(1)
    sq = (recon - flat).pow(2)  # per pixel: the PSNR wants its mean
    psnr = -10 * torch.log10(sq.mean(1).clamp_min(1e-10))
    return {"sq_err": sq.sum(1), "bce": -lik.bernoulli_probs(recon, flat), "psnr": psnr}


class Denoiser:
    """Mixin of the families whose losses compare with `Batch.target`: they train as denoisers (TrainConfig.corrupt)
    and restore (the `Restorer` capability)."""

    def restore(self, x: Tensor, known: Tensor | None = None) -> Tensor:
        """The clean estimate of corrupted `x`; where `known` (bool, x's shape) is True the input is kept as given."""
        out = self(x).reshape(x.shape)  # type: ignore[operator]
        return out if known is None else torch.where(known, x, out.to(x.dtype))


class DensityModel(Trainable):
    """A density over its inputs (a prior over another model's codes): `log_prob` and `sample`."""

    traits = Traits(inputs="codes", codes="none")

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) per example, shape (B,)."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def eval_terms(self, x: Tensor) -> dict[str, Tensor]:
        return {"nll": -self.log_prob(x)}


_REGISTRY: dict[str, type[Trainable]] = {}


def register(cls: type[Trainable]) -> type[Trainable]:
    """Class decorator: make a model available by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def model_names() -> list[str]:
    """Names of all registered models."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type[Trainable]:
    """The model class registered under `name`, or a one-line error listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(model_names())}") from None


def saved_config(config_class: type, config: dict[str, Any]) -> dict[str, Any]:
    """A config dict read from a run folder, each key its class has gained since (`ADDED`) at its old value."""
    return {**getattr(config_class, "ADDED", {}), **config}


def build_model(name: str, config: dict[str, Any] | Any, saved: bool = False) -> Trainable:
    """Instantiate a registered model from a config dict (or its dataclass).

    `saved`: the dict was read from a run folder, where a key the config class has gained since (its `ADDED`, new
    key -> the value runs had before it) is missing: it takes that value, not today's default.
    """
    cls = model_class(name)
    if saved and not dataclasses.is_dataclass(config):
        config = saved_config(cls.Config, config)
    cfg = config if dataclasses.is_dataclass(config) else from_dict(cls.Config, config, f"{name} config")
    return cls(cfg)


def model_spec(model: Trainable) -> dict[str, Any]:
    """{"name": ..., "config": {...}}: enough to rebuild the model without pickle."""
    return {"name": model.name, "config": to_dict(model.config)}
