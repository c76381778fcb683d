/** `zerotouch agent ...`: the device agent's commands over an aziot-style config.toml. */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DeviceAgent } from '../agent/agent.ts';
import { formatChecks, runChecks } from '../agent/check.ts';
import { checkAgentConfig, IOT_EDGE_KEYS } from '../agent/config-check.ts';
import { ZtError } from '../errors.ts';
import { type AgentConfig, loadAgentConfig, maskProxy } from '../agent/config.ts';
import { readableLine } from '../agent/log.ts';
import { formatPolicy } from '../agent/renew-policy.ts';
import type { AgentStatus, Assignment } from '../agent/state.ts';
import { loadCertificates } from '../pki/certificate.ts';
import { action, positiveInt } from './run.ts';
import { COMMANDS } from './commands.ts';

const DEFAULT_CONFIG = '/etc/aziot/config.toml';
const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');

type Opts = {
  config: string;
  json?: boolean;
  output?: string;
  once?: boolean;
  lines?: number;
  follow?: boolean;
};

function withConfig(cmd: Command): Command {
  return cmd.option(
    '-c, --config <file>',
    `aziot-style config.toml (its config.d/ drop-ins are merged) [ZEROTOUCH_AGENT_CONFIG]`,
    process.env.ZEROTOUCH_AGENT_CONFIG ?? DEFAULT_CONFIG,
  );
}

function summary(c: AgentConfig): string {
  const ic = c.dps.identityCert;
  const lines = [
    `files:            ${c.files.join(', ')}`,
    `provisioning:     DPS ${c.dpsTransport === 'mqtt' ? `over MQTT at mqtts://${new URL(c.dps.globalEndpoint).hostname}:${c.dpsMqttPort}` : c.dps.globalEndpoint}, ID scope ${c.dps.idScope}${c.dps.registrationId ? `, registration ID ${c.dps.registrationId}` : ''}`,
    `identity:         ${ic.kind === 'file' ? `file ${ic.path}` : `EST, CN=${ic.commonName}${ic.autoRenew ? `, renew at ${formatPolicy(ic.autoRenew.threshold)}, retry every ${formatPolicy(ic.autoRenew.retry)}, rotate key ${ic.autoRenew.rotateKey}` : ', no auto_renew'}`}`,
  ];
  if (c.est) {
    const auth = [
      c.est.username ? `user ${c.est.username}` : '',
      c.est.identityCert ? 'EST identity certificate' : '',
      c.est.bootstrapCert ? 'bootstrap certificate' : '',
    ]
      .filter(Boolean)
      .join(' + ');
    lines.push(`EST:              ${(ic.kind === 'est' && ic.url) || c.est.defaultUrl} (${auth})`);
  }
  lines.push(`reprovisioning:   ${c.autoReprovisioningMode}`);
  lines.push(
    `proxy:            ${c.httpsProxy ? maskProxy(c.httpsProxy) : 'none'}${c.noProxy.length ? ` (no_proxy ${c.noProxy.join(', ')})` : ''}`,
  );
  lines.push(`state directory:  ${c.stateDir}`);
  const edge = c.unknownKeys.filter((k) => IOT_EDGE_KEYS.includes(k));
  if (edge.length)
    lines.push(`IoT Edge's:       ${edge.join(', ')} (kept in the file, not read by the agent)`);
  return lines.join('\n');
}

