"""Text as data: each document as the counts of the words of a vocabulary (Dataset.kind "counts").

Sources: the registered `20newsgroups` (`train.tsv.gz` and `test.tsv.gz` found like MNIST's
files, see paths.py); a text table, one document a row with its label: `.tsv` with the header
`label<TAB>text`, `.csv` with columns named `label` and `text` (others ignored), `.jsonl` with one
object `{"label": ..., "text": ...}` a line (each also gzip-compressed, `.gz`); a folder whose
first-level sub-folders hold `.txt` files (the sub-folder is the label, as scikit-learn's `load_files`).
A user's corpus may have no labels: a table without the label column (a `.tsv` with the header
`text`), JSON lines without `label`, a folder with every `.txt` file in the folder itself.

A user's corpus is read as UTF-8, and the documents nothing can be learnt from are skipped, in every
split, and counted in one note on stderr (`aelab: note: CORPUS: skipped 3 of 5,012 documents: 1 empty
(...), 1 with fewer than 2 words of the vocabulary (...), 1 not UTF-8 (...)`, the first of each kind
named): those that are not UTF-8 (a wrong decoding would invent words), empty ones, and those with fewer
than MIN_WORDS (2) words of the vocabulary, repeats counted (a code made of one word or none says
nothing of its document). A corpus with nothing left is a one-line DataError. 20newsgroups keeps every
row of its files, as the published protocols count them.

One set of rules for every source, split and query:
- Words are found by scikit-learn's `CountVectorizer`: the lower-cased text's runs of letters
  (`TOKEN_PATTERN`: Unicode letters; digits, "_" and punctuation separate words). No stemming.
- The vocabulary is built from the TRAINING split only: its `vocab_size` (default 2000) words with
  the most occurrences in all its documents together (total count, not the number of documents),
  leaving out scikit-learn's English stop words (`stop_words="english"`) and one-letter words;
  equal counts are ordered alphabetically, so the vocabulary is the same on every machine. This
  follows the 20 Newsgroups set-up of Salakhutdinov & Hinton's semantic hashing (2009), "the 2000
  most frequent words of the training set" after stop-word removal; they also stemmed, which is
  left out here. (CountVectorizer's own `max_features` is not used: it breaks ties at the cut with
  an unstable sort and orders its columns alphabetically, not by frequency.)
- x is float32 (N, V): how often each vocabulary word occurs in each document (CountVectorizer
  with `vocabulary=` the list, no stop words); other words are dropped. Dataset.vocabulary is the
  list, Dataset.texts the documents as read.
- `load_dataset(..., vocabulary=words)` counts exactly those words instead of building a list: that
  is how a run's saved vocabulary (`write_vocabulary` / `read_vocabulary`) encodes the test split
  and new documents the way the model was trained; `count_words` does the same for a user's query.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import note_once
from ..errors import DataError
from ..fsio import atomic_write_bytes
from .dataset import (
    Dataset,
    check_split,
    check_split_args,
    format_bytes,
    list_files,
    list_folder,
    physical_memory,
    refuse_empty_test,
    split_indices,
)
from .paths import data_folders
from .registry import find_dataset, register_dataset

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import CountVectorizer

__all__ = [
    "DEFAULT_VOCAB_SIZE",
    "NEWSGROUPS",
    "TEXT_SUFFIXES",
    "TABLE_SUFFIXES",
    "TOKEN_PATTERN",
    "build_vocabulary",
    "check_vocab_size",
    "check_vocabulary",
    "count_words",
    "is_text_table",
    "list_text_files",
    "MIN_WORDS",
    "not_utf8",
    "load_newsgroups",
    "load_text_folder",
    "load_text_table",
    "locate_newsgroups",
    "read_text_table",
    "read_documents",
    "read_text_folder",
    "read_vocabulary",
    "tokenize",
    "write_vocabulary",
]

DEFAULT_VOCAB_SIZE = 2000
TEXT_SUFFIXES = (".txt",)
TABLE_SUFFIXES = (".tsv", ".tsv.gz", ".csv", ".csv.gz", ".jsonl", ".jsonl.gz")
HEADER = ("label", "text")
NEWSGROUPS = [
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware", "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles",
    "rec.sport.baseball", "rec.sport.hockey", "sci.crypt", "sci.electronics", "sci.med", "sci.space",
    "soc.religion.christian", "talk.politics.guns", "talk.politics.mideast", "talk.politics.misc",
    "talk.religion.misc",
]  # fmt: skip
NEWSGROUPS_TRAIN = 11293
NEWSGROUPS_TEST = 7528

TOKEN_PATTERN = r"[^\W\d_]+"  # a run of letters: one-letter words are tokens too, so a given vocabulary may hold them
_WORD = re.compile(TOKEN_PATTERN)  # checks that a vocabulary's words are words the vectorizer can find
_UNDECODED = re.compile("[\udc80-\udcff]")  # what `_decode` makes of bytes that are not UTF-8
MIN_WORDS = 2  # a user's document with fewer words of the vocabulary (repeats counted) is skipped: see `_seeded_corpus`


# ---------------------------------------------------------------- words


def _vectorizer(**options: object) -> CountVectorizer:
    """scikit-learn's CountVectorizer with this module's tokens; imported here, as it costs most of a second."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, **options)


