/**
 * Repository globs: `*` matches within one path segment, `**` across segments.
 * `us-docker.pkg.dev/proj/prod/**` watches every image under that repository.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

export function matchesGlob(glob: string, value: string): boolean {
  return globToRegExp(glob).test(value);
}
