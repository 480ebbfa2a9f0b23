"""The scene-search evaluation set: stored pictures, queries and distractors, with the truth.

    python -m benchmarks.scene_set FOLDER [--scenes 200] [--views 2] [--objects 100]
                                          [--distractors 10000] [--seed 0] [--workers 2]

Builds, from :mod:`sightline.services.scenes` (benign generated rooms, objects, pictures;
nothing is committed), in ``FOLDER``:

* ``stored/``: for each scene the front view of its room (JPEG quality 90); for each object
  one or two views of *other* rooms with the object pasted in (scale 0.25-0.45 of the
  shorter side, turned up to 20 degrees), with the object's quadrilateral;
* ``queries/``: per scene, ``views`` other viewpoints (strength 0.4-1.0: yaw up to 35
  degrees, moved, zoomed), lit differently, JPEG quality 60-90 (kind ``viewpoint``); the
  same pictures with people-shaped silhouettes covering 20-50 % (``viewpoint+occlusion``);
  one hard copy of the stored front view per transform (kind: the transform's name); per
  object, a new room picture with the object at another scale (0.15-0.5) and angle (up to
  45 degrees) and a rectangle around it, 5-15 % wider than the object (``region``);
* ``distractors/``: ``distractor(i)`` pictures (640x480), generated in a pool of
  ``workers`` processes;
* ``truth.json``: every :class:`Item`, and for each query the stored pictures it must find.

Real multi-view photos ship in Debian's ``opencv-doc`` (bookworm 4.6.0+dfsg-12, not
installed; ``apt-get download opencv-doc``, 96 MB), under
``/usr/share/doc/opencv-doc/examples/data/``: ``graf1.png``/``graf3.png`` with the
ground-truth homography ``H1to3p.xml`` (a viewpoint change), ``box.png`` in
``box_in_scene.png`` (an object in clutter), ``aloeL/aloeR.jpg``, ``left.jpg``/``right.jpg``,
``leuvenA/B.jpg`` (light), ``basketball1/2.png``, ``rubberwhale1/2.png``; and in the
scikit-image wheel (``skimage/data/motorcycle_left/right.png``, Middlebury 2014 stereo). They
are not part of this set: report them separately.

Rooms and objects are drawn without repetition from
:data:`sightline.services.gen.EVALUATION_SEEDS` (distractor and training seeds never
overlap them). The same arguments give the same files.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from sightline.jobs.local import ProcessPoolRunner
from sightline.services import scenes as gen

__all__ = ["Item", "build", "relevant"]

Size = tuple[int, int]
Task = tuple[str, Path, int, int, tuple[int, ...], int, tuple[str, ...], Size]


@dataclass(frozen=True)
class Item:
    """One picture of the set.

    Attributes:
        name: path relative to the set's folder (``stored/scene00003.jpg``).
        role: ``stored``, ``query`` or ``distractor``.
        scene: the scene (room) index it shows, for scene pictures; else None.
        kind: ``front`` or ``object`` (stored); ``viewpoint``, ``viewpoint+occlusion``, a hard
            copy transform or ``region`` (queries); ``distractor``.
        region: the query rectangle ``(x, y, w, h)`` of a region query.
        truth_quad: the object's corners (4 x [x, y], pixels) in a stored object picture or
            in a region query's picture.
        obj: the object index, for object pictures and region queries.
        source: for a hard copy, the name of the stored picture it copies.
    """

    name: str
    role: str
    scene: int | None
    kind: str
    region: tuple[int, int, int, int] | None = None
    truth_quad: list[list[float]] | None = None
    obj: int | None = None
    source: str | None = None


def relevant(items: Iterable[Item]) -> dict[str, list[str]]:
    """For each query, the stored pictures it must find (same scene, or same object)."""
    items = list(items)
    by_scene: dict[int, list[str]] = {}
    by_object: dict[int, list[str]] = {}
    for item in items:
        if item.role == "stored" and item.kind == "front" and item.scene is not None:
            by_scene.setdefault(item.scene, []).append(item.name)
        if item.role == "stored" and item.kind == "object" and item.obj is not None:
            by_object.setdefault(item.obj, []).append(item.name)
    truth = {}
    for item in items:
        if item.role != "query":
            continue
        if item.kind == "region":
            truth[item.name] = sorted(by_object.get(-1 if item.obj is None else item.obj, []))
        else:
            truth[item.name] = sorted(by_scene.get(-1 if item.scene is None else item.scene, []))
    return truth


def build(
    folder: Path,
    *,
    scenes: int,
    views: int,
    objects: int,
    distractors: int,
    seed: int,
    workers: int = 2,
    size: Size = (1024, 768),
    transforms: Sequence[str] = gen.HARD_COPY_TRANSFORMS,
) -> list[Item]:
    """Write the set into ``folder`` and return its items, sorted by name.

    Args:
        folder: where to write (``stored/``, ``queries/``, ``distractors/``, ``truth.json``).
        scenes: rooms stored (front view), each queried from ``views`` viewpoints.
        views: viewpoint queries per scene (each also with people in front).
        objects: objects, each stored in one or two other rooms and queried by region.
        distractors: unrelated pictures (640x480).
        seed: picks the rooms and objects; the same seed gives the same set.
        workers: processes generating pictures (1: in this process).
        size: size of the room pictures (stored and queries).
        transforms: hard copies made of each stored front view.
    """
    for part in ("stored", "queries", "distractors"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    picker = np.random.default_rng([seed, 11])
    rooms = [
        int(r)
        for r in picker.choice(len(gen.EVALUATION_SEEDS), scenes + 3 * objects, replace=False)
    ]
    things = [int(o) for o in picker.choice(len(gen.EVALUATION_SEEDS), objects, replace=False)]
    tasks: list[Task] = [
        ("scene", folder, seed, s, (rooms[s],), views, tuple(transforms), size)
        for s in range(scenes)
    ]
    for o in range(objects):
        hosts = tuple(rooms[scenes + 3 * o : scenes + 3 * o + 3])
        tasks.append(("object", folder, seed, o, (things[o], *hosts), 0, (), size))
    tasks += [("distractor", folder, seed, i, (), 0, (), size) for i in range(distractors)]
    if workers <= 1:
        results = [_task(task) for task in tasks]
    else:
        runner = ProcessPoolRunner(workers, preload=("sightline.services.scenes",))
        results = list(runner.map_unordered(_task, tasks, initializer=_init_worker))
    items = sorted((item for batch in results for item in batch), key=lambda item: item.name)
    truth = {"items": [asdict(item) for item in items], "relevant": relevant(items)}
    (folder / "truth.json").write_text(json.dumps(truth, indent=1))
    return items


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one core per worker: the pool is the parallelism


def _task(task: Task) -> list[Item]:
    kind, folder, seed, index, seeds, views, transforms, size = task
    rng = np.random.default_rng([seed, {"scene": 1, "object": 2, "distractor": 3}[kind], index])
    if kind == "scene":
        return _scene(folder, rng, index, seeds[0], views, transforms, size)
    if kind == "object":
        return _object(folder, rng, index, seeds, size)
    name = f"distractors/d{index:06d}.jpg"
    _save(gen.distractor(index), folder / name, 85)
    return [Item(name, "distractor", None, "distractor")]


def _save(image: Image.Image, path: Path, quality: int) -> Image.Image:
    """Write a JPEG and return the picture as stored (decoded again)."""
    image.save(path, format="JPEG", quality=quality)
    return Image.open(path).convert("RGB")


def _scene(
    folder: Path,
    rng: np.random.Generator,
    s: int,
    room_seed: int,
    views: int,
    transforms: tuple[str, ...],
    size: Size,
) -> list[Item]:
    room = gen.room(room_seed)
    stored_name = f"stored/scene{s:05d}.jpg"
    stored = _save(gen.view(room, gen.front_camera(), size), folder / stored_name, 90)
    items = [Item(stored_name, "stored", s, "front")]
    for v in range(views):
        camera = gen.random_camera(rng, rng.uniform(0.4, 1.0))
        picture = gen.light(gen.view(room, camera, size), rng)
        name = f"queries/scene{s:05d}_view{v}.jpg"
        _save(picture, folder / name, int(rng.integers(60, 91)))
        items.append(Item(name, "query", s, "viewpoint"))
        crowded = gen.occlude(picture, rng, rng.uniform(0.2, 0.5))
        name = f"queries/scene{s:05d}_view{v}_people.jpg"
        _save(crowded, folder / name, int(rng.integers(60, 91)))
        items.append(Item(name, "query", s, "viewpoint+occlusion"))
    for transform in transforms:
        name = f"queries/scene{s:05d}_{transform}.jpg"
        # hard_copy has re-encoded it already: store those bytes' pixels nearly losslessly
        _save(gen.hard_copy(stored, transform, rng), folder / name, 97)
        items.append(Item(name, "query", s, transform, source=stored_name))
    return items


def _object(
    folder: Path, rng: np.random.Generator, o: int, seeds: tuple[int, ...], size: Size
) -> list[Item]:
    thing = gen.object_image(seeds[0])
    items = []
    for h in range(int(rng.integers(1, 3))):
        host = gen.view(gen.room(seeds[1 + h]), gen.random_camera(rng, rng.uniform(0, 0.6)), size)
        picture, quad = gen.paste(host, thing, rng, rng.uniform(0.25, 0.45), rng.uniform(-20, 20))
        name = f"stored/object{o:05d}_host{h}.jpg"
        _save(picture, folder / name, 90)
        items.append(Item(name, "stored", None, "object", truth_quad=quad.round(2).tolist(), obj=o))
    host = gen.view(gen.room(seeds[3]), gen.random_camera(rng, rng.uniform(0, 1)), size)
    picture, quad = gen.paste(host, thing, rng, rng.uniform(0.15, 0.5), rng.uniform(-45, 45))
    name = f"queries/object{o:05d}_region.jpg"
    _save(gen.light(picture, rng), folder / name, int(rng.integers(60, 91)))
    region = _around(quad, rng.uniform(0.05, 0.15), size)
    items.append(Item(name, "query", None, "region", region, quad.round(2).tolist(), o))
    return items


def _around(quad: np.ndarray, margin: float, size: Size) -> tuple[int, int, int, int]:
    """The rectangle around ``quad``, ``margin`` of its size wider on each side, in the picture."""
    low, high = quad.min(axis=0), quad.max(axis=0)
    pad = (high - low) * margin
    x0, y0 = np.maximum(np.floor(low - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(high + pad), size).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--distractors", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    items = build(
        args.folder,
        scenes=args.scenes,
        views=args.views,
        objects=args.objects,
        distractors=args.distractors,
        seed=args.seed,
        workers=args.workers,
    )
    counts: dict[str, int] = {}
    for item in items:
        counts[f"{item.role}/{item.kind}"] = counts.get(f"{item.role}/{item.kind}", 0) + 1
    for key, count in sorted(counts.items()):
        print(f"{key:32} {count:7}")
    print(f"{len(items)} pictures in {time.perf_counter() - start:.1f} s ({args.workers} workers)")


if __name__ == "__main__":
    main()
