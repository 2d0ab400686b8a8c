"""The sandbox's real rate limits: HubSpot's burst and search windows answered with its 429, Salesforce's
daily count answered with 403 once spent."""

from __future__ import annotations

import pytest
import requests

from cosell.contrib.sandbox import RateLimitsError, serve
from cosell.contrib.sandbox.limits import HUBSPOT_BURST, HUBSPOT_SEARCH_PER_SECOND, RateLimits

pytestmark = pytest.mark.sandbox


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_window_refuses_the_request_over_190_in_10_seconds_and_frees_as_it_rolls() -> None:
    clock = Clock()
    limits = RateLimits(real=True, clock=clock)
    answers = [limits.hubspot_refusal(search=False) for _ in range(HUBSPOT_BURST)]
    assert answers == [None] * HUBSPOT_BURST
    assert limits.hubspot_refusal(search=False) == "TEN_SECONDLY_ROLLING"
    clock.now += 9.9
    assert limits.hubspot_refusal(search=False) == "TEN_SECONDLY_ROLLING"  # the first 190 still in the window
    clock.now += 0.2
    assert limits.hubspot_refusal(search=False) is None


def test_searches_over_4_a_second_are_refused_while_other_calls_pass() -> None:
    clock = Clock()
    limits = RateLimits(real=True, clock=clock)
    assert [limits.hubspot_refusal(search=True) for _ in range(HUBSPOT_SEARCH_PER_SECOND)] == [None] * 4
    assert limits.hubspot_refusal(search=True) == "SECONDLY"
    assert limits.hubspot_refusal(search=False) is None
    clock.now += 1.01
    assert limits.hubspot_refusal(search=True) is None


def test_without_real_limits_nothing_is_refused() -> None:
    limits = RateLimits.parse("none")
    assert all(limits.hubspot_refusal(search=True) is None for _ in range(500))


def test_an_unknown_rate_limits_value_is_refused_by_name() -> None:
    with pytest.raises(RateLimitsError, match="unknown rate limits 'fast': give one of none, real"):
        RateLimits.parse("fast")


def test_a_sandbox_with_real_limits_answers_hubspot_s_429_body_to_a_fifth_search_within_a_second() -> None:
    with serve(seed=3, partners=5, deals=20, rate_limits="real") as sb:
        url = f"{sb.hubspot_base_url}/crm/v3/objects/deals/search"
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {sb.token}"
            answers = [http.post(url, json={"limit": 1}, verify=sb.ca_bundle) for _ in range(20)]
        refused = [a for a in answers if a.status_code == 429]
        assert refused, [a.status_code for a in answers]
        body = refused[0].json()
        assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "SECONDLY")
        assert sb.stats()["rate_limited"] == {"SECONDLY": len(refused)}


def test_hubspot_answers_carry_the_rate_limit_headers_counting_down_and_searches_carry_none() -> None:
    with serve(seed=3, partners=5, deals=20, rate_limits="real", hubspot_burst=5) as sb:
        url = f"{sb.hubspot_base_url}/crm/v3/objects/deals"
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {sb.token}"
            answers = [http.get(url, params={"limit": 1}, verify=sb.ca_bundle) for _ in range(6)]
            search = http.post(f"{url}/search", json={"limit": 1}, verify=sb.ca_bundle)
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
        first = answers[0].headers
        assert first["X-HubSpot-RateLimit-Max"] == "5"
        assert first["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert (
            int(first["X-HubSpot-RateLimit-Daily-Remaining"]) == int(first["X-HubSpot-RateLimit-Daily"]) - 1
        )
        assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in search.headers)


def test_without_real_limits_the_window_is_never_spent() -> None:
    with serve(seed=3, partners=5, deals=20) as sb, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {sb.token}"
        url = f"{sb.hubspot_base_url}/crm/v3/objects/deals"
        answers = [http.get(url, params={"limit": 1}, verify=sb.ca_bundle) for _ in range(3)]
        assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == ["190"] * 3
