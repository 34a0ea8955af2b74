"""Rivo rewards (rivo-api.md §3.4): list, create, update, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from rivosim.domain.shop import Shop
from rivosim.http.params import path_id, read_body, read_filters
from rivosim.http.rivo.common import many, one, request_shop
from rivosim.http.routing import Routes
from rivosim.wire import rivo as wire

__all__ = ["routes"]

routes = Routes()


def _reward_attrs(shop: Shop) -> Callable[[Any], dict[str, Any]]:
    points_name = shop.settings.program.points_name
    return lambda r: wire.reward(r, points_name)


@routes.route("/rewards", "GET", "rivo.rewards.list")
def rewards_list() -> Response:
    read_filters(request, ())
    shop = request_shop()
    return many("rewards", shop.rivo.list_rewards(), lambda r: r.id, _reward_attrs(shop),
                 sort_fields=("id", "created_at", "updated_at", "points_amount", "name"))


def _reward_body() -> dict[str, Any]:
    body = read_body(request)
    inner = body.get("reward")
    return inner if isinstance(inner, dict) else body


@routes.route("/rewards", "POST", "rivo.rewards.create")
def rewards_create() -> Response:
    shop = request_shop()
    reward = shop.rivo.create_reward(_reward_body())
    return one("rewards", reward.id, _reward_attrs(shop)(reward), 201)


@routes.route("/rewards/<reward_id>", "PUT", "rivo.rewards.update")
def rewards_update(reward_id: str) -> Response:
    shop = request_shop()
    reward = shop.rivo.update_reward(path_id(reward_id, "reward id", "rivo"), _reward_body())
    return one("rewards", reward.id, _reward_attrs(shop)(reward))


@routes.route("/rewards/<reward_id>", "DELETE", "rivo.rewards.delete")
def rewards_delete(reward_id: str) -> Response:
    shop = request_shop()
    reward = shop.rivo.delete_reward(path_id(reward_id, "reward id", "rivo"))
    return one("rewards", reward.id, _reward_attrs(shop)(reward))
