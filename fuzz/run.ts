/**
 * `npm run fuzz`: the longer fuzz run. Three phases, each printing progress on stderr:
 *   1. the timed check: adversarial inputs of up to 1 MiB for every parser of outside input;
 *      none may take more than 50 ms (the best of three runs, so a GC pause is not a finding);
 *   2. mutation fuzzing from the committed corpus for --seconds (default 60); any uncatalogued
 *      error or slow input is written to fuzz/corpus/<target>/ as a regression input;
 *   3. the OpenSSL differential over --differential certificates (default 20000).
 * Options: --seconds N, --target a,b, --seed N, --differential N (0 skips it). Exit 1 on findings.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCertificates } from '../src/pki/certificate.ts';
import * as der from '../src/pki/der.ts';
import { runDifferential } from '../src/fuzz/differential.ts';
import { MAX_FUZZ_BYTES, mutateMany, Rng } from '../src/fuzz/mutate.ts';
import { type FuzzTarget, runTarget, setCertificateAnchors, TARGETS } from '../src/fuzz/targets.ts';

const BUDGET_MS = 50;
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    target: { type: 'string' },
    seed: { type: 'string' },
    differential: { type: 'string', default: '20000' },
  },
});
const seconds = Number(args.seconds);
const seed = args.seed ? Number(args.seed) : Date.now() % 2 ** 31;
const targets = args.target ? TARGETS.filter((t) => args.target!.split(',').includes(t.name)) : TARGETS;
const corpus = new URL('./corpus/', import.meta.url).pathname;
const log = (m: string) => process.stderr.write(`${m}\n`);
setCertificateAnchors(loadCertificates(readFileSync(join(corpus, 'anchors', 'root.pem'))));
const findings: string[] = [];

const seedsOf = (t: FuzzTarget) =>
  readdirSync(join(corpus, t.name)).map((n) => readFileSync(join(corpus, t.name, n)));

/** Milliseconds one run of `t` over `input` takes: the best of three when the first is slow. */
function timed(t: FuzzTarget, input: Buffer): number {
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const start = performance.now();
    runTarget(t, input);
    best = Math.min(best, performance.now() - start);
    if (best <= BUDGET_MS) break;
  }
  return best;
}

function save(t: FuzzTarget, kind: 'crash' | 'slow', input: Buffer): string {
  const name = `${kind}-${createHash('sha256').update(input).digest('hex').slice(0, 16)}.bin`;
  mkdirSync(join(corpus, t.name), { recursive: true });
  writeFileSync(join(corpus, t.name, name), input);
  return `fuzz/corpus/${t.name}/${name}`;
}

// ---------------------------------------------------------------- 1. timed check

