"""Requests generated from the API's own OpenAPI schema, valid and invalid, a bounded number per
operation: the server never answers with a 5xx."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import schemathesis
from api_support import make_services
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from studio.api.routes import create_api_app

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 10


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, examples):
    services = make_services(tmp_path_factory.mktemp("schema"), tiny_model_dir, examples, max_upload_mb=1.0)
    services.engine.ensure_loaded()
    return schemathesis.openapi.from_asgi("/openapi.json", create_api_app(services))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(api_schema, mode: GenerationMode) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/audio/speech", "/v1/audio/speech/upload", "/v1/audio/voices"}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        with contextlib.suppress(Unsatisfiable):  # an operation without parameters has no invalid form
            call()
