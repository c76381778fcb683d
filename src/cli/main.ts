/**
 * The `zerotouch` command: server, PKI toolkit, management commands and the device agent. Only
 * the module of the command being run is loaded, so `--help` and management commands start fast.
 */
import { readFileSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { type CommandName, COMMANDS } from './commands.ts';

type Register = (program: Command) => void;

/** Which module registers each top-level command. */
const GROUPS: Array<{ commands: CommandName[]; load: () => Promise<Register> }> = [
  { commands: ['server'], load: async () => (await import('./server.ts')).registerServer },
  { commands: ['pki'], load: async () => (await import('./pki.ts')).registerPki },
  {
    commands: ['tenant', 'token', 'ca', 'hub', 'enrollment', 'registration', 'device', 'policy', 'diagnose'],
    load: async () => (await import('./admin.ts')).registerAdmin,
  },
  {
    commands: ['issuing-ca', 'profile', 'cert', 'est'],
    load: async () => (await import('./issuance.ts')).registerIssuance,
  },
  { commands: ['audit'], load: async () => (await import('./audit.ts')).registerAudit },
  { commands: ['template'], load: async () => (await import('./template.ts')).registerTemplate },
  { commands: ['iot'], load: async () => (await import('./iot.ts')).registerIot },
  { commands: ['aws-key'], load: async () => (await import('./aws-key.ts')).registerAwsKey },
  { commands: ['agent'], load: async () => (await import('./agent.ts')).registerAgent },
];

const VERSION: string = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;

/**
 * Builds the command tree for `argv`: the named command's module in full, or, with no known
 * command (top-level help, a typo), every command by name and description only. `full` loads all.
 */
export async function buildProgram(argv: string[] = process.argv, full = false): Promise<Command> {
  const program = new Command('zerotouch')
    .description('zero-touch X.509 device provisioning: DPS-style enrollments, JITP, EST and a device agent')
    .version(VERSION, '-V, --version', 'print the zerotouch version')
    .showHelpAfterError();
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const group = GROUPS.find((g) => g.commands.includes(first as CommandName));
  if (group || full) {
    for (const g of full ? GROUPS : [group!]) (await g.load())(program);
  } else {
    for (const [name, description] of Object.entries(COMMANDS))
      program.command(name).description(description);
  }
  return program;
}

/** Runs the CLI on a node-style argv (`[node, script, ...args]`). */
export async function main(argv: string[] = process.argv): Promise<void> {
  await (await buildProgram(argv)).parseAsync(argv);
}

if (import.meta.main) {
  // Caches compiled (and type-stripped) modules between runs, beside the checkout rather than in
  // a shared temporary directory: most of a short command's start-up.
  if (!process.env.NODE_COMPILE_CACHE) {
    enableCompileCache?.(fileURLToPath(new URL('../../node_modules/.cache/zerotouch-node', import.meta.url)));
  }
  await main();
}
