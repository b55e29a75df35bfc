import type Docker from 'dockerode';
import type { OutageProbe } from '../lifecycle/outage-gate.ts';
import { engineAddress } from './docker-errors.ts';

/** The outage gate's probe of the Docker engine: a ping (the gate bounds it with its timeout). */
export function dockerEngineProbe(docker: Docker): OutageProbe {
  return { address: engineAddress(docker), check: () => docker.ping() };
}
