"""Every durable job kind, registered by name in this one place.

A worker runs the handlers :func:`default_handlers` returns, for the kinds its settings name
(``SIGHTLINE_WORKER__KINDS``). Each kind is written so that running it again after a kill
resumes without loss or duplicates:

- ``ingest.upload`` (``services/ingest/uploads.py``): ingest skips items already taken;
- ``hashlist.retro_hunt``: re-matching stored items against a list records only matches not
  recorded yet and never lowers a triage status;
- ``index.rebuild``: rebuilding every index from the database gives the same indexes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sightline.services.exchange import hashlists
from sightline.services.ingest.uploads import UploadIngestHandler
from sightline.services.jobs.queue import JobHandler, JobRun
from sightline.services.signals.indexes import IndexSet


class RetroHuntHandler(JobHandler):
    """Re-match every stored item that may match a hash list (after an import or a change)."""

    kind: ClassVar[str] = "hashlist.retro_hunt"

    def run(self, run: JobRun) -> dict[str, Any]:
        """Run the retro-hunt of the list in the payload; returns its counts."""
        list_id = int(run.job.payload["list_id"])
        run.check()
        report = hashlists.retro_hunt(run.ctx, run.resources.matching_engine(run.ctx), list_id)
        return {
            "list_id": list_id,
            "items": report.items,
            "new_matches": report.new_matches,
            "triage_changed": report.triage_changed,
        }


class IndexRebuildHandler(JobHandler):
    """Rebuild every index (per signal kind: media, hash lists) from the database and save it.

    In a worker embedded in the API the live indexes are rebuilt in place (searches wait on
    their lock meanwhile); elsewhere fresh ones are built and saved, and other processes catch
    up from the saved files and the database.
    """

    kind: ClassVar[str] = "index.rebuild"

    def run(self, run: JobRun) -> dict[str, Any]:
        """Rebuild every index; returns kind -> source -> size."""
        engine = run.resources.engine
        indexes = engine.indexes if engine else IndexSet(run.ctx)
        run.check()
        return indexes.rebuild()


def default_handlers() -> dict[str, JobHandler]:
    """A handler for every job kind of this version, by kind."""
    handlers: list[JobHandler] = [UploadIngestHandler(), RetroHuntHandler(), IndexRebuildHandler()]
    return {handler.kind: handler for handler in handlers}
