/* durable_local dashboard: one instance – status, input, output, custom status, its parent
 * orchestration and the sub-orchestrations it started (links both ways), the history timeline,
 * and the management actions: raise an event (with one-click Approve / Reject for orders
 * awaiting approval, and Cancel order, which the saga compensates), raw terminate (no
 * compensation runs), suspend, resume, restart and purge. Every action goes through the Durable
 * HTTP API (api.js). */
"use strict";

window.DL = window.DL || {};
DL.views = DL.views || {};

(function (DL) {
  const el = (...a) => DL.el(...a);
  const ACTIVE = ["Running", "Pending", "Suspended", "ContinuedAsNew"];
  const ORDER = "OrderSaga"; // the order app's saga: it listens for CancelOrder and compensates

  /** A button that asks for a second click (within 4 s) before it runs `fn`. */
  function confirmButton(id, label, cls, fn) {
    const button = el("button", { type: "button", id, class: `btn ${cls}`, disabled: true }, label);
    let timer = null;
    button.addEventListener("click", () => {
      if (button.dataset.armed) {
        clearTimeout(timer);
        delete button.dataset.armed;
        button.textContent = label;
        fn();
        return;
      }
      button.dataset.armed = "1";
      button.textContent = `Click again to ${label.toLowerCase()}`;
      timer = setTimeout(() => { delete button.dataset.armed; button.textContent = label; }, 4000);
    });
    return button;
  }

  function panel(title, ...children) {
    return el("section", { class: "panel" }, el("h2", {}, title), ...children);
  }

  DL.views.instance = function (container, id) {
    const badge = el("span", { id: "instance-status" });
    const meta = el("div", { class: "meta muted", id: "instance-meta" });
    const reason = el("input", { type: "text", id: "action-reason", placeholder: "Reason (optional)",
      "aria-label": "Reason", value: "" });
    const why = () => reason.value.trim() || "from the dashboard";

    const approve = el("button", { type: "button", id: "approve-btn", disabled: true, class: "btn btn-ok" }, "✓ Approve");
    const reject = el("button", { type: "button", id: "reject-btn", disabled: true, class: "btn btn-danger" }, "✗ Reject");
    const send = (approved) => DL.act(approved ? "Approve" : "Reject", () =>
      DL.api.raiseEvent(id, "ApprovalResponse", { approved, approver: "dashboard" }));
    approve.addEventListener("click", () => send(true));
    reject.addEventListener("click", () => send(false));
    const callout = el("div", { class: "callout", id: "approval", hidden: true },
      el("div", {}, el("strong", {}, "Awaiting approval. "),
        el("span", { id: "approval-detail" }, ""),
        " Sends the ApprovalResponse event with approver \"dashboard\"."),
      el("div", { class: "buttons" }, approve, reject));

    const cancelOrder = confirmButton("cancel-order-btn", "Cancel order", "btn-danger",
      () => DL.act("Cancel order", () => DL.api.raiseEvent(id, "CancelOrder", { orderId: id })));
    cancelOrder.title = "Raises CancelOrder: the saga releases the stock and refunds, then ends as cancelled.";
    cancelOrder.hidden = true;
    const terminate = confirmButton("terminate-btn", "Terminate (no compensation)", "btn-danger",
      () => DL.act("Terminate", () => DL.api.terminate(id, why())));
    terminate.title = "Stops the instance at once; none of its code runs again (an order does not compensate).";
    const suspend = el("button", { type: "button", id: "suspend-btn", disabled: true, class: "btn" }, "Suspend");
    suspend.addEventListener("click", () => DL.act("Suspend", () => DL.api.suspend(id, why())));
    const resume = el("button", { type: "button", id: "resume-btn", disabled: true, class: "btn" }, "Resume");
    resume.addEventListener("click", () => DL.act("Resume", () => DL.api.resume(id, why())));
    const restart = confirmButton("restart-btn", "Restart", "", async () => {
      const newId = await DL.act("Restart", () => DL.api.restart(id, true));
      if (newId) DL.go(`/instances/${encodeURIComponent(newId)}`);
    });
    const purge = confirmButton("purge-btn", "Purge", "btn-danger", async () => {
      const r = await DL.act("Purge", () => DL.api.purge(id));
      if (r) DL.go("/");
    });

    const eventName = el("input", { type: "text", id: "event-name", placeholder: "Event name, e.g. ApprovalResponse",
      "aria-label": "Event name", spellcheck: "false" });
    const eventBody = el("textarea", { id: "event-body", rows: 2, "aria-label": "Event data (JSON)", spellcheck: "false",
      placeholder: 'Event data (JSON), e.g. {"approved": true, "approver": "me", "comment": "ok"}' });
    const form = el("form", { class: "raise", id: "raise-form" }, eventName, eventBody,
      el("button", { type: "submit", class: "btn", id: "raise-btn" }, "Raise event"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = eventName.value.trim();
      let value;
      try {
        value = eventBody.value.trim() ? JSON.parse(eventBody.value) : null;
      } catch (e) {
        DL.flash(`The event data is not valid JSON: ${e.message}`, "error");
        return;
      }
      if (!name) { DL.flash("An event name is required.", "error"); return; }
      DL.act(`Raise ${name}`, () => DL.api.raiseEvent(id, name, value));
    });

    const input = el("div", { id: "instance-input" });
    const output = el("div", { id: "instance-output" });
    const custom = el("div", { id: "instance-custom" });
    const related = el("div", { id: "instance-related" });
    const timeline = el("div", { id: "timeline" });
    const raw = el("div", { id: "history-raw" });

    const parentCrumb = el("span", { id: "parent-crumb", hidden: true });
    container.append(
      el("div", { class: "crumbs" }, el("a", { href: "#/" }, "‹ Instances"), parentCrumb),
      el("div", { class: "instance-head" }, el("h1", { class: "mono", id: "instance-id" }, id), badge),
      meta,
      callout,
      el("section", { class: "panel actions" },
        el("div", { class: "buttons" }, reason, cancelOrder, terminate, suspend, resume, restart, purge),
        form),
      el("div", { class: "cols3" }, panel("Input", input), panel("Output", output), panel("Custom status", custom)),
      panel("History timeline", el("p", { class: "muted legend" },
        el("span", { class: "key key-activity" }, "activity"), el("span", { class: "key key-suborch" }, "sub-orchestration"),
        el("span", { class: "key key-entity" }, "entity call"), el("span", { class: "key key-timer" }, "timer"),
        el("span", { class: "key key-failed" }, "failed"), el("span", { class: "key key-pending" }, "pending"),
        " Time axis compressed; click a row for the event."), timeline),
      panel("Related instances", related),
      el("details", { class: "panel" }, el("summary", {}, "History events (raw)"), raw));

    let lastHistory = null;

    async function refresh() {
      const s = await DL.api.getInstance(id);
      if (!s) {
        badge.replaceChildren(DL.statusBadge("NotFound"));
        meta.textContent = "This instance does not exist (or was purged).";
        callout.hidden = true;
        for (const b of [cancelOrder, terminate, suspend, resume, restart, purge, approve, reject]) b.disabled = true;
        return;
      }
      document.body.dataset.instanceStatus = s.runtimeStatus;
      badge.replaceChildren(DL.statusBadge(s.runtimeStatus));
      meta.textContent = `${s.name} · created ${DL.fmtTime(s.createdTime)} · last updated ${DL.fmtTime(s.lastUpdatedTime)}`;
      const awaiting = DL.awaitingApproval(s);
      callout.hidden = !awaiting;
      approve.disabled = reject.disabled = !awaiting;
      if (awaiting) {
        const c = s.customStatus;
        const total = Number.isFinite(c.totalCents) ? `Total ${(c.totalCents / 100).toFixed(2)}` : "";
        const limit = Number.isFinite(c.thresholdCents) ? ` is above the threshold of ${(c.thresholdCents / 100).toFixed(2)}.` : ".";
        document.getElementById("approval-detail").textContent = total ? total + limit : "";
      }
      const active = ACTIVE.includes(s.runtimeStatus);
      cancelOrder.hidden = s.name !== ORDER;
      cancelOrder.disabled = !active || s.name !== ORDER;
      terminate.disabled = !active;
      suspend.disabled = s.runtimeStatus !== "Running" && s.runtimeStatus !== "Pending";
      resume.disabled = s.runtimeStatus !== "Suspended";
      purge.disabled = active;
      restart.disabled = false;
      input.replaceChildren(DL.jsonBlock(s.input));
      output.replaceChildren(DL.jsonBlock(s.output));
      custom.replaceChildren(DL.jsonBlock(s.customStatus));
      const history = JSON.stringify([s.runtimeStatus, s.historyEvents || []]);
      if (history !== lastHistory) {
        lastHistory = history;
        DL.timeline.render(timeline, s.historyEvents || [], s.runtimeStatus, DL.el);
        raw.replaceChildren(DL.jsonBlock(s.historyEvents || []));
      }
      const links = await DL.api.links(id);
      parentCrumb.hidden = !links.parent;
      parentCrumb.replaceChildren(...(links.parent ? [" · sub-orchestration of ",
        el("a", { href: DL.instanceHref(links.parent), id: "parent-link", class: "mono" }, links.parent)] : []));
      const { items } = await DL.api.listInstances({ prefix: `${id}:`, top: 50 });
      const byId = new Map(items.map((r) => [r.instanceId, r]));
      const children = [...new Set([...links.children, ...byId.keys()])];
      related.replaceChildren(children.length
        ? el("ul", { class: "related", id: "children" }, children.map((cid) => el("li", {},
          el("a", { href: DL.instanceHref(cid), class: "mono child-link" }, cid), " ",
          el("span", { class: "muted" }, byId.has(cid) ? byId.get(cid).name : ""), " ",
          byId.has(cid) ? DL.statusBadge(byId.get(cid).runtimeStatus) : "")))
        : el("p", { class: "muted" }, "No sub-orchestrations."));
    }
    return { refresh };
  };
})(window.DL);
