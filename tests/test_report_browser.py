"""The HTML report in a real headless browser (Debian's chromium): every figure decodes, the page
makes no request and its console stays empty. The smoke study's report gets the same check
(tests/test_smoke.py). CI installs chromium and sets CIFAR_ABLATION_REQUIRE_BROWSER (.ci/run)."""
import base64

from browser_check import assert_opens_clean, needs_browser, open_in_browser
from test_plots_report import build_sample_report

pytestmark = needs_browser


def test_the_report_opens_in_a_browser_with_every_figure_and_no_request(tmp_path):
    report, info = build_sample_report(tmp_path / "rep")
    before = report.read_bytes()
    seen = assert_opens_clean(report, tmp_path / "browser", images=info["n_figs"])
    assert seen["errors"] == [] and report.read_bytes() == before   # the report is not touched


def test_the_browser_check_sees_a_broken_figure_a_request_and_a_console_error(tmp_path):
    """The check can fail: a figure that does not decode, one on the network, one read from a
    file, a style sheet on the network and a script's console error are each reported."""
    report, _ = build_sample_report(tmp_path / "rep")
    png = (tmp_path / "rep" / "figs" / "cm.png")
    broken = base64.b64encode(png.read_bytes()[:20]).decode()
    bad = (f'<img alt="cut in its header" src="data:image/png;base64,{broken}">'
           '<img alt="remote" src="http://figures.invalid/x.png">'
           f'<img alt="from a file" src="{png.as_uri()}">'
           '<link rel="stylesheet" href="https://fonts.invalid/a.css">'
           '<script>console.error("boom")</script>')
    doc = report.read_text().replace("<body>", "<body>" + bad, 1)
    (tmp_path / "bad.html").write_text(doc)
    seen = open_in_browser(tmp_path / "bad.html", tmp_path / "browser")
    assert seen["images"] == 6
    assert sorted(seen["undecoded"]) == ["cut in its header", "remote"]
    assert seen["not_inline"] == ["remote", "from a file"]
    assert {"http://figures.invalid/x.png", "https://fonts.invalid/a.css"} <= set(seen["requests"])
    assert "error: boom" in seen["errors"] and any("boom" in line for line in seen["console"])
