"""Pure orchestration engine: history + new messages -> SDK call -> new history + messages.

Nothing in this package touches the store, the network or the wall clock; the runtime
passes ``now`` in and persists what comes out.
"""
