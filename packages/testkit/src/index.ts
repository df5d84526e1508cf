export { until, untilResolves } from './until.js';
export { closeAll } from './teardown.js';
export { seededRandom } from './random.js';
export {
  listenLoopback,
  listenPorts,
  startOnEndpoints,
  startAmqpServer,
  startMqttServer,
  startStompServer,
  testLog,
  type EndpointServer,
  type TestServer,
  type WsTestServer,
} from './servers.js';
export { rawClient, trickleUntilClosed, wsUpgradeRequest, type RawClient } from './raw-client.js';
export { startRedis, type RedisServer } from './redis.js';
export { startRedisGroup, type RedisGroup, type RedisGroupOptions } from './redis-group.js';
export { startRedisCluster, type RedisCluster } from './redis-cluster.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { ConfirmingPublisher, type ConfirmPublishChannel } from './confirming-publisher.js';
export {
  CHROMIUM,
  launchChromium,
  openPage,
  type Browser,
  type BrowserContext,
  type Page,
} from './chromium.js';
export { PYTHON, runPython } from './python.js';
export { onlyChildPid, spawnLogged, type LoggedProcess } from './process.js';
export { tempDirs, type TempDirs } from './temp-dirs.js';
export { stompitClient, type StompitClient, type StompitOptions } from './stompit.js';
export { makeTestPki, type CertFiles, type TestPki } from './certs.js';
export { withOwnKey } from './own-key.js';
export {
  startJunctionNodes,
  freePort,
  TEST_CLUSTER_SECRET,
  type JunctionNode,
  type JunctionNodes,
  type JunctionNodesOptions,
} from './junction-nodes.js';
