/**
 * `berth info`: the agent, its store and its host (`system/info`), worded as `docker info` words
 * them; `--format json` prints the answer as is, another `--format` is a template over it.
 */
import { SystemInfoRequest, type SystemInfoResult } from '../../protocol';
import { flagString } from '../args';
import { FORMAT_FLAG, type Command } from '../context';
import { compileTemplate, toJson } from '../../client/format';
import { CLIENT_VERSION } from './version';

/** Bytes in 1024-based units with 4 significant digits, as `docker info` prints memory: "7.637GiB". */
export function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** The text of `berth info`. */
export function infoText(info: SystemInfoResult): string {
  const lines = [
    'Client:',
    ` Version:    ${CLIENT_VERSION}`,
    '',
    'Server:',
    ` Containers: ${info.Containers}`,
    `  Running: ${info.ContainersRunning}`,
    `  Paused: ${info.ContainersPaused}`,
    `  Stopped: ${info.ContainersStopped}`,
    ` Images: ${info.Images}`,
    ` Server Version: ${info.ServerVersion}`,
    ` API Version: ${info.ApiVersion}`,
    ` Storage Driver: ${info.Driver}`,
    ` Cgroup Driver: ${info.CgroupDriver}`,
    ` Cgroup Version: ${info.CgroupVersion}`,
    ` Default Network: ${info.DefaultNetwork.Bridge} ${info.DefaultNetwork.Subnet}`,
    ' Security Options:' + (info.SecurityOptions.length ? '' : ' none'),
    ...info.SecurityOptions.map((o) => `  ${o.replace(/^name=/, '')}`),
    ` Kernel Version: ${info.KernelVersion}`,
    ` Operating System: ${info.OperatingSystem || '(unknown)'}`,
    ` OSType: ${info.OSType}`,
    ` Architecture: ${info.Architecture}`,
    ` CPUs: ${info.NCPU}`,
    ` Total Memory: ${binarySize(info.MemTotal)}`,
    ` Berth Root Dir: ${info.DockerRootDir}`,
  ];
  return `${lines.join('\n')}\n`;
}

export const info: Command = {
  name: 'info',
  summary: 'Show the agent, its store and its host',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [FORMAT_FLAG],
  async run(ctx, p) {
    const client = await ctx.connect();
    const answer = await client.request0(SystemInfoRequest.type);
    const format = flagString(p, 'format');
    if (format === 'json') ctx.io.stdout(`${toJson(answer)}\n`);
    else if (format) ctx.io.stdout(`${compileTemplate(format)(answer)}\n`);
    else ctx.io.stdout(infoText(answer));
    return 0;
  },
};
