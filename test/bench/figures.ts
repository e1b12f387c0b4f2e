/**
 * The figures issue #18 asks for: each one's unit, target and which way is better, and how a
 * measured figure is printed beside its floor, ratio and target.
 */
export const TARGETS = {
  webhook_to_agent_p50: { unit: "× floor", target: 4, better: "lower" },
  webhook_to_agent_p99: { unit: "× floor", target: 10, better: "lower" },
  approval_to_production_p50: { unit: "× floor", target: 4, better: "lower" },
  approval_to_production_p99: { unit: "× floor", target: 10, better: "lower" },
  throughput_ratio: { unit: "× raw conditional puts/s", target: 0.25, better: "higher" },
  requests_per_release: { unit: "DynamoDB requests", target: 20, better: "lower" },
  fanout_1000_ratio: { unit: "× raw sends", target: 3, better: "lower" },
  sustained_drain_s: { unit: "s", target: 30, better: "lower" },
  sustained_rss_mib: { unit: "MiB", target: 300, better: "lower" },
  bundle_kb_max: { unit: "KB", target: 300, better: "lower" },
  init_ms_over_node_max: { unit: "ms", target: 150, better: "lower" },
  rebuild_ratio: { unit: "× raw Query rate", target: 0.5, better: "higher" },
  cost_per_release_usd: { unit: "USD", target: 0.00002, better: "lower" },
} as const;

export type FigureName = keyof typeof TARGETS;

/** One figure as results.json holds it. `value` is null when it could not be measured honestly; `note` says why. */
export type Figure = {
  name: FigureName;
  value: number | null;
  unit: string;
  target: number;
  better: "lower" | "higher";
  note?: string;
};

/** A figure with what the table prints beside it. */
export type Measured = {
  figure: Figure;
  /** The raw measurement, e.g. "p50 166 ms". */
  measured: string;
  /** What the ratio divides by, measured in the same run. */
  floor?: string;
  /** How many runs or repetitions the value is the median of. */
  runs: string;
  /** False when the value meets its target but a condition beside it fails (RSS not flat after the load). */
  holds?: boolean;
};

export function figure(
  name: FigureName,
  value: number | null,
  shown: Omit<Measured, "figure">,
  note?: string,
): Measured {
  const value_ = value === null || !Number.isFinite(value) ? null : Number(value.toPrecision(4));
  return { figure: { name, value: value_, ...TARGETS[name], ...(note ? { note } : {}) }, ...shown };
}

export function met({ figure: f, holds = true }: Measured): boolean {
  if (f.value === null || !holds) return false;
  return f.better === "lower" ? f.value <= f.target : f.value >= f.target;
}

export function median(values: readonly number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const log = (line: string) => console.error(`bench: ${line}`);

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Columns padded to their widest cell, under a rule. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "─".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The row the table prints for a figure. */
export function printed(m: Measured): string[] {
  const f = m.figure;
  const value = f.value === null ? "—" : f.unit.startsWith("×") ? `${f.value}×` : `${f.value} ${f.unit}`;
  const target = `${f.better === "lower" ? "≤" : "≥"} ${f.target}${f.unit.startsWith("×") ? "×" : ` ${f.unit}`}`;
  return [f.name, value, m.measured, m.floor ?? "—", target, met(m) ? "yes" : "NO", m.runs];
}
