"""Suite-wide set-up: hypothesis profiles (``ci`` when the ``CI`` variable is set, ``dev`` by default, ``long``
for local soaks; ``HYPOTHESIS_PROFILE`` picks one), pytester for the plugin's own tests, and
``RIVOSIM_CHECK_CACHES=1``: every hit of the HTTP layer's shape cache is recomputed and compared, so the whole
suite checks that the cache never serves stale data (servers the tests start inherit it)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]
os.environ.setdefault("RIVOSIM_CHECK_CACHES", "1")

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=25, stateful_step_count=25, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=_SLOW_OK)
settings.register_profile("dev", max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=_SLOW_OK)
# ``make soak`` sizes the long profile with RIVOSIM_SOAK_EXAMPLES (examples per test; 1000 when unset).
settings.register_profile("long", max_examples=int(os.environ.get("RIVOSIM_SOAK_EXAMPLES") or 1000),
                          stateful_step_count=60, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
