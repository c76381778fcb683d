/**
 * `npm run bench`: runs every scenario against its same-run baseline and prints the ratios.
 * BENCH_SECONDS (default 2) sets each measurement's length, BENCH_ROUNDS (default 3) the rounds;
 * a scenario name filter may be given as an argument, e.g. `npm run bench -- mTLS`;
 * BENCH_SUSTAINED=1 measures the baseline only in the first and last round (a long steady run);
 * `npm run bench -- scale` runs the registry-size bench (bench/scale.ts) instead;
 * BENCH_COMPARE_TO=<other checkout> adds this checkout's server against that one's (bench/compare.ts).
 */
import { availableParallelism } from 'node:os';
import { formatResults, type Result, runScenario } from './harness.ts';
import { abuse, abuseNoLimits } from './abuse.ts';
import { awsDescribeThing } from './aws-api.ts';
import { comparisons } from './compare.ts';
import { pgStatements } from './pg-statements.ts';
import { sqliteCheckpoints } from './sqlite-checkpoints.ts';
import { est } from './est.ts';
import { issuance } from './issuance.ts';
import { jitpP256, jitpRsa, policyPublish } from './jitp.ts';
import { mtls } from './mtls.ts';
import { registration, registrationMqtt, synchronousFull, twoWorkers } from './registration.ts';

const scenarios = [
  issuance,
  mtls,
  registration,
  registrationMqtt,
  synchronousFull,
  twoWorkers,
  est,
  abuse,
  abuseNoLimits,
  jitpRsa,
  jitpP256,
  policyPublish,
  awsDescribeThing,
  pgStatements,
  sqliteCheckpoints,
  ...comparisons,
];

const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const filter = process.argv[2]?.toLowerCase();
// BENCH_SUSTAINED=1: the scenario runs every round back to back; the baseline only first and last.
const sustained = process.env.BENCH_SUSTAINED === '1';
const progress = (m: string) => process.stderr.write(`${m}\n`);

progress(
  `zerotouch bench: node ${process.version}, ${availableParallelism()} cores, ${rounds} rounds of ${seconds}s`,
);
if (filter === 'scale') {
  const { scaleBench } = await import('./scale.ts');
  process.stdout.write(await scaleBench());
  process.exit(0);
}
const results: Result[] = [];
for (const s of scenarios) {
  if (filter && !s.name.toLowerCase().includes(filter)) continue;
  progress(`${s.name} vs ${s.baselineName}`);
  results.push(await runScenario(s, { seconds, rounds, progress, sustained }));
}
process.stdout.write(formatResults(results));
