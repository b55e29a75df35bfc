// Plain JavaScript, and syntax old Node versions parse: this runs before Node is known to be new
// enough for the TypeScript sources.

/** The oldest Node that runs omni: type stripping is on by default from 22.18 (and OpenTelemetry wants 22.15). */
export const minimumNode = '22.18.0';

function parts(version) {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(String(version));
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/**
 * Why this Node cannot run omni, in one line (what is needed, what was found, how to get it), or
 * undefined when it can. `found` is a version as `process.versions.node` gives it.
 */
export function nodeVersionProblem(found, minimum = minimumNode) {
  const have = parts(found);
  const need = parts(minimum);
  if (have && need) {
    for (let index = 0; index < 3; index += 1) {
      if (have[index] > need[index]) return undefined;
      if (have[index] < need[index]) break;
      if (index === 2) return undefined;
    }
  }
  return (
    `omni needs Node.js ${minimum} or newer, found ${found}: ` +
    'install a current LTS (Node 24) from nodejs.org, or with your version manager (nvm install 24, fnm install 24)'
  );
}
