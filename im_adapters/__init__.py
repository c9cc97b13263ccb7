"""Adapters that make the core's ports real: Redis, SQL databases, game logins.

Each adapter receives a ready client (a ``redis.Redis``, an SQLAlchemy ``Engine``...)
and has a ``from_url``-style named constructor that builds one from configuration.
Driver errors never leave an adapter: they become the port's own errors.
"""

__all__ = ["ConfigurationError"]


class ConfigurationError(ValueError):
    """A setting cannot work: a malformed URL, a missing driver, an unreadable key.

    The message is one line a human can act on (for a missing driver: the pip
    command that installs it). ``im-server`` prints it and exits.
    """
