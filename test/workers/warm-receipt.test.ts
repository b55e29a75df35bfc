import { describe, expect, it } from 'vitest';
import { createOutputCapture } from '../../workers/sandbox/output-capture.ts';
import { createReceiptReader } from '../../workers/sandbox/warm-receipt.ts';

/** One multiplexed attach frame (1 stdout, 2 stderr). */
const frame = (streamType: number, payload: string): Buffer => {
  const header = Buffer.alloc(8);
  header.writeUInt8(streamType, 0);
  header.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([header, Buffer.from(payload)]);
};

/** What the job's capture keeps after the reader, fed in the given chunks. */
function captured(chunks: readonly Buffer[]) {
  const reader = createReceiptReader();
  const capture = createOutputCapture(1024);
  for (const chunk of chunks) capture.push(reader.push(chunk));
  capture.finish();
  return { received: reader.received, ...capture.result() };
}

describe('the warm wrapper’s receipt', () => {
  it('is taken off the front and never reaches the job’s output, however the frames are cut', () => {
    const stream = Buffer.concat([frame(1, 'A'), frame(1, 'out\n'), frame(2, 'err\n')]);
    const whole = captured([stream]);
    expect(whole).toMatchObject({ received: true, stdout: 'out\n', stderr: 'err\n' });
    // Byte by byte: the header and the receipt arrive apart.
    const bytes = [...stream].map((byte) => Buffer.from([byte]));
    expect(captured(bytes)).toMatchObject({ received: true, stdout: 'out\n', stderr: 'err\n' });
  });

  it('shares its frame with the job’s first bytes: the frame is kept one byte shorter', () => {
    expect(captured([frame(1, 'Ahello\n'), frame(2, 'e')])).toMatchObject({
      received: true,
      stdout: 'hello\n',
      stderr: 'e',
    });
  });

  it('is found behind the job’s stderr, which the engine may deliver first', () => {
    const stream = Buffer.concat([frame(2, 'err1\n'), frame(1, 'Aout1\n'), frame(2, 'err2\n')]);
    const expected = { received: true, stdout: 'out1\n', stderr: 'err1\nerr2\n' };
    expect(captured([stream])).toMatchObject(expected);
    expect(captured([...stream].map((byte) => Buffer.from([byte])))).toMatchObject(expected);
  });

  it('is missing from a stream that ended without a byte: the container never had the job', () => {
    expect(captured([])).toMatchObject({ received: false, stdout: '', stderr: '' });
    // A header cut short is not a receipt either.
    expect(captured([frame(1, 'A').subarray(0, 8)]).received).toBe(false);
  });

  it('passes anything else on stdout through whole, as the job’s own output', () => {
    expect(captured([frame(1, 'no receipt\n')])).toMatchObject({ received: true, stdout: 'no receipt\n' });
  });
});
