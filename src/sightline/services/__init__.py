"""Use cases: every side effect of the product lives here, grouped by capability.

- ``ingest``: taking files, folders, archives and uploads in, resumably (run, worker,
  sources, archives, scratch, staged uploads, fault points).
- ``signals``: which analyzers run, and one index per binary signal kind and source (indexes,
  sources, watermark, freshness).
- ``matching``: search, match, real-time matching at ingest (engine), triage and alerts.
- ``access``: accounts, users, sessions, tokens, the audit trail, what a requester may see of
  media.
- ``exchange``: hash lists in and out (formats, lists, retro-hunts).
- ``jobs``: durable work (queue, worker, handlers, task runners).

``context`` wires them; ``catalog`` (agencies and cases), ``demo``, ``synthetic`` and
``store_check`` stand on their own. The coming workflow (series, victims, clues, referrals)
gets a room of its own beside these.
"""
