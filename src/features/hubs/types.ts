/** IoT hubs linked to a tenant: where allocation policies may put devices. */

export interface LinkedHub {
  hostName: string;
  /** Region used by the geoLatency policy. */
  region: string;
  /** Relative share of devices under the hashed policy. */
  allocationWeight: number;
  /** Whether policies choose this hub when an enrollment does not list hubs. */
  applyAllocationPolicy: boolean;
}
