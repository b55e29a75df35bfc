import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { clientFiles } from '../../services/generate-client.ts';

// The client's types are generated from the routes' definitions; a route changed without
// `npm run generate:client` would leave the published client describing an API that is not served.
it('client/openapi.json and client/openapi.ts are what the routes generate today', async () => {
  const generated = await clientFiles();
  const committed = (name: string) => readFileSync(new URL(`../../client/${name}`, import.meta.url), 'utf8');
  const hint = 'a route changed: run `npm run generate:client` and commit client/';
  expect(committed('openapi.json') === generated.document, hint).toBe(true);
  expect(committed('openapi.ts') === generated.types, hint).toBe(true);
});
