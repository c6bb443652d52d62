"""Ketamine Outcomes: the Streamlit entry point — page config, login, shared filters, navigation."""

import streamlit as st

from pages import common

st.set_page_config(page_title="Ketamine Outcomes", page_icon=":material/monitoring:", layout="wide")

# (permission needed, file, title, icon); see analysis.domain.access.PERMISSIONS. Each page checks
# its permission again before it draws.
PAGES = {
    "Outcomes": [
        ("aggregates", "pages/overview.py", "Overview", ":material/monitoring:"),
        ("aggregates", "pages/conditions.py", "Conditions", ":material/stethoscope:"),
        ("aggregates", "pages/routes.py", "Routes", ":material/compare_arrows:"),
        ("aggregates", "pages/safety.py", "Safety", ":material/health_and_safety:"),
        ("aggregates", "pages/beyond_pain.py", "Beyond pain", ":material/diversity_1:"),
        ("aggregates", "pages/durability.py", "Durability", ":material/hourglass_bottom:"),
    ],
    "Clinicians": [
        ("patients", "pages/patients.py", "Patients", ":material/person_search:"),
    ],
    "Data and methods": [
        ("aggregates", "pages/data.py", "Data", ":material/database:"),
        ("aggregates", "pages/methods.py", "Methods", ":material/menu_book:"),
    ],
}

granted = common.gate()  # the login screen and the "no access" page stop here
allowed = {
    section: [
        st.Page(path, title=title, icon=icon, default=path == "pages/overview.py")
        for permission, path, title, icon in entries
        if granted.can(permission)
    ]
    for section, entries in PAGES.items()
}
navigation = st.navigation({section: pages for section, pages in allowed.items() if pages})
common.mark_entry_point()
common.carry_definition()  # the outcome definition in the URL, on every page (issue #14 item 18)
common.follow_stored_data()  # an import elsewhere (CLI, another session) shows on this load
if not common.database_is_empty():
    common.render_filters()
navigation.run()
