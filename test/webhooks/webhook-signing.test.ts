import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyAddress, classifyHost } from '../../schemas/webhook-url.schema.ts';
import { retryDelayMs } from '../../webhooks/delivery-backoff.ts';
import { deliveryId } from '../../webhooks/delivery-plan.ts';
import { callbackSecret, generateSigningSecret, signingSecretBytes } from '../../webhooks/signing-keys.ts';
import { webhookHeaders, webhookSignature } from '../../webhooks/webhook-signature.ts';
import { signatureIsValid } from './receiver.ts';

// The Standard Webhooks specification's published example: any receiver library checks these.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('signatures', () => {
  it("reproduces the Standard Webhooks specification's example signature", () => {
    expect(webhookSignature(vector, [vector.secret])).toBe(vector.signature);
  });

  it('signs with every secret given, space separated, so a rotated key still verifies', () => {
    const other = generateSigningSecret();
    const headers = webhookHeaders(vector, [other, vector.secret]);
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    const request = { path: '/', headers, body: vector.body };
    expect(signatureIsValid(request, vector.secret)).toBe(true);
    expect(signatureIsValid(request, other)).toBe(true);
    expect(signatureIsValid({ ...request, body: `${vector.body} ` }, vector.secret)).toBe(false);
    expect(headers['webhook-id']).toBe(vector.id);
    expect(headers['webhook-timestamp']).toBe(String(vector.timestamp));
  });

  it('generates secrets of 32 random bytes, and derives a callback secret per job and key', () => {
    const secret = generateSigningSecret();
    expect(secret).toMatch(/^whsec_/);
    expect(signingSecretBytes(secret)).toHaveLength(32);
    expect(generateSigningSecret()).not.toBe(secret);
    const key = Buffer.alloc(32, 1);
    const job = '8f0c6a52-3f0e-4c3e-9d6b-6d0f1c0b9a11';
    expect(callbackSecret(key, job)).toBe(callbackSecret(key, job));
    expect(callbackSecret(key, job)).not.toBe(callbackSecret(key, '8f0c6a52-3f0e-4c3e-9d6b-6d0f1c0b9a12'));
    expect(callbackSecret(key, job)).not.toBe(callbackSecret(Buffer.alloc(32, 2), job));
    expect(signingSecretBytes(callbackSecret(key, job))).toHaveLength(32);
  });
});

describe('delivery ids', () => {
  it('are the same for the same event and target, different otherwise, and valid UUIDs', () => {
    const event = '0193a1b2-0000-7000-8000-000000000001';
    const id = deliveryId(event, 'callback');
    expect(deliveryId(event, 'callback')).toBe(id);
    expect(deliveryId(event, 'subscription-a')).not.toBe(id);
    expect(deliveryId('0193a1b2-0000-7000-8000-000000000002', 'callback')).not.toBe(id);
    expect(z.uuid().safeParse(id).success).toBe(true);
  });
});

describe('address classes', () => {
  it.each([
    ['169.254.169.254', 'forbidden'],
    ['169.254.0.1', 'forbidden'],
    ['0.0.0.0', 'forbidden'],
    ['0.1.2.3', 'forbidden'],
    ['224.0.0.251', 'forbidden'],
    ['239.255.255.250', 'forbidden'],
    ['255.255.255.255', 'forbidden'],
    ['100.100.100.200', 'forbidden'],
    ['fe80::1', 'forbidden'],
    ['febf::1', 'forbidden'],
    ['ff02::1', 'forbidden'],
    ['::', 'forbidden'],
    ['fd00:ec2::254', 'forbidden'],
    ['::ffff:169.254.169.254', 'forbidden'],
    ['::ffff:a9fe:a9fe', 'forbidden'],
    ['64:ff9b::a9fe:a9fe', 'forbidden'],
    ['127.0.0.1', 'private'],
    ['127.255.0.9', 'private'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'private'],
    ['::1', 'private'],
    ['fc00::1', 'private'],
    ['fdff::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['172.32.0.1', 'public'],
    ['8.8.8.8', 'public'],
    ['192.169.0.1', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['fec0::1', 'public'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it('judges hosts by name only for metadata names and localhost; others wait for their lookup', () => {
    expect(classifyHost('metadata.google.internal')).toBe('forbidden');
    expect(classifyHost('METADATA.GOOGLE.INTERNAL.')).toBe('forbidden');
    expect(classifyHost('localhost')).toBe('private');
    expect(classifyHost('api.localhost')).toBe('private');
    expect(classifyHost('[::1]')).toBe('private');
    expect(classifyHost('hooks.example.com')).toBe('name');
  });
});

describe('backoff', () => {
  it('doubles from the first wait up to the cap, adding at most a fifth', () => {
    const backoff = { initialMs: 1_000, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 40].map((attempt) => retryDelayMs(backoff, attempt, 0))).toEqual([
      1_000, 2_000, 4_000, 8_000, 10_000, 10_000,
    ]);
    expect(retryDelayMs(backoff, 1, 0.999)).toBeLessThanOrEqual(1_200);
    expect(retryDelayMs(backoff, 1, 0.5)).toBe(1_100);
  });
});
