"""What every page shares: the database engine and cached calls into ``analysis``.

Caches are bounded (``ttl`` / ``max_entries``); a database that cannot be reached becomes a
message on the page, never a traceback.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from analysis import outcomes, store
from analysis.definition import CohortFilter, OutcomeDefinition


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return store.open_database(url)


def engine() -> Engine:
    """The engine for the configured database; stops the page with a message if unusable."""
    url = store.resolve_url(None)
    try:
        return _engine(url)
    except store.DatabaseError as exc:
        st.error(f"**The outcomes database cannot be opened.** {exc}", icon=":material/error:")
        st.info("Check the DATABASE_URL setting, or unset it to use the embedded demo database.")
        st.stop()


@st.cache_data(ttl=600, max_entries=256, show_spinner=False)
def response_table(
    url: str, definition: OutcomeDefinition, cohort: CohortFilter, by: tuple[str, ...]
) -> outcomes.ResponseTable:
    """Cached :func:`analysis.outcomes.summarize` (keyed by URL, definition, cohort and grouping)."""
    return outcomes.summarize(_engine(url), definition, cohort, by)


def summary(
    definition: OutcomeDefinition, cohort: CohortFilter, by: tuple[str, ...] = ()
) -> outcomes.ResponseTable:
    """The response table, or a message and a stopped page when the database fails."""
    engine()  # opens (and migrates) the database, or stops with a message
    try:
        return response_table(store.resolve_url(None), definition, cohort, by)
    except SQLAlchemyError as exc:
        st.error(
            f"**The outcomes database could not be read.** {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
        )
        st.stop()
