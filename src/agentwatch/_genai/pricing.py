"""The LLM price table: US dollars per million tokens, by provider and model.

agentwatch ships list prices for the common OpenAI, Anthropic and Google models
(``pricing.json`` beside this module). Override or extend them for your contract, a
fine-tuned model or a self-hosted one::

    agentwatch.set_prices({"openai": {"ft:gpt-4o-mini:acme": {"input": 0.3, "output": 1.2}}})
    agentwatch.load_prices("prices.yaml")      # same shape, JSON or YAML

A model is found by its exact name under its provider, then under any provider (the
OpenAI-compatible APIs of other hosts serve the same model names); Google's ``models/``
prefix is ignored. Nothing else is matched: a model that is not in the table costs 0 and is
counted in ``llm_unpriced_calls_total`` — agentwatch never guesses a price.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError

__all__ = ["Price", "PriceTable", "get_price", "load_prices", "price_table", "set_prices"]

_PER = 1_000_000


@dataclass(frozen=True)
class Price:
    """Prices in USD per million tokens; ``cached_input`` None means cache reads cost ``input``."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """Cost of a call; ``input_tokens`` counts every input token, cached ones included."""
        cached = min(max(cached_input_tokens, 0), max(input_tokens, 0))
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (
            (input_tokens - cached) * self.input
            + cached * cached_rate
            + output_tokens * self.output
        ) / _PER


def _number(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(where, value, "a number >= 0 (USD per million tokens)")
    return float(value)


def _price(where: str, entry: object) -> Price:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(where, entry, "a mapping with input, output and cached_input")
    unknown = set(entry) - {"input", "output", "cached_input"}
    if unknown or "input" not in entry or "output" not in entry:
        raise ConfigurationError(where, dict(entry), "keys input, output and optional cached_input")
    cached = entry.get("cached_input")
    return Price(
        _number(f"{where}.input", entry["input"]),
        _number(f"{where}.output", entry["output"]),
        None if cached is None else _number(f"{where}.cached_input", cached),
    )


def _normalize(model: str) -> str:
    return model.removeprefix("models/")


class PriceTable:
    """Prices by provider and model; thread-safe, updated in place."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._prices: dict[str, dict[str, Price]] = {}
        self._lock = threading.Lock()
        if data:
            self.update(data)

    def update(self, data: Mapping[str, Any], source: str = "prices") -> None:
        """Merge ``{provider: {model: {input, output, cached_input}}}`` over the table."""
        parsed: dict[str, dict[str, Price]] = {}
        for provider, models in data.items():
            if provider.startswith("_"):  # comments such as "_about"
                continue
            if not isinstance(models, Mapping):
                raise ConfigurationError(f"{source}: {provider}", models, "a mapping of models")
            parsed[provider] = {
                _normalize(str(model)): _price(f"{source}: {provider}.{model}", entry)
                for model, entry in models.items()
            }
        with self._lock:
            for provider, models in parsed.items():
                self._prices.setdefault(provider, {}).update(models)

    def get(self, provider: str, model: str) -> Price | None:
        """The price of ``model``: under ``provider`` first, then under any provider."""
        name = _normalize(model)
        found = self._prices.get(provider, {}).get(name)
        if found is not None:
            return found
        for models in list(self._prices.values()):
            found = models.get(name)
            if found is not None:
                return found
        return None

    def as_dict(self) -> dict[str, dict[str, dict[str, float | None]]]:
        with self._lock:
            return {
                provider: {model: dict(price.__dict__) for model, price in models.items()}
                for provider, models in self._prices.items()
            }


def _read(path: str | Path) -> Mapping[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ConfigurationError(str(path), type(data).__name__, "a mapping of providers")
    return data


def _shipped() -> Mapping[str, Any]:
    text = resources.files("agentwatch._genai").joinpath("pricing.json").read_text(encoding="utf-8")
    data: Mapping[str, Any] = json.loads(text)
    return data


_table: PriceTable | None = None
_table_lock = threading.Lock()


def price_table() -> PriceTable:
    """The process-wide table (the shipped prices plus every override)."""
    global _table
    if _table is None:
        with _table_lock:
            if _table is None:
                _table = PriceTable(_shipped())
    return _table


def set_prices(prices: Mapping[str, Any]) -> None:
    """Add or override prices: ``{provider: {model: {input, output, cached_input}}}``.

    >>> agentwatch.set_prices({"openai": {"my-model": {"input": 1.0, "output": 2.0}}})
    """
    price_table().update(prices)


def load_prices(path: str | Path) -> None:
    """Merge a JSON or YAML price file (same shape as :func:`set_prices`) over the table."""
    price_table().update(_read(path), source=str(path))


def get_price(provider: str, model: str) -> Price | None:
    """The price agentwatch uses for ``model``, or None when it is not in the table."""
    return price_table().get(provider, model)
