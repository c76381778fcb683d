/** Progress of long CLI operations: a bar on a terminal, a plain line every tenth otherwise. */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Adds `n` done items. */
  tick(n?: number): void;
  /** Ends the bar (or prints the last line). */
  stop(): void;
}

/** Starts reporting `total` items of `what` (e.g. "identities") on stderr. */
export function startProgress(
  total: number,
  what: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  let done = 0;
  const started = Date.now();
  const rate = () => Math.round(done / Math.max((Date.now() - started) / 1000, 0.001));
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${what} [{bar}] {value}/{total} {percentage}% | {rate}/s | eta {eta_formatted}`,
        stream,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: 0 });
    return {
      tick(n = 1) {
        done += n;
        bar.update(done, { rate: rate() });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let nextTenth = 1;
  return {
    tick(n = 1) {
      done += n;
      while (total > 0 && done >= (total * nextTenth) / 10 && nextTenth <= 10) {
        stream.write(`${what}: ${done}/${total} (${nextTenth * 10}%, ${rate()}/s)\n`);
        nextTenth++;
      }
    },
    stop() {
      if (nextTenth <= 10) stream.write(`${what}: ${done}/${total} (${rate()}/s)\n`);
    },
  };
}
