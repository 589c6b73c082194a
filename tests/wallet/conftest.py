"""``machi-wallet`` against a real service: the service fixtures of ``tests/procedures`` (a runtime on
the session's chain and database, the app, arranged residents, merchants, staff) and one settings
override for what the wallet's end-to-end tests wait on.

The wallet's own unit tests (cards, keystore, isolation) use none of these.
"""

from __future__ import annotations

import pytest

from procedures.config import Settings
from procedures.identity.testca import TestCA
from tests.procedures.applications.conftest import make_staff, treasury  # noqa: F401 - fixtures
from tests.procedures.conftest import (  # noqa: F401 - fixtures
    _fresh_rate_limits,
    arrange,
    client,
    live_server,
    make_resident,
    operator,
    runtime,
)
from tests.procedures.conftest import settings as service_settings  # noqa: F401 - the base of ``settings``
from tests.procedures.identity.conftest import contracts, id_ca, id_keys, issue, trusting  # noqa: F401 - fixtures
from tests.procedures.merchants.conftest import onboard, receiver  # noqa: F401 - fixtures


@pytest.fixture
def settings(service_settings: Settings, id_ca: TestCA) -> Settings:  # noqa: F811 - imported fixtures
    """The service trusting the session's TEST CA, anchoring events within a second (``receipt
    --verify``) and delivering webhooks without idling (``pay``); sweeps left to the tests."""
    return trusting(service_settings, id_ca).model_copy(update={
        "applications_anchor_interval": 0.3, "applications_sweep_interval": 3600.0, "webhook_poll_interval": 0.05,
    })
