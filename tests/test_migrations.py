"""Migration 0005 (natural keys): every stored row survives, both ways, on both databases.

Sessions and follow-ups lose their surrogate ``id`` and are keyed by (patient, date); the
derived ``patient_facts`` lose their foreign key. A clinic stored under revision 0004 must
come out of the upgrade with the same rows and facts, and the downgrade must give them back.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Engine, inspect, select, text

from analysis.db import schema, store
from analysis.demo import generate
from analysis.ingest import import_frames

TODAY = date(2026, 10, 31)
NATURAL = {"sessions": ["patient_key", "session_date"], "followups": ["patient_key", "followup_date"]}


def contents(engine: Engine) -> dict[str, pd.DataFrame]:
    """Every stored row in natural-key order, without surrogate ids of child tables."""
    out = {}
    inspector = inspect(engine)
    with engine.connect() as connection:
        for table in (schema.patients, schema.sessions, schema.followups, schema.patient_facts):
            stored = {c["name"] for c in inspector.get_columns(table.name)}  # this revision's columns
            columns = [table.c[c.name] for c in table.c if c.name in stored]
            order = [table.c[name] for name in NATURAL.get(table.name, [table.primary_key.columns[0].name])]
            out[table.name] = pd.DataFrame(connection.execute(select(*columns).order_by(*order)).all())
    return out


def assert_same(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    assert before.keys() == after.keys()
    for name, frame in before.items():
        assert len(frame) > 0, name
        # Columns of later revisions (0006's) are not compared: they did not exist before.
        pd.testing.assert_frame_equal(frame, after[name][list(frame.columns)], obj=name)


def test_0005_keys_children_by_natural_key_and_keeps_every_row(db_url):
    engine = store.make_engine(db_url)
    # The importer writes the current schema: import at the head, then take the rows back to 0004.
    report = import_frames(engine, generate(150, seed=5, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    store.downgrade(engine, "0004")
    columns = {t: {c["name"] for c in inspect(engine).get_columns(t)} for t in NATURAL}
    assert all("id" in names for names in columns.values())  # the old shape, surrogate ids included
    before = contents(engine)

    store.migrate(engine)
    inspector = inspect(engine)
    for table, key in NATURAL.items():
        assert inspector.get_pk_constraint(table)["constrained_columns"] == key
        assert "id" not in {c["name"] for c in inspector.get_columns(table)}
        assert [fk["referred_table"] for fk in inspector.get_foreign_keys(table)] == ["patients"]
        assert {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)} == {(key[1],)}
    assert inspector.get_foreign_keys("patient_facts") == []
    facts_indexes = {ix["name"] for ix in inspector.get_indexes("patient_facts")}
    expected = {"ix_patient_facts_patient_id", "ix_patient_facts_index_date"} | (
        {"ix_patient_facts_summary"} if engine.dialect.name == "sqlite" else set()
    )
    assert facts_indexes == expected  # the summary index serves SQLite's reads only
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            ddl = dict(
                connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all()
            )
        assert all(ddl[t].rstrip().endswith("WITHOUT ROWID") for t in NATURAL)
    assert_same(before, contents(engine))

    # Round trip: the downgrade restores the surrogate ids (unique, one per row) and the rows.
    store.downgrade(engine, "0004")
    with engine.connect() as connection:
        for table in NATURAL:
            ids = connection.exec_driver_sql(f"SELECT id FROM {table}").scalars().all()
            assert len(ids) == len(set(ids)) == len(before[table])
    assert_same(before, contents(engine))
    store.migrate(engine)
    assert_same(before, contents(engine))

    # And the importer works on the migrated database: a second clinic adds to the first.
    report = import_frames(engine, generate(20, seed=6, today=TODAY), today=TODAY, source="demo")
    assert report.ok and report.inserted["sessions"] > 0
    engine.dispose()


def test_the_schema_head_constant_is_alembics_head():
    """``store.SCHEMA_HEAD`` lets a database at the newest revision open without Alembic: it must
    name Alembic's one head, or every start would skip a migration (or run Alembic needlessly)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(store.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [store.SCHEMA_HEAD]


