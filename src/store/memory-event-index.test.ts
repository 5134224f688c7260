/** The in-memory event index runs the shared conformance suite (test/conformance/event-index.ts). */
import { describeEventIndex } from '../../test/conformance/event-index.js';
import { createMemoryStateBacking, openMemoryStateStore } from './memory-state-store.js';

describeEventIndex(
  'in-memory',
  () => {
    const backing = createMemoryStateBacking();
    return { open: (options) => openMemoryStateStore(backing, options) };
  },
  { isDurable: true },
);
