"""What every page shares: the database, the sidebar filters, the outcome definition, caches.

- The engine is one cached resource per database URL.
- The sidebar filters live in the entry point (so they survive a page switch) and are bound
  to the URL (``bind="query-params"``), so a filtered view can be shared as a link.
- The outcome definition is edited on the Methods page and kept for the session; the entry
  point writes its non-default settings into the URL on every page (see "the outcome
  definition, carried in the URL" below), and every page reads the same :func:`definition`.
- Every cached call is bounded (``ttl`` / ``max_entries``). A database that cannot be reached
  becomes a message on the page, never a traceback.
- The caches follow the stored data: each run looks up the latest applied import, and a change
  (an import from the command line or another session) empties them (:func:`follow_stored_data`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from analysis.db import audit, store
from analysis.domain import access, errors
from analysis.domain.definition import (
    AGE_GROUPS,
    TIMEPOINT_DAYS,
    WINDOW_DAYS,
    CohortFilter,
    OutcomeDefinition,
)
from analysis.domain.vocabulary import display_name
from analysis.present import format as fmt
from analysis.present.format import literal as plain
from analysis.queries import response

T = TypeVar("T")
CACHE = {"ttl": 600, "max_entries": 256, "show_spinner": False}

# Keys of the sidebar filters; they are also the URL's query-parameter names.
FILTER_KEYS = ("site", "condition", "route", "sex", "age", "period")


def database_url() -> str:
    """The configured database URL (``DATABASE_URL``, else the embedded SQLite file)."""
    return store.resolve_url(None)


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    """The cached engine for ``url`` (for cached functions keyed by URL)."""
    return store.open_database(url, serving=True)  # many users at once


def engine() -> Engine:
    """The engine for the configured database; stops the page with a message if unusable."""
    try:
        return engine_for(database_url())
    except (errors.DatabaseError, errors.SettingError) as exc:  # unreachable, or not a usable URL
        st.error(f"**The outcomes database cannot be opened.** {plain(exc)}", icon=":material/error:")
        st.info("Check the DATABASE_URL setting, or unset it to use the embedded demo database.")
        st.stop()


def guarded(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a cached analysis call; a failing database stops the page with a clear message."""
    try:
        return call(*args, **kwargs)
    except (SQLAlchemyError, errors.DatabaseError) as exc:
        reason = errors.first_line(exc)
        st.error(f"**The outcomes database could not be read.** {plain(reason)}", icon=":material/error:")
        st.stop()


# --- cached reads -------------------------------------------------------------------------


@st.cache_data(**CACHE)
def _group_counts(
    url: str, definition: OutcomeDefinition, cohort: CohortFilter, by: tuple[str, ...], funnel: bool
) -> response.GroupCounts:
    return response.group_counts(engine_for(url), definition, cohort, by, funnel=funnel)


def group_counts(by: tuple[str, ...] = (), *, funnel: bool = False, **changes: Any) -> response.GroupCounts:
    """The per-group counts of the current view, cached on what changes the counts only.

    The ITT and the completers tables of a view (and a change of band or interval) share one
    database pass; so do the overall row and the funnel (``funnel=True``), which add up from
    any breakdown.
    """
    engine()
    chosen = replace(definition(), **changes)
    counting = replace(
        chosen, missing=_DEFAULTS.missing, ci=_DEFAULTS.ci, band=_DEFAULTS.band, alpha=_DEFAULTS.alpha
    )
    return guarded(_group_counts, database_url(), counting, cohort(), by, funnel)


def response_table(
    by: tuple[str, ...] = (), *, funnel: bool = False, **changes: Any
) -> response.ResponseTable:
    """The response table for the current definition (with ``changes``) and sidebar cohort.

    ``funnel=True`` shares its database pass with ``group_counts(by, funnel=True)``.
    """
    return response.response_table(
        group_counts(by, funnel=funnel, **changes), replace(definition(), **changes)
    )


