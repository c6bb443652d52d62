"""Ketamine Outcomes: the Streamlit entry point — page config, shared filters, navigation."""

import streamlit as st

from pages import common

st.set_page_config(page_title="Ketamine Outcomes", page_icon=":material/monitoring:", layout="wide")

PAGES = {
    "Outcomes": [
        st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("pages/conditions.py", title="Conditions", icon=":material/stethoscope:"),
        st.Page("pages/routes.py", title="Routes", icon=":material/compare_arrows:"),
        st.Page("pages/safety.py", title="Safety", icon=":material/health_and_safety:"),
    ],
    "Clinicians": [
        st.Page("pages/patients.py", title="Patients", icon=":material/person_search:"),
    ],
    "Data and methods": [
        st.Page("pages/data.py", title="Data", icon=":material/database:"),
        st.Page("pages/methods.py", title="Methods", icon=":material/menu_book:"),
    ],
}
navigation = st.navigation(PAGES)
common.mark_entry_point()
if not common.database_is_empty():
    common.render_filters()
navigation.run()
