"""The ``rivosim`` command: ``serve`` (a real server for your client), ``demo`` (the main job end to end),
``run`` (replay scenarios in-process or against a server)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from rivosim.engine import Simulator
from rivosim.engine import validate_shop_document as validate_config
from rivosim.kernel.errors import SimError
from rivosim.snapshot import files as state_files
from rivosim.transports.gc_policy import tune_gc_for_serving

__all__ = ["build_simulator", "load_config_file", "main"]

DEMO_DOMAIN = "rivosim-demo.myshopify.com"


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML/JSON file: ``{"seed"?: int, "shops": [shop documents], "faults"?: [rules], "journal_cap"?: int}``
    or a single shop document. Each shop document and fault rule is validated before any shop is made; errors
    name the file and the field. Top-level ``faults`` apply to every shop (a shop's own ``faults`` only to it)."""
    import yaml  # imported here: the command's start-up should not pay for it when no file is given

    text = Path(path).read_text("utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SystemExit(f"{path}: not valid YAML/JSON: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: the top level must be a mapping (a shop document, or one with 'shops:')")
    # {faults: [...]} alone is a file of global rules (a shop document needs more than its faults).
    if "shops" in data or ("faults" in data and not set(data) - {"seed", "faults", "journal_cap"}):
        unknown = set(data) - {"shops", "seed", "faults", "journal_cap"}
        if unknown:
            raise SystemExit(f"{path}: unknown top-level key {sorted(unknown)[0]!r}; expected 'shops', 'seed', "
                             "'faults' and 'journal_cap'")
        shops = data.get("shops", [])
        if not isinstance(shops, list):
            raise SystemExit(f"{path}: 'shops' must be a list of shop documents")
        out = {"seed": data.get("seed"), "shops": shops, "faults": data.get("faults") or [],
               "journal_cap": data.get("journal_cap")}
    else:
        out = {"seed": None, "shops": [data], "faults": [], "journal_cap": None}
    from rivosim.faults.fault_set import validate_rules

    try:
        validate_rules(out["faults"], "faults")
    except SimError as exc:
        raise SystemExit(f"{path}: {exc.message}") from exc
    cap = out["journal_cap"]
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise SystemExit(f"{path}: journal_cap must be a whole number >= 1")
    for i, doc in enumerate(out["shops"]):
        try:
            validate_config({k: v for k, v in doc.items() if k != "customers"} if isinstance(doc, dict) else doc)
        except SimError as exc:
            raise SystemExit(f"{path}: shops[{i}].{exc.field}: {exc.message}") from exc
    return out


def build_simulator(*, seed: int, clock: str, demo: bool, customers: int, config: str | None) -> Simulator:
    loaded = load_config_file(config) if config else {"seed": None, "shops": [], "faults": [], "journal_cap": None}
    sim = Simulator(seed=loaded["seed"] if loaded["seed"] is not None else seed, clock=clock,
                    journal_cap=loaded["journal_cap"] or 10_000)
    for doc in loaded["shops"]:
        try:
            sim.create_shop(doc)
        except SimError as exc:
            raise SystemExit(f"{config}: {exc.message}") from exc
    if demo and DEMO_DOMAIN not in sim.shops:
        sim.create_shop({"domain": DEMO_DOMAIN, "name": "rivosim demo shop"}, customers=customers)
    if loaded["faults"]:
        sim.faults.add_all(loaded["faults"], where="faults", origin="config")
    return sim


_LOOPBACK_NAMES = ("localhost", "ip6-localhost")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    import logging

    from rivosim.http.app import create_app
    from rivosim.transports.credentials_file import remove_credentials_file, write_credentials_file
    from rivosim.transports.server import LIMIT_NAMES, Server
    from rivosim.webhooks.self_target import add_listening_address

    token = args.control_token
    if not token and not is_loopback(args.host) and not args.insecure_control:
        print(f"refusing to serve the control API on {args.host} without a token: anyone who can connect could "
              "reset the world or read every shop's keys. Pass --control-token TOKEN (or set "
              "RIVOSIM_CONTROL_TOKEN), or --insecure-control if this network is yours alone.", file=sys.stderr)
        return 2
    sim = state_files.load_for_serve(build_simulator(seed=args.seed, clock=args.clock, demo=args.demo,
                                                     customers=args.customers, config=args.config), args.state)
    limits = {name: getattr(args, name) for name in LIMIT_NAMES}
    try:
        server = Server(create_app(sim, control_token=token), host=args.host, port=args.port, tick=sim.tick,
                        on_app_error=lambda exc, _env: sim.record_bug(exc, "server"), certfile=args.certfile,
                        keyfile=args.keyfile, **limits)
    except (ValueError, OSError) as exc:
        print(f"rivosim serve: {exc}", file=sys.stderr)
        return 2
    credentials = args.credentials_json  # README "Running in CI": written once the server is ready
    remove_credentials_file(credentials)
    send_off_the_loop(sim)
    tune_gc_for_serving(sim)
    server.start()
    add_listening_address(sim, server.host, server.port)  # webhook URLs aimed back here are refused
    url = server.url
    print(f"rivosim {sim.clock.kind}-clock server on {url} (seed {sim.seed})")
    print(f"  Rivo merchant API : {url}/merchant_api/v1   (Authorization: <rivo_api_key>)")
    print(f"  control API       : {url}/_rivosim" + ("   (Authorization: Bearer <control token>)" if token else ""))
    for shop in sim.shops.values():
        print(json.dumps(shop.credentials_dict(), indent=2))
    print("Ctrl-C stops the server.", flush=True)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    try:
        write_credentials_file(credentials, url, token, sim)
        while not stopping and not server.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the credentials file could not be written: a CI script would wait for it forever
        print(f"rivosim serve: --credentials-json {credentials}: {exc}", file=sys.stderr)
        return 2
    finally:
        remove_credentials_file(credentials)
        # Stop accepting and close the connections (the shell answers no request half-way: the app runs inline),
        # then give up on webhook deliveries still queued: exit within 5 s whatever the receivers do.
        server.stop(timeout=2.0)
        state_files.save_for_serve(sim, args.save_state)
        abandoned = sim.outbox.shutdown()
        logging.basicConfig()
        print(f"rivosim stopped; {abandoned} webhook deliveries abandoned", file=sys.stderr, flush=True)
    return 0


def send_off_the_loop(sim: Simulator) -> None:
    """Webhooks leave from the fair threaded sender on either clock: the event loop never waits on a receiver
    (a virtual clock's default sender posts inline, during ``advance``/``tick``, which would freeze every
    connection behind one slow receiver). After a reset, which restores the default sender, again.

    On a virtual clock one send of a shop is in flight at a time: a shop's deliveries reach its receiver in the
    order they were made, whatever else the server is doing (a run is reproducible, and ``rivosim run --jobs N``
    gives each scenario the transcript of a serial run); shops still take turns on the workers."""
    from rivosim.webhooks.senders import ThreadedSender

    per_shop = 1 if sim.clock.kind == "virtual" else 2

    def install() -> None:
        if not isinstance(sim.outbox.sender, ThreadedSender):
            sim.use_sender(ThreadedSender(per_shop=per_shop))

    install()
    sim.on_reset.append(install)


def _demo(args: argparse.Namespace) -> int:
    from rivosim.demo import run_demo

    sim = build_simulator(seed=args.seed, clock="wall", demo=True, customers=args.customers, config=None)
    return run_demo(sim, DEMO_DOMAIN)


def _openapi(args: argparse.Namespace) -> int:
    from rivosim.http.app import create_app
    from rivosim.http.openapi import document_text, graphql_sdl

    text = graphql_sdl() if args.api == "graphql" else document_text(create_app(Simulator(seed=0)), args.api)
    if args.output:
        Path(args.output).write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _run(args: argparse.Namespace) -> int:
    import time

    from rivosim.scenarios.loader import load_paths
    from rivosim.scenarios.parallel import reset_server, run_suite, transcript_lines
    from rivosim.scenarios.report import Progress, format_load_error, print_report, write_junit

    if args.jobs is not None and (args.jobs < 1 or not args.against):
        print("--jobs N (N >= 1) needs --against URL: in-process each scenario has a world of its own",
              file=sys.stderr)
        return 2
    scenarios, errors = load_paths(args.paths or ["scenarios"])
    for error in errors:
        print(format_load_error(error), file=sys.stderr)
    if args.against and args.seed is not None:  # the seed is the server's: replaying under another resets it
        problem = reset_server(args.against, args.seed)
        print(problem or f"reset {args.against} to seed {args.seed}", file=sys.stderr if problem else sys.stdout)
        if problem:
            return 2
    progress = Progress(len(scenarios))
    started = time.perf_counter()
    results = run_suite(scenarios, against=args.against, jobs=args.jobs, seed=args.seed, keep_going=args.keep_going,
                        on_start=progress.start, on_result=progress.result)
    mode = (f"against {args.against}" + (f", {args.jobs} jobs" if args.jobs else "")) if args.against else "in-process"
    print_report(results, mode=mode, seconds=time.perf_counter() - started)
    if args.junit:
        write_junit(results, args.junit, load_errors=errors)
    if args.transcript:
        Path(args.transcript).write_text(
            "".join(json.dumps(line, sort_keys=True, default=str) + "\n" for line in transcript_lines(results)),
            "utf-8")
    return 0 if scenarios and not errors and all(r.passed for r in results) else 1


# serve's limits: (flag value type, metavar, help). Defaults come from ShellLimits; README "Server limits".
_LIMIT_HELP: dict[str, tuple[type, str, str]] = {
    "header_timeout": (float, "S", "seconds from a request's first byte to the end of its headers (then 408, "
                                   "closed)"),
    "keepalive_timeout": (float, "S", "seconds an idle connection stays open between requests"),
    "body_timeout": (float, "S", "seconds without body progress before the request is dropped (408, closed)"),
    "max_connections": (int, "N", "open connections; one more gets 503 + Connection: close"),
    "max_header_bytes": (int, "BYTES", "request line + headers, in all (then 431)"),
    "max_url_bytes": (int, "BYTES", "request target length (then 414)"),
    "max_body_bytes": (int, "BYTES", "one request body (then 413)"),
    "max_buffered_bytes": (int, "BYTES", "request bodies held across all connections (then 503)"),
    "max_headers": (int, "N", "request headers (then 431)"),
}


def _add_guard_flags(serve: argparse.ArgumentParser) -> None:
    import os

    from rivosim.transports.shell_context import ShellLimits

    defaults = ShellLimits()
    limits = serve.add_argument_group("limits (each protects the process; README: Server limits)")
    for name, (kind, metavar, text) in _LIMIT_HELP.items():
        limits.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, metavar=metavar,
                            default=getattr(defaults, name), help=f"{text} (default: %(default)s)")
    tls = serve.add_argument_group("TLS")
    tls.add_argument("--certfile", help="serve HTTPS with this PEM certificate (chain)")
    tls.add_argument("--keyfile", help="its private key (if not inside --certfile)")
    guard = serve.add_argument_group("control API")
    guard.add_argument("--control-token", default=os.environ.get("RIVOSIM_CONTROL_TOKEN") or None, metavar="TOKEN",
                       help="every /_rivosim request must send Authorization: Bearer TOKEN (default: "
                            "$RIVOSIM_CONTROL_TOKEN)")
    guard.add_argument("--insecure-control", action="store_true",
                       help="allow a non-loopback --host without a control token")
    guard.add_argument("--credentials-json", metavar="FILE", help="once serving, write {url, control_token?, shops: "
                       "[credentials]} to FILE (atomically, mode 0600; removed on exit)")


