/** @junction/storage-lmdb: the embedded durable store (LMDB in a data directory). */
export { LmdbStore, StoreStateError, FORMAT_VERSION, type LmdbStoreOptions } from './lmdb-store.js';
export { DataDirLocked } from './lock.js';
