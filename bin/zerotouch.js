#!/usr/bin/env node
// Shim: run the TypeScript CLI on the Node.js pinned in package.json (the `node` package), so
// `npx zerotouch` works even where the machine's own Node is older.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
const entry = join(root, 'src', 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  const cli = await import(pathToFileURL(entry).href);
  await cli.main(process.argv);
} else {
  if (!existsSync(pinned)) {
    console.error(
      `zerotouch needs Node.js 24 or newer (this is ${process.version}); run "npm ci" to install the pinned one`,
    );
    process.exit(1);
  }
  const child = spawn(pinned, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Pass stop signals on so `zerotouch server` shuts down cleanly under a supervisor.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
