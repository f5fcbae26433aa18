import { InspectContainerRequest, type ContainerInspect } from '../../protocol';
import { UsageError } from '../args';
import type { Command } from '../context';

/**
 * `berth port CONTAINER [PORT[/PROTO]]`, as Docker prints it: every published port as
 * "80/tcp -> 127.0.0.1:8080", or, for one port, its host addresses alone ("127.0.0.1:8080").
 * Only a running container has published ports; asking for an unpublished port is an error.
 */
export function portLines(ports: ContainerInspect['NetworkSettings']['Ports'], want?: string): string[] {
  const host = (b: { HostIp: string; HostPort: string }) => `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
  const keys = Object.keys(ports).sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b));
  if (want === undefined) return keys.flatMap((k) => (ports[k] ?? []).map((b) => `${k} -> ${host(b)}`));
  return (ports[want] ?? []).map(host);
}

export const port: Command = {
  name: 'port',
  summary: "List a container's published ports",
  operands: 'CONTAINER [PORT[/PROTO]]',
  minArgs: 1,
  maxArgs: 2,
  flags: [],
  async run(ctx, p) {
    const [ref, spec] = p.args;
    let want: string | undefined;
    if (spec !== undefined) {
      const m = /^([0-9]{1,5})(?:\/(tcp|udp))?$/i.exec(spec);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new UsageError(`invalid port "${spec}": want PORT or PORT/tcp or PORT/udp`);
      want = `${Number(m[1])}/${(m[2] ?? 'tcp').toLowerCase()}`;
    }
    const client = await ctx.connect();
    const c = await client.request(InspectContainerRequest.type, { container: ref! });
    const lines = portLines(c.NetworkSettings?.Ports ?? {}, want);
    if (want !== undefined && lines.length === 0) {
      ctx.io.stderr(`Error: No public port '${want}' published for ${ref}\n`);
      return 1;
    }
    ctx.io.stdout(lines.map((l) => l + '\n').join(''));
    return 0;
  },
};
