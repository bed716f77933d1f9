"""Token and cost figures equal usage times the price table, to the cent; budgets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests._genai_support import Recording, recording

import agentwatch
from agentwatch._genai.budget import Budget, period_start
from agentwatch._genai.pricing import Price, PriceTable

# (provider, model, input tokens incl. cached, output tokens, cached input tokens)
CALLS = [
    ("openai", "gpt-4o", 12_000, 800, 4_096),
    ("openai", "gpt-4o", 150_000, 4_000, 0),
    ("openai", "gpt-4o-mini", 900_000, 120_000, 300_000),
    ("anthropic", "claude-sonnet-4-5", 48_000, 2_500, 40_000),
    ("anthropic", "claude-haiku-4-5", 7_000, 1_100, 0),
    ("gcp.gemini", "gemini-2.5-flash", 33_000, 9_000, 1_000),
    ("openai", "gpt-4o-mini", 1_234_567, 76_543, 0),
]


@pytest.fixture
def rec() -> Iterator[Recording]:
    with recording() as active:
        yield active


def _expected_cost(
    provider: str, model: str, tokens_in: int, tokens_out: int, cached: int
) -> Decimal:
    """The price table's own file, read independently, in exact decimal arithmetic."""
    shipped = json.loads((Path(agentwatch.__file__).parent / "_genai" / "pricing.json").read_text())
    table = shipped["gcp.gen_ai" if provider.startswith("gcp") else provider][model]
    cached_rate = Decimal(str(table.get("cached_input", table["input"])))
    return (
        (tokens_in - cached) * Decimal(str(table["input"]))
        + cached * cached_rate
        + tokens_out * Decimal(str(table["output"]))
    ) / 1_000_000


def test_cost_and_tokens_equal_usage_times_prices_to_the_cent(rec: Recording) -> None:
    monthly = agentwatch.budget("monthly", 100.0)
    for provider, model, tokens_in, tokens_out, cached in CALLS:
        with agentwatch.llm_call(provider, model) as call:
            call.record_usage(
                input_tokens=tokens_in, output_tokens=tokens_out, cached_input_tokens=cached
            )
    expected_total = Decimal(0)
    for provider, model in {(p, m) for p, m, *_ in CALLS}:
        mine = [c for c in CALLS if c[:2] == (provider, model)]
        expected = sum((_expected_cost(*c) for c in mine), Decimal(0))
        expected_total += expected
        recorded = rec.value("llm_cost_usd_total", provider=provider, model=model)
        assert round(Decimal(recorded), 2) == round(expected, 2)
        assert abs(Decimal(recorded) - expected) < Decimal("0.000001")
        labels = {"provider": provider, "model": model}
        assert rec.value("llm_tokens_total", **labels, type="input") == sum(
            c[2] - c[4] for c in mine
        )
        assert rec.value("llm_tokens_total", **labels, type="cached_input") == sum(
            c[4] for c in mine
        )
        assert rec.value("llm_tokens_total", **labels, type="output") == sum(c[3] for c in mine)
    assert round(Decimal(monthly.spent_usd), 2) == round(expected_total, 2)
    assert rec.value("llm_budget_remaining_usd", budget="monthly") == pytest.approx(
        100 - float(expected_total)
    )
    assert rec.value("llm_budget_utilization_ratio", budget="monthly") == pytest.approx(
        float(expected_total) / 100
    )
    assert rec.value("llm_budget_limit_usd", budget="monthly") == 100


def test_an_unknown_model_costs_nothing_and_is_counted(rec: Recording) -> None:
    with agentwatch.llm_call("openai", "gpt-9-turbo-preview") as call:
        call.record_usage(input_tokens=1000, output_tokens=1000)
    assert rec.value("llm_cost_usd_total", provider="openai", model="gpt-9-turbo-preview") == 0
    assert (
        rec.value("llm_unpriced_calls_total", provider="openai", model="gpt-9-turbo-preview") == 1
    )
    attributes = rec.span("chat gpt-9-turbo-preview").attributes or {}
    assert attributes["agentwatch.llm.unpriced"] is True
    assert attributes["agentwatch.llm.cost_usd"] == 0


@pytest.mark.parametrize(
    ("provider", "model", "found"),
    [
        ("openai", "gpt-4o-mini", Price(0.15, 0.6, 0.075)),
        ("azure.ai.openai", "gpt-4o-mini", Price(0.15, 0.6, 0.075)),  # same model, another host
        ("gcp.gemini", "models/gemini-2.5-flash", Price(0.3, 2.5, 0.03)),
        ("openai", "gpt-4o-mini-2099-01-01", None),  # an unknown snapshot is not guessed
        ("openai", "GPT-4O", None),
    ],
)
def test_lookup_is_exact(provider: str, model: str, found: Price | None) -> None:
    assert agentwatch.get_price(provider, model) == found


