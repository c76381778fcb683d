/** `zerotouch server`: start the provisioning server with config from TOML, environment and flags. */
import type { Command } from 'commander';
import { CONFIG_KEYS, loadConfig } from '../config/config.ts';
import { action } from './run.ts';
import { COMMANDS } from './commands.ts';

function camel(flag: string): string {
  return flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Registers the server command; every config key is also a flag. */
export function registerServer(program: Command): void {
  const cmd = program
    .command('server')
    .description(COMMANDS.server)
    .option('-c, --config <file>', 'TOML config file (or ZEROTOUCH_CONFIG)');
  for (const k of CONFIG_KEYS) cmd.option(`${k.flag} <value>`, `${k.doc} [${k.env}]`);
  cmd.action(
    action(async (o: Record<string, string | undefined>) => {
      const flags: Record<string, unknown> = {};
      for (const k of CONFIG_KEYS) flags[k.toml] = o[camel(k.flag)];
      const config = loadConfig({ file: o.config, flags });
      // The server's modules load only when it runs, so other commands start fast.
      const [{ installLastResort }, { createLogger }, { startServer, startupBanner }, workers] =
        await Promise.all([
          import('../last-resort.ts'),
          import('../logger.ts'),
          import('../server.ts'),
          import('../workers.ts'),
        ]);
      const plan = workers.workerCount(config);
      const logger = createLogger(config.logLevel);
      installLastResort(process, logger);
      if (plan.count > 1 && !workers.isWorker()) {
        await workers.superviseWorkers(config, plan, logger);
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      }
      const server = await startServer(config, { logger, progress: (m) => process.stderr.write(`${m}\n`) });
      // People read stderr; stdout is the JSON log stream, one object per line.
      if (workers.isWorker()) workers.reportListening(server);
      else process.stderr.write(startupBanner({ ...server, workers: plan }));
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          logger.warn({ signal }, 'second signal, exiting now');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, 'shutting down: finishing in-flight requests');
        server.close().then(
          () => {
            logger.info('stopped');
            logger.flush?.();
            process.exit(0);
          },
          (e: unknown) => {
            logger.error({ err: e }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      // Ctrl-C reaches the whole process group; a worker waits for the supervisor's SIGTERM.
      process.on('SIGINT', () => (workers.isWorker() ? undefined : stop('SIGINT')));
    }),
  );
}
