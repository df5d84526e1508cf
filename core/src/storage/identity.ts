import type { DefinitionChange } from './store.js';

/** The key a definition is replaced or deleted by: every backend agrees on it. */
export function definitionIdentity(kind: DefinitionChange['kind'], v: Record<string, unknown>): string {
  switch (kind) {
    case 'vhost':
    case 'user':
      return String(v['name']);
    case 'permission':
      return `${String(v['vhost'])}\u0000${String(v['user'])}`;
    case 'binding':
      return JSON.stringify([
        v['vhost'],
        v['source'],
        v['destination'],
        v['destinationType'],
        v['routingKey'],
        v['arguments'],
      ]);
    default:
      return `${String(v['vhost'])}\u0000${String(v['name'])}`;
  }
}
