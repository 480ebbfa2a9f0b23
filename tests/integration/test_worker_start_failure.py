"""A worker that cannot start fails the run with a reason instead of respawning forever.

With the master key removed while a server runs, every pool worker's initializer raised, the
pool started a new worker at once, and so on: ~90 % CPU of tracebacks and a job that never
ended. Now the first task raises the worker's error, the run stops with it, the items stay
pending, and the same ingest resumes once the key is back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sightline.config import Settings
from sightline.jobs.inline import InlineRunner
from sightline.services.catalog import add_agency
from sightline.services.context import initialise, open_context
from sightline.services.ingest.run import ingest
from tests.support.corpus import TEST_REQUESTER, write_landscape

_RUN_WITHOUT_KEY = """
import sys
from pathlib import Path
from sightline.config import Settings
from sightline.errors import MasterKeyError
from sightline.jobs.local import ProcessPoolRunner
from sightline.services.context import open_context
from sightline.services.ingest.run import ingest
from tests.support.corpus import TEST_REQUESTER

settings = Settings(data_dir=Path(sys.argv[1]), environment="development")
ctx = open_context(settings)
settings.key_path.rename(settings.key_path.with_name("key.moved"))  # gone while running
try:
    ingest(ctx, [Path(sys.argv[2])], agency_code="TEST-GB", case_reference="C-1",
           runner=ProcessPoolRunner(2), requester=TEST_REQUESTER)
except MasterKeyError as exc:
    print(exc.message)
    sys.exit(4)
sys.exit(0)
"""


def test_ingest_stops_with_the_reason_and_resumes_once_the_key_is_back(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", environment="development")
    initialise(settings)
    ctx = open_context(settings)
    try:
        add_agency(ctx, "TEST-GB", "Test unit", "GB", requester=TEST_REQUESTER)
    finally:
        ctx.close()
    for seed in range(4):
        write_landscape(tmp_path / f"in/{seed}.jpg", seed)

    result = subprocess.run(
        [sys.executable, "-c", _RUN_WITHOUT_KEY, str(settings.data_dir), str(tmp_path / "in")],
        capture_output=True,
        text=True,
        timeout=120,  # the respawn loop never ended
        check=False,
    )
    assert result.returncode == 4, result.stderr
    assert "an ingest worker could not start" in result.stdout
    assert result.stderr.count("Traceback") == 0

    settings.key_path.with_name("key.moved").rename(settings.key_path)
    ctx = open_context(settings)
    try:
        report = ingest(
            ctx,
            [tmp_path / "in"],
            agency_code="TEST-GB",
            case_reference="C-1",
            runner=InlineRunner(),
            requester=TEST_REQUESTER,
        )
    finally:
        ctx.close()
    assert report.resumed and report.processed_this_run == 4
    assert (report.summary.stored, report.summary.pending) == (4, 0)
