/** One command of a README example, and what its trailing comment promises of it. */
export interface ReadmeCommand {
  /** The shell text, continuation lines joined. */
  readonly shell: string;
  /** The exit code the comment states (`exit 3`), else 0. */
  readonly exitCode: number;
  /** The whole stdout the comment states (`stdout: hi`), `<id>` standing for a job or file id. */
  readonly stdout?: string;
}

/** The ```sh blocks of a Markdown text whose first line runs `omni`. */
export function omniBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)]
    .map(([, body]) => body ?? '')
    .filter((body) => /^omni /.test(body));
}

/** Where an unquoted ` # ` comment starts, or -1. */
function commentStart(line: string): number {
  let quote: string | undefined;
  for (let index = 0; index < line.length; index += 1) {
    const char = line[index];
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === '#' && (index === 0 || /\s/.test(line[index - 1] ?? ''))) return index;
  }
  return -1;
}

/**
 * The commands of a block with their promises. A comment is prose for people; its `;`-separated
 * clauses `exit N` and `stdout: TEXT` are also what the README test checks.
 */
export function readmeCommands(block: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  let pending = '';
  let comment = '';
  for (const line of block.split('\n')) {
    if (line.trim() === '') continue;
    const at = commentStart(line);
    const code = (at === -1 ? line : line.slice(0, at)).trimEnd();
    if (at !== -1) comment = `${comment} ${line.slice(at + 1)}`.trim();
    if (code.endsWith('\\')) {
      pending += `${code.slice(0, -1).trimEnd()} `;
      continue;
    }
    const shell = `${pending}${code.trim()}`;
    pending = '';
    const clauses = comment.split(';').map((clause) => clause.trim());
    comment = '';
    const exit = clauses.map((clause) => /^exit (\d+)$/.exec(clause)?.[1]).find(Boolean);
    const stdout = clauses.find((clause) => clause.startsWith('stdout: '))?.slice('stdout: '.length);
    commands.push({
      shell,
      exitCode: exit === undefined ? 0 : Number(exit),
      ...(stdout === undefined ? {} : { stdout }),
    });
  }
  return commands;
}
