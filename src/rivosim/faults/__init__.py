"""Faults and limits as data: rule documents and their distributions (``rules``), the rules in force and the
per-request decision (``fault_set``), Rivo's rate limit (``ratelimit``) and read-after-write lag (``read_lag``).
The HTTP answers a decision produces live in ``rivosim.http``, next to the request state they read."""
