/**
 * Where a function's CPU went, from a V8 CPU profile (`--cpu-prof`, as the stack writes with
 * SIGSENTRY_FUNCTION_PROFILE_DIR): each sample's time is given to one category by the frame it was
 * taken in (and, for module loading, by its callers), so the shares add up to the process's CPU.
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES: Array<[string, (fn: string, url: string) => boolean]> = [
  ['garbage collection', (fn) => fn === '(garbage collector)'],
  [
    'Functions Framework request domain and async hooks',
    // A domain re-arms the uncaught-exception capture on every enter and exit.
    (fn, url) =>
      /async_hooks|node:domain/.test(url) || /UncaughtExceptionCapture|reportOnUncaughtException/.test(fn),
  ],
  [
    'socket writes (the kernel’s loopback TCP work, in the write call)',
    (fn) => /^(writeLatin1String|writeUtf8String|writeBuffer|writev)$/.test(fn),
  ],
  [
    'gRPC, protobuf, gax and the Firestore and KMS clients',
    (fn, url) =>
      /grpc|http2|protobuf|google-gax|google-cloud\/(firestore|kms)|\$(decode|encode|fromObject|toObject)/.test(
        url + fn,
      ),
  ],
  ['sigsentry’s own code', (_fn, url) => url.includes('/functions/') && !url.includes('node_modules')],
  [
    'HTTP clients and streams (registry, log, push requests)',
    (_fn, url) => /_http|node:net|streams?\/|minipass|@npmcli|make-fetch|undici/.test(url),
  ],
  [
    'promise and tick queues',
    (fn, url) => /runMicrotasks|processTicksAndRejections/.test(fn) || url.includes('task_queues'),
  ],
];

/** Milliseconds of CPU per category (idle excluded; start-up module loading apart). */
export function cpuByCategory(profileFile: string): Record<string, number> {
  const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (const [i, id] of profile.samples.entries())
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));

  const out: Record<string, number> = {};
  for (const [id, us] of selfUs) {
    const { functionName: fn, url } = byId.get(id)!.callFrame;
    if (fn === '(idle)') continue;
    // Native frames carry no url: they count where their caller is.
    let frameUrl = url;
    const callers: string[] = [];
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const frame = byId.get(p)!.callFrame;
      if (!frameUrl) frameUrl = frame.url;
      callers.push(frame.functionName);
    }
    let category = 'other (V8, Node internals)';
    if (
      [fn, ...callers].some((c) =>
        /compileSourceTextModule|wrapModuleLoad|wrapSafe|moduleStrategy|syncLink/.test(c),
      )
    )
      category = 'module loading (start-up)';
    else category = CATEGORIES.find(([, test]) => test(fn, frameUrl))?.[0] ?? category;
    out[category] = (out[category] ?? 0) + us / 1000;
  }
  return Object.fromEntries(
    Object.entries(out)
      .sort(([, a], [, b]) => b - a)
      .map(([k, ms]) => [k, Math.round(ms)]),
  );
}
