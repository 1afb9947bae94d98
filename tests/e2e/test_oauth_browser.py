"""A real headless browser connects TikTok: connect link → emulator consent page → callback.

Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``make browser`` installs them); the
driver path is passed explicitly so Selenium Manager never downloads anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tiktok_local.connect_link import link_for_local_stack
from tiktok_local.stack import LocalStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Missing browser = failure (make test installs it), unless explicitly opted out.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(os.environ.get("SKIP_BROWSER_TESTS") == "1", reason="SKIP_BROWSER_TESTS=1"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.start(workdir=tmp_path_factory.mktemp("browser-stack")) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("needs /usr/bin/chromium and /usr/bin/chromedriver: run `make browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_connect_consent_callback_in_a_real_browser(
    stack: LocalStack, browser: webdriver.Chrome
) -> None:
    link = link_for_local_stack(stack.stack_json_path, label="browser")
    browser.get(link)

    # /connect redirected to TikTok's (the emulator's) consent page.
    WebDriverWait(browser, 20).until(
        expected_conditions.element_to_be_clickable((By.ID, "confirm"))
    )
    assert browser.current_url.startswith(stack.emulator.auth_url)
    browser.find_element(By.ID, "confirm").click()

    # The emulator redirected to our callback, which answered with the success page.
    WebDriverWait(browser, 20).until(expected_conditions.url_contains("/oauth/callback"))
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.ID, "advertisers"))
    )
    assert browser.find_element(By.TAG_NAME, "h1").text == "TikTok connected"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_elements(By.TAG_NAME, "main")
    items = browser.find_elements(By.CSS_SELECTOR, "#advertisers li")
    listed = {item.get_attribute("data-advertiser-id"): item.text for item in items}
    expected = stack.emulator.config.advertisers
    assert set(listed) == set(expected)
    for advertiser_id, name in expected.items():
        assert name in listed[advertiser_id]
        assert advertiser_id in listed[advertiser_id]

    # The token landed in Secrets Manager (moto), and never on the page.
    name = f"{stack.names['authorizations_secret_prefix']}browser"
    stored = json.loads(
        stack.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    )
    assert sorted(stored["advertiser_ids"]) == sorted(expected)
    assert stored["label"] == "browser"
    record = stack.emulator.state.token_record(stored["access_token"])
    assert record is not None
    assert not record.revoked
    assert stored["access_token"] not in browser.page_source
