"""``machi-pos`` against a real service: the wallet's end-to-end fixtures (the service on a real port, its
chain and database, onboarded merchants, a resident's keystore) — the counter and the resident meet there."""

from __future__ import annotations

from tests.procedures.cardpay.conftest import city_counter  # noqa: F401 - fixtures
from tests.procedures.conftest import coin  # noqa: F401 - fixtures
from tests.procedures.identity.conftest import api  # noqa: F401 - fixtures
from tests.wallet.conftest import (  # noqa: F401 - fixtures
    _fresh_rate_limits,
    arrange,
    client,
    contracts,
    id_ca,
    id_keys,
    issue,
    make_resident,
    make_staff,
    onboard,
    operator,
    receiver,
    runtime,
    service_settings,
    settings,
    treasury,
)
from tests.wallet.test_cli_payments import PASSWORD, server, wallet_home  # noqa: F401 - fixtures
