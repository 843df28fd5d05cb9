/** The server's entry cache (SPIRE's authorized entry cache): public pieces. */
export { MemoryEntryIndex } from './memory-index.js';
export type { EntryIndexReader, EntryIndexStats } from './memory-index.js';
export { EventCursor } from './events.js';
export type { EventCursorOptions, ListEvents } from './events.js';
export { EntryCache, createEntryCache } from './cache.js';
export type { EntryCacheOptions, EntryCacheStats } from './cache.js';
