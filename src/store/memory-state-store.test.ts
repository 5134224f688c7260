/**
 * The in-memory state store runs the shared conformance suite (test/conformance/state-store.ts);
 * it has no older schemas and does not outlive its process, so those parts are skipped.
 */
import { describeStateStore } from '../../test/conformance/state-store.js';
import { createMemoryStateBacking, openMemoryStateStore } from './memory-state-store.js';

describeStateStore(
  'in-memory',
  () => {
    const backing = createMemoryStateBacking();
    return {
      open: (options) => openMemoryStateStore(backing, options),
      stampSchemaVersion: (version) => {
        backing.schemaVersion = version;
        return Promise.resolve();
      },
    };
  },
  { isDurable: false, hasOlderSchemas: false },
);
