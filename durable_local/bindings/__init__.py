"""Bindings shared by every function kind: inputs, outputs, durable client, expressions.

``invoke_function(ctx, fi, trigger_value, trigger_data)`` runs a function with its bindings;
HTTP triggers and activities use ``invocation.prepare`` / ``invocation.finish`` directly.
"""

from .invocation import BindingError, ClientEnv
from .runner import call_user_function, client_env, invoke_function

__all__ = ["BindingError", "ClientEnv", "call_user_function", "client_env", "invoke_function"]
