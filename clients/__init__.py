"""HTTP routes: order, inventory and orchestration starters (durable client bindings)."""
