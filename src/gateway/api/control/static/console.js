// The ops console. It signs in with an admin key (kept in this tab's sessionStorage only,
// sent as a header, never in a URL), reads the control API and refreshes the page in view
// every few seconds. Everything is built with DOM calls and textContent: nothing the
// gateway returns is ever parsed as HTML.
"use strict";
(function () {
  const STORAGE = "gateway.adminKey";
  const REFRESH_MS = 4000;
  const CHART_BARS = 12;
  let key = "";
  let current = "board";
  let timer = null;
  let groups = []; // the board's last groups, for the override form

  const $ = (id) => document.getElementById(id);

  // --- the control API -----------------------------------------------------------------

  class Problem extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function call(method, path, body) {
    const init = { method: method, headers: { Authorization: "Bearer " + key }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new Problem("The gateway could not be reached (" + error.message + ").", 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (ignored) {}
    if (!response.ok) {
      const message =
        data && data.error && data.error.message
          ? data.error.message
          : "The gateway answered " + response.status + ".";
      throw new Problem(message, response.status);
    }
    return data;
  }

  // --- building the page ---------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name === "onclick") node.addEventListener("click", value);
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function table(target, headings, rows, empty) {
    const head = el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { text: h }))));
    const body = el("tbody", {});
    if (rows.length === 0) {
      body.append(el("tr", {}, el("td", { colspan: String(headings.length), class: "empty", text: empty })));
    }
    for (const row of rows) body.append(row);
    target.replaceChildren(head, body);
  }

  function cell(value, props) {
    return el("td", props || {}, value === null || value === undefined ? "—" : value);
  }

  function notice(target, message, ok) {
    target.textContent = message;
    target.className = "notice " + (ok ? "ok" : "problem");
  }

  function clock(iso) {
    if (!iso) return "—";
    return new Date(iso).toLocaleTimeString([], { hour12: false });
  }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    return date.toLocaleDateString() + " " + date.toLocaleTimeString([], { hour12: false });
  }

  function secondsUntil(iso) {
    return Math.max(0, Math.round((new Date(iso).getTime() - Date.now()) / 1000));
  }

  function usd(value) {
    if (value === null || value === undefined) return "—";
    if (value === 0) return "$0";
    // Cents for dollars and more; three significant digits below (a request costs little).
    return value < 1 ? "$" + value.toPrecision(3) : "$" + value.toFixed(2);
  }

  function percent(share) {
    return share === null || share === undefined ? "—" : (share * 100).toFixed(1) + "%";
  }

  function ms(value) {
    return value === null || value === undefined ? "—" : Math.round(value) + " ms";
  }

  function list(text) {
    return text
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part.length > 0);
  }

  function number(input) {
    const raw = input.value.trim();
    return raw === "" ? undefined : Number(raw);
  }

  // --- the board -----------------------------------------------------------------------

  const STATE_WORDS = { ok: "ok", cooling: "cooling", probing: "probing", degraded: "degraded", down: "down" };

  function deploymentState(d) {
    if (d.state === "cooling") {
      return el(
        "td",
        { class: "state" },
        el("span", { class: "badge cooling", text: "cooling" }),
        " until " + clock(d.cooling_until) + " (" + secondsUntil(d.cooling_until) + " s)",
        el("div", { class: "reason", text: d.cooling_reason || "" })
      );
    }
    if (d.state === "probing") {
      return el(
        "td",
        { class: "state" },
        el("span", { class: "badge probing", text: "probing" }),
        el("div", { class: "reason", text: "its cooldown ended: the next request tries it" })
      );
    }
    return el("td", { class: "state" }, el("span", { class: "badge ok", text: "ok" }));
  }

  function chainLine(group) {
    const line = el("p", { class: "chain" });
    if (group.redirect_to) {
      line.append(
        el("span", { class: "badge override", text: "override" }),
        " all traffic redirected to ",
        el("strong", { text: group.redirect_to })
      );
      return line;
    }
    if (group.fallbacks.length === 0) {
      line.append("no fallbacks");
      return line;
    }
    if (group.fallbacks_source === "override") line.append(el("span", { class: "badge override", text: "override" }), " ");
    line.append("fallbacks: " + group.fallbacks.join(" → "));
    if (group.fallbacks_source !== "override") line.append(el("span", { class: "aside", text: " (" + group.fallbacks_source + ")" }));
    return line;
  }

  async function loadBoard(stale) {
    const board = await call("GET", "/admin/board");
    if (stale && stale()) return;
    groups = board.groups;
    $("board-scope").textContent =
      "The last " + Math.round(board.window_seconds / 60) + " minutes, counted over " +
      board.workers + (board.workers === 1 ? " process" : " processes") + "; cooldowns are the fleet's.";
    const cards = board.groups.map((group) => {
      const rows = group.deployments.map((d) =>
        el(
          "tr",
          { "data-deployment": d.id, "data-state": d.state },
          cell(el("span", {}, el("strong", { text: d.id }), el("div", { class: "aside", text: d.provider + " · " + (d.api_base_host || "default endpoint") }))),
          cell(d.model),
          deploymentState(d),
          cell(percent(d.success_rate)),
          cell(ms(d.latency_p50_ms)),
          cell(ms(d.latency_p95_ms)),
          cell(String(d.in_flight)),
          cell(d.requests + " / " + d.failures)
        )
      );
      const body = el("div", { class: "scroll" }, el("table", {}));
      table(body.firstChild, ["Deployment", "Model", "State", "Success", "p50", "p95", "In flight", "Served / failed"], rows, "no deployments");
      return el(
        "article",
        { class: "card group " + group.state, "data-group": group.name, "data-state": group.state },
        el(
          "h3",
          {},
          group.name + " ",
          el("span", { class: "badge " + group.state, text: STATE_WORDS[group.state] }),
          el("span", { class: "aside", text: " " + group.routing_strategy + (group.aliases.length ? " · aliases: " + group.aliases.join(", ") : "") })
        ),
        chainLine(group),
        body
      );
    });
    $("board-groups").replaceChildren(...cards);
  }

  // --- overrides and the audit trail ---------------------------------------------------

  function fillGroups() {
    const select = $("override-group");
    const chosen = select.value;
    const names = groups.map((g) => g.name);
    if (select.options.length === names.length && names.every((n, i) => select.options[i].value === n)) return;
    select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
    if (names.includes(chosen)) select.value = chosen;
  }

  async function loadOverrides(stale) {
    if (groups.length === 0) await loadBoard(stale);
    fillGroups();
    const [overrides, audit] = await Promise.all([
      call("GET", "/admin/overrides"),
      call("GET", "/admin/audit?limit=50"),
    ]);
    if (stale && stale()) return;
    const rows = overrides.data.map((o) =>
      el(
        "tr",
        { "data-override": o.model_group },
        cell(o.model_group),
        cell(o.redirect_to ? "redirect to " + o.redirect_to : "fallbacks: " + o.fallbacks.join(" → ")),
        cell(clock(o.expires_at) + " (" + o.seconds_left + " s)"),
        cell(o.reason),
        cell(o.set_by),
        el("td", {}, el("button", { type: "button", class: "danger", "data-end": o.model_group, text: "End now", onclick: () => endOverride(o.model_group) }))
      )
    );
    table($("override-list"), ["Group", "Override", "Until", "Reason", "Set by", ""], rows, "No override is in force.");
    const entries = audit.data.map((a) =>
      el(
        "tr",
        { "data-audit": a.id },
        cell(when(a.at)),
        cell(a.actor),
        cell(a.action),
        cell(a.target_kind + " " + a.target_id),
        cell(a.reason)
      )
    );
    table($("audit-list"), ["When", "Who", "Action", "What", "Reason"], entries, "No change recorded yet.");
  }

  async function setOverride(event) {
    event.preventDefault();
    const group = $("override-group").value;
    const mode = $("override-mode").value;
    const target = $("override-target").value.trim();
    const body = {
      ttl_seconds: Number($("override-ttl").value),
      reason: $("override-reason").value.trim(),
    };
    if (mode === "redirect") body.redirect_to = target;
    else body.fallbacks = list(target);
    try {
      const set = await call("PUT", "/admin/overrides/" + encodeURIComponent(group), body);
      notice(
        $("override-notice"),
        "Override set on " + group + " until " + clock(set.expires_at) +
          (set.propagated ? "; every process has it." : "; other processes pick it up from the database."),
        true
      );
      await loadOverrides();
    } catch (problem) {
      notice($("override-notice"), "Not set: " + problem.message, false);
    }
  }

  async function endOverride(group) {
    const reason = $("override-end-reason").value.trim();
    const path = "/admin/overrides/" + encodeURIComponent(group);
    try {
      await call("DELETE", path, reason ? { reason: reason } : {});
      notice($("override-list-notice"), "The override on " + group + " ended; its configured chain is back.", true);
      await loadOverrides();
    } catch (problem) {
      notice($("override-list-notice"), "Not ended: " + problem.message, false);
    }
  }

  // --- keys and teams ------------------------------------------------------------------

  let keys = [];

  function budgetCell(item) {
    if (item.max_budget === null || item.max_budget === undefined) return cell(usd(item.spend) + " (no budget)");
    const share = item.max_budget > 0 ? Math.min(1, (item.spend || 0) / item.max_budget) : 1;
    const meter = el("meter", { min: "0", max: "1", low: "0.5", high: "0.8", optimum: "0", value: String(share) });
    return el("td", {}, usd(item.spend) + " of " + usd(item.max_budget) + " ", meter,
      item.budget_reset_at ? el("div", { class: "aside", text: "resets " + when(item.budget_reset_at) }) : null);
  }

  function showKeys() {
    const query = $("key-search").value.trim().toLowerCase();
    const shown = keys.filter((k) =>
      !query ||
      [k.key_alias, k.team_id, k.token, k.key_name].some((v) => v && String(v).toLowerCase().includes(query))
    );
    const rows = shown.map((k) =>
      el(
        "tr",
        { "data-key": k.token, "data-blocked": k.blocked ? "true" : "false" },
        cell(k.key_alias || "(no alias)"),
        cell(k.key_name),
        cell(k.team_id),
        cell(k.models.length ? k.models.join(", ") : "all"),
        budgetCell(k),
        cell(k.blocked ? el("span", { class: "badge down", text: "blocked" }) : el("span", { class: "badge ok", text: "active" })),
        el("td", {}, el("button", {
          type: "button",
          class: k.blocked ? "" : "danger",
          "data-block": k.token,
          text: k.blocked ? "Unblock" : "Block",
          onclick: () => setBlocked(k, !k.blocked),
        }))
      )
    );
    table($("key-list"), ["Alias", "Key", "Team", "Models", "Spend", "State", ""], rows, query ? "No key matches." : "No key yet.");
  }

  async function loadKeys(stale) {
    const [page, teams] = await Promise.all([
      call("GET", "/key/list?return_full_object=true&size=100"),
      call("GET", "/team/list"),
    ]);
    if (stale && stale()) return;
    keys = page.keys;
    $("key-count").textContent =
      page.total_count > keys.length ? "The first " + keys.length + " of " + page.total_count + " keys." : page.total_count + " keys.";
    showKeys();
    const rows = teams.teams.map((t) =>
      el(
        "tr",
        { "data-team": t.team_id },
        cell(t.team_id),
        cell(t.team_alias),
        cell(t.models.length ? t.models.join(", ") : "all"),
        budgetCell(t),
        cell(t.blocked ? el("span", { class: "badge down", text: "blocked" }) : el("span", { class: "badge ok", text: "active" }))
      )
    );
    table($("team-list"), ["Team", "Alias", "Models", "Spend", "State"], rows, "No team yet.");
  }

  async function setBlocked(item, blocked) {
    try {
      await call("POST", "/key/update", { key: item.token, blocked: blocked });
      notice($("key-list-notice"), (item.key_alias || item.key_name) + (blocked ? " is blocked: its requests are refused now." : " is unblocked."), true);
      await loadKeys();
    } catch (problem) {
      notice($("key-list-notice"), "Not changed: " + problem.message, false);
    }
  }

  async function createKey(event) {
    event.preventDefault();
    const body = {};
    const alias = $("key-alias").value.trim();
    const team = $("key-team").value.trim();
    const models = list($("key-models").value);
    const budget = number($("key-budget"));
    const duration = $("key-duration").value.trim();
    if (alias) body.key_alias = alias;
    if (team) body.team_id = team;
    if (models.length) body.models = models;
    if (budget !== undefined) body.max_budget = budget;
    if (duration) body.budget_duration = duration;
    $("key-secret").hidden = true;
    try {
      const created = await call("POST", "/key/generate", body);
      $("key-secret-value").textContent = created.key;
      $("key-secret").hidden = false;
      notice($("key-notice"), "Key " + (created.key_alias || created.key_name) + " created.", true);
      $("key-form").reset();
      await loadKeys();
    } catch (problem) {
      notice($("key-notice"), "Not created: " + problem.message, false);
    }
  }

  async function createTeam(event) {
    event.preventDefault();
    const body = {};
    const id = $("team-id").value.trim();
    const alias = $("team-alias").value.trim();
    const budget = number($("team-budget"));
    const duration = $("team-duration").value.trim();
    if (id) body.team_id = id;
    if (alias) body.team_alias = alias;
    if (budget !== undefined) body.max_budget = budget;
    if (duration) body.budget_duration = duration;
    try {
      const created = await call("POST", "/team/new", body);
      notice($("team-notice"), "Team " + created.team_id + " created.", true);
      $("team-form").reset();
      await loadKeys();
    } catch (problem) {
      notice($("team-notice"), "Not created: " + problem.message, false);
    }
  }

  // --- spend ---------------------------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Horizontal bars, largest first; every bar carries its figures as data attributes.
  function bars(target, rows, label) {
    if (rows.length === 0) {
      target.replaceChildren(el("p", { class: "empty", text: "No spend in this range." }));
      return;
    }
    const shown = rows.slice(0, CHART_BARS);
    const most = Math.max(...shown.map((r) => r.cost_usd), 1e-12);
    const line = 26;
    const chart = svg("svg", { viewBox: "0 0 400 " + shown.length * line, role: "img", "aria-label": "spend bars" });
    shown.forEach((row, i) => {
      const y = i * line;
      const width = Math.max(1, (row.cost_usd / most) * 200);
      const bar = svg("g", { class: "bar", "data-label": label(row), "data-cost": row.cost_usd, "data-requests": row.requests });
      bar.append(
        svg("text", { x: 0, y: y + 17, class: "label" }, truncate(label(row), 20)),
        svg("rect", { x: 140, y: y + 5, width: width, height: 16, rx: 2 }),
        svg("text", { x: 146 + width, y: y + 17, class: "value" }, usd(row.cost_usd) + " · " + row.requests),
        svg("title", {}, label(row) + ": " + usd(row.cost_usd) + ", " + row.requests + " requests")
      );
      chart.append(bar);
    });
    const more = rows.length > shown.length ? el("p", { class: "aside", text: "and " + (rows.length - shown.length) + " more" }) : null;
    target.replaceChildren(chart, ...(more ? [more] : []));
  }

  // Vertical bars, one per day in the range (days without requests show as empty).
  function days(target, rows, start, end) {
    const byDay = new Map(rows.map((r) => [r.day, r]));
    const all = [];
    for (let day = new Date(start + "T00:00:00Z"); day <= new Date(end + "T00:00:00Z"); day.setUTCDate(day.getUTCDate() + 1)) {
      const name = day.toISOString().slice(0, 10);
      all.push(byDay.get(name) || { day: name, cost_usd: 0, requests: 0 });
    }
    const most = Math.max(...all.map((r) => r.cost_usd), 1e-12);
    const margin = 18; // room for the first and last day's tick label
    const step = (400 - 2 * margin) / all.length;
    const chart = svg("svg", { viewBox: "0 0 400 170", role: "img", "aria-label": "spend by day" });
    all.forEach((row, i) => {
      const height = row.cost_usd > 0 ? Math.max(1, (row.cost_usd / most) * 130) : 0;
      const bar = svg("g", { class: "bar", "data-label": row.day, "data-cost": row.cost_usd, "data-requests": row.requests });
      bar.append(
        svg("rect", { x: margin + i * step + step * 0.15, y: 140 - height, width: step * 0.7, height: height, rx: 1 }),
        svg("title", {}, row.day + ": " + usd(row.cost_usd) + ", " + row.requests + " requests")
      );
      if (all.length <= 10 || i % Math.ceil(all.length / 7) === 0) {
        bar.append(svg("text", { x: margin + i * step + step / 2, y: 158, class: "tick" }, row.day.slice(5)));
      }
      chart.append(bar);
    });
    target.replaceChildren(chart);
  }

  function truncate(text, most) {
    return text.length > most ? text.slice(0, most - 1) + "…" : text;
  }

  async function loadSpend(stale) {
    const count = Number($("spend-days").value);
    const end = new Date();
    const start = new Date(end.getTime() - (count - 1) * 86400000);
    const range = "&start=" + start.toISOString().slice(0, 10) + "&end=" + end.toISOString().slice(0, 10);
    const [byDay, byModel, byKey, byTeam] = await Promise.all(
      ["day", "model", "key", "team"].map((by) => call("GET", "/spend/report?group_by=" + by + range))
    );
    if (stale && stale()) return;
    const cost = byDay.data.reduce((sum, r) => sum + r.cost_usd, 0);
    const requests = byDay.data.reduce((sum, r) => sum + r.requests, 0);
    const unpriced = byDay.data.reduce((sum, r) => sum + r.unpriced_requests, 0);
    const total = $("spend-total");
    total.setAttribute("data-cost", String(cost));
    total.setAttribute("data-requests", String(requests));
    total.setAttribute("data-days", String(count));
    total.textContent =
      usd(cost) + " over " + requests + " requests, " + byDay.start + " to " + byDay.end + " (UTC days)" +
      (unpriced ? "; " + unpriced + " requests had no known price" : "") + ".";
    days($("chart-day"), byDay.data, byDay.start, byDay.end);
    bars($("chart-model"), byModel.data, (r) => r.model_group || "(none)");
    bars($("chart-key"), byKey.data, (r) => r.key_alias || (r.key_hash ? r.key_hash.slice(0, 12) + "…" : "(no key)"));
    bars($("chart-team"), byTeam.data, (r) => r.team_id || "(no team)");
    $("spend-notice").textContent = "";
  }

  // --- failures ------------------------------------------------------------------------

  function rescuedCell(f) {
    if (f.rescued === null) return cell(el("span", { class: "badge probing", text: "in flight" }));
    if (f.rescued) return cell(el("span", {}, el("span", { class: "badge ok", text: "rescued" }), f.served_by ? " by " + f.served_by : ""));
    return cell(el("span", { class: "badge down", text: "failed" }));
  }

  async function loadFailures(stale) {
    const failures = await call("GET", "/admin/failures?limit=100");
    if (stale && stale()) return;
    const rows = failures.data.map((f) =>
      el(
        "tr",
        { "data-request": f.request_id, "data-deployment": f.deployment || "" },
        cell(clock(f.at)),
        cell(el("code", { text: f.request_id })),
        cell(f.model_group),
        cell(f.deployment),
        cell(f.error_type),
        cell(f.upstream_status === null ? null : String(f.upstream_status)),
        cell(f.status === null ? null : String(f.status)),
        rescuedCell(f)
      )
    );
    table($("failure-list"), ["At", "Request", "Group", "Deployment", "Error", "Upstream", "Caller got", "Outcome"], rows, "No failure in the last minutes.");
  }

  // --- navigation, refresh, sign-in ----------------------------------------------------

  const VIEWS = { board: loadBoard, overrides: loadOverrides, keys: loadKeys, spend: loadSpend, failures: loadFailures };

  // Each refresh supersedes the ones still waiting for the gateway: only the latest
  // one draws (a slow answer for the previous tab or range never overwrites a newer one).
  let generation = 0;

  async function refresh() {
    clearTimeout(timer);
    const view = current;
    const mine = ++generation;
    const stale = () => mine !== generation;
    try {
      await VIEWS[view](stale);
      if (stale()) return;
      $("status").textContent = "Updated " + new Date().toLocaleTimeString([], { hour12: false });
    } catch (problem) {
      if (stale()) return;
      if (problem.status === 401 || problem.status === 403) {
        signOut(problem.message);
        return;
      }
      $("status").textContent = "Not updated: " + problem.message;
    }
    if (key) timer = setTimeout(refresh, REFRESH_MS);
  }

  function show(view) {
    current = view;
    for (const button of $("tabs").querySelectorAll("button")) {
      if (button.dataset.view === view) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    }
    for (const name of Object.keys(VIEWS)) $("view-" + name).hidden = name !== view;
    refresh();
  }

  function signOut(message) {
    clearTimeout(timer);
    key = "";
    sessionStorage.removeItem(STORAGE);
    for (const name of Object.keys(VIEWS)) $("view-" + name).hidden = true;
    $("tabs").hidden = true;
    $("sign-out").hidden = true;
    $("status").textContent = "";
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("admin-key").focus();
  }

  async function signIn(candidate) {
    key = candidate;
    try {
      await call("GET", "/admin/board");
    } catch (problem) {
      signOut(candidate || problem.status !== 401 ? problem.message : "");
      return;
    }
    sessionStorage.setItem(STORAGE, key);
    $("sign-in").hidden = true;
    $("tabs").hidden = false;
    $("sign-out").hidden = false;
    show(current);
  }

  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    signIn($("admin-key").value.trim());
    $("admin-key").value = "";
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  for (const button of $("tabs").querySelectorAll("button")) {
    button.addEventListener("click", () => show(button.dataset.view));
  }
  $("override-form").addEventListener("submit", setOverride);
  $("override-mode").addEventListener("change", () => {
    $("override-target-label").textContent =
      $("override-mode").value === "redirect" ? "Redirect to" : "Fallback chain (comma separated)";
  });
  $("key-form").addEventListener("submit", createKey);
  $("team-form").addEventListener("submit", createTeam);
  $("key-search").addEventListener("input", showKeys);
  $("spend-days").addEventListener("change", refresh);
  const stored = sessionStorage.getItem(STORAGE);
  if (stored) signIn(stored);
  else signOut("");
})();