def upgraded_and_refreshed(db_url: str, before: str, seed: int, columns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A demo clinic stored under revision ``before``, upgraded: ``columns`` (of one table, the
    first one its key; rows in the order of the primary-key columns among them) as the upgrade
    left them, and as a full refresh of the facts derives them."""
    from analysis.db import facts

    engine = store.make_engine(db_url)
    store.downgrade(engine, before)
    report = import_frames(engine, generate(300, seed=seed, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    store.migrate(engine)
    query = select(*columns).order_by(*([c for c in columns if c.primary_key] or columns[:1]))
    with engine.connect() as connection:
        upgraded = pd.DataFrame(connection.execute(query).all())
    with engine.begin() as connection:
        facts.refresh(connection)
    with engine.connect() as connection:
        derived = pd.DataFrame(connection.execute(query).all())
    engine.dispose()
    return upgraded, derived


def test_0010_fills_the_last_dates_as_the_facts_derive_them(db_url):
    """A clinic stored under 0009 gets each patient's last session and follow-up date from the
    upgrade, equal to what a full refresh of the facts derives (docs/performance.md)."""
    t = schema.patient_facts
    upgraded, derived = upgraded_and_refreshed(
        db_url, "0009", 9, [t.c.patient_key, t.c.last_session_date, t.c.last_followup_date]
    )
    assert upgraded.last_followup_date.notna().sum() > 100
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0011_copies_the_cohort_columns_into_the_durability_facts(db_url):
    """A clinic stored under 0010 gets the breakdown and filter columns of its durability facts
    from the upgrade, equal to what a full refresh of the facts derives."""
    t = schema.durability_facts
    upgraded, derived = upgraded_and_refreshed(db_url, "0010", 10, list(t.columns))
    assert len(upgraded) > 50 and upgraded.route.notna().all() and upgraded.site.notna().all()
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0013_fills_the_follow_up_days_as_the_facts_derive_them(db_url):
    """A clinic stored under 0012 gets every follow-up's day since the index date from the
    upgrade, equal to what a full refresh of the facts derives (docs/performance.md)."""
    t = schema.followup_days
    upgraded, derived = upgraded_and_refreshed(db_url, "0012", 13, list(t.columns))
    assert len(upgraded) > 100 and (upgraded.day >= 0).all()
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0014_fills_the_route_counts_as_the_facts_derive_them(db_url):
    """A clinic stored under 0013 gets how many routes each patient's sessions used from the
    upgrade, equal to what a full refresh of the facts derives (docs/performance.md)."""
    t = schema.patient_facts
    upgraded, derived = upgraded_and_refreshed(db_url, "0013", 14, [t.c.patient_key, t.c.n_routes])
    # The demo clinic has patients without a session (0), with one route and with two.
    assert {0, 1, 2} <= set(upgraded.n_routes)
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0014_fills_the_follow_up_days_measures_as_the_facts_derive_them(db_url):
    """A clinic stored under 0013 gets each follow-up day's other measures (MME, PHQ-9, BPI,
    headache days) from the upgrade, equal to what a full refresh of the facts derives."""
    t = schema.followup_days
    upgraded, derived = upgraded_and_refreshed(db_url, "0013", 15, list(t.columns))
    assert upgraded.phq9.notna().sum() > 50 and upgraded.mme.notna().sum() > 50
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0015_fills_the_pain_days_as_the_facts_derive_them(db_url):
    """A clinic stored under 0014 gets each patient's pain measurements by day from the upgrade,
    equal to what a full refresh of the facts derives (docs/performance.md, "Pain days")."""
    t = schema.pain_days
    upgraded, derived = upgraded_and_refreshed(db_url, "0014", 16, list(t.columns))
    assert len(upgraded) > 100 and (upgraded.day >= 1).all()
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0015_fills_the_durability_inputs_as_the_facts_derive_them(db_url):
    """A clinic stored under 0014 gets each patient's end of care, last session, lowest pain and
    median gap between maintenance sessions from the upgrade, equal to what a full refresh of
    the facts derives."""
    t = schema.durability_inputs
    upgraded, derived = upgraded_and_refreshed(db_url, "0014", 17, list(t.columns))
    assert upgraded.booster_gap.notna().sum() > 50 and upgraded.lowest_pain.notna().sum() > 100
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0016_fills_the_end_of_care_facts_as_the_facts_derive_them(db_url):
    """A clinic stored under 0015 gets each patient's end of care in the facts from the upgrade,
    equal to what a full refresh of the facts derives (docs/performance.md, "End of care in the
    facts"), so that the disposition table counts the same reasons."""
    t = schema.patient_facts
    upgraded, derived = upgraded_and_refreshed(
        db_url, "0015", 18, [t.c.patient_key, t.c.end_date, t.c.end_reason]
    )
    # The demo clinic has patients still in care, some who left with a reason, and deaths.
    assert upgraded.end_date.isna().sum() > 50 and upgraded.end_date.notna().sum() > 10
    assert {"death", "lack_of_effect"} <= set(upgraded.end_reason.dropna())
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0017_fills_the_durability_facts_last_dates_as_the_facts_derive_them(db_url):
    """A clinic stored under 0016 gets each kept durability row's last session and follow-up
    date from the upgrade, equal to what a full refresh of the facts derives, so that
    `durability --cutoff` tells the same patients settled (docs/performance.md, "Durability
    facts keep the last dates")."""
    t = schema.durability_facts
    upgraded, derived = upgraded_and_refreshed(
        db_url, "0016", 19, [t.c.patient_key, t.c.last_session_date, t.c.last_followup_date]
    )
    assert len(upgraded) > 30 and upgraded.last_session_date.notna().all()
    assert upgraded.last_followup_date.notna().sum() > 30
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0018_keeps_the_durability_facts_at_30_and_50_percent_as_the_facts_derive_them(db_url):
    """A clinic stored under 0017 (durability facts at 30 % only) gets them at 30 % and at 50 %
    from the upgrade, equal to what a full refresh of the facts derives (docs/performance.md,
    "Durability at 50 %, kept")."""
    t = schema.durability_facts
    upgraded, derived = upgraded_and_refreshed(
        db_url, "0017", 20, [t.c.patient_key, t.c.threshold_pct, *[c for c in t.columns if not c.primary_key]]
    )
    kept = upgraded.threshold_pct.value_counts()
    assert set(kept.index) == {30, 50} and kept[30] > kept[50] > 20
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0019_fills_the_booster_gaps_as_the_facts_derive_them(db_url):
    """A clinic stored under 0018 gets each maintenance session's gap from the upgrade, equal to
    what a full refresh of the facts derives (docs/performance.md, "Booster gaps kept")."""
    g = schema.booster_gaps
    upgraded, derived = upgraded_and_refreshed(db_url, "0018", 21, list(g.columns))
    assert len(upgraded) > 100 and (upgraded.gap > 0).all()
    pd.testing.assert_frame_equal(upgraded, derived)


def test_0020_keeps_the_booster_medians_as_the_facts_derive_them(db_url):
    """A clinic stored under 0019 (gaps without medians) gets each gap's median so far from the
    upgrade, equal to what a full refresh of the facts derives (docs/performance.md, "Booster
    medians kept"); the downgrade leaves the gaps alone without the medians."""
    g = schema.booster_gaps
    upgraded, derived = upgraded_and_refreshed(db_url, "0019", 22, list(g.columns))
    assert len(upgraded) > 100 and (upgraded.median_gap > 0).all()
    assert (upgraded.median_gap != upgraded.gap).sum() > 50  # medians, not the gaps again
    pd.testing.assert_frame_equal(upgraded, derived)
    engine = store.make_engine(db_url)
    store.downgrade(engine, "0019")
    with engine.connect() as connection:
        stored = {c["name"] for c in inspect(connection).get_columns(g.name)}
        gaps = pd.DataFrame(connection.execute(select(g.c.patient_key, g.c.session_date, g.c.gap)).all())
    engine.dispose()
    assert stored == {"patient_key", "session_date", "gap"}
    key = ["patient_key", "session_date"]
    pd.testing.assert_frame_equal(
        gaps.sort_values(key).reset_index(drop=True), upgraded[[*key, "gap"]].reset_index(drop=True)
    )


def test_0024_copies_the_end_of_care_and_the_routes_into_the_durability_facts(db_url):
    """A clinic stored under 0023 gets each kept durability row's end of care and number of
    routes from the upgrade, equal to what a full refresh of the facts derives; on PostgreSQL the
    booster gaps' key carries the median, and the downgrade takes both back (docs/performance.md,
    "Durability as of a cut-off, from the kept rows alone")."""
    k = schema.durability_facts
    upgraded, derived = upgraded_and_refreshed(
        db_url, "0023", 24, [k.c.patient_key, k.c.threshold_pct, k.c.end_date, k.c.n_routes]
    )
    assert upgraded.end_date.notna().sum() > 5 and (upgraded.n_routes > 1).sum() > 5
    pd.testing.assert_frame_equal(upgraded, derived)
    engine = store.make_engine(db_url)

    def key_definition() -> str:
        if engine.dialect.name != "postgresql":
            return ""
        with engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT indexdef FROM pg_indexes"
                    " WHERE indexname = 'pk_booster_gaps' AND schemaname = current_schema()"
                )
            ).scalar_one()

    assert ("INCLUDE (median_gap)" in key_definition()) == (engine.dialect.name == "postgresql")
    store.downgrade(engine, "0023")
    with engine.connect() as connection:
        stored = {c["name"] for c in inspect(connection).get_columns(k.name)}
    assert not {"end_date", "n_routes"} & stored and "last_followup_date" in stored
    assert "INCLUDE" not in key_definition()
    engine.dispose()


