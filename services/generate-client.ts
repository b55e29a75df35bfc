import { writeFileSync } from 'node:fs';
import { typesOf } from '../client/generate-types.ts';
import { apiDocument } from './api/api-document.ts';

/** The client's generated files: the API's document and the types openapi-typescript makes of it. */
export async function clientFiles(): Promise<{ readonly document: string; readonly types: string }> {
  const document = apiDocument();
  return { document: `${JSON.stringify(document, null, 2)}\n`, types: await typesOf(document) };
}

// `npm run generate:client`: rewrites client/openapi.json and client/openapi.ts.
if (import.meta.main) {
  const { document, types } = await clientFiles();
  writeFileSync(new URL('../client/openapi.json', import.meta.url), document);
  writeFileSync(new URL('../client/openapi.ts', import.meta.url), types);
  process.stdout.write('wrote client/openapi.json and client/openapi.ts\n');
}
