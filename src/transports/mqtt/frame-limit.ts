/**
 * Refuses MQTT packets larger than a limit before they are buffered: MQTT 3.1.1 has no maximum
 * packet size of its own (up to 256 MB), so a client could otherwise make the broker hold a
 * huge PUBLISH in memory. The stream reads each fixed header's Remaining Length and passes
 * the bytes through unchanged.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { ZtError } from '../../errors.ts';

/** A pass-through stream that fails with BODY_TOO_LARGE on a packet above `maxBytes`. */
export class MqttFrameLimit extends Transform {
  private readonly maxBytes: number;
  /** 0: expecting a fixed header byte; 1: reading Remaining Length; 2: skipping the body. */
  private state = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(maxBytes: number) {
    super();
    this.maxBytes = maxBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 0) {
        this.state = 1;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        i++;
      } else if (this.state === 1) {
        const b = chunk[i++]!;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (this.length > this.maxBytes) {
          done(
            new ZtError(
              'BODY_TOO_LARGE',
              `MQTT packet of ${this.length} bytes or more is larger than the ${this.maxBytes}-byte limit (device.max_body_bytes)`,
            ),
          );
          return;
        }
        if ((b & 0x80) === 0 || this.lengthBytes === 4) {
          this.remaining = this.length;
          this.state = this.remaining === 0 ? 0 : 2;
        }
      } else {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = 0;
      }
    }
    done(null, chunk);
  }
}
