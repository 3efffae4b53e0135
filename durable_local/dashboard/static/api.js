/* durable_local dashboard: the Durable HTTP management API on the same origin.
 * Every call goes to /runtime/webhooks/durabletask/...; when the page was opened with
 * ?code=<key>, the key is sent as the x-functions-key header (never put in API URLs). */
"use strict";

window.DL = window.DL || {};

(function (DL) {
  const BASE = "/runtime/webhooks/durabletask";
  const key = new URLSearchParams(window.location.search).get("code");

  class ApiError extends Error {
    constructor(status, body, what) {
      const detail = body && typeof body === "object" ? (body.ExceptionMessage || body.Message || "") : (body || "");
      super(`${what}: HTTP ${status}${detail ? " – " + detail : ""}`);
      this.status = status;
      this.body = body;
    }
  }

  /** One API call; resolves to {status, body, headers}; rejects with ApiError on 4xx/5xx. */
  async function call(method, path, { query, body, what, token } = {}) {
    const url = new URL(BASE + path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value === undefined || value === null || value === "") continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(v));
    }
    const headers = {};
    if (key) headers["x-functions-key"] = key;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (token) headers["x-ms-continuation-token"] = token;
    const response = await fetch(url, init);
    const text = await response.text();
    let parsed = null;
    if (text) {
      try { parsed = JSON.parse(text); } catch (e) { parsed = text; }
    }
    if (response.status >= 400) throw new ApiError(response.status, parsed, what || `${method} ${path}`);
    return { status: response.status, body: parsed, headers: response.headers };
  }

  /** A call that sends a continuation token header (paging). */
  async function paged(path, query, token, what) {
    const r = await call("GET", path, { query, what, token });
    return { items: Array.isArray(r.body) ? r.body : [], next: r.headers.get("x-ms-continuation-token") };
  }

  const enc = encodeURIComponent;

  DL.api = {
    key,
    ApiError,
    /** {parent, children}: the dashboard's own read of who started whom (not in the status API). */
    async links(id) {
      const headers = key ? { "x-functions-key": key } : {};
      const response = await fetch(`/_durable/api/links/${enc(id)}`, { headers, cache: "no-store" });
      if (!response.ok) return { parent: null, children: [] };
      return response.json();
    },
    /** Instances, newest page first as the store orders them; statuses: array of names. */
    listInstances({ statuses, prefix, top, token }) {
      const query = { top, instanceIdPrefix: prefix, showInput: "false" };
      if (statuses && statuses.length) query.runtimeStatus = statuses.join(",");
      return paged("/instances", query, token, "List instances");
    },
    /** Status with history (inputs and outputs) or null when the instance does not exist. */
    async getInstance(id) {
      try {
        const r = await call("GET", `/instances/${enc(id)}`, {
          query: { showHistory: "true", showHistoryOutput: "true", showInput: "true" }, what: "Status",
        });
        return r.body;
      } catch (e) {
        if (e.status === 404) return null;
        throw e;
      }
    },
    raiseEvent(id, name, value) {
      return call("POST", `/instances/${enc(id)}/raiseEvent/${enc(name)}`, { body: value, what: `Raise ${name}` });
    },
    terminate(id, reason) {
      return call("POST", `/instances/${enc(id)}/terminate`, { query: { reason }, what: "Terminate" });
    },
    suspend(id, reason) {
      return call("POST", `/instances/${enc(id)}/suspend`, { query: { reason }, what: "Suspend" });
    },
    resume(id, reason) {
      return call("POST", `/instances/${enc(id)}/resume`, { query: { reason }, what: "Resume" });
    },
    /** Restart; resolves to the new instance id. */
    async restart(id, newInstanceId) {
      const r = await call("POST", `/instances/${enc(id)}/restart`, {
        query: { restartWithNewInstanceId: newInstanceId ? "true" : "false" }, what: "Restart",
      });
      return r.body && r.body.id ? r.body.id : id;
    },
    purge(id) {
      return call("DELETE", `/instances/${enc(id)}`, { what: "Purge" });
    },
    listEntities({ name, top, token }) {
      const path = name ? `/entities/${enc(name)}` : "/entities";
      return paged(path, { fetchState: "true", top }, token, "List entities");
    },
  };
})(window.DL);