@st.cache_data(**CACHE)
def _cohort_call(
    url: str, function: str, definition: OutcomeDefinition, cohort: CohortFilter, extra: tuple[Any, ...]
) -> Any:
    module_name, _, name = function.rpartition(".")
    analysis_function = getattr(importlib.import_module(module_name), name)
    return analysis_function(engine_for(url), definition, cohort, *extra)


def cohort_result(function: Callable[..., T], *extra: Any, **changes: Any) -> T:
    """``function(engine, definition, cohort, *extra)`` for the current view, cached and guarded.

    ``function`` is an ``analysis`` function with that signature (e.g. ``safety.session_summary``);
    the cache key is its name, the database URL, the definition (with ``changes``), the sidebar
    cohort and ``extra``.
    """
    engine()
    name = f"{function.__module__}.{function.__qualname__}"
    return guarded(_cohort_call, database_url(), name, replace(definition(), **changes), cohort(), extra)


@st.cache_data(**CACHE)
def _filter_options(url: str, sites: tuple[str, ...] | None) -> dict[str, list[str]]:
    return response.filter_options(engine_for(url), sites)


def _own_sites() -> tuple[str, ...] | None:
    """The sites the user may see (sorted), or None for every site."""
    allowed = current_access().sites
    return None if allowed is None else tuple(sorted(allowed))


def filter_options() -> dict[str, list[str]]:
    """Values present in the data for each sidebar filter, from the user's own sites only."""
    engine()
    return guarded(_filter_options, database_url(), _own_sites())


@st.cache_data(**CACHE)
def _site_cutoff(url: str, sites: tuple[str, ...]) -> date | None:
    return store.data_cutoff(engine_for(url), sites)


def with_own_cutoff(chosen: OutcomeDefinition) -> OutcomeDefinition:
    """A user limited to some sites sees the data cut-off of those sites, not the whole database's.

    Every date on their pages ("data up to …") and the windows that close by it then come from
    their own sites' data (docs/security.md).
    """
    sites = _own_sites()
    if sites is None or chosen.cutoff is not None:
        return chosen
    engine()
    return replace(chosen, cutoff=guarded(_site_cutoff, database_url(), sites) or date.today())


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _is_empty(url: str) -> bool:
    return store.is_empty(engine_for(url))


def database_is_empty() -> bool:
    """True when no patient is stored (checked at most once a minute)."""
    engine()
    return guarded(_is_empty, database_url())


def empty_state() -> bool:
    """Show what to do when there is no data yet; returns True when the page should stop."""
    if not database_is_empty():
        return False
    st.info(
        "**No patients yet.** Import your clinic's de-identified data on the **Data** page "
        "(or `python -m analysis import`), or load the demo clinic with "
        "`python -m analysis demo`.",
        icon=":material/upload_file:",
    )
    return True


# --- following the stored data -------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _seen_versions() -> dict[str, int | None]:
    """The stored data's version each database had when this server last looked (one per process)."""
    return {}


def follow_stored_data() -> None:
    """Forget every cached result when the stored data changed since it was computed.

    Called once per run by the entry point: one lookup of the latest applied import
    (:func:`analysis.db.audit.latest_applied_import`), so that an import from the command line,
    another session or another server process shows on the next page load, not after the
    caches' ten minutes.
    """
    url = database_url()
    version = guarded(audit.latest_applied_import, engine())
    seen = _seen_versions()
    if url in seen and seen[url] != version:
        st.cache_data.clear()
    seen[url] = version


def clear_caches() -> None:
    """Forget every cached result (after an import changed the data), on every page."""
    st.cache_data.clear()


def ensure_entry_point() -> None:
    """Rerun through ``dashboard.py`` when Streamlit ran a page script on its own.

    Because the pages live in ``pages/``, Streamlit's legacy multipage mode handles the very
    first run after the server starts: a deep link (``/safety?condition=CRPS``) would then run
    the page without the entry point — no filters, no layout. The entry point marks the
    session; a page that finds no mark asks for a rerun, which goes through ``st.navigation``.
    """
    if not st.session_state.get(_ENTRY_MARK):
        # Streamlit 1.67 leaves legacy mode only when the public st.navigation runs, which the
        # legacy runner never calls (runtime/scriptrunner/script_runner.py, _mpa_v1); without
        # this the rerun would land in legacy mode again.
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        st.rerun()


