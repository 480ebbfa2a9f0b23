"""``sightline jobs`` and ``sightline worker``: the durable job queue and the role that runs it.

The command line is the local operator: it sees and may cancel every job (ADR 0007). A
``sightline worker`` runs jobs until SIGTERM or SIGINT; on either it stops taking jobs, hands
a running one back to the queue at its next unit of work (the next worker resumes it), and
exits.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from types import FrameType
from typing import Any

import typer
from rich.table import Table

from sightline.cli.common import (
    app_context,
    cli_requester,
    console,
    handle_errors,
    print_json,
    visible,
)
from sightline.config import JOB_KINDS
from sightline.domain.jobs import Job, JobState
from sightline.errors import InvalidInputError
from sightline.services.jobs import queue as job_service
from sightline.services.jobs.handlers import default_handlers
from sightline.services.jobs.queue import JobResources
from sightline.services.jobs.runner import make_runner
from sightline.services.jobs.worker import JobWorker

jobs_app = typer.Typer(help="List, inspect and cancel durable jobs.", no_args_is_help=True)


def job_dict(job: Job) -> dict[str, Any]:
    """A job as plain data (``--json``)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "requester": job.requester,
        "requester_agency_id": job.requester_agency_id,
        "source": job.source,
        "resource": job.resource,
        "payload": job.payload,
        "result": job.result,
        "cancel_requested": job.cancel_requested,
        "lease_owner": job.lease_owner,
        "lease_expires_at": _time(job.lease_expires_at),
        "heartbeat_at": _time(job.heartbeat_at),
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "error": None
        if job.error is None
        else {"code": job.error.code, "message": job.error.message},
    }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@jobs_app.command("list")
@handle_errors
def jobs_list(
    state: JobState | None = typer.Option(None, "--state", help="Only jobs in this state."),
    kind: str | None = typer.Option(None, "--kind", help="Only jobs of this kind."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Newest jobs shown."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the newest jobs: kind, state, attempts, requester and times."""
    with app_context() as ctx:
        views = job_service.list_jobs(
            ctx,
            requester=cli_requester(),
            states=() if state is None else (state,),
            kind=kind,
            newest_first=True,
            limit=limit,
        )
    if as_json:
        print_json([job_dict(v.job) for v in views])
        return
    table = Table("id", "kind", "state", "attempts", "requester", "created (UTC)")
    for view in views:
        job = view.job
        asked = job.cancel_requested and not job.state.ended
        table.add_row(
            str(job.id),
            visible(job.kind),
            job.state.value + (" (cancel asked)" if asked else ""),
            f"{job.attempts}/{job.max_attempts}",
            visible(job.requester),
            _short(job.created_at),
        )
    console.print(table)


def _short(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


@jobs_app.command("show")
@handle_errors
def jobs_show(
    job_id: int = typer.Argument(..., min=1, help="The job's id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one job: payload, lease, result and error."""
    with app_context() as ctx:
        job = job_service.get_job(ctx, job_id, requester=cli_requester()).job
    data = job_dict(job)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"{key} = {visible(value)}", highlight=False)


@jobs_app.command("cancel")
@handle_errors
def jobs_cancel(job_id: int = typer.Argument(..., min=1, help="The job's id.")) -> None:
    """Cancel a job: a queued one at once, a running one at its next unit of work."""
    with app_context() as ctx:
        before = job_service.get_job(ctx, job_id, requester=cli_requester()).job
        if before.state.ended:
            console.print(f"job {job_id} had already ended ({before.state.value})")
            return
        job = job_service.cancel(
            ctx, job_id, requester=cli_requester(), handlers=default_handlers()
        )
    if job.state.ended:
        console.print(f"job {job.id} {job.state.value}")
    else:
        console.print(f"job {job.id}: cancellation asked; its worker stops at its next unit")


@handle_errors
def worker(
    kinds: list[str] | None = typer.Option(
        None, "--kind", help="A job kind to run (repeat; default: SIGHTLINE_WORKER__KINDS)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, max=64, help="Jobs at once (default: settings)."
    ),
) -> None:
    """Run durable jobs (uploads, retro-hunts, index rebuilds) until SIGTERM or SIGINT."""
    unknown = sorted(set(kinds or ()) - set(JOB_KINDS))
    if unknown:
        raise InvalidInputError(
            f"unknown job kind {', '.join(unknown)}; valid: {', '.join(JOB_KINDS)}"
        )
    with app_context() as ctx:
        settings = ctx.settings.worker
        if concurrency is not None:
            settings = settings.model_copy(update={"concurrency": concurrency})
        resources = JobResources(runner=make_runner(ctx.settings))
        job_worker = JobWorker(ctx, default_handlers(), resources, settings, kinds=kinds)
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            job_worker.start()
            console.print(
                f"worker {visible(job_worker.id)}: {', '.join(job_worker.kinds)} "
                f"(concurrency {settings.concurrency})",
                highlight=False,
            )
            while not stop.wait(1.0):
                pass
        finally:
            job_worker.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    console.print("worker stopped")
