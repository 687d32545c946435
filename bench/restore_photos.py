"""Restoration of real photographs (issue 25, point 2): ours against the classical methods, side by side, on
held-out full-size photographs that no model and no parameter choice ever saw.

Photos: scikit-image's bundled photographs (TEST_PHOTOS held out; TRAIN_PHOTOS train the models and choose every
free parameter of the classical methods), or `--photos FOLDER` (every fourth photo in sorted name order, starting
with the first, held out: bench/denoise.py's rule). Two tracks, as the DnCNN paper's grey and colour tables:
"grey" (every photo as 8-bit BT.601 luma) and "colour" (the colour photos), each with models of its own channels.

Corruptions, each test photo corrupted once with a seed of its own (crc32 of the photo's and corruption's names):
Gaussian sigma 15, 25, 50 of 255 (aelab's gaussian:S, clipped to [0, 1] as a saved photo is: the noisy input's
PSNR is 20.17 dB at sigma 25 unclipped, more where a photo is near black or white), salt-and-pepper 10%
(aelab's saltpepper:0.1: 10% of the values, each channel's drawn alone, set to 0 or 1), and inpainting, the holes'
place known to every method: random missing pixels 50% and 80% (exactly that share of the pixels, all channels),
square holes of 8, 16 and 32 px (uniformly placed, overlaps allowed, round(10% of the area / side^2) of them, at
least one) and a text overlay (lines of random words in Pillow's default font at 20 px, every 36 px: about 17% of
the pixels; a pixel is missing where a glyph touches it). Holes are zeros in the corrupted input.

Methods. Classical (each one small function below, its setting stated; every free parameter chosen by mean PSNR on
the central TUNE_SIDE crops of the training photos, corrupted with other seeds): scikit-image's non-local means
(h = k * its own estimate_sigma, k chosen; patch 7, distance 11, fast mode: its defaults), wavelet BayesShrink (soft,
rescaled sigma, YCbCr for colour; the wavelet chosen), TV-Chambolle (weight chosen), BM3D (bm3d.bm3d, bm3d_rgb for
colour, with the true sigma: the usual protocol, Dabov et al. 2007 and the DnCNN paper's tables; for
salt-and-pepper, which has no sigma, the sigma chosen), a median filter (per channel, size chosen); inpainting:
scikit-image's biharmonic, OpenCV's Telea and Navier-Stokes (on 8-bit images; radius chosen). Ours: DnCNN
(models/dncnn.py, preset photos) trained on 40x40 patches of the training photos (`--data patches:FOLDER`, each
photo's last 10% band its run's validation), one model a noise and one for every inpainting corruption at once
(told the holes: `--corrupt mask:BANK.npy`, a bank of training masks drawn by this script's own generators), and
one blind model, DnCNN-B, trained over sigma 0-55/255 (`--corrupt gaussian:0-0.2157`, each patch its own sigma)
and tested on every Gaussian sigma beside the per-sigma models. The
seed's MLP denoising autoencoder (bench/denoise.py's PHOTO_RECIPE on 32x32 patches, inpainting in 3 passes)
keeps its rows. Runs live in bench/runs/restore_photos/ and are reused when finished.

Output: a table per track and corruption (PSNR/SSIM of each photo, the means, seconds per megapixel; for ours the
margins to the best classical method by mean PSNR and by mean SSIM, "NOT BEATEN" unless it beats every classical
method on both), bench/results/restore_photos.json (--quick: restore_photos_quick.json) and an example figure,
bench/results/restore_photos_examples.png.

    OMP_NUM_THREADS=1 python bench/restore_photos.py --threads 1   # everything: about 28 hours on one core
    python bench/restore_photos.py --tracks grey --corruptions gaussian-25,text
    python bench/restore_photos.py --photos ~/Pictures/test-set    # a folder of your own photos
    python bench/restore_photos.py --quick                          # a smoke run: about 70 s on one core

The estimate, for this machine's one core (Intel Xeon, 2 cores, the --quick run's timings): training is nearly all
of it. 10 DnCNN runs (2 tracks x 5: sigma 15, 25, 50, salt-and-pepper, holes), each 30 epochs over about 17,600
patches at 1.15 s a step of 64: about 2.6 h each, 26 h; 10 MLP runs, 2-4 min each. The classical methods take
10-25 min: BM3D dominates (57 s/MP grey, 145 s/MP colour on 256x256 crops; 115 and 320 s/MP on --quick's 96x96),
over 0.78 MP of grey and 0.40 MP of colour test photos and, for salt-and-pepper's sigma, 5 candidates on the
tuning crops; non-local means about 3 s/MP, biharmonic 3-7 s/MP, the rest under 1 s/MP. `--tracks grey` halves
it; --threads 2 shortens the training (not measured).

Needs the restore-bench extra: pip install 'aelab[restore-bench]' (scikit-image, bm3d, opencv-python-headless).
"""

