import { API_VERSION, VersionRequest, type VersionResult } from '../../protocol';
import { flagString } from '../args';
import { FORMAT_FLAG, errorLine, type Command } from '../context';
import { compileTemplate, toJson } from '../../client/format';

declare const BERTH_VERSION: string;

/** The CLI's own version: set by the bundler, "0.0.0-dev" when run from source. */
export const CLIENT_VERSION = typeof BERTH_VERSION !== 'undefined' ? BERTH_VERSION : '0.0.0-dev';

const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

export const version: Command = {
  name: 'version',
  summary: 'Show the versions of the CLI and of the agent',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const { io } = ctx;
    const client = {
      Version: CLIENT_VERSION,
      ApiVersion: API_VERSION,
      NodeVersion: process.version,
      Os: process.platform,
      Arch: GO_ARCH[process.arch] ?? process.arch,
    };
    let agent: VersionResult | null = null;
    let failure: string | undefined;
    try {
      // A probe: it reports on the agent that is there and does not start one.
      const c = await ctx.connect({ autostart: false });
      agent = await c.request0(VersionRequest.type);
    } catch (err) {
      failure = errorLine(err);
    }
    const format = flagString(p, 'format');
    if (format === 'json') io.stdout(toJson({ Client: client, Agent: agent }) + '\n');
    else if (format) io.stdout(compileTemplate(format)({ Client: client, Agent: agent }) + '\n');
    else {
      const lines = [
        'Client:',
        ` Version:      ${client.Version}`,
        ` API version:  ${client.ApiVersion}`,
        ` Node.js:      ${client.NodeVersion}`,
        ` OS/Arch:      ${client.Os}/${client.Arch}`,
      ];
      if (agent) {
        lines.push(
          '',
          'Agent:',
          ` Version:      ${agent.Version}`,
          ` API version:  ${agent.ApiVersion}`,
          ` OS/Arch:      ${agent.Os}/${agent.Arch}`,
          ` Pid:          ${agent.Pid}`,
          ` Root:         ${agent.Root}`,
          ` Socket:       ${agent.Socket || '(stdio)'}`,
        );
      }
      io.stdout(lines.join('\n') + '\n');
    }
    if (agent && agent.ApiVersion !== API_VERSION) {
      io.stderr(`berth: warning: the agent speaks protocol version ${agent.ApiVersion}, this CLI ${API_VERSION}\n`);
    }
    if (failure) {
      io.stderr(failure + '\n');
      return 1;
    }
    return 0;
  },
};
