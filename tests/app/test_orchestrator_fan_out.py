"""OrderOrchestrator (fan-out/fan-in) through the SDK replay engine."""

from __future__ import annotations

import json

from tests.app.harness import actions, run_orchestrator
from tests.app.history import History

ORDER = {
    "orderId": "ord-1",
    "items": [
        {"id": "1", "productId": "SKU-1", "quantity": 2, "unitPriceCents": 500},
        {"id": "2", "productId": "SKU-2", "quantity": 1, "unitPriceCents": 1250},
    ],
}


def item_result(item: dict) -> dict:
    return {
        "itemId": item["id"],
        "productId": item["productId"],
        "quantity": item["quantity"],
        "amountCents": item["quantity"] * item["unitPriceCents"],
        "status": "processed",
    }


def test_first_episode_fans_out_one_process_item_per_line():
    state = run_orchestrator("OrderOrchestrator", History("OrderOrchestrator", ORDER))
    assert state["isDone"] is False
    (when_all,) = actions(state)
    assert when_all["actionType"] == 12
    assert [a["functionName"] for a in when_all["compoundActions"]] == ["ProcessItem", "ProcessItem"]
    assert [json.loads(a["input"]) for a in when_all["compoundActions"]] == ORDER["items"]
    assert state["customStatus"] == {"step": "processing_items", "itemCount": 2}


def test_all_items_done_finalizes_with_total_then_completes():
    h = History("OrderOrchestrator", ORDER, instance_id="ord-1")
    h.task_scheduled(0, "ProcessItem").task_scheduled(1, "ProcessItem")
    h.episode().task_completed(1, item_result(ORDER["items"][1])).task_completed(
        0, item_result(ORDER["items"][0])
    )
    state = run_orchestrator("OrderOrchestrator", h)
    finalize = actions(state)[-1]
    assert finalize["actionType"] == 0 and finalize["functionName"] == "FinalizeOrder"
    payload = json.loads(finalize["input"])
    assert payload["totalCents"] == 2250
    assert payload["idempotencyKey"] == "ord-1:finalize"
    assert [r["itemId"] for r in payload["itemResults"]] == ["1", "2"]

    h.task_scheduled(2, "FinalizeOrder").episode().task_completed(2, {"status": "finalized"})
    state = run_orchestrator("OrderOrchestrator", h)
    assert state["isDone"] is True
    assert state["output"] == {"status": "completed", "total": 2250}


def test_item_failure_ends_failed_without_finalizing():
    h = History("OrderOrchestrator", ORDER)
    h.task_scheduled(0, "ProcessItem").task_scheduled(1, "ProcessItem")
    h.episode().task_failed(0, "Activity function 'ProcessItem' failed:  ActivityInputError: bad", "{}")
    state = run_orchestrator("OrderOrchestrator", h)
    assert state["isDone"] is True
    assert state["output"]["status"] == "failed"
    assert "ProcessItem" in state["output"]["error"]
    assert all(a["functionName"] != "FinalizeOrder" for a in actions(state)[0]["compoundActions"])
    assert len(actions(state)) == 1


def test_invalid_input_fails_without_actions():
    state = run_orchestrator("OrderOrchestrator", History("OrderOrchestrator", {"orderId": "x"}))
    assert state["isDone"] is True
    assert state["output"]["status"] == "failed"
    assert actions(state) == []
