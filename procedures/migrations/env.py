"""Alembic environment: the engine comes from ``config.attributes['engine']``.

Every model module is imported here — and only here — so that ``Base.metadata`` knows all tables
(autogenerate compares against it; the test suite empties every table through it). The service
itself imports a model module only where it uses it.
"""

from __future__ import annotations

from alembic import context

import chain.index_store  # noqa: F401 - the chain event index tables
import chain.outbox  # noqa: F401 - the outbox
import procedures.applications.models  # noqa: F401
import procedures.auth.models  # noqa: F401
import procedures.cardpay.models  # noqa: F401
import procedures.civic.models  # noqa: F401
import procedures.console.sessions  # noqa: F401
import procedures.crypto  # noqa: F401 - the vault's data keys
import procedures.identity.models  # noqa: F401
import procedures.merchants.models  # noqa: F401
import procedures.offline.models  # noqa: F401
import procedures.operator.models  # noqa: F401
import procedures.settlement.models  # noqa: F401
import procedures.transfers.models  # noqa: F401
from chain.storage import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
