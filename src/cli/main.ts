/** The `zerotouch` command: server, PKI toolkit and management commands. */
import { Command } from 'commander';
import { registerAdmin } from './admin.ts';
import { registerAgent } from './agent.ts';
import { registerIssuance } from './issuance.ts';
import { registerPki } from './pki.ts';
import { registerServer } from './server.ts';

/** Builds the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('zerotouch')
    .description('zero-touch X.509 device provisioning: DPS-style enrollments, JITP, EST and a device agent')
    .showHelpAfterError();
  registerServer(program);
  registerPki(program);
  registerAdmin(program);
  registerIssuance(program);
  registerAgent(program);
  return program;
}

/** Runs the CLI on a node-style argv (`[node, script, ...args]`). */
export async function main(argv: string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync(argv);
}

if (import.meta.main) {
  await main();
}
