#!/usr/bin/env bash
# Builds what the functions deploy: the compiled functions (npm run build → dist/) and a package.json
# with production dependencies only, plus a lockfile pruned to them, so Cloud Build installs exactly the
# tested versions and none of the dev toolchain (TypeScript, biome, the pinned node binary, test tools).
#   infra/package-source.sh [OUT_DIR]   (default infra/.build/source; Terraform zips and uploads it)
set -euo pipefail

infra=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$infra/.." && pwd)
out=${1:-"$infra/.build/source"}

cd "$root"
npm run build --silent

rm -rf "$out"
mkdir -p "$out"
cp -R dist/functions "$out/functions"

# package.json: runtime facts only. `main` is the compiled entry that registers the functions.
node -e '
  const fs = require("node:fs");
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  const out = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    type: pkg.type,
    license: pkg.license,
    engines: pkg.engines,
    main: "functions/index.js",
    dependencies: pkg.dependencies,
  };
  fs.writeFileSync(process.argv[1], JSON.stringify(out, null, 2) + "\n");
' "$out/package.json"

# The repository lockfile, pruned to the production tree; no network and no node_modules needed.
cp package-lock.json "$out/package-lock.json"
(cd "$out" && npm install --package-lock-only --omit=dev --ignore-scripts --no-audit --no-fund --offline --silent)

echo "package-source: $(find "$out" -name '*.js' | wc -l | tr -d ' ') compiled files and $(node -e 'console.log(Object.keys(require(process.argv[1]).dependencies).length)' "$out/package.json") production dependencies in $out"