def test_0025_makes_the_kept_counts_keys_unique_and_an_import_adds_to_them(db_url):
    """0025 makes the kept counts' key indexes unique (the importer adds its sums with one
    ``INSERT … ON CONFLICT``), on PostgreSQL with room on each page for changed rows; a clinic
    imported in two parts under it keeps the counts a full refresh counts, and the downgrade
    takes the indexes and the room back (docs/performance.md, "Thirteenth session: the kept counts")."""
    from analysis.db import facts

    kept = (schema.secondary_cells, schema.secondary_changes, schema.profile_patterns)
    engine = store.make_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    clinic = generate(300, seed=25, today=TODAY)
    # Most of the clinic first, so that the rest is refreshed per patient (facts.REBUILD_SHARE).
    early = set(clinic["patients"]["patient_id"].iloc[:260])
    first = {name: frame[frame["patient_id"].isin(early)] for name, frame in clinic.items()}
    store.downgrade(engine, "0024")
    assert import_frames(engine, first, today=TODAY, source="demo").ok

    def shape() -> tuple[list[bool], list[str]]:
        with engine.connect() as connection:
            inspector = inspect(connection)
            unique = [
                ix["unique"]
                for table in ("secondary_cells", "secondary_changes")
                for ix in inspector.get_indexes(table)
            ]
            options = (
                connection.exec_driver_sql(
                    "SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class"
                    " WHERE relname IN ('secondary_changes', 'profile_patterns')"
                    " AND relnamespace = current_schema()::regnamespace ORDER BY relname"
                )
                .scalars()
                .all()
                if postgres
                else []
            )
        return [bool(u) for u in unique], options

    assert shape() == ([False, False], ["", ""] if postgres else [])
    store.migrate(engine)
    assert shape() == ([True, True], ["fillfactor=60"] * 2 if postgres else [])
    # The rest of the clinic: its patients' sums are added to the kept rows in place.
    report = import_frames(engine, clinic, today=TODAY, source="demo")
    assert report.ok and report.inserted["patients"] == 40 and report.unchanged["patients"] == 260

    def counts() -> list[list[tuple]]:
        with engine.connect() as connection:
            return [sorted(tuple(row) for row in connection.execute(select(table))) for table in kept]

    imported = counts()
    assert all(len(rows) > 10 for rows in imported)
    with engine.begin() as connection:
        facts.refresh(connection)
    assert counts() == imported
    store.downgrade(engine, "0024")
    assert shape() == ([False, False], ["", ""] if postgres else [])
    engine.dispose()


