/** @jsxImportSource hono/jsx */
import { isOverridable, narrate } from "../../../core/index.js";
import type { ParamValue, StoredEvent } from "../../../events/index.js";
import type { TimelineEntry } from "../../adapters/read-models.js";
import {
  gatesOf,
  type GateState,
  type PipelineCell,
  type PipelineView,
  type ReleasePage,
  type RuntimeDeployment,
  type WaitingRelease,
} from "../../services/dashboard.js";
import type { RuntimeListItem } from "../../services/runtimes.js";
import { assetUrl } from "./assets.js";
import { Ago, ApiForm, Badge, Field, GateChip, Layout, may, type Viewer } from "./layout.js";
import { clock, gateChip, paramsShown, shortId, waitingTone, words, type Tone } from "./model.js";

const enc = encodeURIComponent;
/** A param's value in full: text as it is, anything else as JSON. */
const valueText = (v: ParamValue): string => (typeof v === "string" ? v : JSON.stringify(v));
const releaseHref = (id: string) => `/releases/${enc(id)}`;

// ── sign in ──────────────────────────────────────────────────────────────────────────────

export function SignInPage(props: { next: string; error?: string }) {
  return (
    <Layout title="Sign in">
      <section class="sign-in">
        <h1>Sign in to Slipway</h1>
        <p>Paste an API key that may read. It is exchanged for a session; the page never keeps the key.</p>
        <form method="post" action="/login">
          <input type="hidden" name="next" value={props.next} />
          <label class="field" for="key">
            <span>API key</span>
            <input id="key" name="key" type="password" required autofocus autocomplete="off" spellcheck={false} />
          </label>
          {props.error ? (
            <p class="error" role="alert">
              {props.error}
            </p>
          ) : null}
          <button type="submit">Sign in</button>
        </form>
      </section>
    </Layout>
  );
}

// ── applications ─────────────────────────────────────────────────────────────────────────

export function HomePage(props: {
  viewer: Viewer;
  applications: { name: string; channels: string[]; services: string[] }[];
}) {
  return (
    <Layout title="Applications" viewer={props.viewer} active="applications" live="">
      <h1>Applications</h1>
      {props.applications.length === 0 ? (
        <p class="empty">
          No applications yet. Apply an application and its services with <code>slipway apply -f</code>.
        </p>
      ) : (
        <ul class="cards">
          {props.applications.map((a) => (
            <li class="card">
              <h2>
                <a href={`/apps/${enc(a.name)}`}>{a.name}</a>
              </h2>
              <p>
                <span class="muted">channels</span> {a.channels.join(" → ")}
              </p>
              <p>
                <span class="muted">services</span> {a.services.length ? a.services.join(", ") : "none yet"}
              </p>
            </li>
          ))}
        </ul>
      )}
    </Layout>
  );
}

// ── the pipeline ─────────────────────────────────────────────────────────────────────────

const cellTone = (cell: PipelineCell): Tone => (cell.state === "idle" ? "idle" : cell.state);

function ReleaseLine(props: { id: string; summary?: WaitingRelease["summary"]; now: number }) {
  const s = props.summary;
  return (
    <span class="release-line">
      <a href={releaseHref(props.id)} title={props.id} class="rid">
        {shortId(props.id)}
      </a>
      {s
        ? paramsShown(s.params).map((p) => (
            <span class="param" title={`${p.name}: ${valueText(s.params[p.name]!)}`}>
              {p.text}
            </span>
          ))
        : null}
      {s ? (
        <span class="meta">
          {s.author ? <>by {s.author} · </> : null}
          <Ago at={s.createdAt} now={props.now} />
        </span>
      ) : null}
    </span>
  );
}

