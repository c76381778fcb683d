/** What the hub sync needs of a Mosquitto broker's dynamic-security plugin (the MQTT transport provides it). */
import type { MosquittoHub } from './types.ts';

/** One dynamic-security command. */
export type DynsecCommand = { command: string } & Record<string, unknown>;

/** The broker's answer to one command: `error` set when it failed. */
export interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
}

/** A role's access-list entry as the plugin reports it. */
export interface DynsecAcl {
  acltype: string;
  topic: string;
  allow: boolean;
  priority?: number;
}

/** A connection to one broker's dynamic-security plugin. */
export interface DynsecClient {
  /** Runs commands in one request and returns their answers in order. */
  run(commands: DynsecCommand[]): Promise<DynsecResponse[]>;
  /** Runs one command; throws HUB_UNREACHABLE with the broker's error unless it is in `tolerate`. */
  one(command: DynsecCommand, tolerate?: string[]): Promise<DynsecResponse>;
  close(): Promise<void>;
}

/** Opens a client for a broker's settings. */
export type DynsecConnector = (cfg: MosquittoHub) => DynsecClient;
