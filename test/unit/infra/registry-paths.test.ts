/**
 * A domain-scoped project id (`example.com:my-project`) is written with a slash in registry paths:
 * Artifact Registry names its images `LOCATION-docker.pkg.dev/example.com/my-project/REPO/IMAGE`
 * (https://cloud.google.com/artifact-registry/docs/docker/names, "Domain-scoped projects"). The
 * watch globs infra gives signOnPush and reverifyImages must be written the same way, or no push
 * matches and every one is skipped as "not watched" (until 2026-12-03; found by review). API
 * resource names (`projects/example.com:my-project/...`) keep the colon.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadSignOnPushConfig, ruleFor } from '../../../functions/config/sign-config.ts';
import { parseGcrMessage } from '../../../functions/events/gcr-message.ts';
import { evaluate, expr, loadTerraform, strings, type Terraform } from './terraform.ts';

let infra: Terraform;
before(async () => {
  infra = await loadTerraform();
});

const KEY =
  'projects/example.com:my-project/locations/europe-west1/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
const DIGEST = `sha256:${'c'.repeat(64)}`;

/** A registry host: Artifact Registry's (`LOCATION-docker.pkg.dev`) or Container Registry's. */
const REGISTRY_HOST = /(?:-docker\.pkg\.dev|(?:^|[^a-z0-9-])(?:[a-z]+\.)?gcr\.io)\//;

/** Strings placing the project id, as it is, into a registry path: `HOST/${var.project}`. */
function checkRegistryPathsSlashed(tf: Terraform): string[] {
  const problems: string[] = [];
  for (const [at, value] of [...strings(tf.locals, 'locals'), ...strings(tf.resource, 'resource')]) {
    if (REGISTRY_HOST.test(value) && value.includes(expr('var.project'))) {
      problems.push(`${at}: ${value.trim()} puts var.project into a registry path as it is`);
    }
  }
  return problems;
}

/**
 * The watch globs locals.tf gives the functions (SIGSENTRY_WATCH), for these watched repositories
 * and project: the `for` expression's template, its `${…}` parts evaluated as Terraform would.
 */
function watchGlobs(
  tf: Terraform,
  project: string,
  repositories: Array<{ location: string; repository_id: string }>,
): string[] {
  const source = String(tf.locals['watch_globs']);
  const glob = /^\$\{\[\s*for r in var\.watched_repositories\s*:\s*"(.*)"\s*\]\}$/s.exec(source)?.[1];
  assert.ok(glob, `watch_globs is not a for expression over var.watched_repositories: ${source}`);
  return repositories.map((r) =>
    template(tf, glob, { project }, { 'r.location': r.location, 'r.repository_id': r.repository_id }),
  );
}

/** A string with `${…}` parts, each evaluated as Terraform would (`bindings` for loop variables). */
function template(
  tf: Terraform,
  value: string,
  vars: Record<string, unknown>,
  bindings: Record<string, string> = {},
) {
  return value.replace(/\$\{([^}]*)\}/g, (_all, inner: string) => {
    if (inner in bindings) return bindings[inner]!;
    const evaluated = evaluate(tf, expr(inner), vars);
    assert.equal(typeof evaluated, 'string', inner);
    return evaluated as string;
  });
}

/** What Artifact Registry publishes to `gcr` for a push, read as signOnPush reads it. */
function pushed(reference: string) {
  const n = parseGcrMessage(
    Buffer.from(JSON.stringify({ action: 'INSERT', digest: `${reference}@${DIGEST}` })),
  );
  return `${n.host}/${n.repository}`;
}

describe('infra: the project id in registry paths', () => {
  const releases = [{ location: 'europe-west1', repository_id: 'releases' }];

  it('a domain-scoped project is written with a slash in the watch globs, so its pushes are signed', () => {
    const project = 'example.com:my-project';
    const globs = watchGlobs(infra, project, releases);
    assert.deepEqual(globs, ['europe-west1-docker.pkg.dev/example.com/my-project/releases/**']);
    const config = loadSignOnPushConfig({
      GCP_PROJECT: project,
      SIGSENTRY_WATCH: globs.join(','),
      KMS_KEY: KEY,
      REKOR_URL: 'none',
    });
    const rule = ruleFor(config, pushed('europe-west1-docker.pkg.dev/example.com/my-project/releases/app'));
    assert.equal(rule?.repositories, globs[0]);
    // Nothing else of the project, nor a project whose id is the domain.
    assert.equal(
      ruleFor(config, pushed('europe-west1-docker.pkg.dev/example.com/my-project/other/app')),
      undefined,
    );
    assert.equal(ruleFor(config, pushed('europe-west1-docker.pkg.dev/example.com/releases/app')), undefined);
  });

  it('a project id without a domain is written as it is', () => {
    assert.deepEqual(
      watchGlobs(infra, 'my-project', [...releases, { location: 'us', repository_id: 'base' }]),
      ['europe-west1-docker.pkg.dev/my-project/releases/**', 'us-docker.pkg.dev/my-project/base/**'],
    );
  });

  it('no registry path in infra/ takes var.project as it is', () => {
    assert.deepEqual(checkRegistryPathsSlashed(infra), []);
  });

  it('the check catches a registry path built from var.project', () => {
    const broken = structuredClone(infra);
    broken.locals['image_base'] = `us-docker.pkg.dev/${expr('var.project')}/x`;
    broken.locals['legacy'] = `${expr('var.region')}.gcr.io/${expr('var.project')}/x`;
    // An API resource name keeps the colon: not a registry path.
    broken.locals['api_name'] = `projects/${expr('var.project')}/locations/us/repositories/x`;
    assert.deepEqual(
      checkRegistryPathsSlashed(broken).map((p) => p.split(':')[0]),
      ['locals.image_base', 'locals.legacy'],
    );
  });

  it('a domain-scoped project also gets a valid source bucket name (no colon, no dot)', () => {
    const name = String(infra.resource['google_storage_bucket']?.['source']?.['name']);
    // Bucket names: lower-case letters, digits, `-` and `_` (a dot needs the domain verified), 3-63.
    const valid = /^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/;
    assert.equal(
      template(infra, name, { project: 'example.com:my-project' }),
      'example-com-my-project-sigsentry-source',
    );
    assert.match(template(infra, name, { project: 'example.com:my-project' }), valid);
    // Unchanged for a project id without a domain: the existing bucket is kept.
    assert.equal(template(infra, name, { project: 'my-project' }), 'my-project-sigsentry-source');
  });

  it('the evaluation reads replace() as Terraform does', () => {
    assert.equal(evaluate(infra, expr('replace("a:b:c", ":", "/")')), 'a/b/c');
    assert.equal(evaluate(infra, expr('replace("(default)", "/[()]/", "")')), 'default');
    assert.equal(evaluate(infra, expr('replace(var.project, ":", "/")'), { project: 'd.com:p' }), 'd.com/p');
  });
});
