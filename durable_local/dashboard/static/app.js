/* durable_local dashboard: DOM helpers, hash router and auto-refresh.
 * Views (views.js, instance.js) register in DL.views; each mount(container, params) returns
 * an object whose refresh() re-reads the API and redraws only its data (never the forms). */
"use strict";

window.DL = window.DL || {};

(function (DL) {
  /** el("div", {class: "x", onclick: fn}, "text", child, ...): a DOM element; null children skipped. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else if (name === "style") node.style.cssText = value; // CSSOM: allowed by the page's CSP
      else if (value === true) node.setAttribute(name, "");
      else node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A value for display: JSON text inside strings (the SDK double-encodes inputs) is decoded. */
  function decode(value) {
    if (typeof value === "string") {
      const t = value.trim();
      if ((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"))) {
        try { return decode(JSON.parse(t)); } catch (e) { return value; }
      }
      return value;
    }
    if (Array.isArray(value)) return value.map(decode);
    if (value && typeof value === "object") {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = decode(v);
      return out;
    }
    return value;
  }

  function jsonBlock(value, attrs) {
    const shown = value === undefined || value === null ? "null" : JSON.stringify(decode(value), null, 2);
    return el("pre", Object.assign({ class: "json" }, attrs || {}), shown);
  }

  function statusBadge(status) {
    return el("span", { class: `badge st-${String(status || "unknown").toLowerCase()}` }, status || "?");
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
  }

  let flashTimer = null;
  /** A message under the header; kind: "ok" | "error" | "info". */
  function flash(message, kind) {
    const box = document.getElementById("flash");
    box.replaceChildren(el("div", { class: `flash flash-${kind || "info"}` }, message));
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => box.replaceChildren(), kind === "error" ? 12000 : 5000);
  }

  /** Run an action, flash its outcome, then refresh the view; returns the action's value. */
  async function act(label, fn) {
    try {
      const value = await fn();
      flash(`${label}: done`, "ok");
      await DL.refreshNow();
      return value;
    } catch (e) {
      flash(`${label} failed: ${e.message}`, "error");
      return undefined;
    }
  }

  /** Parse "#/path?x=1" into {path, params}. */
  function parseHash() {
    const raw = window.location.hash.replace(/^#/, "") || "/";
    const [path, query] = raw.split("?", 2);
    return { path: path || "/", params: new URLSearchParams(query || "") };
  }

  function go(path, params) {
    const q = params && String(params) ? `?${params}` : "";
    window.location.hash = `#${path}${q}`;
  }

  let current = null;
  let busy = false;

  async function refreshNow() {
    if (!current || busy) return;
    busy = true;
    try {
      await current.refresh();
      document.body.dataset.lastRefresh = String(Date.now());
    } catch (e) {
      flash(`Refresh failed: ${e.message}`, "error");
    } finally {
      busy = false;
    }
  }

  function route() {
    const { path, params } = parseHash();
    const view = document.getElementById("view");
    view.replaceChildren();
    let name = "list";
    let arg = params;
    if (path.startsWith("/instances/")) { name = "instance"; arg = decodeURIComponent(path.slice("/instances/".length)); }
    else if (path === "/entities") name = "entities";
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === name ||
      (name === "instance" && a.dataset.view === "list"));
    document.body.dataset.view = name;
    current = DL.views[name](view, arg);
    busy = false;
    refreshNow();
  }

  DL.el = el;
  DL.decode = decode;
  DL.jsonBlock = jsonBlock;
  DL.statusBadge = statusBadge;
  DL.fmtTime = fmtTime;
  DL.flash = flash;
  DL.act = act;
  DL.go = go;
  DL.refreshNow = refreshNow;
  DL.instanceHref = (id) => `#/instances/${encodeURIComponent(id)}`;
  DL.views = DL.views || {};

  window.addEventListener("hashchange", route);
  window.addEventListener("DOMContentLoaded", () => {
    const auto = document.getElementById("auto-refresh");
    setInterval(() => { if (auto.checked && !document.hidden) refreshNow(); }, 2000);
    document.getElementById("refresh-now").addEventListener("click", () => refreshNow());
    route();
  });
})(window.DL);
