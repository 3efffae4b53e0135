"""Helpers reached from the bad orchestrators."""

import random as rnd
from datetime import datetime
from os import environ

COUNTER = "Counter"
MISSING_ENTITY = "Countr"


def stamp():
    return datetime.utcnow().isoformat()  # DL003 via helper


def pick(items):
    return rnd.choice(items)  # DL006


def steps(context):
    value = yield context.call_activity("Known", environ.get("X"))  # DL008
    return value


def never_reached():
    return datetime.now()  # not reachable from an orchestrator: no finding
