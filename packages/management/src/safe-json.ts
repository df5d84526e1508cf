/**
 * JSON request bodies as the broker can hold them: nesting bounded (a deep body would
 * overflow the stack of every later serialisation, so GET /api/queues and
 * /api/definitions would answer 500 for everyone), and every object built with a null
 * prototype, so a key such as `__proto__` or `constructor` is only ever data.
 */
import { badRequest } from './http.js';

/** Most levels of objects and arrays in a request body (RabbitMQ's own bodies need 4). */
export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of objects and arrays in JSON text, counted without parsing it. */
function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}

/** Copies each parsed object into a null-prototype one (bottom-up, as JSON.parse revives). */
function nullPrototype(this: unknown, _key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  // Assigning onto a null-prototype target defines `__proto__` as an own data property.
  return Object.assign(Object.create(null) as object, value);
}

/** Parses JSON text; 400 when it is malformed or nested deeper than `maxDepth`. */
export function parseJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (exceedsDepth(text, maxDepth)) throw badRequest(`JSON nested deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text, nullPrototype);
  } catch (err) {
    throw badRequest(`malformed JSON: ${(err as Error).message}`);
  }
}

/** Own properties only: a path through a row never reaches a prototype's members. */
export function ownValue(o: unknown, key: string): unknown {
  if (o === null || typeof o !== 'object' || !Object.hasOwn(o, key)) return undefined;
  return (o as Record<string, unknown>)[key];
}
