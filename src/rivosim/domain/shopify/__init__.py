"""Shopify's side of one shop: customers, orders, tags and metafields."""
