"""InventoryState rules and the InventoryEntity through the SDK entity protocol (PROTOCOL §5.2)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.inventory import InventoryState
from tests.app.harness import user_function


def op(name: str, value: Any = None, signal: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "input": None if value is None else json.dumps(json.dumps(value)),
        "isSignal": signal,
    }


def run_batch(state: dict | None, batch: list[dict[str, Any]], key: str = "SKU-1") -> dict[str, Any]:
    request = {
        "self": {"name": "inventoryentity", "key": key},
        "exists": state is not None,
        "state": None if state is None else json.dumps(state),
        "batch": batch,
    }
    return json.loads(user_function("InventoryEntity")(json.dumps(request)))


def results(response: dict[str, Any]) -> list[tuple[bool, Any]]:
    return [(r["isError"], json.loads(r["result"])) for r in response["results"]]


def test_add_reserve_get_batch():
    response = run_batch(None, [op("add", 5, signal=True), op("reserve", 3), op("reserve", 3), op("get")])
    assert results(response) == [
        (False, {"quantity": 5, "reserved": 0, "available": 5}),
        (False, True),
        (False, False),
        (False, {"quantity": 5, "reserved": 3, "available": 2}),
    ]
    assert response["entityExists"] is True
    assert json.loads(response["entityState"]) == {"quantity": 5, "reserved": 3}


def test_commit_and_release_move_reservations():
    response = run_batch({"quantity": 10, "reserved": 6}, [op("commit", 4), op("release", 2), op("get")])
    assert results(response)[-1] == (False, {"quantity": 6, "reserved": 0, "available": 6})


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None, [1]])
@pytest.mark.parametrize("operation", ["add", "reserve", "release", "commit"])
def test_invalid_amount_is_an_operation_error_and_state_is_unchanged(operation, bad):
    response = run_batch(
        {"quantity": 3, "reserved": 1}, [op(operation, bad) if bad is not None else op(operation, "null")]
    )
    ((is_error, message),) = results(response)
    assert is_error is True
    assert "positive integer" in message
    assert json.loads(response["entityState"]) == {"quantity": 3, "reserved": 1}


def test_release_and_commit_cannot_exceed_reserved():
    response = run_batch({"quantity": 3, "reserved": 1}, [op("release", 2), op("commit", 2)])
    assert [e for e, _ in results(response)] == [True, True]
    assert json.loads(response["entityState"]) == {"quantity": 3, "reserved": 1}


def test_unknown_operation_is_an_error():
    ((is_error, message),) = results(run_batch(None, [op("explode", 1)]))
    assert is_error and "unknown operation" in message


def test_domain_rejects_inconsistent_state():
    with pytest.raises(ValueError):
        InventoryState(quantity=1, reserved=2)
    with pytest.raises(ValueError):
        InventoryState.from_state({"quantity": -1, "reserved": 0})


amounts = st.one_of(st.integers(min_value=-3, max_value=40), st.booleans(), st.floats(allow_nan=False))


class InventoryMachine(RuleBasedStateMachine):
    """Drive the real entity function batch by batch against a simple model."""

    def __init__(self) -> None:
        super().__init__()
        self.state: dict | None = None
        self.model = {"quantity": 0, "reserved": 0}

    def _apply(self, name: str, amount: Any) -> tuple[bool, Any]:
        response = run_batch(self.state, [op(name, amount)])
        self.state = json.loads(response["entityState"]) if response["entityExists"] else self.state
        ((is_error, value),) = results(response)
        return is_error, value

    @staticmethod
    def _valid(amount: Any) -> bool:
        return isinstance(amount, int) and not isinstance(amount, bool) and amount > 0

    @rule(amount=amounts)
    def add(self, amount: Any) -> None:
        is_error, _ = self._apply("add", amount)
        assert is_error is not self._valid(amount)
        if not is_error:
            self.model["quantity"] += amount

    @rule(amount=amounts)
    def reserve(self, amount: Any) -> None:
        is_error, value = self._apply("reserve", amount)
        assert is_error is not self._valid(amount)
        if not is_error:
            fits = amount <= self.model["quantity"] - self.model["reserved"]
            assert value is fits
            if fits:
                self.model["reserved"] += amount

    @rule(amount=amounts, operation=st.sampled_from(["release", "commit"]))
    def release_or_commit(self, amount: Any, operation: str) -> None:
        is_error, _ = self._apply(operation, amount)
        allowed = self._valid(amount) and amount <= self.model["reserved"]
        assert is_error is not allowed
        if allowed:
            self.model["reserved"] -= amount
            if operation == "commit":
                self.model["quantity"] -= amount

    @invariant()
    def never_oversold_nor_negative(self) -> None:
        state = self.state or {"quantity": 0, "reserved": 0}
        assert state == self.model
        assert 0 <= state["reserved"] <= state["quantity"]


InventoryMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestInventoryStateMachine = InventoryMachine.TestCase
