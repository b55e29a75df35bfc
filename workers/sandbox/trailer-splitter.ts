const empty = Buffer.alloc(0);

/**
 * Splits the wrapper's trailer (marker + tar of /out) off the job's stdout as it streams by.
 * Up to marker length - 1 bytes are held back at a time, in case a marker is arriving in pieces;
 * they are passed on as soon as the next bytes show they were not one, or at the end.
 */
export interface TrailerSplitter {
  /** Takes stdout bytes; returns those that are the job's own output and may be passed on now. */
  push(payload: Buffer): Buffer;
  /** The stream ended: returns the bytes still held back (they were not a marker). */
  end(): Buffer;
  /** The bytes after the marker; undefined when no marker came (the run was cut short). */
  trailer(): Buffer | undefined;
  /** True once the marker was seen. */
  readonly found: boolean;
  /** True when the trailer outgrew its cap and was cut (it cannot be read then). */
  readonly overflowed: boolean;
}

export function createTrailerSplitter(marker: Buffer, maxTrailerBytes: number): TrailerSplitter {
  let held: Buffer = empty;
  let found = false;
  let overflowed = false;
  let trailerBytes = 0;
  // The trailer is copied into place as it arrives, so reading it needs no copy: joining 50 MB of
  // parts at the end held the event loop for 70-260 ms. Reserved once the marker is seen, unzeroed:
  // the system backs only the pages written, so memory follows the bytes received, never the cap.
  let kept: Buffer | undefined;

  const keepTrailer = (bytes: Buffer): void => {
    if (overflowed || bytes.length === 0) return;
    if (trailerBytes + bytes.length > maxTrailerBytes) {
      overflowed = true;
      kept = undefined;
      return;
    }
    kept ??= Buffer.allocUnsafeSlow(maxTrailerBytes);
    bytes.copy(kept, trailerBytes);
    trailerBytes += bytes.length;
  };

  return {
    push(payload) {
      if (found) {
        keepTrailer(payload);
        return empty;
      }
      const data = held.length === 0 ? payload : Buffer.concat([held, payload]);
      const index = data.indexOf(marker);
      if (index >= 0) {
        found = true;
        held = empty;
        keepTrailer(data.subarray(index + marker.length));
        return data.subarray(0, index);
      }
      const safe = Math.max(0, data.length - (marker.length - 1));
      held = Buffer.from(data.subarray(safe));
      return data.subarray(0, safe);
    },
    end() {
      const rest = held;
      held = empty;
      return rest;
    },
    trailer: () => (found && !overflowed ? (kept?.subarray(0, trailerBytes) ?? empty) : undefined),
    get found() {
      return found;
    },
    get overflowed() {
      return overflowed;
    },
  };
}
