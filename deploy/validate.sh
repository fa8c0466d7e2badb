#!/usr/bin/env bash
# Renders every overlay with `kubectl kustomize` and validates the result offline:
# kubernetes-validate --strict for the core kinds, the @kubernetes-models schemas for the
# Gateway API and KEDA kinds, and the deployment's own rules (validate/validate.mjs).
# Needs kubectl (with Kustomize), python3 -m pip install kubernetes-validate==1.37.0, node.
set -euo pipefail
cd "$(dirname "$0")"

KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.32.0}
out=$(mktemp -d)
dev_secrets=overlays/dev/secrets.env
created_secrets=
cleanup() {
  rm -rf "$out"
  if [ -n "$created_secrets" ]; then rm -f "$dev_secrets"; fi
}
trap cleanup EXIT
# The dev overlay generates its Secret from an untracked file: render with the example.
if [ ! -f "$dev_secrets" ]; then
  cp overlays/dev/secrets.env.example "$dev_secrets"
  created_secrets=1
fi

(cd validate && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

for overlay in overlays/*/; do
  name=$(basename "$overlay")
  rendered="$out/$name.yaml"
  kubectl kustomize "$overlay" >"$rendered"
  echo "== $name: $(grep -c '^kind:' "$rendered") resources"
  # Custom resources only warn here (no schema); they are checked below.
  kubernetes-validate --strict --quiet -k "$KUBERNETES_VERSION" "$rendered"
  node validate/validate.mjs "$name" <"$rendered"
done
echo "deploy/: every overlay renders and validates"
