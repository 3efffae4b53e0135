"""Developer tools around the local host: history export and replay, the orchestrator
linter, cloud-parity warnings and trace-linked, replay-safe logging.

Nothing here is imported by the deployable app; the engine and the runtime only reach the
tools through one hook (``observe.after_episode``) called by the dispatcher.
"""
