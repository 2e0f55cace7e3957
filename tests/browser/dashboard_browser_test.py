#!/usr/bin/python3
"""The dashboard in a real browser (Debian's headless chromium through chromedriver and
python3-selenium) against a real controller, PostgreSQL and three agents:
  dashboard_browser_test.py CONTROLLER CLI AGENT ARTIFACTS_DIR
As the operator: log in with the token form; the fleet page shows 3/3 converged; the keys page
draws the rotation chart and shows the hostile key comment as literal text (no alert, no script
or img element added); alice's key page -> Revoke… -> the confirmation names the key and every
host -> confirm -> the rollout view reaches N/N without a page reload, and alice's line is gone
from every sandbox host's authorized_keys; an access review lists the entries; the audit page
lists the key.revoke and the chain verifies (as the auditor: the operator may not read the audit
log), and bob's key page has no revoke button for the auditor. No page may log a
Content-Security-Policy violation or a script error. A screenshot of every page goes to
ARTIFACTS_DIR (NAME.png: the 1366x900 window; NAME-full.png: the whole page when it is taller;
fleet-1920.png and keys-1920.png: a 1920x1080 window).
The browser trusts the controller's CA through an NSS database in its own HOME (certutil).
Fails, never skips, when chromium, chromedriver, selenium or certutil is missing."""

import os
import shutil
import sys
import time
import traceback
from urllib.parse import quote

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_harness import (HOSTILE_COMMENT, HOSTS, Deployment, Failure,  # noqa: E402
                               binaries_from_argv, check, run)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CERTUTIL = "/usr/bin/certutil"
WAIT = 20  # seconds for any page element
ROLLOUT_WAIT = 45  # seconds for a revocation's rollout to reach N/N

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException, TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as error:
    print(f"FAIL: python3-selenium is missing ({error}); deploy/install-deps.sh installs it")
    sys.exit(1)


def check_prerequisites():
    """Before starting anything: the browser, its driver and certutil are installed."""
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver"),
                            (CERTUTIL, "libnss3-tools")):
        check(os.access(binary, os.X_OK),
              f"{binary} is missing: install {package} (deploy/install-deps.sh does)")


def trusting_home(deployment):
    """A HOME whose NSS database (~/.pki/nssdb, where Chromium on Linux looks) trusts the
    controller's CA for TLS servers, and nothing else was added: the dashboard's certificate is
    verified for real, for the name 127.0.0.1."""
    home = deployment.path("browser-home")
    nssdb = os.path.join(home, ".pki", "nssdb")
    os.makedirs(nssdb, mode=0o700)
    run([CERTUTIL, "-N", "-d", f"sql:{nssdb}", "--empty-password"])
    run([CERTUTIL, "-A", "-d", f"sql:{nssdb}", "-n", "keyfleet test CA", "-t", "C,,",
         "-i", deployment.ca_file])
    return home


def start_browser(deployment):
    home = trusting_home(deployment)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1366,900", "--hide-scrollbars",
                 f"--user-data-dir={deployment.path('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The log path puts the work directory on chromedriver's command line: the harness's
    # watchdog finds it there if this process dies. Chromium inherits chromedriver's HOME.
    service = Service(CHROMEDRIVER, env=dict(os.environ, HOME=home),
                      service_args=[f"--log-path={deployment.path('chromedriver.out')}"])
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


