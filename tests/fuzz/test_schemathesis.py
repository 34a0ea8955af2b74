"""schemathesis against a live ``rivosim serve``, one fresh server per API: cases generated from each OpenAPI
document — fuzzing, then the stateful phase that follows the links the document declares (create a reward →
update / redeem / delete it, create a webhook → update → delete, a Shopify customer or order → get / update /
delete) — each response checked for not-a-server-error and status-code, content-type and response-schema
conformance. Bounded for ``make test`` (``RIVOSIM_FUZZ_EXAMPLES`` cases per operation and mode, default 5);
``make fuzz`` adds the coverage phase and runs more. The case counts are printed in the terminal summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fuzz.conftest import make_shop, record_result

EXAMPLES = int(os.environ.get("RIVOSIM_FUZZ_EXAMPLES", "5"))
PHASES = os.environ.get("RIVOSIM_FUZZ_PHASES", "fuzzing,stateful")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Control operations a fuzzer must not run: they end the world it is fuzzing (reset, delete the shop,
# uninstall the app), move its clock, send webhooks to wherever a subscription points, or install fault rules
# whose whole point is non-conforming responses.
CONTROL_EXCLUDED = ("control.reset", "control.shops.delete", "control.clock.advance", "control.run_until_idle",
                    "control.faults.create", "control.shopify.app.uninstall", "control.shops.patch",
                    "control.shops.api_key.regenerate", "control.webhooks.trigger")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("api", ["rivo", "shopify", "control"])
def test_schemathesis_finds_no_failures(api: str, live_server: str, tmp_path: Path,
                                        pytestconfig: pytest.Config) -> None:
    created = make_shop(live_server)
    args = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{live_server}/_rivosim/openapi/{api}.json",
            "--url", live_server, "--checks", CHECKS, "--phases", PHASES, "--max-examples", str(EXAMPLES),
            "--generation-deterministic", "--workers", "1", "--no-color", "--suppress-health-check", "all",
            "--request-timeout", "30", "--warnings", "off"]
    if api == "rivo":
        args += ["--header", f"Authorization: {created['rivo_api_key']}"]
    elif api == "shopify":
        args += ["--header", f"X-Shopify-Access-Token: {created['shopify_access_token']}",
                 "--exclude-operation-id", "shopify.graphql"]  # a GraphQL body is not a REST case
    else:
        for operation in CONTROL_EXCLUDED:
            args += ["--exclude-operation-id", operation]
    started = time.perf_counter()
    run = subprocess.run(args, capture_output=True, text=True, timeout=880, check=False,
                         cwd=tmp_path)  # schemathesis keeps its .schemathesis/ state in the working directory
    output = run.stdout + run.stderr
    counts = re.search(r"Test cases:\s*\n\s*(\d+) generated, ([^\n]*)", output)
    operations = re.search(r"Tested: (\d+)", output)
    line = (f"{api}: {counts.group(1) if counts else '?'} cases over {operations.group(1) if operations else '?'} "
            f"operations ({counts.group(2) if counts else 'no summary'}) in {time.perf_counter() - started:.1f} s")
    record_result(pytestconfig, line)
    assert run.returncode == 0 and counts is not None, line + "\n" + output[-6000:]
    assert int(counts.group(1)) > 0, line