def test_0021_counts_the_secondary_cells_by_quarter_as_the_facts_do(db_url):
    """A clinic stored under 0020 gets its outcomes beyond pain counted per quarter by which the
    patients were settled, equal to what a full refresh of the facts counts (docs/performance.md,
    "Settled by quarter"); the downgrade leaves the old shape empty and no state, so that the
    older code counts the cells afresh."""
    from analysis.db import facts

    kept = (schema.secondary_cells, schema.secondary_changes)
    engine = store.make_engine(db_url)
    store.downgrade(engine, "0020")
    report = import_frames(engine, generate(300, seed=23, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    store.migrate(engine)

    def cells() -> list[list[tuple]]:
        with engine.connect() as connection:
            return [sorted(tuple(row) for row in connection.execute(select(table))) for table in kept]

    upgraded = cells()
    assert len({row[3] for row in upgraded[0]}) > 4  # several quarters (after time point, breakdown, group)
    with engine.begin() as connection:
        facts.refresh(connection)
    assert cells() == upgraded
    store.downgrade(engine, "0020")
    with engine.connect() as connection:
        inspector = inspect(connection)
        shapes = [{c["name"] for c in inspector.get_columns(table.name)} for table in kept]
        assert not any("settled_by" in names for names in shapes)
        assert "ix_patient_facts_index_date" not in {
            ix["name"] for ix in inspector.get_indexes("patient_facts")
        }
        assert connection.execute(select(schema.secondary_cells_state)).all() == []
    engine.dispose()


def test_0022_counts_the_profile_patterns_as_the_facts_do(db_url):
    """A clinic stored under 0021 gets the response profile's patterns counted, equal to what a
    full refresh of the facts counts (docs/performance.md, "Profile patterns kept"); the
    downgrade drops them and forgets the cells' state, so that the older code counts afresh."""
    from analysis.db import facts

    engine = store.make_engine(db_url)
    store.downgrade(engine, "0021")
    report = import_frames(engine, generate(300, seed=24, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    store.migrate(engine)

    def patterns() -> list[tuple]:
        with engine.connect() as connection:
            return sorted(tuple(row) for row in connection.execute(select(schema.profile_patterns)))

    upgraded = patterns()
    assert sum(row[7] for row in upgraded) > 100  # eligible patients, in many patterns
    with engine.begin() as connection:
        facts.refresh(connection)
    assert patterns() == upgraded
    store.downgrade(engine, "0021")
    with engine.connect() as connection:
        assert not inspect(connection).has_table("profile_patterns")
        assert connection.execute(select(schema.secondary_cells_state)).all() == []
    engine.dispose()
