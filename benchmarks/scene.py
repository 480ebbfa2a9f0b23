"""Scene and object search against PDQ on the same queries.

    python -m benchmarks.scene [--scenes 100] [--views 2] [--objects 40]
                               [--distractors 10000] [--seed 0] [--quick]

Builds the evaluation set of :mod:`benchmarks.scene_set` (benign generated rooms, objects and
distractors, in a pool of 2), ingests the stored pictures and the distractors into one case
with ``crypto, pdq, scene, metadata`` (pool of 2), then runs every query through
``search_file`` as ``sightline search`` does and prints, beside PDQ's answer to the same
query (brute force over the stored PDQ hashes, threshold 31):

1. scene search (``--scene``) on viewpoint and viewpoint+occlusion queries: mAP, recall@1 and
   recall@10, and PDQ's (a stored picture within the threshold, ranked by distance);
2. hard copies per transform (default search, no ``--scene``): recall of the original and
   false positives (any other item reported), and PDQ's recall;
3. region queries: recall@10 of the stored pictures holding the object, and how far the
   projected outline lies from the truth;
4. the accept rule on pairs that must not match: every verified candidate that is not
   relevant, and how many were accepted;
5. query latency (p50, p99) at the stored size, index size and memory per picture, and the
   scene tier's CPU per 1 MP picture beside the hash tier's in the same process.

Targets are printed beside the figures, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tests.support.corpus import media_by_name

from benchmarks.common import BENCH, new_store
from benchmarks.scene_set import Item, build, relevant
from sightline.analyzers.base import MediaInput
from sightline.analyzers.pdq import PdqAnalyzer
from sightline.analyzers.scene import SceneAnalyzer
from sightline.features.hashes import PDQ_MATCH_THRESHOLD
from sightline.jobs.local import ProcessPoolRunner
from sightline.services import scenes as gen
from sightline.services.context import AppContext
from sightline.services.ingest.run import ingest
from sightline.services.matching.search import SearchResult, search_file
from sightline.services.signals.indexes import IndexSet

ANALYZERS = ["crypto", "pdq", "scene", "metadata"]
SCENE_KINDS = ("viewpoint", "viewpoint+occlusion")


def average_precision(ranked: Sequence[str], wanted: set[str]) -> float:
    """AP of a ranked list against the relevant set (missing ones count as never found)."""
    if not wanted:
        return float("nan")
    hits, total = 0, 0.0
    for rank, name in enumerate(ranked, 1):
        if name in wanted:
            hits += 1
            total += hits / rank
    return total / len(wanted)


def _ranked(result: SearchResult, names: dict[int, str]) -> list[str]:
    return [names.get(m.media.id, f"media-{m.media.id}") for m in result.matches]


def _pdq_ranked(
    path: Path, stored: dict[str, bytes], threshold: int = PDQ_MATCH_THRESHOLD
) -> list[str]:
    """Stored names within PDQ's threshold of any of the query's 8 variants, closest first."""
    media = MediaInput(path)
    try:
        variants = PdqAnalyzer().query(media)
    finally:
        media.close()
    names = list(stored)
    codes = np.frombuffer(b"".join(stored[n] for n in names), dtype=np.uint8).reshape(-1, 32)
    best = np.full(len(names), 257)
    for variant in variants:
        query = np.frombuffer(variant.signal.value, dtype=np.uint8)
        distance = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
        best = np.minimum(best, distance)
    order = np.argsort(best, kind="stable")
    return [names[i] for i in order if best[i] <= threshold]


def _stored_pdq(ctx: AppContext, ids: dict[str, int]) -> dict[str, bytes]:
    with ctx.uow() as uow:
        codes = uow.signals.probes_of("pdq", ids.values())
    names = {m: n for n, m in ids.items()}
    return {names[m]: c[0][0] for m, c in codes.items() if c}


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def tier_cost(paths: Sequence[Path]) -> tuple[float, float]:
    """CPU ms per picture: the hash tier (decode + PDQ) and the scene tier on top of it."""
    cv2.setNumThreads(1)  # as in an ingest worker: the pool is the parallelism
    pdq, scene = PdqAnalyzer(), SceneAnalyzer()
    hash_ms, scene_ms = [], []
    for path in paths:
        media = MediaInput(path)
        try:
            started = time.process_time()
            pdq.analyze(media)
            middle = time.process_time()
            value = scene.analyze(media)
            scene.signals(value, media)
            scene.artifacts(value, media)
            ended = time.process_time()
        finally:
            media.close()
        hash_ms.append((middle - started) * 1000)
        scene_ms.append((ended - middle) * 1000)
    return statistics.mean(hash_ms), statistics.mean(scene_ms)


def megapixel_pictures(folder: Path, count: int) -> list[Path]:
    """``count`` 1 MP (1152x864) JPEGs of generated rooms, for the tier costs."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        rng = np.random.default_rng(i)
        image = gen.view(gen.room(5_000_000 + i), gen.random_camera(rng, 0.3), (1152, 864))
        path = folder / f"mp-{i}.jpg"
        image.save(path, format="JPEG", quality=90)
        out.append(path)
    return out


