/** `zerotouch aws-key ...`: access keys for the AWS IoT control-plane face (aws iot --endpoint-url). */
import type { Command } from 'commander';
import { adminApi, json, type Opts, out, seg, sub, t, table } from './admin-client.ts';
import { COMMANDS } from './commands.ts';
import { action } from './run.ts';

/** Registers `zerotouch aws-key`. */
export function registerAwsKey(program: Command): void {
  const g = program.command('aws-key').description(COMMANDS['aws-key']);
  sub(g, 'create <name>', 'create an access key; the secret is printed once')
    .option('--read-only', 'the key may only call Describe/List/Get operations')
    .action(
      action(async (name: string, o: Opts) => {
        const r = await adminApi(o)('POST', `${t(o)}/aws-keys`, {
          name,
          rights: o.readOnly ? 'read' : 'write',
        });
        if (o.json) return json(r);
        out(
          [
            `aws_access_key_id = ${r.key.accessKeyId}`,
            `aws_secret_access_key = ${r.secretAccessKey}`,
            `(${r.key.rights} rights; the secret is shown only now. Use: aws configure --profile zerotouch)`,
          ].join('\n'),
        );
      }),
    );
  sub(g, 'list', 'list the access keys of a scope').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/aws-keys`), [
        'accessKeyId',
        'name',
        'rights',
        'createdAt',
        'lastUsedAt',
      ]),
    ),
  );
  sub(g, 'delete <accessKeyId>', 'delete an access key').action(
    action(async (id: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/aws-keys/${seg(id)}`);
      out(`deleted ${id}`);
    }),
  );
}