from __future__ import annotations

import importlib
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from common import RUNS, RESULTS, ROOT, bench_parser, parse, print_table, save_rows, train_once
from denoise import PHOTO_RECIPE, scores
import aelab
from aelab.corruption import Corruption, SeededDraws
from aelab.restore.photos import LUMA_601, denoise_image, inpaint_image

# Held out: natural photographs like the field's test sets (the cameraman is Set12's), two colour and two grey,
# a portrait, fur, a man with a camera and coins. The rest trains and tunes. Left out: retina and
# hubble_deep_field (mostly black: area-weighted patches would give them most of the colour training set),
# microaneurysms (102 px), the synthetic images (horse, logo, colorwheel, checkerboard, binary_blobs, phantom).
TEST_PHOTOS = ("astronaut", "chelsea", "camera", "coins")
TRAIN_PHOTOS = ("coffee", "rocket", "stereo_motorcycle", "immunohistochemistry", "moon", "page", "text", "brick",
                "grass", "gravel", "clock", "cell")
EXTRA = "pip install 'aelab[restore-bench]' (scikit-image, bm3d, opencv-python-headless)"
TRACKS = ("grey", "colour")
TUNE_SIDE = 192  # the central crop of each training photo on which free parameters are chosen
HOLES_COVER = 0.10  # square holes: their count is this share of the photo's area over one hole's
TEXT_PX, TEXT_LINE = 20, 36  # the overlay's font size and line spacing in pixels
WORDS = ("the quick brown fox jumps over a lazy dog photo copyright sample draft 2024 restore image proof "
         "archive holiday summer do not copy").split()
DNCNN_PATCH, DAE_PATCH = 40, 32
BLIND_SIGMA = 55  # of 255: DnCNN-B's training range, sigma in [0, 55] (Zhang et al. 2017, Sec. IV-A)
BANK_SIZE = 4000  # training masks in each bank (an inpainting run draws one per example)
TEST_SEED, TUNE_SEED = 1234, 4321

# the free parameters' candidates
NLM_K = (0.4, 0.6, 0.8, 1.0, 1.2, 1.6)  # h = k * sigma estimate
WAVELETS = ("db1", "db2", "sym4")
TV_WEIGHTS = (0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.45)
MEDIAN_SIZES = (3, 5, 7)
BM3D_SP_SIGMAS = tuple(s / 255 for s in (25, 35, 50, 70, 100))  # salt-and-pepper has no true sigma
INPAINT_RADII = (1, 2, 3, 5, 8, 12)


# ---- the corruptions --------------------------------------------------------------------------------------------

def missing_pixels(rng: np.random.Generator, h: int, w: int, share: float) -> np.ndarray:
    """Exactly round(share * h * w) pixels, chosen uniformly, missing in every channel (True = missing)."""
    holes = np.zeros(h * w, bool)
    holes[rng.choice(h * w, int(round(share * h * w)), replace=False)] = True
    return holes.reshape(h, w)


def square_holes(rng: np.random.Generator, h: int, w: int, side: int) -> np.ndarray:
    """max(1, round(HOLES_COVER * h * w / side^2)) side x side squares placed uniformly inside, overlaps allowed."""
    holes = np.zeros((h, w), bool)
    side = min(side, h, w)
    for _ in range(max(1, int(round(HOLES_COVER * h * w / side**2)))):
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        holes[y : y + side, x : x + side] = True
    return holes


