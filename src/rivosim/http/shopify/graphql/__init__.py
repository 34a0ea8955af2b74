"""Shopify's Admin GraphQL subset, served by graphql-core: schema, objects, resolvers, mutations and the endpoint."""
