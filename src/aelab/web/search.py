"""The page's search over an index (`aelab serve --index INDEX`): free text for a document index, an uploaded image or
an item id for an image index; top-k or within a Hamming radius. Queries never name files on the server: text is
counted as given, and an upload is decoded from its bytes, size-limited, its pixel count checked before decoding."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

MAX_UPLOAD = 8 * 2**20  # bytes of an uploaded image
MAX_PIXELS = 40_000_000  # of an uploaded image, checked from its header before its pixels are decoded
MAX_TOP = 100
MAX_TEXT = 100_000  # characters of a text query


class Searcher:
    """An index opened once, with the run whose model made its codes (checked to be that model as it is now)."""

    def __init__(self, folder: Path) -> None:
        """Opens the index (numpy only: the page starts at once) and checks that the run that made it is there;
        its model loads with the first query."""
        from ..api.hits import open_index
        from ..runs import RunFolder

        self.folder = folder
        self.index = open_index(folder)
        self.source = self.index.source or {}
        self.run = Path(self.source.get("run", ""))
        if not self.source.get("run") or not RunFolder(self.run).is_run():
            raise ConfigError(f"the run that made {folder} ({self.source.get('run')}) is not there any more; "
                              "queries need its model")
        self.spec = RunFolder(self.run).read_spec()
        self.documents = bool(self.spec.data_options.get("vocabulary"))
        self._model: Any = None
        self._data: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from ..api.hits import asked_source, binary_model

                model, _ = binary_model(self.run)
                self.asked = asked_source(self.index, self.folder, self.run, model, self.spec)
                self._model = model.cpu().eval()
        return self._model

    def about(self) -> dict[str, Any]:
        return {"index": str(self.folder), "items": len(self.index), "bits": self.index.bits,
                "kind": "documents" if self.documents else "images", "run": str(self.run),
                "model": self.source.get("model", "")}

    def search(self, text: str | None = None, item: str | None = None, image: bytes | None = None,
               top: str | int | None = 10, radius: str | int | None = None) -> dict[str, Any]:
        """The hits of one query (nearest first, ties by id): id, distance, label, file, words or picture."""
        from ..api.hits import describe, find

        self.model  # loaded (and checked against the index) before the clock starts
        t0 = time.perf_counter()
        top_k, within = whole_number(top, "top", 1, MAX_TOP), whole_number(radius, "radius", 0, self.index.bits)
        if within is not None:
            top_k = None
        elif top_k is None:
            top_k = 10
        given = [q for q in (text, item, image) if q not in (None, "", b"")]
        if len(given) != 1:
            raise ConfigError("give one query: some text, an item id or an image")
        if item not in (None, ""):
            code, what = self._item_code(item)
        elif image not in (None, b""):
            code, what = self._image_code(image)
        else:
            code, what = self._text_code(str(text))
        dist, ids = find(self.index, code, top_k, within, self.asked)
        about = describe(self.spec, self.index.source or {}, ids)
        hits = [{"id": int(i), "distance": int(d), **a} for i, d, a in zip(ids.tolist(), dist.tolist(), about)]
        if not self.documents:
            self._pictures(hits)
        return {"query": what, "hits": hits, "ms": round(1000 * (time.perf_counter() - t0), 2),
                "how": f"top {top_k}" if within is None else f"within {within} bits"}

    def _text_code(self, text: str) -> tuple[Any, str]:
        import torch

        from ..data import count_words

        if not self.documents:
            raise ConfigError("this index holds images: search it with an image or an item id")
        if len(text) > MAX_TEXT:
            raise ConfigError(f"the text is {len(text):,} characters; at most {MAX_TEXT:,}")
        counts = torch.from_numpy(count_words([text], self.spec.data_options["vocabulary"]))
        if float(counts.sum()) == 0:
            raise ConfigError("none of the query's words is in the run's vocabulary; the query has no code")
        with torch.no_grad():
            return self.model.binary_codes(counts).numpy(), "text"

    def _item_code(self, item: str) -> tuple[Any, str]:
        from ..index.bits import unpack_bits

        number = whole_number(item, "item id", 0, None)
        codes, ids = self.index.codes_and_ids()
        where = np.flatnonzero(ids == number)
        if not len(where):
            raise ConfigError(f"no item with id {number} in the index ({len(ids):,} items)")
        return unpack_bits(codes[where[:1]], self.index.bits), f"item {number}"

    def _image_code(self, data: bytes) -> tuple[Any, str]:
        import tempfile

        import torch
        from PIL import Image, UnidentifiedImageError

        from ..data import read_image

        if self.documents:
            raise ConfigError("this index holds documents: search it with text")
        if len(data) > MAX_UPLOAD:
            raise ConfigError(f"the image is {len(data) / 2**20:.1f} MiB; at most {MAX_UPLOAD // 2**20} MiB")
        try:
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                width, height = im.size
        except (UnidentifiedImageError, OSError, ValueError):
            raise ConfigError("the upload is not an image Pillow can read (PNG, JPEG, ...)") from None
        if width * height > MAX_PIXELS:
            raise ConfigError(f"the image is {width}x{height} pixels; at most {MAX_PIXELS:,}")
        shape = self.model.input_shape
        with tempfile.NamedTemporaryFile(suffix=".img") as f:
            f.write(data)
            f.flush()
            x = read_image(f.name, tuple(shape[1:]), grayscale=shape[0] == 1).unsqueeze(0)
        with torch.no_grad():
            return self.model.binary_codes(x).numpy(), f"an uploaded {width}x{height} image"

    def _pictures(self, hits: list[dict[str, Any]]) -> None:
        """Each image hit's picture, from the run's data when it is at hand."""
        from ..api.data import load_run_data
        from ..errors import AelabError
        from .runs import png_data_url

        if self._data is None:
            try:
                data = load_run_data(self.spec, "all")
                rows = {int(v): k for k, v in enumerate(data.index)} if data.index is not None else {}
                self._data = (data, rows)
            except AelabError:
                self._data = (None, {})
        data, rows = self._data
        for hit in hits:
            k = rows.get(hit["id"])
            if data is not None and k is not None:
                hit["image"] = png_data_url(data.x[k : k + 1], nrow=1, scale=max(1, 56 // data.x.shape[-2]))


def whole_number(value: Any, name: str, low: int, high: int | None) -> int | None:
    """A whole number from a form field in [low, high], None when empty; a one-line error otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {str(value)[:40]!r}") from None
    if number < low or (high is not None and number > high):
        raise ConfigError(f"{name} must be from {low}{f' to {high}' if high is not None else ' up'}, got {number}")
    return number
