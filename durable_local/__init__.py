"""durable_local: a pure-Python local host for Azure Durable Functions (Python v2 model).

Runs an unmodified ``function_app.py`` through the official ``azure-functions-durable`` SDK,
playing the Functions host and the Durable Task extension (see ../shared/docs/PROTOCOL.md).
"""

__version__ = "0.1.0"
