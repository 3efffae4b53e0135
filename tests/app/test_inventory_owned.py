"""Owned reservations: InventoryEntity claims are idempotent per order and line (and per run)."""

from __future__ import annotations

import json

import pytest

from domain.inventory import Claim, InventoryState
from tests.app.test_inventory import op, results, run_batch


def claim(order: str = "o-1", line: str | None = "l-1", quantity: int | None = 2, run: str | None = "r1") -> dict:
    return {k: v for k, v in {"order": order, "line": line, "quantity": quantity, "run": run}.items() if v is not None}


def test_reserving_the_same_line_twice_reserves_once():
    response = run_batch({"quantity": 10, "reserved": 0}, [op("reserve", claim()), op("reserve", claim())])
    assert results(response) == [(False, True), (False, True)]
    state = json.loads(response["entityState"])
    assert state == {"quantity": 10, "reserved": 2, "holds": {"o-1": {"run": "r1", "lines": {"l-1": 2}}}}


def test_release_and_commit_only_touch_what_the_order_holds():
    inv = InventoryState(quantity=10)
    assert inv.reserve_for(Claim(order="a", line="1", quantity=3, run="r"))
    assert inv.reserve_for(Claim(order="b", line="1", quantity=4, run="r"))
    assert inv.release_for(Claim(order="c")) == 0  # holds nothing
    assert inv.release_for(Claim(order="a")) == 3
    assert inv.release_for(Claim(order="a")) == 0  # idempotent
    assert inv.commit_for(Claim(order="b")) == 4
    assert inv.commit_for(Claim(order="b")) == 0  # stock never leaves twice
    assert inv.get() == {"quantity": 6, "reserved": 0, "available": 6} and inv.holders() == {}


def test_a_new_run_takes_the_holding_over_and_an_old_run_cannot_release_it():
    inv = InventoryState(quantity=5)
    assert inv.reserve_for(Claim(order="o", line="1", quantity=2, run="first"))
    # The order was terminated and placed again: the new run reserves the same line.
    assert inv.reserve_for(Claim(order="o", line="1", quantity=2, run="second"))
    assert inv.reserved == 2
    # A reconciler that saw the first run not running signals release for that run: no effect.
    assert inv.release_for(Claim(order="o", run="first")) == 0
    assert inv.release_for(Claim(order="o", run="second")) == 2


def test_reserve_beyond_available_changes_nothing():
    inv = InventoryState(quantity=3)
    assert inv.reserve_for(Claim(order="o", line="1", quantity=2))
    assert not inv.reserve_for(Claim(order="p", line="1", quantity=2))
    assert inv.holders() == {"o": {"1": 2}}


def test_anonymous_release_cannot_take_owned_stock():
    inv = InventoryState(quantity=5)
    inv.reserve_for(Claim(order="o", line="1", quantity=2))
    with pytest.raises(ValueError, match="only 0 reserved"):
        inv.release(1)
    inv.reserve(1)
    inv.release(1)  # the seed's anonymous reservations keep working alongside
    assert inv.reserved == 2


@pytest.mark.parametrize(
    ("payload", "needle"),
    [({"line": "1", "quantity": 1}, "order"), ({"order": "o", "quantity": 0, "line": "1"}, "quantity"),
     ({"order": "o", "line": "1"}, "needs 'line' and 'quantity'"), ({"order": "o", "bogus": 1}, "bogus")],
)
def test_a_bad_claim_is_an_operation_error_naming_the_field(payload, needle):
    response = run_batch({"quantity": 3, "reserved": 0}, [op("reserve", payload)])
    ((is_error, message),) = results(response)
    assert is_error and needle in message
    assert json.loads(response["entityState"]) == {"quantity": 3, "reserved": 0}


def test_persisted_holdings_round_trip_and_corruption_is_named():
    inv = InventoryState(quantity=4)
    inv.reserve_for(Claim(order="o", line="1", quantity=3, run="r"))
    assert InventoryState.from_state(inv.to_state()) == inv
    with pytest.raises(ValueError, match="held"):
        InventoryState.from_state({"quantity": 4, "reserved": 1, "holds": {"o": {"run": None, "lines": {"1": 3}}}})
