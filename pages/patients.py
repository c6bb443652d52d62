"""Patients page (being built)."""

import streamlit as st

st.title("Patients")
st.info("This page is being built.")