def _ingest(ctx: AppContext, folders: Iterable[Path], case: str) -> float:
    started = time.perf_counter()
    report = ingest(
        ctx,
        list(folders),
        agency_code="BENCH",
        case_reference=case,
        runner=ProcessPoolRunner(2),
        requester=BENCH,
    )
    if report.failures:
        print(f"  {len(report.failures)} failed: {report.failures[:3]}")
    return time.perf_counter() - started


def main(argv: Iterable[str] | None = None) -> None:
    """Build the set, ingest it, run every query, print the figures beside their targets."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scene")
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--objects", type=int, default=40)
    parser.add_argument("--distractors", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a small smoke set (~2 min)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.scenes, args.views, args.objects, args.distractors = 12, 1, 6, 200
    with tempfile.TemporaryDirectory(prefix="bench-scene-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        items = build(
            root / "set",
            scenes=args.scenes,
            views=args.views,
            objects=args.objects,
            distractors=args.distractors,
            seed=args.seed,
        )
        print(
            f"set: {args.scenes} scenes x {args.views} views, {args.objects} objects, "
            f"{args.distractors} distractors; {len(items)} pictures, built in "
            f"{time.perf_counter() - started:.0f} s (pool of 2)"
        )
        ctx = new_store(root / "store")
        ctx.settings.analyzers.enabled = list(ANALYZERS)
        try:
            run(ctx, root, items)
        finally:
            ctx.close()


def run(ctx: AppContext, root: Path, items: list[Item]) -> None:
    """Ingest the stored pictures and distractors, then measure every query."""
    folder = root / "set"
    stored_count = sum(1 for i in items if i.role in ("stored", "distractor"))
    seconds = _ingest(ctx, [folder / "stored", folder / "distractors"], "SCENES")
    print(f"ingest: {stored_count} pictures in {seconds:.0f} s ({stored_count / seconds:.1f}/s)")
    by_file = media_by_name(ctx, "SCENES")
    prefix = {i.name.split("/", 1)[1]: i.name for i in items if i.role != "query"}
    ids = {prefix[name]: media for name, media in by_file.items() if name in prefix}
    names = {media: name for name, media in ids.items()}
    pdq_codes = _stored_pdq(ctx, ids)
    truth = relevant(items)
    indexes = IndexSet(ctx)
    before = _rss_bytes()
    indexes.vectors("scene").nearest(np.zeros((1, indexes_dims(ctx)), np.float32), 1)
    index_bytes = max(0, _rss_bytes() - before)  # FAISS allocates outside Python's heap

    latencies: list[float] = []
    scene_ap: dict[str, list[float]] = defaultdict(list)
    pdq_ap: dict[str, list[float]] = defaultdict(list)
    at1: dict[str, list[float]] = defaultdict(list)
    at10: dict[str, list[float]] = defaultdict(list)
    pdq_at1: dict[str, list[float]] = defaultdict(list)
    copies: dict[str, list[tuple[bool, int, bool]]] = defaultdict(list)
    regions: list[tuple[bool, float | None]] = []
    unrelated_accepted = 0
    for item in (i for i in items if i.role == "query"):
        path = folder / item.name
        wanted = set(truth.get(item.name, []))
        scene = item.kind in SCENE_KINDS
        started = time.perf_counter()
        result = search_file(ctx, indexes, path, requester=BENCH, scene=scene, region=item.region)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = _ranked(result, names)
        unrelated_accepted += sum(
            1
            for m in result.matches
            if names.get(m.media.id) not in wanted and "scene" in m.signals
        )
        if item.kind == "region":
            hit = bool(wanted & set(ranked[:10]))
            regions.append((hit, _quad_error(result, names, folder, items, wanted)))
            continue
        pdq = _pdq_ranked(path, pdq_codes)
        if scene:
            scene_ap[item.kind].append(average_precision(ranked, wanted))
            pdq_ap[item.kind].append(average_precision(pdq, wanted))
            at1[item.kind].append(float(bool(wanted & set(ranked[:1]))))
            at10[item.kind].append(float(bool(wanted & set(ranked[:10]))))
            pdq_at1[item.kind].append(float(bool(wanted & set(pdq[:1]))))
        else:
            found = bool(wanted & set(ranked))
            false = len([n for n in ranked if n not in wanted])
            copies[item.kind].append((found, false, bool(wanted & set(pdq))))
    _report(scene_ap, pdq_ap, at1, at10, pdq_at1, copies, regions, unrelated_accepted)
    count = len(ids)
    print(
        f"\nquery latency over {len(latencies)} searches at {count:,} stored pictures: p50 "
        f"{_pct(latencies, 50):.0f} ms, p99 {_pct(latencies, 99):.0f} ms (target p99 < 1000 "
        f"ms at 100,000); scene index {index_bytes / max(count, 1) / 1024:.1f} KiB a picture "
        f"(resident, loaded and caught up)"
    )
    pictures = megapixel_pictures(root / "mp", 20)
    hash_ms, scene_ms = tier_cost(pictures)
    print(
        f"tier cost per 1 MP JPEG (one core): hash tier (decode, PDQ) {hash_ms:.1f} ms; "
        f"scene tier adds {scene_ms:.1f} ms (target <= 60 ms)"
    )


def _rss_bytes() -> int:
    """This process's resident memory (VmRSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def indexes_dims(ctx: AppContext) -> int:
    """Width of the scene kind's vectors."""
    return ctx.signal_kinds["scene"].dims or 0