def text_overlay(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Lines of random WORDS in Pillow's default font (Aileron) at TEXT_PX px, one every TEXT_LINE px from a random
    offset, each starting at a random x left of the edge; a pixel is missing where a glyph touches it (about 17%)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=TEXT_PX)
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    y = int(rng.integers(0, TEXT_LINE)) - TEXT_PX // 2
    while y < h:
        words = " ".join(rng.choice(WORDS, size=2 + w // (2 * TEXT_PX)))
        draw.text((-int(rng.integers(0, 3 * TEXT_PX)), y), words, fill=255, font=font)
        y += TEXT_LINE
    return np.asarray(canvas) > 0


@dataclass(frozen=True)
class Task:
    """One corruption: a noise (aelab's corruption spec, positions unknown) or holes whose place every method knows."""

    name: str
    label: str
    spec: str = ""  # a noise: the aelab spec the test photos and our training use
    sigma: float = 0.0  # Gaussian: the true sigma (BM3D is given it)
    holes: Callable[[np.random.Generator, int, int], np.ndarray] | None = None

    @property
    def inpainting(self) -> bool:
        return self.holes is not None


TASKS = [Task(f"gaussian-{s}", f"Gaussian sigma {s}/255", f"gaussian:{s / 255!r}", s / 255) for s in (15, 25, 50)]
TASKS += [Task("saltpepper-10", "salt-and-pepper 10%", "saltpepper:0.1")]
TASKS += [Task(f"pixels-{p}", f"random missing pixels {p}%", holes=lambda r, h, w, p=p: missing_pixels(r, h, w, p / 100))
          for p in (50, 80)]
TASKS += [Task(f"squares-{s}", f"square holes {s} px ({HOLES_COVER:.0%})", holes=lambda r, h, w, s=s: square_holes(r, h, w, s))
          for s in (8, 16, 32)]
TASKS += [Task("text", "text overlay", holes=text_overlay)]
QUICK_TASKS = ("gaussian-25", "saltpepper-10", "pixels-50", "squares-16", "text")


def seed_of(*names: str) -> int:
    """A fixed seed per (purpose, photo, corruption): a photo's draw does not move when others are added."""
    return zlib.crc32("|".join(names).encode())


def corrupt(task: Task, image: np.ndarray, photo: str, purpose: str = "test") -> tuple[np.ndarray, np.ndarray | None]:
    """(the corrupted (C, H, W) photo, its known holes (H, W) or None), drawn with the photo's own seed."""
    seed = seed_of(purpose, photo, task.name)
    if not task.inpainting:
        x = torch.from_numpy(image)[None]
        return Corruption(task.spec)(x, SeededDraws(seed, 1)).x[0].numpy(), None
    holes = task.holes(np.random.default_rng(seed), *image.shape[1:])
    return np.where(holes[None], 0.0, image).astype(np.float32), holes


def mask_bank(path: Path, side: int, count: int) -> Path:
    """count side x side training masks, an equal share of each inpainting corruption: random windows with at least
    one hole pixel of masks drawn at 4 x side by the test's own generators (seeded: the same bank every time)."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed_of("bank", str(side), str(count)))
    kinds = [t for t in TASKS if t.inpainting]
    bank = np.zeros((count, side, side), bool)
    for i in range(count):
        while not bank[i].any():
            big = kinds[i % len(kinds)].holes(rng, 4 * side, 4 * side)
            y, x = rng.integers(0, 3 * side + 1, size=2)
            bank[i] = big[y : y + side, x : x + side]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, bank)
    return path


# ---- the photos ---------------------------------------------------------------------------------------------------

def to_grey(image: np.ndarray) -> np.ndarray:
    """(1, H, W): a colour photo's BT.601 luma rounded to 8 bits, as a grey photo file holds it; grey as it is."""
    if image.shape[0] == 1:
        return image
    luma = (image * np.asarray(LUMA_601, np.float32).reshape(3, 1, 1)).sum(0, keepdims=True)
    return (np.round(luma * 255) / 255).astype(np.float32)


def bundled(name: str) -> np.ndarray:
    """A scikit-image photograph as (C, H, W) float32 in [0, 1] (C = 1 grey, 3 colour)."""
    import skimage.data

    a = getattr(skimage.data, name)()
    a = a[0] if isinstance(a, tuple) else a  # stereo_motorcycle: (left, right, disparity)
    a = np.asarray(a, np.float32) / 255.0
    return a[None] if a.ndim == 2 else a[:, :, :3].transpose(2, 0, 1).copy()


def load_photos(folder: Path | None) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """{name: (C, H, W)} and the names of the training and the test photos."""
    if folder is None:
        return {n: bundled(n) for n in TRAIN_PHOTOS + TEST_PHOTOS}, list(TRAIN_PHOTOS), list(TEST_PHOTOS)
    from aelab.data.images import list_images, read_image

    files = list_images(folder)
    if len(files) < 2:
        raise SystemExit(f"--photos {folder}: needs at least two photos (one to train, one to test), found {len(files)}")
    photos = {f.relative_to(folder).as_posix(): read_image(f).numpy() for f in files}
    names = list(photos)
    return photos, [n for i, n in enumerate(names) if i % 4], names[::4]


def track_photos(photos: dict[str, np.ndarray], names: list[str], track: str) -> dict[str, np.ndarray]:
    """The photos of a track: all of them as grey, or the colour ones."""
    if track == "grey":
        return {n: to_grey(photos[n]) for n in names}
    return {n: photos[n] for n in names if photos[n].shape[0] == 3}


def centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[1:]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.ascontiguousarray(image[:, y : y + side, x : x + side])


def write_folder(folder: Path, photos: dict[str, np.ndarray]) -> Path:
    """The training photos as 8-bit PNG files (what `--data patches:FOLDER` reads); written once."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name, a in photos.items():
        path = folder / (Path(name).stem.replace("/", "_") + ".png")
        if not path.exists():
            pixels = np.round(a.transpose(1, 2, 0) * 255).astype(np.uint8)
            Image.fromarray(pixels[:, :, 0] if a.shape[0] == 1 else pixels).save(path)
    return folder


# ---- the classical methods ------------------------------------------------------------------------------------------

def _hwc(y: np.ndarray) -> tuple[np.ndarray, int | None]:
    """(H, W) or (H, W, C) for scikit-image and OpenCV, and the channel axis (None: grey)."""
    return (y[0], None) if y.shape[0] == 1 else (y.transpose(1, 2, 0), -1)


def _chw(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32)[None] if a.ndim == 2 else np.asarray(a, np.float32).transpose(2, 0, 1)


def nl_means(y: np.ndarray, holes, k: float) -> np.ndarray:
    """scikit-image's non-local means: h = k * estimate_sigma (its own noise estimate, averaged over channels),
    that sigma subtracted (sigma=), patch 7, distance 11, fast mode (its defaults)."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    a, axis = _hwc(y)
    s = float(estimate_sigma(a, channel_axis=axis, average_sigmas=True))
    return _chw(denoise_nl_means(a, h=k * s, sigma=s, patch_size=7, patch_distance=11, fast_mode=True,
                                 channel_axis=axis))


def wavelet(y: np.ndarray, holes, name: str) -> np.ndarray:
    """scikit-image's wavelet denoising, BayesShrink (sigma from its own estimate), soft thresholds, rescaled sigma,
    colour in YCbCr."""
    from skimage.restoration import denoise_wavelet

    a, axis = _hwc(y)
    return _chw(denoise_wavelet(a, wavelet=name, method="BayesShrink", mode="soft", rescale_sigma=True,
                                channel_axis=axis, convert2ycbcr=axis is not None))


def tv_chambolle(y: np.ndarray, holes, weight: float) -> np.ndarray:
    """scikit-image's total-variation denoising (Chambolle 2004), its defaults (eps 2e-4, 200 iterations)."""
    from skimage.restoration import denoise_tv_chambolle

    a, axis = _hwc(y)
    return _chw(denoise_tv_chambolle(a, weight=weight, channel_axis=axis))


def bm3d_filter(y: np.ndarray, holes, sigma: float) -> np.ndarray:
    """BM3D (bm3d on PyPI, its default profile, both stages); colour: CBM3D (bm3d_rgb, opponent colour space)."""
    import bm3d

    a, axis = _hwc(y)
    return _chw(bm3d.bm3d(a, sigma_psd=sigma) if axis is None else bm3d.bm3d_rgb(a, sigma_psd=sigma))


def median(y: np.ndarray, holes, size: int) -> np.ndarray:
    """A size x size median filter on each channel, edges reflected (scipy.ndimage)."""
    from scipy.ndimage import median_filter

    return median_filter(y, size=(1, size, size), mode="reflect")


def biharmonic(y: np.ndarray, holes: np.ndarray, _=None) -> np.ndarray:
    """scikit-image's biharmonic inpainting (each channel)."""
    from skimage.restoration import inpaint_biharmonic

    a, axis = _hwc(y)
    return _chw(inpaint_biharmonic(a, holes, channel_axis=axis))


def _opencv(y: np.ndarray, holes: np.ndarray, radius: int, flag_name: str) -> np.ndarray:
    import cv2

    a, _ = _hwc(y)
    pixels = np.round(a * 255).astype(np.uint8)  # cv2.inpaint takes 8-bit colour (the photos are 8-bit)
    return _chw(cv2.inpaint(pixels, holes.astype(np.uint8), radius, getattr(cv2, flag_name)) / 255.0)


def telea(y: np.ndarray, holes: np.ndarray, radius: int) -> np.ndarray:
    """OpenCV's inpaint, INPAINT_TELEA (Telea 2004, fast marching), on 8-bit pixels."""
    return _opencv(y, holes, radius, "INPAINT_TELEA")


def navier_stokes(y: np.ndarray, holes: np.ndarray, radius: int) -> np.ndarray:
    """OpenCV's inpaint, INPAINT_NS (Bertalmio et al. 2001, Navier-Stokes), on 8-bit pixels."""
    return _opencv(y, holes, radius, "INPAINT_NS")


@dataclass(frozen=True)
class Method:
    """A classical method: its function, the candidates of its free parameter for a task (one: fixed), what it is."""

    name: str
    run: Callable
    candidates: Callable[[Task], tuple]
    setting: str  # how it is set, {} standing for the chosen value
    inpainting: bool = False


CLASSICAL = [
    Method("non-local means (scikit-image)", nl_means, lambda t: NLM_K, "h = {} x estimate_sigma, patch 7, distance 11"),
    Method("wavelet BayesShrink (scikit-image)", wavelet, lambda t: WAVELETS, "wavelet {}, soft"),
    Method("TV-Chambolle (scikit-image)", tv_chambolle, lambda t: TV_WEIGHTS, "weight {}"),
    Method("BM3D", bm3d_filter, lambda t: (t.sigma,) if t.sigma else BM3D_SP_SIGMAS, "sigma {} (x 255)"),
    Method("median filter", median, lambda t: MEDIAN_SIZES, "{0}x{0}"),
    Method("biharmonic (scikit-image)", biharmonic, lambda t: (None,), "no parameter", True),
    Method("Telea (OpenCV)", telea, lambda t: INPAINT_RADII, "radius {}", True),
    Method("Navier-Stokes (OpenCV)", navier_stokes, lambda t: INPAINT_RADII, "radius {}", True),
]


def apply(run: Callable, y: np.ndarray, holes: np.ndarray | None, value) -> np.ndarray:
    """A method's restoration, in [0, 1]; an inpainter's known pixels are kept exactly as given."""
    out = np.clip(run(y, holes, value), 0, 1).astype(np.float32)
    return out if holes is None else np.where(holes[None], out, y)


def choose(method: Method, task: Task, tune: dict[str, np.ndarray]) -> tuple[object, dict]:
    """The candidate with the best mean PSNR on the tuning crops of the training photos, and each one's."""
    candidates = method.candidates(task)
    if len(candidates) == 1:
        return candidates[0], {}
    drawn = {n: corrupt(task, a, n, "tune") for n, a in tune.items()}
    means = {}
    for v in candidates:
        means[v] = float(np.mean([scores(torch.from_numpy(apply(method.run, y, h, v))[None],
                                         torch.from_numpy(tune[n])[None])["psnr"] for n, (y, h) in drawn.items()]))
    return max(means, key=means.get), {str(v): round(p, 3) for v, p in means.items()}


def shown(method: Method, value) -> str:
    if method.run is bm3d_filter:
        value = round(value * 255, 1)
    return method.setting.format(value)


# ---- our models ---------------------------------------------------------------------------------------------------

@dataclass
class Ours:
    """How one of our model families trains and restores."""

    name: str
    kind: str  # "ours" (the goal's model) or "seed" (kept for comparison)
    model: str
    preset: str
    config: dict
    train: dict
    patch: int
    passes: int = 1  # inpainting passes (an MLP feeds its guess back; DnCNN is told the holes)
    blind: str = ""  # a blind denoiser: one model trained on this range of noises, tested on every Gaussian task

    def applies(self, task: Task) -> bool:
        return not self.blind or task.spec.startswith("gaussian:")


def families(args) -> list[Ours]:
    dncnn_train: dict = {"epochs": args.epochs} if args.epochs else {}
    dae_train = {"epochs": args.epochs or PHOTO_RECIPE["epochs"], "lr": PHOTO_RECIPE["lr"], "batch_size": 100}
    if args.batch_size:
        dncnn_train["batch_size"] = dae_train["batch_size"] = args.batch_size
    tiny = {"depth": 3, "width": 8} if args.quick else {}  # the tiny preset's size (its 8x8 input is no photo patch)
    dncnn = Ours("DnCNN (ours)", "ours", "dncnn", "photos", tiny, dncnn_train, DNCNN_PATCH)
    blind = Ours(f"DnCNN-B (ours, blind: sigma 0-{BLIND_SIGMA})", "ours", "dncnn", "photos", tiny, dncnn_train,
                 DNCNN_PATCH, blind=f"gaussian:0-{BLIND_SIGMA / 255!r}")
    dae_config = ({"hidden": (128,), "latent_dim": 64, "activation": "elu", "loss": "mse"} if args.quick
                  else PHOTO_RECIPE["model"])
    dae = Ours("MLP DAE (seed, 32x32 patches)", "seed", "ae", "none", dae_config, dae_train, DAE_PATCH, passes=3)
    return [dncnn, blind, dae]


def trained(fam: Ours, track: str, task: Task, folder: Path, args) -> tuple[object, float | None]:
    """The family's model for a track and corruption (inpainting: one model for every hole kind), trained once."""
    out = args.runs / run_name(fam, track, task)
    if fam.blind:
        corruption = fam.blind
    elif task.inpainting:
        bank = args.runs / "masks" / f"bank-{fam.patch}-{args.bank}.npy"
        corruption = "mask:" + str(mask_bank(bank, fam.patch, args.bank))
    else:
        corruption = task.spec
    from aelab.runs import RunFolder

    done = RunFolder(out).all_finished()
    t0 = time.time()
    data_options = {"patch": fam.patch, "patch_count": args.patch_count, "patch_split": "region"}
    train_once(out, f"patches:{folder}", progress=not args.no_progress, model=fam.model, preset=fam.preset,
               config=fam.config, train={**fam.train, "corrupt": corruption, "seed": args.seed},
               data_options=data_options)
    return aelab.load(out), (None if done else round(time.time() - t0, 1))


def run_name(fam: Ours, track: str, task: Task) -> str:
    if fam.blind:
        return f"{track}-{fam.model}-blind"
    return f"{track}-{fam.model}-{'holes' if task.inpainting else task.name}"


def restore(model, fam: Ours, y: np.ndarray, holes: np.ndarray | None) -> np.ndarray:
    if holes is None:
        return denoise_image(model, y)
    return inpaint_image(model, y, holes, iterations=fam.passes)


# ---- the bench ----------------------------------------------------------------------------------------------------

def measure(restore_one: Callable, test: dict, drawn: dict) -> tuple[dict, float, dict]:
    """Per photo PSNR and SSIM, seconds per megapixel over all of them, and the restored photos."""
    per, outs, secs, pixels = {}, {}, 0.0, 0
    for n, clean in test.items():
        y, holes = drawn[n]
        t0 = time.perf_counter()
        outs[n] = restore_one(y, holes)
        secs += time.perf_counter() - t0
        pixels += clean.shape[1] * clean.shape[2]
        per[n] = {k: round(v, 4) for k, v in scores(torch.from_numpy(outs[n])[None], torch.from_numpy(clean)[None]).items()}
    return per, secs / (pixels / 1e6), outs


def row(base: dict, method: str, kind: str, per: dict, s_per_mp: float | None, **extra) -> dict:
    return {**base, "method": method, "kind": kind, "photos": per,
            "psnr": round(float(np.mean([p["psnr"] for p in per.values()])), 4),
            "ssim": round(float(np.mean([p["ssim"] for p in per.values()])), 4),
            "s_per_mp": None if s_per_mp is None else round(s_per_mp, 3), **extra}


def compare(rows: list[dict]) -> None:
    """Each of our rows gets its margins to the best classical method by mean PSNR and by mean SSIM, and whether it
    beats every classical method on both."""
    classical = [r for r in rows if r["kind"] == "classical"]
    if not classical:
        return
    best, best_ssim = max(classical, key=lambda r: r["psnr"]), max(classical, key=lambda r: r["ssim"])
    for r in rows:
        if r["kind"] in ("ours", "seed"):
            r.update(best_classical=best["method"], margin_db=round(r["psnr"] - best["psnr"], 3),
                     best_classical_ssim=best_ssim["method"], margin_ssim=round(r["ssim"] - best_ssim["ssim"], 4),
                     beats_classical=r["psnr"] > best["psnr"] and r["ssim"] > best_ssim["ssim"])


def verdict(r: dict) -> str:
    if "margin_db" not in r:
        return r.get("setting", "")
    what = f"{r['margin_db']:+.2f} dB vs {r['best_classical']}, SSIM {r['margin_ssim']:+.3f}"
    if r["best_classical_ssim"] != r["best_classical"]:
        what += f" vs {r['best_classical_ssim']}"
    return what if r["beats_classical"] or r["kind"] != "ours" else "NOT BEATEN: " + what


def show(track: str, task: Task, rows: list[dict], test: dict) -> None:
    mp = sum(a.shape[1] * a.shape[2] for a in test.values()) / 1e6
    print(f"\n== {track}: {task.label}, {len(test)} held-out photo{'s' if len(test) > 1 else ''} ({mp:.2f} MP); "
          "PSNR/SSIM per photo", flush=True)
    cols = [("method", lambda r: r["method"][:34], "<34")]
    cols += [(n[:16], lambda r, n=n: f"{r['photos'][n]['psnr']:5.2f}/{r['photos'][n]['ssim']:.3f}",
              f">{min(16, max(11, len(n)))}") for n in test]
    cols += [("PSNR", "psnr", ">6.2f"), ("SSIM", "ssim", ">6.3f"),
             ("s/MP", lambda r: "-" if r["s_per_mp"] is None else f"{r['s_per_mp']:.2f}", ">7"), ("", verdict, "")]
    print_table(rows, cols)


def run_track(track: str, photos: dict, train_names: list[str], test_names: list[str], tasks: list[Task], args,
              figure_rows: list) -> list[dict]:
    train = track_photos(photos, train_names, track)
    test = track_photos(photos, test_names, track)
    if not train or not test:
        print(f"\n== {track}: skipped ({len(train)} training and {len(test)} test photos of this kind)")
        return []
    if args.quick:
        test = {n: centre_crop(a, 96) for n, a in list(test.items())[:2]}
    tune = {n: centre_crop(a, args.tune_side) for n, a in list(train.items())[: args.tune_photos or None]}
    folder = write_folder(args.runs / "photos" / track, train)
    print(f"\n{track}: training and tuning on {', '.join(train)}; testing on {', '.join(test)}", flush=True)
    fams = families(args)
    rows = []
    for task in tasks:
        base = {"track": track, "corruption": task.name, "label": task.label, "test_photos": list(test)}
        drawn = {n: corrupt(task, a, n) for n, a in test.items()}
        per, _, _ = measure(lambda y, h: y, test, drawn)
        task_rows = [row(base, "corrupted input", "input", per, None)]
        outs = {"corrupted": {n: y for n, (y, _) in drawn.items()}}
        for m in CLASSICAL:
            if m.inpainting != task.inpainting:
                continue
            value, tried = choose(m, task, tune)
            per, spm, outs[m.name] = measure(lambda y, h: apply(m.run, y, h, value), test, drawn)
            task_rows.append(row(base, m.name, "classical", per, spm, setting=shown(m, value),
                                 chosen=value, tuning_psnr=tried or None))
        for fam in (f for f in fams if f.applies(task)):
            model, train_s = trained(fam, track, task, folder, args)
            per, spm, outs[fam.name] = measure(lambda y, h: restore(model, fam, y, h), test, drawn)
            task_rows.append(row(base, fam.name, fam.kind, per, spm, train_s=train_s, halo=getattr(model, "halo", None),
                                 run=str(args.runs / run_name(fam, track, task))))
        compare(task_rows)
        show(track, task, task_rows, test)
        rows += task_rows
        figure_rows.append((track, task, test, outs, task_rows))
    return rows


def figure(entries: list, path: Path, side: int) -> None:
    """For each corruption (the colour track's where it ran): the first test photo's central crop, clean,
    corrupted, the best classical method and ours, each captioned with the method and its PSNR on the whole photo."""
    from PIL import Image, ImageDraw

    chosen = {}
    for track, task, test, outs, rows in entries:
        if task.name not in chosen or track == "colour":
            chosen[task.name] = (track, task, test, outs, rows)
    if not chosen:
        return
    cap, margin = 14, 150
    canvas = Image.new("RGB", (margin + 4 * (side + 4), len(chosen) * (side + cap + 6)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (track, task, test, outs, rows) in enumerate(chosen.values()):
        name = next(iter(test))
        by = {r["method"]: r for r in rows}
        best = max((r for r in rows if r["kind"] == "classical"), key=lambda r: r["psnr"])
        ours = next(r for r in rows if r["kind"] == "ours")
        panels = [("clean", test[name]), (f"corrupted {by['corrupted input']['photos'][name]['psnr']:.1f}",
                                           outs["corrupted"][name])]
        panels += [(f"{r['method'].split(' (')[0][:16]} {r['photos'][name]['psnr']:.1f}", outs[r["method"]][name])
                   for r in (best, ours)]
        top = i * (side + cap + 6)
        draw.text((4, top + side // 2), f"{task.label}\n({track}, {name})", fill="black")
        for j, (caption, a) in enumerate(panels):
            crop = centre_crop(a, side)
            pixels = np.round(np.repeat(crop, 3 // crop.shape[0], 0).transpose(1, 2, 0) * 255).astype(np.uint8)
            canvas.paste(Image.fromarray(pixels), (margin + j * (side + 4), top))
            draw.text((margin + j * (side + 4), top + side + 1), caption, fill="black")
    canvas.save(path)


def require_extras() -> None:
    """The heavy optional imports, each failing with one line naming the extra to install."""
    for module, package in (("skimage", "scikit-image"), ("bm3d", "bm3d"), ("cv2", "opencv-python-headless")):
        try:
            importlib.import_module(module)
        except ImportError:
            raise SystemExit(f"bench/restore_photos.py needs {package}, which is not installed: {EXTRA}") from None


def main() -> None:
    p = bench_parser(__doc__, epochs=0, batch_size=0, lr=0.0)
    p.add_argument("--photos", type=Path, default=None, help="a folder of your photos instead of scikit-image's")
    p.add_argument("--tracks", default=",".join(TRACKS))
    p.add_argument("--corruptions", default=None, help=f"of {', '.join(t.name for t in TASKS)} (default: all)")
    p.add_argument("--patch-count", type=int, default=20000, help="training patches of each run (before its split)")
    p.add_argument("--bank", type=int, default=BANK_SIZE, help="training masks of the inpainting runs")
    p.add_argument("--tune-side", type=int, default=TUNE_SIDE)
    p.add_argument("--tune-photos", type=int, default=0, help="tune on the first N training photos (0: all)")
    p.add_argument("--runs", type=Path, default=RUNS / "restore_photos")
    p.add_argument("--quick", action="store_true",
                   help="2 test photos cropped to 96x96, tiny models of 1 epoch, 5 corruptions")
    args = parse(p)
    require_extras()
    import cv2

    cv2.setNumThreads(args.threads or 1)
    if args.quick:
        args.epochs, args.patch_count, args.bank = args.epochs or 1, min(args.patch_count, 512), min(args.bank, 200)
        args.tune_side, args.tune_photos = min(args.tune_side, 48), args.tune_photos or 3
        args.runs = args.runs.parent / (args.runs.name + "-quick")
    known = {t.name: t for t in TASKS}
    names = [c.strip() for c in (args.corruptions or ",".join(QUICK_TASKS if args.quick else known)).split(",")
             if c.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        p.error(f"unknown corruption(s) {', '.join(unknown)}; known: {', '.join(known)}")
    tracks = [t.strip() for t in args.tracks.split(",") if t.strip()]
    if set(tracks) - set(TRACKS):
        p.error(f"--tracks takes {' and/or '.join(TRACKS)}")
    started = time.time()
    photos, train_names, test_names = load_photos(args.photos)
    rows, entries = [], []
    for track in tracks:
        rows += run_track(track, photos, train_names, test_names, [known[n] for n in names], args, entries)
    missed = [r for r in rows if r["kind"] == "ours" and not r["beats_classical"]]
    print(f"\nOur models beat every classical method in {sum(r['kind'] == 'ours' for r in rows) - len(missed)} of "
          f"{sum(r['kind'] == 'ours' for r in rows)} (track, corruption, model)s" + ("; not in:" if missed else ""))
    for r in missed:
        print(f"  {r['track']:6s} {r['label']:28s} {r['method'][:34]:34s} {verdict(r)}")
    suffix = "_quick" if args.quick else ""
    figure(entries, RESULTS / f"restore_photos_examples{suffix}.png", 96 if args.quick else 160)
    out = RESULTS / f"restore_photos{suffix}.json"
    save_rows(out, rows, key=lambda r: (r["track"], r["corruption"], r["method"]), benchmark="restore_photos",
              photos={"source": str(args.photos) if args.photos else "skimage.data", "train": train_names,
                      "test": test_names}, tune={"side": args.tune_side, "photos": args.tune_photos or "all"},
              patch_count=args.patch_count, bank=args.bank, omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
              seconds=round(time.time() - started, 1),
              quick=bool(args.quick))
    print(f"wrote {out} and {RESULTS / f'restore_photos_examples{suffix}.png'}")


if __name__ == "__main__":
    main()
