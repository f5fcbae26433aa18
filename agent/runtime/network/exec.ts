/**
 * Running iproute2's `ip` and `iptables` (execFile, no shell; every argument built by this module
 * from validated values). A failure becomes a System error naming the operation, the command line
 * and the interface, with the tool's own message: "start container: ip link add vb1a2b3c4d5e6
 * type veth ...: RTNETLINK answers: File exists (interface vb1a2b3c4d5e6)".
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BerthError, ErrorCode } from '../../errors';

const SEARCH = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const TIMEOUT_MS = 15_000;

const found = new Map<string, string>();

/** The absolute path of `tool` in the system directories (not $PATH: the agent runs as root). */
export function toolPath(tool: 'ip' | 'iptables', operation: string): string {
  const have = found.get(tool);
  if (have) return have;
  for (const d of SEARCH) {
    const p = `${d}/${tool}`;
    if (existsSync(p)) {
      found.set(tool, p);
      return p;
    }
  }
  const pkg = tool === 'ip' ? 'iproute2' : 'iptables';
  throw new BerthError(
    ErrorCode.System,
    `${operation}: the default network needs \`${tool}\` (Debian package ${pkg}), which is not installed; install it, or use --network none`,
    { operation, path: tool },
  );
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs the tool; resolves with its exit code (never rejects for a non-zero exit). */
export function run(tool: 'ip' | 'iptables', args: string[], operation: string, input?: string): Promise<RunResult> {
  const path = toolPath(tool, operation);
  return new Promise((resolve, reject) => {
    const child = execFile(
      path,
      args,
      { timeout: TIMEOUT_MS, maxBuffer: 16 << 20, env: { PATH: SEARCH.join(':'), LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          reject(
            new BerthError(ErrorCode.System, `${operation}: ${tool} ${args.join(' ')}: ${(err as Error).message}`, {
              operation,
              syscall: tool,
              errno: String((err as NodeJS.ErrnoException).code),
            }),
          );
          return;
        }
        if (err && (err as { killed?: boolean }).killed) {
          reject(
            new BerthError(ErrorCode.System, `${operation}: ${tool} ${args.join(' ')}: no answer within ${TIMEOUT_MS / 1000} s`, {
              operation,
              syscall: tool,
              errno: 'ETIMEDOUT',
            }),
          );
          return;
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr), code });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs the tool and throws a System error on a non-zero exit, naming `iface` when given. */
export async function must(tool: 'ip' | 'iptables', args: string[], operation: string, iface?: string): Promise<string> {
  const r = await run(tool, args, operation);
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').slice(-3).join('; ') || `exit code ${r.code}`;
    throw new BerthError(ErrorCode.System, `${operation}: ${tool} ${args.join(' ')}: ${why}${iface ? ` (interface ${iface})` : ''}`, {
      operation,
      syscall: tool,
      ...(iface ? { path: iface } : {}),
    });
  }
  return r.stdout;
}

/**
 * Runs `ip [-n NS] -batch -` with `lines` (one command each, without "ip"): one process for
 * several link changes. Stops at the first failing line; the error names every line, the
 * tool's message (which says which line failed) and `iface`.
 */
export async function mustBatch(lines: string[][], operation: string, iface: string, netns?: string): Promise<void> {
  for (const l of lines)
    if (l.some((a) => /[\s"'\\#;]/.test(a) || a === '')) throw new TypeError(`ip batch argument is not a plain word: ${l.join(' ')}`);
  const args = [...(netns ? ['-n', netns] : []), '-batch', '-'];
  const r = await run('ip', args, operation, lines.map((l) => l.join(' ') + '\n').join(''));
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').slice(-3).join('; ') || `exit code ${r.code}`;
    throw new BerthError(
      ErrorCode.System,
      `${operation}: ip ${args.join(' ')} (${lines.map((l) => l.join(' ')).join('; ')}): ${why} (interface ${iface})`,
      {
        operation,
        syscall: 'ip',
        path: iface,
      },
    );
  }
}
