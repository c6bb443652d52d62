"""Presentation without Streamlit: formatting, plotly figures, CSV exports, the board report.

Pages, the CLI and the board report all format numbers through :mod:`analysis.present.format`.
"""
