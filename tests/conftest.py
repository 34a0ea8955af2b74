"""Suite-wide set-up: hypothesis profiles (``ci`` when the ``CI`` variable is set, ``dev`` by default, ``long``
for local soaks; ``HYPOTHESIS_PROFILE`` picks one) and pytester for the plugin's own tests."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=25, stateful_step_count=25, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=_SLOW_OK)
settings.register_profile("dev", max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("long", max_examples=1000, stateful_step_count=60, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
