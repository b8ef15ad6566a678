#!/usr/bin/env bash
# The participant SDKs install as packages, and import from a folder outside the repository:
#  - `pip install ./sdk/python` into a clean virtualenv (system site packages only for Debian's
#    confluent-kafka and setuptools: no registry is asked, --no-index);
#  - `npm install ./sdk/node`, from the package `npm pack` makes (its "files"), into an empty
#    folder (kafkajs from npm's cache, filled by scripts/setup.sh; the registry otherwise).
# Each imports the SDK and builds a participant; the source tree is copied first, so the
# build leaves nothing in it.
#   sdk_packages.sh SOURCE_DIR
set -euo pipefail
source=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python=/usr/bin/python3
cp -r "$source/sdk/python" "$work/python-sdk"
"$python" -m venv --system-site-packages --without-pip "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --no-index --no-build-isolation "$work/python-sdk" >"$work/pip.log" 2>&1 ||
  { echo "pip install ./sdk/python failed:" >&2; cat "$work/pip.log" >&2; exit 1; }
mkdir "$work/elsewhere"
(cd "$work/elsewhere" && "$work/venv/bin/python" - <<'PY'
import sagactl_participant
from sagactl_participant import Participant, Reply
assert "/venv/" in sagactl_participant.__file__, sagactl_participant.__file__
p = Participant("127.0.0.1:1", "inventory.commands", reply_log=":memory:", properties={"log_level": "0"})
p.on("Reserve", lambda c: Reply.ok())
print("python: installed at", sagactl_participant.__file__)
PY
)
"$work/venv/bin/python" -m pip show sagactl-participant | grep -q "^Requires: confluent-kafka" ||
  { echo "the Python package does not declare its dependency on confluent-kafka" >&2; exit 1; }

mkdir "$work/node-app"
(cd "$work/node-app" && npm pack --silent --pack-destination "$work" "$source/sdk/node" >/dev/null)
tarball=$(ls "$work"/sagactl-participant-*.tgz)
tar -tzf "$tarball" | grep -q "package/src/kafka.js" || { echo "the npm package lacks src/" >&2; exit 1; }
if tar -tzf "$tarball" | grep -q "package/test/"; then echo "the npm package ships its tests" >&2; exit 1; fi
(cd "$work/node-app" && echo '{"name": "app", "version": "1.0.0", "private": true}' >package.json &&
  npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tarball" >"$work/npm.log" 2>&1) ||
  { echo "npm install ./sdk/node failed:" >&2; cat "$work/npm.log" >&2; exit 1; }
(cd "$work/node-app" && node -e "
const { Participant, Reply } = require('sagactl-participant');
const where = require.resolve('sagactl-participant');
if (!where.includes('/node-app/node_modules/')) throw new Error('resolved to ' + where);
const p = new Participant({ brokers: '127.0.0.1:1', topics: 'inventory.commands', replyLog: require('node:path').join(process.cwd(), 'r.jsonl') });
p.on('Reserve', async () => Reply.ok());
console.log('node: installed at', where);
")
echo "sdk_packages: pip and npm install the SDKs, and a service outside the repository imports them"
