/**
 * The periodic clean-up tasks work through their rows in batches, each its own
 * statement (short transactions, no long locks), and stop after a bound: an
 * hourly task picks up whatever one run leaves.
 */
export async function inBatches(step: (limit: number) => Promise<number>, o: { batch: number; maxBatches: number }): Promise<number> {
  let done = 0;
  for (let i = 0; i < o.maxBatches; i++) {
    const n = await step(o.batch);
    done += n;
    if (n < o.batch) break;
  }
  return done;
}
