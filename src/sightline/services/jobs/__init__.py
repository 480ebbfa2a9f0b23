"""Durable jobs: the queue, the worker role, handlers and task runners."""
