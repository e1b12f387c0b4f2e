#!/usr/bin/env bash
# Installs the SST platform (Pulumi and the SST components, ~320 MB in .sst/) from the npm registry
# alone, with SST's checks for Bun and other downloads skipped, unless the installed platform is the
# version package.json asks for. Needed by `npm run verify:sst`; `sst deploy` does the same itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
want="$(node -p 'JSON.parse(require("fs").readFileSync("node_modules/sst/package.json", "utf8")).version')"
have="$(cat .sst/platform/version 2>/dev/null || true)"
if [ -f .sst/platform/config.d.ts ] && [ "$have" = "$want" ]; then
  echo "sst platform $have already installed"
  exit 0
fi
echo "installing the sst platform $want into .sst/"
SST_SKIP_DEPENDENCY_CHECK=1 SST_NO_BUN=1 SST_TELEMETRY_DISABLED=1 npx sst install --stage verify