/** Registers `zerotouch agent`. */
export function registerAgent(program: Command): void {
  const agent = program.command('agent').description(COMMANDS.agent);
  const config = agent.command('config').description('the agent configuration');
  withConfig(
    config
      .command('apply')
      .description('validate the configuration and say exactly what is wrong, with the key path'),
  ).action(
    action((o: Opts) => {
      const c = loadAgentConfig(o.config);
      out(summary(c));
      const problems = checkAgentConfig(c);
      if (problems.length)
        throw new ZtError(
          'CONFIG_INVALID',
          `the configuration is not ready to use:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
        );
      out('configuration is valid; restart the agent (systemctl restart zerotouch-agent) to use it');
    }),
  );

  withConfig(agent.command('run').description('provision, then keep the identity renewed (until SIGTERM)'))
    .option('--once', 'provision (or use the cached assignment) and exit')
    .action(
      action(async (o: Opts) => {
        const a = new DeviceAgent(loadAgentConfig(o.config));
        // Test hook: die without cleanup at the credential commit, as a power cut would.
        if (process.env.ZEROTOUCH_AGENT_TEST_KILL_AT_COMMIT === '1') {
          a.state.crashPoint = () => process.kill(process.pid, 'SIGKILL');
        }
        if (o.once) {
          const r = await a.start();
          out(`assigned: ${r.assignment.assignedHub} as ${r.assignment.deviceId}`);
          return;
        }
        const ctl = new AbortController();
        for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => ctl.abort());
        await a.run(ctl.signal);
      }),
    );

  withConfig(
    agent
      .command('renew')
      .description('renew the EST identity now (EST, then DPS with the new certificate, then commit)'),
  ).action(
    action(async (o: Opts) => {
      const r = await new DeviceAgent(loadAgentConfig(o.config)).renewNow();
      const leaf = r.identity.chain[0]!;
      out(`renewed: serial ${leaf.serialNumber}, valid until ${leaf.notAfter.toISOString()}`);
    }),
  );

  withConfig(
    agent.command('reprovision').description('register with DPS now, whatever the cache says'),
  ).action(
    action(async (o: Opts) => {
      const r = await new DeviceAgent(loadAgentConfig(o.config)).start({ forceProvision: true });
      out(
        `assigned: ${r.assignment.assignedHub} as ${r.assignment.deviceId}${r.assignment.substatus ? ` (${r.assignment.substatus})` : ''}`,
      );
    }),
  );

  withConfig(
    agent
      .command('status')
      .description('assignment, identity certificate, next renewal and the last outcome'),
  )
    .option('--json', 'print JSON')
    .action(
      action((o: Opts) => {
        const a = new DeviceAgent(loadAgentConfig(o.config), { echo: () => {} });
        const status = a.state.readJson<AgentStatus>('status');
        const assignment = a.state.readJson<Assignment>('assignment');
        let id: ReturnType<DeviceAgent['currentIdentity']>;
        try {
          id = a.currentIdentity();
        } catch {
          id = undefined;
        }
        const leaf = id ? loadCertificates(id.chainPem)[0] : undefined;
        const doc = {
          state: status?.state ?? 'never run',
          message: status?.message,
          updatedAt: status?.updatedAt,
          assignment: assignment ?? null,
          identity: leaf
            ? {
                subject: leaf.commonName,
                serial: leaf.serialNumber,
                notAfter: leaf.notAfter.toISOString(),
                sha256: leaf.sha256,
              }
            : null,
          nextRenewal: status?.nextRenewal ?? null,
        };
        if (o.json) return out(JSON.stringify(doc, null, 2));
        out(
          [
            `state:         ${doc.state}${doc.message ? ` (${doc.message})` : ''}${doc.updatedAt ? ` at ${doc.updatedAt}` : ''}`,
            `assigned hub:  ${assignment?.assignedHub ?? '-'}`,
            `device ID:     ${assignment?.deviceId ?? '-'}`,
            ...(assignment?.payload !== undefined
              ? [`payload:       ${JSON.stringify(assignment.payload)}`]
              : []),
            `certificate:   ${doc.identity ? `${doc.identity.subject}, serial ${doc.identity.serial}, expires ${doc.identity.notAfter}` : '-'}`,
            `next renewal:  ${doc.nextRenewal ?? '-'}`,
          ].join('\n'),
        );
      }),
    );

  withConfig(agent.command('logs').description("the agent's log (from its state directory)"))
    .option('-n, --lines <n>', 'last lines to show', positiveInt, 50)
    .action(
      action((o: Opts) => {
        const a = new DeviceAgent(loadAgentConfig(o.config), { echo: () => {} });
        if (!existsSync(a.state.logFile)) return out('(no log yet; run the agent first)');
        const lines = readFileSync(a.state.logFile, 'utf8')
          .trimEnd()
          .split('\n')
          .slice(-(o.lines ?? 50));
        for (const l of lines) out(readableLine(l));
      }),
    );

  withConfig(
    agent
      .command('check')
      .description('check configuration, clock, certificates, DNS, DPS, the enrollment and EST'),
  )
    .option('--output <format>', 'text or json', 'text')
    .action(
      action(async (o: Opts) => {
        const a = new DeviceAgent(loadAgentConfig(o.config), { echo: () => {} });
        const results = await runChecks(a);
        if (o.output === 'json')
          out(JSON.stringify({ ok: !results.some((r) => r.status === 'error'), checks: results }, null, 2));
        else process.stdout.write(formatChecks(results));
        if (results.some((r) => r.status === 'error')) process.exitCode = 1;
      }),
    );
}
