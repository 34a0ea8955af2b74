"""Webhook signatures: the documented Rivo scheme, the Standard-Webhooks scheme seen live, and Shopify's."""

from __future__ import annotations

import base64
import hashlib
import hmac

from rivosim.webhooks import sign_rivo, sign_shopify, sign_standard, verify, verify_shopify


def test_shopify_signature_matches_the_reference_test_vector() -> None:
    # shopify-api.md §4.3: computed independently for this exact body and secret.
    body = b'{"id":820982911946154508,"email":"jon@example.com","tags":"VIP-Gold"}'
    assert sign_shopify(body, "test_client_secret") == "HuXKrUaVDzzZAG9OR40Iabv2kJ7+1YfThayvlvURekk="
    spaced = b'{"id":820982911946154508, "email":"jon@example.com","tags":"VIP-Gold"}'
    assert sign_shopify(spaced, "test_client_secret") == "VEI56PScWdAnHWW0kkxSXubrYXcM01zEk1zW4aGTemM="


def test_rivo_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"points_diff":100}'
    expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    assert sign_rivo(body, "s3cret") == expected
    assert verify(body, {"rivo-signature": expected}, "s3cret")
    assert not verify(body + b" ", {"rivo-signature": expected}, "s3cret")
    assert not verify(body, {"rivo-signature": expected}, "other")


def test_standard_webhooks_signature_signs_id_timestamp_and_body() -> None:
    body = b'{"a":1}'
    sig = sign_standard("msg_1", 1_700_000_000, body, "k" * 64)
    raw = hmac.new(("k" * 64).encode(), b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert sig == "v1," + base64.b64encode(raw).decode()
    headers = {"Rivo-Webhook-Id": "msg_1", "rivo-webhook-timestamp": "1700000000", "rivo-webhook-signature": sig}
    assert verify(body, headers, "k" * 64, now=1_700_000_100)
    # Outside the tolerance window (replay protection) unless the check is switched off.
    assert not verify(body, headers, "k" * 64, now=1_700_000_000 + 301)
    assert verify(body, headers, "k" * 64, tolerance_seconds=None)
    # A rotated-key list: any matching v1 entry is enough.
    headers["rivo-webhook-signature"] = "v1,bm9wZQ== " + sig
    assert verify(body, headers, "k" * 64, now=1_700_000_000)
    headers["Rivo-Webhook-Id"] = "msg_2"
    assert not verify(body, headers, "k" * 64, now=1_700_000_000)


def test_unsigned_or_half_signed_deliveries_do_not_verify() -> None:
    assert not verify(b"{}", {}, "s")
    assert not verify(b"{}", {"rivo-webhook-signature": "v1,xx"}, "s", tolerance_seconds=None)
    assert not verify_shopify(b"{}", {}, "s")
    assert verify_shopify(b"{}", {"x-shopify-hmac-sha256": sign_shopify(b"{}", "s")}, "s")
