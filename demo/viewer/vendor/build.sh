#!/bin/sh
# Rebuilds three.viewer.min.js from the npm packages (needs node and npm; run from anywhere).
# The result is committed: making a viewer page never needs node, npm or the network.
set -eu
THREE_VERSION=0.187.0
ESBUILD_VERSION=0.28.2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/three-entry.js" "$work/"
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "three@$THREE_VERSION" "esbuild@$ESBUILD_VERSION"
npx esbuild three-entry.js --bundle --minify --format=iife --global-name=THREE \
  --legal-comments=inline --target=es2020 --outfile="$here/three.viewer.min.js"
cp node_modules/three/LICENSE "$here/LICENSE"