def tokenize(text: str) -> list[str]:
    """The words of a text as every loader sees them: CountVectorizer's tokens, before any stop word is left out."""
    return _vectorizer().build_analyzer()(text)


def _check_texts(texts: Sequence[str]) -> Sequence[str]:
    # a single str would be read as one document per character
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of strings, not one string")
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"texts must be strings, found {type(t).__name__}")
    return texts


def check_vocab_size(vocab_size: int | None) -> int:
    """vocab_size as a positive int (None: DEFAULT_VOCAB_SIZE), else a one-line DataError."""
    if vocab_size is None:
        return DEFAULT_VOCAB_SIZE
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise DataError(f"vocab_size must be a positive whole number, got {vocab_size!r}")
    return int(vocab_size)


def check_vocabulary(vocabulary: Sequence[str], where: str = "vocabulary") -> list[str]:
    """The vocabulary as a list of distinct lower-case words of letters, else a one-line DataError.

    A word the tokeniser can never produce (capitals, digits, spaces) would count nothing, silently.
    """
    if isinstance(vocabulary, (str, bytes)) or not isinstance(vocabulary, Sequence):
        raise DataError(f"{where}: expected a list of words, got {type(vocabulary).__name__}")
    words = list(vocabulary)
    if not words:
        raise DataError(f"{where}: the vocabulary is empty")
    seen: set[str] = set()
    for i, w in enumerate(words, start=1):
        if not isinstance(w, str) or not _WORD.fullmatch(w) or w != w.lower():
            raise DataError(f"{where}: word {i} ({w!r}) is not a lower-case word of letters, so no text would count it")
        if w in seen:
            raise DataError(f"{where}: word {i} ({w!r}) appears twice")
        seen.add(w)
    return words


def build_vocabulary(texts: Sequence[str], size: int = DEFAULT_VOCAB_SIZE) -> list[str]:
    """The `size` words occurring most often in texts (total count), without stop words and one-letter words.

    Equal counts are ordered alphabetically. Fewer words come back when the texts have fewer.
    """
    size = check_vocab_size(size)
    texts = _check_texts(texts)
    vectorizer = _vectorizer(stop_words="english", dtype=np.int64)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # scikit-learn's "empty vocabulary": no word but stop words, or no texts
        return []
    words = vectorizer.get_feature_names_out()  # in alphabetical order, so a stable sort breaks ties alphabetically
    totals = np.asarray(counts.sum(axis=0)).ravel()
    ranked = [words[i] for i in np.argsort(-totals, kind="stable") if len(words[i]) > 1]
    return [str(w) for w in ranked[:size]]


