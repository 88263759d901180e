"""The web console, end to end in headless Chromium (Debian's chromium and chromium-driver, driven by selenium):
log in, create a group through the form, watch it become available with three nodes and one primary (and prove it
with a Redis client through the endpoint the page shows), run TestFailover and see the primary change and the event
appear, survive a restart of the daemon and a second browser, delete the group. On the way, with the same daemon: a
cluster mode enabled group's page (no Reboot), a Memcached cluster's and a standalone cluster's pages, log delivery
and pending-reboot parameters, charts with axes and a legend that show an idle group's clients at zero, booleans
as words. Screenshots of each page are saved under tests/compat/output/console/ (CACHEPLANE_SCREENSHOTS
overrides)."""

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
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


def page_json(d, path):
    """A console JSON read made by the page itself (with its session)."""
    return d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.json()).then(done, () => done(null));", path)


def memcached_ask(host, port, line):
    """One request to a Memcached node or configuration endpoint, its answer up to END (or one line)."""
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(line.encode() + b"\r\n")
        data = b""
        while not (data.endswith(b"END\r\n") or data.endswith(b"STORED\r\n")):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode()


def dialog(d):
    """The confirmation dialog as shown: its text, whether it asks for something to type, its button."""
    return d.execute_script(
        "const shown = (id) => { const e = document.getElementById(id); return !!e && e.getClientRects().length > 0; };"
        "return {text: document.getElementById('confirm-text').innerText, label: shown('confirm-label'),"
        " input: shown('confirm-input'), word: document.getElementById('confirm-word').innerText,"
        " ok: document.getElementById('confirm-ok').innerText};")


