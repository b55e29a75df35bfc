#!/usr/bin/env node
// The `omni` command: checks the Node version before anything else loads (an older Node would fail
// on the TypeScript with a stack), then runs the CLI. From a checkout it runs the TypeScript
// sources; installed under node_modules, where Node refuses to strip types, the JavaScript that
// `npm run build:cli` wrote to dist/ at `prepare`.
import { fileURLToPath } from 'node:url';
import { nodeVersionProblem } from './node-version.js';

const problem = nodeVersionProblem(process.versions.node);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
const installed = fileURLToPath(import.meta.url).split(/[\\/]/).includes('node_modules');
await import(installed ? '../dist/services/main.js' : '../services/main.ts');
