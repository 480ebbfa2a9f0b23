"""Settings for every Sightline role, read from the environment.

All settings use the ``SIGHTLINE_`` prefix; nested sections use a double underscore, for
example ``SIGHTLINE_INGEST__MAX_PIXELS``. Nothing here is read at import time: callers build a
``Settings`` object (``Settings()``) and pass it down, so tests can run with their own.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sightline.features.hashes import PDQ_MATCH_THRESHOLD, PDQ_MIN_QUALITY

# Defaults of the match thresholds; the reasons are given where they are defined.
DEFAULT_PDQ_THRESHOLD = PDQ_MATCH_THRESHOLD
DEFAULT_PDQ_MIN_QUALITY = PDQ_MIN_QUALITY


class IngestSettings(BaseModel):
    """Limits and parallelism of the ingest pipeline."""

    workers: int = Field(default=0, ge=0, description="Worker processes; 0 means one per core.")
    max_pixels: int = Field(
        default=89_478_485,
        gt=0,
        description="Images with more pixels are refused as decompression bombs.",
    )
    max_file_bytes: int = Field(
        default=4 * 1024**3, gt=0, description="Files larger than this are refused."
    )
    zip_max_ratio: float = Field(
        default=200.0, gt=1, description="A zip entry expanding more than this ratio is a bomb."
    )
    zip_max_total_bytes: int = Field(
        default=16 * 1024**3, gt=0, description="Largest total uncompressed size of one archive."
    )
    commit_every: int = Field(
        default=64, gt=0, description="Results written to the database per transaction."
    )
    runner: str = Field(
        default="process",
        description="Job runner plugin for the per-file work (sightline.job_runners): process, "
        "inline.",
    )
    file_time_limit_seconds: float = Field(
        default=1800.0,
        ge=0,
        description="Longest the analyzers may spend on one file (0: no limit); a file taking "
        "longer is recorded as failed (time_limit) and the batch goes on.",
    )
    worker_memory_bytes: int = Field(
        default=4 * 1024**3,
        ge=0,
        description="Address space a worker process may add to what it holds at start (0: no "
        "limit); a file needing more is recorded as failed (memory_limit).",
    )


class AnalyzerSettings(BaseModel):
    """Which analyzers run at ingest and search."""

    enabled: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Analyzers to run, in order (comma-separated in the environment); empty means the "
            "built-in set: crypto, pdq, vpdq, chromaprint, speech, hum, metadata. Installed "
            "analyzers are listed by `sightline analyzers`."
        ),
    )

    @field_validator("enabled", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        return _split_list(value)


def _split_list(value: object) -> object:
    """A comma-separated (or JSON array) environment value as a list of stripped strings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


# The settings that carry PDQ's thresholds under their historical names.
_LEGACY_KIND = "pdq"


class MatchSettings(BaseModel):
    """Thresholds used by search and matching."""

    pdq_threshold: int = Field(
        default=DEFAULT_PDQ_THRESHOLD, ge=0, le=128, description="Largest PDQ Hamming distance."
    )
    pdq_min_quality: int = Field(
        default=DEFAULT_PDQ_MIN_QUALITY, ge=0, le=100, description="Lowest usable PDQ quality."
    )
    thresholds: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "Largest match distance per binary signal kind, as a JSON object (for example "
            "{\"KIND\": 6}); a kind not named uses its analyzer's default. PDQ's is "
            "pdq_threshold."
        ),
    )
    min_qualities: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "Lowest usable quality per signal kind, as a JSON object; PDQ's is pdq_min_quality."
        ),
    )
    index_backend: str = Field(
        default="mih",
        description="Binary index backend used for PDQ: mih, faiss-multihash, faiss-flat, brute.",
    )
    index_threads: int = Field(
        default=1,
        ge=0,
        description=(
            "Threads per index search (0: the backend's default). One thread keeps single "
            "queries fast and steady on a busy machine."
        ),
    )
    index_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "How often a server catches its indexes up with other processes' writes "
            "(0: never; its own writes are searchable at once either way)."
        ),
    )

    def threshold_for(self, kind: str, default: int | None) -> int | None:
        """The match distance of a binary kind: its setting, else ``default``."""
        if kind == _LEGACY_KIND:
            return self.pdq_threshold
        return self.thresholds.get(kind, default)

    def min_quality_for(self, kind: str, default: int | None) -> int | None:
        """The lowest usable quality of a kind: its setting, else ``default``."""
        if kind == _LEGACY_KIND:
            return self.pdq_min_quality
        return self.min_qualities.get(kind, default)


JOB_KINDS = ("ingest.upload", "hashlist.retro_hunt", "index.rebuild")
"""The durable job kinds this version runs (``services/jobs/handlers.py``)."""


