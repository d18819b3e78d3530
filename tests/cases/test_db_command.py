"""`livewarden db upgrade` as a user runs it: an empty folder, a second run, and a URL with a password."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from livewarden.cli import app


def test_db_upgrade_creates_then_finds_the_store_up_to_date(tmp_path: Path):
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path / "data")])
    assert first.exit_code == 0 and "upgraded" in first.output and "(empty) ->" in first.output, first.output
    assert (tmp_path / "data" / "livewarden.db").is_file()
    again = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path / "data")])
    assert again.exit_code == 0 and "up to date" in again.output, again.output


def test_db_upgrade_never_prints_the_password_of_a_url_it_cannot_use():
    result = CliRunner().invoke(app, ["db", "upgrade", "--url", "postgresql+psycopg://lw:s3cret-pw@127.0.0.1:1/lw"])
    assert result.exit_code == 2 and "cannot upgrade the store" in result.output, result.output
    assert "s3cret-pw" not in result.output and "lw:***@127.0.0.1" in result.output
