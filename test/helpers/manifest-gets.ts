/** Test helper: a registry whose manifest GETs are seen by the test before the real one answers. */
import type { Registry } from '../../functions/registry/registry.ts';

/** `registry`, calling `seen` with each manifest GET's arguments before the real one answers. */
export function observingManifestGets(
  registry: Registry,
  seen: (...args: Parameters<Registry['getManifest']>) => void,
): Registry {
  return new Proxy(registry, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== 'getManifest') return value.bind(target);
      return (...args: Parameters<Registry['getManifest']>) => {
        seen(...args);
        return target.getManifest(...args);
      };
    },
  });
}

/** A registry whose manifest GETs are recorded (by reference) in `gets` before the real one answers. */
export function countingManifestGets(registry: Registry, gets: string[]): Registry {
  return observingManifestGets(registry, (_repository, reference) => {
    gets.push(reference);
  });
}
