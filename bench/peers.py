"""What a user would otherwise run, for scripts/bench.sh: pysnc, requests, rookiepy and Selenium
doing the same work as the snowbridge command beside them. Not a test.

Usage: peers.py COMMAND ARGS...  (the emulator's CA is trusted through REQUESTS_CA_BUNDLE, as a
user would; sessions come from `snowbridge cookies` exports: a Netscape cookie file and the
X-UserToken header's value)

  warm-pysnc URL COOKIES TOKEN            one pysnc query of one incident, then exit
  warm-requests URL COOKIES TOKEN PATH    one requests GET of PATH, then exit
  inproc URL COOKIES TOKEN PATH RUNS      per-call times in a warm interpreter (JSON)
  export-pysnc URL COOKIES TOKEN OUT      every incident through GlideRecord (its default
                                          display values: all) as NDJSON into OUT
  rookie-inproc DB HOST RUNS              rookiepy's library call, timed in-process (JSON)
  cc-pysnc URL CLIENT_ID SECRET           pysnc's client-credentials flow and one query
  selenium-login URL DRIVER CHROME USER PASSWORD OUT
                                          log in through the form, save the cookies to OUT
  selenium-fallback URL DRIVER CHROME COOKIES_JSON attach|resolve SYS_ID [FILE]
                                          the form's attachment dialog or Resolve Incident, in
                                          a browser given the session's cookies (COOKIES_JSON:
                                          `snowbridge cookies --format json`)
"""

import http.cookiejar
import json
import os
import statistics
import sys
import time


def session_with(cookies, token):
    import requests

    jar = http.cookiejar.MozillaCookieJar(cookies)
    jar.load(ignore_discard=True, ignore_expires=True)
    s = requests.Session()
    s.cookies = jar
    s.headers.update({"X-UserToken": token, "Accept": "application/json"})
    return s


def pysnc_client(url, cookies, token):
    import pysnc

    return pysnc.ServiceNowClient(url, session_with(cookies, token))


def one_incident(client):
    gr = client.GlideRecord("incident", batch_size=1)
    gr.limit = 1
    gr.query()
    for record in gr:
        return record.get_value("number")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "warm-pysnc":
        url, cookies, token = args
        assert one_incident(pysnc_client(url, cookies, token))
    elif cmd == "warm-requests":
        url, cookies, token, path = args
        r = session_with(cookies, token).get(url + path)
        r.raise_for_status()
        assert r.json()["result"]
    elif cmd == "inproc":
        url, cookies, token, path, runs = args
        client = pysnc_client(url, cookies, token)
        s = session_with(cookies, token)
        out = {}
        for name, call in (
            ("pysnc", lambda: one_incident(client)),
            ("requests", lambda: s.get(url + path).json()["result"]),
        ):
            call()
            times = []
            for _ in range(int(runs)):
                t = time.perf_counter()
                assert call()
                times.append((time.perf_counter() - t) * 1000)
            out[name] = {"median_ms": statistics.median(times), "min_ms": min(times)}
        print(json.dumps(out))
    elif cmd == "export-pysnc":
        url, cookies, token, out = args
        client = pysnc_client(url, cookies, token)
        gr = client.GlideRecord("incident")
        gr.query()
        n = 0
        with open(out, "w") as f:
            for record in gr:
                # The record as pysnc holds it: every field's value and display value.
                f.write(json.dumps(record.serialize(display_value="both")) + "\n")
                n += 1
        print(n)
    elif cmd == "rookie-inproc":
        import rookiepy

        db, host, runs = args
        rookiepy.chromium_based(db, [host])
        times = []
        for _ in range(int(runs)):
            t = time.perf_counter()
            n = len(rookiepy.chromium_based(db, [host]))
            times.append((time.perf_counter() - t) * 1000)
        print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times), "items": n}))
    elif cmd == "cc-pysnc":
        import pysnc
        from pysnc.auth import ServiceNowClientCredentialsFlow

        url, client_id, secret = args
        client = pysnc.ServiceNowClient(url, ServiceNowClientCredentialsFlow(client_id, secret))
        assert one_incident(client)
    elif cmd == "selenium-login":
        url, driver, chrome, user, password, out = args
        browser = start_chrome(driver, chrome)
        try:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import WebDriverWait

            browser.get(url + "/login.do")
            browser.find_element(By.ID, "user_name").send_keys(user)
            browser.find_element(By.ID, "user_password").send_keys(password)
            browser.find_element(By.ID, "sysverb_login").click()
            WebDriverWait(browser, 30).until(
                lambda b: "login" not in b.current_url
                and b.execute_script("return typeof g_ck !== 'undefined' && !!g_ck")
            )
            with open(out, "w") as f:
                json.dump(browser.get_cookies(), f)
        finally:
            browser.quit()
    elif cmd == "selenium-fallback":
        url, driver, chrome, cookies, action, sys_id = args[:6]
        browser = start_chrome(driver, chrome)
        try:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import Select, WebDriverWait

            # The session's cookies go in on the instance's origin, as snowbridge seeds them.
            browser.get(url + "/robots.txt")
            with open(cookies) as f:
                jar = json.load(f)["cookies"]  # `snowbridge cookies --format json`
            for c in jar:
                browser.add_cookie({k: c[k] for k in ("name", "value", "path", "secure", "httpOnly")})
            browser.get(f"{url}/incident.do?sys_id={sys_id}")
            from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

            # The form reloads after each post: elements of the old page go stale meanwhile.
            wait = WebDriverWait(
                browser, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
            )
            if action == "attach":
                path = args[6]
                before = len(browser.find_elements(By.CSS_SELECTOR, "a.attachment"))
                browser.find_element(By.ID, "header_add_attachment").click()
                wait.until(lambda b: b.find_element(By.ID, "attachFile").is_displayed())
                browser.find_element(By.ID, "attachFile").send_keys(path)
                browser.find_element(By.ID, "attachButton").click()
                wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "a.attachment")) > before)
            else:
                Select(browser.find_element(By.ID, "incident.close_code")).select_by_visible_text(
                    "Solution provided"
                )
                browser.find_element(By.ID, "incident.close_notes").send_keys("Resolved by the bench")
                browser.find_element(By.ID, "resolve_incident").click()
                wait.until(
                    lambda b: b.find_element(By.ID, "incident.state").get_attribute("value") == "6"
                )
        finally:
            browser.quit()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


def start_chrome(driver, chrome):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


if __name__ == "__main__":
    main(sys.argv)
