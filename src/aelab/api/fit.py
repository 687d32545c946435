"""`aelab.fit`: the one way to train, from a recipe, data and overrides to a run folder; `aelab.load` beside it.

`aelab train` is this function behind flags; the bench scripts and the tests call it directly.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import recipes
from ..config import notes_once
from ..errors import ConfigError, UsageError
from ..recipes.stages import MAIN, RunSpec
from ..recipes.train import TrainConfig
from ..runs import RunFolder
from .data import (absolute, check_same_data, check_trainable, eval_data, fingerprint, load_run_data, recorded_name,
                   test_split)

DEFAULT_DATA = "digits"  # embedded: trains on a fresh machine with no download


@dataclass
class Run:
    """A trained (or stopped) run: its model, its test metrics and its folder."""

    model: Any
    metrics: dict[str, float]
    folder: RunFolder
    spec: RunSpec
    train: Any = field(default=None, repr=False)  # the training split (a Dataset, or a bare tensor's)
    test: Any = field(default=None, repr=False)  # the held-out split it was scored on, or None

    @property
    def path(self) -> Path:
        return self.folder.path


def load(run_dir: str | Path) -> Any:
    """The trained model of a run folder, with its later stages attached (a prior): safetensors and JSON only."""
    from ..train.run import load as load_model

    return load_model(run_dir)


def model_config(model: str, data_name: str, input_shape: tuple[int, ...], preset: str | None = None,
                 config: Mapping[str, Any] | None = None, say: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model config (the preset, then `config` on top) and the preset's training recipe.

    With no `preset`, the preset named after a registered data set is taken when the family has one ("none": the
    plain defaults). A preset sized for other data is refused.
    """
    from ..config import current_keys, from_dict, to_dict
    from ..models import model_class

    cls = model_class(model)
    cfg: dict[str, Any] = {}
    train: dict[str, Any] = recipes.training(model)
    if preset is None and data_name in recipes.presets(model):  # sized for this registered data set ("digits")
        preset = data_name
        if say:
            print(f"using preset {preset!r} of {model}, sized for the {data_name} data (--preset none for the plain "
                  "defaults)")
    if preset and preset != "none":
        cfg, train = recipes.preset(model, preset)
        if "input_shape" in cfg and tuple(cfg["input_shape"]) != tuple(input_shape):
            raise ConfigError(f"preset {preset!r} is for data of shape {tuple(cfg['input_shape'])}, "
                              f"but the data has shape {tuple(input_shape)}")
    cfg["input_shape"] = list(input_shape)
    cfg.update(current_keys(cls.Config, dict(config or {}), f"{model} config"))  # an old key overrides the preset too
    return to_dict(from_dict(cls.Config, cfg, f"{model} config")), train


def plan(model: str, data: str, input_shape: tuple[int, ...], *, preset: str | None = None,
         config: Mapping[str, Any] | None = None, train: Mapping[str, Any] | TrainConfig | None = None,
         pretrain: str | None = None, pretrain_train: Mapping[str, Any] | None = None, prior: str | None = None,
         prior_train: Mapping[str, Any] | None = None, data_dir: str | None = None,
         preset_for: str | None = None) -> RunSpec:
    """The RunSpec of a new run: the recipe (preset, overrides) and the family's stages, every config checked.

    `train` overrides the preset's training recipe (a TrainConfig is taken whole); the pre-training and prior
    stages take their family's recipes (`recipes.ae.PRETRAIN_TRAIN`, `recipes.priors.PRIOR_TRAIN`) with
    `pretrain_train` / `prior_train` on top, and the run's seed. The default preset is the one named after
    `preset_for` (the registered data set's name; default `data`).
    """
    from ..models import model_class
    from ..train.plan import plan_run

    cls = model_class(model)
    if not cls.traits.standalone:
        raise UsageError(f"{model} is {cls.traits.stage_of}; it trains as a stage of that model's run, not on data")
    cfg, recipe = model_config(model, data if preset_for is None else preset_for, input_shape, preset, config)
    main = train if isinstance(train, TrainConfig) else TrainConfig(**{**recipe, **(train or {})})
    return plan_run(model, cfg, data, data_dir, train=main,
                    pretrain=pretrain, pretrain_train=recipes.ae.pretrain_train(main.seed, **(pretrain_train or {})),
                    prior=prior, prior_train=recipes.priors.prior_train(main.seed, **(prior_train or {})))


def _periodic_eval(test_x: Any, spec: RunSpec):
    """The trainer's evaluation after each epoch: the suite's cheap metrics on the test split (a denoiser's
    restoration of it corrupted once, too; on the lines data, the interpolation metrics)."""
    from ..eval.suite import evaluate_suite, options_for

    return lambda model, progress: evaluate_suite(model, test_x, options_for(spec.data, spec.train))[0]


