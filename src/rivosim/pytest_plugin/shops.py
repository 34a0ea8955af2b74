"""The ``rivosim_shop`` fixture's shop with a clock of its own: in-process (:class:`LocalShop`, on the test's
simulator) or on one shared running server given by ``--rivosim-url`` (:class:`RemoteShop`, made and moved
through the control API). Either way ``shop.advance("P1Y")`` moves that shop's clock alone
(``Simulator.advance_shop`` / ``POST /_rivosim/shops/<domain>/clock/advance``), so tests on parallel workers
sharing one server never move each other's time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import requests

from rivosim.engine import Simulator
from rivosim.http.control.token import control_headers
from rivosim.kernel.clock import Duration, parse_instant
from rivosim.testing.helpers import ShopCredentials

__all__ = ["LocalShop", "RemoteShop"]

_FIELDS = ("rivo_api_key", "webhook_secret", "shopify_access_token", "shopify_api_key", "shopify_api_secret")


class LocalShop(ShopCredentials):
    """An in-process shop's credentials, plus its own clock: ``now()`` and ``advance(by | to=)``."""

    __slots__ = ("_sim",)

    def __init__(self, sim: Simulator, domain: str, creds: Any) -> None:
        super().__init__(domain, creds)
        self._sim = sim

    def now(self) -> datetime:
        return self._sim.shop(self.domain).clock.now()

    def advance(self, by: float | str | timedelta | Duration | None = None, *, to: datetime | None = None) -> datetime:
        """Move this shop's clock only (every other shop keeps its time); its new now."""
        return self._sim.advance_shop(self.domain, by, to=to)


class RemoteShop(Mapping[str, str]):
    """A shop on a running server: its credentials (attributes or a mapping, like ``ShopCredentials``), its
    URLs, and its own clock through the control API."""

    def __init__(self, url: str, created: dict[str, Any]) -> None:
        self.url = url.rstrip("/")
        self.domain = str(created["domain"])
        self.rivo_url = self.url + "/merchant_api/v1"
        self.shop_url = f"{self.url}/_rivosim/shops/{self.domain}"
        self._creds = {k: str(created[k]) for k in _FIELDS if k in created}

    @classmethod
    def create(cls, url: str, doc: dict[str, Any]) -> RemoteShop:
        """``POST /_rivosim/shops`` (a shop left by an earlier run of the same test is deleted first)."""
        base = url.rstrip("/")
        requests.delete(f"{base}/_rivosim/shops/{doc['domain']}", headers=control_headers(), timeout=30)
        reply = requests.post(base + "/_rivosim/shops", json=doc, headers=control_headers(), timeout=30)
        if reply.status_code != 201 and reply.status_code != 200:
            raise RuntimeError(f"POST {base}/_rivosim/shops -> {reply.status_code}: {reply.text[:300]}")
        return cls(base, reply.json())

    def __getattr__(self, name: str) -> str:
        creds = self.__dict__.get("_creds", {})
        if name in creds:
            return str(creds[name])
        raise AttributeError(name)

    def __getitem__(self, key: str) -> str:
        return self._creds[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._creds)

    def __len__(self) -> int:
        return len(self._creds)

    @property
    def rivo_headers(self) -> dict[str, str]:
        return {"Authorization": self._creds["rivo_api_key"]}

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        reply = requests.request(method, self.shop_url + path, json=body, headers=control_headers(), timeout=120)
        if reply.status_code != 200:
            raise RuntimeError(f"{method} {self.shop_url}{path} -> {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def now(self) -> datetime:
        return parse_instant(self._control("GET", "/clock")["now"])

    def advance(self, by: float | str | timedelta | None = None, *, to: datetime | None = None) -> datetime:
        """``POST …/clock/advance``: this shop's clock only; its new now."""
        if to is not None:
            body: dict[str, Any] = {"to": to.isoformat()}
        elif isinstance(by, str):
            body = {"duration": by}
        else:
            body = {"seconds": by.total_seconds() if isinstance(by, timedelta) else float(by or 0)}
        return parse_instant(self._control("POST", "/clock/advance", body)["now"])

    def reset(self) -> None:
        self._control("POST", "/reset", {})

    def delete(self) -> None:
        requests.delete(self.shop_url, headers=control_headers(), timeout=30)

    def __repr__(self) -> str:
        return f"RemoteShop(url={self.url!r}, domain={self.domain!r})"
