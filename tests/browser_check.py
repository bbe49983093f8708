"""Open a report in a real headless browser (Debian's chromium) and say what it saw: the figures
that did not decode, the requests the page made, and what it logged to the console.

The report has no script by design, so the check loads a COPY of it with a small probe script put
at the top of its <head>: the probe records load errors and console.error/warn calls from the first
byte on, and on `load` writes what it found (images, undecoded images, resource requests, errors)
into a <pre> that `chromium --dump-dom` prints. Two views from outside the page back it up:
Chromium's network log (every request the page starts, whatever the probe missed) and Chromium's
own console log on stderr (any console message of the page, the probe logs none)."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser")
REQUIRE_ENV = "CIFAR_ABLATION_REQUIRE_BROWSER"


def browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


# CI installs chromium (.ci/run) and sets CIFAR_ABLATION_REQUIRE_BROWSER, turning this skip into a
# failure (the check then says that no browser was found)
needs_browser = pytest.mark.skipif(
    not browser() and not os.environ.get(REQUIRE_ENV),
    reason="no chromium on this machine (apt-get install chromium)")

PROBE = """<script>
(() => {
  const errors = [];
  addEventListener("error", e => errors.push(e.message
      || "failed to load " + (e.target.currentSrc || e.target.src || e.target.href)), true);
  addEventListener("securitypolicyviolation", e => errors.push("blocked " + e.blockedURI));
  for (const level of ["error", "warn"]) {
    const original = console[level];
    console[level] = (...args) => { errors.push(level + ": " + args.join(" "));
                                    original.apply(console, args); };
  }
  addEventListener("load", () => {   // synchronous: --dump-dom prints the page after it
    const images = [...document.images];
    const name = i => i.alt || (i.currentSrc || i.src).slice(0, 80);
    const seen = {
      images: images.length,
      undecoded: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(name),
      not_inline: images.filter(i => !(i.currentSrc || i.src).startsWith("data:")).map(name),
      requests: performance.getEntriesByType("resource").map(e => e.name),
      errors};
    const pre = document.createElement("pre");
    pre.id = "browser-probe";
    pre.textContent = JSON.stringify(seen);
    document.body.appendChild(pre);
  });
})();
</script>"""


def _page_requests(net_log: Path) -> list[str]:
    """URLs of the requests the page started, from Chromium's network log (--log-net-log).
    Chromium's own background requests (updates, accounts) have no initiating origin; the page's
    come from its file:// origin."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start and "url" in params and (
                params.get("initiator", "not an origin") != "not an origin"
                or "file://" in params.get("network_isolation_key", "")):
            urls.append(params["url"])
    return urls


def open_in_browser(report: Path, work: Path) -> dict:
    """What a headless Chromium saw when it opened `report`: images (count), undecoded and
    not_inline (their alt texts), requests (from the page and from the network log), errors (load
    errors and console.error/warn calls) and console (Chromium's console log lines)."""
    exe = browser()
    assert exe, f"{REQUIRE_ENV} is set but no browser ({', '.join(BROWSERS)}) is installed"
    work.mkdir(parents=True, exist_ok=True)
    doc = report.read_text(encoding="utf-8")
    head = re.search(r"<head[^>]*>", doc)
    assert head, f"{report}: no <head>"
    copy = work / "probed.html"   # the report itself is not touched
    copy.write_text(doc[:head.end()] + PROBE + doc[head.end():], encoding="utf-8")
    net_log = work / "net-log.json"
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={work / 'profile'}", f"--log-net-log={net_log}",
         "--enable-logging=stderr", "--v=0", "--dump-dom", copy.as_uri()],
        capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="browser-probe">(.*?)</pre>', proc.stdout, re.S)
    assert proc.returncode == 0 and found, (
        f"{exe} exit {proc.returncode}, no probe result; stderr ends:\n{proc.stderr[-2000:]}")
    seen = json.loads(html.unescape(found.group(1)))
    seen["requests"] += [u for u in _page_requests(net_log) if u not in seen["requests"]]
    seen["console"] = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return seen


def assert_opens_clean(report: Path, work: Path, images: int | None = None) -> dict:
    """Every figure decodes and is inline, the page makes no request and logs nothing."""
    seen = open_in_browser(report, work)
    assert seen["images"] > 0 and (images is None or seen["images"] == images), seen
    problems = {k: seen[k] for k in ("undecoded", "not_inline", "requests", "errors", "console")
                if seen[k]}
    assert not problems, f"{report} in {browser()}: {problems}"
    return seen