def _allocate_counts(label: str, n: int, v: int) -> np.ndarray:
    need = 4 * n * v
    total = physical_memory()
    what = f"{label}: {n} documents x {v} words as float32 need {format_bytes(need)}"
    if total is not None and need > total:
        raise DataError(f"{what}, more than this machine's {format_bytes(total)} of memory; use a smaller vocab_size")
    try:
        return np.zeros((n, v), dtype=np.float32)
    except (MemoryError, ValueError):
        raise DataError(f"{what}, which is more memory than is free; use a smaller vocab_size") from None


def count_words(texts: Sequence[str], vocabulary: Sequence[str], label: str = "texts") -> np.ndarray:
    """float32 (len(texts), len(vocabulary)): how often each vocabulary word occurs in each text.

    The words are `tokenize`'s; words outside the vocabulary are dropped, and a stop word in the
    vocabulary is counted like any other. A query typed by a user is `count_words([query], run_vocabulary)`.
    """
    words = check_vocabulary(vocabulary)
    texts = _check_texts(texts)
    out = _allocate_counts(label, len(texts), len(words))
    _vectorizer(vocabulary=words, dtype=np.float32).transform(texts).toarray(out=out)  # no dense int64 copy on the way
    return out


def write_vocabulary(path: str | os.PathLike, vocabulary: Sequence[str]) -> Path:
    """The vocabulary as UTF-8 text, one word per line in order (column i of x is line i), written atomically."""
    words = check_vocabulary(vocabulary)
    return atomic_write_bytes(path, ("\n".join(words) + "\n").encode("utf-8"))


def read_vocabulary(path: str | os.PathLike) -> list[str]:
    """A vocabulary written by `write_vocabulary`; a one-line DataError naming the file and line if it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the vocabulary ({type(e).__name__}: {e})".replace("\n", " ")) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines, start=1):
        if not _WORD.fullmatch(line) or line != line.lower():
            raise DataError(f"{path}: line {i} ({line[:40]!r}) is not a lower-case word of letters")
    return check_vocabulary(lines, str(path))


# ---------------------------------------------------------------- reading corpora


def is_text_table(path: str | os.PathLike) -> bool:
    """Whether a file name is a text table: .tsv, .csv or .jsonl, each also .gz (any case)."""
    return os.fspath(path).lower().endswith(TABLE_SUFFIXES)


def read_text_table(path: str | os.PathLike) -> tuple[list[str] | None, list[str]]:
    """(labels, texts) of a text table, read by its suffix: .tsv, .csv or .jsonl (each also .gz); labels None when
    the table has none. A document that is not UTF-8 keeps its bytes as surrogates (`not_utf8` finds it)."""
    name = os.fspath(path).lower().removesuffix(".gz")
    reader = read_csv if name.endswith(".csv") else read_jsonl if name.endswith(".jsonl") else read_tsv
    return reader(path)


def _decode(data: bytes) -> str:
    """UTF-8 text; bytes that are not UTF-8 become lone surrogates, so the documents holding them can be skipped."""
    return data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")


def not_utf8(text: str) -> bool:
    """Whether a document read by this module had bytes that are not UTF-8."""
    return _UNDECODED.search(text) is not None


def _document(path: Path, where: str, label: object, text: object, labelled: bool = True) -> tuple[str, str]:
    """A row's (label, text), or a one-line DataError naming the file and row; label "" in an unlabelled table."""
    if not labelled:
        label = ""
    elif not isinstance(label, (str, int)) or isinstance(label, bool) or not str(label).strip():
        raise DataError(f"{path}: {where} has no label (a non-empty string or integer under 'label')")
    if not isinstance(text, str):
        raise DataError(f"{path}: {where} has no text (a string under 'text')")
    return str(label).strip(), text