def mark_entry_point() -> None:
    """Called by ``dashboard.py`` on every run, before the page runs."""
    st.session_state[_ENTRY_MARK] = True


_ENTRY_MARK = "_entry_point_ran"


# --- login, roles and sites ---------------------------------------------------------------

_ACCESS_KEY = "_access"


def auth_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (OpenID Connect login)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return False


@st.cache_resource(ttl=60, show_spinner=False)
def _policy(path: str, modified: float) -> access.AccessPolicy:
    return access.load_policy(Path(path))


def _load_policy() -> access.AccessPolicy:
    path = access.access_file()
    return _policy(str(path), path.stat().st_mtime if path.exists() else 0.0)


def _login_screen() -> None:
    st.title("Ketamine Outcomes")
    st.write("Outcome data of this clinic is for its staff only. Please log in with your clinic account.")
    st.button("Log in", on_click=st.login, type="primary", icon=":material/login:")


def _no_access_screen(granted: access.Access) -> None:
    st.title("Ketamine Outcomes")
    if granted.refused_because == access.EMAIL_NOT_VERIFIED:
        st.warning(
            f"You are logged in as **{plain(granted.user)}**, but your identity provider has not confirmed "
            "that this e-mail address belongs to your account (it is not marked as verified), so it cannot "
            "be used to give access. Please ask your IT to verify the address, or the clinic director to "
            "give you access through a group.",
            icon=":material/lock:",
        )
    else:
        st.warning(
            f"You are logged in as **{plain(granted.user)}**, but this account has not been given access to "
            "the dashboard. Please ask the clinic director to add you to the access list.",
            icon=":material/lock:",
        )
    st.button("Log out", on_click=st.logout)


def _refuse_open_screen(reason: str) -> None:
    st.title("Ketamine Outcomes")
    st.error(f"**The dashboard will not run without login here.** {reason}", icon=":material/lock:")


def _only_page(draw: Callable[[], None], title: str) -> None:
    """Show one screen as the app's only (hidden) page, then stop: no other page is reachable."""
    st.navigation([st.Page(draw, title=title, url_path="welcome", default=True)], position="hidden").run()
    st.stop()


def gate() -> access.Access:
    """Log the visitor in (when login is configured) and return what they may see.

    Without ``[auth]`` the app runs open, as the demo, and says so in a banner — but only on a
    loopback address and with no access file (:func:`access.open_mode_refusal`): otherwise it
    shows why it will not run, and nothing else (it fails closed). With ``[auth]``, a
    visitor who is not logged in sees only the login screen, and a logged-in user whom the
    access file does not know sees only a polite "no access" page.
    """
    if not auth_configured():
        refusal = access.open_mode_refusal(
            str(st.get_option("server.address") or ""),
            access.access_file().exists(),
            access.open_demo_requested(),
        )
        if refusal:
            _only_page(lambda: _refuse_open_screen(refusal), "Login required")
        st.sidebar.warning(
            "**Open demo:** no login is configured, so anyone who can reach this address sees "
            "everything. See docs/security.md before using real data.",
            icon=":material/lock_open:",
        )
        st.session_state[_ACCESS_KEY] = access.OPEN_ACCESS
        return access.OPEN_ACCESS
    if not st.user.is_logged_in:
        _only_page(_login_screen, "Log in")
    try:
        granted = _load_policy().resolve(st.user.to_dict())
    except access.AccessConfigError as exc:
        st.error(f"**The access list cannot be read.** {plain(exc)}")
        st.stop()
    if not granted.granted:
        _only_page(lambda: _no_access_screen(granted), "No access")
    with st.sidebar:
        sites = "all sites" if granted.sites is None else ", ".join(sorted(granted.sites)) or "no site"
        st.caption(plain(f"{granted.user} · {granted.role} · {sites}"))
        st.button("Log out", on_click=st.logout, icon=":material/logout:")
    st.session_state[_ACCESS_KEY] = granted
    return granted


