"""The shop configuration document: defaults, refusals that name the field's JSON path, and RFC 7386 patches."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rivosim.domain.config import DEFAULT_CONFIG, default_config, merge_patch, resolve_config, validate_config
from rivosim.kernel.errors import InvalidConfig


def with_program(**program: Any) -> dict[str, Any]:
    return {"program": program}


def refused(doc: Any) -> InvalidConfig:
    with pytest.raises(InvalidConfig) as info:
        validate_config(doc)
    return info.value


# -- defaults --------------------------------------------------------------------------------------------------------
def test_the_defaults_are_valid() -> None:
    validate_config(default_config())


def test_default_config_is_a_fresh_copy() -> None:
    doc = default_config()
    doc["program"]["vip"]["tiers"].clear()
    assert DEFAULT_CONFIG["program"]["vip"]["tiers"]
    assert default_config()["program"]["vip"]["tiers"]


def test_resolving_nothing_gives_the_defaults() -> None:
    assert resolve_config(None) == DEFAULT_CONFIG
    assert resolve_config({}) == DEFAULT_CONFIG


def test_resolving_lays_the_document_over_the_defaults() -> None:
    resolved = resolve_config({"plan": "plus", "program": {"vip": {"period": "calendar_year"}}})
    assert resolved["plan"] == "plus"
    assert resolved["program"]["vip"]["period"] == "calendar_year"
    assert resolved["program"]["vip"]["tiers"] == DEFAULT_CONFIG["program"]["vip"]["tiers"]
    assert resolved["program"]["earning_rules"] == DEFAULT_CONFIG["program"]["earning_rules"]


def test_resolving_does_not_touch_the_defaults() -> None:
    before = copy.deepcopy(DEFAULT_CONFIG)
    resolved = resolve_config({"program": {"points_name": "Stars"}})
    resolved["program"]["rewards"].clear()
    assert before == DEFAULT_CONFIG


# -- schema refusals name the JSON path ------------------------------------------------------------------------------
@pytest.mark.parametrize(("doc", "field"), [
    ({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "B", "threshold": "high"}]}}},
     "program.vip.tiers[1].threshold"),
    ({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "B", "threshold": -5}]}}},
     "program.vip.tiers[1].threshold"),
    ({"plan": "enterprise"}, "plan"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": 5}, "timezone"),
    ({"currency": "usd"}, "currency"),
    ({"api": {"plan_refusal_status": 500}}, "api.plan_refusal_status"),
    ({"api": {"new_customer_visibility_delay": "30 seconds"}}, "api.new_customer_visibility_delay"),
    ({"program": {"earning_rules": [{"trigger": "dance"}]}}, "program.earning_rules[0].trigger"),
    ({"program": {"earning_rules": [{"trigger": "order_placed", "points_amount": -1}]}},
     "program.earning_rules[0].points_amount"),
    ({"program": {"rewards": [{"name": "x", "expiry_months": 25}]}}, "program.rewards[0].expiry_months"),
    ({"program": {"vip": {"entry_method": "vibes"}}}, "program.vip.entry_method"),
    ({"program": {"vip": {"start_date": "next tuesday"}}}, "program.vip.start_date"),
    ({"program": {"expiry": {"months": 0}}}, "program.expiry.months"),
    ({"rate_limits": {"rivo": {"rate": 0}}}, "rate_limits.rivo.rate"),
    ({"domain": "Shop.myshopify.com"}, "domain"),
    ({"customers": -1}, "customers"),
])
def test_schema_refusals_name_the_json_path(doc: dict[str, Any], field: str) -> None:
    err = refused(doc)
    assert err.field == field
    assert field in err.message


def test_an_unknown_top_level_key_is_refused_at_the_document() -> None:
    err = refused({"bogus": 1})
    assert err.field == "(document)"
    assert "bogus" in err.message


def test_a_missing_required_field_names_the_object() -> None:
    err = refused({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "B"}]}}})
    assert err.field == "program.vip.tiers[1]"
    assert "threshold" in err.message


def test_a_document_that_is_not_an_object_is_refused() -> None:
    assert refused([1, 2]).field == "(document)"


def test_the_shallowest_bad_field_is_reported_first() -> None:
    err = refused({"plan": "nope", "program": {"vip": {"tiers": [{"name": "A", "threshold": "x"}]}}})
    assert err.field == "plan"


# -- cross-field rules -----------------------------------------------------------------------------------------------
def test_duplicate_tier_names_are_refused_case_insensitively() -> None:
    err = refused(with_program(vip={"tiers": [{"name": "Gold", "threshold": 0}, {"name": "GOLD", "threshold": 10}]}))
    assert err.field == "program.vip.tiers"
    assert "names" in err.message


def test_duplicate_tier_thresholds_are_refused() -> None:
    err = refused(with_program(vip={"tiers": [{"name": "A", "threshold": 100}, {"name": "B", "threshold": 100.0}]}))
    assert err.field == "program.vip.tiers"
    assert "thresholds" in err.message


def test_custom_action_rule_needs_a_name() -> None:
    err = refused(with_program(earning_rules=[{"trigger": "order_placed"}, {"trigger": "custom_action"}]))
    assert err.field == "program.earning_rules[1].custom_action_name"


def test_visit_url_rule_needs_a_url() -> None:
    err = refused(with_program(earning_rules=[{"trigger": "visit_url", "points_amount": 5}]))
    assert err.field == "program.earning_rules[0].url"


def test_product_purchased_rule_needs_product_ids() -> None:
    assert refused(with_program(earning_rules=[{"trigger": "product_purchased"}])).field == \
        "program.earning_rules[0].product_ids"
    assert refused(with_program(earning_rules=[{"trigger": "product_purchased", "product_ids": []}])).field == \
        "program.earning_rules[0].product_ids"


def test_well_formed_special_rules_are_accepted() -> None:
    validate_config(with_program(earning_rules=[
        {"trigger": "custom_action", "custom_action_name": "quiz"},
        {"trigger": "visit_url", "url": "https://example.com/blog"},
        {"trigger": "product_purchased", "product_ids": [1, 2]},
    ]))


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "America", "Europe/../UTC", "../../etc/passwd", "UTC\x00"])
def test_a_timezone_that_is_not_iana_is_refused(tz: str) -> None:
    err = refused({"timezone": tz})
    assert err.field == "timezone"


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_iana_timezones_are_accepted(tz: str) -> None:
    validate_config({"timezone": tz})


def test_an_integration_may_be_connected_once() -> None:
    assert refused({"integrations": [{"name": "klaviyo"}, {"name": "klaviyo"}]}).field == "integrations"


def test_a_percentage_reward_above_100_is_refused() -> None:
    err = refused(with_program(rewards=[{"name": "x", "reward_type": "percentage", "reward_value": 150}]))
    assert err.field == "program.rewards[0].reward_value"


def test_a_blank_reward_name_is_refused() -> None:
    assert refused(with_program(rewards=[{"name": "   "}])).field == "program.rewards[0].name"


def test_duplicate_explicit_ids_are_refused() -> None:
    err = refused(with_program(earning_rules=[{"trigger": "order_placed", "id": 5},
                                              {"trigger": "review_complete", "id": 5}]))
    assert err.field == "program.earning_rules"


def test_a_visibility_delay_must_be_a_duration_the_clock_can_read() -> None:
    assert refused({"api": {"new_customer_visibility_delay": "Pxyz"}}).field == "api.new_customer_visibility_delay"
    validate_config({"api": {"new_customer_visibility_delay": "PT1M"}})
    validate_config({"api": {"new_customer_visibility_delay": 0}})


def test_resolve_fills_in_defaults_a_null_deleted() -> None:
    base = resolve_config({"program": {"vip": {"start_date": "2025-06-01"}}})
    resolved = resolve_config({"program": {"vip": {"start_date": None}}}, base=base)
    assert resolved["program"]["vip"]["start_date"] is None
    assert resolved == DEFAULT_CONFIG


def test_resolve_refuses_a_null_for_a_setting_that_cannot_be_null() -> None:
    with pytest.raises(InvalidConfig) as info:
        resolve_config({"plan": None}, base=resolve_config({}))
    assert info.value.field == "plan"


def test_resolve_validates_the_patch_itself() -> None:
    with pytest.raises(InvalidConfig) as info:
        resolve_config({"program": {"vip": {"tiers": [{"name": "A", "threshold": 0}, {"name": "a", "threshold": 1}]}}},
                       base=resolve_config({}))
    assert info.value.field == "program.vip.tiers"


def test_resolve_validates_the_merged_result() -> None:
    bad_base = {**default_config(), "plan": "enterprise"}
    with pytest.raises(InvalidConfig) as info:
        resolve_config({"timezone": "UTC"}, base=bad_base)
    assert info.value.field == "plan"


# -- merge patch (RFC 7386) ------------------------------------------------------------------------------------------
def test_merge_patch_merges_objects_recursively() -> None:
    target = {"a": {"b": 1, "c": 2}, "d": 3}
    assert merge_patch(target, {"a": {"b": 9}}) == {"a": {"b": 9, "c": 2}, "d": 3}


def test_merge_patch_replaces_lists() -> None:
    assert merge_patch({"tags": [1, 2, 3]}, {"tags": [4]}) == {"tags": [4]}


def test_merge_patch_null_deletes() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": None}}) == {"b": {"d": 3}}


def test_merge_patch_null_for_a_missing_key_is_harmless() -> None:
    assert merge_patch({"a": 1}, {"zzz": None}) == {"a": 1}


def test_merge_patch_object_replaces_a_scalar_and_drops_its_own_nulls() -> None:
    assert merge_patch({"a": 5}, {"a": {"b": 1, "c": None}}) == {"a": {"b": 1}}


def test_merge_patch_a_non_object_patch_replaces_the_target() -> None:
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]
    assert merge_patch({"a": 1}, "x") == "x"


def test_merge_patch_does_not_mutate_its_inputs() -> None:
    target = {"a": {"b": [1]}}
    patch = {"a": {"c": {"d": 1}}}
    out = merge_patch(target, patch)
    out["a"]["b"].append(2)
    out["a"]["c"]["d"] = 99
    assert target == {"a": {"b": [1]}}
    assert patch == {"a": {"c": {"d": 1}}}


@pytest.mark.parametrize(("target", "patch", "result"), [
    # The examples of RFC 7386, appendix A.
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_matches_rfc_7386_appendix_a(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result
