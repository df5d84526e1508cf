/**
 * MQTT 5 topic aliases (3.3.2.3.4), per connection and both ways. Inbound, the client names
 * a topic once with an alias and then sends the alias with an empty topic; outbound, the
 * server does the same for the first topics it sends, up to the client's Topic Alias Maximum
 * (first come, first served: an alias is never reassigned, so no topic is ever sent under a
 * number the client maps to another). Both maps exist only once an alias is used.
 */
import { MalformedPacket, Reason } from './reason-codes.js';

/** Aliases the client set, up to the Topic Alias Maximum we announced. */
export class InboundAliases {
  private topics: Map<number, string> | undefined;

  constructor(private readonly maximum: number) {}

  /** The topic of a PUBLISH with a Topic Alias: sets the alias, or resolves an empty topic. */
  resolve(topic: string, alias: number): string {
    // MQTT-3.3.2-8/9: 0 and anything above our maximum are invalid.
    if (alias === 0 || alias > this.maximum)
      throw new MalformedPacket(`topic alias ${alias} outside 1..${this.maximum}`, Reason.TopicAliasInvalid);
    if (topic.length > 0) {
      (this.topics ??= new Map()).set(alias, topic);
      return topic;
    }
    const known = this.topics?.get(alias);
    if (known === undefined)
      throw new MalformedPacket(`topic alias ${alias} was never set`, Reason.ProtocolError);
    return known;
  }
}

/** Aliases we send, up to the client's Topic Alias Maximum. */
export class OutboundAliases {
  private readonly byTopic = new Map<string, number>();

  constructor(private readonly maximum: number) {}

  /**
   * The alias for a topic and whether the client already knows it; undefined when every
   * alias is taken by other topics. A new alias counts once `confirm` is called (the packet
   * that tells the client was sent).
   */
  lookup(topic: string): { alias: number; known: boolean } | undefined {
    const alias = this.byTopic.get(topic);
    if (alias !== undefined) return { alias, known: true };
    if (this.byTopic.size >= this.maximum) return undefined;
    return { alias: this.byTopic.size + 1, known: false };
  }

  confirm(topic: string, alias: number): void {
    this.byTopic.set(topic, alias);
  }
}