def _trigger(args: argparse.Namespace) -> int:
    """``rivosim trigger TOPIC --shop DOMAIN``: one sample webhook through a running server; prints the outcome of
    each delivery's first attempt. Exit 0 when every delivery was accepted, 1 when one failed, 2 when refused."""
    import requests

    base = args.url.rstrip("/")
    body: dict[str, Any] = {"topic": args.topic}
    if args.customer is not None:
        body["customer"] = args.customer
    # A server started with a control token wants it as a bearer token (RIVOSIM_CONTROL_TOKEN, as for serve).
    token = os.environ.get("RIVOSIM_CONTROL_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        reply = requests.post(f"{base}/_rivosim/shops/{args.shop}/webhooks/trigger", json=body, headers=headers,
                              timeout=60)
    except requests.RequestException as exc:
        print(f"cannot reach {base}: {exc}", file=sys.stderr)
        return 2
    try:
        data = reply.json()
    except ValueError:
        data = {}
    if reply.status_code != 202:
        message = (data.get("error") or {}).get("message") if isinstance(data, dict) else None
        print(f"refused ({reply.status_code}): {message or reply.text[:300]}", file=sys.stderr)
        return 2
    who = f" for customer {data['customer_id']}" if data.get("customer_id") else ""
    print(f"{data['topic']} ({data['api']}){who}: {len(data['deliveries'])} delivery(ies)")
    failed = False
    for d in data["deliveries"]:
        attempt = d["attempts"][-1] if d["attempts"] else None
        if attempt is None:
            print(f"  {d['id']} -> {d['url']}: {d['status']} (not attempted yet)")
            continue
        ok = attempt["status_code"] is not None and 200 <= attempt["status_code"] < 300
        failed = failed or not ok
        outcome = f"HTTP {attempt['status_code']}" if attempt["status_code"] is not None else "no response"
        if attempt["error"]:
            outcome += f" ({attempt['error']})"
        later = f"; next attempt at {d['next_attempt_at']}" if d.get("next_attempt_at") else ""
        print(f"  {d['id']} -> {d['url']}: {d['status']}, attempt {attempt['number']}: {outcome} in "
              f"{attempt['duration_ms']:.1f} ms{later}")
        for name, value in d["headers"].items():
            if "signature" in name.lower() or "hmac" in name.lower():
                print(f"    {name}: {value}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rivosim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the Rivo and control APIs on a real HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8282)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--demo", action=argparse.BooleanOptionalAction, default=True,
                       help=f"create the demo shop {DEMO_DOMAIN} (default: yes)")
    serve.add_argument("--customers", type=int, default=25, help="customers seeded into the demo shop")
    serve.add_argument("--clock", choices=("wall", "virtual"), default="wall")
    serve.add_argument("--config", help="YAML/JSON file: {seed: N, shops: [shop documents], faults: [rules], "
                                        "journal_cap: N}, or one shop document")
    _add_guard_flags(state_files.add_serve_flags(serve))
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="start a real server, walk one customer through the API, "
                                       "then replay the scenario library over HTTP")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--customers", type=int, default=25)
    demo.set_defaults(func=_demo)

    run = sub.add_parser("run", help="replay scenarios (in-process, or against a running server) and report")
    run.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or directories (default: scenarios)")
    run.add_argument("--against", metavar="URL", help="a running rivosim server, e.g. http://127.0.0.1:8282")
    run.add_argument("--seed", type=int, default=None, help="override every scenario's seed")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    run.add_argument("--keep-going", action="store_true", help="run every scenario even after a failure")
    run.add_argument("--jobs", type=int, metavar="N", help="with --against: N scenarios side by side, each "
                     "in its own shop on its own clock (--jobs 1: the same, one at a time)")
    run.add_argument("--transcript", metavar="FILE", help="write every request and workflow event as JSON lines")
    run.set_defaults(func=_run)

    openapi = sub.add_parser("openapi", help="print an API's OpenAPI 3.1 document (or the Shopify GraphQL SDL)")
    openapi.add_argument("api", choices=("rivo", "shopify", "control", "graphql"))
    openapi.add_argument("-o", "--output", metavar="FILE", help="write it here instead of stdout")
    openapi.set_defaults(func=_openapi)

    trigger = sub.add_parser("trigger", help="send one sample webhook of TOPIC through a running server "
                                             "(signed, retried, logged) and print the delivery's outcome")
    trigger.add_argument("topic", metavar="TOPIC", help="a Rivo or Shopify topic, e.g. customer/birthday, orders/paid")
    trigger.add_argument("--shop", required=True, metavar="DOMAIN", help="the shop's myshopify domain")
    trigger.add_argument("--url", default="http://127.0.0.1:8282", help="the running rivosim server")
    trigger.add_argument("--customer", help="a customer id or email (default: the newest)")
    trigger.set_defaults(func=_trigger)

    args = parser.parse_args(argv)
    if getattr(args, "customers", 0) < 0:
        parser.error("--customers must be >= 0")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