class Page:
    """The browser with the waits and checks the steps share."""

    def __init__(self, driver, base_url, artifacts):
        self.driver = driver
        self.base = base_url
        self.artifacts = artifacts
        self.console = []  # browser log entries seen so far

    def wait(self, what, condition, timeout=WAIT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
                lambda d: condition())
        except TimeoutException:
            raise Failure(f"timed out after {timeout}s waiting for {what} "
                          f"(at {self.driver.current_url})")

    def find(self, css):
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def visible(self, css):
        e = self.find(css)
        return e if e is not None and e.is_displayed() else None

    def text(self, css):
        e = self.find(css)
        return e.text if e is not None else ""

    def wait_visible(self, css, timeout=WAIT):
        return self.wait(f"{css} to show", lambda: self.visible(css), timeout)

    def go(self, route):
        """Follows an in-page route (hash change: no reload)."""
        self.driver.execute_script("location.hash = arguments[0];", route)

    def no_alert(self, where):
        try:
            alert = self.driver.switch_to.alert
            text = alert.text
            alert.dismiss()
            raise Failure(f"{where}: a JavaScript alert opened: {text!r}")
        except NoAlertPresentException:
            pass

    def screenshot(self, name):
        os.makedirs(self.artifacts, exist_ok=True)
        self.driver.save_screenshot(os.path.join(self.artifacts, name + ".png"))
        # The whole page too, when it is taller than the window: the window made as tall as
        # the document for one shot.
        height, inner, outer = self.driver.execute_script(
            "return [document.documentElement.scrollHeight, innerHeight, outerHeight];")
        if height > inner:
            self.driver.set_window_size(1366, min(height + (outer - inner), 6000))
            self.driver.save_screenshot(os.path.join(self.artifacts, name + "-full.png"))
            self.driver.set_window_size(1366, 900)

    def screenshot_wide(self, name):
        """NAME-1920.png in a 1920x1080 window (a desktop screen; the default is a laptop's)."""
        self.driver.set_window_size(1920, 1080)
        time.sleep(0.3)  # the rollout chart and the layout follow the width
        self.driver.save_screenshot(os.path.join(self.artifacts, name + "-1920.png"))
        self.driver.set_window_size(1366, 900)

    def check_console(self, where):
        """No CSP violation and no script error in the browser's log since the last call."""
        entries = self.driver.get_log("browser")
        self.console.extend(entries)
        bad = [e["message"] for e in entries
               if "Content Security Policy" in e["message"] or "Uncaught" in e["message"]
               or ("SEVERE" == e.get("level") and "/app.js" in e["message"]
                   and "Failed to load resource" not in e["message"])]
        check(not bad, f"{where}: the browser logged:\n  " + "\n  ".join(bad))

    def login(self, token):
        self.wait_visible("#login-token")
        box = self.find("#login-token")
        check(box.get_attribute("type") == "password", "the token input is not a password input")
        box.clear()
        box.send_keys(token)
        self.find("#login-submit").click()
        self.wait_visible("#topbar")


def clear_input(box):
    """Empties a text box the way a user does (select all, delete: input events fire), then
    leaves it, so that screenshots show no caret."""
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.parent.execute_script("arguments[0].blur();", box)


def fleet_page(page):
    page.wait("the fleet counts", lambda: page.find("#fleet-counts [data-state=converged] .value"))
    total = len(HOSTS)
    page.wait(f"{total} converged hosts",
              lambda: page.text("#fleet-counts [data-state=converged] .value") == str(total))
    summary = page.text("#fleet-summary")
    check(summary == f"{total}/{total} converged", f"fleet summary says {summary!r}")
    for state in ("pending", "failed", "offline"):
        value = page.text(f"#fleet-counts [data-state={state}] .value")
        check(value == "0", f"fleet shows {value!r} {state} hosts, expected 0")
    page.screenshot("fleet")
    page.screenshot_wide("fleet")
    page.check_console("fleet page")


