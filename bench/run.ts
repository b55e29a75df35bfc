// `npm run bench [-- --quick]`: every benchmark, one after another, each in a process of its own so
// one's pools, threads and garbage do not weigh on the next. Stops at the first that fails.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const quick = process.argv.includes('--quick');
const benchmarks = [
  { file: 'events.bench.ts', args: quick ? ['--quick'] : [] },
  { file: 'pipeline.bench.ts', args: quick ? ['--quick'] : [] },
  { file: 'sandbox.bench.ts', args: quick ? ['--quick'] : [] },
  { file: 'console.bench.ts', args: [] },
  { file: 'reconciler.bench.ts', args: quick ? ['--quick'] : [] },
  { file: 'submit-latency.bench.ts', args: quick ? ['--quick'] : [] },
];

for (const { file, args } of benchmarks) {
  process.stdout.write(`\n== ${file} ${args.join(' ')}\n`);
  const { status } = spawnSync(process.execPath, [fileURLToPath(new URL(file, import.meta.url)), ...args], {
    stdio: 'inherit',
  });
  if (status !== 0) {
    process.stderr.write(`${file} failed (exit ${status ?? 'signal'})\n`);
    process.exit(status ?? 1);
  }
}
