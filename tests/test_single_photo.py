"""One photograph is enough (data/patches.py): a folder of one photo trains a denoiser on regions of it (train and
test never overlap, the run records and says so), the model restores another photo, and a photo too small for the
patch is refused naming its size."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from aelab.cli import main
from aelab.data.patches import load_patch_folder, region_bands
from aelab.errors import DataError
from test_cli import one_line_error, run
from test_restore import _photo

NOTE = "one photo cannot be split by photo, so each photo is split by region"


@pytest.fixture(scope="module")
def one_photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one")
    Image.fromarray(_photo(48, 64, 3)).save(folder / "only.png")
    return folder


@pytest.fixture(scope="module")
def trained(one_photo, tmp_path_factory):
    """A denoiser trained on the one photo, and what the command printed on stderr."""
    out = tmp_path_factory.mktemp("runs") / "dae"
    with contextlib.redirect_stderr(io.StringIO()) as err:  # capsys is for one test; this run serves several
        code = main(["train", "ae", "--data", f"patches:{one_photo}", "--patch", "16", "--patch-count", "300",
                     "--corrupt", "gaussian:0.1", "--set", "hidden=32", "--set", "latent_dim=8", "--epochs", "1",
                     "--batch-size", "32", "--out", str(out), "--no-progress", "--no-report"])
    assert code == 0, err.getvalue()
    return out, err.getvalue()


def test_one_photo_trains_split_by_region_and_the_run_records_and_says_so(trained, one_photo, capsys):
    out, err = trained
    assert err.count(NOTE) == 1, err  # one note, though training reads train and test
    assert "the last 10% of its longer side (at least 16 pixels" in err
    data = json.loads((out / "config.json").read_text())["data"]
    assert data["options"]["patch_split"] == "region" and data["fingerprint"]["shape"] == [3, 16, 16]
    assert data["fingerprint"]["rows"] < 300  # the training region's rows only: the test region is held out

    # a resume reads the same rows (its fingerprint is checked) and says the same
    code, _, err = run(capsys, "train", "ae", "--data", f"patches:{one_photo}", "--patch", "16", "--out", out,
                       "--resume", "--more-epochs", "1", "--no-progress", "--no-report")
    assert code == 0, err
    assert err.count(NOTE) == 1


def test_the_model_trained_on_one_photo_restores_another(trained, tmp_path, capsys):
    out, _ = trained
    src = tmp_path / "other.png"
    other = _photo(37, 53, 11)
    Image.fromarray(other).save(src)
    code, stdout, err = run(capsys, "denoise", out, src, "-o", tmp_path / "restored.png")
    assert code == 0, err
    assert "denoised" in stdout
    got = Image.open(tmp_path / "restored.png")
    assert got.size == (53, 37) and got.mode == "RGB"
    assert not np.array_equal(np.asarray(got), other)  # the model's output, not a copy of the input


def _coordinates(h: int, w: int) -> np.ndarray:
    """A photo whose pixels say where they are: red is 3 x the column, green 3 x the row."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([3 * x, 3 * y, np.full_like(x, 128)], 2).astype(np.uint8)


@pytest.mark.parametrize("h, w, axis", [(48, 64, 0), (64, 48, 1)])  # wide: the right band; tall: the bottom one
def test_train_and_test_are_fixed_regions_that_do_not_overlap(tmp_path, capsys, h, w, axis):
    Image.fromarray(_coordinates(h, w)).save(tmp_path / "grid.png")
    train, test = (load_patch_folder(tmp_path, s, patch=16, count=400) for s in ("train", "test"))
    assert train.patch_split == test.patch_split == "region"
    assert NOTE in capsys.readouterr().err
    assert region_bands(64, 16) == (48, 16)  # 10% of 64 is less than a patch: the test band is one patch wide

    def spans(part):  # the (first, last) pixel coordinate the crops cover along the split side
        at = np.rint(part.x[:, axis].numpy() * 255 / 3).astype(int)
        return int(at.min()), int(at.max())

    assert spans(train) == (0, 47) and spans(test) == (48, 63)  # every crop inside its region, no crop straddles
    assert len(train) + len(test) == 400 and 0.15 < len(test) / 400 < 0.35  # shared by area: 16/64 of it
    np.testing.assert_array_equal(np.sort(np.concatenate([train.index, test.index])), np.arange(400))

    again = load_patch_folder(tmp_path, "train", patch=16, count=400)  # the same rows every time (and on resume)
    np.testing.assert_array_equal(again.x.numpy(), train.x.numpy())
    np.testing.assert_array_equal(again.index, train.index)
    forced = load_patch_folder(tmp_path, "test", patch=16, count=400, patch_split="region")
    np.testing.assert_array_equal(forced.x.numpy(), test.x.numpy())


def test_a_photo_too_small_for_the_patch_is_refused_naming_its_size(tmp_path, capsys):
    Image.fromarray(_photo(12, 20, 1)).save(tmp_path / "tiny.png")
    code, _, err = run(capsys, "train", "ae", "--data", f"patches:{tmp_path}", "--patch", "32", "--out",
                       tmp_path / "run", "--no-progress")
    assert code != 0
    one_line_error(err, f"patches:{tmp_path}: the photo tiny.png (20x12 pixels, width x height) is too small for a "
                        "32x32 patch; use --patch 12 or less")
    assert not (tmp_path / "run" / "config.json").exists()

    # large enough for a patch, too small for two regions of it
    (tmp_path / "tiny.png").unlink()
    Image.fromarray(_photo(40, 50, 1)).save(tmp_path / "small.png")
    with pytest.raises(DataError) as e:
        load_patch_folder(tmp_path, "train", patch=32, count=50)
    assert str(e.value) == (f"patches:{tmp_path}: the photo small.png (50x40 pixels, width x height) is too small for "
                            "a training and a test region of 32x32 patches (64 pixels along one side); use a smaller "
                            "--patch, more photos, or --val-fraction 0")
    assert load_patch_folder(tmp_path, "train", patch=32, count=50, val_fraction=0).patch_split == "photo"

    # beside a photo that gives patches, one smaller than the patch is skipped and counted, the other split by region
    (tmp_path / "small.png").unlink()
    Image.fromarray(_photo(12, 20, 1)).save(tmp_path / "tiny.png")
    Image.fromarray(_photo(48, 64, 2)).save(tmp_path / "fine.png")
    test = load_patch_folder(tmp_path, "test", patch=32, count=50)
    assert test.patch_split == "region" and set(test.files) == {"fine.png"}
    assert "1 of 2 photos are smaller than 32x32 and give no patches" in capsys.readouterr().err
    # split by region as asked, a photo too small for two regions is skipped and counted
    Image.fromarray(_photo(40, 50, 1)).save(tmp_path / "tiny.png")
    test = load_patch_folder(tmp_path, "test", patch=32, count=50, patch_split="region")
    assert test.patch_split == "region" and set(test.files) == {"fine.png"}
    assert "1 of 2 photos have fewer than 64 pixels along their longer side" in capsys.readouterr().err


def test_many_photos_keep_the_split_by_photo(tmp_path):
    for i in range(4):
        Image.fromarray(_photo(40, 40, i)).save(tmp_path / f"p{i}.png")
    train, test = (load_patch_folder(tmp_path, s, patch=16, count=200) for s in ("train", "test"))
    assert train.patch_split == test.patch_split == "photo"
    assert not set(train.files) & set(test.files)
