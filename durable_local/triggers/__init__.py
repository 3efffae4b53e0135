"""Non-HTTP triggers: the trigger manager, timers, admin invoke (queue and blob listeners plug in)."""
