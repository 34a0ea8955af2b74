"""The control API (``/_rivosim``): shops, clock, journal, faults, webhooks, Shopify and embedded-admin controls."""
