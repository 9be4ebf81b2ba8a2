/**
 * Progress of a long computation on stderr: a redrawn bar with points/s and time left on a
 * terminal, a plain line every tenth of the work (and at the end) otherwise.
 */

/** Formats seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/**
 * A progress callback `(done, total) => void` that writes to `write`.
 * @param label what is being computed, e.g. `surface`
 * @param write where the text goes (stderr)
 * @param isTTY redraw one line (true) or print lines (false)
 * @param now a clock in milliseconds (tests pass a fake one)
 * @param resumed points already done before this run (counted in `done`, not in points/s or the ETA)
 *
 * The rate is measured from the first point computed, not from the start: the first point carries
 * the warm-up (workers starting, kernels compiling) and alone would promise "22m07s left" for a
 * 7 s job, so the first report says it is still estimating.
 */
export function progressReporter(
  label: string,
  write: (text: string) => void,
  isTTY: boolean,
  now: () => number = () => performance.now(),
  resumed = 0,
): (done: number, total: number) => void {
  const started = now();
  let first: { t: number; done: number } | null = null;
  let lastDecile = -1;
  let lastDraw = -Infinity;
  return (done, total) => {
    const t = now();
    let text: string;
    if (first === null && done < total) {
      first = { t, done };
      text = `${label}: ${done}/${total} points, estimating time left`;
    } else {
      const from = first ?? { t: started, done: resumed };
      const rate = (done - from.done) / Math.max((t - from.t) / 1000, 1e-9);
      text = `${label}: ${done}/${total} points, ${rate.toFixed(1)} points/s, ${formatDuration((total - done) / rate)} left`;
    }
    if (isTTY) {
      if (done === total || t - lastDraw > 100) {
        const width = 24;
        const filled = Math.round((done / total) * width);
        write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}${done === total ? '\n' : ''}`);
        lastDraw = t;
      }
      return;
    }
    const decile = Math.floor((done / total) * 10);
    if (decile > lastDecile || done === total) {
      lastDecile = decile;
      write(`${text}\n`);
    }
  };
}