def _quad_error(
    result: SearchResult, names: dict[int, str], folder: Path, items: list[Item], wanted: set[str]
) -> float | None:
    """Distance (share of the stored width) between the found outline's centre and the truth."""
    quads = {i.name: i.truth_quad for i in items if i.truth_quad is not None}
    for match in result.matches:
        name = names.get(match.media.id)
        if name is None or name not in wanted or match.detail is None or name not in quads:
            continue
        scene = match.detail.get("scene") or {}
        if not scene.get("quad"):
            return None
        width = float(scene["stored_size"][0])
        with Image.open(folder / name) as picture:
            scale = width / picture.width
        found = np.array(scene["quad"], dtype=np.float64).mean(axis=0)
        truth = np.array(quads[name], dtype=np.float64).mean(axis=0) * scale
        return float(np.abs(found - truth).max() / width)
    return None


def _report(
    scene_ap: dict[str, list[float]],
    pdq_ap: dict[str, list[float]],
    at1: dict[str, list[float]],
    at10: dict[str, list[float]],
    pdq_at1: dict[str, list[float]],
    copies: dict[str, list[tuple[bool, int, bool]]],
    regions: list[tuple[bool, float | None]],
    unrelated: int,
) -> None:
    print("\nscene search (--scene), per query kind:")
    print("  kind                  queries   mAP  R@1   R@10 | PDQ mAP  R@1   (target mAP >= 0.8)")
    for kind in SCENE_KINDS:
        if not scene_ap[kind]:
            continue
        print(
            f"  {kind:21s} {len(scene_ap[kind]):7d} {statistics.mean(scene_ap[kind]):5.3f} "
            f"{statistics.mean(at1[kind]):5.3f} {statistics.mean(at10[kind]):5.3f} | "
            f"{statistics.mean(pdq_ap[kind]):7.3f} {statistics.mean(pdq_at1[kind]):5.3f}"
        )
    print("\nhard copies (default search), per transform:")
    print("  transform     queries  recall  false | PDQ recall   (target >= 0.95, 0 false)")
    for kind, rows in sorted(copies.items()):
        recall = statistics.mean(float(f) for f, _, _ in rows)
        false = sum(n for _, n, _ in rows)
        pdq = statistics.mean(float(p) for _, _, p in rows)
        print(f"  {kind:12s} {len(rows):8d}  {recall:6.3f} {false:6d} | {pdq:10.3f}")
    if regions:
        recall = statistics.mean(float(h) for h, _ in regions)
        errors = [e for _, e in regions if e is not None]
        error = f"{statistics.mean(errors):.3f}" if errors else "-"
        print(
            f"\nregion queries: {len(regions)}, recall@10 {recall:.3f} (target >= 0.8); outline "
            f"centre off by {error} of the stored width on average"
        )
    print(f"\nscene matches reported that are not relevant (false positives): {unrelated}")


if __name__ == "__main__":
    main()
