/**
 * A step run over and over, intervalMs after each run ends (never two at once),
 * until stopped: the worker's heartbeat and its queue vacuum. The step handles
 * its own failures (it must not reject).
 */
export interface Repeating {
  /** Runs the step now (after the run under way, if any), then goes on from there. */
  runNow(): Promise<void>;
  /** No more runs; waits for the one under way. */
  stop(): Promise<void>;
}

export function every(intervalMs: number, step: () => Promise<void>, opts: { now?: boolean } = {}): Repeating {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const run = (): Promise<void> =>
    (running = step().finally(() => {
      if (!stopped) timer = setTimeout(run, intervalMs).unref();
    }));
  if (opts.now) void run();
  else timer = setTimeout(run, intervalMs).unref();
  return {
    async runNow() {
      await running; // its end has scheduled the next run: replace that
      clearTimeout(timer);
      if (!stopped) await run();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
