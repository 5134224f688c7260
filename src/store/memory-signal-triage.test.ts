/** The in-memory state store runs the signal triage conformance suite (test/conformance/signal-triage.ts). */
import { describeSignalTriage } from '../../test/conformance/signal-triage.js';
import { createMemoryStateBacking, openMemoryStateStore } from './memory-state-store.js';

describeSignalTriage('in-memory', () => {
  const backing = createMemoryStateBacking();
  return { open: (options) => openMemoryStateStore(backing, options) };
});
