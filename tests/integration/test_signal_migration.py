"""Migration 0009 carries every binary signal into ``signals``, ids and configuration kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from sightline.config import Settings
from sightline.domain.signals import Signal
from sightline.storage import migrate
from sightline.storage.db import make_engine
from sightline.storage.repositories.signals import NewSignal, SignalRepository

V2 = {"working_side": 512, "min_quality": 50}
V1 = {"working_side": 512}
# (signal id, media id, code, quality, feature version, feature params); ids have gaps.
OLD = [
    (5, 1, bytes(range(32)), 90, "2", V2),
    (9, 2, bytes(range(1, 33)), 60, "2", V2),
    (12, 3, bytes(range(2, 34)), 75, "1", V1),
]


def _seed(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    media = sa.table(
        "media_items",
        *(sa.column(c) for c in ("id", "sha256", "sha1", "md5", "size", "media_type")),
        *(sa.column(c) for c in ("mime_type", "blob_id", "thumbnail_blob_id", "created_at")),
    )
    features = sa.table(
        "features",
        *(sa.column(c) for c in ("media_id", "analyzer", "version", "status", "reason")),
        sa.column("value", sa.JSON),
        sa.column("params", sa.JSON),
    )
    binary = sa.table("binary_signals", *(sa.column(c) for c in ("id", "media_id", "kind")))
    binary.append_column(sa.column("code", sa.LargeBinary))
    binary.append_column(sa.column("quality", sa.Integer))
    with engine.begin() as connection:
        for signal_id, media_id, code, quality, version, params in OLD:
            digest = f"{media_id:064x}"
            connection.execute(
                media.insert().values(
                    id=media_id,
                    sha256=digest,
                    sha1=digest[:40],
                    md5=digest[:32],
                    size=1,
                    media_type="image",
                    mime_type="image/jpeg",
                    blob_id=digest,
                    thumbnail_blob_id=None,
                    created_at=now,
                )
            )
            connection.execute(
                features.insert().values(
                    media_id=media_id,
                    analyzer="pdq",
                    version=version,
                    status="ok",
                    reason=None,
                    value={"hash": code.hex(), "quality": quality},
                    params=params,
                )
            )
            connection.execute(
                binary.insert().values(
                    id=signal_id, media_id=media_id, kind="pdq", code=code, quality=quality
                )
            )


def test_binary_signals_are_carried_across_and_back(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine, "0008")
        _seed(engine)
        migrate.upgrade(engine, "0009")
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT s.id, s.media_id, s.kind, s.code, s.quality, s.position, s.time_ms, "
                    "c.analyzer, c.version, c.params FROM signals s "
                    "JOIN signal_configs c ON c.id = s.config_id ORDER BY s.id"
                )
            ).all()
            configs = connection.execute(sa.text("SELECT count(*) FROM signal_configs")).scalar()
        assert [(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6]) for r in rows] == [
            (i, m, "pdq", code, q, 0, None) for i, m, code, q, _, _ in OLD
        ]
        params = [r[9] if isinstance(r[9], dict) else json.loads(r[9]) for r in rows]
        assert [(r[7], r[8]) for r in rows] == [("pdq", v) for *_, v, _ in OLD]
        assert params == [p for *_, p in OLD]
        assert configs == 2  # one per (analyzer, version, parameters)

        with Session(engine) as session:  # new rows continue after the carried ids
            SignalRepository(session).add_many([NewSignal(1, Signal("ahash", b"\x01" * 8))])
            session.commit()
            newest = session.scalar(sa.text("SELECT max(id) FROM signals"))
        assert newest == 13

        migrate.downgrade(engine, "0008")
        with engine.connect() as connection:
            back = connection.execute(
                sa.text("SELECT id, media_id, kind, code, quality FROM binary_signals ORDER BY id")
            ).all()
        # The sequence row without a quality cannot live in the old table; the rest come back.
        assert [(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in back] == [
            (i, m, "pdq", code, q) for i, m, code, q, _, _ in OLD
        ]
    finally:
        engine.dispose()
