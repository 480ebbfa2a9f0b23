"""``sightline ingest`` and ``sightline search``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sightline.cli.common import (
    app_context,
    cli_requester,
    console,
    handle_errors,
    print_json,
    visible,
)
from sightline.jobs.inline import InlineRunner
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.ingest.run import IngestProgress, IngestReport, ProgressCallback, ingest
from sightline.services.jobs.runner import TaskRunner
from sightline.services.matching.explain import explain_best
from sightline.services.matching.search import parse_region, result_as_dict, search_file
from sightline.services.signals.indexes import IndexSet


@handle_errors
def ingest_command(
    paths: list[Path] = typer.Argument(..., help="Files, folders and zip archives."),
    case: str = typer.Option(..., "--case", help="Case reference (created if new)."),
    agency: str = typer.Option(..., "--agency", help="Owning agency code."),
    device: str | None = typer.Option(None, "--device", help="Label of the seized device."),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="Worker processes (0: one per core; default: settings)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest files, folders and zip archives into a case; run again to resume."""
    with app_context() as ctx:
        count = ctx.settings.ingest.workers if workers is None else workers
        runner: TaskRunner = InlineRunner() if count == 1 else ProcessPoolRunner(count)
        with _progress_bar(disable=as_json) as update:
            report = ingest(
                ctx,
                paths,
                agency_code=agency.upper(),
                case_reference=case,
                runner=runner,
                device_label=device,
                on_progress=update,
                requester=cli_requester(),
            )
        IndexSet(ctx).save()  # persist the caught-up index for the next process
    if as_json:
        print_json(_report_dict(report))
    else:
        _print_report(report)
    if report.summary.pending:
        raise typer.Exit(1)


@contextmanager
def _progress_bar(*, disable: bool) -> Iterator[ProgressCallback]:
    """A Rich progress bar (counts and rate) fed by ingest's progress callback."""
    bar = Progress(
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TextColumn("{task.fields[rate]:.1f} files/s"),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )
    task = bar.add_task("ingest", total=None, counts="", rate=0.0)

    def update(p: IngestProgress) -> None:
        counts = f"stored {p.stored} · duplicates {p.duplicates} · failed {p.failed}"
        rate = p.processed / p.elapsed_s if p.elapsed_s > 0 else 0.0
        bar.update(task, total=p.total, completed=p.processed, counts=counts, rate=rate)

    with bar:
        yield update


def _report_dict(report: IngestReport) -> dict[str, object]:
    s = report.summary
    return {
        "job_id": report.job_id,
        "resumed": report.resumed,
        "total": s.total,
        "stored": s.stored,
        "duplicates": s.duplicates,
        "failed": s.failed,
        "pending": s.pending,
        "failures_by_reason": dict(s.failures_by_reason),
        "failures": [
            {"path": f.locator, "reason": f.reason, "detail": f.detail} for f in report.failures
        ],
        "processed_this_run": report.processed_this_run,
        "alerts_raised": report.alerts_raised,
        "elapsed_s": round(report.elapsed_s, 3),
    }


def _print_report(report: IngestReport) -> None:
    s = report.summary
    verb = "resumed" if report.resumed else "finished"
    console.print(
        f"job {report.job_id} {verb}: {s.total} files, {s.stored} stored, "
        f"{s.duplicates} duplicates, {s.failed} failed, {s.pending} pending, "
        f"{report.alerts_raised} overlap alerts ({report.elapsed_s:.1f} s)"
    )
    if report.failures:
        table = Table("file", "reason", "detail", title="files not taken")
        for f in report.failures:
            table.add_row(visible(f.locator), visible(f.reason or ""), visible(f.detail or ""))
        console.print(table)


