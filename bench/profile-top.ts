/**
 * `node bench/profile-top.ts <file.cpuprofile> [count] [--from seconds]`: the functions with the
 * most self time in a V8 CPU profile (as written by --cpu-prof, e.g. under BENCH_CPU_PROF), with
 * their share of the busy (not idle) samples, and the same summed per file. `--from` skips the
 * first seconds of the profile (a server's start-up, before the load). Prints busy time per second
 * first, so that the load phase can be found.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const fromAt = args.indexOf('--from');
const fromSeconds = fromAt >= 0 ? Number(args.splice(fromAt, 2)[1]) : 0;
const [file, countArg] = args;
if (!file || !Number.isFinite(fromSeconds)) {
  process.stderr.write('usage: node bench/profile-top.ts <file.cpuprofile> [count] [--from seconds]\n');
  process.exit(2);
}
const count = Number(countArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const isIdle = (id: number) => byId.get(id)!.callFrame.functionName === '(idle)';
const selfUs = new Map<number, number>();
const busyPerSecond: number[] = [];
let at = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  at += dt;
  const second = Math.floor(at / 1e6);
  if (!isIdle(id)) busyPerSecond[second] = (busyPerSecond[second] ?? 0) + dt;
  if (at >= fromSeconds * 1e6 && !isIdle(id)) selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
});
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);

const short = (url: string) => url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, '$1/');
const fnKey = (n: Node) =>
  `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
const sum = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const k = key(byId.get(id)!);
    m.set(k, (m.get(k) ?? 0) + us);
  }
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, count);
};
const line = ([k, us]: [string, number]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`;
const busy = Array.from(busyPerSecond, (us) => Math.round((us ?? 0) / 1e4));
process.stdout.write(`${file}\nbusy % per second: ${busy.join(' ')}\n`);
process.stdout.write(`${(total / 1e6).toFixed(1)} s busy from ${fromSeconds} s; self time by function:\n`);
process.stdout.write(sum(fnKey).map(line).join('\n') + '\n');
process.stdout.write('self time by file:\n');
process.stdout.write(
  sum((n) => short(n.callFrame.url) || `(${n.callFrame.functionName})`)
    .map(line)
    .join('\n') + '\n',
);

// Inclusive time of the project's own functions: where the time goes, callees included.
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
    const n = byId.get(cur)!;
    if (!n.callFrame.url.includes('/src/')) continue;
    const k = fnKey(n);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
}
process.stdout.write('inclusive time of src/ functions:\n');
process.stdout.write(
  [...inclusive]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(line)
    .join('\n') + '\n',
);
