/**
 * bench/lib — what the benchmarks share: the seeded PRNG their synthetic inputs come from,
 * the result line bench/run.ts collects, and CPU-time measurement ("on one core": user +
 * system time of this process, so a busy machine slows a run down but skews its rates less
 * than wall-clock time would).
 *
 * Not a benchmark itself (no `.bench.ts`, so bench/run.ts does not run it). Imports nothing
 * from src/ or test/; writes only to stdout (the result lines), starts no process.
 */

/** A small seeded PRNG (mulberry32): the same inputs on every run and machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A writer of result lines for one benchmark: each call prints
 * `{"bench":<bench>, ...fields}` as one JSON line on stdout (metric, value, unit, baseline,
 * baseline_name, ratio, target, pass, note: see bench/run.ts).
 */
export function emitter(bench: string): (fields: Record<string, unknown>) => void {
  return (fields) => void process.stdout.write(`${JSON.stringify({ bench, ...fields })}\n`);
}

/** CPU milliseconds of this process so far (user + system, all threads). */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Operations per CPU second: run `batch` (which returns how many operations it did) until at
 * least `minMs` CPU milliseconds have passed, then divide.
 */
export function cpuRate(minMs: number, batch: () => number): number {
  let count = 0;
  const start = cpuMs();
  let elapsed = 0;
  while (elapsed < minMs) {
    count += batch();
    elapsed = cpuMs() - start;
  }
  return (count / elapsed) * 1000;
}

/** The fewest CPU milliseconds one call of `f` took over `runs` calls. */
export function bestCpuMs(runs: number, f: () => void): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = cpuMs();
    f();
    min = Math.min(min, cpuMs() - t0);
  }
  return min;
}
