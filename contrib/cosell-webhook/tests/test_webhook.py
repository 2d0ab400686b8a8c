"""The webhook plugin against a real HTTP receiver on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cosell_webhook import plugin

from cosell.errors import FinishedWithFailures
from cosell.testing import assert_hookimpl_signature, deal, partner, program

pytestmark = pytest.mark.cosell_plugins(plugin)

PROGRAM = """\
program: Webhook program
period: 2026-Q3
currency: USD
tiers: [{name: Registered, min_score: 0, commission_rate: "0.10"}]
plugins:
  webhook: {url: "URL", timeout_seconds: 5}
"""


@pytest.fixture
def receiver():
    received = []
    status = {"code": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(status["code"])
            if 300 <= status["code"] < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # where a followed redirect would land, without the summary
            received.append("GET")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, status
    server.shutdown()
    server.server_close()


def test_the_plugin_implements_real_hooks():
    assert_hookimpl_signature(plugin)


def test_a_finished_run_posts_its_summary(receiver, run_program):
    url, received, _ = receiver
    run_program(
        program(PROGRAM.replace("URL", url)),
        [partner("P1")],
        [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")],
    )
    [body] = received
    assert body["period"] == "2026-Q3" and body["program"] == "Webhook program"
    assert body["partners"] == [
        {"id": "P1", "name": "Partner P1", "tier": "Registered", "score": "0.00", "earnings": "100.00"}
    ]
    assert body["records_written"] == 2  # the account and the deal


def test_a_failing_webhook_is_reported_naming_the_plugin_after_the_run_is_stored(
    receiver, run_program, cosell_ledger
):
    url, _, status = receiver
    status["code"] = 500
    with pytest.raises(FinishedWithFailures) as info:
        run_program(
            program(PROGRAM.replace("URL", url)),
            [partner("P1")],
            [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")],
        )
    assert info.value.exit_code == 3
    assert "plugin 'webhook'" in str(info.value) and "500" in str(info.value)
    assert [line.kind for line in cosell_ledger.lines("2026-Q3")] == ["commission"]  # nothing undone


def test_without_settings_the_plugin_does_nothing(receiver, run_program):
    _, received, _ = receiver
    loaded = program(PROGRAM.split("plugins:")[0])
    run_program(loaded, [partner("P1")])
    assert received == []


def test_a_bad_url_is_a_program_error(run_program):
    from cosell.errors import ProgramError

    with pytest.raises(ProgramError, match=r"plugins\.webhook\.url"):
        run_program(program(PROGRAM.replace("URL", "not a url")), [partner("P1")])


def test_from_the_cli_a_failing_webhook_exits_3_naming_the_plugin_file_and_line(receiver, cosell_cli):
    url, received, status = receiver
    status["code"] = 503
    cosell_cli.write_program(PROGRAM.replace("URL", url))
    cosell_cli.write_records([partner("P1")], [deal("D1", "1000", partners=["P1"], won_on="2026-08-01")])
    result = cosell_cli.run()
    assert result.exit_code == 3 and len(received) == 1
    assert (
        "plugin 'webhook': cosell_run_finished raised RuntimeError: the webhook at http://127.0.0.1:"
        in result.stderr
        and "answered 503" in result.stderr
    )
    assert "cosell_webhook/plugin.py:" in result.stderr and "raise RuntimeError" in result.stderr
    assert "Traceback (most recent call last)" in cosell_cli.log.read_text()
    assert [row["id"] for row in result.csv("accounts.csv")] == ["P1"]  # the run itself is complete


def test_a_dry_run_posts_nothing(receiver, run_program):
    url, received, _ = receiver
    result = run_program(program(PROGRAM.replace("URL", url)), [partner("P1")], dry_run=True)
    assert received == [] and result.writes == [] and len(result.report.changes) == 1


@pytest.mark.parametrize("code", [301, 302, 307])
def test_a_redirect_is_a_failure_not_a_lost_summary(receiver, run_program, code):
    url, received, status = receiver
    status["code"] = code
    with pytest.raises(FinishedWithFailures) as info:
        run_program(program(PROGRAM.replace("URL", url)), [partner("P1")])
    assert f"answered {code}" in str(info.value) and "a redirect" in str(info.value)
    assert received != [] and "GET" not in received  # posted once, never followed


def test_an_unreachable_webhook_is_named_by_its_host_never_its_secret_path(run_program):
    secret = "/services/T0001/B0002/XyZsEcReTtOkEn123"
    with pytest.raises(FinishedWithFailures) as info:
        run_program(program(PROGRAM.replace("URL", f"http://127.0.0.1:9{secret}")), [partner("P1")])
    text = str(info.value) + "".join(map(str, getattr(info.value, "causes", ())))
    assert "the webhook at http://127.0.0.1:9 could not be reached (ConnectionError)" in text
    assert "XyZsEcReTtOkEn123" not in text and "T0001" not in text


@pytest.fixture
def dripping():
    """A receiver that answers one byte of its status line every 0.2 s: each read gets a byte well within
    any socket timeout, and the whole answer takes about 8 s."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            for byte in b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n":
                if stop.wait(0.2):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    stop.set()
    server.shutdown()
    server.server_close()


def test_a_webhook_that_answers_slowly_fails_at_the_timeout_for_the_whole_post(dripping, run_program):
    import time

    started = time.monotonic()
    with pytest.raises(FinishedWithFailures) as info:
        run_program(
            program(PROGRAM.replace("URL", dripping).replace("timeout_seconds: 5", "timeout_seconds: 1")),
            [partner("P1")],
        )
    assert "did not answer within 1 s" in str(info.value)
    assert time.monotonic() - started < 6  # not the 8 s the answer takes: the timeout is the post's
