"""The contract every analyzer passes, as a pytest mixin (third-party plugins included).

Modelled on python-threatexchange's ``SignalTypeAutoTest``: a plugin author writes one small
test class, and gets the checks that keep stored features trustworthy::

    class TestMyAnalyzer(AnalyzerContract):
        analyzer_factory = MyAnalyzer

        def example_files(self, tmp_path: Path) -> list[Path]:
            return [write_my_example(tmp_path / "a.jpg")]

The checks: ``name`` and ``version`` are written on the class itself (a storage key is never
derived from a class name, and a subclass must not silently inherit its parent's identity);
the name is registered and resolves to the class; output is deterministic and survives a JSON
round trip unchanged (it is stored as JSON); ``params()`` is JSON too; bad input raises
``AnalysisFailed``, never another exception and never a sentinel value.

Analyzers differ in how much of a file they read, so two flags tune the bad-input checks:
``parses_media`` (random bytes must be refused) and ``reads_pixels`` (a JPEG truncated inside
its pixel data must be refused; header-only analyzers may still report on it).

This module imports pytest; it is only imported by test suites.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from sightline.analyzers.base import Analyzer, MediaInput
from sightline.analyzers.registry import analyzer_registry
from sightline.domain.signals import ANY_MEDIA
from sightline.errors import AnalysisFailed, AnalyzerSkipped

# Every media kind an analyzer may declare (the kinds ingest sorts files into).
MEDIA_KINDS = frozenset(ANY_MEDIA)


def run_analyzer(analyzer: Analyzer, path: Path) -> Mapping[str, Any]:
    """Analyze one file through a fresh ``MediaInput``, closing it afterwards."""
    with closing(MediaInput(path)) as media:
        return analyzer.analyze(media)


def json_round_trip(value: object) -> Any:
    """``value`` through strict JSON (no NaN or infinity) and back."""
    return json.loads(json.dumps(value, allow_nan=False))


def write_truncated_jpeg(path: Path, keep: float = 0.5) -> Path:
    """Write a JPEG whose header is intact but whose pixel data stops after ``keep``."""
    buffer = io.BytesIO()
    gradient = Image.radial_gradient("L").resize((320, 240)).convert("RGB")
    gradient.save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_random_bytes(path: Path, size: int = 4096, seed: int = 0) -> Path:
    """Write reproducible random bytes, a file no media parser should accept."""
    path.write_bytes(random.Random(seed).randbytes(size))  # noqa: S311 - test data, not secrets
    return path


class AnalyzerContract:
    """Pytest mixin: subclass it in a ``Test*`` class to run the analyzer contract.

    Attributes:
        analyzer_factory: builds the analyzer under test with its default parameters.
        parses_media: the analyzer parses content, so random bytes must raise
            ``AnalysisFailed`` (``False`` for content-agnostic analyzers such as digests,
            which must then return a normal result).
        reads_pixels: the analyzer decodes pixels, so a truncated JPEG must raise
            ``AnalysisFailed`` (``False``: it may return a result, or raise ``AnalysisFailed``).
    """

    analyzer_factory: ClassVar[Callable[[], Analyzer]]
    parses_media: ClassVar[bool] = True
    reads_pixels: ClassVar[bool] = True

    def example_files(self, tmp_path: Path) -> list[Path]:
        """Valid media the analyzer must produce a value for (write them under ``tmp_path``)."""
        raise TypeError("an AnalyzerContract subclass must provide example_files")

    def expected_output(self, path: Path) -> Mapping[str, Any] | None:
        """Known values for an example file (checked as a subset of the output), or ``None``."""
        return None

    def make_analyzer(self) -> Analyzer:
        """A fresh analyzer from ``analyzer_factory``."""
        return type(self).analyzer_factory()

    def test_name_and_version_are_explicit(self) -> None:
        """``name`` and ``version`` are non-empty strings set on the class itself."""
        cls = type(self.make_analyzer())
        for attribute in ("name", "version"):
            value = vars(cls).get(attribute)
            assert isinstance(value, str), f"{cls.__name__} must set {attribute} itself"
            assert value.strip() == value != "", f"{cls.__name__}.{attribute} is blank or padded"

    def test_registered_under_its_name(self) -> None:
        """The registry resolves the analyzer's name to exactly this class."""
        cls = type(self.make_analyzer())
        assert cls.name in analyzer_registry().names()
        assert analyzer_registry().get(cls.name) is cls

    def test_media_kinds_are_known(self) -> None:
        """The analyzer declares at least one media kind, all of them known."""
        kinds = self.make_analyzer().media_kinds
        assert kinds, "an analyzer accepts at least one media kind"
        assert kinds <= MEDIA_KINDS, f"unknown kinds {sorted(kinds - MEDIA_KINDS)}"

    def test_params_are_json(self) -> None:
        """``params()`` survives a strict JSON round trip unchanged."""
        params = self.make_analyzer().params()
        assert json_round_trip(params) == dict(params)

    def test_signals_are_of_declared_kinds(self, tmp_path: Path) -> None:
        """Stored signals, their variants and a query's variants are of kinds in ``emits``.

        Binary values have their kind's width: a signal the services cannot index would
        otherwise only fail at ingest, far from its cause.
        """
        analyzer = self.make_analyzer()
        declared = {k.name: k for k in analyzer.emits}
        assert len(declared) == len(analyzer.emits), "a kind is declared twice"
        for path in self.example_files(tmp_path):
            media = MediaInput(path)
            try:
                made = list(analyzer.signals(analyzer.analyze(media), media))
                forms = [v.signal for v in analyzer.variants(made, media)]
                forms += [v.signal for v in analyzer.query(media)]
            except AnalyzerSkipped:
                continue
            finally:
                media.close()
            for signal in made + forms:
                kind = declared.get(signal.kind)
                assert kind is not None, f"{path.name}: undeclared signal kind {signal.kind!r}"
                if kind.code_bytes is not None:
                    assert len(signal.value) == kind.code_bytes, f"{path.name}: wrong width"

    def test_examples_give_json_output(self, tmp_path: Path) -> None:
        """Every example gives output that survives a strict JSON round trip unchanged."""
        examples = self.example_files(tmp_path)
        assert examples, "example_files must return at least one file"
        for path in examples:
            output = run_analyzer(self.make_analyzer(), path)
            assert isinstance(output, Mapping)
            assert json_round_trip(output) == dict(output), f"{path.name}: not plain JSON data"

    def test_examples_give_expected_values(self, tmp_path: Path) -> None:
        """Examples reproduce the values ``expected_output`` declares."""
        for path in self.example_files(tmp_path):
            expected = self.expected_output(path)
            if expected is not None:
                output = run_analyzer(self.make_analyzer(), path)
                assert {key: output.get(key) for key in expected} == dict(expected), path.name

    def test_deterministic(self, tmp_path: Path) -> None:
        """The same file gives the same output, from the same and from a fresh analyzer."""
        analyzer = self.make_analyzer()
        for path in self.example_files(tmp_path):
            first = run_analyzer(analyzer, path)
            assert run_analyzer(analyzer, path) == first, f"{path.name}: same analyzer differs"
            again = run_analyzer(self.make_analyzer(), path)
            assert again == first, f"{path.name}: a fresh analyzer differs"

    def test_random_bytes(self, tmp_path: Path) -> None:
        """Random bytes are refused with ``AnalysisFailed``, or digested normally."""
        path = write_random_bytes(tmp_path / "random.bin")
        if self.parses_media:
            with pytest.raises(AnalysisFailed):
                run_analyzer(self.make_analyzer(), path)
        else:
            output = run_analyzer(self.make_analyzer(), path)
            assert json_round_trip(output) == dict(output)

    def test_truncated_jpeg(self, tmp_path: Path) -> None:
        """A truncated JPEG raises ``AnalysisFailed`` (header-only analyzers may report it)."""
        path = write_truncated_jpeg(tmp_path / "truncated.jpg")
        if self.reads_pixels:
            with pytest.raises(AnalysisFailed):
                run_analyzer(self.make_analyzer(), path)
            return
        try:
            output = run_analyzer(self.make_analyzer(), path)
        except AnalysisFailed:
            return  # allowed: the analyzer may notice the truncation without decoding
        assert json_round_trip(output) == dict(output)
