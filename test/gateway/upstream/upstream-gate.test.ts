// The upstream gate on its own: slots, the bounded queue, its wait limit, and places given back on every path
// (including a release from inside `run`, before enter() has returned).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamGate } from '../../../src/gateway/upstream/upstream-pool.ts';
import type { GatePass } from '../../../src/gateway/upstream/upstream-pool.ts';

test('runs up to max at once, queues up to queueMax, refuses the rest as queue full', () => {
  const gate = new UpstreamGate(2, 1, 10_000);
  const ran: number[] = [];
  const refused: string[] = [];
  const passes = [0, 1, 2, 3].map((i) => gate.enter(() => ran.push(i), (why) => refused.push(`${i}:${why}`)));
  assert.deepEqual(ran, [0, 1]);
  assert.deepEqual(refused, ['3:upstream_queue_full']);
  assert.equal(gate.active, 2);
  assert.equal(gate.queued, 1);
  passes[0].release();
  assert.deepEqual(ran, [0, 1, 2], 'the queued request runs when a slot frees up');
  assert.equal(gate.queued, 0);
  for (const p of passes) p.release();
  assert.equal(gate.active, 0);
});

test('a release from inside run (a synchronous failure) gives the slot back', () => {
  const gate = new UpstreamGate(1, 0, 10_000);
  gate.enter((pass: GatePass) => pass.release(), () => assert.fail('not refused'));
  assert.equal(gate.active, 0);
  let ran = false;
  gate.enter(() => (ran = true), () => assert.fail('the slot was given back'));
  assert.equal(ran, true);
});

test('a request that leaves while queued gives up its place; one that waits too long is refused', async () => {
  const gate = new UpstreamGate(1, 2, 150);
  const holder = gate.enter(() => undefined, () => assert.fail());
  const leaving = gate.enter(() => assert.fail('left before its turn'), () => assert.fail('left, not refused'));
  const refused: string[] = [];
  gate.enter(() => assert.fail('never gets a slot'), (why) => refused.push(why));
  assert.equal(gate.queued, 2);
  leaving.release();
  assert.equal(gate.queued, 1);
  await sleep(300);
  assert.deepEqual(refused, ['upstream_queue_timeout']);
  assert.equal(gate.queued, 0);
  holder.release();
  assert.equal(gate.active, 0);
});
