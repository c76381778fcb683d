/** `npm run cycles`: prints the import cycles under src/ and exits 1 when there is one. */
import { fileURLToPath } from 'node:url';
import { findCycles, localGraph } from './import-graph.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { files, graph } = localGraph(root);
const cycles = findCycles(graph);
if (cycles.length === 0) {
  console.log(`no import cycle among ${files.length} files under src/`);
} else {
  for (const c of cycles) console.log(`cycle: ${c.join(' <-> ')}`);
  process.exitCode = 1;
}
