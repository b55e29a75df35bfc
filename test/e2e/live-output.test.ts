import { describe, expect, it } from 'vitest';
import { createStreamMasker } from '../../secrets/mask-stream.ts';
import { createOutputBatcher } from '../../workers/sandbox/output-batcher.ts';
import type { SandboxOutputChunk } from '../../workers/sandbox/sandbox.ts';

describe('stream masker', () => {
  it('masks a secret split across pieces and releases everything else', () => {
    const masker = createStreamMasker(['hunter2secret']);
    const released = [
      masker.push('user=admin pass=hunt'),
      masker.push('er2sec'),
      masker.push('ret done\n'),
      masker.end(),
    ].join('');
    expect(released).toBe('user=admin pass=[secret] done\n');
    expect(released).not.toContain('hunter2');
  });

  it('holds back only a tail that could start a secret', () => {
    const masker = createStreamMasker(['abcdef']);
    expect(masker.push('xyz ab')).toBe('xyz ');
    expect(masker.push('X')).toBe('abX');
    expect(masker.end()).toBe('');
  });

  it('passes text through untouched when there are no secrets', () => {
    const masker = createStreamMasker([]);
    expect(masker.push('anything')).toBe('anything');
  });
});

describe('output batcher', () => {
  it('merges one stream, splits on a switch of stream, and flushes by size', () => {
    const chunks: SandboxOutputChunk[] = [];
    const batcher = createOutputBatcher({
      maxBytes: 8,
      maxDelayMs: 10_000,
      emit: (chunk) => chunks.push(chunk),
    });
    batcher.push('stdout', Buffer.from('ab'));
    batcher.push('stdout', Buffer.from('cd'));
    batcher.push('stderr', Buffer.from('EF'));
    expect(chunks).toEqual([]);
    batcher.push('stdout', Buffer.from('gh'));
    expect(chunks).toEqual([
      { stream: 'stdout', text: 'abcd' },
      { stream: 'stderr', text: 'EF' },
      { stream: 'stdout', text: 'gh' },
    ]);
    batcher.end(false);
  });

  it('flushes by time and keeps a split character whole', async () => {
    const chunks: SandboxOutputChunk[] = [];
    const batcher = createOutputBatcher({
      maxBytes: 1024,
      maxDelayMs: 20,
      emit: (chunk) => chunks.push(chunk),
    });
    const check = Buffer.from('✓', 'utf8');
    batcher.push('stdout', check.subarray(0, 1));
    batcher.push('stdout', check.subarray(1));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(chunks).toEqual([{ stream: 'stdout', text: '✓' }]);
    batcher.push('stdout', Buffer.from('late'));
    batcher.end(false);
    batcher.push('stdout', Buffer.from('after end'));
    expect(chunks.map((chunk) => chunk.text)).toEqual(['✓', 'late']);
  });
});
