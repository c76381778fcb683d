/** The listener's side of a device request, as the DPS and EST routes see it. */
import type { FastifyRequest } from 'fastify';
import type { Certificate } from '../../pki/certificate.ts';

/** What the device routes need of the listener: the caller's chain, and a way to count a failed authentication. */
export interface DeviceRequests {
  /** The TLS client chain of the request's connection (parsed once per connection); throws a ZtError. */
  chainOf(req: FastifyRequest): Certificate[];
  /** Counts a failed authentication against the request's source address. */
  authFailed(req: FastifyRequest): void;
}
