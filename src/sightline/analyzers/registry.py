"""The analyzer registry (entry-point group ``sightline.analyzers``) and the enabled set.

Settings name the analyzers that run (``SIGHTLINE_ANALYZERS__ENABLED``); :class:`AnalyzerSet`
loads them, checks that their declarations fit together (no signal kind emitted twice, the
identity digest emitted for every media kind) and answers the questions ingest, search and
matching ask: which analyzers read this kind of media, which signal kinds exist, which
analyzer emits a kind. Services ask these questions and never name an analyzer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sightline.analyzers.base import Analyzer
from sightline.domain.plugins import PluginRegistry
from sightline.domain.signals import ANY_MEDIA, IDENTITY_DIGEST, SignalKind
from sightline.errors import ConfigurationError

# Analyzers run at ingest, in this order; each one's output is stored as a Feature. Each reads
# only the media kinds it declares: stills get digests, PDQ, scene features and metadata;
# videos their frames, soundtrack, speech and hum too; audio files the sound analyzers.
DEFAULT_ANALYZERS: tuple[str, ...] = (
    "crypto",
    "pdq",
    "scene",
    "vpdq",
    "chromaprint",
    "speech",
    "hum",
    "metadata",
)
# Analyzer name -> the pip extra that installs its optional dependencies (none yet: every
# built-in analyzer's dependencies are core dependencies).
ANALYZER_EXTRAS: dict[str, str] = {}


def analyzer_registry() -> PluginRegistry[Analyzer]:
    """A fresh registry of every installed analyzer."""
    return PluginRegistry[Analyzer]("sightline.analyzers", Analyzer, extra=ANALYZER_EXTRAS)


def create_analyzers(names: Sequence[str] = DEFAULT_ANALYZERS) -> list[Analyzer]:
    """Instantiate the named analyzers (their default parameters)."""
    registry = analyzer_registry()
    return [registry.get(name)() for name in names]


class AnalyzerSet:
    """The enabled analyzers of a process and the signal kinds they declare."""

    def __init__(self, names: Sequence[str] = DEFAULT_ANALYZERS) -> None:
        """Load and check the named analyzers.

        Raises:
            UnknownPlugin: a name is not an installed analyzer (the message lists them).
            MissingDependency: an analyzer's optional dependency is not installed.
            ConfigurationError: the set is unusable (a name twice, a signal kind emitted by
                two analyzers, or no analyzer gives every file its identity digest).
        """
        if len(set(names)) != len(names):
            raise ConfigurationError(f"analyzers enabled twice: {', '.join(names)}")
        self.analyzers: tuple[Analyzer, ...] = tuple(create_analyzers(names))
        self.kinds: dict[str, SignalKind] = {}
        self._emitter: dict[str, Analyzer] = {}
        for analyzer in self.analyzers:
            for kind in analyzer.emits:
                if kind.name in self.kinds:
                    raise ConfigurationError(
                        f"signal kind {kind.name!r} is emitted by both "
                        f"{self._emitter[kind.name].name!r} and {analyzer.name!r}"
                    )
                self.kinds[kind.name] = kind
                self._emitter[kind.name] = analyzer
        identity = self._emitter.get(IDENTITY_DIGEST)
        if identity is None or not identity.media_kinds >= ANY_MEDIA:
            raise ConfigurationError(
                f"the enabled analyzers ({', '.join(names)}) must include one that emits "
                f"the {IDENTITY_DIGEST} digest of every file: it identifies media items"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The enabled analyzers' names, in run order."""
        return tuple(a.name for a in self.analyzers)

    def for_media(self, kind: str) -> tuple[Analyzer, ...]:
        """The analyzers that read media of ``kind``, in run order."""
        return tuple(a for a in self.analyzers if a.accepts(kind))

    def reads_content(self, kind: str) -> bool:
        """Whether any analyzer reads the content of ``kind`` (not only its bytes)."""
        return any(a.accepts(kind) and not a.media_kinds >= ANY_MEDIA for a in self.analyzers)

    def emitter(self, kind: str) -> Analyzer:
        """The analyzer that emits signal kind ``kind``.

        Raises:
            ConfigurationError: no enabled analyzer emits it.
        """
        try:
            return self._emitter[kind]
        except KeyError:
            raise ConfigurationError(
                f"no enabled analyzer emits signal kind {kind!r}; "
                f"enabled kinds: {', '.join(self.kinds)}"
            ) from None

    def binary_kinds(self) -> tuple[SignalKind, ...]:
        """The binary-hash kinds (searched by Hamming radius), in run order."""
        return tuple(k for k in self.kinds.values() if k.value_type.binary)

    def __iter__(self) -> Iterator[Analyzer]:
        return iter(self.analyzers)
