"""Operations as code: rules, routes, dashboards and deploy files generated from the catalog.

>>> from agentwatch.ops import GenerateOptions, generate, validate
>>> generate("deploy", GenerateOptions(service="agent-api", packs=("http", "llm")))  # doctest: +SKIP
>>> validate("deploy")  # doctest: +SKIP
"""

from __future__ import annotations

from ._generate import generate
from ._options import GenerateOptions, Profile, ReceiverOptions
from ._slo import SloSpec

__all__ = ["GenerateOptions", "Profile", "ReceiverOptions", "SloSpec", "generate"]
