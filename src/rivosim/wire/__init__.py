"""Wire formats: domain objects to the JSON shapes of the real APIs (used by HTTP and by webhooks)."""
