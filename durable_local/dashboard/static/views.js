/* durable_local dashboard: the instance list (status filters, id-prefix search, paging with
 * continuation tokens; each page sorted newest first, or by the column whose header is clicked)
 * and the entity list with each entity's current state. */
"use strict";

window.DL = window.DL || {};
DL.views = DL.views || {};

(function (DL) {
  const el = (...a) => DL.el(...a);
  const STATUSES = ["Running", "Pending", "Suspended", "Completed", "Failed", "Terminated", "ContinuedAsNew", "Canceled"];
  const PAGE_SIZES = [10, 25, 50, 100];
  // list columns: header and the value a click on the header sorts by
  const COLUMNS = [
    ["Instance id", (s) => s.instanceId],
    ["Orchestrator", (s) => s.name || ""],
    ["Status", (s) => s.runtimeStatus || ""],
    ["Step / custom status", (s) => stepOf(s.customStatus)],
    ["Created", (s) => s.createdTime || ""],
    ["Last updated", (s) => s.lastUpdatedTime || ""],
  ];
  const CREATED = 4;

  /** Continuation-token paging: tokens[i] is the token that fetches page i. */
  function pager(onChange) {
    const p = { tokens: [null], page: 0 };
    const prev = el("button", { type: "button", id: "page-prev", class: "btn" }, "‹ Prev");
    const next = el("button", { type: "button", id: "page-next", class: "btn" }, "Next ›");
    const label = el("span", { class: "muted", id: "page-label" }, "page 1");
    prev.addEventListener("click", () => { if (p.page > 0) { p.page--; onChange(); } });
    next.addEventListener("click", () => { if (p.tokens[p.page + 1]) { p.page++; onChange(); } });
    p.node = el("div", { class: "pager" }, prev, label, next);
    p.reset = () => { p.tokens = [null]; p.page = 0; };
    p.token = () => p.tokens[p.page];
    p.update = (nextToken, shown) => {
      p.tokens.length = p.page + 1;
      if (nextToken) p.tokens.push(nextToken);
      prev.disabled = p.page === 0;
      next.disabled = !nextToken;
      label.textContent = `page ${p.page + 1} · ${shown} shown`;
    };
    return p;
  }

  function stepOf(customStatus) {
    if (customStatus && typeof customStatus === "object" && !Array.isArray(customStatus)) {
      if (typeof customStatus.step === "string") return customStatus.step;
    }
    if (customStatus === null || customStatus === undefined) return "";
    const text = typeof customStatus === "string" ? customStatus : JSON.stringify(customStatus);
    return text.length > 60 ? `${text.slice(0, 57)}…` : text;
  }

  DL.stepOf = stepOf;
  DL.awaitingApproval = (s) => !!s && s.runtimeStatus === "Running" && !!s.customStatus &&
    typeof s.customStatus === "object" && s.customStatus.step === "awaiting_approval";

  DL.views.list = function (container, params) {
    const state = {
      statuses: (params.get("status") || "").split(",").filter((s) => STATUSES.includes(s)),
      prefix: params.get("prefix") || "",
      top: PAGE_SIZES.includes(Number(params.get("top"))) ? Number(params.get("top")) : 25,
    };
    const pages = pager(() => DL.refreshNow());
    let shown = null;
    let lastItems = [];
    const sort = { column: CREATED, descending: true }; // newest first

    function sorted(items) {
      const key = COLUMNS[sort.column][1];
      const order = sort.descending ? -1 : 1;
      return [...items].sort((a, b) => order * String(key(a)).localeCompare(String(key(b))));
    }

    function saveHash() {
      const q = new URLSearchParams();
      if (state.statuses.length) q.set("status", state.statuses.join(","));
      if (state.prefix) q.set("prefix", state.prefix);
      if (state.top !== 25) q.set("top", String(state.top));
      history.replaceState(null, "", `${location.pathname}${location.search}#/${String(q) ? "?" + q : ""}`);
      pages.reset();
      DL.refreshNow();
    }

    const chips = el("div", { class: "chips", role: "group", "aria-label": "Status filter" });
    const allChip = el("button", { type: "button", class: "chip", "data-status": "" }, "All");
    allChip.addEventListener("click", () => { state.statuses = []; paintChips(); saveHash(); });
    chips.append(allChip);
    for (const s of STATUSES) {
      const chip = el("button", { type: "button", class: `chip st-${s.toLowerCase()}`, "data-status": s }, s);
      chip.addEventListener("click", () => {
        const i = state.statuses.indexOf(s);
        if (i >= 0) state.statuses.splice(i, 1); else state.statuses.push(s);
        paintChips();
        saveHash();
      });
      chips.append(chip);
    }
    function paintChips() {
      for (const c of chips.children) {
        const s = c.dataset.status;
        c.classList.toggle("on", s ? state.statuses.includes(s) : state.statuses.length === 0);
      }
    }
    paintChips();

    const search = el("input", { type: "search", id: "prefix", placeholder: "Instance id prefix…", value: state.prefix,
      "aria-label": "Instance id prefix", autocomplete: "off", spellcheck: "false" });
    let debounce = null;
    search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { state.prefix = search.value.trim(); saveHash(); }, 250);
    });
    const size = el("select", { id: "page-size", "aria-label": "Page size" },
      PAGE_SIZES.map((n) => el("option", { value: n, selected: n === state.top }, `${n} / page`)));
    size.addEventListener("change", () => { state.top = Number(size.value); saveHash(); });

    const body = el("tbody", { id: "instances-body" });
    const headers = COLUMNS.map(([title], i) => {
      const th = el("th", { class: "sortable", "data-column": String(i), tabindex: "0", "aria-sort": "none" }, title);
      const pick = () => {
        sort.descending = sort.column === i ? !sort.descending : i >= CREATED; // times: newest first
        sort.column = i;
        paintHeaders();
        render(lastItems); // at once, from the page already fetched
      };
      th.addEventListener("click", pick);
      th.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); } });
      return th;
    });
    function paintHeaders() {
      headers.forEach((th, i) => {
        const on = i === sort.column;
        th.setAttribute("aria-sort", on ? (sort.descending ? "descending" : "ascending") : "none");
        th.dataset.arrow = on ? (sort.descending ? "▼" : "▲") : "";
      });
    }
    paintHeaders();
    const table = el("table", { class: "grid", id: "instances" }, el("thead", {}, el("tr", {}, headers)), body);
    container.append(
      el("section", { class: "panel" },
        el("div", { class: "toolbar" }, el("h1", {}, "Orchestration instances"), search, size),
        chips, table, pages.node));

    async function refresh() {
      const { items, next } = await DL.api.listInstances({
        statuses: state.statuses, prefix: state.prefix, top: state.top, token: pages.token(),
      });
      pages.update(next, items.length);
      const signature = JSON.stringify(items);
      if (signature === shown) return; // unchanged: keep the rows (and the pointer's target) as they are
      shown = signature;
      lastItems = items;
      render(items);
    }

    function render(items) {
      body.replaceChildren(...sorted(items).map((s) => el("tr", { "data-instance-id": s.instanceId, "data-status": s.runtimeStatus },
        el("td", {}, el("a", { href: DL.instanceHref(s.instanceId), class: "iid" }, s.instanceId)),
        el("td", {}, s.name),
        el("td", {}, DL.statusBadge(s.runtimeStatus)),
        el("td", {}, stepOf(s.customStatus),
          DL.awaitingApproval(s) ? el("span", { class: "tag tag-approval" }, "needs approval") : null),
        el("td", { class: "time" }, DL.fmtTime(s.createdTime)),
        el("td", { class: "time" }, DL.fmtTime(s.lastUpdatedTime)))));
      if (!items.length) {
        body.append(el("tr", {}, el("td", { colspan: 6, class: "muted empty" }, "No instances match.")));
      }
    }
    return { refresh };
  };

  DL.views.entities = function (container) {
    let name = "";
    let shown = null;
    const pages = pager(() => DL.refreshNow());
    const filter = el("input", { type: "search", id: "entity-name", placeholder: "Entity name (e.g. inventoryentity)",
      "aria-label": "Entity name", autocomplete: "off", spellcheck: "false" });
    let debounce = null;
    filter.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { name = filter.value.trim().toLowerCase(); pages.reset(); DL.refreshNow(); }, 250);
    });
    const body = el("tbody", { id: "entities-body" });
    container.append(el("section", { class: "panel" },
      el("div", { class: "toolbar" }, el("h1", {}, "Entities"), filter),
      el("table", { class: "grid", id: "entities" },
        el("thead", {}, el("tr", {}, ["Entity", "Key", "Last operation", "Current state"].map((h) => el("th", {}, h)))),
        body),
      pages.node));

    async function refresh() {
      const { items, next } = await DL.api.listEntities({ name, top: 25, token: pages.token() });
      pages.update(next, items.length);
      const signature = JSON.stringify(items);
      if (signature === shown) return;
      shown = signature;
      body.replaceChildren(...items.map((e) => el("tr", {
        "data-entity": `${e.entityId.name}@${e.entityId.key}`,
      },
      el("td", {}, e.entityId.name),
      el("td", { class: "mono" }, e.entityId.key),
      el("td", { class: "time" }, DL.fmtTime(e.lastOperationTime)),
      el("td", {}, DL.jsonBlock(e.state, { class: "json compact" })))));
      if (!items.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted empty" }, "No entities.")));
    }
    return { refresh };
  };
})(window.DL);
