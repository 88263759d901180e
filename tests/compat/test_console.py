"""The web console, end to end in headless Chromium (Debian's chromium and chromium-driver, driven by selenium):
log in, create a group through the form, watch it become available with three nodes and one primary (and prove it
with a Redis client through the endpoint the page shows), run TestFailover and see the primary change and the event
appear, survive a restart of the daemon and a second browser, delete the group. Screenshots of each page are saved
under tests/compat/output/console/ (CACHEPLANE_SCREENSHOTS overrides)."""

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import pytest
import redis
from botocore.config import Config
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from test_compat import BINARY, KEY_ID, SECRET, running_daemon

SHOTS = os.environ.get("CACHEPLANE_SCREENSHOTS", os.path.join(os.path.dirname(__file__), "output", "console"))
PASSWORD = "console-password-for-tests"


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = os.environ.get("CACHEPLANE_CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1900"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=o, service=Service(os.environ.get("CACHEPLANE_CHROMEDRIVER", "/usr/bin/chromedriver")))


@contextlib.contextmanager
def browsers(n):
    drivers = []
    try:
        for _ in range(n):
            drivers.append(browser())
        yield drivers
    finally:
        for d in drivers:
            d.quit()


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def wait(d, cond, timeout=30, what="the condition"):
    # The pages redraw every two seconds: an element found a moment ago may be gone.
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(cond)
    except Exception:
        shot(d, "failed")
        raise AssertionError(f"timed out waiting for {what}; the page said:\n{d.find_element(By.TAG_NAME, 'body').text}")


def loaded(d, page):
    return d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == page


def log_in(d, base, **fields):
    d.get(base + "/console/")
    wait(d, lambda d: d.find_elements(By.ID, "login-form"), what="the login form")
    for k, v in fields.items():
        d.find_element(By.ID, k).send_keys(v)
    d.find_element(By.ID, "login-button").click()


def text(d, css):
    return d.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css)


def primary_of(d):
    """The topology's nodes as (id, role, address), and the ids of its primaries."""
    nodes = d.execute_script("return [...document.querySelectorAll('#topology .node')]"
                             ".map(n => [n.dataset.id, n.dataset.role, n.dataset.address])")
    return nodes, [n[0] for n in nodes if n[1] == "primary"]


def csp_violations(d):
    return [e["message"] for e in d.get_log("browser") if "Content Security Policy" in e["message"]]


def client(endpoint):
    return boto3.client("elasticache", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID,
                        aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 1}))


def request(url, method="GET", body=None, headers=None, cookie=None):
    req = urllib.request.Request(url, method=method, data=body, headers=dict(headers or {}))
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def test_console_refuses_requests_without_a_login(monkeypatch):
    monkeypatch.setenv("CACHEPLANE_CONSOLE_PASSWORD", PASSWORD)
    with running_daemon() as (endpoint, _, _):
        c = endpoint + "/console"
        # The page itself carries no data; everything behind it needs a session.
        status, page, headers = request(c + "/")
        assert status == 200 and "app.js" in page and KEY_ID not in page
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        for method, path in [("GET", "/api/list"), ("GET", "/api/groups/g1"), ("GET", "/api/ca.pem"),
                             ("GET", "/api/session"), ("POST", "/api/action")]:
            status, body, _ = request(c + path, method, b"Action=DescribeReplicationGroups" if method == "POST" else None,
                                      {"X-Console": "1"})
            assert status == 401, (path, status, body)
            assert json.loads(body)["code"] == "NotLoggedIn"
        # A forged or expired session is no session.
        for forged in ["v1.99999999999.00", "v1.1.abc", "nonsense"]:
            status, _, _ = request(c + "/api/list", cookie=f"cacheplane_console={forged}")
            assert status == 401
        # Wrong credentials: refused, no cookie.
        for login in [{"access_key_id": KEY_ID, "secret_access_key": "wrong"}, {"password": "wrong"}, {}]:
            status, body, headers = request(c + "/login", "POST", json.dumps(login).encode(), {"X-Console": "1"})
            assert status == 401 and json.loads(body)["code"] == "LoginRefused" and "Set-Cookie" not in headers
        # A login from another site's page cannot carry X-Console without a preflight this server never grants.
        status, _, _ = request(c + "/login", "POST", json.dumps({"password": PASSWORD}).encode())
        assert status == 403
        # The password opens it; a change still needs the header.
        status, _, headers = request(c + "/login", "POST", json.dumps({"password": PASSWORD}).encode(), {"X-Console": "1"})
        assert status == 200
        cookie = headers["Set-Cookie"].split(";")[0]
        assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
        status, body, _ = request(c + "/api/list", cookie=cookie)
        assert status == 200 and json.loads(body) == []
        status, _, _ = request(c + "/api/action", "POST", b"Action=DescribeReplicationGroups&Version=2015-02-02", cookie=cookie)
        assert status == 403
        # An action is the API's own: its answer, its error codes and statuses.
        status, body, _ = request(c + "/api/action", "POST", b"Action=DescribeReplicationGroups&ReplicationGroupId=nope&Version=2015-02-02",
                                  {"X-Console": "1"}, cookie)
        assert status == 404 and "<Code>ReplicationGroupNotFoundFault</Code>" in body
        status, body, _ = request(c + "/api/action", "POST", b"Action=CreateReplicationGroup&ReplicationGroupId=-bad&Version=2015-02-02",
                                  {"X-Console": "1"}, cookie)
        assert status == 400 and "<Code>" in body
        # The SigV4 API is unchanged beside it: an unsigned request is still refused.
        status, body, _ = request(endpoint + "/?Action=DescribeReplicationGroups&Version=2015-02-02")
        assert status == 403 and "MissingAuthenticationToken" in body