def _as_dataset(data: Any, name: str = "tensor"):
    from ..data import Dataset

    return data if isinstance(data, Dataset) else Dataset(x=data, y=None, name=name)


@notes_once()
def fit(
    model: str | RunSpec | None = None,
    data: Any = None,
    *,
    out: str | Path | None = None,
    preset: str | None = None,
    config: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | TrainConfig | None = None,
    pretrain: str | None = None,
    pretrain_train: Mapping[str, Any] | None = None,
    prior: str | None = None,
    prior_train: Mapping[str, Any] | None = None,
    data_dir: str | None = None,
    data_options: Mapping[str, Any] | None = None,
    test: Any = "split",
    resume: bool = False,
    epochs: int | None = None,
    overwrite: bool = False,
    device: str = "auto",
    progress: bool = True,
    report: bool = False,
    callbacks: Mapping[str, Sequence[Any]] | None = None,
    log: Any = None,
    ranks: Any = None,
) -> Run:
    """Train a model into a run folder and return the run (model, test metrics, folder).

    `model`: a registered name (its recipe: `preset`, then `config` and `train` overrides, `pretrain` / `prior`
    stages), or a RunSpec planned already. `data`: a registered name or a path (read with `data_dir` and
    `data_options`: image_size, val_fraction, patch, patch_count, patch_split), a `Dataset`, or a bare tensor.
    `test`: "split" scores on the data's held-out split, None on nothing, or a Dataset / tensor. `resume` continues
    the run in `out` with its recorded settings (`data` may then point to its data in a new place, or hand the run's
    data over as a Dataset or tensor; `epochs` extends a finished run). `callbacks` adds trainer callbacks by stage
    name ("model" for the run's own). `log`: "tensorboard", "mlflow" or several, or `viz.loggers` objects
    (`MLflowLogger(tracking_uri=...)`): where the run's own model logs besides metrics.jsonl.
    """
    from ..train.distributed import SINGLE

    ranks = ranks or SINGLE
    if resume:
        return _resume(model, data, out, preset, config, train, pretrain, prior, data_dir, test, epochs, overwrite,
                       device, progress, report, _with_loggers(callbacks, log), ranks)
    if epochs is not None:
        raise UsageError("epochs extends a run that is resumed; for a new run give train={'epochs': N}")
    if model is None:
        raise UsageError("name the model to train (see `aelab models`), or give a RunSpec")
    options = dict(data_options or {})
    train_set, data_name, named = _training_data(model, data, data_dir, options)
    if isinstance(model, RunSpec):
        spec = model
    else:
        spec = plan(model, data_name, tuple(train_set.x.shape[1:]), preset=preset, config=config, train=train,
                    pretrain=pretrain, pretrain_train=pretrain_train, prior=prior, prior_train=prior_train,
                    data_dir=absolute(data_dir) if data_dir else None,
                    preset_for=train_set.name if _registered(train_set) else "")
        if train_set.vocabulary is not None:  # documents: the words counted, so that every later read counts the same
            options = {**options, "vocabulary": list(train_set.vocabulary)}
        if train_set.patch_split is not None:  # photos: by photo or by region, so that every later read splits alike
            options = {**options, "patch_split": train_set.patch_split}
        spec = dataclasses.replace(spec, data_options=options, fingerprint=fingerprint(train_set.x))
    out = Path(out) if out is not None else Path("runs") / f"{spec.model}-{Path(str(spec.data)).stem}"
    return _train(spec, RunFolder(out), train_set, _test_set(test, spec, None, data_dir, named), False, overwrite,
                  device, progress, report, _with_loggers(callbacks, log), ranks)


def _with_loggers(callbacks: Mapping[str, Sequence[Any]] | None, log: Any) -> dict[str, list[Any]]:
    """The callbacks with the run's loggers added to its own model's stage (bound to the run by `_train`)."""
    from ..viz.loggers import make_loggers

    out = {k: list(v) for k, v in (callbacks or {}).items()}
    loggers = make_loggers(log)  # made and checked now: a missing package or a refusing store before any training
    for logger in loggers:
        logger.check()
    if loggers:
        out[MAIN] = [*out.get(MAIN, []), *loggers]
    return out


def _test_set(test: Any, spec: RunSpec, data: str | None, data_dir: str | None, named: bool) -> Any:
    """What a run is scored on: "split" the held-out split of named data (in-memory data has none), None nothing, or
    the Dataset / tensor given."""
    if isinstance(test, str) and test == "split":
        return test_split(spec, data, data_dir) if named else None
    return None if test is None else _as_dataset(test, "test")


def _in_memory(data: Any) -> bool:
    import torch

    from ..data import Dataset

    return isinstance(data, (Dataset, torch.Tensor))


