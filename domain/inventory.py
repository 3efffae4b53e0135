"""Inventory state machine for one SKU (the rules the InventoryEntity wraps).

Two ways to hold stock:

* **anonymous** (the seed's ``reserve(n) / release(n) / commit(n)``): a bare count nobody owns;
* **owned** (what the order workflows use): a :class:`Claim` names the holder (an orchestration
  instance id), the line and the run. The entity keeps ``holds[holder] = {"run", "lines"}``, so
  every owned operation is idempotent per holder and line: reserving a line twice reserves once,
  releasing or committing what the holder does not hold changes nothing, and a re-placed order (a
  new run of the same instance id) takes its earlier holding over instead of reserving again.

Invariants: ``0 <= reserved <= quantity`` and ``reserved >= sum of held lines``. Every amount is a
positive ``int`` (bools rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from domain.errors import field_errors

HolderId = Annotated[StrictStr, Field(min_length=1, max_length=256)]


class Claim(BaseModel):
    """Input of an owned ``reserve`` / ``release`` / ``commit``: who holds, which line, which run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order: HolderId
    line: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    quantity: Annotated[StrictInt, Field(gt=0)] | None = None
    run: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None


def parse_claim(raw: dict, operation: str) -> Claim:
    """A :class:`Claim` from an operation input; ``ValueError`` naming the bad fields otherwise."""
    try:
        claim = Claim.model_validate(raw)
    except ValidationError as exc:
        names = ", ".join(f"{e['field']}: {e['message']}" for e in field_errors(exc))
        raise ValueError(f"{operation}: invalid claim ({names})") from None
    if operation == "reserve" and (claim.line is None or claim.quantity is None):
        raise ValueError("reserve: a claim needs 'line' and 'quantity'")
    return claim


def _check_amount(amount: Any, operation: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"{operation}: amount must be a positive integer, got {amount!r}")
    if amount <= 0:
        raise ValueError(f"{operation}: amount must be a positive integer, got {amount}")
    return amount


def _non_negative(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


@dataclass
class Hold:
    """What one holder (an orchestration instance) holds on this SKU, per line."""

    run: str | None
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.lines.values())


@dataclass
class InventoryState:
    """Stock on hand, the part of it that is reserved, and who holds the owned part."""

    quantity: int = 0
    reserved: int = 0
    holds: dict[str, Hold] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _non_negative("quantity", self.quantity)
        _non_negative("reserved", self.reserved)
        if self.reserved > self.quantity:
            raise ValueError(f"reserved ({self.reserved}) exceeds quantity ({self.quantity})")
        if self.held > self.reserved:
            raise ValueError(f"held ({self.held}) exceeds reserved ({self.reserved})")

    @property
    def available(self) -> int:
        """Stock that can still be reserved."""
        return self.quantity - self.reserved

    @property
    def held(self) -> int:
        """The owned part of ``reserved``."""
        return sum(hold.total for hold in self.holds.values())

    # ---- the seed's anonymous operations ------------------------------------------------------

    def add(self, amount: Any) -> None:
        """Receive stock."""
        self.quantity += _check_amount(amount, "add")

    def reserve(self, amount: Any) -> bool:
        """Check-and-reserve: reserve ``amount`` if available, else change nothing and return False."""
        amount = _check_amount(amount, "reserve")
        if amount > self.available:
            return False
        self.reserved += amount
        return True

    def release(self, amount: Any) -> None:
        """Give back an anonymous reservation (never stock an owner holds)."""
        amount = _check_amount(amount, "release")
        if amount > self.reserved - self.held:
            raise ValueError(f"release: cannot release {amount}, only {self.reserved - self.held} reserved")
        self.reserved -= amount

    def commit(self, amount: Any) -> None:
        """Turn an anonymous reservation into a shipment: stock leaves the warehouse."""
        amount = _check_amount(amount, "commit")
        if amount > self.reserved - self.held:
            raise ValueError(f"commit: cannot commit {amount}, only {self.reserved - self.held} reserved")
        self.reserved -= amount
        self.quantity -= amount

    # ---- owned operations ----------------------------------------------------------------------

    def _hold_of(self, claim: Claim) -> Hold | None:
        """The claim's holding, or None when the holder holds nothing or a newer run holds it."""
        hold = self.holds.get(claim.order)
        if hold is None or (claim.run is not None and hold.run is not None and hold.run != claim.run):
            return None
        return hold

    def reserve_for(self, claim: Claim) -> bool:
        """Make ``claim.line`` of the holder hold exactly ``claim.quantity``; False if not available.

        A claim from a new run of the same holder takes the holding over (a re-placed order never
        reserves twice).
        """
        assert claim.line is not None and claim.quantity is not None
        hold = self.holds.get(claim.order)
        current = hold.lines.get(claim.line, 0) if hold else 0
        delta = claim.quantity - current
        if delta > self.available:
            return False
        if hold is None:
            hold = self.holds[claim.order] = Hold(run=claim.run)
        hold.run = claim.run
        hold.lines[claim.line] = claim.quantity
        self.reserved += delta
        return True

    def release_for(self, claim: Claim) -> int:
        """Release the holder's line (or all its lines); returns how much was released."""
        hold = self._hold_of(claim)
        if hold is None:
            return 0
        lines = [claim.line] if claim.line is not None else list(hold.lines)
        released = sum(hold.lines.pop(line, 0) for line in lines)
        if not hold.lines:
            del self.holds[claim.order]
        self.reserved -= released
        return released

    def commit_for(self, claim: Claim) -> int:
        """Ship everything the holder holds here; returns the committed amount.

        Repeated (nothing held any more), it commits nothing and answers 0: stock never leaves twice.
        """
        hold = self._hold_of(claim)
        if hold is None:
            return 0
        amount = hold.total
        del self.holds[claim.order]
        self.reserved -= amount
        self.quantity -= amount
        return amount

    # ---- views and persistence -----------------------------------------------------------------

    def get(self) -> dict[str, int]:
        """Snapshot including the derived ``available`` (the seed's ``get``)."""
        return {"quantity": self.quantity, "reserved": self.reserved, "available": self.available}

    def holders(self) -> dict[str, dict[str, int]]:
        """Who holds what: ``{holder: {line: quantity}}``."""
        return {order: dict(hold.lines) for order, hold in self.holds.items()}

    def to_state(self) -> dict[str, Any]:
        """What the entity persists."""
        state: dict[str, Any] = {"quantity": self.quantity, "reserved": self.reserved}
        if self.holds:
            state["holds"] = {o: {"run": h.run, "lines": dict(h.lines)} for o, h in self.holds.items()}
        return state

    @classmethod
    def from_state(cls, state: Any) -> InventoryState:
        """Rebuild from persisted entity state (``None`` means a new SKU)."""
        if state is None:
            return cls()
        if not isinstance(state, dict):
            raise ValueError(f"corrupt inventory state: {state!r}")
        holds: dict[str, Hold] = {}
        for order, raw in (state.get("holds") or {}).items():
            if not isinstance(raw, dict) or not isinstance(raw.get("lines"), dict):
                raise ValueError(f"corrupt inventory state: holding of {order!r} is {raw!r}")
            lines = {str(line): _non_negative(f"holds.{order}.{line}", n) for line, n in raw["lines"].items()}
            holds[str(order)] = Hold(run=raw.get("run"), lines=lines)
        return cls(quantity=state.get("quantity", 0), reserved=state.get("reserved", 0), holds=holds)