def test_console_end_to_end_in_headless_chromium(monkeypatch):
    monkeypatch.setenv("CACHEPLANE_CONSOLE_PASSWORD", PASSWORD)
    with running_daemon(extra=("--metrics-interval", "1")) as (endpoint, data_dir, proc), browsers(2) as (d, d2):
        ec = client(endpoint)
        base = endpoint
        # A group with an AUTH token and TLS, made through the API: its page must not show the token.
        token = "console-test-auth-token-0123456789"
        ec.create_replication_group(ReplicationGroupId="tok", ReplicationGroupDescription="t", NumCacheClusters=1,
                                    CacheNodeType="cache.t4g.micro", TransitEncryptionEnabled=True, AuthToken=token)

        log_in(d, base, access_key_id=KEY_ID, secret_access_key="wrong")
        wait(d, lambda d: "LoginRefused" in text(d, "#login-form"), what="the refusal")
        shot(d, "01-login")
        d.find_element(By.ID, "secret_access_key").clear()
        d.find_element(By.ID, "secret_access_key").send_keys(SECRET)
        d.find_element(By.ID, "login-button").click()
        wait(d, lambda d: loaded(d, "list") and d.find_elements(By.CSS_SELECTOR, "#groups tr[data-id=tok]"), what="the list")

        # Create through the form, with its defaults (two replicas).
        d.find_element(By.ID, "create").click()
        wait(d, lambda d: loaded(d, "create"), what="the form")
        d.find_element(By.ID, "ReplicationGroupId").send_keys("-bad")
        d.find_element(By.ID, "create-submit").click()
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#main .error"), what="AWS's error")
        assert "InvalidParameterValue" in text(d, "#main .error")
        d.find_element(By.ID, "ReplicationGroupId").clear()
        d.find_element(By.ID, "ReplicationGroupId").send_keys("web1")
        d.find_element(By.ID, "Tags").send_keys("team=payments, env=test")
        shot(d, "02-create-form")
        d.find_element(By.ID, "create-submit").click()
        wait(d, lambda d: loaded(d, "group") and d.find_elements(By.ID, "status"), what="the group's page")
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#operations [data-kind=create]"), 20, "the create progress bar")
        shot(d, "03-creating")
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#status .badge.available"), 120, "available")

        # Three nodes, one primary, each with its memory bar.
        nodes, primaries = wait(d, lambda d: (lambda n, p: (n, p) if len(n) == 3 and len(p) == 1 else None)(*primary_of(d)),
                                30, "three nodes with one primary")
        first = primaries[0]
        # The connection string the page shows works: a key written through the primary endpoint is read from a
        # replica the topology names.
        cli = d.execute_script("return [...document.querySelectorAll('#connect code.connection')]"
                               ".map(e => e.innerText).find(t => t.startsWith('redis-cli'))")
        args = shlex.split(cli)
        host, port = args[args.index("-h") + 1], int(args[args.index("-p") + 1])
        redis.Redis(host=host, port=port).set("from-console", "yes")
        replica_addr = next(n[2] for n in nodes if n[1] == "replica")
        rhost, rport = replica_addr.rsplit(":", 1)
        deadline = time.time() + 10
        while redis.Redis(host=rhost, port=int(rport)).get("from-console") != b"yes":
            assert time.time() < deadline, "the replica never had the key"
            time.sleep(0.1)
        wait(d, lambda d: "team" in text(d, "#tags") and "payments" in text(d, "#tags"),
             what="the tags")
        assert "default.redis7" in text(d, "#configuration")
        # The charts fill as the collector reads the nodes (every second here).
        wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-ops polyline")) == 3, 30, "the ops/s chart")
        shot(d, "04-group")

        # A second browser, logged in with the console password, on the same page.
        log_in(d2, base, password=PASSWORD)
        wait(d2, lambda d: loaded(d, "list"), what="the second browser's list")
        d2.get(base + "/console/#/groups/web1")
        wait(d2, lambda d: primary_of(d)[1] == [first], 30, "the second browser's topology")

        # TestFailover from the page: the primary changes and the event appears, in both browsers.
        d.find_element(By.ID, "test-failover").click()
        wait(d, lambda d: d.find_element(By.ID, "confirm").is_displayed(), what="the confirmation")
        d.find_element(By.ID, "confirm-ok").click()
        wait(d, lambda d: d.find_elements(By.ID, "action-done"), 15, "TestFailover accepted")
        second = wait(d, lambda d: (lambda p: p[0] if len(p) == 1 and p[0] != first else None)(primary_of(d)[1]),
                      90, "another primary")
        wait(d, lambda d: "Test Failover API called for node group 0001" in text(d, "#events"), 30,
             "the TestFailover event")
        wait(d, lambda d: "Failover from primary node" in text(d, "#events"), 60, "the failover event")
        wait(d2, lambda d: primary_of(d)[1] == [second], 30, "the second browser to see the new primary")
        # The API agrees with the page.
        g = ec.describe_replication_groups(ReplicationGroupId="web1")["ReplicationGroups"][0]
        roles = {m["CacheClusterId"]: m["CurrentRole"] for m in g["NodeGroups"][0]["NodeGroupMembers"]}
        assert roles[second] == "primary" and roles[first] == "replica"
        shot(d, "05-after-failover")

        # Reboot a replica from its card: its process restarts (a new run id) and the event appears.
        nodes, _ = primary_of(d)
        rid, _, raddr = next(n for n in nodes if n[1] == "replica")
        rhost, rport = raddr.rsplit(":", 1)
        run_id = redis.Redis(host=rhost, port=int(rport)).info("server")["run_id"]
        d.find_element(By.CSS_SELECTOR, f".reboot[data-id='{rid}']").click()
        wait(d, lambda d: d.find_element(By.ID, "confirm").is_displayed(), what="the confirmation")
        d.find_element(By.ID, "confirm-ok").click()
        wait(d, lambda d: f"{rid}: Cache node 0001 restarted" in text(d, "#events"), 60, "the reboot event")

        def new_run_id():
            try:
                return redis.Redis(host=rhost, port=int(rport)).info("server")["run_id"] != run_id
            except redis.ConnectionError:
                return False
        wait(d, lambda d: new_run_id(), 30, "the node's new process")

        # A snapshot from the page: the API lists it, and it becomes available.
        d.find_element(By.ID, "snapshot").click()
        wait(d, lambda d: d.find_element(By.ID, "confirm").is_displayed(), what="the confirmation")
        d.find_element(By.ID, "confirm-ok").click()
        wait(d, lambda d: "CreateSnapshot: requested" in text(d, "#action-done"), 15, "CreateSnapshot accepted")
        wait(d, lambda d: [s["SnapshotStatus"] for s in ec.describe_snapshots(ReplicationGroupId="web1")["Snapshots"]]
             == ["available"], 60, "the snapshot")

        # A restart of the daemon: the page says so, then carries on with the same session.
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait(d, lambda d: "not answering" in text(d, "#conn"), 15, "the page to notice")
        port = endpoint.rsplit(":", 1)[1]
        env = dict(os.environ, CACHEPLANE_ACCESS_KEY_ID=KEY_ID, CACHEPLANE_SECRET_ACCESS_KEY=SECRET)
        restarted = subprocess.Popen([BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                                      "--metrics-listen", "off"], stdout=subprocess.PIPE, env=env, text=True)
        try:
            assert "API listening" in restarted.stdout.readline()
            wait(d, lambda d: text(d, "#conn") == "" and primary_of(d)[1] == [second], 30,
                 "the page to recover")
            assert not d.find_elements(By.ID, "login-form")
            wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "#main .error"), 10, "the refresh error to clear")

            # Nothing secret on any page: not the API secret, the AUTH token, the admin secret, nor the password.
            d.get(base + "/console/#/groups/tok")
            wait(d, lambda d: loaded(d, "group") and "--askpass" in text(d, "#connect"), 30, "tok's page")
            assert d.find_elements(By.ID, "ca-download")
            assert "rediss://" in text(d, "#connect")
            with open(os.path.join(data_dir, "admin.secret")) as f:
                admin = [w for w in re.split(r"\s+", f.read()) if len(w) >= 8]
            for page in (d.page_source, d2.page_source):
                for secret in [SECRET, token, PASSWORD, *admin]:
                    assert secret not in page
            shot(d, "06-tls-group")
            assert csp_violations(d) == [] and csp_violations(d2) == []

            # Delete, with the confirmation: the list loses it, and so does the API.
            d.get(base + "/console/#/groups/web1")
            wait(d, lambda d: loaded(d, "group") and d.find_elements(By.ID, "delete"), 30, "web1's page")
            d.find_element(By.ID, "delete").click()
            wait(d, lambda d: d.find_element(By.ID, "confirm").is_displayed(), what="the confirmation")
            d.find_element(By.ID, "confirm-input").send_keys("web1")
            d.find_element(By.ID, "confirm-ok").click()
            wait(d, lambda d: loaded(d, "list"), 15, "the list")
            shot(d, "07-deleting")
            wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "#groups tr[data-id=web1]"), 90, "web1 gone from the list")
            with pytest.raises(ec.exceptions.ReplicationGroupNotFoundFault):
                ec.describe_replication_groups(ReplicationGroupId="web1")
            wait(d2, lambda d: d.find_elements(By.ID, "gone"), 30, "the second browser to see it gone")
        finally:
            restarted.send_signal(signal.SIGKILL)
            restarted.wait()
