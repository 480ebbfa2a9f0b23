"""``sightline store check``: the blob store against the database, and crash debris."""

from __future__ import annotations

import typer

from sightline.cli.common import (
    app_context,
    cli_requester,
    console,
    handle_errors,
    print_json,
    visible,
)
from sightline.services.store_check import ORPHAN_MIN_AGE_S, check_store

store_app = typer.Typer(help="Check and repair the encrypted media store.", no_args_is_help=True)


@store_app.command("check")
@handle_errors
def store_check(
    repair: bool = typer.Option(
        False, "--repair", help="Remove temp files, orphan blobs and abandoned scratch files."
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Decrypt and authenticate every blob (reads the whole store)."
    ),
    min_age: float = typer.Option(
        ORPHAN_MIN_AGE_S,
        "--min-age",
        min=0,
        help="Seconds: younger unreferenced blobs may belong to a running ingest and are kept.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Report orphan and missing blobs, temp files and scratch left by crashes; --repair them.

    Exits 0 when the store is healthy (or was repaired), 1 when debris remains, 5 when a blob
    a media item needs is missing or corrupt (restore it from a backup).
    """
    with app_context() as ctx:
        report = check_store(
            ctx, requester=cli_requester(), repair=repair, verify=verify, min_age_s=min_age
        )
    data = {
        "blobs": report.blobs,
        "referenced": report.referenced,
        "temp_files": report.temp_files,
        "orphan_blobs": len(report.orphan_blobs),
        "recent_unreferenced": report.recent_unreferenced,
        "missing_media": report.missing,
        "corrupt_media": report.corrupt,
        "verified": report.verified,
        "scratch_entries": report.scratch_folders,
        "scratch_bytes": report.scratch_bytes,
        "repaired": report.repaired,
        "healthy": report.healthy,
    }
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            console.print(f"{key} = {visible(value)}", highlight=False)
    if report.missing or report.corrupt:
        raise typer.Exit(5)
    if not report.healthy:
        raise typer.Exit(1)
