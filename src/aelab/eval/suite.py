"""The one evaluation suite: which metrics a model gets is decided here, by what it can do.

Used by `aelab eval`, by the trainer's periodic evaluation and by the bench scripts. To add a
metric family, write its function (model, x, options) -> (metrics, details) and add one `Metric`
line to `METRICS` naming the capabilities it needs (the Protocols of aelab.models.capabilities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

import torch
from torch import Tensor

from ..batching import map_batches
from ..errors import ConfigError
from ..models.base import Trainable
from ..models.capabilities import (BinaryCoder, Decoder, Density, DiscreteCoder, Encoder, LikelihoodBound, Restorer,
                                   Sampler, is_autoencoder)

if TYPE_CHECKING:
    from .likelihood import IWPlan

MNIST_SHAPE = (1, 28, 28)


@dataclass
class EvalOptions:
    """How much to compute: the trainer's periodic evaluation keeps to the cheap defaults."""

    # importance samples for the NLL of latent-variable models: 0 skips it; "auto" takes the most
    # (50 to 5000) that fit iw_budget_s on this machine, timed on a first chunk
    iw_samples: int | Literal["auto"] = 0
    iw_budget_s: float = 60.0
    on_iw_plan: Callable[["IWPlan"], None] | None = None  # told k and the expected time before the NLL starts
    sample_quality: bool = False  # Fréchet score of samples (1x28x28 data; costs a classifier pass over 10k images)
    sample_count: int = 10000
    seed: int = 0
    progress: bool = False
    # retrieval (BinaryCoder) and representation (any encode): the evaluated items' labels and a labelled
    # database (e.g. the train split) to search, or to train the linear probe on (its first REPRESENTATION_TRAIN)
    labels: Tensor | None = None
    database: tuple[Tensor, Tensor] | None = None
    # a denoiser's corruption (TrainConfig.corrupt): the data is corrupted once (seeded) and restored
    corruption: str = ""
    # an interpolation benchmark scored on the data: "lines" (ACAI's metrics; the data must be the lines images)
    interpolation: str = ""
    only: tuple[str, ...] = ()  # the names of the metric families to compute (METRICS); empty: every one that applies


INTERPOLATION_BENCHMARKS = ("lines",)
LINES_SHAPE = (1, 32, 32)
LINES_PAIRS = 256  # test pairs interpolated in 16 steps (the paper's figure of 16 x 16 images per evaluation, x 16)


def options_for(data_name: str, train: Any = None, **given: Any) -> "EvalOptions":
    """The evaluation options a run's data and training imply: a denoiser's corruption, the lines metrics on lines."""
    return EvalOptions(corruption=getattr(train, "corrupt", "") or "",
                       interpolation="lines" if data_name == "lines" else "", **given)


Result = tuple[dict[str, float], dict[str, Any]]  # scalar metrics, and details (lists) for reports and --json


@dataclass
class Metric:
    """One family of metrics: the capabilities it needs, whether it applies to this data, and how to compute it."""

    name: str
    needs: tuple[type, ...]  # the model must be an instance of each
    compute: Callable[[Trainable, Tensor, EvalOptions], Result]
    applies: Callable[[Trainable, Tensor, EvalOptions], bool] = lambda model, x, options: True


