/** Garbage collections in a bench's process, as V8 reports them to Node (PerformanceObserver 'gc'). */
import { constants, PerformanceObserver } from 'node:perf_hooks';

/** Sums the main thread's garbage collection pauses, and counts the collections, by kind until stopped. */
export function gcPauses(): () => { ms: Record<string, number>; count: Record<string, number> } {
  const names: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakCallbacks',
  };
  const ms: Record<string, number> = {};
  const count: Record<string, number> = {};
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = names[(entry as unknown as { detail: { kind: number } }).detail.kind] ?? 'other';
      ms[kind] = (ms[kind] ?? 0) + entry.duration;
      count[kind] = (count[kind] ?? 0) + 1;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    return { ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Math.round(v)])), count };
  };
}
