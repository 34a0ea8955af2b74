"""Shopify's Admin API slice: REST resources (customers, orders, store, webhooks) and the GraphQL endpoint."""
