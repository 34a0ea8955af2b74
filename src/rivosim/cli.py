"""The ``rivosim`` command: ``serve`` (a real server for your client), ``demo`` (the main job end to end)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from .config import validate_config
from .engine import Simulator
from .errors import SimError

__all__ = ["build_simulator", "load_config_file", "main"]

DEMO_DOMAIN = "rivosim-demo.myshopify.com"


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML/JSON file: ``{"seed"?: int, "shops": [shop documents]}`` or a single shop document.
    Each shop document is validated before any shop is made; errors name the file and the field."""
    text = Path(path).read_text("utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SystemExit(f"{path}: not valid YAML/JSON: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: the top level must be a mapping (a shop document, or one with 'shops:')")
    if "shops" in data:
        unknown = set(data) - {"shops", "seed"}
        if unknown:
            raise SystemExit(f"{path}: unknown top-level key {sorted(unknown)[0]!r}; expected 'shops' and 'seed'")
        shops = data["shops"]
        if not isinstance(shops, list):
            raise SystemExit(f"{path}: 'shops' must be a list of shop documents")
        out = {"seed": data.get("seed"), "shops": shops}
    else:
        out = {"seed": None, "shops": [data]}
    for i, doc in enumerate(out["shops"]):
        try:
            validate_config({k: v for k, v in doc.items() if k != "customers"} if isinstance(doc, dict) else doc)
        except SimError as exc:
            raise SystemExit(f"{path}: shops[{i}].{exc.field}: {exc.message}") from exc
    return out


def build_simulator(*, seed: int, clock: str, demo: bool, customers: int, config: str | None) -> Simulator:
    loaded = load_config_file(config) if config else {"seed": None, "shops": []}
    sim = Simulator(seed=loaded["seed"] if loaded["seed"] is not None else seed, clock=clock)
    for doc in loaded["shops"]:
        try:
            sim.create_shop(doc)
        except SimError as exc:
            raise SystemExit(f"{config}: {exc.message}") from exc
    if demo and DEMO_DOMAIN not in sim.shops:
        sim.create_shop({"domain": DEMO_DOMAIN, "name": "rivosim demo shop"}, customers=customers)
    return sim


def _serve(args: argparse.Namespace) -> int:
    from .http.app import create_app
    from .server import Server

    sim = build_simulator(seed=args.seed, clock=args.clock, demo=args.demo, customers=args.customers,
                          config=args.config)
    server = Server(create_app(sim), host=args.host, port=args.port, tick=sim.tick,
                    on_app_error=lambda exc, _env: sim.record_bug(exc, "server"))
    server.start()
    url = server.url
    print(f"rivosim {sim.clock.kind}-clock server on {url} (seed {sim.seed})")
    print(f"  Rivo merchant API : {url}/merchant_api/v1   (Authorization: <rivo_api_key>)")
    print(f"  control API       : {url}/_rivosim")
    for shop in sim.shops.values():
        print(json.dumps(shop.credentials_dict(), indent=2))
    print("Ctrl-C stops the server.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(seed=args.seed, customers=args.customers)


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
    serve.add_argument("--config", help="YAML/JSON file with shop documents ({shops: [...], seed: N})")
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="run a customer lifecycle against a real server and print what happened")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--customers", type=int, default=25)
    demo.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    if getattr(args, "customers", 0) < 0:
        parser.error("--customers must be >= 0")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
