/** The AMQP 0-9-1 codec: frames, methods (generated from the spec), content, field tables. */
import { syntaxError, CodecError } from './errors.js';
import { methodsById, methodsByName, type AmqpMethod, type MethodName } from './methods.gen.js';
import { Reader, decodeTableBody as decodeBody } from './primitives.js';
import type { FieldTable } from '@junction/core';

export {
  FrameType,
  PROTOCOL_HEADER,
  FrameParser,
  createFrameParser,
  type FrameParserOptions,
} from './frame-parser.js';
export { decodeContentHeader, encodeContent, type ContentHeader } from './content.js';
export { CodecError, isCodecError } from './errors.js';
export { methodsById, methodsByName, type AmqpMethod, type MethodName, type ArgsOf } from './methods.gen.js';
export { MAX_TABLE_DEPTH, Reader, Writer } from './primitives.js';

/** A method frame's payload: class-id, method-id, arguments (§4.2.4). */
export function decodeMethod(payload: Buffer): AmqpMethod {
  if (payload.length < 4) throw syntaxError('method frame shorter than its class and method ids');
  const classId = payload.readUInt16BE(0);
  const methodId = payload.readUInt16BE(2);
  const info = methodsById.get((classId << 16) | methodId);
  if (!info)
    throw new CodecError('COMMAND_INVALID', `COMMAND_INVALID - unknown method ${classId}/${methodId}`);
  const r = new Reader(payload, 4, payload.length);
  const args = info.decode(r);
  // Arguments longer than the method defines mean the frame is not what it says it is.
  if (r.o !== payload.length) throw syntaxError(`${info.name} has ${payload.length - r.o} trailing bytes`);
  return { name: info.name, classId, methodId, args } as AmqpMethod;
}

export function encodeMethodFrame(channel: number, name: string, args: Record<string, unknown>): Buffer {
  const info = methodsByName.get(name as MethodName);
  if (!info) throw new Error(`unknown AMQP method ${name}`);
  return info.encode(channel, withDefaults(args) as never);
}

/** Arguments a server never sets (tickets, reserved fields) default to their zero value. */
function withDefaults(args: Record<string, unknown>): Record<string, unknown> {
  return { ticket: 0, arguments: {}, ...args };
}

const HEARTBEAT = Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]);
export const encodeHeartbeat = (): Buffer => HEARTBEAT;

/** AMQPLAIN's response: a field table's entries without the table's length prefix. */
export function decodeFieldTableBody(b: Buffer): FieldTable {
  return decodeBody(b, 0, b.length);
}
