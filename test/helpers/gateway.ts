// Test helper: runs a real gateway in-process from YAML text (through the real config loader), on 127.0.0.1:0,
// with its log lines captured; closed by the test's `t.after`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import type { GatewayMetrics } from '../../src/observability/metrics.ts';
import { createGateway } from '../../src/gateway/gateway.ts';
import type { Gateway, BoundAddress } from '../../src/gateway/gateway.ts';

export interface TestGateway {
  gateway: Gateway;
  metrics: GatewayMetrics;
  addresses: BoundAddress[];
  /** Port of the first listener. */
  port: number;
  /** Parsed log lines, in order. */
  logs: Array<Record<string, unknown>>;
  /** Raw log text (for redaction greps). */
  rawLogs(): string;
  /** Log lines with this event name. */
  events(event: string): Array<Record<string, unknown>>;
  configPath: string;
}

/** Writes `yaml` to dir/certgate.yaml, loads it and starts the gateway. */
export async function startGateway(t: { after(fn: () => unknown): void }, dir: string, yaml: string): Promise<TestGateway> {
  const configPath = join(dir, 'certgate.yaml');
  writeFileSync(configPath, yaml);
  const config = parseConfigText(yaml, configPath, dir);
  const lines: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    destination: {
      write(s: string) {
        lines.push(s);
        logs.push(JSON.parse(s));
      },
    },
  });
  const metrics = createMetrics({ processMetrics: false });
  const gateway = createGateway(config, { logger, metrics });
  const addresses = await gateway.start();
  t.after(() => gateway.stop(500));
  return {
    gateway,
    metrics,
    addresses,
    port: addresses[0].port,
    logs,
    rawLogs: () => lines.join(''),
    events: (event) => logs.filter((l) => l.event === event),
    configPath,
  };
}

/** Reloads the gateway from new YAML text (throws like the real reload). */
export async function reloadGateway(gw: TestGateway, dir: string, yaml: string): Promise<void> {
  writeFileSync(gw.configPath, yaml);
  await gw.gateway.reload(parseConfigText(yaml, gw.configPath, dir));
}
