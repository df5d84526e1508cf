/** Users and their per-vhost permissions (administrators only). */
import { checkHashingAlgorithm, HASHING_ALGORITHM, parseTags } from '../definitions.js';
import { badRequest, notFound, optString, readJson, type Ctx } from '../http.js';
import { created, json, list, noContent, type Routes } from '../scope.js';

export const permissionJson = (p: {
  vhost: string;
  user: string;
  permission: { configure: string; write: string; read: string };
}): Record<string, string> => ({
  user: p.user,
  vhost: p.vhost,
  ...p.permission,
});

export const usersRoutes: Routes = (router, api) => {
  const userJson = (u: {
    name: string;
    passwordHash: string;
    tags: readonly string[];
  }): Record<string, unknown> => ({
    name: u.name,
    password_hash: u.passwordHash,
    hashing_algorithm: HASHING_ALGORITHM,
    tags: [...u.tags],
    limits: api.broker.userLimits(u.name),
  });
  router.on('GET', '/api/users', (c) => {
    api.requireAdmin(c);
    list(c, api.broker.users.list().map(userJson));
  });
  const userOf = (c: Ctx) => {
    const u = api.broker.users.get(c.params['user']!);
    if (!u) throw notFound(`user '${c.params['user']}' not found`);
    return u;
  };
  router.on('GET', '/api/users/:user', (c) => {
    api.requireAdmin(c);
    json(c, userJson(userOf(c)));
  });
  router.on('PUT', '/api/users/:user', async (c) => {
    api.requireAdmin(c);
    const name = c.params['user']!;
    if (name === '') throw badRequest('user name must not be empty');
    const body = await readJson(c.req);
    const password = optString(body, 'password');
    const passwordHash = optString(body, 'password_hash');
    checkHashingAlgorithm(body['hashing_algorithm'], 'user');
    if (
      passwordHash !== undefined &&
      passwordHash !== '' &&
      Buffer.from(passwordHash, 'base64').length !== 36
    ) {
      throw badRequest(`'password_hash' is not a ${HASHING_ALGORITHM} hash`);
    }
    const tags = parseTags(body['tags'], 'user');
    const existed = api.broker.users.get(name) !== undefined;
    if (password !== undefined) await api.broker.putUser(name, { password, tags });
    else if (passwordHash !== undefined) await api.broker.putUser(name, { passwordHash, tags });
    else await api.broker.putUser(name, existed ? { tags } : { passwordHash: '', tags });
    created(c, existed);
  });
  router.on('DELETE', '/api/users/:user', async (c) => {
    api.requireAdmin(c);
    const u = userOf(c);
    await api.broker.deleteUser(u.name);
    noContent(c);
  });
  router.on('GET', '/api/users/:user/permissions', (c) => {
    api.requireAdmin(c);
    const u = userOf(c);
    list(
      c,
      api.broker.users
        .allPermissions()
        .filter((p) => p.user === u.name)
        .map(permissionJson),
    );
  });
  router.on('GET', '/api/permissions', (c) => {
    api.requireAdmin(c);
    list(c, api.broker.users.allPermissions().map(permissionJson));
  });
  const permissionTarget = (c: Ctx): { vhost: string; user: string } => {
    api.requireAdmin(c);
    const vhost = api.vhostOf(c).name;
    return { vhost, user: userOf(c).name };
  };
  router.on('GET', '/api/permissions/:vhost/:user', (c) => {
    const { vhost, user } = permissionTarget(c);
    const p = api.broker.users.permission(vhost, user);
    if (!p) throw notFound(`no permissions for user '${user}' in vhost '${vhost}'`);
    json(c, { user, vhost, ...p });
  });
  router.on('PUT', '/api/permissions/:vhost/:user', async (c) => {
    const { vhost, user } = permissionTarget(c);
    const body = await readJson(c.req);
    const get = (k: string): string => {
      const v = optString(body, k);
      if (v === undefined) throw badRequest(`'${k}' is required`);
      return v;
    };
    const perm = { configure: get('configure'), write: get('write'), read: get('read') };
    const existed = api.broker.users.permission(vhost, user) !== undefined;
    await api.broker.setPermission(vhost, user, perm);
    created(c, existed);
  });
  router.on('DELETE', '/api/permissions/:vhost/:user', async (c) => {
    const { vhost, user } = permissionTarget(c);
    if (!api.broker.users.permission(vhost, user))
      throw notFound(`no permissions for user '${user}' in vhost '${vhost}'`);
    await api.broker.clearPermission(vhost, user);
    noContent(c);
  });
};
