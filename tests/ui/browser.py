"""A real Chromium driven through chromedriver (Selenium), with waits on elements, never sleeps.

Skips with a reason when Debian's `chromium` or `chromium-driver` is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# A signed-out page asks /auth/me who it is: the 401 is the expected answer, not a fault.
SIGNED_OUT_PROBE = "/auth/me - Failed to load resource: the server responded with a status of 401"
WAIT_S = 20.0  # generous: two cores shared by several test runs


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists() and shutil.which(Path(path).name) is None:
            return f"{path} not found: install Debian's {package} to run the browser tests"
    return None


class Browser:
    """One headless Chromium for a test module; `url` is the gateway's base URL."""

    def __init__(self, width: int = 1366, height: int = 900) -> None:
        reason = missing()
        if reason:
            pytest.skip(reason)
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            f"--window-size={width},{height}",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(shutil.which("chromedriver") or CHROMEDRIVER)
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(60)
        self.url = ""

    def close(self) -> None:
        """Quit the browser and its driver."""
        self.driver.quit()

    def open(self, path: str) -> None:
        """Load a page of the gateway."""
        self.driver.get(self.url + path)

    def until(self, condition: Callable[[Any], T], timeout: float = WAIT_S, poll: float = 0.1) -> T:
        """Wait for a condition of the driver (explicit wait, polled)."""
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=poll).until(condition)

    def filtered(self, form: str, rows: str, wanted: Callable[[str], bool]) -> Any:
        """Submit a filter form until a row of the result is wanted (the views lag the
        ledger a moment); the row."""
        from selenium.common.exceptions import StaleElementReferenceException

        def probe(driver: Any) -> Any:
            try:
                if self.all("[aria-busy=true]"):  # a load in flight: its answer re-renders
                    return False
                found = [row for row in self.all(rows) if wanted(row.text)]
                if not found:
                    self.button("Filter", form).click()
            except StaleElementReferenceException:
                return False
            return found[0] if found else False

        return self.until(probe, poll=0.5)

    def find(self, css: str, timeout: float = WAIT_S) -> Any:
        """The first visible element matching a CSS selector, once it is there."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        def visible(driver: Any) -> Any:
            try:
                for element in driver.find_elements(By.CSS_SELECTOR, css):
                    if element.is_displayed():
                        return element
            except StaleElementReferenceException:  # re-rendered meanwhile: look again
                pass
            return False

        return self.until(visible, timeout)

    def all(self, css: str) -> list[Any]:
        """Every element matching a CSS selector now."""
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text_of(self, css: str, wanted: Callable[[str], bool], timeout: float = WAIT_S) -> str:
        """The text of the element once `wanted` holds for it."""
        from selenium.common.exceptions import StaleElementReferenceException

        def check(driver: Any) -> str | bool:
            try:
                text = str(self.find(css, timeout).text)
            except StaleElementReferenceException:
                return False
            return text if wanted(text) else False

        return str(self.until(check, timeout))

    def button(self, label: str, within: str = "body") -> Any:
        """The visible button whose text or aria-label is `label`."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        def found(driver: Any) -> Any:
            try:
                for element in driver.find_elements(By.CSS_SELECTOR, f"{within} button"):
                    text = (element.get_attribute("textContent") or "").strip()
                    named = label in (text, element.get_attribute("aria-label"))
                    if named and element.is_displayed():
                        return element
            except StaleElementReferenceException:
                pass
            return False

        return self.until(found)

    def fill(self, css: str, value: str) -> None:
        """Clear an input and type a value into it."""
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def login(self, token: str) -> None:
        """Sign in with an admin token (the interim login: token kept in sessionStorage)."""
        self.open("/ui/")
        self.fill("input[name=token]", token)
        self.button("Sign in").click()
        self.find("#logout")
        self.until(lambda driver: driver.get_cookie("govledger_session"))

    def logout(self) -> None:
        """Sign out, back to the login form."""
        self.find("#logout").click()
        self.find("input[name=token]")

    def go(self, page: str, heading: str) -> None:
        """Open a page of the app by its hash and wait for its heading."""
        from selenium.common.exceptions import TimeoutException

        self.driver.execute_script("location.hash = arguments[0]", f"#/{page}")
        try:
            self.text_of("main h1", lambda text: text == heading)
        except TimeoutException:
            shown = self.driver.execute_script("return document.body.innerText")
            raise AssertionError(f"{heading!r} not shown: {shown[:300]!r}") from None

    def axe(self) -> list[dict[str, Any]]:
        """The serious and critical violations axe-core (vendored) finds on the page."""
        self.driver.execute_script(AXE.read_text())
        result: dict[str, Any] = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(r), e => done({error: String(e)}));"
        )
        if "error" in result:
            raise AssertionError(result["error"])
        return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]

    def console_problems(self) -> list[str]:
        """Console errors since the last call (CSP violations, script errors, failed loads)."""
        entries = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        found = [str(e["message"]) for e in entries if e["level"] in ("SEVERE", "ERROR")]
        return [m for m in found if SIGNED_OUT_PROBE not in m]

    def screenshot(self, path: Path) -> None:
        """Save the page as a PNG."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
