// planWorkers: how many processes a config gets, and why. Table-tested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../../src/config/load.ts';
import { planWorkers } from '../../../src/gateway/workers/count.ts';

const config = (workers: string, listen = '127.0.0.1:8443', metrics = '') => parseConfigText(`
${workers}
${metrics}
servers:
  - listen: ${listen}
    routes: [{path: /, upstream: "http://127.0.0.1:3000", public: true}]
`, 'certgate.yaml', '/tmp');

test('planWorkers table', () => {
  const rows: Array<[ReturnType<typeof config>, number, string, number, boolean, RegExp]> = [
    [config(''), 4, 'linux', 4, true, /workers: auto \(4 CPUs available\)/],
    [config('workers: auto'), 1, 'linux', 1, true, /1 CPU available/],
    [config('workers: 3'), 8, 'linux', 3, true, /workers: 3/],
    [config('workers: 1'), 8, 'linux', 1, true, /workers: 1/],
    [config('workers: 4', '127.0.0.1:0'), 8, 'linux', 1, true, /port 0/],
    [config('workers: 4', '127.0.0.1:8443', 'metrics: {listen: "127.0.0.1:0"}'), 8, 'linux', 1, true, /port 0/],
    [config('workers: 2'), 8, 'darwin', 2, false, /workers: 2/],
  ];
  for (const [cfg, cpus, platform, count, reusePort, why] of rows) {
    const plan = planWorkers(cfg, cpus, platform);
    assert.equal(plan.count, count, plan.why);
    assert.equal(plan.reusePort, reusePort);
    assert.match(plan.why, why);
  }
  assert.throws(() => config('workers: 0'), /workers/);
  assert.throws(() => config('workers: many'), /workers/);
});
