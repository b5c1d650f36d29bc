"""Alerts: format (Message per channel), send (apprise), outbox, digests, source health."""
