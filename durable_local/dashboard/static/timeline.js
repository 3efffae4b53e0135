/* durable_local dashboard: an orchestration history as a timeline.
 *
 * DL.timeline.build(historyEvents, runtimeStatus) turns the status API's historyEvents into
 * rows: spans (activities and sub-orchestrations from ScheduledTime to completion, timers
 * from creation to FireAt, entity calls from EventSent to the response EventRaised) and
 * point markers (start, external events, completion, ...). Spans that start together form a
 * parallel group (a fan-out), drawn side by side over the same stretch of the time axis.
 * Retried calls are numbered (attempt 1, 2, ...) and their back-off timers stand between.
 *
 * The time axis is compressed (each gap between two instants is drawn log-scaled) so a
 * 20 ms activity and a 72 h approval timer both stay readable. */
"use strict";

window.DL = window.DL || {};

(function (DL) {
  const ms = (text) => (text ? Date.parse(text) : NaN);

  function tryJson(value) {
    if (typeof value !== "string") return value;
    try { return JSON.parse(value); } catch (e) { return value; }
  }

  /** The entity call carried by an EventSent (its request id, operation and target), if any. */
  function entityCall(e) {
    const body = tryJson(e.Input);
    if (!body || typeof body !== "object" || !String(e.InstanceId || "").startsWith("@")) return null;
    const target = String(e.InstanceId).slice(1);
    return { id: body.id, op: body.op || e.Name, signal: !!body.signal, target };
  }

  function build(events, runtimeStatus) {
    const rows = [];
    const timers = [];
    const calls = new Map();
    const attempts = new Map();
    const running = ["Running", "Pending", "Suspended", "ContinuedAsNew"].includes(runtimeStatus);
    for (const e of events || []) {
      const t = ms(e.Timestamp);
      const type = e.EventType;
      if (type === "TaskCompleted" || type === "TaskFailed" ||
          type === "SubOrchestrationInstanceCompleted" || type === "SubOrchestrationInstanceFailed") {
        const name = e.FunctionName || "(unknown)";
        const n = (attempts.get(name) || 0) + 1;
        attempts.set(name, n);
        const failed = type.endsWith("Failed");
        rows.push({
          kind: type.startsWith("Task") ? "activity" : "suborch", label: name, attempt: n,
          start: ms(e.ScheduledTime) || t, end: t, state: failed ? "failed" : "ok", event: e,
          note: failed ? (e.Reason || "failed") : "",
        });
      } else if (type === "TimerCreated") {
        const row = { kind: "timer", label: `timer ${duration(ms(e.FireAt) - t)}`, start: t, end: ms(e.FireAt),
          state: running ? "pending" : "canceled", event: e, fireAt: e.FireAt, note: `fires at ${e.FireAt || "?"}` };
        rows.push(row);
        timers.push(row);
      } else if (type === "TimerFired") {
        const row = timers.find((r) => r.state !== "ok" && r.fireAt === e.FireAt);
        if (row) { row.state = "ok"; row.end = ms(e.FireAt) || t; row.note = `fired at ${e.FireAt}`; }
        else rows.push({ kind: "marker", label: "timer fired", start: t, end: t, state: "ok", event: e });
      } else if (type === "EventSent") {
        const call = entityCall(e);
        const row = { kind: call ? "entity" : "marker", start: t, end: t, event: e,
          label: call ? `${call.op} → ${call.target}` : `event sent: ${e.Name || ""}`,
          state: call && call.id && !call.signal ? (running ? "pending" : "canceled") : "ok" };
        if (call && call.id && !call.signal) calls.set(call.id, row);
        rows.push(row);
      } else if (type === "EventRaised") {
        const row = calls.get(e.Name);
        if (row) {
          row.end = t;
          row.state = "ok";
          row.response = e;
        } else {
          rows.push({ kind: "external", label: `event: ${e.Name}`, start: t, end: t, state: "ok", event: e });
        }
      } else if (type === "ExecutionStarted") {
        rows.push({ kind: "marker", label: `started ${e.FunctionName || ""}`.trim(), start: t, end: t, state: "ok", event: e });
      } else if (type === "ExecutionCompleted") {
        const st = e.OrchestrationStatus || "Completed";
        rows.push({ kind: "marker", label: st.toLowerCase(), start: t, end: t, state: st === "Completed" ? "ok" : "failed", event: e });
      } else {
        const label = type.replace(/^Execution/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
        rows.push({ kind: "marker", label, start: t, end: t, state: type === "ExecutionTerminated" ? "failed" : "ok", event: e });
      }
    }
    const last = Math.max(...rows.filter((r) => r.kind !== "timer").map((r) => r.end).filter(Number.isFinite));
    for (const row of rows) {
      // a timer that never fired in a finished instance was abandoned (e.g. the event won the race)
      if (row.kind === "timer" && row.state === "canceled" && Number.isFinite(last)) {
        row.end = Math.max(row.start, last);
        row.note = `never fired (was due ${row.fireAt})`;
        row.label = `${row.label} · not fired`;
      }
      if (attempts.get(row.label) > 1 && (row.kind === "activity" || row.kind === "suborch")) row.retried = true;
      if (!Number.isFinite(row.end) || row.end < row.start) row.end = row.start;
    }
    rows.sort((a, b) => a.start - b.start || a.end - b.end);
    markGroups(rows);
    return rows;
  }

  /** Spans that start at the same instant (scheduled in one episode) form a parallel group. */
  function markGroups(rows) {
    let i = 0;
    let group = 0;
    while (i < rows.length) {
      let j = i + 1;
      const spanKinds = ["activity", "suborch", "entity"];
      while (j < rows.length && rows[j].start === rows[i].start && spanKinds.includes(rows[j].kind) &&
             spanKinds.includes(rows[i].kind)) j++;
      if (j - i > 1) {
        group++;
        for (let k = i; k < j; k++) { rows[k].group = group; rows[k].groupSize = j - i; rows[k].groupIndex = k - i; }
      }
      i = j;
    }
  }

  /** A compressed axis: x(t) in [0, 1]; each gap between distinct instants is log-scaled. */
  function axis(rows) {
    const points = new Set();
    for (const r of rows) { points.add(r.start); points.add(r.end); }
    const sorted = [...points].filter(Number.isFinite).sort((a, b) => a - b);
    const pos = new Map();
    const breaks = [];
    let x = 0;
    sorted.forEach((p, i) => {
      if (i > 0) {
        const gap = p - sorted[i - 1];
        const w = gap <= 0 ? 0 : 3 + 12 * Math.log10(1 + gap);
        if (gap >= 5000) breaks.push({ at: x + w / 2, gap });
        x += w;
      }
      pos.set(p, x);
    });
    const total = x || 1;
    return {
      x: (t) => (pos.has(t) ? pos.get(t) / total : 0),
      breaks: breaks.map((b) => ({ at: b.at / total, gap: b.gap })),
      first: sorted[0],
    };
  }

  function duration(msValue) {
    if (!Number.isFinite(msValue)) return "";
    if (msValue < 1000) return `${Math.round(msValue)} ms`;
    const s = msValue / 1000;
    if (s < 120) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    if (s < 7200) return `${(s / 60).toFixed(1)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  function rowTitle(r) {
    const parts = [r.label];
    if (r.attempt && r.retried) parts.push(`attempt ${r.attempt}`);
    if (r.end > r.start) parts.push(duration(r.end - r.start));
    parts.push(r.state);
    if (r.note) parts.push(r.note);
    return parts.join(" · ");
  }

  /** Render rows into `container` (cleared first); `el` is the DOM helper of app.js. */
  function render(container, events, runtimeStatus, el) {
    container.replaceChildren();
    const rows = build(events, runtimeStatus);
    if (!rows.length) {
      container.append(el("p", { class: "muted" }, "No history yet."));
      return rows;
    }
    const ax = axis(rows);
    const grid = el("div", { class: "tl" });
    const scale = el("div", { class: "tl-row tl-scale" }, el("div", { class: "tl-label" }, "elapsed"));
    const track = el("div", { class: "tl-track" });
    for (const b of ax.breaks) {
      track.append(el("span", { class: "tl-break", style: `left:${(b.at * 100).toFixed(2)}%` }, `+${duration(b.gap)}`));
    }
    scale.append(track);
    grid.append(scale);
    for (const r of rows) {
      const cls = ["tl-row", `tl-${r.kind}`, `tl-${r.state}`];
      if (r.group) cls.push("tl-parallel", r.groupIndex === 0 ? "tl-group-first" : "tl-group-more");
      if (r.group && r.groupIndex === r.groupSize - 1) cls.push("tl-group-last");
      if (r.retried) cls.push("tl-retry");
      const label = el("div", { class: "tl-label", title: rowTitle(r) }, el("span", { class: "tl-name" }, r.label));
      if (r.retried) label.append(el("span", { class: "tag tag-retry" }, `attempt ${r.attempt}`));
      if (r.group && r.groupIndex === 0) label.append(el("span", { class: "tag tag-par" }, `parallel ×${r.groupSize}`));
      const lane = el("div", { class: "tl-track" });
      const left = ax.x(r.start) * 100;
      const width = Math.max(0, ax.x(r.end) * 100 - left);
      const isPoint = r.kind === "marker" || r.kind === "external";
      const bar = el("div", {
        class: isPoint ? "tl-point" : "tl-bar", title: rowTitle(r),
        style: `left:${left.toFixed(2)}%;${isPoint ? "" : `width:${width.toFixed(2)}%`}`,
      });
      if (!isPoint) bar.append(el("span", { class: "tl-dur" }, r.end > r.start ? duration(r.end - r.start) : ""));
      lane.append(bar);
      const row = el("div", { class: cls.join(" "), "data-kind": r.kind, "data-state": r.state }, label, lane);
      row.addEventListener("click", () => toggleDetail(row, r, el));
      grid.append(row);
    }
    container.append(grid);
    return rows;
  }

  function toggleDetail(row, r, el) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("tl-detail")) { next.remove(); return; }
    const shown = Object.assign({}, r.event);
    if (r.response) shown.Response = r.response;
    row.after(el("pre", { class: "tl-detail json" }, JSON.stringify(shown, null, 2)));
  }

  DL.timeline = { build, render, duration, tryJson };
})(window.DL);
