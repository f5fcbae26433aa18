import { RestartContainerRequest } from '../../protocol';
import { stopVerb } from './stop';

export const restart = stopVerb(
  'restart',
  'Restart containers: stop (stop signal, then SIGKILL after -t seconds), then start',
  RestartContainerRequest.type,
);
