"""Ketamine Outcomes: the Streamlit entry point. Page config and navigation, nothing else."""

import streamlit as st

st.set_page_config(page_title="Ketamine Outcomes", page_icon=":material/monitoring:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
]
st.navigation(pages).run()