def _registered(dataset: Any) -> bool:
    from ..data import dataset_names

    return dataset.name in dataset_names()


def _training_data(model: Any, data: Any, data_dir: str | None, options: dict[str, Any]):
    """The training split, the data's name as the run records it, and whether it was named (not handed over)."""
    from ..data import load_dataset

    if isinstance(model, RunSpec) and data is None:
        data = model.data
        data_dir = data_dir or model.data_dir
        options = {**model.data_options, **options}
    if _in_memory(data):
        dataset = _as_dataset(data)
        return dataset, dataset.name, False
    data = str(data) if data is not None else DEFAULT_DATA
    dataset = load_dataset(data, "train", data_dir, **{k: v for k, v in options.items() if k != "vocabulary"})
    check_trainable(dataset.x, data)
    return dataset, data if _registered(dataset) else recorded_name(data), True


def _train(spec: RunSpec, run: RunFolder, train_set: Any, test_set: Any, resume: bool, overwrite: bool, device: str,
           progress: bool, report: bool, callbacks: Any, ranks: Any) -> Run:
    """Train the run's stages, scored on `test_set` each epoch; then its test metrics (of the whole run's model when
    stages follow the main one) and its report."""
    from ..eval.suite import evaluate_suite, options_for
    from ..train.run import train_run

    test_x = eval_data(test_set.x, spec.train) if test_set is not None else None
    evaluate = _periodic_eval(test_x, spec) if test_x is not None else None
    fit_set, val_set = held_out(train_set, spec.train.validation, spec.train.seed)
    if val_set is not None:
        spec, chosen = _selection(spec, run, fit_set, val_set, resume)
        callbacks = {**(callbacks or {}), "model": [*(callbacks or {}).get("model", ()), *chosen]}
    _bind_loggers(callbacks, spec, run, test_x if test_x is not None else eval_data(fit_set.x[:32], spec.train))
    model, result = train_run(spec, run, fit_set.x, fit_set.y, evaluate, resume=resume, overwrite=overwrite,
                              progress=progress, callbacks=callbacks, device=device, ranks=ranks)
    report = report and ranks.main
    spec = run.read_spec()
    if ranks.main:
        _say_if_collapsed(model, train_set.x, spec.train)
    if test_x is not None and (not result or spec.after_main()):
        result = evaluate_suite(model, test_x, options_for(spec.data, spec.train))[0]
    if report:
        from ..viz.run_report import write_run_report

        write_run_report(run, model, test_set if test_set is not None else train_set,
                         train_set if test_set is not None else None)
    return Run(model, result, run, spec, train_set, test_set)


def _bind_loggers(callbacks: Any, spec: RunSpec, run: RunFolder, examples: Any) -> None:
    """Tell the loggers among the run's callbacks which run they log: its folder, settings and pictured examples."""
    from ..viz.loggers import Logger

    loggers = [c for c in (callbacks or {}).get(MAIN, ()) if isinstance(c, Logger)]
    if loggers:  # viz.compare draws with matplotlib: not imported by a run that logs nowhere else
        from ..viz.compare import settings

        for logger in loggers:
            logger.bind(run, settings(spec), examples)


def held_out(train_set: Any, share: float, seed: int) -> tuple[Any, Any]:
    """(the items a run trains on, the validation items it chooses its epoch by): a seeded `share` held out."""
    if not share:
        return train_set, None
    import torch

    n = len(train_set.x)
    n_val = n - trained_rows(n, share)
    if n - n_val < 2:
        raise ConfigError(f"{n} training items are too few to hold out {share:g} of them for validation; "
                          "give more data or --validation 0")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return _rows(train_set, order[n_val:].sort().values), _rows(train_set, order[:n_val].sort().values)


def trained_rows(n: int, share: float) -> int:
    """How many of n training items a run trains on when it holds out `share` of them for validation."""
    return n - (max(1, round(n * share)) if share else 0)


def _rows(data: Any, rows: Any) -> Any:
    """The Dataset of `data`'s rows (in their order), everything per row kept with them (streamed data stays on
    disk)."""
    from ..data.stream import is_streamed

    picked = rows.numpy()
    return dataclasses.replace(
        _as_dataset(data), x=data.x.take(rows) if is_streamed(data.x) else data.x[rows], y=None if data.y is None else data.y[rows],
        index=None if getattr(data, "index", None) is None else data.index[picked],
        files=None if getattr(data, "files", None) is None else [data.files[i] for i in picked],
        texts=None if getattr(data, "texts", None) is None else [data.texts[i] for i in picked])


