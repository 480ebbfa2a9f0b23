"""Drive a sanitizer build of ``_mih`` through every C path; run by scripts/test-sanitizers.sh.

Usage: ``python tests/sanitizers/mih_driver.py BUILD/_mih.cpython-*.so``. The given build is
registered as ``sightline.indexes._mih`` before ``sightline.indexes.mih`` is imported, so the
Python wrapper (validation, save/load) runs on top of the instrumented C code. Each step also
compares results with the brute-force oracle, so a build that computes wrong answers fails
too, not only one that trips AddressSanitizer or UndefinedBehaviorSanitizer. Sizes stay small
(the sanitizers make every access several times slower); the script sets the sanitizer
options and fails on any report. Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sightline.indexes.base import BinaryIndex  # does not import _mih

Codes = npt.NDArray[np.uint8]


def _load_build(path: Path) -> None:
    """Register the extension at ``path`` as ``sightline.indexes._mih``."""
    spec = importlib.util.spec_from_file_location("sightline.indexes._mih", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sightline.indexes._mih"] = module
    spec.loader.exec_module(module)


def _random(rng: np.random.Generator, n: int) -> Codes:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def _near(rng: np.random.Generator, query: Codes, n: int, most: int = 31) -> Codes:
    """``n`` codes 0..``most`` bits from ``query``: one broad query gets them all as hits."""
    distances = rng.integers(0, most + 1, size=n)
    flips = rng.permuted(np.tile(np.arange(256), (n, 1)), axis=1) < distances[:, None]
    bits = np.unpackbits(query, bitorder="little")[None, :] ^ flips
    return np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")


def _same(
    index: BinaryIndex, oracle: BinaryIndex, queries: Codes, radii: range | tuple[int, ...]
) -> None:
    for radius in radii:
        if index.range_search(queries, radius) != oracle.range_search(queries, radius):
            raise SystemExit(f"results differ from the oracle at radius {radius}")


def main(build: Path) -> None:
    """Adds, replacements, removals, compaction, merges, broad queries, threads, save/load."""
    _load_build(build)
    from sightline.errors import IndexFileError
    from sightline.indexes import _mih
    from sightline.indexes.brute import BruteForceBinaryIndex
    from sightline.indexes.mih import MihBinaryIndex

    if Path(_mih.__file__ or "").resolve() != build.resolve():
        raise SystemExit("the sanitizer build was not the one imported")
    rng = np.random.default_rng(2024)

    # Every layout: batches crossing the merge threshold, replacements, removals (the last
    # one past a quarter dead, so the arrays are compacted and the tables rebuilt).
    for tables in (16, 14, 12):
        queries = _random(rng, 6)
        codes = np.concatenate([_random(rng, 2_500), *(_near(rng, q, 60) for q in queries)])
        ids = rng.permutation(len(codes)).astype(np.int64) - 1_000
        index, oracle = MihBinaryIndex(merge_threshold=200, tables=tables), BruteForceBinaryIndex()
        for part in np.array_split(np.arange(len(codes)), 9):
            index.add(ids[part], codes[part])
            oracle.add(ids[part], codes[part])
        moved = ids[:300]
        index.add(moved, codes[-300:])
        oracle.add(moved, codes[-300:])
        _same(index, oracle, queries, range(32))
        gone = np.concatenate([ids[::2], [10**15]])
        if index.remove(gone) != oracle.remove(gone):
            raise SystemExit("remove counts differ")
        index.add(ids[:10], codes[:10])  # re-add removed ids
        oracle.add(ids[:10], codes[:10])
        index.merge()
        _same(index, oracle, queries, (0, 15, 16, 31))

    # Broad queries: 40,000 hits from the delta (no tables) and from the tables.
    query = _random(rng, 1)
    codes = _near(rng, query[0], 40_000)
    ids = rng.permutation(40_000).astype(np.int64) * 7 - 2**40
    oracle = BruteForceBinaryIndex()
    oracle.add(ids, codes)
    for threshold in (100_000, 1_000):
        index = MihBinaryIndex(merge_threshold=threshold)
        index.add(ids, codes)
        _same(index, oracle, query, (31, 3))

    # Edge cases straight into the C core: empty index, empty batches, bad buffers, extremes.
    core = _mih.Core(4)
    empty = np.empty(0, dtype=np.int64)
    if core.remove(np.array([1], dtype=np.int64)) != 0 or core.search(b"", 31)[1] != b"":
        raise SystemExit("an empty core answered something")
    core.add(empty, np.empty((0, 32), dtype=np.uint8))
    for bad in ((b"\0" * 7, b"\0" * 32), (b"\0" * 8, b"\0" * 31)):
        try:
            core.add(*bad)
        except ValueError:
            continue
        raise SystemExit("a malformed add() was accepted")
    extremes = np.array([2**63 - 1, -(2**63), 0, -1, 2**53 + 1], dtype=np.int64)
    core.add(extremes, _random(rng, 5))
    core.merge()
    core.export()
    core.stats()

    # Threads: readers search while a writer adds, removes, merges and exports.
    base = _random(rng, 3_000)
    index = MihBinaryIndex(merge_threshold=100)
    index.add(np.arange(3_000, dtype=np.int64), base)
    stop, failures = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            if index.range_search(base[7:8], 31)[0][0].id != 7:
                failures.append("code 7 lost")

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for start in range(3_000, 6_000, 150):
        index.add(np.arange(start, start + 150, dtype=np.int64), _random(rng, 150))
        index.remove(np.arange(start - 100, start + 50, dtype=np.int64))
        index.merge()
        index.stats()
    stop.set()
    for reader in readers:
        reader.join()
    if failures:
        raise SystemExit(failures[0])

    # Save, load (tables rebuilt from the files), and a corrupt file refused before C sees it.
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        index.save(directory)
        loaded = MihBinaryIndex.load(directory)
        if loaded.range_search(base[:50], 31) != index.range_search(base[:50], 31):
            raise SystemExit("a loaded index answers differently")
        (directory / "codes.npy").write_bytes(b"\x93NUMPY garbage")
        try:
            MihBinaryIndex.load(directory)
        except IndexFileError:
            pass
        else:
            raise SystemExit("a corrupt index file was accepted")
    print("mih sanitizer driver: all paths ran clean")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