function Cell(props: { cell: PipelineCell; paused: boolean; now: number }) {
  const { cell, now } = props;
  return (
    <div class="cell">
      {cell.currentId ? (
        <div class={`current tone-${cellTone(cell)}`}>
          <Badge tone={cellTone(cell)} text={cell.rollback ? `${cell.state} (rollback)` : cell.state} />
          <ReleaseLine id={cell.currentId} {...(cell.current ? { summary: cell.current } : {})} now={now} />
          {cell.runtimes.length > 0 ? (
            <ul class="runtimes" aria-label="Runtimes">
              {cell.runtimes.map((r) => (
                <li title={r.message}>
                  {r.runtime}: {r.status}
                  {r.status === "failed" && r.message ? <span class="error"> — {r.message}</span> : null}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : (
        <div class="current tone-idle">
          <Badge tone="idle" text="nothing deployed" />
        </div>
      )}
      {props.paused ? <Badge tone="paused" text="paused" /> : null}
      {cell.waiting.length > 0 ? (
        <ul class="waiting" aria-label={`Waiting in ${cell.channel}`}>
          {cell.waiting.map((w) => (
            <li>
              <Badge tone={waitingTone(w.gates)} text={waitingTone(w.gates)} />{" "}
              <ReleaseLine id={w.releaseId} {...(w.summary ? { summary: w.summary } : {})} now={now} />
              <span class="chips">
                {w.gates
                  .filter((g) => g.result.state === "blocked")
                  .map((g) => (
                    <GateChip chip={gateChip(g)} now={now} />
                  ))}
                {w.gates.length === 0 ? w.reasons.map((r) => <span class="chip tone-waiting">{r}</span>) : null}
              </span>
            </li>
          ))}
          {cell.moreWaiting > 0 ? <li class="muted">and {cell.moreWaiting} more waiting</li> : null}
        </ul>
      ) : null}
    </div>
  );
}

export function PipelinePage(props: { viewer: Viewer; view: PipelineView }) {
  const { view, viewer } = props;
  return (
    <Layout
      title={view.application}
      viewer={viewer}
      active="applications"
      live={`application=${enc(view.application)}`}
    >
      <h1>{view.application}</h1>
      <p class="muted">
        Channels in promotion order: {view.channels.map((c) => c.name).join(" → ")}. A row per service; what waits
        behind the current release is listed under it with the gates that hold it.
      </p>
      <div class="pipeline-scroll" role="region" aria-label={`Pipeline of ${view.application}`} tabindex={0}>
        <table class="pipeline">
          <caption class="sr-only">Releases of {view.application} by service and release channel</caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              {view.channels.map((c) => (
                <th scope="col">
                  {c.name}
                  {c.paused ? (
                    <>
                      {" "}
                      <Badge
                        tone="paused"
                        text={c.paused.until ? `paused until ${clock(c.paused.until)}` : "paused"}
                        {...(c.paused.reason ? { title: c.paused.reason } : {})}
                      />
                    </>
                  ) : null}
                  {c.unlinkedRuntimes?.map((r) => (
                    <>
                      {" "}
                      <Badge
                        tone="bad"
                        text={`${r} not linked`}
                        title={`No agent has registered for runtime ${r}: nothing deploys there until one does (slipway runtime link ${r})`}
                      />
                    </>
                  ))}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {view.rows.length === 0 ? (
              <tr>
                <td colspan={view.channels.length + 1} class="empty">
                  No services in this application yet.
                </td>
              </tr>
            ) : null}
            {view.rows.map((row) => (
              <tr>
                <th scope="row">{row.service}</th>
                {row.cells.map((cell, i) => (
                  <td data-channel={cell.channel}>
                    <Cell cell={cell} paused={view.channels[i]?.paused !== undefined} now={viewer.now} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Layout>
  );
}

// ── a release ────────────────────────────────────────────────────────────────────────────

/** What a release's heading in a channel says: waiting (or frozen), superseded, or its deployment there. */
function channelBadge(
  ch: ReleasePage["release"]["channels"][number],
  gates: GateState[],
): { tone: Tone; text: string } {
  if (ch.waiting) return { tone: waitingTone(gates), text: waitingTone(gates) };
  if (ch.supersededBy) return { tone: "idle", text: `superseded by ${shortId(ch.supersededBy)}` };
  const d = ch.deployment;
  if (d === "none") return { tone: "idle", text: ch.started ? "entered" : "not yet" };
  return { tone: d === "converged" || d === "deploying" || d === "failed" ? d : "idle", text: words(d) };
}

function Timeline(props: { entries: TimelineEntry[]; now: number }) {
  return (
    <ol class="timeline">
      {[...props.entries].reverse().map((t) => {
        const n = narrate({ ...t, eventId: "", correlationId: "", causationId: "", schemaVersion: 1 } as StoredEvent);
        return (
          <li class={`level-${n.level}`}>
            <Ago at={t.occurredAt} now={props.now} /> <span class="actor">{`${t.actor.kind}:${t.actor.id}`}</span>{" "}
            <span class="what">{n.message}</span>
          </li>
        );
      })}
    </ol>
  );
}

export function ReleasePageView(props: { viewer: Viewer; page: ReleasePage }) {
  const { viewer } = props;
  const { release, timeline, channels } = props.page;
  const id = release.releaseId;
  const admin = may(viewer, "admin");
  const approver = may(viewer, "approve");
  return (
    <Layout title={`Release ${shortId(id)}`} viewer={viewer} active="applications" live={`release=${enc(id)}`}>
      <p class="crumbs">
        <a href={`/apps/${enc(release.application)}`}>{release.application}</a> / {release.service}
      </p>
      <h1>
        Release <span class="rid">{id}</span>
      </h1>
      <p class="badges">
        {release.bad ? <Badge tone="bad" text={`marked bad: ${release.bad.reason}`} /> : null}
        {release.status === "abandoned" ? <Badge tone="idle" text="abandoned" /> : null}
        <span class="muted">
          {release.cause === "config" ? `config change on ${release.basedOn ?? "?"}` : "CI build"}
          {release.author ? ` by ${release.author}` : ""}
        </span>
      </p>
      <dl class="params">
        {Object.keys(release.params)
          .sort()
          .map((name) => (
            <>
              <dt>{name}</dt>
              <dd>{valueText(release.params[name]!)}</dd>
            </>
          ))}
      </dl>
      {admin && release.status === "active" ? (
        <div class="actions">
          {release.bad ? null : (
            <details class="more">
              <summary>Mark bad</summary>
              <ApiForm action={`/v1/releases/${enc(id)}/mark-bad`} label="Mark bad" confirm={`Mark ${id} bad?`}>
                <Field id="bad-reason" name="reason" label="Why it is bad" required />
                <label class="check" for="bad-rollback">
                  <input id="bad-rollback" type="checkbox" name="rollback" value="true" /> roll back where it runs
                </label>
                <button type="submit" class="danger">
                  Mark bad
                </button>
              </ApiForm>
            </details>
          )}
          <details class="more">
            <summary>Abandon</summary>
            <ApiForm action={`/v1/releases/${enc(id)}/abandon`} label="Abandon" confirm={`Abandon ${id}?`}>
              <Field id="abandon-reason" name="reason" label="Reason" />
              <button type="submit">Abandon</button>
            </ApiForm>
          </details>
        </div>
      ) : null}
      <noscript>
        <p class="muted">The actions on this page need JavaScript.</p>
      </noscript>

      <h2>Channels</h2>
      {release.channels.map((ch, i) => {
        const here = channels[i]!;
        const chPath = `/v1/applications/${enc(release.application)}/channels/${enc(ch.name)}`;
        const gates = gatesOf(ch);
        const overrideOf = (key: string) =>
          ch.overrides && Object.hasOwn(ch.overrides, key) ? ch.overrides[key] : undefined;
        // Approvals still open: not rejected, and their gate (if the release reached it) still blocked.
        const pending = Object.entries(ch.approvals).filter(([name, a]) => {
          if (a.rejected) return false;
          const g = gates.find((x) => x.key === `manualApproval:${name}`);
          return !g || g.result.state === "blocked";
        });
        // Only gates an admin may override (deploy windows and freezes may not), and not twice.
        const blockedOverridable = gates.filter(
          (g) => g.result.state === "blocked" && isOverridable(g.key) && !overrideOf(g.key),
        );
        const badge = channelBadge(ch, gates);
        return (
          <section class="channel" aria-labelledby={`ch-${i}`}>
            <h3 id={`ch-${i}`}>
              {ch.name} <Badge tone={badge.tone} text={badge.text} />
              {here.paused ? (
                <>
                  {" "}
                  <Badge
                    tone="paused"
                    text="channel paused"
                    {...(here.paused.reason ? { title: here.paused.reason } : {})}
                  />
                </>
              ) : null}
            </h3>
            {gates.length > 0 ? (
              <ul class="gates" aria-label={`Gates in ${ch.name}`}>
                {gates.map((g) => (
                  <li>
                    <GateChip chip={gateChip(g)} now={viewer.now} />
                    {g.result.state === "blocked" ? <span class="reason">{g.result.reason}</span> : null}
                    {overrideOf(g.key) ? (
                      <span class="muted">
                        {" "}
                        overridden by {overrideOf(g.key)!.by}: {overrideOf(g.key)!.reason}
                      </span>
                    ) : null}
                  </li>
                ))}
              </ul>
            ) : (
              <p class="muted">No gates.</p>
            )}
            {approver && release.status === "active" && pending.length > 0 ? (
              <ApiForm
                action={`/v1/releases/${enc(id)}/channels/${enc(ch.name)}/approvals`}
                label={`Approve in ${ch.name}`}
              >
                {pending.length > 1 ? (
                  <label class="field" for={`approval-${i}`}>
                    <span>Approval</span>
                    <select id={`approval-${i}`} name="approval">
                      {pending.map(([name]) => (
                        <option value={name}>{name}</option>
                      ))}
                    </select>
                  </label>
                ) : (
                  <input type="hidden" name="approval" value={pending[0]![0]} />
                )}
                <Field id={`comment-${i}`} name="comment" label="Comment" multiline />
                <div class="buttons">
                  <button type="submit" name="decision" value="approve" class="primary">
                    Approve
                  </button>
                  <button type="submit" name="decision" value="reject" class="danger">
                    Reject
                  </button>
                </div>
              </ApiForm>
            ) : null}
            {admin && release.status === "active" && blockedOverridable.length > 0 ? (
              <details class="more">
                <summary>Override a gate</summary>
                <ApiForm
                  action={`/v1/releases/${enc(id)}/channels/${enc(ch.name)}/override`}
                  label={`Override a gate in ${ch.name}`}
                  confirm="Override this gate for this release?"
                >
                  <label class="field" for={`gate-${i}`}>
                    <span>Gate</span>
                    <select id={`gate-${i}`} name="gate">
                      {blockedOverridable.map((g) => (
                        <option value={g.key}>{g.key}</option>
                      ))}
                    </select>
                  </label>
                  <Field id={`override-reason-${i}`} name="reason" label="Reason" required />
                  <button type="submit">Override</button>
                </ApiForm>
              </details>
            ) : null}
            {admin && here.runningHere && here.rollbackTargets.length > 0 ? (
              <ApiForm
                action={`${chPath}/rollback`}
                label={`Roll back in ${ch.name}`}
                confirm={`Roll ${release.service} in ${ch.name} back?`}
              >
                <input type="hidden" name="service" value={release.service} />
                <label class="field" for={`target-${i}`}>
                  <span>Roll back to</span>
                  <select id={`target-${i}`} name="releaseId">
                    {here.rollbackTargets.map((t) => (
                      <option value={t}>{t}</option>
                    ))}
                  </select>
                </label>
                <Field id={`rollback-reason-${i}`} name="reason" label="Reason" />
                <button type="submit" class="danger">
                  Roll back
                </button>
              </ApiForm>
            ) : null}
            {admin ? (
              here.paused ? (
                <ApiForm action={`${chPath}/resume`} label={`Resume ${ch.name}`}>
                  <button type="submit">Resume {ch.name}</button>
                </ApiForm>
              ) : (
                <details class="more">
                  <summary>Pause {ch.name}</summary>
                  <ApiForm action={`${chPath}/pause`} label={`Pause ${ch.name}`}>
                    <Field id={`pause-reason-${i}`} name="reason" label="Reason" />
                    <button type="submit">Pause</button>
                  </ApiForm>
                </details>
              )
            ) : null}
            {here.instructions.length > 0 ? (
              <table class="instructions">
                <caption>What it sent to each runtime in {ch.name}</caption>
                <thead>
                  <tr>
                    <th scope="col">Runtime</th>
                    <th scope="col">Status</th>
                    <th scope="col">Applies</th>
                  </tr>
                </thead>
                <tbody>
                  {here.instructions.map((ins) => (
                    <tr>
                      <td>
                        {ins.runtime}
                        {ins.rollback ? <span class="muted"> (rollback)</span> : null}
                      </td>
                      <td title={ins.message}>{ins.status}</td>
                      <td>
                        {ins.objects.length ? ins.objects.join(", ") : ins.command ? ins.command.join(" ") : ins.kind}
                        {ins.images.length ? <div class="muted">{ins.images.join(", ")}</div> : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </section>
        );
      })}

      <h2>Timeline</h2>
      <Timeline entries={timeline} now={viewer.now} />
    </Layout>
  );
}

// ── runtimes ─────────────────────────────────────────────────────────────────────────────

const runtimeTone = (r: RuntimeListItem): Tone =>
  r.status === "connected" ? "converged" : r.status === "reconnecting" ? "waiting" : "failed";

export function RuntimesPage(props: {
  viewer: Viewer;
  runtimes: { runtime: RuntimeListItem; deployed: RuntimeDeployment[] }[];
}) {
  const now = props.viewer.now;
  return (
    <Layout title="Runtimes" viewer={props.viewer} active="runtimes" live="">
      <h1>Runtimes</h1>
      {props.runtimes.length === 0 ? (
        <p class="empty">
          No runtimes yet. Apply one, then link it with <code>slipway runtime link</code>.
        </p>
      ) : (
        <div class="pipeline-scroll" role="region" aria-label="Runtimes" tabindex={0}>
          <table class="runtimes-table">
            <caption class="sr-only">Runtimes, their agents and what runs there</caption>
            <thead>
              <tr>
                <th scope="col">Runtime</th>
                <th scope="col">Agent</th>
                <th scope="col">Version</th>
                <th scope="col">Last seen</th>
                <th scope="col">Deployed by Slipway</th>
                <th scope="col">Agent reports</th>
              </tr>
            </thead>
            <tbody>
              {props.runtimes.map(({ runtime: r, deployed }) => (
                <tr>
                  <th scope="row">
                    {r.name}
                    <div class="muted">
                      {r.type}
                      {r.proxyRuntime ? ` via ${r.proxyRuntime}` : ""}
                    </div>
                  </th>
                  <td data-label="Agent">
                    <Badge tone={runtimeTone(r)} text={r.linked ? r.status : "not linked"} />
                    {r.disconnectReason && r.status !== "connected" ? (
                      <div class="muted">{r.disconnectReason}</div>
                    ) : null}
                  </td>
                  <td data-label="Version">
                    {r.agentVersion ?? "—"}
                    {r.upgradeAvailable ? (
                      <>
                        {" "}
                        <Badge
                          tone="waiting"
                          text="upgrade available"
                          title={`this server ships agent ${r.latestAgentVersion}; ${
                            r.management === "external"
                              ? "the runtime is external: its operators upgrade the agent"
                              : "the agent was asked to upgrade itself when it connected"
                          }`}
                        />
                      </>
                    ) : null}
                    {r.cluster ? (
                      <div
                        class="muted"
                        title={`pinned to the cluster whose kube-system namespace UID is ${r.cluster.id}`}
                      >
                        cluster {r.cluster.id.slice(0, 8)}
                        {r.cluster.serverVersion ? `, Kubernetes ${r.cluster.serverVersion}` : ""}
                      </div>
                    ) : null}
                  </td>
                  <td data-label="Last seen">{r.lastSeenAt ? <Ago at={r.lastSeenAt} now={now} /> : "never"}</td>
                  <td data-label="Deployed by Slipway">
                    {deployed.length ? (
                      <ul class="runtimes">
                        {deployed.map((d) => (
                          <li title={d.message}>
                            <a href={`/apps/${enc(d.application)}`}>{d.application}</a>/{d.service} in {d.channel}:{" "}
                            <a href={releaseHref(d.releaseId)} class="rid" title={d.releaseId}>
                              {shortId(d.releaseId)}
                            </a>{" "}
                            {d.status}
                          </li>
                        ))}
                      </ul>
                    ) : (
                      <span class="muted">nothing yet</span>
                    )}
                  </td>
                  <td data-label="Agent reports">
                    {r.running?.length ? (
                      <ul class="runtimes">
                        {r.running.map((s) => (
                          <li>
                            {s.service}
                            {s.releaseId ? (
                              <>
                                {" "}
                                <a href={releaseHref(s.releaseId)} class="rid" title={s.releaseId}>
                                  {shortId(s.releaseId)}
                                </a>
                              </>
                            ) : null}
                          </li>
                        ))}
                      </ul>
                    ) : (
                      <span class="muted">{r.stateReportedAt ? "nothing" : "not reported"}</span>
                    )}
                    {r.stateReportedAt ? (
                      <div class="muted">
                        reported <Ago at={r.stateReportedAt} now={now} />
                      </div>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  );
}

// ── the API reference ───────────────────────────────────────────────────────────────────

export function DocsPage() {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Slipway API reference</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={assetUrl("swagger-ui.css")} />
        <script src={assetUrl("swagger-ui-bundle.js")} defer></script>
        <script src={assetUrl("docs.js")} defer></script>
      </head>
      <body>
        <div id="swagger-ui"></div>
      </body>
    </html>
  );
}
