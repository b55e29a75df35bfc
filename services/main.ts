import { runCli } from './cli/run-cli.ts';

// The entry point of `omni` (bin/omni.js checks the Node version first, then loads this): the
// product's command line and its roles (`omni serve`). Only here is process state read.
const code = await runCli(process.argv.slice(2), {
  out: {
    write: (text) => process.stdout.write(text),
    color: process.stdout.isTTY === true && !process.env.NO_COLOR,
    tty: process.stdout.isTTY === true,
  },
  err: {
    write: (text) => process.stderr.write(text),
    color: process.stderr.isTTY === true && !process.env.NO_COLOR,
    tty: process.stderr.isTTY === true,
  },
  env: process.env,
});
// Exit at once: a client command leaves nothing to finish, and a role has stopped its work already.
process.exit(code);
