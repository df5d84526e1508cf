/**
 * Operator policies, as RabbitMQ defines them: a name, a regex over queue/exchange names,
 * what it applies to, a priority (highest wins, one policy per object) and a definition
 * (max-length, message-ttl, dead-letter-exchange, max-priority, alternate-exchange, ...).
 */
import { preconditionFailed } from './errors.js';
import { linearRegex, type LinearRegex } from './linear-regex.js';
import type { FieldTable } from './message.js';

export interface Policy {
  readonly name: string;
  readonly pattern: string;
  readonly applyTo: 'queues' | 'exchanges' | 'all';
  readonly priority: number;
  readonly definition: FieldTable;
}

export class PolicySet {
  private readonly policies = new Map<string, { policy: Policy; regex: LinearRegex }>();

  put(policy: Policy): void {
    // On the linear-time matcher: the pattern comes from a management user and is tested
    // against every queue and exchange declared, on the one event loop.
    let regex: LinearRegex;
    try {
      regex = linearRegex(policy.pattern);
    } catch (err) {
      throw preconditionFailed(`policy pattern '${policy.pattern}' refused: ${(err as Error).message}`);
    }
    if (!['queues', 'exchanges', 'all'].includes(policy.applyTo)) {
      throw preconditionFailed(`invalid policy apply-to '${policy.applyTo}'`);
    }
    this.policies.set(policy.name, { policy, regex });
  }

  delete(name: string): boolean {
    return this.policies.delete(name);
  }

  get(name: string): Policy | undefined {
    return this.policies.get(name)?.policy;
  }

  list(): Policy[] {
    return [...this.policies.values()].map((p) => p.policy);
  }

  /** The policy in force for a queue or exchange name, if any. */
  match(kind: 'queues' | 'exchanges', name: string): Policy | undefined {
    let best: Policy | undefined;
    for (const { policy, regex } of this.policies.values()) {
      if (policy.applyTo !== 'all' && policy.applyTo !== kind) continue;
      if (!regex.test(name)) continue;
      if (!best || policy.priority > best.priority) best = policy;
    }
    return best;
  }
}
