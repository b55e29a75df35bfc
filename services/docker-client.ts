import Docker from 'dockerode';

/** A dockerode client for DOCKER_HOST: a unix socket path, unix://, tcp:// or empty for the default socket. */
export function createDockerClient(dockerHost: string): Docker {
  if (dockerHost === '') return new Docker({ socketPath: '/var/run/docker.sock' });
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  if (dockerHost.startsWith('/')) return new Docker({ socketPath: dockerHost });
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

/** Where the client looks, for error messages. */
export const describeDockerHost = (dockerHost: string): string => dockerHost || 'unix:///var/run/docker.sock';