def no_raw_booleans(d, *panels):
    said = " ".join(text(d, p) for p in panels)
    return said and not re.search(r"\b(true|false)\b", said)


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
        # Its own parameter group (changed later: a parameter pending its reboot) and a slow-log delivery.
        ec.create_cache_parameter_group(CacheParameterGroupName="tok-params", CacheParameterGroupFamily="redis7",
                                        Description="console test")
        # Made through the console's own action endpoint (the API's dispatcher), with a log delivery: the console
        # must show it (the same request through boto3 is covered by test_compat's log delivery test).
        status, _, headers = request(base + "/console/login", "POST", json.dumps({"password": PASSWORD}).encode(),
                                     {"X-Console": "1"})
        assert status == 200
        ld = "LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1."
        status, body, _ = request(base + "/console/api/action", "POST", urllib.parse.urlencode({
            "Action": "CreateReplicationGroup", "Version": "2015-02-02", "ReplicationGroupId": "tok",
            "ReplicationGroupDescription": "t", "NumCacheClusters": "1", "CacheNodeType": "cache.t4g.micro",
            "TransitEncryptionEnabled": "true", "AuthToken": token, "CacheParameterGroupName": "tok-params",
            ld + "LogType": "slow-log", ld + "DestinationType": "cloudwatch-logs",
            ld + "DestinationDetails.CloudWatchLogsDetails.LogGroup": "tok-slow", ld + "LogFormat": "json",
        }).encode(), {"X-Console": "1"}, headers["Set-Cookie"].split(";")[0])
        assert status == 200, body
        # A cluster mode enabled group, a Memcached cluster and a Redis cluster outside any group.
        ec.create_replication_group(ReplicationGroupId="cme", ReplicationGroupDescription="c", ClusterMode="enabled",
                                    NumNodeGroups=2, ReplicasPerNodeGroup=0, CacheNodeType="cache.t4g.micro")
        ec.create_cache_cluster(CacheClusterId="mc", Engine="memcached", NumCacheNodes=2, CacheNodeType="cache.t3.micro")
        ec.create_cache_cluster(CacheClusterId="solo", Engine="redis", NumCacheNodes=1, CacheNodeType="cache.t4g.micro")

        log_in(d, base, access_key_id=KEY_ID, secret_access_key="wrong")
        wait(d, lambda d: "LoginRefused" in text(d, "#login-form"), what="the refusal")
        shot(d, "01-login")
        d.find_element(By.ID, "secret_access_key").clear()
        d.find_element(By.ID, "secret_access_key").send_keys(SECRET)
        d.find_element(By.ID, "login-button").click()
        wait(d, lambda d: loaded(d, "list") and d.find_elements(By.CSS_SELECTOR, "#groups tr[data-id=tok]"), what="the list")
        # Every cache cluster has its page, as every group does.
        links = wait(d, lambda d: (lambda l: l if len(l) == 4 else None)(d.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('#groups tr[data-id]')]"
            ".map(r => [r.dataset.id, r.querySelector('a') && r.querySelector('a').getAttribute('href')]))")),
            what="the four rows")
        assert links == {"tok": "#/groups/tok", "cme": "#/groups/cme", "mc": "#/clusters/mc",
                         "solo": "#/clusters/solo"}, links

        # Create through the form, with its defaults (two replicas).
        d.find_element(By.ID, "create").click()
        wait(d, lambda d: loaded(d, "create"), what="the form")
        # No encryption at rest offered: the API refuses it; the form says so instead.
        assert not d.find_elements(By.ID, "AtRestEncryptionEnabled")
        assert "refuses AtRestEncryptionEnabled" in text(d, "#at-rest-note")
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
        # The charts fill as the collector reads the nodes (every second here): a line a node, each its own colour
        # and dash, named in the legend; axes with their values and times; what is counted said.
        wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-ops polyline")) == 3, 30, "the ops/s chart")
        for c in ("chart-ops", "chart-memory", "chart-lag"):
            styles = d.execute_script(
                "return [...document.querySelectorAll(`#${arguments[0]} polyline`)]"
                ".map(p => p.getAttribute('stroke') + '/' + p.getAttribute('stroke-dasharray'))", c)
            assert len(set(styles)) == len(styles) == 3, (c, styles)
            legend = d.execute_script(
                "return [...document.querySelectorAll(`#${arguments[0]} .legend [data-node]`)].map(e => e.innerText)", c)
            assert sorted(legend) == sorted(n[0] for n in nodes), (c, legend)
            assert len(d.find_elements(By.CSS_SELECTOR, f"#{c} .axis-y text")) >= 3
            assert len(d.find_elements(By.CSS_SELECTOR, f"#{c} .axis-x text")) >= 2
        assert "(bytes)" in text(d, "#chart-memory h4")
        assert "Clients' commands" in text(d, "#chart-ops h4")
        assert "less the commands the control plane sent it" in text(d, "#chart-ops .note")

        # An idle group: the control plane's own probes (some 10-30 a second a node) are not counted as its clients'.
        def idle(d):
            page = page_json(d, "api/groups/web1")
            if not page:
                return None
            quiet = all(len(s["ops_per_second"]) >= 4 and
                        all(v is not None and v <= 1.5 for v in s["ops_per_second"][-3:]) for s in page["series"])
            own = [s["control_ops_per_second"][-1] for s in page["series"]]
            return own if quiet and all(o and o >= 5 for o in own) else None
        wait(d, idle, 40, "an idle group's clients' commands at zero, the control plane's own apart")
        shot(d, "04-group")
        # Booleans said in words.
        wait(d, lambda d: no_raw_booleans(d, "#configuration", "#security"), 10, "booleans as words")
        assert "Encryption at rest\ndisabled" in text(d, "#security")

        # A second browser, logged in with the console password, on the same page.
        log_in(d2, base, password=PASSWORD)
        wait(d2, lambda d: loaded(d, "list"), what="the second browser's list")
        d2.get(base + "/console/#/groups/web1")
        wait(d2, lambda d: primary_of(d)[1] == [first], 30, "the second browser's topology")

        # TestFailover from the page: the primary changes and the event appears, in both browsers. Its confirmation
        # names the node group and asks for nothing to type.
        d.find_element(By.ID, "test-failover").click()
        wait(d, lambda d: d.find_element(By.ID, "confirm").is_displayed(), what="the confirmation")
        shown = dialog(d)
        assert not shown["label"] and not shown["input"], shown
        assert "node group 0001 of web1" in shown["text"] and shown["ok"] == "Fail over node group 0001", shown
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

        # A cluster mode enabled group's page (in the second browser): its node groups' slots, and no Reboot, which
        # AWS refuses for its nodes.
        d2.get(base + "/console/#/groups/cme")
        wait(d2, lambda d: loaded(d, "group") and len(primary_of(d)[1]) == 2, 60, "cme's two primaries")
        assert not d2.find_elements(By.CSS_SELECTOR, "#topology .reboot")
        slots = d2.execute_script("return [...document.querySelectorAll('#topology .slots code')]"
                                  ".map(e => [e.innerText, getComputedStyle(e).whiteSpace])")
        assert slots == [["0-8191", "nowrap"], ["8192-16383", "nowrap"]], slots
        assert [o.text for o in d2.find_elements(By.CSS_SELECTOR, "#failover-shard option")] == ["0001", "0002"]
        # Identifiers are not broken inside: an ARN only after its colons.
        arn = d2.execute_script("return [...document.querySelectorAll('#configuration code.arn span')]"
                                ".map(e => [e.innerText, getComputedStyle(e).whiteSpace])")
        assert "".join(a for a, _ in arn) == "arn:aws:elasticache:us-east-1:000000000000:replicationgroup:cme", arn
        assert all(w == "nowrap" for _, w in arn), arn
        shot(d2, "05-cluster-mode-enabled")

        # The Memcached cluster's page: its nodes, the configuration endpoint, and the node list's version as the
        # endpoint serves it; an item written shows in its node's card.
        mc = ec.describe_cache_clusters(CacheClusterId="mc", ShowCacheNodeInfo=True)["CacheClusters"][0]
        ce = mc["ConfigurationEndpoint"]
        served = memcached_ask(ce["Address"], ce["Port"], "config get cluster").split("\r\n")[1].split("\n")[0]
        first_node = mc["CacheNodes"][0]["Endpoint"]
        assert memcached_ask(first_node["Address"], first_node["Port"], "set console-item 0 0 3\r\nabc") == "STORED\r\n"
        d2.get(base + "/console/#/clusters/mc")
        wait(d2, lambda d: loaded(d, "cluster") and "1 item" in text(d, "#topology [data-id='0001'] .items"), 30,
             "mc's page with its item")
        assert f"{ce['Address']}:{ce['Port']}" in text(d2, "#discovery")
        assert f"version {served}, listing 0001, 0002" in text(d2, "#discovery")
        cards = d2.execute_script("return [...document.querySelectorAll('#topology .node')].map(n => n.dataset.address)")
        assert cards == [f"{n['Endpoint']['Address']}:{n['Endpoint']['Port']}" for n in mc["CacheNodes"]], cards
        assert not d2.find_elements(By.ID, "gone")
        shot(d2, "06-memcached")
        # `cacheplane status` takes the cluster's id too, and says the same.
        out = subprocess.run([BINARY, "status", "--data-dir", data_dir, "--replication-group-id", "mc", "--output", "json"],
                             capture_output=True, text=True, check=True).stdout
        c = json.loads(out)["cache_clusters"]
        assert [(c[0]["id"], str(c[0]["discovery_version"]), c[0]["configuration_endpoint"])] == \
            [("mc", served, f"{ce['Address']}:{ce['Port']}")], out
        assert [n["items"] for n in c[0]["nodes"]] == [1, 0], out
        out = subprocess.run([BINARY, "status", "--data-dir", data_dir, "--replication-group-id", "mc"],
                             capture_output=True, text=True, check=True).stdout
        assert f"configuration endpoint {ce['Address']}:{ce['Port']}  auto discovery version {served}: 2 nodes" in out, out

        # A Redis cluster outside any group has its page too.
        d2.get(base + "/console/#/clusters/solo")
        wait(d2, lambda d: loaded(d, "cluster") and primary_of(d)[1] == ["solo"], 30, "solo's page")
        assert not d2.find_elements(By.ID, "gone")
        assert no_raw_booleans(d2, "#configuration", "#security")
        d2.get(base + "/console/#/groups/web1")
        wait(d2, lambda d: loaded(d, "group") and primary_of(d)[1] == [second], 30, "web1 again")

        # tok's parameter group changes a parameter that takes effect at a restart: tok-001 waits for its reboot.
        ec.modify_cache_parameter_group(CacheParameterGroupName="tok-params", ParameterNameValues=[
            {"ParameterName": "databases", "ParameterValue": "32"}])

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
            # Its log delivery, and its node waiting for a reboot to take the changed parameter.
            wait(d, lambda d: "tok-slow" in text(d, "#logs [data-log-type='slow-log']"), 10, "tok's slow-log delivery")
            wait(d, lambda d: "tok-001" in text(d, "#pending-reboot")
                 and "pending reboot" in text(d, "#topology [data-id='tok-001'] .top"), 60, "tok-001 pending its reboot")
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
            shown = dialog(d)
            assert shown["label"] and shown["input"] and shown["word"] == "web1", shown
            d.find_element(By.ID, "confirm-input").send_keys("web1")
            d.find_element(By.ID, "confirm-ok").click()
            wait(d, lambda d: loaded(d, "list"), 15, "the list")
            shot(d, "07-deleting")
            wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "#groups tr[data-id=web1]"), 90, "web1 gone from the list")
            with pytest.raises(ec.exceptions.ReplicationGroupNotFoundFault):
                ec.describe_replication_groups(ReplicationGroupId="web1")
            wait(d2, lambda d: d.find_elements(By.ID, "gone"), 30, "the second browser to see it gone")

            # Log out everywhere from the first browser: the second one's session ends with it.
            d.find_element(By.ID, "logout-all").click()
            wait(d, lambda d: d.find_elements(By.ID, "login-form") and "Logged out everywhere" in text(d, "#login-form"),
                 15, "the login form after logging out everywhere")
            d2.get(base + "/console/")
            wait(d2, lambda d: d.find_elements(By.ID, "login-form"), 15, "the second browser's session to have ended")
        finally:
            restarted.send_signal(signal.SIGKILL)
            restarted.wait()
