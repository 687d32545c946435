"""What the web page shows, as plain data: the runs under a folder, one run's curves, codes, items and pictures.

Everything here only reads. A run folder being written while it is read is fine: metrics.jsonl is read line by line
(a line cut short is skipped) and a checkpoint is replaced atomically; a model is loaded again when its weights
change. Paths come from the browser and are checked against the runs folder first (`resolve_run`)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

MAX_RUNS = 2000  # run folders listed at most (a walk of a huge tree stays bounded)
MAP_POINTS = 2000  # test items on the latent map
KEY_METRICS = 6  # metric columns of the runs table


class NotFound(ConfigError):
    """A path the page asked for is not a run under the runs folder (or an item out of range)."""


def resolve_run(root: Path, relative: str) -> Path:
    """The run folder `relative` names under `root`, or NotFound: no absolute paths, no "..", and after resolving
    symbolic links it must still lie inside `root` and be a run (config.json)."""
    from ..runs import RunFolder

    parts = Path(relative).parts
    if not relative or Path(relative).is_absolute() or any(p in ("..", "") for p in parts) or "\\" in relative \
            or "\x00" in relative:
        raise NotFound(f"not a run under the runs folder: {relative!r}")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not RunFolder(path).is_run():
        raise NotFound(f"not a run under the runs folder: {relative!r}")
    return path


def find_runs(root: Path) -> list[Path]:
    """Every run folder under `root` (a folder with config.json), its own stages left out, symbolic links leading
    outside `root` too."""
    from ..runs import RunFolder

    found: list[Path] = []
    base = root.resolve()
    stack = [base]
    while stack and len(found) < MAX_RUNS:
        folder = stack.pop()
        if RunFolder(folder).is_run():
            found.append(folder)
            continue  # its stages/, index/, export/ are parts of it
        try:
            children = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
        except OSError:
            continue
        stack.extend(c for c in children if c.resolve().is_relative_to(base))
    return sorted(found)


def status(folder: Path, spec: Any, records: list[dict[str, Any]]) -> str:
    """running (its trainer's process holds the folder), diverged (its last record says so), finished, or
    interrupted (stopped short of its end)."""
    from ..lock import held_elsewhere
    from ..runs import RunFolder

    if held_elsewhere(folder):
        return "running"
    if records and records[-1].get("split") == "diverged":
        return "diverged"
    return "interrupted" if RunFolder(folder).unfinished_note(spec) else "finished"


def list_runs(root: Path) -> dict[str, Any]:
    """The runs table: each run's id (its path under root), model, data, status, wall time and last test metrics;
    `metrics`: the columns shown (the metrics most runs have)."""
    from ..runs import RunFolder
    from ..viz.compare import final_test_metrics

    rows = []
    for path in find_runs(root):
        folder = RunFolder(path)
        try:
            spec = folder.read_spec()
        except Exception as e:  # a folder half written or damaged: listed, with what is wrong
            rows.append({"id": str(path.relative_to(root.resolve())), "model": "?", "data": "?", "status": "unreadable",
                         "error": str(e).splitlines()[0][:200], "wall_s": 0, "metrics": {}, "updated": 0})
            continue
        records = folder.metrics.records()
        rows.append({"id": str(path.relative_to(root.resolve())), "model": spec.model, "data": str(spec.data),
                     "status": status(path, spec, records), "wall_s": round(folder.seconds(), 1),
                     "metrics": final_test_metrics(records), "updated": _mtime(folder.metrics.path),
                     "error": records[-1].get("error", "") if records and records[-1].get("split") == "diverged" else ""})
    counts: dict[str, int] = {}
    for row in rows:
        for k in row["metrics"]:
            counts[k] = counts.get(k, 0) + 1
    shown = sorted(counts, key=lambda k: (-counts[k], k))[:KEY_METRICS]
    return {"runs": rows, "metrics": shown}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def curves(path: Path) -> dict[str, Any]:
    """Every metric's series: name -> {"epoch": [...], "value": [...]} ("test nelbo", "train model/loss", ...)."""
    from ..runs import RunFolder
    from ..viz.compare import epoch_series

    return {"series": {name: {"epoch": xs, "value": ys}
                       for name, (xs, ys) in epoch_series(RunFolder(path).metrics.records()).items()}}


# ------------------------------------------------------------------------------------------ a run's model and data


class Loaded:
    """A run's model and test data, kept while its weights stay the same (a run training writes new ones)."""

    _cache: dict[Path, tuple[float, "Loaded"]] = {}

    def __init__(self, path: Path) -> None:
        from ..api.data import load_run_data
        from ..api.fit import load
        from ..runs import RunFolder

        self.path = path
        self.spec = RunFolder(path).read_spec()
        self.model = load(path).cpu().eval()
        self.data = load_run_data(self.spec, "test")
        self.vocabulary = self.spec.data_options.get("vocabulary")

    @classmethod
    def get(cls, path: Path) -> "Loaded":
        from ..runs import RunFolder

        stamp = _mtime(RunFolder(path).weights_path)
        hit = cls._cache.get(path)
        if hit is None or hit[0] != stamp:
            if len(cls._cache) > 8:
                cls._cache.pop(next(iter(cls._cache)))
            cls._cache[path] = (stamp, cls(path))
        return cls._cache[path][1]

    @property
    def images(self) -> bool:
        return self.data.x.dim() == 4

    def item(self, i: int) -> Any:
        if not 0 <= i < len(self.data.x):
            raise NotFound(f"item {i} is not one of the {len(self.data.x)} test items")
        return self.data.x[i : i + 1]

    def label(self, i: int) -> str:
        y, classes = self.data.y, getattr(self.data, "classes", None)
        if y is None:
            return ""
        return str(classes[int(y[i])]) if classes else str(int(y[i]))

    def text(self, i: int) -> str:
        texts = getattr(self.data, "texts", None)
        if texts is not None:
            from ..api.hits import excerpt

            return excerpt(texts[i])
        if self.vocabulary:  # its most frequent words
            counts = self.data.x[i].numpy()
            top = np.argsort(-counts, kind="stable")[:12]
            return " ".join(self.vocabulary[j] for j in top if counts[j] > 0)
        return ""


def png_data_url(images: Any, nrow: int = 8, scale: int | None = None) -> str:
    """A PNG (a grid of (N, C, H, W) images in [0, 1]) as a data: URL an <img> shows."""
    from ..viz.images import png_bytes

    h = images.shape[-2]
    scale = scale or max(1, 56 // h)
    return "data:image/png;base64," + base64.b64encode(png_bytes(images.clamp(0, 1), nrow=nrow, scale=scale)).decode()


def item(path: Path, i: int) -> dict[str, Any]:
    """One test item: its picture (images) or its words (documents), and its label."""
    run = Loaded.get(path)
    x = run.item(i)
    out: dict[str, Any] = {"index": i, "label": run.label(i)}
    if run.images:
        out["image"] = png_data_url(x, nrow=1, scale=max(2, 112 // x.shape[-2]))
    else:
        out["text"] = run.text(i)
    return out


def latent_map(path: Path) -> dict[str, Any]:
    """The 2-D map of the codes of (up to MAP_POINTS) test items: the codes themselves when 2-D, else their first two
    principal components; each point's item index and label."""
    import torch

    from ..batching import map_batches
    from ..models.capabilities import Encoder

    run = Loaded.get(path)
    model = run.model
    if not isinstance(model, Encoder) or model.traits.codes == "none":
        raise ConfigError(f"{model.name} has no codes to map")
    x = run.data.x[:MAP_POINTS]
    with torch.no_grad():
        codes = map_batches(model, x, model.encode).flatten(1).double().numpy()
    if codes.shape[1] == 2:
        xy, axes = codes, ("code 1", "code 2")
    else:
        centred = codes - codes.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T if len(vt) >= 2 else np.column_stack([centred @ vt[:1].T, np.zeros(len(centred))])
        share = (s[:2] ** 2) / max(float((s ** 2).sum()), 1e-12)
        axes = tuple(f"PC {k + 1} ({100 * share[k]:.0f}% of the variance)" for k in range(min(2, len(share))))
    labels = [run.label(i) for i in range(len(x))]
    return {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "index": list(range(len(x))), "label": labels,
            "axes": list(axes), "images": run.images, "can": capabilities(run)}


def capabilities(run: Loaded) -> dict[str, bool]:
    from ..models.capabilities import Restorer, Sampler, is_autoencoder

    model = run.model
    return {"interpolate": is_autoencoder(model) and run.images, "sample": isinstance(model, Sampler) and run.images,
            "restore": isinstance(model, Restorer) and bool(run.spec.train.corrupt) and run.images}


def interpolation(path: Path, a: int, b: int, steps: int = 10) -> dict[str, Any]:
    """The decoded straight line between items a's and b's codes: one picture a step."""
    import torch

    run = Loaded.get(path)
    if not capabilities(run)["interpolate"]:
        raise ConfigError(f"{run.model.name} on this data does not decode images to interpolate")
    steps = max(2, min(int(steps), 32))
    with torch.no_grad():
        za, zb = run.model.encode(run.item(a)), run.model.encode(run.item(b))
        frames = [run.model.decode(za + (zb - za) * t).reshape(1, *run.model.input_shape)
                  for t in np.linspace(0.0, 1.0, steps)]
    return {"frames": [png_data_url(f, nrow=1, scale=max(2, 112 // f.shape[-2])) for f in frames]}


def samples(path: Path, n: int = 16, seed: int = 0) -> dict[str, Any]:
    import torch

    run = Loaded.get(path)
    if not capabilities(run)["sample"]:
        raise ConfigError(f"{run.model.name} does not sample images")
    with torch.no_grad():
        x = run.model.sample(max(1, min(int(n), 64)), generator=torch.Generator().manual_seed(int(seed)))
    return {"image": png_data_url(x.reshape(-1, *run.model.input_shape)), "seed": int(seed)}


def before_after(path: Path, i: int) -> dict[str, Any]:
    """Test item i corrupted as the run trained (seeded by i) and restored: the two pictures of the slider."""
    import torch

    from ..corruption import Corruption, SeededDraws

    run = Loaded.get(path)
    if not capabilities(run)["restore"]:
        raise ConfigError(f"{run.path.name} is not a restoration run (it trained without --corrupt)")
    x = run.item(i)
    with torch.no_grad():
        noisy = Corruption(run.spec.train.corrupt)(x, SeededDraws(i, 1)).x
        restored = run.model.restore(noisy).reshape(x.shape)
    scale = max(2, 224 // x.shape[-2])
    return {"before": png_data_url(noisy, nrow=1, scale=scale), "after": png_data_url(restored, nrow=1, scale=scale),
            "clean": png_data_url(x, nrow=1, scale=scale), "corruption": run.spec.train.corrupt}


def through_models(root: Path, ids: list[str], n: int = 8) -> dict[str, Any]:
    """The first n test items of the first run, and each run's reconstruction (or restoration) of them."""
    from ..viz import compare

    first = Loaded.get(resolve_run(root, ids[0]))
    if not first.images:
        return {"rows": [], "note": "the runs' data are not images"}
    runs = [Loaded.get(resolve_run(root, rid)) for rid in ids]
    rows, notes = compare.through_models([(rid, r.model, r.spec.train.corrupt) for rid, r in zip(ids, runs)],
                                         first.data.x[:n])
    return {"rows": [{"label": label, "image": png_data_url(images)} for label, images in rows]
            + [{"label": note, "image": None} for note in notes]}
