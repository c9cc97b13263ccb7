"""Adapters that make the core's ports real: Redis, SQL databases, game logins.

Each adapter receives a ready client (a ``redis.Redis``, an SQLAlchemy ``Engine``...)
and has a ``from_url``-style named constructor that builds one from configuration.
Driver errors never leave an adapter: they become the port's own errors.
"""

from im_core.errors import ConfigurationError

# ConfigurationError lives in im_core.errors; it is re-exported here because adapters
# and their callers have always imported it from this package.
__all__ = ["ConfigurationError"]
