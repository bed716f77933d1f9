"""The settings table: precedence, standard OTel variables, clear errors."""

from __future__ import annotations

import pytest

from agentwatch import ConfigurationError
from agentwatch._docs import render_configuration
from agentwatch._settings import OPTIONS, load_settings


@pytest.mark.parametrize(
    ("explicit", "environ", "field", "expected"),
    [
        ({}, {}, "service_name", "unknown_service"),
        ({}, {"OTEL_SERVICE_NAME": "otel-name"}, "service_name", "otel-name"),
        ({}, {"OTEL_SERVICE_NAME": "otel", "AGENTWATCH_SERVICE_NAME": "aw"}, "service_name", "aw"),
        ({"service_name": "arg"}, {"AGENTWATCH_SERVICE_NAME": "aw"}, "service_name", "arg"),
        ({}, {"OTEL_TRACES_SAMPLER_ARG": "0.25"}, "success_sample_ratio", 0.25),
        (
            {},
            {"AGENTWATCH_SUCCESS_SAMPLE_RATIO": "0.5", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
            "success_sample_ratio",
            0.5,
        ),
        ({"success_sample_ratio": 1}, {}, "success_sample_ratio", 1.0),
        ({}, {"OTEL_SDK_DISABLED": "true"}, "sdk_disabled", True),
        ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp_protocol", "grpc"),
        ({}, {"OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=x%20y"}, "otlp_headers", {"a": "1", "b": "x y"}),
        (
            {},
            {"OTEL_RESOURCE_ATTRIBUTES": "team=core,region=eu"},
            "resource_attributes",
            {"team": "core", "region": "eu"},
        ),
        (
            {},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
            "otlp_endpoint",
            "http://127.0.0.1:4318",
        ),
        (
            {},
            {"AGENTWATCH_EXCLUDE_PATHS": "/metrics, /internal"},
            "exclude_paths",
            ("/metrics", "/internal"),
        ),
    ],
)
def test_precedence_argument_then_environment_then_default(
    explicit, environ, field, expected
) -> None:
    assert getattr(load_settings(explicit, environ), field) == expected


def test_service_name_from_resource_attributes_when_not_set_otherwise() -> None:
    settings = load_settings({}, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-resource"})
    assert settings.service_name == "from-resource"


@pytest.mark.parametrize(
    ("explicit", "environ", "key", "accepted"),
    [
        ({}, {"OTEL_TRACES_SAMPLER_ARG": "lots"}, "OTEL_TRACES_SAMPLER_ARG", "between 0 and 1"),
        (
            {},
            {"AGENTWATCH_SUCCESS_SAMPLE_RATIO": "1.5"},
            "AGENTWATCH_SUCCESS_SAMPLE_RATIO",
            "between 0 and 1",
        ),
        ({"success_sample_ratio": -0.1}, {}, "success_sample_ratio", "between 0 and 1"),
        (
            {},
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/protobuf or grpc",
        ),
        ({}, {"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED", "true or false"),
        ({}, {"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS", "key=value"),
        ({"no_such_option": 1}, {}, "no_such_option", "one of"),
        ({}, {"AGENTWATCH_TRACES_EXPORTER": "file"}, "AGENTWATCH_TRACES_FILE", "a path"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_accepted(
    explicit, environ, key, accepted
) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(explicit, environ)
    message = str(info.value)
    assert key in message and accepted in message
    assert isinstance(info.value, ValueError)


def test_nothing_is_read_from_the_process_environment_when_a_mapping_is_given(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-process")
    assert load_settings({}, {}).service_name == "unknown_service"


def test_every_option_is_documented() -> None:
    text = render_configuration()
    for option in OPTIONS:
        assert f"`{option.name}`" in text and option.doc
        for env in option.env:
            assert f"`{env}`" in text
