/** The registry client and its helpers (pull side). */
export * from './client';
export { parseWwwAuthenticate, pullScope, type AuthChallenge } from './auth';
export { loadDockerAuthConfig, credentialsFor, dockerConfigDir, type Credentials, type DockerAuthConfig } from './dockerConfig';
export { usePlainHttp, isLoopbackHost } from './http';
