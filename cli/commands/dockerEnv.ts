/**
 * `berth docker-env`: the shell line that points the docker CLI (and every Docker API client that
 * reads DOCKER_HOST) at the Berth agent's Docker Engine API socket, for the store this CLI would
 * talk to (client/paths.ts: BERTH_DOCKER_SOCKET, else $BERTH_ROOT/docker.sock, else
 * /run/berth/docker.sock). Use: `eval "$(berth docker-env)"`. It asks the agent nothing; with
 * BERTH_DOCKER_SOCKET set to "" (the API turned off) it fails saying so.
 */
import { dockerSocketPath } from '../../client/paths';
import { CliError, type Command } from '../context';

/** `s` as one word of a POSIX shell. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export const dockerEnv: Command = {
  name: 'docker-env',
  summary: 'Print the DOCKER_HOST line that points docker clients at the agent',
  operands: '',
  minArgs: 0,
  maxArgs: 0,
  flags: [],
  async run(ctx) {
    const socket = dockerSocketPath(ctx.io.env);
    if (socket === undefined) throw new CliError('the Docker API socket is turned off (BERTH_DOCKER_SOCKET is set to "")');
    ctx.io.stdout(`export DOCKER_HOST=${shellWord(`unix://${socket}`)}\n`);
    return 0;
  },
};
