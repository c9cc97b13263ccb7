"""The contract suites' fixtures, shared by the test modules each suite is split into.

Each suite's implementations, fixtures and helpers live in its support module
(``mailbox_contract.py``...); the fixtures are made visible to the suite's modules here.
"""

from tests.integration.game_auth_contract import (  # noqa: F401
    ec_key,
    implementation,
    login_service,
    rsa_key,
)
from tests.integration.mailbox_contract import mailbox  # noqa: F401
from tests.integration.session_store_contract import (  # noqa: F401
    elapse,
    kept_strings,
    now,
    store,
    unreachable_store,
)
