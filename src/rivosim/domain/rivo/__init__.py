"""Rivo's loyalty program for one shop: customers, ledger, rewards, tiers, referrals, webhooks."""
