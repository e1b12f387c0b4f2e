// The dashboard's client layer, all of it: it sends the pages' forms to the HTTP API as JSON with
// the session's CSRF token, refreshes the page's main content in place when /ui/live says
// something it shows changed, and keeps ages and countdowns current. No framework, no build.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="slipway-csrf"]')?.getAttribute("content") ?? "";
  const live = document.querySelector('meta[name="slipway-live"]');
  const status = document.getElementById("live-status");
  const main = document.getElementById("main");

  // ── ages and countdowns ─────────────────────────────────────────────────────────────
  // The same words as `duration` and `age` in model.ts, which render them first (this script has no
  // build step to share that module; test/unit/dashboard-model.test.ts specifies them).
  const duration = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}h ${m % 60}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  };
  function tick() {
    const now = Date.now();
    for (const t of document.querySelectorAll("time[data-age]")) {
      const ms = now - Date.parse(t.dateTime);
      t.textContent = ms < 5000 ? "just now" : `${duration(ms).split(" ")[0]} ago`;
    }
    for (const t of document.querySelectorAll("time[data-countdown]")) {
      const left = Date.parse(t.dateTime) - now;
      t.textContent = left > 0 ? duration(left) : "now";
    }
  }
  setInterval(tick, 1000);

  // ── live refresh ────────────────────────────────────────────────────────────────────
  let waiting = false;
  let timer;
  /** Someone is typing in a form of the page: a refresh would take their words away. */
  function busy() {
    const a = document.activeElement;
    if (a && main.contains(a) && a.matches("input:not([type=hidden]), textarea, select")) return true;
    return [...main.querySelectorAll("textarea, input[type=text]")].some((e) => e.value !== "");
  }
  /** Keeps an update for later while someone is busy in a form; true when it had to. */
  function holdIfBusy() {
    if (!busy()) return false;
    waiting = true;
    status.textContent = "This page has updates; they appear when you leave the form.";
    return true;
  }
  async function refresh() {
    if (!main || holdIfBusy()) return;
    waiting = false;
    const res = await fetch(location.href, { headers: { "x-slipway-fragment": "main" }, credentials: "same-origin" });
    if (res.redirected || res.status === 401) return location.reload();
    if (!res.ok) return;
    const html = await res.text();
    // They may have started typing while the page was on its way.
    if (holdIfBusy()) return;
    const open = [...main.querySelectorAll("details[open] > summary")].map((s) => s.textContent);
    main.innerHTML = html;
    for (const s of main.querySelectorAll("details > summary"))
      if (open.includes(s.textContent)) s.parentElement.open = true;
    if (status.dataset.keep !== "1") status.textContent = "";
    status.dataset.keep = "";
    tick();
    document.documentElement.dataset.refreshed = String(Number(document.documentElement.dataset.refreshed ?? 0) + 1);
  }
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 60);
  };
  document.addEventListener("focusout", () =>
    setTimeout(() => {
      if (waiting && !busy()) refresh();
    }, 0),
  );
  if (live && main) {
    const query = live.getAttribute("content");
    const source = new EventSource(`/ui/live${query ? `?${query}` : ""}`);
    source.addEventListener("change", soon);
    source.addEventListener("open", () => document.documentElement.setAttribute("data-live", "open"));
    // Closed for good (the session ended): reload, which leads to the sign-in form.
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) setTimeout(() => location.reload(), 1000);
    });
  }

  // ── actions ─────────────────────────────────────────────────────────────────────────
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const body = {};
    for (const [name, value] of new FormData(form, event.submitter)) {
      if (typeof value !== "string" || value === "") continue;
      body[name] = name === "rollback" ? value === "true" : value;
    }
    const result = form.querySelector(".form-result");
    const buttons = [...form.querySelectorAll("button")];
    for (const b of buttons) b.disabled = true;
    result.classList.remove("error");
    result.textContent = "Sending…";
    try {
      const res = await fetch(form.dataset.api, {
        method: "POST",
        headers: { "content-type": "application/json", "x-slipway-csrf": csrf },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      const answer = await res.json().catch(() => ({}));
      if (res.ok) {
        const what = event.submitter?.textContent?.trim() || form.getAttribute("aria-label");
        status.textContent = `${what}: done.`;
        status.dataset.keep = "1";
        form.reset();
        await refresh();
      } else {
        result.classList.add("error");
        result.setAttribute("role", "alert");
        result.textContent = answer.detail ? `${answer.detail} (${answer.code})` : `Refused: ${res.status}`;
      }
    } catch (err) {
      result.classList.add("error");
      result.textContent = `Could not reach Slipway: ${err.message}`;
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
})();
