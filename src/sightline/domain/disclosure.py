"""What a match may disclose: the redaction half of the access policy.

:mod:`sightline.domain.access` decides which actions a requester may take on a case; this
module decides what a granted view of a *match* shows. A requester who may view a case's
metadata sees a match in full. One who may only know that a match exists there (the case
is another agency's, shared at the ``signals`` level) learns whom to contact and which
signals matched, and nothing else: not the stored item's id or digest, not the distance or
the transform, not the path, the device or the case title. Every adapter (CLI, API, the
coming web pages) gets its redaction from :func:`disclose`, so no route can show more.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping

from sightline.domain.access import Action


class Visibility(enum.StrEnum):
    """How much of a matched item or case a requester sees."""

    FULL = "full"
    SIGNAL_ONLY = "signal-only"


SIGNAL_ONLY_DISCLOSES: frozenset[str] = frozenset(
    {"visibility", "signals", "signal", "agency", "case", "other_agency", "other_case"}
)
"""The fields a signal-only match keeps: whom to contact, and which signals matched."""


def visibility_of(actions: Collection[Action]) -> Visibility | None:
    """The visibility the allowed ``actions`` on a case give its matches.

    Returns:
        ``FULL`` with :attr:`Action.VIEW_METADATA`, ``SIGNAL_ONLY`` with only
        :attr:`Action.SEE_MATCH_EXISTS`, None when the match must not even be mentioned.
    """
    if Action.VIEW_METADATA in actions:
        return Visibility.FULL
    if Action.SEE_MATCH_EXISTS in actions:
        return Visibility.SIGNAL_ONLY
    return None


def match_visibility(*, full_places: bool, signal_places: bool) -> Visibility:
    """A stored item's visibility from where it was seen: in full anywhere wins.

    An item seen nowhere the requester has a view of (the local operator's search, or an
    item with no sighting yet) is shown in full: there is no case to protect.
    """
    return Visibility.FULL if full_places or not signal_places else Visibility.SIGNAL_ONLY


def disclose(visibility: Visibility, fields: Mapping[str, object]) -> dict[str, object]:
    """``fields`` as ``visibility`` lets them be shown: withheld ones become None."""
    if visibility is Visibility.FULL:
        return dict(fields)
    return {k: (v if k in SIGNAL_ONLY_DISCLOSES else None) for k, v in fields.items()}
