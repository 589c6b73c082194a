"""Fixtures for the service: settings aimed at the test chain and database, a runtime, a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from procedures.app import create_app
from procedures.config import Settings
from procedures.runtime import Runtime


@pytest.fixture
def settings(anvil, tmp_path, database_url) -> Settings:
    url, _ = database_url
    return Settings(
        environment="test", var_dir=tmp_path / "var", database_url=url, rpc_url=anvil.url,
        chain_id=anvil.config.chain_id, relayer_poll_interval=0.01, batch_max_wait=0.02,
    )


@pytest.fixture
def runtime(settings, engine, sessions, w3) -> Iterator[Runtime]:
    rt = Runtime.create(settings, engine=engine)
    rt.deploy()
    yield rt
    rt.stop_workers()


@pytest.fixture
def client(settings, runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime, workers=True)) as c:
        yield c
