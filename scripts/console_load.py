"""Console page-load time in headless Chromium, printed as figures (run by `cargo bench --bench metrics`, which
starts the daemon and its groups; usable by hand against any daemon):

    python scripts/console_load.py http://127.0.0.1:9736 ACCESS_KEY_ID SECRET_ACCESS_KEY [GROUP] [LOADS]

Each load is a full navigation to the group list (no cache: the console's answers are no-store), measured in the
page: from the start of navigation until the list is drawn with every group (the `list-rendered` mark), and until
the browser's load event. With GROUP, the same for that group's page (`group-rendered`: topology, configuration,
events and charts drawn). Medians, 90th percentiles and maxima over LOADS loads (default 20)."""

import statistics
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def figures(xs):
    xs = sorted(xs)
    return f"median {statistics.median(xs):.0f} ms, p90 {xs[int(len(xs) * 0.9) - 1]:.0f} ms, max {xs[-1]:.0f} ms"


def timed(d, url, mark, rows=None):
    d.get(url)
    WebDriverWait(d, 30, poll_frequency=0.02).until(
        lambda d: d.execute_script(f"return performance.getEntriesByName('{mark}').length") > 0)
    if rows is not None:
        shown = len(d.find_elements(By.CSS_SELECTOR, "#groups tbody tr[data-id]"))
        assert shown == rows, f"{shown} rows shown, {rows} expected"
    rendered = d.execute_script(f"return performance.getEntriesByName('{mark}')[0].startTime")
    loaded = d.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd")
    return rendered, loaded


def main():
    endpoint, key_id, secret = sys.argv[1:4]
    group = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
    loads = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        o.add_argument(a)
    d = webdriver.Chrome(options=o, service=Service("/usr/bin/chromedriver"))
    try:
        d.get(endpoint + "/console/")
        WebDriverWait(d, 30).until(lambda d: d.find_elements(By.ID, "login-form"))
        d.find_element(By.ID, "access_key_id").send_keys(key_id)
        d.find_element(By.ID, "secret_access_key").send_keys(secret)
        d.find_element(By.ID, "login-button").click()
        WebDriverWait(d, 30).until(lambda d: d.execute_script("return document.body.dataset.loaded") == "list")
        rows = len(d.find_elements(By.CSS_SELECTOR, "#groups tbody tr[data-id]"))
        timed(d, endpoint + "/console/?warm#/", "list-rendered", rows)
        rendered, loaded = [], []
        for i in range(loads):
            r, l = timed(d, f"{endpoint}/console/?load={i}#/", "list-rendered", rows)
            rendered.append(r)
            loaded.append(l)
        print(f"console: group list with {rows} entries, {loads} full loads in headless Chromium: drawn with its data "
              f"{figures(rendered)}; load event {figures(loaded)}")
        if group:
            rendered = []
            for i in range(loads):
                r, _ = timed(d, f"{endpoint}/console/?load={i}#/groups/{group}", "group-rendered")
                rendered.append(r)
            print(f"console: a group's page ({group}), {loads} full loads: drawn with topology, configuration, events "
                  f"and charts {figures(rendered)}")
    finally:
        d.quit()


if __name__ == "__main__":
    main()