def read_csv(path: str | os.PathLike) -> tuple[list[str] | None, list[str]]:
    """(labels, texts) of a CSV whose header names the column `text` and, if labelled, `label` (others are ignored);
    quoted fields may hold commas and line breaks. UTF-8."""
    import csv
    import io

    path = Path(path)
    rows = csv.DictReader(io.StringIO(_decode(_read_bytes(path))))
    columns = {(c or "").strip().lower(): c for c in rows.fieldnames or []}
    if "text" not in columns:
        raise DataError(f"{path}: the header {rows.fieldnames} names no 'text' column (and 'label', if labelled)")
    labelled = "label" in columns
    try:
        pairs = [_document(path, f"row {i}", row.get(columns.get("label", "")), row[columns["text"]], labelled)
                 for i, row in enumerate(rows, start=2)]
    except csv.Error as e:
        raise DataError(f"{path}: not a CSV table ({e})") from None
    if not pairs:
        raise DataError(f"{path}: no documents after the header line")
    return [p[0] for p in pairs] if labelled else None, [p[1] for p in pairs]


def read_jsonl(path: str | os.PathLike) -> tuple[list[str] | None, list[str]]:
    """(labels, texts) of JSON lines, one object with `text` and, if labelled, `label` a line (other keys ignored;
    blank lines skipped). Labelled when the first object has a label; then every one needs one. UTF-8."""
    import json

    path = Path(path)
    labels, texts = [], []
    labelled: bool | None = None
    for number, line in enumerate(_decode(_read_bytes(path)).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {number} is not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number} is not an object with 'text' (and 'label', if labelled)")
        if labelled is None:
            labelled = row.get("label") is not None
        label, text = _document(path, f"line {number}", row.get("label"), row.get("text"), labelled)
        labels.append(label)
        texts.append(text)
    if not texts:
        raise DataError(f"{path}: no documents")
    return labels if labelled else None, texts


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a folder, not a file") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})".replace("\n", " ")) from None


def read_tsv(path: str | os.PathLike) -> tuple[list[str] | None, list[str]]:
    """(labels, texts) of a `label<TAB>text` table (.tsv, or gzip-compressed .tsv.gz), or of a `text` one.

    The first line is the header `label<TAB>text`; every other line is one document: the label up
    to the first tab, the text after it (later tabs are part of the text). An unlabelled table has
    the header `text` and a document a line, tabs and all (labels None). UTF-8; CRLF line ends and
    blank lines at the end are accepted. Anything else is a one-line DataError naming the file and line.
    """
    path = Path(path)
    lines = _decode(_read_bytes(path)).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file; expected the header line 'label<TAB>text' (or 'text') and one "
                        "document per line")
    header = tuple(h.strip().lower() for h in lines[0].rstrip("\r").split("\t"))
    if header == ("text",):
        if len(lines) < 2:
            raise DataError(f"{path}: no documents after the header line")
        return None, [line.rstrip("\r") for line in lines[1:]]
    if header != HEADER:
        raise DataError(f"{path}: line 1 is {lines[0][:60]!r}, not the header 'label<TAB>text' (or 'text')")
    labels, texts = [], []
    for number, line in enumerate(lines[1:], start=2):
        label, tab, body = line.partition("\t")
        if not tab:
            raise DataError(f"{path}: line {number} has no tab; each document is one line 'label<TAB>text'")
        label = label.strip()
        if not label:
            raise DataError(f"{path}: line {number} has an empty label")
        labels.append(label)
        texts.append(body.rstrip("\r"))
    if not labels:
        raise DataError(f"{path}: no documents after the header line")
    return labels, texts


def list_text_files(folder: str | os.PathLike) -> list[Path]:
    """.txt files under folder, recursively, sorted by their path relative to it; hidden names skipped."""
    return list_files(folder, TEXT_SUFFIXES)


def _read_text_file(path: Path) -> str:
    try:
        return _decode(path.read_bytes())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})".replace("\n", " ")) from None


# ---------------------------------------------------------------- Datasets


def _refuse_image_options(label: str, image_size: object, grayscale: object) -> None:
    for option, value in (("image_size (--image-size)", image_size), ("grayscale", grayscale)):
        if value is not None:
            raise DataError(f"{label} is text (word counts), so {option} does not apply to it")


