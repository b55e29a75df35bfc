import openapiTS, { astToString } from 'openapi-typescript';

const header = `// Generated from openapi.json by \`npm run generate:client\`; do not edit.
// test/api/client-types.test.ts fails when a route changes and this file was not regenerated.
`;

/** The document without its examples: they are for the reference, and would be most of the types file. */
function withoutExamples(value: unknown, isPropertyMap = false): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutExamples(item));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      // A property map's keys are field names: a field may well be called `example`.
      .filter(([key]) => isPropertyMap || (key !== 'example' && key !== 'examples'))
      .map(([key, child]) => [key, withoutExamples(child, !isPropertyMap && key === 'properties')]),
  );
}

/** The TypeScript types of an OpenAPI 3.1 document: `paths`, `components` and `operations`. */
export async function typesOf(document: object): Promise<string> {
  const ast = await openapiTS(withoutExamples(document) as Parameters<typeof openapiTS>[0], {
    alphabetize: true,
  });
  return `${header}\n${astToString(ast)}`;
}
