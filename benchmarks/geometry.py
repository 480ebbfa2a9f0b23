"""Geometric verification on generated pictures: what unrelated and related pairs look like.

Prints, for unrelated pairs (different textured pictures, different wallpaper rooms sharing
one pattern, landscapes) and related pairs (perspective warps, crops, rotations, thumbnails,
borders, occlusions, JPEG, a 3-D room corner from two viewpoints), the distribution of the
raw numbers a :class:`~sightline.features.geometry.Verdict` carries, the verdicts of the
default rule, and the time of ``correspond`` + ``verify`` for two 1000-keypoint pictures.

    python -m benchmarks.geometry [--unrelated 200] [--related 60]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
from PIL import Image, ImageDraw
from tests.support.textures import luma, room_corner, texture, wallpaper_room, warp

from sightline.features.geometry import Verdict, correspond, verify
from sightline.features.scene import LocalFeatures, extract
from sightline.services import synthetic

Pair = tuple[str, Image.Image, Image.Image]


def features(image: Image.Image) -> LocalFeatures:
    return extract(luma(image))


def perspective(image: Image.Image, rnd: random.Random, amount: float = 0.15) -> Image.Image:
    w, h = image.size
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = [[rnd.uniform(-amount, amount) * w, rnd.uniform(-amount, amount) * h] for _ in src]
    dst = (src + np.array(jitter, np.float32)).astype(np.float32)
    return warp(image, cv2.getPerspectiveTransform(src, dst))


def silhouette(image: Image.Image, rnd: random.Random, share: float = 0.3) -> Image.Image:
    """A flat person-shaped silhouette (head and body) over about ``share`` of the picture."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    body_w = int(w * share)
    x = rnd.randrange(0, w - body_w)
    colour = (rnd.randrange(80), rnd.randrange(80), rnd.randrange(80))
    draw.ellipse([x + body_w // 4, h // 6, x + 3 * body_w // 4, h // 6 + body_w // 2], fill=colour)
    draw.rounded_rectangle([x, h // 6 + body_w // 2, x + body_w, h + 40], 40, fill=colour)
    return out


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def related(count: int) -> Iterator[Pair]:
    rnd = random.Random(7)
    makers: list[tuple[str, Callable[[Image.Image], Image.Image]]] = [
        ("perspective", lambda im: perspective(im, rnd)),
        ("crop", lambda im: im.crop((60, 40, 60 + int(640 * 0.6), 40 + int(480 * 0.6)))),
        ("rotation", lambda im: im.rotate(rnd.uniform(-30, 30), resample=Image.Resampling.BICUBIC)),
        ("thumbnail", lambda im: im.resize((180, 135), Image.Resampling.LANCZOS)),
        ("border", lambda im: _bordered(im)),
        ("occluded", lambda im: silhouette(perspective(im, rnd, 0.1), rnd, 0.35)),
        ("jpeg", lambda im: jpeg(im.point(lambda v: min(255, int(v * 1.3))), 30)),
        ("hard perspective", lambda im: perspective(im, rnd, 0.25)),
        ("hard copy", lambda im: _hard_copy(im, rnd)),
        ("hard occluded", lambda im: silhouette(perspective(im, rnd, 0.15), rnd, 0.5)),
        ("small thumbnail", lambda im: jpeg(im.resize((120, 90), Image.Resampling.LANCZOS), 50)),
    ]
    for i in range(count):
        original = texture(5000 + i)
        if i % (len(makers) + 1) == len(makers):
            yield "room corner", room_corner(i, (3.0, 1.5, 0.5)), room_corner(i, (3.6, 1.1, 1.8))
            continue
        name, make = makers[i % (len(makers) + 1)]
        yield name, make(original), original


def _hard_copy(image: Image.Image, rnd: random.Random) -> Image.Image:
    """A 50 % crop (of the area), turned by up to 30 degrees, halved and saved at quality 40."""
    x, y = rnd.randrange(0, 187), rnd.randrange(0, 140)
    part = image.crop((x, y, x + 453, y + 340))
    turned = part.rotate(rnd.uniform(-30, 30), resample=Image.Resampling.BICUBIC, expand=True)
    return jpeg(turned.resize((turned.width // 2, turned.height // 2)), 40)


def _bordered(image: Image.Image) -> Image.Image:
    out = Image.new("RGB", (image.width + 80, image.height + 120), (250, 250, 250))
    out.paste(image, (40, 40))
    ImageDraw.Draw(out).text((50, image.height + 60), "caption text 2024", fill=(0, 0, 0))
    return out


def unrelated(count: int) -> Iterator[Pair]:
    for i in range(count):
        if i % 10 == 8:
            yield "wallpaper", wallpaper_room(i, 2 * i), wallpaper_room(i, 2 * i + 1)
        elif i % 10 == 9:
            yield "landscape", synthetic.landscape(i), synthetic.landscape(i + 5000)
        else:
            yield "texture", texture(i), texture(10_000 + i)


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: -"
    q = np.percentile(values, [0, 50, 90, 99, 100])
    return f"{name}: min {q[0]:.3g} p50 {q[1]:.3g} p90 {q[2]:.3g} p99 {q[3]:.3g} max {q[4]:.3g}"


def report(title: str, verdicts: list[tuple[str, Verdict]]) -> None:
    print(f"\n== {title}: {len(verdicts)} pairs, {sum(v.accepted for _, v in verdicts)} accepted")
    for model in ("homography", "fundamental"):
        chosen = [v for _, v in verdicts if v.model == model]
        print(f"  model {model}: {len(chosen)}")
    values = [v for _, v in verdicts]
    print("  " + summary("correspondences", [v.correspondences for v in values]))
    print("  " + summary("inliers", [v.inliers for v in values]))
    print("  " + summary("inlier ratio", [v.inlier_ratio for v in values]))
    print("  " + summary("max spread", [max(v.spread_query, v.spread_stored) for v in values]))
    print("  " + summary("min spread", [min(v.spread_query, v.spread_stored) for v in values]))
    print("  " + summary("cells", [v.cells for v in values]))
    gates: dict[str, list[int]] = {}
    for _, v in verdicts:
        failed = {_gate(r) for r in v.reasons}
        for gate in failed:
            gates.setdefault(gate, [0, 0])[0] += 1
            gates[gate][1] += len(failed) == 1
    for gate, (fails, alone) in sorted(gates.items()):
        print(f"  gate {gate:12s} fails {fails:4d} pairs, the only failing gate for {alone}")
    for gate in ("count", "ratio", "cells"):
        others = [v for _, v in verdicts if {_gate(r) for r in v.reasons} <= {gate}]
        worst = max((_value(v, gate) for v in others), default=0)
        print(f"  passing every gate but {gate}: {len(others)} pairs, highest {gate} {worst:.3g}")
    kinds = sorted({k for k, _ in verdicts})
    for kind in kinds:
        group = [v for k, v in verdicts if k == kind]
        accepted = sum(v.accepted for v in group)
        reasons = {r.split(" ", 2)[-1][:40] for v in group for r in v.reasons}
        print(f"  {kind:12s} {accepted}/{len(group)} accepted; reasons e.g. {sorted(reasons)[:3]}")


def _gate(reason: str) -> str:
    for key, gate in (
        ("inliers, fewer", "count"),
        ("inlier ratio", "ratio"),
        ("cover", "spread"),
        ("bunched", "spread each"),
        ("line", "line"),
        ("correspondences", "unfitted"),
        ("cells", "cells"),
    ):
        if key in reason:
            return gate
    return "sanity"


def _value(verdict: Verdict, gate: str) -> float:
    return {"count": verdict.inliers, "ratio": verdict.inlier_ratio, "cells": verdict.cells}[gate]


def raw_fits(pairs: list[Pair]) -> list[tuple[str, Verdict]]:
    return [(kind, verify(features(q), features(s))) for kind, q, s in pairs]


def timing(repeats: int = 20) -> None:
    """Wall and CPU time of correspond and verify, on two 1024 x 768 pictures."""
    a, b = features(texture(1, (1024, 768))), features(texture(2, (1024, 768)))
    c = features(perspective(texture(1, (1024, 768)), random.Random(1)))
    for label, other in (("unrelated", b), ("related", c)):
        wall: dict[str, list[float]] = {"correspond": [], "verify": []}
        cpu: dict[str, list[float]] = {"correspond": [], "verify": []}
        for _ in range(repeats):
            for name, call in (("correspond", correspond), ("verify", verify)):
                start, start_cpu = time.perf_counter(), time.process_time()
                call(a, other)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
        print(
            f"time {label} ({len(a)} x {len(other)} keypoints, median of {repeats}): "
            + ", ".join(
                f"{name} {statistics.median(wall[name]) * 1e3:.1f} ms wall "
                f"{statistics.median(cpu[name]) * 1e3:.1f} ms CPU"
                for name in wall
            )
            + " (verify includes correspond)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unrelated", type=int, default=200)
    parser.add_argument("--related", type=int, default=60)
    parser.add_argument("--threads", type=int, default=0, help="OpenCV threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    timing()
    report("unrelated", raw_fits(list(unrelated(args.unrelated))))
    report("related", raw_fits(list(related(args.related))))


if __name__ == "__main__":
    main()