def _check_text_args(
    source: str | os.PathLike,
    split: str,
    image_size: object,
    grayscale: object,
    name: str | None,
    val_fraction: float | None,
) -> tuple[str, float | None, str]:
    """(split, val_fraction, label) of a text file or folder loader, checked before any file is read."""
    split, val_fraction, label = check_split_args(source, split, name, val_fraction)
    _refuse_image_options(label, image_size, grayscale)
    refuse_empty_test(label, split, val_fraction)
    return split, val_fraction, label


def _vocabulary_for(
    label: str, train_texts: Sequence[str], vocabulary: Sequence[str] | None, vocab_size: int | None
) -> list[str]:
    """The given vocabulary (checked), or one built from the training texts."""
    if vocabulary is not None:
        words = check_vocabulary(vocabulary)
        if vocab_size is not None and len(words) > check_vocab_size(vocab_size):
            raise DataError(f"{label}: the vocabulary has {len(words)} words, more than vocab_size {vocab_size}")
        return words
    words = build_vocabulary(train_texts, check_vocab_size(vocab_size))
    if not words:
        raise DataError(f"{label}: the training split has no words (stop words and one-letter words are left out)")
    return words


def _counts_dataset(
    label: str,
    split: str,
    texts: list[str],
    y: np.ndarray | None,
    classes: list[str] | None,
    index: np.ndarray,
    vocabulary: list[str],
    files: list[str] | None = None,
) -> Dataset:
    """The Dataset of one split: texts, labels and files are already the split's rows, in order."""
    if not texts:
        raise DataError(f"{label}: the {split!r} split is empty")
    x = torch.from_numpy(count_words(texts, vocabulary, label))
    return Dataset(
        x=x,
        y=None if y is None else torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
        name=label,
        classes=classes,
        index=np.asarray(index, dtype=np.int64),
        files=files,
        kind="counts",
        vocabulary=list(vocabulary),
        texts=texts,
    )


def _seeded_corpus(
    source: str | os.PathLike,
    label: str,
    split: str,
    labels: list[str] | None,
    texts: list[str],
    val_fraction: float | None,
    vocabulary: Sequence[str] | None,
    vocab_size: int | None,
    files: list[str] | None = None,
) -> Dataset:
    """A user corpus split by split_indices over all its documents, then the unusable ones skipped in each split.

    Skipped, and counted in one note for the whole corpus: a document that is not UTF-8, an empty one (white space
    only), and one with fewer than MIN_WORDS words of the vocabulary (repeats counted): its code would say nothing
    of it. The first two do not depend on the vocabulary, so the vocabulary is built from the rest of the training
    split; the split is drawn before anything is skipped, so each document stays in its split and `index` is its
    row in the source. `labels` None: an unlabelled corpus (y and classes None). Classes come from every readable
    document, so that train and test agree. The note is said once per `notes_once` block for a `source` (its path)
    and vocabulary, however often the corpus is read.
    """
    n = len(texts)
    broken = [not_utf8(t) or (labels is not None and not_utf8(labels[i])) for i, t in enumerate(texts)]
    empty = [not b and not t.strip() for b, t in zip(broken, texts)]
    readable = [not (b or e) for b, e in zip(broken, empty)]
    classes = None if labels is None else sorted({c for c, ok in zip(labels, readable) if ok})
    if not any(readable):
        raise DataError(f"{label}: no document is left: {sum(empty):,} of {n:,} are empty, {sum(broken):,} not UTF-8")
    idx = split_indices(n, split, val_fraction=val_fraction)
    if len(idx) == 0:
        raise DataError(f"{label}: the {split!r} split is empty ({n} document(s) in all)")
    train_idx = idx if split == "train" else split_indices(n, "train", val_fraction=val_fraction)
    words = _vocabulary_for(label, [texts[i] for i in train_idx if readable[i]], vocabulary, vocab_size)
    rows = [int(i) for i in idx if readable[i]]
    counts = _sparse_counts([texts[i] for i in rows], words)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    keep = totals >= MIN_WORDS
    kept = [r for r, k in zip(rows, keep) if k]

    def skipped() -> str | None:  # the whole corpus, not only this split: said once per command (notes_once)
        enough = dict(zip(rows, keep))  # readable documents -> whether they have MIN_WORDS words of the vocabulary
        others = [i for i in range(n) if readable[i] and i not in enough]
        enough.update(zip(others, np.asarray(_sparse_counts([texts[i] for i in others], words).sum(axis=1)).ravel()
                          >= MIN_WORDS))
        return _skipped_note(label, n, broken, empty, [readable[i] and not enough[i] for i in range(n)], files)

    if not kept:  # the error alone: a note before it would say the same twice
        raise DataError(f"{label}: no document is left in the {split!r} split: its {len(idx):,} are all empty, not "
                        f"UTF-8 or with fewer than {MIN_WORDS} words of the vocabulary")
    words_sha256 = hashlib.sha256("\n".join(words).encode()).hexdigest()
    note_once(("skipped documents", str(Path(source).resolve()), words_sha256), skipped)
    x = _dense(label, counts[np.flatnonzero(keep)])
    code = {c: k for k, c in enumerate(classes or [])}
    return Dataset(
        x=x,
        y=None if classes is None else torch.tensor([code[labels[i]] for i in kept], dtype=torch.int64),
        name=label,
        classes=classes,
        index=np.asarray(kept, dtype=np.int64),
        files=None if files is None else [files[i] for i in kept],
        kind="counts",
        vocabulary=list(words),
        texts=[texts[i] for i in kept],
    )


