"""hub.yaml reading: every problem names the file, the key path and what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentwatch.hub.config import (
    HubConfigError,
    Secret,
    load_yaml,
    parse_duration,
    parse_size,
    root,
)
from agentwatch.hub.configfile import load_config, refuse_open_without_token


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1d", 86400),
        (15, 15),
        ("2.5", 2.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "s", "-3", True, "1h 2q", [1]])
def test_bad_durations(text: object) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "size"), [("1GiB", 2**30), ("256MiB", 256 * 2**20), ("10GB", 10**10), (42, 42)]
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_every_problem_is_listed_with_file_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("server: {port: 99999, colour: red}\napi: {token_file: missing.txt}\nwat: 1\n")
    with pytest.raises(HubConfigError) as info:
        load_config(path)
    messages = [str(p) for p in info.value.problems]
    assert (
        f"{path}: server.port: 99999 is not valid: expected an integer from 0 to 65535" in messages
    )
    assert any(
        m.startswith(f"{path}: server.colour: unknown key; accepted here:") for m in messages
    )
    assert any(m.startswith(f"{path}: wat: unknown key") for m in messages)
    assert any(
        "api.token_file: cannot read secret file" in m and "missing.txt" in m for m in messages
    )


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("server:\n  port: [1,\n")
    with pytest.raises(
        HubConfigError, match=r"hub.yaml: \(top level\): line \d+, column \d+: not valid YAML"
    ):
        load_yaml(path)


def test_secrets_from_file_and_environment_are_never_shown(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-from-file\n")
    node = root(
        {"a": {"token_file": "token"}, "b": {"token": "${HUB_TOKEN}"}, "c": {"token": "${NOPE}"}},
        base_dir=tmp_path,
        environ={"HUB_TOKEN": "s3cret-from-env"},
    )
    a = node.child("a")
    b = node.child("b")
    c = node.child("c")
    assert a is not None and b is not None and c is not None
    from_file, from_env = a.secret("token"), b.secret("token")
    assert isinstance(from_file, Secret) and from_file.reveal() == "s3cret-from-file"
    assert isinstance(from_env, Secret) and from_env.reveal() == "s3cret-from-env"
    assert "s3cret" not in repr(from_file) + str(from_env) + repr([from_env])
    assert c.secret("token") is None
    assert [str(p) for p in node.problems] == ["c.token: environment variable NOPE is not set"]


def test_non_loopback_needs_a_token() -> None:
    config = load_config(None).with_server(host="0.0.0.0")
    with pytest.raises(HubConfigError, match=r"api.token_file: is required to listen on 0.0.0.0"):
        refuse_open_without_token(config)
    refuse_open_without_token(load_config(None).with_server(host="::1"))


def test_check_command_exits_non_zero_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentwatch._cli import main

    path = tmp_path / "hub.yaml"
    path.write_text("server: {host: 127.0.0.1, port: nine}\n")
    assert main(["hub", "check", "--config", str(path)]) == 2
    assert (
        f"{path}: server.port: 'nine' is not valid: expected an integer" in capsys.readouterr().err
    )
    path.write_text("server: {host: 127.0.0.1, port: 9801}\n")
    assert main(["hub", "check", "--config", str(path)]) == 0
