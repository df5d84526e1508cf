/**
 * STOMP destinations, exactly as RabbitMQ's STOMP plugin names them:
 *   /queue/<name>          queue <name> via the default exchange; declared (durable) on demand
 *   /topic/<key>           amq.topic with routing key <key>
 *   /exchange/<x>[/<key>]  exchange <x> with routing key <key>
 *   /amq/queue/<name>      an existing queue, never declared
 *   /temp-queue/<name>     a private exclusive queue of this connection (reply queues)
 *   /reply-queue/<queue>   the real queue behind somebody's /temp-queue/ (via reply-to)
 */

export type Destination =
  | { kind: 'queue'; name: string }
  | { kind: 'topic'; key: string }
  | { kind: 'exchange'; exchange: string; key: string }
  | { kind: 'amq-queue'; name: string }
  | { kind: 'temp-queue'; name: string }
  | { kind: 'reply-queue'; name: string };

export class DestinationError extends Error {}

function rest(dest: string, prefix: string): string {
  const s = dest.slice(prefix.length);
  if (s.length === 0) throw new DestinationError(`Invalid destination '${dest}': name is empty`);
  if (s.length > 255)
    throw new DestinationError(`Invalid destination '${dest.slice(0, 64)}...': name longer than 255`);
  return s;
}

export function parseDestination(dest: string | undefined): Destination {
  if (dest === undefined) throw new DestinationError('Missing destination header');
  if (dest.startsWith('/queue/')) return { kind: 'queue', name: rest(dest, '/queue/') };
  if (dest.startsWith('/topic/')) return { kind: 'topic', key: rest(dest, '/topic/') };
  if (dest.startsWith('/amq/queue/')) return { kind: 'amq-queue', name: rest(dest, '/amq/queue/') };
  if (dest.startsWith('/temp-queue/')) return { kind: 'temp-queue', name: rest(dest, '/temp-queue/') };
  if (dest.startsWith('/reply-queue/')) return { kind: 'reply-queue', name: rest(dest, '/reply-queue/') };
  if (dest.startsWith('/exchange/')) {
    const r = rest(dest, '/exchange/');
    const slash = r.indexOf('/');
    const exchange = slash < 0 ? r : r.slice(0, slash);
    if (exchange.length === 0)
      throw new DestinationError(`Invalid destination '${dest}': exchange name is empty`);
    return { kind: 'exchange', exchange, key: slash < 0 ? '' : r.slice(slash + 1) };
  }
  throw new DestinationError(
    `Unknown destination '${dest.slice(0, 128)}': use /queue/, /topic/, /exchange/, /amq/queue/, /temp-queue/ or /reply-queue/`,
  );
}

/** The destination header of a MESSAGE, from where the message was last routed (RabbitMQ does the same). */
export function destinationOf(exchange: string, routingKey: string): string {
  if (exchange === '') return '/queue/' + routingKey;
  if (exchange === 'amq.topic') return '/topic/' + routingKey;
  // No key (a fanout exchange): no trailing slash, the destination the client subscribed to.
  return routingKey === '' ? '/exchange/' + exchange : '/exchange/' + exchange + '/' + routingKey;
}