def current_access() -> access.Access:
    """The access decided by :func:`gate` on this run (no access if the gate did not run)."""
    return st.session_state.get(_ACCESS_KEY) or access.Access(user="unknown", role=None, sites=frozenset())


def page_guard(permission: str = "aggregates") -> access.Access:
    """First line of every page: through the entry point, and allowed to see this page."""
    ensure_entry_point()
    granted = current_access()
    if not granted.can(permission):
        st.error("Your role does not give access to this page.", icon=":material/lock:")
        st.stop()
    return granted


# --- the sidebar cohort -------------------------------------------------------------------


#: A readable label for a condition, route or other code.
label = display_name


def render_filters() -> None:
    """Draw the sidebar filters (in the entry point, so they persist across pages)."""
    options = filter_options()  # from the user's own sites only
    sidebar = st.sidebar
    sidebar.header("Filters")
    sidebar.multiselect("Site", options["site"], key="site", bind="query-params", placeholder="All sites")
    sidebar.multiselect(
        "Condition",
        options["condition"],
        key="condition",
        bind="query-params",
        format_func=label,
        placeholder="All conditions",
    )
    sidebar.multiselect(
        "Route",
        options["route"],
        key="route",
        bind="query-params",
        format_func=label,
        placeholder="All routes",
        help="The route used in most of the patient's sessions; 'mixed' on a tie.",
    )
    sidebar.multiselect("Sex", options["sex"], key="sex", bind="query-params", placeholder="All")
    sidebar.multiselect(
        "Age group",
        [label for label, _, _ in AGE_GROUPS],
        key="age",
        bind="query-params",
        placeholder="All ages",
    )
    quarters = options["quarter"]
    if len(quarters) >= 2:
        sidebar.select_slider(
            "First treated (quarter)",
            options=quarters,
            value=(quarters[0], quarters[-1]),
            key="period",
            bind="query-params",
        )


def _quarter_bounds(label: str) -> tuple[date, date]:
    year, quarter = int(label[:4]), int(label[-1])
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def cohort() -> CohortFilter:
    """The cohort the sidebar selects."""
    state = st.session_state
    period = state.get("period")
    first_from = first_to = None
    quarters = filter_options()["quarter"]
    if period and tuple(period) != (quarters[0], quarters[-1]):
        first_from, first_to = _quarter_bounds(period[0])[0], _quarter_bounds(period[1])[1]
    return CohortFilter(
        sites=current_access().scope_sites(tuple(state.get("site") or ())),
        conditions=tuple(state.get("condition") or ()),
        routes=tuple(state.get("route") or ()),
        sexes=tuple(state.get("sex") or ()),
        age_groups=tuple(state.get("age") or ()),
        first_treated_from=first_from,
        first_treated_to=first_to,
    )


# --- the outcome definition, carried in the URL (issue #14 item 18) -----------------------
#
# Why not ``bind="query-params"`` as the filters do: a widget bound on the Methods page loses
# its URL parameter on every other page (Streamlit 1.67 drops parameters bound to another
# page's widgets, runtime/state/query_params.py, populate_from_query_string) and its value
# with it. So the definition lives in one session value that only ever holds a valid
# definition; the entry point writes its non-default settings into the URL on every run (every
# page), and a new session (a shared link, a reload) reads them back from the URL.

_DEFAULTS = OutcomeDefinition()
_SETTINGS_KEY = "_definition_settings"
_LINK_PROBLEM_KEY = "_definition_link_problem"
_PARSERS: dict[str, Callable[[str], Any]] = {
    "timepoint": int,
    "window": int,
    "threshold": float,
    "missing": str,
    "ci": str,
    "band_low": float,
    "band_high": float,
}
#: The documented default of each definition setting, by its URL name.
DEFINITION_DEFAULTS: dict[str, Any] = {
    "timepoint": _DEFAULTS.timepoint_days,
    "window": _DEFAULTS.window_days,
    "threshold": _DEFAULTS.threshold,
    "missing": _DEFAULTS.missing,
    "ci": _DEFAULTS.ci,
    "band_low": _DEFAULTS.band[0],
    "band_high": _DEFAULTS.band[1],
}


