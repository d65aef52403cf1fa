// deploy/k8s: yamllint-clean, the kinds docs/deploy.md promises, and probes, ports and mounts that agree with the
// certgate.yaml inside the ConfigMap, which certgate's own loader accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { runProcess } from '../helpers/cli.ts';
import { parseConfigText } from '../../src/config/load.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const K8S = `${ROOT}deploy/k8s/`;
type Obj = Record<string, any>; // parsed manifests: checked field by field below

function manifests(): Obj[] {
  const out: Obj[] = [];
  for (const f of readdirSync(K8S).filter((n) => n.endsWith('.yaml')).sort()) {
    // Kubernetes reads YAML 1.1 (0440 is octal there); parse the same way
    for (const doc of parseAllDocuments(readFileSync(K8S + f, 'utf8'), { version: '1.1' })) {
      assert.deepEqual(doc.errors, [], `${f}: ${doc.errors.join('; ')}`);
      const obj = doc.toJS() as Obj | null;
      if (obj !== null) out.push({ ...obj, __file: f });
    }
  }
  return out;
}

const portOf = (listen: string) => Number(listen.split(':').pop());

test('yamllint --strict passes on every manifest', async () => {
  const r = await runProcess('yamllint', ['--strict', '-f', 'parsable', '-c', `${ROOT}deploy/.yamllint.yaml`, K8S]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
});

test('manifests: kinds, replicas, probes on the metrics port of the ConfigMap config, a TCP LoadBalancer', () => {
  const all = manifests();
  const byKind = (kind: string) => all.filter((o) => o.kind === kind);
  assert.deepEqual([...new Set(all.map((o) => o.kind))].sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service']);
  for (const o of all) assert.equal(typeof o.metadata?.name, 'string', `${o.__file}: ${o.kind} has a name`);

  const [cm] = byKind('ConfigMap');
  const yamlText = cm.data['certgate.yaml'] as string;
  const config = parseConfigText(yamlText, 'certgate.yaml (ConfigMap)', '/etc/certgate/config');
  assert.ok(config.metrics, 'the config has a metrics listener (the probes need it)');
  assert.equal(config.metrics.listen.split(':')[0], '0.0.0.0', 'metrics binds the pod address so the kubelet reaches it');

  const [dep] = byKind('Deployment');
  assert.ok(dep.spec.replicas >= 2, 'several replicas');
  const pod = dep.spec.template.spec;
  assert.deepEqual(dep.spec.selector.matchLabels, dep.spec.template.metadata.labels);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  const [c] = pod.containers;
  const namedPort = (p: string | number) => (typeof p === 'number' ? p : c.ports.find((x: Obj) => x.name === p)?.containerPort);
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(namedPort(c.readinessProbe.httpGet.port), portOf(config.metrics.listen), 'readiness probes the metrics port');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(namedPort(c.livenessProbe.httpGet.port), portOf(config.metrics.listen));
  const listenPorts = config.servers.map((s) => portOf(s.listen));
  assert.deepEqual(c.ports.filter((p: Obj) => p.name !== 'metrics').map((p: Obj) => p.containerPort), listenPorts);

  // the config file the args name is the ConfigMap key, at its mount
  const cfgArg = c.args[c.args.indexOf('-c') + 1] as string;
  const mountOf = (path: string) => c.volumeMounts.find((m: Obj) => path.startsWith(m.mountPath + '/'));
  const cfgMount = mountOf(cfgArg);
  assert.ok(cfgMount?.readOnly);
  assert.equal(pod.volumes.find((v: Obj) => v.name === cfgMount.name).configMap.name, cm.metadata.name);
  assert.equal(posix.basename(cfgArg), 'certgate.yaml');

  // every file the config names is a key of the Secret, mounted read-only
  const [secret] = byKind('Secret');
  const files = config.servers.flatMap((s) => [s.tls!.cert, s.tls!.key, s.clientAuth!.ca, ...[s.clientAuth!.crl ?? []].flat().filter((e): e is string => typeof e === 'string')]);
  for (const f of files) {
    const m = mountOf(f);
    assert.ok(m?.readOnly, `${f} is on a read-only mount`);
    const vol = pod.volumes.find((v: Obj) => v.name === m.name);
    assert.equal(vol.secret.secretName, secret.metadata.name, `${f} comes from the Secret`);
    assert.ok(posix.relative(m.mountPath, f) in secret.stringData, `the Secret has ${posix.relative(m.mountPath, f)}`);
    assert.equal(vol.secret.defaultMode & 0o007, 0, 'no access for others');
  }

  const [svc] = byKind('Service');
  assert.equal(svc.spec.type, 'LoadBalancer');
  assert.deepEqual(svc.spec.selector, dep.spec.template.metadata.labels);
  assert.equal(svc.spec.ports.length, 1, 'only the TLS port is public; metrics stays off the Service');
  for (const p of svc.spec.ports) {
    assert.equal(p.protocol, 'TCP');
    assert.ok(listenPorts.includes(namedPort(p.targetPort)), 'the Service forwards to a certgate listener');
  }
  const [pdb] = byKind('PodDisruptionBudget');
  assert.ok(pdb.spec.minAvailable < dep.spec.replicas);
});

test('the ConfigMap check is real: a config the loader refuses fails it', () => {
  const [cm] = manifests().filter((o) => o.kind === 'ConfigMap');
  const broken = (cm.data['certgate.yaml'] as string).replace('listen: 0.0.0.0:9464', 'listen: 0.0.0.0:9464\n  port: 1');
  assert.throws(() => parseConfigText(broken, 'broken.yaml', '/'), { code: 'CG_CONFIG_UNKNOWN_KEY' });
});
