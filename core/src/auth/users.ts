/**
 * Users, tags and per-vhost permissions, shared by every protocol. Permissions are
 * RabbitMQ's: three regular expressions per user and vhost (configure, write, read)
 * matched against resource names; the default exchange is named "amq.default" for them.
 */
import { BrokerError } from '../errors.js';
import { hashPassword, verifyPassword } from './password.js';
import type { ScramCredentials } from './scram.js';
import type { UserDefinition } from '../storage/store.js';
import { linearRegex, type LinearRegex } from '../linear-regex.js';

export interface User {
  readonly name: string;
  readonly passwordHash: string;
  readonly tags: readonly string[];
  /** SCRAM-SHA-256 keys, derived when the password itself was set (not a hash import). */
  readonly scram?: ScramCredentials;
}

/** A user as the store keeps it, back in memory (recovery, another node's change). */
export function storedUser(u: UserDefinition): User {
  return { name: u.name, passwordHash: u.passwordHash, tags: u.tags, ...(u.scram ? { scram: u.scram } : {}) };
}

export interface Permission {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

export type Access = 'configure' | 'write' | 'read';

interface CompiledPermission extends Permission {
  readonly regex: Record<Access, LinearRegex>;
}

export class UserStore {
  private readonly users = new Map<string, User>();
  /** vhost -> user -> permission */
  private readonly permissions = new Map<string, Map<string, CompiledPermission>>();

  list(): User[] {
    return [...this.users.values()];
  }

  get(name: string): User | undefined {
    return this.users.get(name);
  }

  put(user: User): void {
    this.users.set(user.name, user);
  }

  /** `scram`: the password's SCRAM keys (scramCredentials), derived by the caller off the event loop. */
  add(name: string, password: string, tags: readonly string[], scram: ScramCredentials): User {
    const user = { name, passwordHash: hashPassword(password), tags, scram };
    this.put(user);
    return user;
  }

  delete(name: string): boolean {
    for (const perms of this.permissions.values()) perms.delete(name);
    return this.users.delete(name);
  }

  check(name: string, password: string): User | undefined {
    const user = this.users.get(name);
    return user && verifyPassword(password, user.passwordHash) ? user : undefined;
  }

  setPermission(vhost: string, user: string, p: Permission): void {
    let perms = this.permissions.get(vhost);
    if (!perms) this.permissions.set(vhost, (perms = new Map()));
    perms.set(user, {
      ...p,
      regex: { configure: anchored(p.configure), write: anchored(p.write), read: anchored(p.read) },
    });
  }

  clearPermission(vhost: string, user: string): boolean {
    return this.permissions.get(vhost)?.delete(user) ?? false;
  }

  clearVhost(vhost: string): void {
    this.permissions.delete(vhost);
  }

  permission(vhost: string, user: string): Permission | undefined {
    const p = this.permissions.get(vhost)?.get(user);
    return p && { configure: p.configure, write: p.write, read: p.read };
  }

  allPermissions(): { vhost: string; user: string; permission: Permission }[] {
    const out: { vhost: string; user: string; permission: Permission }[] = [];
    for (const [vhost, perms] of this.permissions) {
      for (const [user, p] of perms)
        out.push({ vhost, user, permission: { configure: p.configure, write: p.write, read: p.read } });
    }
    return out;
  }

  hasVhostAccess(vhost: string, user: string): boolean {
    return this.permissions.get(vhost)?.has(user) ?? false;
  }

  /** Throws ACCESS_REFUSED unless `user` may `access` the resource. */
  authorize(vhost: string, user: string, access: Access, kind: 'queue' | 'exchange', name: string): void {
    const p = this.permissions.get(vhost)?.get(user);
    const resource = kind === 'exchange' && name === '' ? 'amq.default' : name;
    if (!p || !p.regex[access].test(resource)) {
      throw new BrokerError(
        'ACCESS_REFUSED',
        `ACCESS_REFUSED - access to ${kind} '${resource}' in vhost '${vhost}' refused for user '${user}'`,
      );
    }
  }
}

/**
 * A permission pattern, matched as RabbitMQ's re:run does (unanchored; '' matches nothing), on
 * the linear-time matcher: the pattern comes from an administrator's or a management API call
 * and runs on every declare, bind and publish check, on the one event loop.
 */
function anchored(pattern: string): LinearRegex {
  if (pattern === '') return NEVER;
  try {
    return linearRegex(pattern);
  } catch (err) {
    throw new BrokerError(
      'PRECONDITION_FAILED',
      `PRECONDITION_FAILED - permission regex '${pattern}' refused: ${(err as Error).message}`,
    );
  }
}

const NEVER: LinearRegex = { test: () => false };
