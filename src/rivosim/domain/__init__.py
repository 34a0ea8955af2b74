"""The pure domain: Shopify and Rivo backends per shop, talking only through domain events."""