def _selection(spec: RunSpec, run: RunFolder, fit_set: Any, val_set: Any, resume: bool) -> tuple[RunSpec, list[Any]]:
    """What a run chooses on its validation items, scored once for both: its model's own settings before training
    (`_choose_settings`; a resumed run's spec holds them already), then its epoch (KeepBest, train/callbacks.py).
    Returns the spec with the settings filled in and the callbacks."""
    from ..eval.selection import check_scorable, code_score, model_score
    from ..models import model_class
    from ..train.callbacks import KeepBest

    check_scorable(model_class(spec.model))
    fit_x = eval_data(fit_set.x, spec.train)
    queries, score = code_score(fit_x, fit_set.y, eval_data(val_set.x, spec.train), val_set.y,
                                documents=getattr(fit_set, "vocabulary", None) is not None)
    chosen: list[Any] = []
    if not resume:
        spec, chosen = _choose_settings(spec, run, fit_x, queries, score)
    return spec, [*chosen, KeepBest(model_score(fit_x, queries, score), run.stage(MAIN).metrics)]


def _choose_settings(spec: RunSpec, run: RunFolder, fit_x: Any, queries: Any, score: Any) -> tuple[RunSpec, list[Any]]:
    """The spec with what its model chooses of its own config on the validation items (models.capabilities
    .ChoosesSettings) filled in, and the callback that records the choice; unchanged when there is nothing to choose."""
    from ..models import build_model
    from ..models.capabilities import ChoosesSettings
    from ..recipes.stages import DATA
    from ..train.callbacks import RecordChoice

    main = spec.main
    if main.input != DATA:
        return spec, []
    model = build_model(main.model, main.model_config)
    if not isinstance(model, ChoosesSettings):
        return spec, []
    choice = model.choose_settings(fit_x, queries, score)
    if choice is None:
        return spec, []
    stages = [dataclasses.replace(s, model_config={**s.model_config, **choice.settings}) if s.name == MAIN else s
              for s in spec.stages]
    return dataclasses.replace(spec, stages=stages), [RecordChoice(choice, run.stage(MAIN).metrics)]


def _say_if_collapsed(model: Any, x: Any, train_cfg: Any) -> None:
    """One line on stderr when a hasher's training items ended with collapsed codes (eval/code_usage.py); of data
    read from disk as it trains, its first 10,000 items."""
    from ..batching import map_batches
    from ..data.stream import is_streamed
    from ..eval.code_usage import code_usage, collapse_note
    from ..models.capabilities import BinaryCoder

    if not isinstance(model, BinaryCoder) or len(x) == 0:
        return
    x = eval_data(x[:10_000] if is_streamed(x) else x, train_cfg)
    bits = map_batches(model, x, model.binary_codes).numpy()
    note = collapse_note(code_usage(bits)[0], len(bits), bits.shape[1])
    if note:
        print(f"aelab: warning: {note}", file=sys.stderr)


def _resume(model: Any, data: Any, out: Any, preset: Any, config: Any, train: Any, pretrain: Any, prior: Any,
            data_dir: str | None, test: Any, epochs: int | None, overwrite: bool, device: str, progress: bool,
            report: bool, callbacks: Any, ranks: Any) -> Run:
    """Continue the run in `out` as recorded; `epochs` extends a finished one (its schedule restarts).

    `data` handed over in memory is the run's own (checked against its record when it has one)."""
    from ..train.run import extend

    if out is None:
        raise UsageError("resume needs the run folder: out=RUN")
    given = [name for name, value in (("preset", preset), ("config", config), ("train", train),
                                      ("pretrain", pretrain), ("prior", prior)) if value]
    if given:
        raise UsageError(f"resume continues the run with its recorded settings; {', '.join(given)} cannot change now "
                         "(epochs=N extends it; a new run takes a new out)")
    folder = RunFolder(out)
    stored = folder.read_spec()
    name = model.model if isinstance(model, RunSpec) else model
    if name is not None and stored.model != name:
        raise ConfigError(f"{folder.path} holds a {stored.model!r} run, not {name!r}")
    named = not _in_memory(data)
    where = str(data) if named and data is not None else None
    train_set = load_run_data(stored, "train", where, data_dir, relocated=True) if named else _as_dataset(data)
    check_same_data(stored, train_set.x, where or data_dir)
    test_set = _test_set(test, stored, where, data_dir, named)
    if epochs is not None and epochs != stored.train.epochs:
        if epochs < stored.train.epochs:
            raise ConfigError(f"the run has {stored.train.epochs} epochs; --epochs can extend it, not shorten it")
        if ranks.main:  # rank 0 alone writes the run folder
            extend(folder, epochs, overwrite, trained_rows(len(train_set.x), stored.train.validation))
        ranks.barrier()
    return _train(folder.read_spec(), folder, train_set, test_set, True, False, device, progress, report, callbacks,
                  ranks)
