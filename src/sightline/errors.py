"""One exception hierarchy for the whole product.

Each error carries a stable ``code`` (used in the API error envelope and in ingest failure
records) and an ``exit_code`` for the CLI. The API maps them to HTTP once (``api/errors.py``)
and the CLI maps them to exit codes once (``handle_errors`` in ``cli/common.py``).
"""

from __future__ import annotations

from typing import ClassVar


class SightlineError(Exception):
    """Base of every error Sightline raises on purpose."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(SightlineError):
    """Settings are missing or unsafe."""

    code = "configuration"
    exit_code = 3


class MasterKeyError(SightlineError):
    """The master key is missing, unreadable or wrong."""

    code = "key"
    exit_code = 4


class BlobIntegrityError(SightlineError):
    """Stored data failed its integrity check (tampered, truncated or wrong key)."""

    code = "integrity"
    exit_code = 5


class IndexFileError(BlobIntegrityError, ValueError):
    """A persisted index is missing a file, fails its checksum, or does not parse.

    It is both a ``BlobIntegrityError`` (stable code ``integrity``) and a ``ValueError``, so
    callers that treat an unusable index as "rebuild from the database" can catch either.
    """


class NotFoundError(SightlineError):
    """A named resource does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 6


class ConflictError(SightlineError):
    """The resource already exists or is in a state that forbids the action."""

    code = "conflict"
    http_status = 409
    exit_code = 7


class InvalidInputError(SightlineError):
    """A request or argument is malformed."""

    code = "invalid_input"
    http_status = 422
    exit_code = 2


class PayloadTooLargeError(InvalidInputError):
    """An upload exceeds the configured limit."""

    code = "payload_too_large"
    http_status = 413


class AnalysisFailed(SightlineError):  # noqa: N818 - name fixed by the analyzer contract
    """An analyzer could not process a media file; ``reason`` is a stable code."""

    code = "analysis_failed"
    http_status = 422
    reason: ClassVar[str] = "analysis_failed"


class UnsupportedMedia(AnalysisFailed):
    """The file is not a media type Sightline can read."""

    reason = "not_media"


class TruncatedMedia(AnalysisFailed):
    """The file is truncated or corrupt."""

    reason = "truncated"


class DecompressionBomb(AnalysisFailed):
    """The image declares more pixels than the configured limit."""

    reason = "decompression_bomb"


class OversizedMetadata(AnalysisFailed):
    """The file's metadata (PNG text chunks, say) exceeds the decoder's memory limits."""

    reason = "oversized_metadata"


class TimeLimitExceeded(AnalysisFailed):
    """Analysing the file took longer than the per-file time limit."""

    reason = "time_limit"


class MemoryLimitExceeded(AnalysisFailed):
    """Analysing the file needed more memory than a worker may use."""

    reason = "memory_limit"


class AnalyzerSkipped(SightlineError):  # noqa: N818 - name fixed by the analyzer contract
    """An analyzer chose not to produce a value (for example PDQ quality below 50)."""

    code = "analyzer_skipped"


class MissingDependency(SightlineError):  # noqa: N818 - reads as a sentence at the CLI
    """An optional plugin's dependency is not installed."""

    code = "missing_dependency"
    exit_code = 8


class UnknownPlugin(SightlineError):  # noqa: N818 - reads as a sentence at the CLI
    """A registry has no plugin of that name; the message names the valid ones."""

    code = "unknown_plugin"
    exit_code = 2


class SourceRejected(SightlineError):  # noqa: N818 - reads as a sentence in reports
    """An input file or archive entry is refused before analysis; ``reason`` is a stable code."""

    code = "source_rejected"
    http_status = 422
    reason: ClassVar[str] = "rejected"


class FileTooLarge(SourceRejected):
    """The file exceeds the configured size limit."""

    reason = "file_too_large"


class UnsafeArchivePath(SourceRejected):
    """An archive entry has an absolute path, a drive letter or a ``..`` component."""

    reason = "unsafe_archive_path"


class ArchiveBomb(SourceRejected):
    """An archive entry expands beyond the configured ratio or total size."""

    reason = "archive_bomb"


class CorruptArchive(SourceRejected):
    """An archive or one of its entries cannot be read."""

    reason = "corrupt_archive"


class UnreadableSource(SourceRejected):
    """A file vanished or cannot be read (permissions, I/O error)."""

    reason = "unreadable"


class SymlinkRefused(SourceRejected):
    """A symbolic link was found where a file or folder was expected; links are never followed.

    Seized media can hold links to anywhere (``/etc``, the investigator's home); following them
    would ingest files that are not evidence.
    """

    reason = "symlink"


class NestedArchive(SourceRejected):
    """An archive inside an archive: recorded, not expanded (extract it and ingest it alone)."""

    reason = "nested_archive"


class EmptyArchive(SourceRejected):
    """An archive that holds no files at all."""

    reason = "empty_archive"


class EncryptedArchiveEntry(SourceRejected):
    """An archive entry is password-protected; it is reported, never guessed at."""

    reason = "encrypted"


class AccessDenied(SightlineError):  # noqa: N818 - reads as a sentence in the audit log
    """The access policy (``domain/access.py``) refused an action.

    ``reason`` is the policy's stable reason code, for the audit log only. The message is the
    same for every refusal, so it never tells the actor why, nor anything about the case (a
    case the actor may not know of is reported as not found, never as forbidden).
    """

    code = "forbidden"
    http_status = 403
    exit_code = 9

    def __init__(self, reason: str, message: str = "access denied") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type[AccessDenied], tuple[str, str]]:
        # Keeps the reason when a job's error crosses a process boundary.
        return (type(self), (self.reason, self.message))


class AuthenticationFailed(AccessDenied):
    """Sign-in or token check failed: one message whatever the cause (HTTP 401).

    The cause (unknown user, wrong password or code, lock-out, expired or revoked token) is in
    ``reason`` for the audit log only, so an attacker learns nothing from the answer.
    """

    code = "unauthenticated"
    http_status = 401
    exit_code = 10


class InsufficientScope(AccessDenied):
    """A live API token was used for an operation its scopes do not cover (HTTP 403).

    RFC 6750's ``insufficient_scope``: the credential is good, the request is beyond it, so
    the answer may say which scope is missing.
    """

    code = "insufficient_scope"


class TooManyAttempts(SightlineError):  # noqa: N818 - reads as a sentence at the client
    """Too many failed sign-ins from one address: wait ``retry_after`` seconds (HTTP 429)."""

    code = "too_many_attempts"
    http_status = 429
    exit_code = 11

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins from this address; retry in {retry_after} s")
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[TooManyAttempts], tuple[int]]:
        return (type(self), (self.retry_after,))
