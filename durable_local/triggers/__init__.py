"""Trigger listeners beside HTTP: they run with the host (``manager.TriggerManager``)."""
