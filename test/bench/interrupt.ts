/**
 * What a bench started, stopped when the bench is interrupted (SIGINT, SIGTERM): otherwise its
 * children outlive it (a registry keeps its port, an instance goes on scanning, a memory cgroup and
 * a log of gigabytes stay behind). The bench exits 130 once every clean-up has settled.
 */
type Cleanup = () => unknown;

const cleanups = new Set<Cleanup>();
let listening = false;

/** Registers a clean-up for an interruption; the function returned unregisters it. */
export function onInterrupt(cleanup: Cleanup): () => void {
  if (!listening) {
    // Installed on first use, so a bench's child processes and workers keep the default handling.
    listening = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        // What fails because its parts are being stopped is expected: the exit waits for the clean-ups.
        process.on('uncaughtException', () => {});
        process.on('unhandledRejection', () => {});
        void Promise.allSettled([...cleanups].map(async (cleanup) => cleanup())).finally(() =>
          process.exit(130),
        );
      });
    }
  }
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}
