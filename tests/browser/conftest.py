"""Real headless Chromium for the admin's browser tests (marked `browser`).

Chromium and its driver come from Debian's packages (`apt-get install chromium chromium-driver fonts-noto-cjk`;
scripts/test.sh installs them). Nothing is downloaded at test time: the driver is given by path, so Selenium Manager never
runs. Without Chromium the tests fail with a message saying what to install: CI must prove them, so they are never
skipped. Screenshots land in artifacts/browser/ (gitignored), one per step, and one of the page at any failure.
"""

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CLV_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CLV_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(
    os.environ.get("CLV_BROWSER_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts" / "browser")
)
INSTALL_HINT = "apt-get install -y --no-install-recommends chromium chromium-driver fonts-noto-cjk"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"The browser tests need Chromium and ChromeDriver; missing: {', '.join(missing)}. "
            f"Install them with `{INSTALL_HINT}` (as root; scripts/test.sh does this), or point CLV_CHROMIUM and "
            "CLV_CHROMEDRIVER at them.",
            pytrace=False,
        )
    try:
        from selenium import webdriver
    except ImportError:
        pytest.fail("The browser tests need selenium: install requirements-dev.txt.", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--window-size=1400,1100",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("FAILED-*"):  # from an earlier run
        stale.unlink()
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, live_server, request):
    """The browser with a clean session, pointed at the live server; screenshots the page if the test fails."""
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/")
    browser.delete_all_cookies()
    yield browser
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        browser.save_screenshot(str(ARTIFACTS / f"FAILED-{name}.png"))
        (ARTIFACTS / f"FAILED-{name}.html").write_text(browser.page_source, encoding="utf-8")


@pytest.fixture
def shoot():
    """shoot("dashboard") saves the current page as artifacts/browser/dashboard.png and returns the path."""

    def save(driver, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        # the whole page: grow the window to the document's height for the shot
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(max(int(height), 800), 6000))
        assert driver.save_screenshot(str(path)), path
        driver.set_window_size(1400, 1100)
        assert path.stat().st_size > 10_000, f"{path} looks empty"
        return path

    return save
