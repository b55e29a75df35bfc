import type { Output } from './output.ts';

/** A status line redrawn in place on a terminal; on a pipe or file it writes nothing at all. */
export interface ProgressLine {
  show(text: string): void;
  /** Wipes the line so other text can be written (and the line redrawn after it). */
  clear(): void;
}

/** A progress line on `err`, drawn only when `err` is a terminal. */
export function createProgressLine(err: Output): ProgressLine {
  let shown = false;
  return {
    show(text) {
      if (!err.tty) return;
      err.write(`\r${text}\u001b[K`);
      shown = true;
    },
    clear() {
      if (!shown) return;
      err.write('\r\u001b[K');
      shown = false;
    },
  };
}
