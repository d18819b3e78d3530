"""A real browser for the console tests: Playwright driving Debian's chromium (setup installs both; the
Playwright browser download cannot run here), with a fresh profile per test."""

from __future__ import annotations

import pytest

from livewarden.testing.browser import launch_chromium


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            browser = launch_chromium(p)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium):
    """A fresh profile (no cookies from another test); a script error on any page fails the test."""
    context = chromium.new_context()
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}")))
    yield context
    context.close()
    assert not errors, "script errors in the console:\n" + "\n".join(errors)