const fill = (unit: string | Buffer, size = MAX_FUZZ_BYTES) => {
  const u = typeof unit === 'string' ? Buffer.from(unit, 'latin1') : unit;
  const out = Buffer.alloc(Math.floor(size / u.length) * u.length);
  for (let i = 0; i < out.length; i += u.length) u.copy(out, i);
  return out;
};
const wrap = (tag: number, content: Buffer) => der.tlv(tag, content);
const deep = (depth: number) => {
  let v = Buffer.from([5, 0]);
  const headers: Buffer[] = [];
  let len = v.length;
  for (let k = 0; k < depth && len < MAX_FUZZ_BYTES - 8; k++) {
    const octets: number[] = [];
    for (let x = len; x > 0; x = Math.floor(x / 256)) octets.unshift(x & 0xff);
    const h = Buffer.from(len < 0x80 ? [0x30, len] : [0x30, 0x80 | octets.length, ...octets]);
    headers.push(h);
    len += h.length;
  }
  v = Buffer.concat([...headers.reverse(), v]);
  return v;
};
const SHAPES: Record<string, Array<[string, Buffer]>> = {
  der: [
    ['500k NULLs in one SEQUENCE', wrap(0x30, fill(Buffer.from([5, 0]), MAX_FUZZ_BYTES - 8))],
    ['SEQUENCEs nested 200k deep', deep(200_000)],
    ['one 1 MiB OID', wrap(6, fill(Buffer.from([0x81]), MAX_FUZZ_BYTES - 9))],
    ['indefinite lengths', fill(Buffer.from([0x30, 0x80]))],
  ],
  pem: [
    ['BEGIN lines without END (the 42 s stall)', fill('-----BEGIN CERTIFICATE-----\n')],
    [
      'one block of 1 MiB base64',
      Buffer.from(
        `-----BEGIN CERTIFICATE-----\n${fill('QUFB\n', MAX_FUZZ_BYTES - 60).toString('latin1')}-----END CERTIFICATE-----\n`,
      ),
    ],
    ['thousands of small blocks', fill('-----BEGIN X-----\nAA==\n-----END X-----\n')],
    [
      'header lines',
      Buffer.from(
        `-----BEGIN CERTIFICATE-----\n${fill('Proc-Type: 4,ENCRYPTED\n', MAX_FUZZ_BYTES - 60).toString('latin1')}-----END CERTIFICATE-----\n`,
      ),
    ],
    ['dashes', fill('-')],
  ],
  input: [
    ['1 MiB of base64 lines', fill('QUFBQUFBQUFB\n')],
    ['1 MiB of whitespace', fill(' \n')],
    ['BEGIN lines', fill('-----BEGIN CERTIFICATE-----\n')],
  ],
  certificate: [
    ['1 MiB SEQUENCE', wrap(0x30, fill(Buffer.from([5, 0]), MAX_FUZZ_BYTES - 8))],
    ['nested SEQUENCEs', deep(200_000)],
  ],
  csr: [
    ['1 MiB base64', fill('MIIB')],
    [
      '1 MiB PEM request',
      Buffer.from(
        `-----BEGIN CERTIFICATE REQUEST-----\n${fill('QUFB\n', MAX_FUZZ_BYTES - 80).toString('latin1')}-----END CERTIFICATE REQUEST-----\n`,
      ),
    ],
  ],
  pkcs7: [
    [
      'a bundle of 100k tiny certificates',
      der.seq(
        der.oid('1.2.840.113549.1.7.2'),
        der.explicit(
          0,
          der.seq(
            der.integer(1),
            der.setOf(),
            der.seq(der.oid('1.2.840.113549.1.7.1')),
            wrap(0xa0, fill(Buffer.from([0x30, 0]), MAX_FUZZ_BYTES - 64)),
            der.setOf(),
          ),
        ),
      ),
    ],
    ['nested SEQUENCEs', deep(200_000)],
  ],
  'dps-register-json': [
    ['arrays nested 500k deep', Buffer.from('['.repeat(500_000) + ']'.repeat(500_000))],
    ['50k keys', Buffer.from(`{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":1`).join(',')}}`)],
    [
      'a 1 MiB payload string',
      Buffer.from(JSON.stringify({ payload: { x: 'y'.repeat(MAX_FUZZ_BYTES - 40) } })),
    ],
  ],
  'mqtt-username': [['1 MiB of slashes', fill('a/')]],
  sas: [['1 MiB of fields', Buffer.concat([Buffer.from('SharedAccessSignature '), fill('sr=a&')])]],
  'server-toml': [
    ['1 MiB of keys', fill('a = 1\n')],
    ['64 KiB of dotted keys', fill('a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p = 1\n', 60_000)],
    ['64 KiB of tables', fill('[t]\nx=1\n', 60_000)],
    ['64 KiB of array tables', fill('[[a.b.c]]\n', 60_000)],
    ['64 KiB of nested inline tables', Buffer.from(`a = ${'{b='.repeat(10_000)}1${'}'.repeat(10_000)}`)],
  ],
  'agent-toml': [
    ['64 KiB of nested arrays', Buffer.from(`a = ${'['.repeat(30_000)}${']'.repeat(30_000)}`)],
    ['64 KiB of dotted tables', fill('[a.b.c.d.e.f.g.h.i.j.k.l.m.n.o]\n', 60_000)],
  ],
};

log(
  `zerotouch fuzz: seed ${seed}, ${seconds} s of mutation, ${args.differential} certificates for the differential`,
);
log(`1. timed check: no input of up to 1 MiB may take more than ${BUDGET_MS} ms`);
let slowest = { ms: 0, what: '' };
for (const t of targets) {
  const shapes = [...(SHAPES[t.name] ?? [])];
  // The largest mutations of the seeds too.
  const rng = new Rng(seed);
  const seeds = seedsOf(t);
  for (let i = 0; i < 50; i++) {
    const m = mutateMany(rng.pick(seeds), rng, seeds);
    if (m.length > 64 * 1024) shapes.push([`a ${m.length}-byte mutation`, m]);
  }
  for (const [what, input] of shapes) {
    const ms = timed(t, input);
    if (ms > slowest.ms) slowest = { ms, what: `${t.name}: ${what}` };
    const line = `  ${t.name.padEnd(18)} ${ms.toFixed(1).padStart(6)} ms  ${what} (${input.length} bytes)`;
    if (ms > BUDGET_MS) {
      findings.push(`slow: ${t.name} ${what}: ${ms.toFixed(1)} ms, saved as ${save(t, 'slow', input)}`);
      log(`${line}  SLOW`);
    } else log(line);
  }
}
log(`  slowest: ${slowest.ms.toFixed(1)} ms (${slowest.what})`);

// ---------------------------------------------------------------- 2. mutation

log(`2. mutation fuzzing for ${seconds} s over ${targets.map((t) => t.name).join(', ')}`);
{
  const rng = new Rng(seed);
  const pools = targets.map((t) => ({ t, seeds: seedsOf(t) }));
  const end = Date.now() + seconds * 1000;
  let execs = 0;
  let nextReport = Date.now() + 5000;
  const counts = new Map<string, number>();
  while (Date.now() < end) {
    for (const { t, seeds } of pools) {
      const input = mutateMany(rng.pick(seeds), rng, seeds);
      const start = performance.now();
      const o = runTarget(t, input);
      const ms = performance.now() - start;
      execs++;
      counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
      if (o.kind === 'bug') {
        findings.push(
          `crash: ${t.name}: ${(o.error as Error)?.message ?? String(o.error)}; saved as ${save(t, 'crash', input)}`,
        );
      } else if (ms > BUDGET_MS && timed(t, input) > BUDGET_MS) {
        findings.push(`slow: ${t.name}: ${input.length} bytes; saved as ${save(t, 'slow', input)}`);
      }
    }
    if (Date.now() > nextReport) {
      nextReport += 5000;
      log(
        `  ${execs} inputs (${Math.round(execs / ((Date.now() - end + seconds * 1000) / 1000))}/s), ${findings.length} findings`,
      );
    }
  }
  log(`  ${execs} inputs: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`);
}

// ---------------------------------------------------------------- 3. differential

const n = Number(args.differential);
if (n > 0) {
  log(`3. differential against OpenSSL over ${n} certificates`);
  const report = await runDifferential(n, seed, log);
  const expected = JSON.parse(readFileSync(new URL('./differential-expected.json', import.meta.url), 'utf8'));
  log(
    `  agreement ${report.agreed}/${report.total} (${((100 * report.agreed) / report.total).toFixed(1)}%): both accept ${report.bothAccepted}, both refuse ${report.bothRefused}`,
  );
  for (const d of report.disagreements) {
    const listed = d.reason in expected[d.side];
    log(
      `  ${d.side.padEnd(15)} ${String(d.count).padStart(6)}  ${d.reason}${listed ? '' : '  NOT LISTED'}  e.g. ${d.examples.join(', ')}`,
    );
    if (!listed)
      findings.push(`differential: ${d.side} ${d.reason} is not listed in fuzz/differential-expected.json`);
  }
  for (const b of report.bugs) findings.push(`differential: ${b.label}: ${b.reason}`);
}

if (findings.length) {
  log(`\n${findings.length} finding(s):\n${findings.map((f) => `  ${f}`).join('\n')}`);
  process.exit(1);
}
log('\nno findings');
