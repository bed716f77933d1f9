"""``status_pages:`` in hub.yaml: every problem names the file, the key path and what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentwatch._cli import main
from agentwatch.hub.config import root
from agentwatch.hub.status.settings import PageGroup, StatusPage, parse

MONITORS = [
    {"name": n, "type": "tcp", "host": "127.0.0.1", "port": 1} for n in ("api", "db", "redis")
]


def _parse(pages: object, monitors: object = MONITORS) -> tuple[object, list[str]]:
    node = root({"monitors": monitors, "status_pages": pages}, file="hub.yaml")
    settings = parse(node)
    return settings, [str(p) for p in node.problems]


def test_a_page_with_monitors_and_groups() -> None:
    settings, problems = _parse(
        [
            {
                "slug": "public",
                "title": "Agent API",
                "public": True,
                "description": "The API and what it needs",
                "monitors": ["api"],
                "groups": [{"name": "Data", "monitors": ["db", "redis"], "description": "stores"}],
                "refresh": "30s",
                "incident_history": "7d",
            },
            {"slug": "internal", "title": "Internal", "monitors": ["db"]},
        ]
    )
    assert problems == []
    public, internal = settings.pages  # type: ignore[attr-defined]
    assert public == StatusPage(
        slug="public",
        title="Agent API",
        public=True,
        description="The API and what it needs",
        groups=(PageGroup("", ("api",)), PageGroup("Data", ("db", "redis"), "stores")),
        refresh_seconds=30,
        history_seconds=7 * 86400.0,
    )
    assert public.monitors == ("api", "db", "redis")
    assert internal.public is False and internal.refresh_seconds == 60
    assert settings.pages_showing("db") == ("public", "internal")  # type: ignore[attr-defined]
    assert settings.pages_showing("api") == ("public",)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        (
            [{"slug": "Public Page", "title": "x", "monitors": ["api"]}],
            "hub.yaml: status_pages[0].slug: 'Public Page' is not valid: expected lower-case letters, digits and dashes (1 to 64, not starting or ending with a dash)",
        ),
        (
            [{"slug": "p", "title": "x", "monitors": ["api", "apii"]}],
            "hub.yaml: status_pages[0].monitors[1]: 'apii' is not a monitor of this file: expected one of api, db, redis",
        ),
        (
            [{"slug": "p", "title": "x", "groups": [{"name": "g", "monitors": ["nope"]}]}],
            "hub.yaml: status_pages[0].groups[0].monitors[0]: 'nope' is not a monitor of this file: expected one of api, db, redis",
        ),
        (
            [{"slug": "p", "title": "x"}],
            "hub.yaml: status_pages[0].monitors: is required: a page shows at least one monitor",
        ),
        (
            [{"slug": "p", "monitors": ["api"]}],
            "hub.yaml: status_pages[0].title: is required: a string",
        ),
        (
            [{"slug": "p", "title": "x", "monitors": ["api"], "public": "yes"}],
            "hub.yaml: status_pages[0].public: 'yes' is not valid: expected true or false",
        ),
        (
            [{"slug": "p", "title": "x", "monitors": ["api"], "refresh": "1s"}],
            "hub.yaml: status_pages[0].refresh: '1s' is not valid: expected a duration of at least 5s",
        ),
        (
            [{"slug": "p", "title": "x", "monitors": ["api"], "colour": "red"}],
            "hub.yaml: status_pages[0].colour: unknown key; accepted here: description, groups, incident_history, monitors, public, refresh, slug, title",
        ),
        (
            [
                {"slug": "p", "title": "x", "monitors": ["api"]},
                {"slug": "p", "title": "y", "monitors": ["db"]},
            ],
            "hub.yaml: status_pages[1].slug: 'p' is the slug of an earlier page: slugs are unique",
        ),
        (
            [{"slug": "p", "title": "x", "monitors": ["api", "api"]}],
            "hub.yaml: status_pages[0].monitors: names a monitor twice",
        ),
        (
            {"slug": "p"},
            "hub.yaml: status_pages: a mapping is not valid: expected a list of mappings",
        ),
    ],
)
def test_problems_name_the_key_path(pages: object, expected: str) -> None:
    _settings, problems = _parse(pages)
    assert expected in problems, problems


def test_hub_check_lists_every_problem_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        "monitors:\n"
        "  - {name: api, type: tcp, host: 127.0.0.1, port: 1}\n"
        "status_pages:\n"
        "  - {slug: public, title: API, public: true, monitors: [api, ap]}\n"
        "  - {slug: -bad, title: Bad, monitors: [api]}\n"
    )
    assert main(["hub", "check", "--config", str(path)]) != 0
    message = capsys.readouterr().err
    assert f"{path}: status_pages[0].monitors[1]: 'ap' is not a monitor of this file" in message
    assert f"{path}: status_pages[1].slug: '-bad' is not valid" in message