def _skipped_note(label: str, n: int, broken: list[bool], empty: list[bool], short: list[bool],
                  files: list[str] | None) -> str | None:
    """One line: how many documents were skipped, of each kind, and the first of each (None when none was)."""
    kinds = [(sum(flags), what, flags.index(True)) for flags, what in
             ((empty, "empty"), (short, f"with fewer than {MIN_WORDS} words of the vocabulary"), (broken, "not UTF-8"))
             if any(flags)]
    if not kinds:
        return None
    where = (lambda i: files[i]) if files is not None else (lambda i: f"id {i}")  # a table's documents from 0
    parts = [f"{count:,} {what} ({'' if count == 1 else 'first: '}{where(first)})" for count, what, first in kinds]
    return f"{label}: skipped {sum(c for c, _, _ in kinds):,} of {n:,} documents: {', '.join(parts)}"


def _sparse_counts(texts: Sequence[str], words: Sequence[str]):
    """scipy CSR float32 (len(texts), len(words)) of the vocabulary's counts (count_words without the dense copy)."""
    return _vectorizer(vocabulary=list(words), dtype=np.float32).transform(texts)


def _dense(label: str, counts) -> torch.Tensor:
    out = _allocate_counts(label, counts.shape[0], counts.shape[1])
    counts.toarray(out=out)
    return torch.from_numpy(out)


def load_text_table(
    path: str | os.PathLike,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    name: str | None = None,
    val_fraction: float | None = None,
    *,
    vocabulary: Sequence[str] | None = None,
    vocab_size: int | None = None,
) -> Dataset:
    """A text table (.tsv, .csv, .jsonl) as word counts; a seeded split holding out val_fraction (None: 10%).

    Dataset.index is each document's row in the table (0 = the first document).
    """
    split, val_fraction, label = _check_text_args(path, split, image_size, grayscale, name, val_fraction)
    labels, texts = read_text_table(path)  # labels None: an unlabelled table
    return _seeded_corpus(path, label, split, labels, texts, val_fraction, vocabulary, vocab_size)


def load_text_folder(
    folder: str | os.PathLike,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    name: str | None = None,
    val_fraction: float | None = None,
    *,
    vocabulary: Sequence[str] | None = None,
    vocab_size: int | None = None,
) -> Dataset:
    """A folder of .txt files as word counts: label = first-level sub-folder (files found recursively), as
    scikit-learn's `load_files`; files all directly in the folder are an unlabelled corpus.

    A seeded split holds out val_fraction (None: 10%). Files are UTF-8 (others are skipped, see
    `_seeded_corpus`). Dataset.files is each row's path relative to the folder, Dataset.index its
    position in the sorted file list. Files both in the folder and in sub-folders are a DataError.
    """
    folder = Path(folder)
    split, val_fraction, label = _check_text_args(folder, split, image_size, grayscale, name, val_fraction)
    labels, texts, files = read_text_folder(folder)
    return _seeded_corpus(folder, label, split, labels, texts, val_fraction, vocabulary, vocab_size, files)