class WorkerSettings(BaseModel):
    """The worker role: which durable jobs a process runs, how many at once, its leases."""

    embedded: bool = Field(
        default=True,
        description="Run a worker inside `sightline serve` (one command runs everything).",
    )
    concurrency: int = Field(default=1, ge=1, le=64, description="Jobs run at once.")
    kinds: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(JOB_KINDS),
        description="Job kinds this worker takes (comma-separated in the environment).",
    )
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a job stays leased without a heartbeat before another worker "
        "may take it over.",
    )
    heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="How often a running job's lease is extended."
    )
    poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle worker looks for due jobs."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=100, description="Runs of a job before a failure is final."
    )
    retry_seconds: float = Field(
        default=30.0, ge=0, description="Wait before a failed attempt is run again."
    )

    @field_validator("kinds", mode="before")
    @classmethod
    def _split_kinds(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = [kind for kind in value if kind not in JOB_KINDS]
        if unknown or not value:
            raise ValueError(
                f"kinds: unknown {', '.join(unknown) or '(none given)'}; "
                f"valid: {', '.join(JOB_KINDS)}"
            )
        return value

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> WorkerSettings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self


class StorageSettings(BaseModel):
    """Which plugins store what."""

    blob_store: str = Field(
        default="encrypted-local",
        description="Blob store plugin (sightline.blob_stores): encrypted-local.",
    )


DEFAULT_PASSWORDS = frozenset(
    {"", "postgres", "password", "sightline", "changeme", "secret", "admin", "root", "test"}
)
"""Database passwords refused outside development: the ones scanners try first."""


class ServerSettings(BaseModel):
    """Where the API listens."""

    host: str = Field(default="127.0.0.1", description="Address the API binds to.")
    port: int = Field(default=8000, gt=0, lt=65536, description="Port the API binds to.")
    max_upload_bytes: int = Field(
        default=256 * 1024**2, gt=0, description="Largest accepted upload in bytes."
    )
    tls_certfile: Path | None = Field(
        default=None,
        description="PEM certificate chain; with tls_keyfile, serve HTTPS (needed off loopback).",
    )
    tls_keyfile: Path | None = Field(
        default=None, description="PEM private key of tls_certfile (keep it 0600)."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed; none by default, so a client cannot name its own "
            "source address (comma-separated in the environment)."
        ),
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        networks = []
        for entry in value:
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network "
                    "(e.g. 10.0.0.5 or 10.0.0.0/24; '*' is not allowed)"
                ) from None
        return networks


DEFAULT_MAX_CERTIFICATION_DAYS = 3 * 365 + 1
"""Three years, counting a leap day: a certification is renewed by training that often."""


class AccessSettings(BaseModel):
    """Limits on what administrators may grant."""

    max_certification_days: int = Field(
        default=DEFAULT_MAX_CERTIFICATION_DAYS,
        gt=0,
        le=3660,
        description="Longest certification period, in days from now (default three years).",
    )


class Settings(BaseSettings):
    """Effective configuration of one Sightline process."""

    model_config = SettingsConfigDict(
        env_prefix="SIGHTLINE_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path("var"), description="Directory of the embedded store (database, media, key)."
    )
    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL; defaults to SQLite in the data directory. "
            "postgresql+psycopg:// URLs are supported."
        ),
    )
    master_key_file: Path | None = Field(
        default=None, description="Master key file; defaults to DATA_DIR/master.key."
    )
    environment: str = Field(default="production", description="'production' or 'development'.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    analyzers: AnalyzerSettings = Field(default_factory=AnalyzerSettings)
    match: MatchSettings = Field(default_factory=MatchSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        if value not in {"production", "development"}:
            raise ValueError("environment must be 'production' or 'development'")
        return value

    @model_validator(mode="after")
    def _no_default_secrets(self) -> Settings:
        """Outside development, refuse a database password that is a well-known default."""
        if self.environment == "development" or self.database_url is None:
            return self
        from sqlalchemy.engine import make_url  # local import: config must stay light

        url = make_url(self.database_url.get_secret_value())
        password = url.password
        if password is not None and (
            password.lower() in DEFAULT_PASSWORDS or password == url.username
        ):
            raise ValueError(
                "database_url: the password is a well-known default or the user name; "
                "set a generated one (or SIGHTLINE_ENVIRONMENT=development for a throw-away store)"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'sightline.db').resolve()}"

    @property
    def key_path(self) -> Path:
        """Path of the master key file."""
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def media_dir(self) -> Path:
        """Directory of encrypted blobs."""
        return self.data_dir / "media"

    @property
    def index_dir(self) -> Path:
        """Directory of persisted indexes."""
        return self.data_dir / "index"

    def redacted(self) -> dict[str, Any]:
        """Return the effective settings as plain data, with secrets hidden."""
        data = self.model_dump(mode="json")
        data["database_url"] = _redact_url(self.resolved_database_url)
        return data


def _redact_url(url: str) -> str:
    """Hide the password in a database URL."""
    from sqlalchemy.engine import make_url  # local import: config must stay light

    return make_url(url).render_as_string(hide_password=True)
