/**
 * The CLI's argument parser. Each command declares its flags ({@link FlagSpec}); the parser accepts
 * `-x`, `-xVALUE`, `-x VALUE`, `--long`, `--long=value`, `--long value`, combined short booleans
 * (`-aq`), repeated flags (collected for `strings` flags, last one wins otherwise), `--` to end the
 * flags, and flags anywhere among the operands. Anything else is a {@link UsageError}.
 */

export type FlagType = 'boolean' | 'string' | 'strings' | 'number';

export interface FlagSpec {
  /** Long name without dashes ("no-trunc"); also the key in {@link ParsedArgs.flags}. */
  name: string;
  /** One-letter alias without the dash ("q"). */
  short?: string;
  type: FlagType;
  /** One line for `--help`. */
  help: string;
  /** Placeholder for the value in `--help` ("FILE"); defaults to the type's name. */
  value?: string;
}

export type FlagValue = boolean | string | string[] | number;

export interface ParsedArgs {
  /** Only the flags given; `strings` flags always hold an array when given. */
  flags: Record<string, FlagValue | undefined>;
  /** Operands, in order. */
  args: string[];
}

/** A mistake on the command line: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The flag every command accepts. */
export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'boolean', help: 'Print usage' };

/**
 * `stopAtOperand`: everything from the first operand on is an operand (`berth run IMG sh -c ...`,
 * where `-c` belongs to the container's command).
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: { stopAtOperand?: boolean } = {}): ParsedArgs {
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of [...specs, HELP_FLAG]) {
    byLong.set(s.name, s);
    if (s.short) byShort.set(s.short, s);
  }
  const flags: ParsedArgs['flags'] = {};
  const args: string[] = [];

  const set = (spec: FlagSpec, shown: string, raw: string | undefined): void => {
    switch (spec.type) {
      case 'boolean':
        if (raw === undefined || raw === 'true') flags[spec.name] = true;
        else if (raw === 'false') flags[spec.name] = false;
        else throw new UsageError(`invalid value "${raw}" for flag ${shown}: want true or false`);
        return;
      case 'string':
        flags[spec.name] = raw ?? '';
        return;
      case 'strings': {
        const prev = flags[spec.name];
        flags[spec.name] = [...(Array.isArray(prev) ? prev : []), raw ?? ''];
        return;
      }
      case 'number': {
        const n = Number(raw);
        if (raw === undefined || raw.trim() === '' || !Number.isFinite(n)) {
          throw new UsageError(`invalid value "${raw ?? ''}" for flag ${shown}: want a number`);
        }
        flags[spec.name] = n;
        return;
      }
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      let raw: string | undefined = eq < 0 ? undefined : a.slice(eq + 1);
      if (raw === undefined && spec.type !== 'boolean') {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
        raw = argv[++i]!;
      }
      set(spec, `--${name}`, raw);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // A cluster of short flags: booleans may be combined; a flag taking a value ends the cluster
      // and takes the rest of it (-ofile) or the next argument (-o file).
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const spec = byShort.get(c);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`);
        if (spec.type === 'boolean') {
          if (a[j + 1] === '=') {
            set(spec, `-${c}`, a.slice(j + 2));
            break;
          }
          set(spec, `-${c}`, undefined);
          continue;
        }
        let raw = a.slice(j + 1);
        if (raw.startsWith('=')) raw = raw.slice(1);
        else if (raw === '') {
          if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${c}' in -${c}`);
          raw = argv[++i]!;
        }
        set(spec, `-${c}`, raw);
        break;
      }
      continue;
    }
    if (opts.stopAtOperand) {
      args.push(...argv.slice(i));
      break;
    }
    args.push(a);
  }
  return { flags, args };
}

/** The options section of a command's help: aligned, one flag a line. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const rows = [...specs, HELP_FLAG].map((s) => {
    const value = s.type === 'boolean' ? '' : ` ${s.value ?? (s.type === 'strings' ? 'list' : s.type)}`;
    const left = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${value}`;
    return [left, s.help] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}   ${h}`).join('\n');
}

/** Typed accessors, so command handlers stay short. */
export function flagBool(p: ParsedArgs, name: string): boolean {
  return p.flags[name] === true;
}

export function flagString(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function flagStrings(p: ParsedArgs, name: string): string[] {
  const v = p.flags[name];
  return Array.isArray(v) ? v : [];
}
