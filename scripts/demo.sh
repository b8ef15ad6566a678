#!/usr/bin/env bash
# The main job: install what is missing, build, validate the example sagas and draw them, then
# run the order saga twice through the embedded engine (one completes, one compensates).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
sagactl=build/runtime/sagactl

echo "== sagactl validate examples/sagas"
$sagactl validate examples/sagas
mkdir -p build/graphs
for f in examples/sagas/*.yaml; do
  name=$(basename "$f" .yaml)
  $sagactl graph "$f" > "build/graphs/$name.dot"
  dot -Tsvg "build/graphs/$name.dot" -o "build/graphs/$name.svg"
  $sagactl graph --format mermaid "$f" > "build/graphs/$name.mmd"
done
echo "== graphs (DOT, SVG, Mermaid) written to build/graphs/"
ls build/graphs
echo "== sagactl graph --format mermaid examples/sagas/order-fulfilment.yaml"
cat build/graphs/order-fulfilment.mmd

echo "== build/examples/embedded-order-demo (the engine embedded, in-process participants, SQLite on disk)"
build/examples/embedded-order-demo
