/** @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";
import { SLIPWAY_VERSION, type Scope } from "../../../core/index.js";
import type { Principal } from "../../services/access.js";
import { FEED_SETTLE_MS } from "../../services/feed.js";
import { assetUrl } from "./assets.js";
import { age, clock, duration, SYMBOL, type Chip, type Tone } from "./model.js";

/** What every page knows about who is looking: their name, scopes and the session's CSRF token. */
export type Viewer = { principal: Principal; csrf: string; now: number };

export const may = (viewer: Viewer, scope: Scope): boolean =>
  viewer.principal.scopes.includes("admin") || viewer.principal.scopes.includes(scope);

/** The page around every view; `live` is the event feed's filter the page refreshes on (none: it does not). */
export function Layout(props: {
  title: string;
  viewer?: Viewer;
  active?: "applications" | "runtimes";
  live?: string;
  children: Child;
}) {
  const { viewer } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Slipway`}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={assetUrl("style.css")} />
        {viewer ? <meta name="slipway-csrf" content={viewer.csrf} /> : null}
        {props.live !== undefined && viewer ? (
          <meta name="slipway-live" content={liveQuery(props.live, viewer.now)} />
        ) : null}
        <script src={assetUrl("client.js")} defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            Slipway
          </a>
          {viewer ? (
            <nav aria-label="Main">
              <a href="/" aria-current={props.active === "applications" ? "page" : undefined}>
                Applications
              </a>
              <a href="/runtimes" aria-current={props.active === "runtimes" ? "page" : undefined}>
                Runtimes
              </a>
              <a href="/docs">API</a>
            </nav>
          ) : null}
          {viewer ? (
            <form class="who" method="post" action="/logout">
              <span>
                {viewer.principal.actor.id} <span class="scopes">({viewer.principal.scopes.join(", ")})</span>
              </span>
              <button type="submit" class="link">
                Sign out
              </button>
            </form>
          ) : null}
        </header>
        <p id="live-status" class="live-status" role="status" aria-live="polite"></p>
        <main id="main" tabindex={-1}>
          {props.children}
        </main>
        <footer class="foot">Slipway {SLIPWAY_VERSION}</footer>
      </body>
    </html>
  );
}

/**
 * What a page's live stream follows, and from when: the instant the page was rendered, less the
 * feed's settle time, so a change the page's data missed by a moment is still told.
 */
function liveQuery(filter: string, now: number): string {
  const since = `since=${encodeURIComponent(new Date(now - FEED_SETTLE_MS).toISOString())}`;
  return filter ? `${filter}&${since}` : since;
}

/** A state in colour, symbol and word, so colour is never the only signal. */
export function Badge(props: { tone: Tone; text?: string; title?: string }) {
  return (
    <span class={`badge tone-${props.tone}`} title={props.title}>
      <span aria-hidden="true">{SYMBOL[props.tone]}</span> {props.text ?? props.tone}
    </span>
  );
}

/** An instant: its age, kept current by the client, with the exact time on hover and for machines. */
export function Ago(props: { at: string; now: number }) {
  return (
    <time datetime={props.at} data-age="" title={clock(props.at)}>
      {age(props.at, props.now)}
    </time>
  );
}

/** A gate chip; a countdown runs on it when the gate names its end. */
export function GateChip(props: { chip: Chip; now: number }) {
  const { chip } = props;
  return (
    <span class={`chip tone-${chip.tone}`} title={chip.title}>
      <span aria-hidden="true">{SYMBOL[chip.tone]}</span> <strong>{chip.label}</strong> {chip.text}
      {chip.until && chip.label === "soak" ? (
        <>
          {" "}
          <time datetime={chip.until} data-countdown="">
            {duration(Date.parse(chip.until) - props.now)}
          </time>
        </>
      ) : null}
    </span>
  );
}

/**
 * A form the client sends to the HTTP API as JSON (with the session's CSRF token), then refreshes
 * the page. Without JavaScript it does nothing, and the page says so.
 */
export function ApiForm(props: { action: string; label: string; confirm?: string; class?: string; children: Child }) {
  return (
    <form
      class={`api-form ${props.class ?? ""}`}
      data-api={props.action}
      data-confirm={props.confirm}
      aria-label={props.label}
    >
      {props.children}
      <p class="form-result" role="status" aria-live="polite"></p>
    </form>
  );
}

/** A labelled text field. */
export function Field(props: {
  name: string;
  label: string;
  required?: boolean;
  multiline?: boolean;
  placeholder?: string;
  id: string;
}) {
  return (
    <label class="field" for={props.id}>
      <span>{props.label}</span>
      {props.multiline ? (
        <textarea id={props.id} name={props.name} required={props.required} placeholder={props.placeholder} rows={2} />
      ) : (
        <input
          id={props.id}
          type="text"
          name={props.name}
          required={props.required}
          placeholder={props.placeholder}
          autocomplete="off"
        />
      )}
    </label>
  );
}
