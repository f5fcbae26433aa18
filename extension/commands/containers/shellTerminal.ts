/**
 * A terminal inside a running container, through the protocol's exec streams: `open` sends
 * `container/exec` with a pty of the terminal's size (a shell: /bin/bash when the container has it,
 * else /bin/sh), keystrokes go out as `container/input`, size changes as `container/resize`, the
 * process's bytes come back as `container/output` and are written as they are (the container's pty
 * already turns LF into CRLF). The exec's answer is the shell's exit: the terminal closes with its
 * code. Closing the terminal cancels the request, which kills the shell. The terminal itself is
 * ../streamTerminal.ts's, shared with Run Interactive.
 */
import type { CancellationToken } from 'vscode-jsonrpc';
import { ExecRequest } from '../../../protocol';
import type { AgentConnection } from '../../../client/connection';
import { classify } from '../../../client/errors';
import { StreamPseudoterminal, type StreamAgent } from '../streamTerminal';

export type ShellAgent = StreamAgent;

/** The shells tried, in order; the last one is used without asking. */
export const SHELLS = ['/bin/bash', '/bin/sh'] as const;

/** /bin/bash when `test -x /bin/bash` succeeds in the container (a quick exec without a pty), else /bin/sh. */
export async function chooseShell(agent: Pick<AgentConnection, 'request'>, container: string, token?: CancellationToken): Promise<string> {
  try {
    const r = await agent.request(ExecRequest.type, { container, cmd: ['test', '-x', SHELLS[0]] }, token);
    return r.ExitCode === 0 ? SHELLS[0] : SHELLS[1];
  } catch (err) {
    // `test` itself missing (InvalidArgument) means no bash either; anything else (not running,
    // cancelled) is the real exec's to report.
    const f = classify(err);
    if (f.kind === 'agent' && f.codeName === 'InvalidArgument') return SHELLS[1];
    throw err;
  }
}

export class ShellPseudoterminal extends StreamPseudoterminal {
  /** The shell that runs (known once it started). */
  shell: string | undefined;

  constructor(
    agent: ShellAgent,
    /** ID or name, as the agent accepts it. */
    private readonly container: string,
    /** `exec`: user, environment and working directory of the shell (the Berth workspace terminal's remoteUser, remoteEnv, workspaceFolder). */
    private readonly opts: { shell?: string; exec?: { user?: string; env?: string[]; workingDir?: string } } = {},
  ) {
    super(agent, 'shell');
  }

  protected async attach(): Promise<void> {
    const shell = this.opts.shell ?? (await chooseShell(this.agent, this.container, this.cancel.token));
    if (this.closed) return;
    this.shell = shell;
    const size = this.size ?? { rows: 24, cols: 80 };
    const answer = this.agent.request(
      ExecRequest.type,
      {
        container: this.container,
        cmd: [shell],
        ...this.opts.exec,
        tty: true,
        stdin: true,
        rows: size.rows,
        cols: size.cols,
        attachToken: this.token,
      },
      this.cancel.token,
    );
    // The agent queues input that arrives while the process starts.
    this.attached();
    const { ExitCode } = await answer;
    this.finish(ExitCode);
  }
}
