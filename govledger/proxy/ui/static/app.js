// govledger UI: a single-page app on the management API (every action is a REST call that
// RBAC checks and the audit trail records with source `ui`). No inline script, no innerHTML:
// text goes in through textContent, so a name like <script> renders as text.
"use strict";
(() => {
  const REFRESH_MS = 5000;
  const PAGE = 25;
  // The session cookie is HttpOnly (the page never sees it); `csrf` is the session's CSRF
  // token, sent as x-csrf-token on every call that changes state.
  const state = { csrf: null, me: null, checked: false, timers: [], charts: [] };
  const SAFE = ["GET", "HEAD", "OPTIONS"];
  function headersFor(method, extra) {
    const headers = { accept: "application/json", "x-govledger-client": "ui", ...(extra || {}) };
    if (state.csrf && !SAFE.includes(method)) headers["x-csrf-token"] = state.csrf;
    return headers;
  }

  // ---------------------------------------------------------------- DOM
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "value") node.value = value;
      else if (key === "checked") node.checked = Boolean(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const main = () => document.getElementById("main");
  let uid = 0;
  const nextId = (base) => `${base}-${++uid}`;

  function field(label, input, help) {
    const id = input.id || nextId("f");
    input.id = id;
    const problem = el("p", { class: "problem", id: `${id}-problem`, "aria-live": "polite" });
    input.setAttribute("aria-describedby", problem.id);
    return el("div", { class: "field" }, el("label", { for: id, text: label }), input,
      help ? el("span", { class: "muted", text: ` ${help}` }) : null, problem);
  }

  // ---------------------------------------------------------------- API
  async function api(method, path, body) {
    const headers = headersFor(method, body === undefined ? {} : { "content-type": "application/json" });
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    if (response.status === 401 && state.me) { forget(); }
    return { status: response.status, ok: response.ok, data, headers: response.headers };
  }
  async function download(path, filename) {
    const response = await fetch(path, { headers: headersFor("GET"), credentials: "same-origin" });
    if (!response.ok) return errorText(await response.json().catch(() => null), response.status);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return "";
  }
  function errorText(data, status) {
    const error = data && data.error;
    if (!error) return `request failed (${status})`;
    return `${error.code}: ${error.message}`;
  }
  const query = (params) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") search.set(key, value);
    }
    const text = search.toString();
    return text ? `?${text}` : "";
  };

  // ---------------------------------------------------------------- identity
  function can(permission) {
    return Boolean(state.me) && state.me.permissions.includes(permission);
  }
  function signedIn(body) {
    const name = body.display_name ? `${body.display_name} (${body.actor})` : body.actor;
    state.me = { name, role: body.role, permissions: body.permissions };
    state.csrf = body.session ? body.session.csrf_token : null;
  }
  async function identify() {
    const answer = await api("GET", "/auth/me");
    if (answer.ok && answer.data.session) signedIn(answer.data);
  }
  function forget() {
    state.me = null;
    state.csrf = null;
    location.hash = "#/login";
    render();
  }
  async function signOut() {
    await api("POST", "/auth/logout");
    forget();
  }

  function loginPage() {
    const input = el("input", { type: "password", name: "token", autocomplete: "off", required: true, size: 40 });
    const problem = el("p", { class: "error", role: "alert" });
    const form = el("form", { class: "panel", "aria-labelledby": "login-title" },
      el("h1", { id: "login-title", text: "Sign in" }),
      el("p", { class: "muted", text: "Sign in with an admin token (gl-admin-…, gl-developer-…, gl-viewer-…). It is exchanged for a session cookie and not kept by the page." }),
      field("Admin token", input),
      el("button", { type: "submit", class: "primary", text: "Sign in" }), problem);
    const sso = el("section", { class: "panel", id: "sso", "aria-labelledby": "sso-title", hidden: true },
      el("h2", { id: "sso-title", text: "Single sign-on" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await api("POST", "/auth/token", { token: input.value.trim() });
      input.value = "";
      if (!answer.ok) { problem.textContent = errorText(answer.data, answer.status); input.setAttribute("aria-invalid", "true"); return; }
      signedIn(answer.data);
      if (location.hash === "#/overview") render(); else location.hash = "#/overview";
    });
    ssoProviders(sso);
    return [form, sso];
  }
  // The configured identity providers, each a link into the code flow (/auth/login); the
  // callback comes back to /ui/ with the session cookie, and /auth/me says who signed in.
  async function ssoProviders(section) {
    const answer = await api("GET", "/auth/providers");
    const known = answer.ok && answer.data && Array.isArray(answer.data.data) ? answer.data.data : [];
    if (!known.length) return;
    const links = known.map((provider) => el("li", {}, el("a", {
      class: "sso-link", "data-provider": provider.name,
      href: `/auth/login${query({ provider: provider.name, next: "/ui/" })}`,
      text: `Sign in with ${provider.name}`,
    })));
    section.append(el("ul", { class: "sso-providers" }, links));
    section.hidden = false;
  }

  // ---------------------------------------------------------------- formatting
  const money = (v) => (v === null || v === undefined || v === "" ? "" : `$${Number(v).toFixed(Math.abs(Number(v)) < 1 && Number(v) !== 0 ? 6 : 2)}`);
  const when = (v) => (v ? String(v).replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "");
  function summary(value) {
    if (value === null || value === undefined) return "";
    if (Array.isArray(value)) {
      if (value.length && typeof value[0] === "object") {
        return value.map((item) => {
          if ("max_limit" in item) return `${money(item.max_limit)}/${item.reset_duration}${item.calendar_aligned ? " (cal)" : ""}`;
          if ("provider" in item) return `${item.provider}×${item.weight ?? 1}`;
          if ("mcp_client_name" in item) return item.mcp_client_name;
          return item.id || item.name || JSON.stringify(item);
        }).join(", ");
      }
      return value.join(", ");
    }
    if (typeof value === "object") return JSON.stringify(value);
    if (typeof value === "boolean") return value ? "yes" : "no";
    return String(value);
  }

  // ---------------------------------------------------------------- form fields
  // A field spec: {name, label, type: text|number|decimal|checkbox|select|list|rows|group|json,
  // options, fields (rows/group), create (only when creating), secret (write-only)}.
  const BUDGET_FIELDS = [
    { name: "max_limit", label: "Limit (USD)", type: "decimal" },
    { name: "reset_duration", label: "Period (1d, 1w, 1M…)", type: "text" },
    { name: "calendar_aligned", label: "Calendar aligned", type: "checkbox" },
    { name: "mode", label: "Mode", type: "select", options: ["strict", "optimistic"] },
  ];
  const BUDGETS = { name: "budgets", label: "Budgets", type: "rows", fields: BUDGET_FIELDS };
  const RATE_LIMIT = { name: "rate_limit", label: "Rate limit", type: "group", fields: [
    { name: "request_max_limit", label: "Requests", type: "number" },
    { name: "request_reset_duration", label: "per (1m, 1h…)", type: "text" },
    { name: "token_max_limit", label: "Tokens", type: "number" },
    { name: "token_reset_duration", label: "per", type: "text" },
  ] };
  const KINDS = {
    customers: { title: "Customers", path: "/api/governance/customers", resource: "customers", key: "id",
      columns: ["id", "name", "budgets", "managed_by"],
      fields: [{ name: "id", label: "ID", type: "text", create: true }, { name: "name", label: "Name", type: "text" }, BUDGETS] },
    teams: { title: "Teams", path: "/api/governance/teams", resource: "teams", key: "id",
      columns: ["id", "name", "customer_id", "budgets", "managed_by"],
      fields: [{ name: "id", label: "ID", type: "text", create: true }, { name: "name", label: "Name", type: "text" },
        { name: "customer_id", label: "Customer ID", type: "text" }, BUDGETS] },
    keys: { title: "Virtual keys", path: "/api/governance/virtual-keys", resource: "virtual_keys", key: "id",
      columns: ["id", "name", "value_prefix", "team_id", "customer_id", "is_active", "provider_configs", "budgets"],
      rotate: true,
      fields: [{ name: "id", label: "ID", type: "text", create: true }, { name: "name", label: "Name", type: "text" },
        { name: "description", label: "Description", type: "text" },
        { name: "team_id", label: "Team ID", type: "text" }, { name: "customer_id", label: "Customer ID", type: "text" },
        { name: "is_active", label: "Active", type: "checkbox", initial: true },
        { name: "routing", label: "Routing", type: "select", options: ["", "weighted", "adaptive"] },
        { name: "provider_configs", label: "Provider configs", type: "rows", fields: [
          { name: "provider", label: "Provider", type: "text" },
          { name: "weight", label: "Weight", type: "number" },
          { name: "allowed_models", label: "Allowed models", type: "list" },
          { name: "key_ids", label: "Provider keys", type: "list" },
        ] },
        BUDGETS, RATE_LIMIT,
        { name: "mcp_configs", label: "MCP allow-list", type: "rows", fields: [
          { name: "mcp_client_name", label: "MCP client", type: "text" },
          { name: "tools_to_execute", label: "Tools", type: "list" },
        ] }] },
    providers: { title: "Providers", path: "/api/governance/providers", resource: "providers", key: "name",
      columns: ["name", "type", "base_url", "keys"],
      fields: [{ name: "name", label: "Name", type: "text", create: true },
        { name: "type", label: "Type", type: "select", options: ["openai", "anthropic", "gemini"] },
        { name: "base_url", label: "Base URL", type: "text" },
        { name: "keys", label: "Keys (values are write-only)", type: "rows", fields: [
          { name: "id", label: "Key ID", type: "text" },
          { name: "value", label: "Value (blank keeps it)", type: "secret" },
          { name: "weight", label: "Weight", type: "number" },
          { name: "models", label: "Models", type: "list" },
        ] }] },
    roles: { title: "Roles", path: "/api/roles", resource: "roles", key: "name",
      columns: ["name", "permissions"],
      fields: [{ name: "name", label: "Name", type: "text", create: true },
        { name: "permissions", label: "Permissions (resource:operation, comma-separated)", type: "list" }] },
    tokens: { title: "Admin tokens", path: "/api/admin-tokens", resource: "admin_tokens", key: "name",
      columns: ["name", "role", "prefix"], noEdit: true,
      fields: [{ name: "name", label: "Name", type: "text", create: true }, { name: "role", label: "Role", type: "text" }] },
  };
  const READ_ONLY = ["version", "value_prefix", "retired", "stored_as", "reference", "managed_by", "token_prefix", "issued_at", "builtin"];

  // A form over a spec list: inputs carry data-path (the API's JSON path), so 422 problems
  // land beside the field they name.
  function buildForm(specs, original, creating) {
    const body = structuredClone(original || {});
    for (const name of READ_ONLY) delete body[name];
    const readers = [];
    const nodes = [];
    for (const spec of specs) {
      if (spec.create && !creating) continue;
      const control = control_for(spec, body[spec.name], spec.name);
      nodes.push(control.node);
      readers.push([spec.name, control.read]);
    }
    return {
      nodes,
      read() {
        const out = structuredClone(body);
        for (const [name, read] of readers) {
          const value = read();
          if (value === undefined) delete out[name]; else out[name] = value;
        }
        return out;
      },
    };
  }
  function scalarInput(spec, value, path) {
    let input;
    if (spec.type === "checkbox") {
      input = el("input", { type: "checkbox", checked: value === undefined ? spec.initial : value });
    } else if (spec.type === "select") {
      input = el("select", {}, spec.options.map((o) => el("option", { value: o, text: o || "(default)" })));
      input.value = value ?? spec.options[0];
    } else if (spec.type === "secret") {
      input = el("input", { type: "password", autocomplete: "new-password", value: "" });
    } else {
      const shown = spec.type === "list" ? (value || []).join(", ") : (value ?? "");
      input = el("input", { type: spec.type === "number" ? "number" : "text", value: shown, step: spec.type === "number" ? "any" : null });
    }
    input.dataset.path = path;
    const read = () => {
      if (spec.type === "checkbox") return input.checked;
      const text = input.value.trim();
      if (spec.type === "select") return text === "" ? undefined : text;
      if (text === "") return spec.type === "list" ? undefined : (spec.type === "text" ? (value === undefined ? undefined : "") : undefined);
      if (spec.type === "number") return Number(text);
      if (spec.type === "list") return text.split(",").map((s) => s.trim()).filter(Boolean);
      return text; // text, decimal (kept exact as a string), secret
    };
    return { input, read };
  }
  function control_for(spec, value, path) {
    if (spec.type === "rows") return rowsControl(spec, value || [], path);
    if (spec.type === "group") return groupControl(spec, value, path);
    const { input, read } = scalarInput(spec, value, path);
    return { node: field(spec.label, input), read };
  }
  function groupControl(spec, value, path) {
    const current = value || {};
    const parts = spec.fields.map((sub) => {
      const { input, read } = scalarInput(sub, current[sub.name], `${path}.${sub.name}`);
      return { sub, node: field(sub.label, input), read };
    });
    const node = el("fieldset", { class: "panel", "data-path": path }, el("legend", { text: spec.label }),
      el("div", { class: "toolbar" }, parts.map((p) => p.node)), el("p", { class: "problem" }));
    return { node, read() {
      const out = { ...current };
      let any = false;
      for (const p of parts) {
        const v = p.read();
        if (v === undefined) delete out[p.sub.name]; else { out[p.sub.name] = v; any = true; }
      }
      return any ? out : (value === undefined ? undefined : null);
    } };
  }
  function rowsControl(spec, items, path) {
    const rows = items.map((item) => ({ item: { ...item }, readers: [] }));
    const tbody = el("tbody");
    const node = el("fieldset", { class: "panel rows", "data-path": path }, el("legend", { text: spec.label }),
      el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, spec.fields.map((f) => el("th", { scope: "col", text: f.label })), el("th", {}, el("span", { class: "muted", text: "row" })))),
        tbody)),
      el("button", { type: "button", text: `Add ${spec.label.toLowerCase().replace(/s( \(.*)?$/, "")}`, onclick: () => { sync(); rows.push({ item: {}, readers: [] }); draw(); } }),
      el("p", { class: "problem" }));
    function sync() {
      for (const row of rows) for (const [name, read] of row.readers) {
        const v = read();
        if (v === undefined) delete row.item[name]; else row.item[name] = v;
      }
    }
    function draw() {
      tbody.replaceChildren();
      rows.forEach((row, index) => {
        row.readers = [];
        const cells = spec.fields.map((sub) => {
          const { input, read } = scalarInput(sub, row.item[sub.name], `${path}[${index}].${sub.name}`);
          input.setAttribute("aria-label", `${spec.label} ${index + 1}: ${sub.label}`);
          input.id = nextId("r");
          const problem = el("p", { class: "problem", id: `${input.id}-problem` });
          input.setAttribute("aria-describedby", problem.id);
          row.readers.push([sub.name, read]);
          return el("td", {}, input, problem);
        });
        tbody.append(el("tr", { "data-path": `${path}[${index}]` }, cells,
          el("td", {}, el("button", { type: "button", class: "danger", "aria-label": `Remove ${spec.label} row ${index + 1}`, text: "Remove",
            onclick: () => { sync(); rows.splice(index, 1); draw(); } }))));
      });
    }
    draw();
    return { node, read() {
      sync();
      if (!rows.length && !items.length) return undefined;
      return rows.map((r) => {
        const out = { ...r.item };
        if (spec.name === "keys" && !out.value) delete out.value;
        return out;
      });
    } };
  }
  // Show the API's 422 problems beside the fields their paths name (or the nearest parent).
  function showProblems(form, data, status) {
    for (const node of form.querySelectorAll(".problem")) node.textContent = "";
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    const general = form.querySelector(".form-error");
    general.textContent = "";
    const problems = (data && data.error && data.error.problems) || [];
    if (!problems.length) { general.textContent = errorText(data, status); return; }
    for (const problem of problems) {
      let path = problem.field;
      let target = null;
      while (path && !target) {
        target = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
        if (!target) path = path.replace(/(\.[^.[\]]+|\[\d+\])$/, "") === path ? "" : path.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
      }
      if (!target) { general.textContent += `${problem.field}: ${problem.message} `; continue; }
      const slot = target.matches("input, select, textarea")
        ? document.getElementById(`${target.id}-problem`)
        : target.querySelector(":scope > .problem") || target.querySelector(".problem");
      if (target.matches("input, select, textarea")) target.setAttribute("aria-invalid", "true");
      if (slot) slot.textContent = (slot.textContent ? `${slot.textContent} ` : "") + (path === problem.field ? problem.message : `${problem.field}: ${problem.message}`);
    }
  }

  // ---------------------------------------------------------------- shown-once secrets
  function showOnce(title, value) {
    const code = el("code", { class: "secret", id: "secret-value", text: value });
    const status = el("span", { class: "muted", "aria-live": "polite" });
    const box = el("section", { class: "panel once", role: "dialog", "aria-modal": "false", "aria-labelledby": "once-title", id: "shown-once" },
      el("h2", { id: "once-title", text: title }),
      el("p", { text: "This value is shown once and never again. Store it now." }), code, " ",
      el("button", { type: "button", text: "Copy", onclick: async () => {
        try { await navigator.clipboard.writeText(value); status.textContent = "copied"; } catch { status.textContent = "select the value and copy it"; }
      } }), " ", status, " ",
      el("button", { type: "button", class: "primary", id: "once-done", text: "I have stored it", onclick: () => box.remove() }));
    main().prepend(box);
    box.querySelector("#once-done").focus();
  }

  // ---------------------------------------------------------------- entity pages
  function entityPage(kindName) {
    const kind = KINDS[kindName];
    const view = { search: "", cursors: [null], sort: kind.key, asc: true, items: [], next: null };
    const status = el("p", { class: "muted", "aria-live": "polite" });
    const tbody = el("tbody");
    const headRow = el("tr");
    const editor = el("div");
    const searchInput = el("input", { type: "search", name: "search", id: `${kindName}-search` });
    const prev = el("button", { type: "button", text: "Previous page", onclick: () => { view.cursors.pop(); load(); } });
    const next = el("button", { type: "button", text: "Next page", onclick: () => { view.cursors.push(view.next); load(); } });
    let debounce = null;
    searchInput.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { view.search = searchInput.value.trim(); view.cursors = [null]; load(); }, 250);
    });
    const canCreate = can(`${kind.resource}:create`);
    const canUpdate = can(`${kind.resource}:update`) && !kind.noEdit;
    const canDelete = can(`${kind.resource}:delete`);
    function drawHead() {
      headRow.replaceChildren(...kind.columns.map((column) => {
        const sorted = view.sort === column;
        return el("th", { scope: "col", "aria-sort": sorted ? (view.asc ? "ascending" : "descending") : "none" },
          el("button", { type: "button", text: column + (sorted ? (view.asc ? " ▲" : " ▼") : ""), onclick: () => {
            view.asc = view.sort === column ? !view.asc : true;
            view.sort = column;
            draw();
          } }));
      }), el("th", { scope: "col", text: "Actions" }));
    }
    function draw() {
      drawHead();
      const items = [...view.items].sort((a, b) => {
        const x = summary(a[view.sort]); const y = summary(b[view.sort]);
        return (view.asc ? 1 : -1) * x.localeCompare(y, undefined, { numeric: true });
      });
      tbody.replaceChildren(...items.map((item) => el("tr", { "data-id": item[kind.key] },
        kind.columns.map((column) => el("td", { text: summary(item[column]) })),
        el("td", {},
          canUpdate ? el("button", { type: "button", text: "Edit", "aria-label": `Edit ${item[kind.key]}`, onclick: () => openEditor(item) }) : null, " ",
          kind.rotate && canUpdate ? el("button", { type: "button", text: "Rotate", "aria-label": `Rotate ${item[kind.key]}`, onclick: () => rotate(item) }) : null, " ",
          canDelete ? el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${item[kind.key]}`, onclick: () => remove(item) }) : null))));
      prev.disabled = view.cursors.length <= 1;
      next.disabled = !view.next;
      status.textContent = `${view.items.length} shown${view.next ? ", more on the next page" : ""}`;
    }
    async function load() {
      const cursor = view.cursors[view.cursors.length - 1];
      const answer = await api("GET", kind.path + query({ limit: PAGE, cursor, search: view.search }));
      if (!answer.ok) { status.textContent = errorText(answer.data, answer.status); return; }
      view.items = answer.data.data;
      view.next = answer.data.next_cursor;
      draw();
    }
    function openEditor(item) {
      const creating = !item;
      const form = buildForm(kind.fields, item, creating);
      const node = el("form", { class: "panel", id: "entity-form", "aria-labelledby": "editor-title", novalidate: true },
        el("h2", { id: "editor-title", text: creating ? `New ${kind.title.toLowerCase().replace(/s$/, "")}` : `Edit ${item[kind.key]}` }),
        form.nodes, el("p", { class: "error form-error", role: "alert" }),
        el("button", { type: "submit", class: "primary", text: creating ? "Create" : "Save" }), " ",
        el("button", { type: "button", text: "Cancel", onclick: () => editor.replaceChildren() }));
      node.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = form.read();
        const path = creating ? kind.path : `${kind.path}/${encodeURIComponent(item[kind.key])}`;
        const answer = creating ? await api("POST", path, body) : await apiIfMatch("PUT", path, body, item.version);
        if (!answer.ok) { showProblems(node, answer.data, answer.status); return; }
        editor.replaceChildren();
        if (answer.data && (answer.data.value || answer.data.token)) {
          showOnce(`${kind.key === "name" ? "Token" : "Key"} ${answer.data[kind.key]}`, answer.data.value || answer.data.token);
        }
        status.textContent = `${creating ? "created" : "saved"} ${answer.data[kind.key]}`;
        await load();
      });
      editor.replaceChildren(node);
      node.querySelector("input, select")?.focus();
    }
    async function rotate(item) {
      const grace = el("input", { type: "number", min: 0, value: "0", id: "grace-seconds" });
      const node = el("form", { class: "panel", id: "rotate-form", "aria-labelledby": "rotate-title" },
        el("h2", { id: "rotate-title", text: `Rotate ${item.id}` }),
        field("Grace period (seconds the old value keeps working)", grace),
        el("p", { class: "error form-error", role: "alert" }),
        el("button", { type: "submit", class: "primary", text: "Rotate now" }), " ",
        el("button", { type: "button", text: "Cancel", onclick: () => editor.replaceChildren() }));
      grace.dataset.path = "grace_seconds";
      node.addEventListener("submit", async (event) => {
        event.preventDefault();
        const answer = await api("POST", `${kind.path}/${encodeURIComponent(item.id)}/rotate`, { grace_seconds: Number(grace.value || 0) });
        if (!answer.ok) { showProblems(node, answer.data, answer.status); return; }
        editor.replaceChildren();
        showOnce(`New value of key ${item.id}`, answer.data.value);
        await load();
      });
      editor.replaceChildren(node);
      grace.focus();
    }
    async function remove(item) {
      if (!confirm(`Delete ${item[kind.key]}?`)) return;
      const answer = await api("DELETE", `${kind.path}/${encodeURIComponent(item[kind.key])}`);
      status.textContent = answer.ok ? `deleted ${item[kind.key]}` : errorText(answer.data, answer.status);
      await load();
    }
    load();
    return [
      el("h1", { text: kind.title }),
      el("div", { class: "toolbar" }, field("Search by id or name", searchInput),
        canCreate ? el("button", { type: "button", class: "primary", id: "new-entity", text: "New", onclick: () => openEditor(null) }) : null),
      editor,
      el("div", { class: "table-wrap" }, el("table", { id: `${kindName}-table` }, el("caption", { class: "muted", text: kind.title }), el("thead", {}, headRow), tbody)),
      el("div", { class: "toolbar" }, prev, next), status,
    ];
  }
  async function apiIfMatch(method, path, body, version) {
    const headers = headersFor(method, { "content-type": "application/json", "if-match": `"${version}"` });
    const response = await fetch(path, { method, headers, body: JSON.stringify(body), credentials: "same-origin" });
    const data = await response.json().catch(() => null);
    return { status: response.status, ok: response.ok, data };
  }

  // ---------------------------------------------------------------- overview
  function chart(canvas, config) {
    const made = new Chart(canvas, { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false, ...(config.options || {}) } });
    state.charts.push(made);
    return made;
  }
  function isoAgo(ms) { return new Date(Date.now() - ms).toISOString(); }
  function percentile(sorted, p) {
    if (!sorted.length) return null;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
  function overviewPage() {
    const cards = el("div", { class: "cards", id: "cards" });
    const group = el("select", { id: "breakdown-by" }, ["customer", "team", "virtual_key", "user", "provider", "model"].map((g) => el("option", { value: g, text: g.replace("_", " ") })));
    const series = el("canvas", { role: "img", "aria-label": "Spend per day, last 30 days", id: "spend-series" });
    const breakdown = el("canvas", { role: "img", "aria-label": "Spend by group, last 30 days", id: "spend-breakdown" });
    const traffic = el("canvas", { role: "img", "aria-label": "Requests per minute, last 15 minutes", id: "traffic" });
    const refusals = el("ul", { id: "refusals" });
    const gauges = el("div", { id: "gauges" });
    const updated = el("p", { class: "muted", "aria-live": "polite", id: "updated" });
    let seriesChart = null; let breakdownChart = null; let trafficChart = null;
    group.addEventListener("change", () => refresh());
    async function refresh() {
      if (!document.body.contains(cards)) return; // left the page
      const monthStart = new Date(); monthStart.setUTCDate(1); monthStart.setUTCHours(0, 0, 0, 0);
      const from = new Date(Math.min(monthStart.getTime(), Date.now() - 30 * 86400000));
      from.setUTCHours(0, 0, 0, 0);
      const [spend, split, requests, budgets] = await Promise.all([
        api("GET", `/api/reports/spend${query({ group_by: "customer", granularity: "day", from: from.toISOString(), limit: 1000 })}`),
        api("GET", `/api/reports/spend${query({ group_by: group.value, granularity: "month", from: isoAgo(30 * 86400000), limit: 1000 })}`),
        api("GET", `/api/audit/requests${query({ from: isoAgo(15 * 60000), limit: 1000 })}`),
        api("GET", "/api/governance/budgets?limit=1000"),
      ]);
      const days = new Map();
      for (let t = Date.now() - 29 * 86400000; t <= Date.now(); t += 86400000) days.set(new Date(t).toISOString().slice(0, 10), 0);
      let month = 0; let last30 = 0; let count30 = 0;
      const cutoff = new Date(Date.now() - 30 * 86400000).toISOString().slice(0, 10);
      for (const row of spend.ok ? spend.data.data : []) {
        const cost = Number(row.cost);
        if (row.period >= monthStart.toISOString().slice(0, 10)) month += cost;
        if (row.period >= cutoff) { last30 += cost; count30 += row.requests; }
        if (days.has(row.period)) days.set(row.period, days.get(row.period) + cost);
      }
      const rows = requests.ok ? requests.data.data : [];
      const perMinute = new Map();
      for (let t = Date.now() - 14 * 60000; t <= Date.now(); t += 60000) perMinute.set(new Date(t).toISOString().slice(11, 16), 0);
      const reasons = new Map(); let errors = 0; const latencies = [];
      for (const row of rows) {
        const minute = String(row.admitted_at).slice(11, 16);
        if (perMinute.has(minute)) perMinute.set(minute, perMinute.get(minute) + 1);
        if (row.status === "rejected") { const code = String(row.reason || "").split(" ")[0]; reasons.set(code, (reasons.get(code) || 0) + 1); }
        if (row.status === "upstream_error" || row.status === "failed") errors += 1;
        if (row.latency_ms !== null && row.latency_ms !== undefined && row.status === "ok") latencies.push(Number(row.latency_ms));
      }
      latencies.sort((a, b) => a - b);
      const card = (label, value, id) => el("div", { class: "card" }, el("div", { class: "label", text: label }), el("div", { class: "value", id, text: value }));
      cards.replaceChildren(
        card("Spend this month", money(month) || "$0.00", "spend-month"),
        card("Spend, last 30 days", money(last30) || "$0.00", "spend-30d"),
        card("Requests, last 30 days", String(count30), "requests-30d"),
        card("Requests/min (15 min)", (rows.length / 15).toFixed(1), "rpm"),
        card("Upstream errors (15 min)", String(errors), "upstream-errors"),
        card("Latency p50 / p95", latencies.length ? `${percentile(latencies, 50)} / ${percentile(latencies, 95)} ms` : "–", "latency"));
      const dayLabels = [...days.keys()]; const dayValues = [...days.values()];
      if (!seriesChart) seriesChart = chart(series, { type: "bar", data: { labels: dayLabels, datasets: [{ label: "USD per day", data: dayValues, backgroundColor: "#0a58ca" }] } });
      else { seriesChart.data.labels = dayLabels; seriesChart.data.datasets[0].data = dayValues; seriesChart.update("none"); }
      const totals = new Map();
      for (const row of split.ok ? split.data.data : []) totals.set(row.group || "(none)", (totals.get(row.group || "(none)") || 0) + Number(row.cost));
      const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
      const bLabels = top.map((t) => t[0]); const bValues = top.map((t) => t[1]);
      if (!breakdownChart) breakdownChart = chart(breakdown, { type: "bar", data: { labels: bLabels, datasets: [{ label: "USD, last 30 days", data: bValues, backgroundColor: "#1a7f37" }] }, options: { indexAxis: "y" } });
      else { breakdownChart.data.labels = bLabels; breakdownChart.data.datasets[0].data = bValues; breakdownChart.update("none"); }
      const mLabels = [...perMinute.keys()]; const mValues = [...perMinute.values()];
      if (!trafficChart) trafficChart = chart(traffic, { type: "line", data: { labels: mLabels, datasets: [{ label: "requests per minute (UTC)", data: mValues, borderColor: "#9a6700" }] } });
      else { trafficChart.data.labels = mLabels; trafficChart.data.datasets[0].data = mValues; trafficChart.update("none"); }
      refusals.replaceChildren(...(reasons.size ? [...reasons.entries()].map(([code, n]) => el("li", { text: `${code}: ${n}` })) : [el("li", { class: "muted", text: "none" })]));
      const figures = (budgets.ok ? budgets.data.data : []).map((b) => ({ ...b, used: (Number(b.settled) + Number(b.reserved)) / Math.max(Number(b.limit), 1e-12) }));
      figures.sort((a, b) => b.used - a.used);
      gauges.replaceChildren(...(figures.length ? figures.slice(0, 8).map(gauge) : [el("p", { class: "muted", text: "No budgets yet." })]));
      updated.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC; refreshes every ${REFRESH_MS / 1000} s`;
    }
    function gauge(b) {
      const limit = Number(b.limit);
      const pct = (v) => Math.max(0, Math.min(100, Math.round((Number(v) / Math.max(limit, 1e-12)) * 100)));
      const exhausted = Number(b.remaining) <= 0;
      const name = `${b.level} ${b.owner}`;
      return el("div", { class: `gauge${exhausted ? " exhausted" : ""}`, "data-budget": b.id, "data-owner": b.owner },
        el("div", {}, el("strong", { text: name }), " ", el("span", { class: "muted", text: `${b.reset_duration} · ends ${when(b.period_end)}` }), " ",
          exhausted ? el("span", { class: "badge bad", text: "exhausted" }) : (b.used >= 0.8 ? el("span", { class: "badge warn", text: "over 80 %" }) : null)),
        el("div", { class: "bar", role: "meter", "aria-label": `${name} budget used`, "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": Number(b.settled) + Number(b.reserved) },
          el("span", { class: `settled pct-${pct(b.settled)}` }), el("span", { class: `reserved pct-${Math.min(pct(b.reserved), 100 - pct(b.settled))}` })),
        el("div", { class: "muted gauge-figures", text: `settled ${money(b.settled)} · reserved ${money(b.reserved)} · limit ${money(b.limit)}` }));
    }
    setTimeout(refresh, 0); // once the page is in the document
    state.timers.push(setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS));
    return [
      el("h1", { text: "Overview" }), cards,
      el("div", { class: "grid" },
        el("section", { class: "panel", "aria-labelledby": "h-series" }, el("h2", { id: "h-series", text: "Spend per day (UTC), last 30 days" }), el("div", { class: "chart" }, series)),
        el("section", { class: "panel", "aria-labelledby": "h-breakdown" }, el("h2", { id: "h-breakdown", text: "Spend by" }), field("Group by", group), el("div", { class: "chart" }, breakdown)),
        el("section", { class: "panel", "aria-labelledby": "h-traffic" }, el("h2", { id: "h-traffic", text: "Traffic, last 15 minutes" }), el("div", { class: "chart" }, traffic),
          el("h3", { text: "Refusals by reason" }), refusals),
        el("section", { class: "panel", "aria-labelledby": "h-budgets" }, el("h2", { id: "h-budgets", text: "Budgets closest to their limit" }), gauges)),
      updated,
    ];
  }

  // ---------------------------------------------------------------- routing
  function routingPage() {
    const out = el("div", { id: "routing" });
    const health = el("div");
    (async () => {
      const keys = await api("GET", "/api/governance/virtual-keys?limit=100");
      if (!keys.ok) { out.append(el("p", { class: "error", text: errorText(keys.data, keys.status) })); return; }
      for (const key of keys.data.data) {
        const model = el("input", { type: "text", value: (key.provider_configs[0]?.allowed_models || ["*"]).find((m) => m !== "*") || "" });
        const shares = el("div");
        const chain = key.provider_configs.length
          ? el("table", {}, el("thead", {}, el("tr", {}, ["provider", "weight", "allowed models", "provider keys"].map((h) => el("th", { scope: "col", text: h })))),
            el("tbody", {}, key.provider_configs.map((c) => el("tr", {}, el("td", { text: c.provider }), el("td", { text: String(c.weight ?? 1) }), el("td", { text: summary(c.allowed_models) }), el("td", { text: summary(c.key_ids) })))))
          : el("p", { class: "muted", text: "no provider configs: the default chain applies" });
        out.append(el("section", { class: "panel", "aria-label": `routing of ${key.id}` }, el("h2", { text: `${key.id} (${key.routing || "default routing"})` }), chain,
          el("div", { class: "toolbar" }, field("Model", model), el("button", { type: "button", text: "Effective weights", onclick: async () => {
            const answer = await api("GET", `/api/routes${query({ virtual_key: key.id, model: model.value })}`);
            shares.replaceChildren(answer.ok ? el("pre", { text: JSON.stringify(answer.data.virtual_key.shares, null, 2) }) : el("p", { class: "error", text: errorText(answer.data, answer.status) }));
          } })), shares));
      }
      const routes = await api("GET", "/api/routes");
      health.replaceChildren(routes.ok ? (routes.data.routes.length
        ? el("table", {}, el("thead", {}, el("tr", {}, Object.keys(routes.data.routes[0]).map((h) => el("th", { scope: "col", text: h })))),
          el("tbody", {}, routes.data.routes.map((r) => el("tr", {}, Object.values(r).map((v) => el("td", { text: summary(v) }))))))
        : el("p", { class: "muted", text: "no route has evidence in the health horizon yet" }))
        : el("p", { class: "muted", text: errorText(routes.data, routes.status) }));
    })();
    return [el("h1", { text: "Routing" }), el("h2", { text: "Route health (adaptive balancing)" }), health, out];
  }

  // ---------------------------------------------------------------- audit
  function diffTable(before, after) {
    const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])].sort();
    return el("table", { class: "diff" }, el("thead", {}, el("tr", {}, ["field", "before", "after"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, keys.map((k) => {
        const b = before && k in before ? JSON.stringify(before[k]) : undefined;
        const a = after && k in after ? JSON.stringify(after[k]) : undefined;
        const kind = b === a ? "same" : (b === undefined ? "added" : (a === undefined ? "removed" : "changed"));
        return el("tr", { class: kind }, el("td", { text: k }), el("td", { text: b ?? "" }), el("td", { text: a ?? "" }));
      })));
  }
  function parseJson(v) { if (typeof v !== "string") return v; try { return JSON.parse(v); } catch { return v; } }
  function filterForm(id, specs, onSubmit) {
    const inputs = {};
    const form = el("form", { class: "toolbar", id }, specs.map(([name, label, type]) => {
      inputs[name] = el("input", { type: type || "text", name });
      return field(label, inputs[name]);
    }), el("button", { type: "submit", class: "primary", text: "Filter" }));
    form.addEventListener("submit", (event) => { event.preventDefault(); onSubmit(); });
    const values = () => Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.type === "datetime-local" && i.value ? new Date(`${i.value}Z`).toISOString() : i.value.trim()]));
    return { form, inputs, values };
  }
  function auditPage() {
    const tbody = el("tbody");
    const status = el("p", { class: "muted", "aria-live": "polite" });
    const verdict = el("p", { id: "verify-result", "aria-live": "polite" });
    const more = el("button", { type: "button", text: "Next page", disabled: true });
    let cursor = null;
    const filters = filterForm("audit-filters", [["actor", "Actor"], ["action", "Action"], ["resource_type", "Resource type"], ["resource_id", "Resource ID"], ["source", "Source"], ["from", "From (UTC)", "datetime-local"], ["to", "To (UTC)", "datetime-local"]], () => { cursor = null; load(false); });
    async function load(append) {
      tbody.setAttribute("aria-busy", "true");
      const answer = await api("GET", `/api/audit/events${query({ ...filters.values(), limit: 50, cursor })}`);
      tbody.setAttribute("aria-busy", "false");
      if (!answer.ok) { status.textContent = errorText(answer.data, answer.status); return; }
      const rows = answer.data.data.map((row) => {
        const detail = el("tr", { hidden: true }, el("td", { colspan: 7 }, diffTable(parseJson(row.before), parseJson(row.after))));
        const line = el("tr", { "data-position": row.position },
          el("td", { text: when(row.at) }), el("td", { text: row.actor }), el("td", { text: row.source }), el("td", { text: row.action }),
          el("td", { text: `${row.resource_type} ${row.resource_id}` }), el("td", { text: String(row.version ?? "") }),
          el("td", {}, el("button", { type: "button", "aria-expanded": "false", text: "Diff", onclick: (event) => {
            detail.hidden = !detail.hidden;
            event.target.setAttribute("aria-expanded", String(!detail.hidden));
          } })));
        return [line, detail];
      });
      if (append) tbody.append(...rows.flat()); else tbody.replaceChildren(...rows.flat());
      cursor = answer.data.next_cursor;
      more.disabled = !cursor;
      status.textContent = `${tbody.querySelectorAll("tr[data-position]").length} change(s) shown`;
    }
    more.addEventListener("click", () => load(true));
    load(false);
    const verify = el("button", { type: "button", id: "verify", text: "Verify the audit chain", onclick: async () => {
      verdict.textContent = "verifying…";
      const answer = await api("GET", "/api/audit/verify");
      if (!answer.ok) { verdict.textContent = errorText(answer.data, answer.status); verdict.className = "error"; return; }
      verdict.className = answer.data.intact ? "" : "error";
      verdict.textContent = answer.data.message;
    } });
    const refused = el("button", { type: "button", text: "Refused management calls", onclick: () => { filters.inputs.action.value = "access.denied"; cursor = null; load(false); } });
    const from = el("input", { type: "date", id: "report-from" });
    const to = el("input", { type: "date", id: "report-to" });
    const downloadStatus = el("p", { class: "error", "aria-live": "polite" });
    const report = (format) => async () => {
      downloadStatus.textContent = await download(`/api/reports/compliance${query({ format, from: from.value ? `${from.value}T00:00:00Z` : "", to: to.value ? `${to.value}T00:00:00Z` : "" })}`, `compliance.${format}`);
    };
    return [
      el("h1", { text: "Audit" }),
      el("section", { class: "panel", "aria-labelledby": "h-chain" }, el("h2", { id: "h-chain", text: "Hash chain" }), verify, verdict),
      el("section", { class: "panel", "aria-labelledby": "h-compliance" }, el("h2", { id: "h-compliance", text: "Compliance report" }),
        el("div", { class: "toolbar" }, field("From", from), field("To", to),
          el("button", { type: "button", id: "download-csv", text: "Download CSV", onclick: report("csv") }),
          el("button", { type: "button", id: "download-jsonl", text: "Download JSON Lines", onclick: report("jsonl") })), downloadStatus),
      el("h2", { text: "Governance changes" }), filters.form, refused,
      el("div", { class: "table-wrap" }, el("table", { id: "audit-table" }, el("thead", {}, el("tr", {}, ["at", "actor", "source", "action", "resource", "version", "diff"].map((h) => el("th", { scope: "col", text: h })))), tbody)),
      more, status,
    ];
  }

  // ---------------------------------------------------------------- request log
  function requestsPage() {
    const tbody = el("tbody");
    const status = el("p", { class: "muted", "aria-live": "polite" });
    const detail = el("div", { id: "request-detail" });
    const more = el("button", { type: "button", text: "Next page", disabled: true });
    let cursor = null;
    const filters = filterForm("request-filters", [["virtual_key_id", "Key"], ["user_id", "User"], ["model", "Model"], ["status", "Status"], ["from", "From (UTC)", "datetime-local"], ["to", "To (UTC)", "datetime-local"]], () => { cursor = null; load(false); });
    const columns = ["admitted_at", "key_id", "user_id", "model", "provider", "status", "input_tokens", "output_tokens", "cost", "latency_ms"];
    async function load(append) {
      tbody.setAttribute("aria-busy", "true");
      const answer = await api("GET", `/api/audit/requests${query({ ...filters.values(), limit: 50, cursor })}`);
      tbody.setAttribute("aria-busy", "false");
      if (!answer.ok) { status.textContent = errorText(answer.data, answer.status); return; }
      const rows = answer.data.data.map((row) => el("tr", { "data-request": row.request_id },
        columns.map((c) => el("td", { text: c === "admitted_at" ? when(row[c]) : (c === "cost" ? money(row[c]) : summary(row[c])) })),
        el("td", {}, el("button", { type: "button", text: "Details", "aria-label": `Details of ${row.request_id}`, onclick: () => show(row.request_id) }))));
      if (append) tbody.append(...rows); else tbody.replaceChildren(...rows);
      cursor = answer.data.next_cursor;
      more.disabled = !cursor;
      status.textContent = `${tbody.children.length} request(s) shown`;
    }
    async function show(id) {
      const answer = await api("GET", `/api/audit/requests/${encodeURIComponent(id)}`);
      if (!answer.ok) { detail.replaceChildren(el("p", { class: "error", text: errorText(answer.data, answer.status) })); return; }
      detail.replaceChildren(el("section", { class: "panel", "aria-labelledby": "h-request" }, el("h2", { id: "h-request", text: `Request ${id}` }),
        el("table", {}, el("tbody", {}, Object.entries(answer.data).map(([k, v]) => el("tr", {}, el("th", { scope: "row", text: k }),
          el("td", {}, typeof v === "object" && v !== null ? el("pre", { text: JSON.stringify(v, null, 2) }) : String(v ?? "")))))),
        el("button", { type: "button", text: "Close", onclick: () => detail.replaceChildren() })));
      detail.querySelector("h2").scrollIntoView();
    }
    more.addEventListener("click", () => load(true));
    load(false);
    return [el("h1", { text: "Request log" }), filters.form, detail,
      el("div", { class: "table-wrap" }, el("table", { id: "requests-table" }, el("thead", {}, el("tr", {}, columns.concat(["record"]).map((h) => el("th", { scope: "col", text: h })))), tbody)),
      more, status];
  }

  // ---------------------------------------------------------------- config as code
  function configPage() {
    const out = el("div", { id: "plan", "aria-live": "polite" });
    const file = el("input", { type: "file", accept: "application/json,.json", id: "config-file" });
    const exportStatus = el("p", { class: "error", "aria-live": "polite" });
    let uploaded = null;
    const planButton = el("button", { type: "button", id: "plan-button", text: "Show the plan", onclick: async () => {
      out.replaceChildren();
      if (!file.files.length) { out.append(el("p", { class: "error", text: "choose a config.json first" })); return; }
      try { uploaded = JSON.parse(await file.files[0].text()); } catch (error) { out.append(el("p", { class: "error", text: `not JSON: ${error.message}` })); return; }
      const answer = await api("POST", "/api/config/plan", uploaded);
      if (!answer.ok) {
        out.append(el("p", { class: "error", text: errorText(answer.data, answer.status) }),
          el("ul", {}, ((answer.data && answer.data.error && answer.data.error.problems) || []).map((p) => el("li", { text: `${p.field}: ${p.message}` }))));
        return;
      }
      out.append(el("h2", { text: "Plan" }), el("pre", { id: "plan-lines", text: answer.data.lines.join("\n") || "no change" }),
        can("customers:update") && answer.data.lines.length ? el("button", { type: "button", class: "primary", id: "apply-button", text: "Apply this plan", onclick: async () => {
          const applied = await api("POST", "/api/config/apply", uploaded);
          if (!applied.ok) { out.append(el("p", { class: "error", text: errorText(applied.data, applied.status) })); return; }
          out.replaceChildren(el("p", { id: "applied", text: `${applied.data.appended} event(s) appended` }));
          for (const [id, value] of Object.entries(applied.data.new_key_values || {})) showOnce(`Key ${id}`, value);
        } }) : null);
    } });
    return [el("h1", { text: "Config as code" }),
      el("section", { class: "panel", "aria-labelledby": "h-export" }, el("h2", { id: "h-export", text: "Export" }),
        el("p", { text: "The current state as a config.json (provider key literals and key values are never exported)." }),
        el("button", { type: "button", id: "export-button", text: "Download config.json", onclick: async () => { exportStatus.textContent = await download("/api/config", "config.json"); } }), exportStatus),
      el("section", { class: "panel", "aria-labelledby": "h-upload" }, el("h2", { id: "h-upload", text: "Plan before apply" }),
        field("config.json", file), planButton, out)];
  }

  // ---------------------------------------------------------------- router
  const PAGES = {
    overview: overviewPage, routing: routingPage, audit: auditPage, requests: requestsPage, config: configPage,
    customers: () => entityPage("customers"), teams: () => entityPage("teams"), keys: () => entityPage("keys"),
    providers: () => entityPage("providers"), roles: () => entityPage("roles"), tokens: () => entityPage("tokens"),
  };
  async function render() {
    for (const timer of state.timers) clearInterval(timer);
    state.timers = [];
    for (const made of state.charts) made.destroy();
    state.charts = [];
    const name = (location.hash.replace(/^#\/?/, "") || "overview").split("?")[0];
    if (!state.me && !state.checked) { state.checked = true; await identify(); }
    const signedIn = Boolean(state.me);
    document.getElementById("nav").hidden = !signedIn;
    document.getElementById("identity").hidden = !signedIn;
    if (!signedIn) { main().replaceChildren(...loginPage()); document.title = "Sign in · govledger"; return; }
    document.getElementById("who").textContent = `${state.me.name} · ${state.me.role}`;
    const page = PAGES[name] || PAGES.overview;
    for (const link of document.querySelectorAll("#nav a")) {
      if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    main().replaceChildren(...page());
    document.title = `${main().querySelector("h1")?.textContent || "govledger"} · govledger`;
  }
  document.getElementById("logout").addEventListener("click", signOut);
  window.addEventListener("hashchange", render);
  render();
})();