#: What the Methods page's editor accepts (lowest, highest, what it is) — a link cannot set more.
EDITOR_LIMITS: dict[str, tuple[float, float, str]] = {
    "timepoint": (*TIMEPOINT_DAYS, "the time point in days"),
    "window": (*WINDOW_DAYS, "the window in days"),
    "threshold": (0.05, 1.0, "the responder threshold"),
    "band_low": (0.0, 1.0, "the band's bottom"),
    "band_high": (0.0, 1.0, "the band's top"),
}


def build_definition(settings: dict[str, Any]) -> OutcomeDefinition:
    """The definition of a full set of settings (URL names); raises ValueError when not valid."""
    return OutcomeDefinition(
        timepoint_days=int(settings["timepoint"]),
        window_days=int(settings["window"]),
        threshold=float(settings["threshold"]),
        missing=settings["missing"],
        ci=settings["ci"],
        band=(float(settings["band_low"]), float(settings["band_high"])),
    )


def _url_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _settings_from_link() -> dict[str, Any]:
    """The settings a shared link carries (defaults for the rest); defaults if they are not valid."""
    settings = dict(DEFINITION_DEFAULTS)
    try:
        for key, parse in _PARSERS.items():
            raw = st.query_params.get(key)
            if raw is not None:
                settings[key] = parse(raw)
        build_definition(settings)  # the domain's limits first: the CLI says the same words
        for key, (low, high, what) in EDITOR_LIMITS.items():
            if not low <= settings[key] <= high:
                raise ValueError(f"{what} must be between {low:g} and {high:g}, not {settings[key]:g}")
    except (ValueError, OverflowError) as exc:
        st.session_state[_LINK_PROBLEM_KEY] = str(exc)
        return dict(DEFINITION_DEFAULTS)
    return settings


def definition_settings() -> dict[str, Any]:
    """The session's definition settings (URL names), read from the link on a session's first run."""
    if _SETTINGS_KEY not in st.session_state:
        st.session_state[_SETTINGS_KEY] = _settings_from_link()
    return st.session_state[_SETTINGS_KEY]


def set_definition_settings(changes: dict[str, Any]) -> str | None:
    """Use ``changes`` from now on, on every page; returns why not when they make no valid definition."""
    # A widget's float steps can land on 0.29999999999999993; that is still the default 0.30.
    changes = {key: round(value, 6) if isinstance(value, float) else value for key, value in changes.items()}
    settings = {**definition_settings(), **changes}
    try:
        build_definition(settings)
    except (ValueError, OverflowError) as exc:
        return str(exc)
    st.session_state[_SETTINGS_KEY] = settings
    st.session_state.pop(_LINK_PROBLEM_KEY, None)
    return None


def carry_definition() -> None:
    """Called by ``dashboard.py`` on every run: the URL carries each non-default setting, only those."""
    settings = definition_settings()
    for key, default in DEFINITION_DEFAULTS.items():
        value = settings[key]
        if value != default:
            if st.query_params.get(key) != _url_value(value):
                st.query_params[key] = _url_value(value)
        elif key in st.query_params:
            del st.query_params[key]


def definition() -> OutcomeDefinition:
    """The outcome definition the user is looking at (Methods page; defaults from docs/methods.md),
    with their own sites' cut-off (:func:`with_own_cutoff`)."""
    return with_own_cutoff(build_definition(definition_settings()))


