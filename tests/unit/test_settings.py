"""``Settings``: read from the environment and the flags, checked in one place."""

from __future__ import annotations

import subprocess
import sys

import im_adapters
from im_core.errors import ConfigurationError


def test_the_settings_do_not_depend_on_the_adapters() -> None:
    probe = "import sys, im_http.settings; print('im_adapters' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_the_adapters_still_export_the_one_configuration_error() -> None:
    assert im_adapters.ConfigurationError is ConfigurationError
