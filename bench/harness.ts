/**
 * Benchmark harness: each scenario runs against a baseline measured in the same process and run,
 * interleaved in rounds so that machine noise hits both; the ratio (scenario / baseline) is the
 * number to watch, not the absolute rate.
 */

export interface Measured {
  ops: number;
  seconds: number;
  /** Per-operation milliseconds, for scenarios that report latency too. */
  latencies?: number[];
  /** CPU seconds the server process used while the operations were counted, when it is a process. */
  cpuSeconds?: number;
  /** Other rates a scenario reports (per second), by name. */
  rates?: Record<string, number>;
}

/** Something that can be timed: runs work for about `seconds` and reports how many operations it did. */
export type Runner = (seconds: number) => Promise<Measured>;

export interface Scenario {
  name: string;
  unit: string;
  baselineName: string;
  /** Unit of the baseline when it counts something else (e.g. connections). */
  baselineUnit?: string;
  /** What a healthy ratio is, printed beside the result (not asserted). */
  target?: number;
  /** Whose CPU `Measured.cpuSeconds` counts; "server" when absent. */
  cpuOf?: string;
  /** A line of further figures (latency percentiles) from every round's measurements. */
  summarize?(scenario: Measured[], baseline: Measured[]): string;
  setup(): Promise<{
    scenario: Runner;
    baseline: Runner;
    teardown(): Promise<void>;
  }>;
}

export interface Result {
  name: string;
  unit: string;
  baselineName: string;
  baselineUnit: string;
  rate: number;
  baselineRate: number;
  ratio: number;
  target?: number;
  detail?: string;
  /** Median server CPU milliseconds per operation, scenario and baseline (server processes only). */
  cpuMsPerOp?: [number, number];
  /** Whose CPU that is. */
  cpuOf: string;
}

/** The p-th percentile (0-100) of some numbers. */
export function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Times a synchronous operation in batches until `seconds` have passed. */
export function timeSync(op: (i: number) => void, batch = 50): Runner {
  return async (seconds) => {
    const end = performance.now() + seconds * 1000;
    const start = performance.now();
    let ops = 0;
    while (performance.now() < end) {
      for (let j = 0; j < batch; j++) op(ops + j);
      ops += batch;
    }
    return { ops, seconds: (performance.now() - start) / 1000 };
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs one scenario: a warm-up of each side, then `rounds` alternating measurements; medians win. */
export async function runScenario(
  s: Scenario,
  opts: { seconds: number; rounds: number; progress: (m: string) => void; sustained?: boolean },
): Promise<Result> {
  const { scenario, baseline, teardown } = await s.setup();
  // Server CPU per operation: steadier than the rate on a shared machine, and what a fix moves.
  const cpuMs: number[] = [];
  const baseCpuMs: number[] = [];
  const timed = async (run: Runner, into: number[]) => {
    const m = await run(opts.seconds);
    if (m.cpuSeconds !== undefined && m.ops > 0) into.push((m.cpuSeconds * 1000) / m.ops);
    return m;
  };
  try {
    await baseline(Math.min(0.5, opts.seconds));
    await scenario(Math.min(0.5, opts.seconds));
    const rates: number[] = [];
    const baseRates: number[] = [];
    const measured: Measured[] = [];
    const baseMeasured: Measured[] = [];
    for (let r = 1; r <= opts.rounds; r++) {
      // A sustained run measures the baseline at its two ends only, so the server sees the load all along.
      if (!opts.sustained || r === 1 || r === opts.rounds) {
        const b = await timed(baseline, baseCpuMs);
        baseRates.push(b.ops / b.seconds);
        baseMeasured.push(b);
      }
      const m = await timed(scenario, cpuMs);
      rates.push(m.ops / m.seconds);
      measured.push(m);
      // With --expose-gc the heap figure is what survives a collection, not garbage not yet collected.
      (globalThis as { gc?: () => void }).gc?.();
      opts.progress(
        // The heap after each round (the servers run in this process) shows whether a long run leaks.
        `  ${s.name}: round ${r}/${opts.rounds}: ${fmt(rates.at(-1)!)} ${s.unit} vs ${fmt(baseRates.at(-1)!)} ${s.baselineUnit ?? s.unit}` +
          (cpuMs.length
            ? `, ${s.cpuOf ?? 'server'} CPU ${cpuMs.at(-1)?.toFixed(2)} vs ${baseCpuMs.at(-1)?.toFixed(2)} ms/op`
            : '') +
          `, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MB`,
      );
    }
    const rate = median(rates);
    const baselineRate = median(baseRates);
    return {
      name: s.name,
      unit: s.unit,
      baselineName: s.baselineName,
      baselineUnit: s.baselineUnit ?? s.unit,
      rate,
      baselineRate,
      ratio: rate / baselineRate,
      target: s.target,
      cpuOf: s.cpuOf ?? 'server',
      ...(s.summarize ? { detail: s.summarize(measured, baseMeasured) } : {}),
      ...(cpuMs.length && baseCpuMs.length ? { cpuMsPerOp: [median(cpuMs), median(baseCpuMs)] } : {}),
    };
  } finally {
    await teardown();
  }
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

/** Formats results as an aligned table. */
export function formatResults(results: Result[]): string {
  const rows = results.map((r) => [
    r.name,
    `${fmt(r.rate)} ${r.unit}`,
    `${r.baselineName}: ${fmt(r.baselineRate)} ${r.baselineUnit}`,
    `ratio ${r.ratio.toFixed(2)}`,
    r.target === undefined
      ? ''
      : r.ratio >= r.target
        ? `(target >= ${r.target}: met)`
        : `(target >= ${r.target}: MISSED)`,
  ]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => row[i].length))) ?? [];
  return (
    rows
      .map((row, k) => {
        const line = row
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd();
        const r = results[k]!;
        const cpuLine = r.cpuMsPerOp
          ? `${r.cpuOf} CPU per operation: ${r.cpuMsPerOp[0].toFixed(2)} ms vs ${r.cpuMsPerOp[1].toFixed(2)} ms (baseline)`
          : undefined;
        return [line, ...[cpuLine, r.detail].filter(Boolean).map((d) => `    ${d}`)].join('\n');
      })
      .join('\n') + '\n'
  );
}
