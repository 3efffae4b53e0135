"""The HTTP layer: app HTTP triggers, the Durable management API and host endpoints."""