def read_text_folder(folder: str | os.PathLike) -> tuple[list[str] | None, list[str], list[str]]:
    """(labels, texts, files) of a folder's .txt files in sorted order: the label is a file's first-level
    sub-folder, None for a folder whose files are all in it (unlabelled); files relative to the folder."""
    folder = Path(folder)
    paths = list_folder(folder, list_text_files)
    if not paths:
        raise DataError(f"{folder}: no .txt files found in it or its sub-folders")
    rel = [p.relative_to(folder).parts for p in paths]
    loose = [p for p, r in zip(paths, rel) if len(r) < 2]
    if loose and len(loose) < len(paths):
        raise DataError(
            f"{loose[0]}: a text file outside the label sub-folders ({len(loose)} such); "
            "put each document in the sub-folder named by its label (or every one in the folder itself, unlabelled)"
        )
    texts = [_read_text_file(p) for p in paths]
    return None if loose else [r[0] for r in rel], texts, ["/".join(r) for r in rel]


def read_documents(
    name: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> tuple[list[str] | None, list[str], list[str] | None] | None:
    """Every document of a text corpus in source order, as `Dataset.index` numbers them: (labels, texts, files), read
    again without counting words or skipping any (what a search shows of its hits); None for data that is not text.

    labels None: unlabelled; files None: a table. 20newsgroups: the train file's rows, then the test file's.
    """
    source = find_dataset(name)
    if source is not None:
        if source.name != "20newsgroups":
            return None
        try:
            files = locate_newsgroups(data_dir, "all")
        except DataError:
            files = locate_newsgroups(data_dir, "train")
        parts = [_read_newsgroups(files[s]) for s in ("train", "test") if s in files]
        return ([NEWSGROUPS[int(c)] for y, _ in parts for c in y], [t for _, texts in parts for t in texts], None)
    path = Path(name).expanduser()
    if path.is_dir():
        return read_text_folder(path)
    if path.is_file() and is_text_table(path):
        return (*read_text_table(path), None)
    return None


# ---------------------------------------------------------------- 20 Newsgroups


def _find_tsv(folder: Path, stem: str) -> Path | None:
    for p in (folder / f"{stem}.tsv.gz", folder / f"{stem}.tsv"):
        if p.is_file():
            return p
    return None


def locate_newsgroups(data_dir: str | os.PathLike | None = None, split: str = "all") -> dict[str, Path]:
    """{"train": path[, "test": path]} of the files `split` needs (train always: it gives the vocabulary), or DataError.

    Looked for in each base folder of data_search_dirs, in `base/20newsgroups/` first, then `base/`.
    """
    split = check_split(split)
    needed = ["train"] if split == "train" else ["train", "test"]
    looked: list[str] = []
    partial: list[str] = []
    for folder in data_folders("20newsgroups", data_dir, looked):
        files = {s: p for s in needed if (p := _find_tsv(folder, s)) is not None}
        if len(files) == len(needed):
            return files
        if files:
            partial.append(f"{folder} lacks {', '.join(f'{s}.tsv[.gz]' for s in needed if s not in files)}")
    wanted = ", ".join(f"{s}.tsv[.gz]" for s in needed)
    found = f" ({'; '.join(partial)})" if partial else ""
    raise DataError(
        f"20newsgroups not found: missing {wanted}; looked in {', '.join(looked)}{found}; "
        "put the files (header label<TAB>text, one post per line; see `aelab data fetch 20newsgroups`) "
        "in one of those folders"
    )


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _read_newsgroups(path: Path) -> tuple[np.ndarray, list[str]]:
    """(labels as indices into NEWSGROUPS, texts) of one file; other labels mean another corpus: DataError."""
    labels, texts = read_tsv(path)
    if labels is None:
        raise DataError(f"{path}: no labels (the header is 'text'); 20newsgroups files are 'label<TAB>text'")
    texts = [t.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if not_utf8(t) else t for t in texts]
    code = {c: i for i, c in enumerate(NEWSGROUPS)}
    y = np.fromiter((code.get(c, -1) for c in labels), dtype=np.int64, count=len(labels))
    if (y < 0).any():
        row = int(np.flatnonzero(y < 0)[0])
        raise DataError(
            f"{path}: line {row + 2}: label {labels[row]!r} is not one of the 20 newsgroups; "
            "load another corpus by its path instead"
        )
    return y, texts


# (train file's path, size, mtime, vocab_size or None) -> (its documents, its vocabulary): loading the
# test split or encoding queries after the train split reuses the list instead of re-reading the file
_TRAIN_SUMMARIES: dict[tuple[str, int, int, int | None], tuple[int, tuple[str, ...]]] = {}
_MAX_SUMMARIES = 8


def load_newsgroups(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    *,
    vocabulary: Sequence[str] | None = None,
    vocab_size: int | None = None,
) -> Dataset:
    """20 Newsgroups ("bydate": 11,293 train and 7,528 test posts) as word counts; "all" is train then test.

    Without a vocabulary, the train file's `vocab_size` (2000) most frequent words. Dataset.index
    is the row in the train file, and the train file's size + row for the test file.
    """
    split = check_split(split)
    files = locate_newsgroups(data_dir, split)
    given = None if vocabulary is None else _vocabulary_for("20newsgroups", [], vocabulary, vocab_size)
    size = None if given is not None else check_vocab_size(vocab_size)
    key = (*_file_key(files["train"]), size)
    summary = _TRAIN_SUMMARIES.get(key)
    train: tuple[np.ndarray, list[str]] | None = None
    if split != "test" or summary is None:
        train = _read_newsgroups(files["train"])
    if summary is None:
        assert train is not None
        built = () if size is None else tuple(_vocabulary_for("20newsgroups", train[1], None, size))
        summary = (len(train[1]), built)
        if len(_TRAIN_SUMMARIES) >= _MAX_SUMMARIES:
            _TRAIN_SUMMARIES.clear()
        _TRAIN_SUMMARIES[key] = summary
    n_train, built = summary
    words = given if given is not None else list(built)
    parts = []
    if split in ("train", "all"):
        assert train is not None
        parts.append((train, 0))
    if split in ("test", "all"):
        parts.append((_read_newsgroups(files["test"]), n_train))
    texts = [t for (_, part_texts), _ in parts for t in part_texts]
    y = np.concatenate([part_y for (part_y, _), _ in parts])
    index = np.concatenate([offset + np.arange(len(part_y), dtype=np.int64) for (part_y, _), offset in parts])
    return _counts_dataset("20newsgroups", split, texts, y, list(NEWSGROUPS), index, words)


def _probe(data_dir: str | os.PathLike | None) -> tuple[bool, str | None]:
    try:
        files = locate_newsgroups(data_dir, "all")
    except DataError:
        return False, None
    return True, str(files["train"].parent)


@register_dataset(
    "20newsgroups",
    description="20 Newsgroups posts (bydate split) as counts of the training set's 2000 most frequent words",
    aliases=("20ng", "newsgroups"),
    train=NEWSGROUPS_TRAIN,
    test=NEWSGROUPS_TEST,
    probe=_probe,
    kind="counts",
)
def _load(
    split: str,
    data_dir: str | os.PathLike | None,
    image_size: tuple[int, int] | None,
    grayscale: bool | None,
    *,
    vocabulary: Sequence[str] | None = None,
    vocab_size: int | None = None,
) -> Dataset:
    """The registry's loader: no val_fraction parameter, so the official test split is kept."""
    _refuse_image_options("20newsgroups", image_size, grayscale)
    return load_newsgroups(split, data_dir, vocabulary=vocabulary, vocab_size=vocab_size)