def keys_page(page, deployment):
    page.go("#/keys")
    page.wait_visible("#rotation-chart")
    page.wait_visible("#key-list")
    bars = page.driver.find_elements(By.CSS_SELECTOR, "#rotation-chart rect")
    check(bars, "the rotation chart draws no bar")
    check("%" in page.text("#campaign"), f"campaign figure: {page.text('#campaign')!r}")
    cells = [td.get_attribute("textContent")
             for td in page.driver.find_elements(By.CSS_SELECTOR, "#key-list td")]
    check(HOSTILE_COMMENT in cells,
          f"the hostile comment is not shown as literal text in the key list: {cells!r}")
    for fp in (k["fingerprint"] for k in deployment.keys.values()):
        check(any(fp == c for c in cells), f"key {fp} is not in the key list")
    page.no_alert("keys page")
    scripts = page.driver.execute_script(
        "return Array.from(document.scripts, s => s.getAttribute('src'));")
    check(scripts == ["/app.js"], f"script elements on the page: {scripts!r}")
    check(not page.driver.find_elements(By.CSS_SELECTOR, "img"), "an <img> element was added")
    # The filter box narrows the list client side.
    box = page.find("#key-filter")
    box.send_keys("mallory")
    page.wait("the filter to leave mallory's key only",
              lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#key-list tbody tr")) == 1)
    clear_input(box)
    page.wait("the filter to clear",
              lambda: len(page.driver.find_elements(By.CSS_SELECTOR, "#key-list tbody tr")) ==
              len(deployment.keys))
    page.screenshot("keys")
    page.screenshot_wide("keys")
    page.check_console("keys page")


def revoke_from_key_page(page, deployment):
    key = deployment.keys["alice"]
    page.go("#/key/" + quote(key["fingerprint"], safe=""))
    page.wait_visible("#key-fields")
    check(HOSTILE_COMMENT not in page.text("#key-fields"), "wrong key page")
    page.wait_visible("#revoke-button").click()
    page.wait_visible("#revoke-dialog")
    dialog = page.text("#revoke-dialog")
    for must in [key["fingerprint"], "alice", "alice@laptop", f"{len(HOSTS)} hosts"] + list(HOSTS):
        check(must in dialog, f"the confirmation does not name {must!r}:\n{dialog}")
    page.find("#revoke-reason").send_keys("laptop stolen (browser test)")
    page.screenshot("key-revoke-dialog")
    # A marker that a reload would lose: the rollout must update in place.
    page.driver.execute_script("window.keyfleetNoReload = true;")
    page.find("#revoke-confirm").click()
    page.wait("the confirmation to close", lambda: not page.visible("#revoke-dialog"))
    page.wait("the rollout route", lambda: "#/rollout/" in page.driver.current_url)
    change = page.driver.current_url.rsplit("/", 1)[1]
    check(change.isdigit(), f"rollout route {page.driver.current_url!r} names no change")
    page.wait_visible("#rollout-count")
    first = page.text("#rollout-count")
    target = f"{len(HOSTS)}/{len(HOSTS)}"
    page.wait(f"the rollout to reach {target} (first seen {first})",
              lambda: page.text("#rollout-count") == target, timeout=ROLLOUT_WAIT)
    check(page.driver.execute_script("return window.keyfleetNoReload === true;"),
          "the page reloaded while following the rollout")
    heading = page.text("#view h1")
    check(f"change {change}" in heading, f"rollout heading: {heading!r}")
    # Let the chart collect a few samples before the screenshot.
    time.sleep(2)
    page.screenshot("rollout")
    page.check_console("rollout page")
    blob = key["line"].split()[1]
    for host in HOSTS:
        text = deployment.authorized_keys(host, "alice")
        check(blob not in text,
              f"alice's key is still in {host}:~alice/.ssh/authorized_keys:\n{text}")
    state = deployment.cli_json("key", "show", key["fingerprint"])
    check("REVOKED" in str(state), f"`keyfleet key show` after the revocation: {state}")
    return change


def access_page(page, deployment):
    page.go("#/access")
    page.wait_visible("#access-host").send_keys("web-1")
    page.find("#access-account").send_keys("bob")
    page.find("#access-form button[type=submit]").click()
    page.wait_visible("#access-table")
    rows = page.driver.find_elements(By.CSS_SELECTOR, "#access-table tbody tr")
    check(rows, "the access review for web-1/bob lists nothing")
    check(deployment.keys["bob"]["fingerprint"] in page.text("#access-table"),
          f"bob's key is not in web-1's access review:\n{page.text('#access-table')}")
    page.find("#reach-query").send_keys("bob")
    page.find("#reach-form button[type=submit]").click()
    page.wait_visible("#reach-result #reach-table")
    reach = page.text("#reach-result")
    for host in ("web-1", "dev-1"):
        check(host in reach, f"bob's reach does not name {host}:\n{reach}")
    page.screenshot("access")
    page.check_console("access page")


def audit_page(page, deployment):
    page.go("#/audit")
    page.wait_visible("#audit-table")
    # The audit action is key.revoke (key.revoked is the webhook event's name).
    alice = deployment.keys["alice"]["fingerprint"]
    rows = [row.text for row in page.driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")]
    check(any("token:ops" in r and "key.revoke" in r and alice in r for r in rows),
          "the audit page does not list the operator's key.revoke of alice's key:\n" +
          "\n".join(rows))
    page.find("#verify-button").click()
    page.wait("the chain verification", lambda: "checked" in page.text("#verify-result"))
    result = page.text("#verify-result")
    check(result.startswith("ok"), f"Verify chain says: {result!r}")
    page.find("#audit-filter").send_keys("key.revoke")
    page.wait("the audit filter", lambda: [
        row.text for row in page.driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")
        if "key.revoke" not in row.text] == [])
    clear_input(page.find("#audit-filter"))
    page.screenshot("audit")
    page.check_console("audit page")


def log_in_as_auditor(page, deployment):
    page.find("#logout").click()
    page.wait_visible("#login-token")
    page.login(deployment.token("auditor"))
    page.wait("the auditor's role", lambda: page.text("#who-role") == "auditor")


def auditor_key_page(page, deployment):
    page.go("#/key/" + quote(deployment.keys["bob"]["fingerprint"], safe=""))
    page.wait_visible("#key-fields")
    page.wait_visible("#reach-table")
    check(page.find("#revoke-button") is None, "the auditor sees a revoke button")
    check("Revoke" not in page.text("#view"), "the auditor's key page mentions Revoke")
    page.screenshot("auditor-key")
    page.check_console("auditor's key page")


def main(argv):
    controller, cli, agent = binaries_from_argv(argv, __doc__)
    if len(argv) < 5:
        raise SystemExit(__doc__)
    artifacts = os.path.abspath(argv[4])
    shutil.rmtree(artifacts, ignore_errors=True)
    os.makedirs(artifacts)
    try:
        check_prerequisites()
        deployment = Deployment(controller, cli, agent)
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    driver = None
    step = "setup"
    try:
        deployment.start()
        step = "starting chromium"
        driver = start_browser(deployment)
        page = Page(driver, deployment.url, artifacts)
        step = "login"
        driver.get(deployment.url + "/")
        page.wait_visible("#login-token")
        page.screenshot("login")
        page.login(deployment.token("operator"))
        check(page.text("#who-role") == "operator", f"role shown: {page.text('#who-role')!r}")
        for step, action in (("fleet page", lambda: fleet_page(page)),
                          ("keys page", lambda: keys_page(page, deployment)),
                          ("revocation", lambda: revoke_from_key_page(page, deployment)),
                          ("access review", lambda: access_page(page, deployment)),
                          # The audit log is for admins and auditors (the gRPC role table).
                          ("log in as the auditor", lambda: log_in_as_auditor(page, deployment)),
                          ("audit page", lambda: audit_page(page, deployment)),
                          ("auditor's key page", lambda: auditor_key_page(page, deployment))):
            print(f"-- {step}", flush=True)
            action()
        print(f"dashboard_browser: passed; screenshots in {artifacts}")
        return 0
    except Exception as error:
        detail = str(error) if isinstance(error, Failure) else traceback.format_exc()
        print(f"FAIL ({step}): {detail}")
        if driver is not None:
            try:
                driver.save_screenshot(os.path.join(artifacts, "failure.png"))
                print(f"failure screenshot: {os.path.join(artifacts, 'failure.png')}")
                for entry in driver.get_log("browser"):
                    print(f"browser log: {entry['level']} {entry['message']}")
            except Exception:
                pass
        print(deployment.logs())
        return 1
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        deployment.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