def test_prices_are_overridden_in_code_and_from_a_file(rec: Recording, tmp_path: Path) -> None:
    agentwatch.set_prices({"acme": {"acme-large-test": {"input": 1.0, "output": 2.0}}})
    path = tmp_path / "prices.yaml"
    path.write_text(
        "openai:\n  ft:gpt-4o-mini:acme-test:\n    input: 0.3\n    output: 1.2\n    cached_input: 0.15\n"
    )
    agentwatch.load_prices(path)
    with agentwatch.llm_call("acme", "acme-large-test") as call:
        call.record_usage(
            input_tokens=1_000_000, output_tokens=500_000, cached_input_tokens=100_000
        )
    with agentwatch.llm_call("openai", "ft:gpt-4o-mini:acme-test") as call:
        call.record_usage(
            input_tokens=1_000_000, output_tokens=1_000_000, cached_input_tokens=500_000
        )
    assert rec.value(
        "llm_cost_usd_total", provider="acme", model="acme-large-test"
    ) == pytest.approx(2.0)
    assert rec.value(
        "llm_cost_usd_total", provider="openai", model="ft:gpt-4o-mini:acme-test"
    ) == pytest.approx(0.15 + 0.075 + 1.2)


def test_pricing_file_setting_is_loaded_by_init(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"local": {"llama-test-70b": {"input": 0.5, "output": 0.5}}}))
    with recording(pricing_file=str(path)):
        assert agentwatch.get_price("local", "llama-test-70b") == Price(0.5, 0.5, None)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"input": -1, "output": 1}, "a number >= 0"),
        ({"input": 1}, "keys input, output"),
        ({"input": "cheap", "output": 1}, "a number >= 0"),
        ({"input": 1, "output": 1, "cache": 1}, "keys input, output"),
    ],
)
def test_a_bad_price_names_what_is_wrong(entry: dict[str, object], message: str) -> None:
    with pytest.raises(agentwatch.ConfigurationError, match=message):
        PriceTable({"openai": {"bad": entry}})


def test_a_hard_budget_raises_before_the_call(rec: Recording) -> None:
    agentwatch.budget("research", 0.01, period="day", hard=True, agent_type="researcher")
    calls = 0
    with agentwatch.agent_run("researcher"):
        for _ in range(5):
            try:
                with agentwatch.llm_call("openai", "gpt-4o") as call:
                    calls += 1
                    call.record_usage(input_tokens=1000, output_tokens=200)  # $0.0045 a call
            except agentwatch.BudgetExceededError as exc:
                assert exc.budget == "research"
                assert exc.spent_usd == pytest.approx(0.0135)
                break
    assert calls == 3
    with agentwatch.agent_run("writer"), agentwatch.llm_call("openai", "gpt-4o"):
        pass  # another agent type is not covered by this budget
    assert (
        rec.value(
            "llm_errors_total", provider="openai", model="gpt-4o", error_type="BudgetExceededError"
        )
        == 1
    )
    assert rec.value("llm_budget_remaining_usd", budget="research") == 0
    assert rec.value("llm_budget_utilization_ratio", budget="research") == pytest.approx(1.35)


def test_budgets_filter_by_workflow_and_model(rec: Recording) -> None:
    support = agentwatch.budget("support", 10.0, workflow="support")
    mini = agentwatch.budget("mini", 10.0, model="gpt-4o-mini")
    for workflow, model in [
        ("support", "gpt-4o"),
        ("support", "gpt-4o-mini"),
        ("billing", "gpt-4o-mini"),
    ]:
        with agentwatch.workflow_run(workflow), agentwatch.llm_call("openai", model) as call:
            call.record_usage(input_tokens=1_000_000)
    assert support.spent_usd == pytest.approx(2.5 + 0.15)
    assert mini.spent_usd == pytest.approx(0.15 + 0.15)


def test_spend_restarts_with_each_period() -> None:
    now = [1_767_225_600.0 - 60]  # 2025-12-31 23:59 UTC
    daily = Budget("daily", 1.0, "day", clock=lambda: now[0], spent_usd=0.9)
    monthly = Budget("monthly", 1.0, "month", clock=lambda: now[0], spent_usd=0.9)
    total = Budget("total", 1.0, "total", clock=lambda: now[0], spent_usd=0.9)
    now[0] += 120  # 2026-01-01 00:01 UTC
    assert (daily.spent_usd, monthly.spent_usd, total.spent_usd) == (0.0, 0.0, 0.9)


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("hour", "2026-03-18T14:00:00+00:00"),
        ("day", "2026-03-18T00:00:00+00:00"),
        ("week", "2026-03-16T00:00:00+00:00"),
        ("month", "2026-03-01T00:00:00+00:00"),
    ],
)
def test_periods_are_utc_calendar_periods(period: str, start: str) -> None:
    from datetime import datetime

    moment = datetime.fromisoformat("2026-03-18T14:25:10+00:00").timestamp()
    assert period_start(period, moment) == datetime.fromisoformat(start).timestamp()


def test_redefining_a_budget_keeps_its_spend(rec: Recording) -> None:
    agentwatch.budget("team", 5.0)
    with agentwatch.llm_call("openai", "gpt-4o") as call:
        call.record_usage(input_tokens=400_000)
    again = agentwatch.budget("team", 8.0)
    assert again.spent_usd == pytest.approx(1.0)
    assert rec.value("llm_budget_utilization_ratio", budget="team") == pytest.approx(0.125)


@pytest.mark.parametrize(("limit", "period"), [(0, "day"), (-5, "day"), (5, "fortnight")])
def test_a_bad_budget_is_a_configuration_error(limit: float, period: str) -> None:
    with pytest.raises(agentwatch.ConfigurationError):
        agentwatch.budget("bad", limit, period=period)
