"""durable_local: a pure-Python local host for Azure Durable Functions (Python v2 model).

Runs an unmodified ``function_app.py`` through the official ``azure-functions-durable`` SDK,
playing the Functions host and the Durable Task extension (docs/ARCHITECTURE.md in the repository
describes the parts and the wire protocol).
"""

__version__ = "0.1.0"
