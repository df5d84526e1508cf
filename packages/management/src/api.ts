/**
 * The /api routes, shaped like RabbitMQ's management API, one module per resource under
 * routes/. Every change to queues, exchanges, bindings and messages goes through a core
 * Session opened for the HTTP user, so AMQP permissions and semantics apply exactly as for
 * a client.
 */
import type { IncomingMessage } from 'node:http';
import type { Principal } from '@junction/core';
import { authenticate } from './authenticate.js';
import { Router } from './http.js';
import { bindingsRoutes } from './routes/bindings.js';
import { connectionsRoutes } from './routes/connections.js';
import { definitionsRoutes } from './routes/definitions.js';
import { exchangesRoutes } from './routes/exchanges.js';
import { limitsRoutes } from './routes/limits.js';
import { overviewRoutes } from './routes/overview.js';
import { policiesRoutes } from './routes/policies.js';
import { queuesRoutes } from './routes/queues.js';
import { usersRoutes } from './routes/users.js';
import { vhostsRoutes } from './routes/vhosts.js';
import { Scope, type ApiContext } from './scope.js';

export type { ApiContext } from './scope.js';

const ROUTES = [
  connectionsRoutes,
  overviewRoutes,
  exchangesRoutes,
  queuesRoutes,
  bindingsRoutes,
  vhostsRoutes,
  usersRoutes,
  policiesRoutes,
  limitsRoutes,
  definitionsRoutes,
];

export function createApi(ctx: ApiContext): {
  router: Router;
  authenticate(req: IncomingMessage): Promise<Principal>;
} {
  const scope = new Scope(ctx);
  const router = new Router();
  for (const routes of ROUTES) routes(router, scope);
  return { router, authenticate: (req) => authenticate(scope, req) };
}
