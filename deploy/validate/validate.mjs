// Validates the Gateway API and KEDA resources of rendered manifests (YAML on stdin) against
// the CRD schemas bundled in @kubernetes-models; kubernetes-validate checks the core kinds.
// Exits non-zero on the first invalid document, or when a kind it should check is unknown.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { Gateway, HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";

const models = {
  "gateway.networking.k8s.io/v1/Gateway": Gateway,
  "gateway.networking.k8s.io/v1/HTTPRoute": HTTPRoute,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
};

const label = process.argv[2] ?? "stdin";
let checked = 0;
let failed = 0;
const resources = [];
for (const doc of parseAllDocuments(readFileSync(0, "utf8"))) {
  if (doc.errors.length > 0) {
    console.error(`${label}: YAML error: ${doc.errors[0].message}`);
    process.exit(1);
  }
  const resource = doc.toJS();
  if (resource) resources.push(resource);
}

// The deployment's own rules, which no schema knows.
const fail = (message) => {
  console.error(`${label}: ${message}`);
  failed += 1;
};
const scaled = new Map();
for (const r of resources) {
  if (r.kind === "HorizontalPodAutoscaler" || r.kind === "ScaledObject") {
    const target = r.spec.scaleTargetRef.name;
    if (scaled.has(target)) fail(`${target} has both ${scaled.get(target)} and ${r.kind} ${r.metadata.name}`);
    scaled.set(target, `${r.kind} ${r.metadata.name}`);
  }
}
for (const r of resources.filter((r) => r.kind === "Deployment")) {
  const name = r.metadata.name;
  const pod = r.spec.template.spec;
  if (name.endsWith("-relay")) {
    if (r.spec.replicas !== 2) fail(`${name}: the relay runs exactly 2 replicas (leader and standby)`);
    if (scaled.has(name)) fail(`${name}: the relay is never autoscaled`);
  }
  if (pod.securityContext?.runAsNonRoot !== true) fail(`${name}: pod must run as non-root`);
  if (pod.securityContext?.seccompProfile?.type !== "RuntimeDefault") fail(`${name}: seccomp RuntimeDefault`);
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    if (sc.allowPrivilegeEscalation !== false) fail(`${name}/${c.name}: allowPrivilegeEscalation must be false`);
    if (sc.readOnlyRootFilesystem !== true) fail(`${name}/${c.name}: read-only root filesystem`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(`${name}/${c.name}: drop ALL capabilities`);
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      if (!c[probe]) fail(`${name}/${c.name}: no ${probe}`);
    }
    if (!c.resources?.requests || !c.resources?.limits) fail(`${name}/${c.name}: resources`);
  }
  if (!resources.some((p) => p.kind === "PodDisruptionBudget" && p.metadata.name === name)) {
    fail(`${name}: no PodDisruptionBudget`);
  }
}
if (!resources.some((r) => r.kind === "NetworkPolicy" && Object.keys(r.spec.podSelector).length === 0
  && r.spec.policyTypes.includes("Ingress") && r.spec.policyTypes.includes("Egress") && !r.spec.ingress && !r.spec.egress)) {
  fail("no default-deny NetworkPolicy");
}
for (const ns of resources.filter((r) => r.kind === "Namespace")) {
  if (ns.metadata.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted") {
    fail(`namespace ${ns.metadata.name}: enforce the restricted Pod Security profile`);
  }
}

for (const resource of resources) {
  const { apiVersion, kind } = resource;
  if (!apiVersion.startsWith("gateway.networking.k8s.io/") && !apiVersion.startsWith("keda.sh/")) {
    continue;
  }
  const Model = models[`${apiVersion}/${kind}`];
  const name = `${label}: ${kind} ${resource.metadata?.name}`;
  if (!Model) {
    console.error(`${name}: no schema for ${apiVersion} ${kind}`);
    failed += 1;
    continue;
  }
  try {
    new Model(resource).validate();
    checked += 1;
  } catch (error) {
    console.error(`${name}: ${error.message}`);
    failed += 1;
  }
}
console.log(`${label}: ${checked} Gateway API / KEDA resources valid by schema; ${failed} problems`);
process.exit(failed > 0 ? 1 : 0);