def non_default_settings(d: OutcomeDefinition) -> list[str]:
    """Each setting of ``d`` that differs from docs/methods.md's default, in words."""
    changed = []
    if (d.timepoint_days, d.window_days) != (_DEFAULTS.timepoint_days, _DEFAULTS.window_days):
        changed.append(
            f"day {d.timepoint_days} ± {d.window_days} "
            f"(default {_DEFAULTS.timepoint_days} ± {_DEFAULTS.window_days})"
        )
    if d.threshold != _DEFAULTS.threshold:
        changed.append(f"threshold {100 * d.threshold:.0f}% (default {100 * _DEFAULTS.threshold:.0f}%)")
    if d.missing != _DEFAULTS.missing:
        changed.append("completers only (default ITT)")
    if d.ci != _DEFAULTS.ci:
        changed.append(f"{fmt.method_label(d.ci)} interval (default {fmt.method_label(_DEFAULTS.ci)})")
    if d.band != _DEFAULTS.band:
        changed.append(f"band {fmt.band(d.band)} (default {fmt.band(_DEFAULTS.band)})")
    return changed


def definition_notice() -> None:
    """Under a page's title: a visible notice when the definition is not the documented default,
    and why a shared link's settings were not used."""
    problem = st.session_state.get(_LINK_PROBLEM_KEY)
    if problem:
        st.error(
            f"**The outcome definition in this link is not valid** ({problem}). The documented "
            "defaults are shown instead; set the definition on the Methods page.",
            icon=":material/link_off:",
        )
    changed = non_default_settings(definition())
    if changed:
        st.warning(
            "**Non-default outcome definition:** " + "; ".join(changed) + ". Set on the Methods page; "
            "a link to this page carries it.",
            icon=":material/tune:",
        )


def definition_caption(d: OutcomeDefinition) -> str:
    """One line that says which definition a page shows."""
    return (
        f"Responder = pain reduction ≥ {100 * d.threshold:.0f}% from baseline at day {d.timepoint_days} "
        f"(±{d.window_days} days) · {'ITT' if d.missing == 'itt' else 'completers'} · "
        f"{'Wilson' if d.ci == 'wilson' else 'exact'} 95% interval · band "
        f"{100 * d.band[0]:.0f}–{100 * d.band[1]:.0f}%"
        + (f" · data up to {d.cutoff:%d %b %Y}" if d.cutoff else "")
    )


# --- downloads that never become /media files ----------------------------------------------
#
# st.download_button stores its bytes in Streamlit's media store and the browser fetches them
# from /media/<id>, a URL that answers any request, cookie or not, for as long as the file is
# kept. What leaves through this app is site-scoped (and, for some roles, patient-level), so the
# bytes travel instead inside the session's own WebSocket message, and the browser saves them
# from a local blob: URL. Nothing is stored on the server (docs/security.md, "Downloads").

_SAVE_HTML = (
    '<button type="button" class="save"><span class="icon">⤓</span><span class="label"></span></button>'
)
_SAVE_CSS = """
.save { font: inherit; font-size: 0.875rem; display: inline-flex; gap: 0.4rem; align-items: center;
        padding: 0.35rem 0.75rem; min-height: 2.5rem; border-radius: 0.5rem; cursor: pointer; color: inherit;
        background: var(--st-secondary-background-color, #f0f2f6);
        border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.2)); }
.save:hover { border-color: var(--st-primary-color, #0072B2); color: var(--st-primary-color, #0072B2); }
.save.primary { background: var(--st-primary-color, #0072B2); color: #fff; border-color: transparent; }
"""
_SAVE_JS = """
export default function ({ parentElement, data }) {
  const button = parentElement.querySelector("button");
  button.querySelector(".label").textContent = data.label;  // text, never HTML
  button.classList.toggle("primary", Boolean(data.primary));
  button.onclick = () => {
    const url = URL.createObjectURL(new Blob([data.content], { type: data.mime }));
    const link = document.createElement("a");
    link.href = url;
    link.download = data.file_name;
    link.style.display = "none";
    parentElement.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  };
}
"""
_save_file = st.components.v2.component(
    "ketamine_outcomes_save_file", html=_SAVE_HTML, css=_SAVE_CSS, js=_SAVE_JS
)


def save_button(
    label: str, content: str, *, file_name: str, mime: str, key: str, primary: bool = False
) -> None:
    """A download button whose file never exists on the server (see the section's comment)."""
    _save_file(
        data={"label": label, "content": content, "file_name": file_name, "mime": mime, "primary": primary},
        key=key,
        width="content",
    )
