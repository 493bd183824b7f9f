// A one-line progress bar on a terminal (stderr), redrawn at most every PROGRESS_REDRAW_MS; nothing at all
// when stderr is not a terminal, so logs and pipes stay clean.
export const PROGRESS_REDRAW_MS = 100;
const BAR_CHARS = 30;

export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  const draw = (done: number, total: number) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * BAR_CHARS);
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_CHARS - filled)}] ${done}/${total} ${Math.floor(ratio * 100)}%`);
    drawn = true;
  };
  let pending: [number, number] = [0, 0];
  return {
    update(done, total) {
      pending = [done, total];
      const now = Date.now();
      if (now - last < PROGRESS_REDRAW_MS && done < total) return;
      last = now;
      draw(done, total);
    },
    done() {
      if (drawn) {
        draw(pending[0], pending[1]);
        stream.write('\n');
      }
    },
  };
}
