"""Routes page (being built)."""

import streamlit as st

st.title("Routes")
st.info("This page is being built.")
