// Metrics of `ca serve` on a Registry of its own (never prom-client's global one, never mixed with the gateway's).
import { Counter, Gauge, Registry } from 'prom-client';

export interface CaServiceMetrics {
  registry: Registry;
  crlNumber: Gauge<'ca'>;
  crlThisUpdate: Gauge<'ca'>;
  crlNextUpdate: Gauge<'ca'>;
  crlNextRefresh: Gauge<'ca'>;
  published: Counter<'ca' | 'cause'>;
  publishFailures: Counter<'ca'>;
  changes: Counter<'ca'>;
  certificates: Gauge<'ca' | 'status'>;
  requests: Counter<'code'>;
  waiting: Gauge<string>;
}

/** Creates the metrics; nothing is registered anywhere but the returned registry. */
export function createCaServiceMetrics(): CaServiceMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    crlNumber: new Gauge({ name: 'certgate_ca_crl_number', help: 'Number of the CRL being served.', labelNames: ['ca'] as const, registers }),
    crlThisUpdate: new Gauge({ name: 'certgate_ca_crl_this_update_seconds', help: 'thisUpdate of the CRL being served (Unix time).', labelNames: ['ca'] as const, registers }),
    crlNextUpdate: new Gauge({ name: 'certgate_ca_crl_next_update_seconds', help: 'nextUpdate of the CRL being served (Unix time).', labelNames: ['ca'] as const, registers }),
    crlNextRefresh: new Gauge({ name: 'certgate_ca_crl_next_refresh_seconds', help: 'When the service re-signs the CRL next (Unix time).', labelNames: ['ca'] as const, registers }),
    published: new Counter({ name: 'certgate_ca_crl_published_total', help: 'CRLs the service signed, by cause (start, schedule, owed, parent).', labelNames: ['ca', 'cause'] as const, registers }),
    publishFailures: new Counter({ name: 'certgate_ca_crl_publish_failures_total', help: 'Failed attempts of the service to sign a CRL.', labelNames: ['ca'] as const, registers }),
    changes: new Counter({ name: 'certgate_ca_crl_changes_total', help: 'New CRLs noticed (signed by the service or by another process).', labelNames: ['ca'] as const, registers }),
    certificates: new Gauge({ name: 'certgate_ca_certificates', help: 'Certificates in the CA store by status (valid, revoked, expired).', labelNames: ['ca', 'status'] as const, registers }),
    requests: new Counter({ name: 'certgate_ca_serve_requests_total', help: 'HTTP responses of the service by status code.', labelNames: ['code'] as const, registers }),
    waiting: new Gauge({ name: 'certgate_ca_serve_waiting_requests', help: 'Long-poll requests being held.', registers }),
  };
}
