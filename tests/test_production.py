"""Production settings (docs/security.md, "Production"): what the browser is never sent."""

from __future__ import annotations

import tomllib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_config_hides_error_details_and_the_built_in_table_export():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["disableDataExport"] is True


def test_an_unexpected_error_reaches_the_browser_without_traceback_type_or_message(
    sqlite_engine, monkeypatch
):
    """The config is read from the project's .streamlit/config.toml, as ``streamlit run`` does."""
    add_patient(sqlite_engine, "P1", followups=[{"day": 90, "pain": 2}])
    monkeypatch.setenv("DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr("analysis.domain.access.DEFAULT_ACCESS_FILE", ROOT / "no-such-access.toml")
    monkeypatch.delenv("KETAMINE_ACCESS_FILE", raising=False)

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail: patient P0042 at /srv/clinic/data")

    monkeypatch.setattr("analysis.queries.response.filter_options", broken)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert at.exception, "the page should have failed"
    sent = str(at.exception[0].proto)
    assert "P0042" not in sent and "RuntimeError" not in sent and "/srv/clinic" not in sent
    assert list(at.exception[0].stack_trace) == []
