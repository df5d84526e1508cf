/** Method name -> handler, one module per method family (CONVENTIONS #4). */
import type { AmqpChannel } from '../channel.js';
import type { ArgsOf, MethodName } from '../wire/methods.gen.js';
import * as basic from './basic.js';
import * as channel from './channel.js';
import * as confirmTx from './confirm-tx.js';
import * as exchange from './exchange.js';
import * as queue from './queue.js';

// Each handler takes its own method's decoded arguments (checked here against the generated types).
type Handlers = { [N in MethodName]?: (ch: AmqpChannel, args: ArgsOf<N>) => void | Promise<void> };

export const handlers: Handlers = {
  'channel.open': channel.reopen,
  'channel.flow': channel.flow,
  'channel.flow-ok': channel.ignore,
  'channel.close-ok': channel.ignore,
  'access.request': channel.accessRequest,
  'exchange.declare': exchange.declare,
  'exchange.delete': exchange.remove,
  'exchange.bind': exchange.bind,
  'exchange.unbind': exchange.unbind,
  'queue.declare': queue.declare,
  'queue.bind': queue.bind,
  'queue.unbind': queue.unbind,
  'queue.purge': queue.purge,
  'queue.delete': queue.remove,
  'basic.qos': basic.qos,
  'basic.consume': basic.consume,
  'basic.cancel': basic.cancel,
  'basic.get': basic.get,
  'basic.ack': basic.ack,
  'basic.reject': basic.reject,
  'basic.nack': basic.nack,
  'basic.recover': basic.recover,
  'basic.recover-async': basic.recoverAsync,
  'confirm.select': confirmTx.confirmSelect,
  'tx.select': confirmTx.txSelect,
  'tx.commit': confirmTx.txCommit,
  'tx.rollback': confirmTx.txRollback,
};
