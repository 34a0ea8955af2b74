"""The Rivo merchant API (``/merchant_api/v1``): its blueprint, gates and views."""