def _per_example_terms(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    from .reconstruction import evaluate

    return evaluate(model, x, progress="evaluate" if options.progress else None), {}


SSIM_MIN_SIDE = 7  # smallest image side given SSIM (scikit-image's smallest window), with a window shrunk to fit


def _ssim_applies(model: Trainable, x: Tensor) -> bool:
    """Images (N, C, H, W) at least SSIM_MIN_SIDE on each side, reconstructed by the model."""
    return (is_autoencoder(model) and x.dim() == 4 and min(x.shape[2:]) >= SSIM_MIN_SIDE
            and len(x) > 0)


def _reconstruction_terms(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """The per-example terms, and for images the mean SSIM of reconstructions against the inputs.

    SSIM uses the paper's 11x11 Gaussian window (sigma 1.5), or on images under 11 pixels a side the
    largest odd window that fits (7 on the 8x8 digits): those values are not comparable with 11x11 SSIM.
    """
    from .image_quality import largest_window, ssim

    metrics, details = _per_example_terms(model, x, options)
    if _ssim_applies(model, x):
        window = largest_window(x.shape[2], x.shape[3])
        batch = max(1, min(1000, 2**22 // x[0].numel()))  # 2^22 pixels: five float64 maps, a few 100 MB
        s = map_batches(model, x, lambda b: ssim(model(b).reshape(b.shape), b, window=window), batch,
                        "ssim" if options.progress else None)
        metrics["ssim"] = float(s.mean())
    return metrics, details


def _denoising(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """PSNR (and SSIM on images) of the corrupted input and of the model's restoration against the clean data;
    for holes whose place is known (occlusion, user masks), also of the inpainting that keeps every known input."""
    from ..corruption import Corruption, SeededDraws
    from .image_quality import largest_window, psnr, ssim

    c = Corruption(options.corruption)(x, SeededDraws(options.seed + 1, len(x), x.device))
    batch = max(1, min(1000, 2**22 // max(x[0].numel(), 1)))
    restored = map_batches(model, c.x, model.restore, batch,
                           "denoising" if options.progress else None)
    versions = {"corrupted": c.x, "restored": restored}
    if c.holes is not None:  # the holes' place told to the model (restore's `known`), every other input kept as given
        known = ~c.holes
        rows = torch.arange(len(x))  # batches of row numbers, on the model's device: each picks its inputs and mask
        versions["inpainted"] = map_batches(
            model, rows, lambda i: model.restore(c.x[i.cpu()].to(i.device), known[i.cpu()].to(i.device)), batch,
            "inpainting" if options.progress else None)
    images = x.dim() == 4 and min(x.shape[2:]) >= SSIM_MIN_SIDE
    window = largest_window(x.shape[2], x.shape[3]) if images else 0
    metrics: dict[str, float] = {}
    for name, y in versions.items():
        metrics[f"psnr_{name}"] = float(psnr(y, x).mean())
        if images:
            metrics[f"ssim_{name}"] = float(ssim(y, x, window=window).mean())
    return metrics, {}


def _codebook(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """How the codebook is used on this data: the share of codes used and the perplexity of their histogram."""
    from ..nn import codebook_usage

    k = model.num_codes
    indices = map_batches(model, x, model.encode_indices, 500, "codebook" if options.progress else None)
    stats = codebook_usage(torch.bincount(indices.flatten().cpu(), minlength=k))
    return {"codebook_usage": float(stats["usage"]), "codebook_perplexity": float(stats["perplexity"])}, {}


def _likelihood(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    from .likelihood import iwae_nll, latent_diagnostics, plan_iwae

    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    k = options.iw_samples
    if k and len(x):
        if k == "auto" or options.on_iw_plan is not None:  # timing costs a decoder pass: only when someone uses it
            plan = plan_iwae(model, x, k, options.iw_budget_s, seed=options.seed)  # type: ignore[arg-type]
            k = plan.k
            if options.on_iw_plan is not None:
                options.on_iw_plan(plan)
        nll = iwae_nll(model, x, k, seed=options.seed, progress=options.progress)  # type: ignore[arg-type]
        metrics[f"nll_k{k}"] = float(nll.mean())
        details["iw_samples"] = k  # the suite's result is the same on every call: no timings in it
    diag = latent_diagnostics(model, x)  # type: ignore[arg-type]
    metrics["active_units"] = diag["active_units"]
    return metrics, {**details, "kl_per_dim": diag["kl_per_dim"]}


def _sample_quality(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    from .sample_quality import sample_quality

    n = min(len(x), options.sample_count)
    gen = torch.Generator().manual_seed(options.seed)
    with torch.no_grad():
        samples = torch.cat([model.sample(min(1000, n - i), generator=gen).cpu() for i in range(0, n, 1000)])  # type: ignore[attr-defined]
    q = sample_quality(samples, x[:n])
    return {"sample_frechet": q["frechet"], "sample_confidence": q["confidence"]}, {}


def _prior_fit(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """How well an attached prior fits the codes of `x`: its NLL per example, in nats."""
    prior = getattr(model, "prior", None)
    codes = map_batches(model, x, model.stage_output)
    nll = -map_batches(prior, codes, prior.log_prob).double().mean()  # type: ignore[union-attr]
    return {"prior_nll": float(nll)}, {}


def _code_usage(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """How the items' binary codes use their bits (eval/code_usage.py); no labels needed."""
    from .code_usage import code_usage

    return code_usage(map_batches(model, x, model.binary_codes).numpy())  # type: ignore[attr-defined]


def _retrieval(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """The items as queries against the database by Hamming distance of their codes; relevant = same label."""
    from .retrieval import hamming_distances, radius_curve, ranking_scores

    db_x, db_y = options.database  # type: ignore[misc]
    codes = map_batches(model, x, model.binary_codes).numpy()  # type: ignore[attr-defined]
    db_codes = map_batches(model, db_x, model.binary_codes).numpy()  # type: ignore[attr-defined]
    labels, db_labels = options.labels.numpy(), db_y.numpy()  # type: ignore[union-attr]
    scores = ranking_scores(hamming_distances, codes, labels, db_codes, db_labels, ks=(100,))
    curve = radius_curve(codes, labels, db_codes, db_labels)
    r = min(2, codes.shape[1])
    return ({"map": scores["map"], "precision@100": scores["precision@100"],
             f"precision_r{r}": curve["precision"][r]}, {"pr_by_radius": curve})


REPRESENTATION_TRAIN = 10000  # database items the linear probe trains on (the first ones), for cost


def _representation(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """ACAI's measures of codes (Berthelot et al. 2019, Tables 2 and 3): a linear probe trained on the codes of the
    database's first REPRESENTATION_TRAIN items and tested on the items' codes; k-means accuracy of the items' codes."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from .representation import cluster_accuracy, codes_of, linear_probe

    db_x, db_y = options.database  # type: ignore[misc]
    n = min(len(db_x), REPRESENTATION_TRAIN)
    codes, labels = codes_of(model, x), options.labels
    with warnings.catch_warnings():  # codes of an untrained model may all be one point: k-means says so, at length
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = linear_probe(codes_of(model, db_x[:n]), db_y[:n], codes, labels, seed=options.seed)
        metrics = {"probe_accuracy": probe["accuracy"]}
        if len(codes) >= len(torch.unique(labels)):  # type: ignore[arg-type]
            clusters = cluster_accuracy(codes, labels, seed=options.seed)
            metrics.update(cluster_accuracy=clusters["accuracy"], cluster_nmi=clusters["nmi"])
    return metrics, {"probe_train": n}


def _interpolation(model: Trainable, x: Tensor, options: EvalOptions) -> Result:
    """Berthelot et al. 2019's lines benchmark: Mean Distance to the nearest true line and Smoothness of 16-step
    interpolations between seeded test pairs (eval/lines.py)."""
    from .lines import lines_interpolation

    scores, _ = lines_interpolation(model, x, pairs=min(LINES_PAIRS, len(x) // 2), steps=16, seed=options.seed)
    return ({"lines_mean_distance": scores["mean_distance"], "lines_smoothness": scores["smoothness"]},
            {"lines_undefined_smoothness": scores["undefined_smoothness"]})


def _interpolation_applies(model: Trainable, x: Tensor, options: EvalOptions) -> bool:
    """Lines images only (a stage trained on another stage's codes is not scored); `aelab eval` checks the data."""
    return options.interpolation == "lines" and tuple(x.shape[1:]) == LINES_SHAPE and len(x) >= 2


METRICS: list[Metric] = [
    # sq_err, bce, psnr (+ a model's own, e.g. the ELBO), and ssim on images
    Metric("per-example terms", (Encoder, Decoder), _reconstruction_terms),
    Metric("density", (Density,), _per_example_terms),  # a prior evaluated on its own inputs: nll
    Metric("denoising", (Restorer,), _denoising, lambda m, x, o: bool(o.corruption) and len(x) > 0),
    Metric("codebook", (DiscreteCoder,), _codebook),
    Metric("likelihood", (LikelihoodBound,), _likelihood),
    Metric("prior fit", (Sampler, Encoder), _prior_fit, lambda m, x, o: getattr(m, "prior", None) is not None),
    Metric("code usage", (BinaryCoder,), _code_usage, lambda m, x, o: len(x) > 0),
    Metric("retrieval", (BinaryCoder,), _retrieval,
           lambda m, x, o: o.database is not None and o.labels is not None),
    Metric("representation", (Encoder,), _representation,  # any model with an encode; not a prior (a Density)
           lambda m, x, o: o.database is not None and o.labels is not None and len(x) > 0 and len(o.database[0]) > 0),
    Metric("interpolation", (Encoder, Decoder), _interpolation, _interpolation_applies),
    Metric("sample quality", (Sampler, Encoder, Decoder), _sample_quality,  # an autoencoder's samples, not a prior's
           lambda m, x, o: o.sample_quality and tuple(x.shape[1:]) == MNIST_SHAPE),
]


def evaluate_suite(model: Trainable, x: Tensor, options: EvalOptions | None = None) -> Result:
    """Every metric that applies to `model` on data `x`: (metrics, details)."""
    options = options or EvalOptions()
    if options.iw_samples != "auto" and (isinstance(options.iw_samples, bool) or not isinstance(options.iw_samples, int)
                                         or options.iw_samples < 0):
        raise ConfigError(f"iw_samples must be 'auto' or an integer >= 0, got {options.iw_samples!r}")
    if options.interpolation and options.interpolation not in INTERPOLATION_BENCHMARKS:
        raise ConfigError(f"unknown interpolation benchmark {options.interpolation!r}; "
                          f"known: {', '.join(INTERPOLATION_BENCHMARKS)}")
    unknown = set(options.only) - {m.name for m in METRICS}
    if unknown:
        raise ConfigError(f"unknown metric families {sorted(unknown)}; known: {', '.join(m.name for m in METRICS)}")
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    with torch.random.fork_rng(devices=[]):  # the ELBO's and samples' draws: the same numbers on every call
        torch.manual_seed(options.seed)
        for m in METRICS:
            if options.only and m.name not in options.only:
                continue
            if _applies(m, model, x, options):
                values, more = m.compute(model, x, options)
                metrics.update(values)
                details.update(more)
    return metrics, details


def metric_names(model: Trainable, x: Tensor, options: EvalOptions | None = None) -> list[str]:
    """Names of the metric families that apply (for documentation and tests)."""
    options = options or EvalOptions()
    return [m.name for m in METRICS if _applies(m, model, x, options)]


def _applies(metric: Metric, model: Trainable, x: Tensor, options: EvalOptions) -> bool:
    return all(isinstance(model, kind) for kind in metric.needs) and metric.applies(model, x, options)