@handle_errors
def search_command(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="The query file: an image, a video or an audio file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    scene: bool = typer.Option(
        False,
        "--scene",
        help="Also report other pictures of the same scene or object (not only copies).",
    ),
    region: str | None = typer.Option(
        None,
        "--region",
        metavar="X,Y,W,H",
        help="Search only this rectangle of the picture (pixels): an object, a logo, a patch "
        "of wallpaper. Implies --scene.",
    ),
    explain: Path | None = typer.Option(
        None,
        "--explain",
        dir_okay=False,
        help="Write a PNG of the best scene match: the two pictures side by side (greyscale, "
        "blurred) with the matched keypoints joined and the found outline drawn.",
    ),
    reveal: bool = typer.Option(
        False, "--reveal", help="With --explain: draw the pictures unblurred (audited)."
    ),
) -> None:
    """Search every case for exact, perceptual, scene and soundtrack matches of FILE.

    FILE may be an image, a video or an audio file; for recordings, each match shows the
    aligned segments (which seconds match, the offset and the speed). Copies PDQ misses
    (crops, rotations, borders, captions, thumbnails) are found through the scene signal and
    labelled with their transform; --scene adds other pictures of the same place or object.
    """
    box = parse_region(region) if region is not None else None
    with app_context() as ctx:
        result = search_file(
            ctx, IndexSet(ctx), file, requester=cli_requester(), scene=scene, region=box
        )
        if explain is not None:
            drawn = explain_best(ctx, cli_requester(), file, box, result, reveal=reveal)
            if drawn is None:
                console.print("note: no scene match to explain")
            else:
                explain.write_bytes(drawn)
    if as_json:
        print_json(result_as_dict(result))
        return
    for note in result.query.notes:
        console.print(f"note: {visible(note)}")
    if not result.matches:
        console.print("no match")
        return
    table = Table("media", "signals", "distance", "transform", "agency", "case", "path")
    for m in result.matches:
        for loc in m.locations:
            table.add_row(
                str(m.media.id),
                visible(",".join(m.signals)),
                str(m.distance),
                visible(m.transform or ""),
                visible(loc.agency_code),
                visible(loc.case_reference),
                visible(loc.original_path),
            )
    console.print(table)
    for m in result.matches:
        for line in _where(m.detail):
            console.print(f"media {m.media.id}: {line}")


def _clock(ms: int) -> str:
    """A time in a recording as h:mm:ss.s (or m:ss.s)."""
    minutes, seconds = divmod(ms / 1000, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{seconds:04.1f}" if hours else f"{minutes}:{seconds:04.1f}"


def _where(detail: Mapping[str, Any] | None) -> list[str]:
    """Where two recordings match, one line per aligned segment, or the frames of a still."""
    if not detail:
        return []
    lines: list[str] = []
    scene = detail.get("scene")
    if scene:
        copy = scene.get("copy")
        what = (
            f"copy ({copy['label']}: scale {copy['scale']:.2f}, turned "
            f"{copy['rotation_deg']:+.0f} degrees, {copy['covered_stored']:.0%} of the stored "
            f"picture)"
            if copy
            else "the same scene or object"
        )
        lines.append(
            f"{what}: {scene.get('inliers')} matching keypoints fit a {scene.get('model')} "
            f"(score {scene.get('score', 0):.1f}, accepted from {scene.get('threshold', 0):.1f})"
        )
        if scene.get("quad"):
            corners = " ".join(f"({x:.0f},{y:.0f})" for x, y in scene["quad"])
            lines.append(f"found at {corners} in the stored picture")
    if detail.get("share_query") is not None:
        lines.append(
            f"matched {detail['share_query']:.0%} of the query, "
            f"{detail['share_stored']:.0%} of the stored recording"
        )
    for seg in detail.get("segments", []):
        lines.append(
            f"query {_clock(seg['query_start_ms'])}-{_clock(seg['query_end_ms'])} = stored "
            f"{_clock(seg['stored_start_ms'])}-{_clock(seg['stored_end_ms'])} "
            f"(offset {seg['offset_ms'] / 1000:+.1f} s, speed {seg['speed']:.3f}, "
            f"{seg['pairs']} frames)"
        )
    if not detail.get("segments"):
        times = [f[1] if f[1] is not None else f[0] for f in detail.get("frames", [])]
        shown = ", ".join(_clock(t) for t in times[:8] if t is not None)
        if shown:
            lines.append(f"matching frames at {shown}")
    return lines
