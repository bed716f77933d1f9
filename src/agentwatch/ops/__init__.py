"""Operations as code: rules, routes, dashboards and deploy files generated from the catalog.

>>> from agentwatch.ops import GenerateOptions, generate, validate
>>> generate("deploy", GenerateOptions(service="agent-api", packs=("http", "llm")))  # doctest: +SKIP
>>> validate("deploy").checks  # doctest: +SKIP
{'promtool check config': 'ok', ..., 'catalog cross-check': 'ok'}

Command line: ``agentwatch ops generate --out deploy`` and ``agentwatch ops validate deploy``.

Owns every generator and validator of the operations folder and the ``ops`` command. May
import the catalog, the settings table and ``_genai`` (its status values), and the hub's
config check (``ops validate`` runs it on ``hub/hub.yaml``), never the request path.
"""

from __future__ import annotations

from ._generate import generate
from ._options import TEST_PROFILE, GenerateOptions, Profile, ReceiverOptions
from ._slo import SloSpec
from ._validate import ValidationReport, validate

__all__ = [
    "TEST_PROFILE",
    "GenerateOptions",
    "Profile",
    "ReceiverOptions",
    "SloSpec",
    "ValidationReport",
    "generate",
    "validate",
]
