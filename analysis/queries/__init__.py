"""Questions asked of the database, one a module; each returns small, frozen results.

Response and funnel, safety, trajectories, data quality, dosing. Each builds on the
per-patient rows of :mod:`analysis.db.derivation` and the statistics of :mod:`analysis.stats`.
"""
