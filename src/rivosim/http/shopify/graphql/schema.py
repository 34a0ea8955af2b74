"""The slice of Shopify's GraphQL Admin schema a loyalty app uses (shopify-api.md §2), as SDL for graphql-core:
``customer``/``customers``/``order``/``orders``/``shop``/``node``/``themes``/``webhookSubscriptions`` and the
mutations ``tagsAdd``, ``tagsRemove``, ``metafieldsSet``, ``customerUpdate``, ``webhookSubscriptionCreate``,
``webhookSubscriptionDelete``. Names and types follow the official schema; what is not here is not emulated.
"""

from __future__ import annotations

from functools import cache

from graphql import GraphQLSchema, build_schema

__all__ = ["SDL", "schema"]

_CONNECTION_ARGS = "first: Int, after: String, last: Int, before: String, reverse: Boolean"

SDL = f"""
scalar DateTime
scalar URL
scalar JSON
scalar UnsignedInt64
scalar Decimal

interface Node {{ id: ID! }}

type PageInfo {{
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}}

type MoneyV2 {{ amount: Decimal! currencyCode: String! }}
type MoneyBag {{ shopMoney: MoneyV2! presentmentMoney: MoneyV2! }}
type UserError {{ field: [String!] message: String! }}

enum MetafieldOwnerType {{ CUSTOMER ORDER SHOP }}

type Metafield implements Node {{
  id: ID!
  legacyResourceId: UnsignedInt64!
  namespace: String!
  key: String!
  value: String!
  type: String!
  jsonValue: JSON!
  description: String
  ownerType: MetafieldOwnerType!
  compareDigest: String!
  createdAt: DateTime!
  updatedAt: DateTime!
}}
type MetafieldEdge {{ cursor: String! node: Metafield! }}
type MetafieldConnection {{ edges: [MetafieldEdge!]! nodes: [Metafield!]! pageInfo: PageInfo! }}

interface HasMetafields {{
  metafield(namespace: String, key: String!): Metafield
  metafields({_CONNECTION_ARGS}, namespace: String, keys: [String!]): MetafieldConnection!
}}

enum CustomerState {{ DECLINED DISABLED ENABLED INVITED }}
type CustomerEmailAddress {{ emailAddress: String! }}

type Customer implements Node & HasMetafields {{
  id: ID!
  legacyResourceId: UnsignedInt64!
  firstName: String
  lastName: String
  displayName: String!
  email: String
  phone: String
  note: String
  tags: [String!]!
  numberOfOrders: UnsignedInt64!
  amountSpent: MoneyV2!
  createdAt: DateTime!
  updatedAt: DateTime!
  verifiedEmail: Boolean!
  validEmailAddress: Boolean!
  state: CustomerState!
  canDelete: Boolean!
  lifetimeDuration: String!
  defaultEmailAddress: CustomerEmailAddress
  metafield(namespace: String, key: String!): Metafield
  metafields({_CONNECTION_ARGS}, namespace: String, keys: [String!]): MetafieldConnection!
  orders({_CONNECTION_ARGS}, query: String): OrderConnection!
}}
type CustomerEdge {{ cursor: String! node: Customer! }}
type CustomerConnection {{ edges: [CustomerEdge!]! nodes: [Customer!]! pageInfo: PageInfo! }}

enum OrderDisplayFinancialStatus {{
  AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED
}}

type Order implements Node & HasMetafields {{
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  email: String
  note: String
  tags: [String!]!
  test: Boolean!
  closed: Boolean!
  closedAt: DateTime
  cancelledAt: DateTime
  cancelReason: String
  createdAt: DateTime!
  updatedAt: DateTime!
  processedAt: DateTime!
  displayFinancialStatus: OrderDisplayFinancialStatus
  discountCodes: [String!]!
  customer: Customer
  subtotalPriceSet: MoneyBag
  totalPriceSet: MoneyBag!
  currentTotalPriceSet: MoneyBag!
  totalDiscountsSet: MoneyBag
  totalRefundedSet: MoneyBag!
  metafield(namespace: String, key: String!): Metafield
  metafields({_CONNECTION_ARGS}, namespace: String, keys: [String!]): MetafieldConnection!
}}
type OrderEdge {{ cursor: String! node: Order! }}
type OrderConnection {{ edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }}

type ShopPlan {{ displayName: String! shopifyPlus: Boolean! partnerDevelopment: Boolean! }}

type Shop implements Node & HasMetafields {{
  id: ID!
  name: String!
  email: String!
  myshopifyDomain: String!
  currencyCode: String!
  ianaTimezone: String!
  plan: ShopPlan!
  metafield(namespace: String, key: String!): Metafield
  metafields({_CONNECTION_ARGS}, namespace: String, keys: [String!]): MetafieldConnection!
}}

enum ThemeRole {{ ARCHIVED DEMO DEVELOPMENT LOCKED MAIN UNPUBLISHED }}
type OnlineStoreTheme implements Node {{
  id: ID!
  name: String!
  role: ThemeRole!
  themeStoreId: Int
  processing: Boolean!
  createdAt: DateTime!
  updatedAt: DateTime!
}}
type OnlineStoreThemeEdge {{ cursor: String! node: OnlineStoreTheme! }}
type OnlineStoreThemeConnection {{
  edges: [OnlineStoreThemeEdge!]! nodes: [OnlineStoreTheme!]! pageInfo: PageInfo!
}}

enum WebhookSubscriptionTopic {{
  APP_UNINSTALLED CUSTOMERS_CREATE CUSTOMERS_DELETE CUSTOMERS_UPDATE ORDERS_CANCELLED ORDERS_CREATE
  ORDERS_PAID ORDERS_UPDATED REFUNDS_CREATE THEMES_PUBLISH
}}
enum WebhookSubscriptionFormat {{ JSON XML }}
type WebhookHttpEndpoint {{ callbackUrl: URL! }}
union WebhookSubscriptionEndpoint = WebhookHttpEndpoint
type ApiVersion {{ handle: String! displayName: String! supported: Boolean! }}
type WebhookSubscription implements Node {{
  id: ID!
  legacyResourceId: UnsignedInt64!
  topic: WebhookSubscriptionTopic!
  format: WebhookSubscriptionFormat!
  includeFields: [String!]!
  metafieldNamespaces: [String!]!
  apiVersion: ApiVersion!
  endpoint: WebhookSubscriptionEndpoint!
  callbackUrl: URL!
  uri: String!
  createdAt: DateTime!
  updatedAt: DateTime!
}}
type WebhookSubscriptionEdge {{ cursor: String! node: WebhookSubscription! }}
type WebhookSubscriptionConnection {{
  edges: [WebhookSubscriptionEdge!]! nodes: [WebhookSubscription!]! pageInfo: PageInfo!
}}

input WebhookSubscriptionInput {{
  callbackUrl: URL
  uri: String
  format: WebhookSubscriptionFormat
  includeFields: [String!]
  metafieldNamespaces: [String!]
}}
type WebhookSubscriptionCreatePayload {{ webhookSubscription: WebhookSubscription userErrors: [UserError!]! }}
type WebhookSubscriptionDeletePayload {{ deletedWebhookSubscriptionId: ID userErrors: [UserError!]! }}

input MetafieldsSetInput {{
  ownerId: ID!
  namespace: String
  key: String!
  type: String
  value: String!
  compareDigest: String
}}
enum MetafieldsSetUserErrorCode {{
  APP_NOT_AUTHORIZED BLANK CAPABILITY_VIOLATION INCLUSION INTERNAL_ERROR INVALID INVALID_COMPARE_DIGEST
  INVALID_TYPE INVALID_VALUE LESS_THAN_OR_EQUAL_TO PRESENT STALE_OBJECT TAKEN TOO_LONG TOO_SHORT
}}
type MetafieldsSetUserError {{
  field: [String!]
  message: String!
  code: MetafieldsSetUserErrorCode
  elementIndex: Int
}}
type MetafieldsSetPayload {{ metafields: [Metafield!] userErrors: [MetafieldsSetUserError!]! }}

type TagsAddPayload {{ node: Node userErrors: [UserError!]! }}
type TagsRemovePayload {{ node: Node userErrors: [UserError!]! }}

input MetafieldInput {{ id: ID namespace: String key: String value: String type: String }}
input CustomerInput {{
  id: ID
  email: String
  firstName: String
  lastName: String
  phone: String
  note: String
  tags: [String!]
  metafields: [MetafieldInput!]
}}
type CustomerUpdatePayload {{ customer: Customer userErrors: [UserError!]! }}

type Query {{
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  shop: Shop!
  customer(id: ID!): Customer
  customers({_CONNECTION_ARGS}, query: String, sortKey: String): CustomerConnection!
  order(id: ID!): Order
  orders({_CONNECTION_ARGS}, query: String, sortKey: String): OrderConnection!
  themes(first: Int, after: String, last: Int, before: String, roles: [ThemeRole!]): OnlineStoreThemeConnection
  webhookSubscription(id: ID!): WebhookSubscription
  webhookSubscriptions({_CONNECTION_ARGS}, topics: [WebhookSubscriptionTopic!], callbackUrl: URL
                       ): WebhookSubscriptionConnection!
}}

type Mutation {{
  tagsAdd(id: ID!, tags: [String!]!): TagsAddPayload
  tagsRemove(id: ID!, tags: [String!]!): TagsRemovePayload
  metafieldsSet(metafields: [MetafieldsSetInput!]!): MetafieldsSetPayload
  customerUpdate(input: CustomerInput!): CustomerUpdatePayload
  webhookSubscriptionCreate(topic: WebhookSubscriptionTopic!,
                            webhookSubscription: WebhookSubscriptionInput!): WebhookSubscriptionCreatePayload
  webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
}}
"""


@cache
def schema() -> GraphQLSchema:
    return build_schema(SDL)
