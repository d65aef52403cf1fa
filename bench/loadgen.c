/* certgate bench load generator: mutual-TLS HTTP/1.1 client (OpenSSL + epoll), one thread, one JSON line out.
 *
 * Why C: a full mTLS handshake costs the client about as much as the server (it signs CertificateVerify), so a
 * Node client on one core cannot drive a C server on the other. This one spends nothing beyond OpenSSL's own work.
 *
 * Modes
 *   handshake  every request on a new TCP + TLS connection, no session resumption (no session is ever offered;
 *              the count of resumed handshakes is reported and must be 0)
 *   keepalive  --conns connections, each sending one request after another (HTTP/1.1 keep-alive)
 *   idle       open --conns connections (handshake + one request each), print a "ready" line, hold them until
 *              stdin closes (or --hold-max seconds), then print the final line
 *
 * Build: gcc -O2 -o loadgen loadgen.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MODE_HANDSHAKE, MODE_KEEPALIVE, MODE_IDLE };
enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_WRITING, ST_READING, ST_IDLE };
#define BUF_SIZE 65536
#define MAX_WATCH 64

typedef struct {
  int fd;
  SSL *ssl;
  int state;
  size_t len, wpos;
  uint64_t t_conn, t_req;
  char buf[BUF_SIZE];
} conn_t;

static int mode = MODE_KEEPALIVE, nconns = 64, parallel = 64, verify = 0;
static double duration = 5, warmup = 1, hold_max = 120;
static const char *host = "127.0.0.1", *sni = "localhost", *path = "/", *cert = NULL, *key = NULL, *ca = NULL;
static int port = 0;
static int watch_pids[MAX_WATCH], nwatch = 0;

static SSL_CTX *ctx;
static int ep;
static conn_t *conns;
static char request[1024];
static size_t request_len;
static struct sockaddr_in addr;

/* counters: measured = true once warm-up is over */
static int measuring = 0, stopping = 0;
static uint64_t ok2xx = 0, non2xx = 0, errors = 0, resumed = 0, handshakes = 0, reconnects = 0;
static uint64_t opened = 0, failed = 0, started = 0; /* idle mode */
static uint32_t *lat = NULL;
static size_t nlat = 0, caplat = 0;
static char tls_version[32] = "", tls_cipher[64] = "", peer_key[16] = "", last_error[256] = "";

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record_latency(uint64_t ns) {
  if (!measuring) return;
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 65536;
    lat = realloc(lat, caplat * sizeof *lat);
    if (!lat) { perror("realloc"); exit(2); }
  }
  lat[nlat++] = (uint32_t)(ns / 1000);
}

static void note_error(const char *what) {
  if (measuring || mode == MODE_IDLE) errors++;
  unsigned long e = ERR_peek_last_error();
  if (e) {
    char ebuf[200];
    ERR_error_string_n(e, ebuf, sizeof ebuf);
    snprintf(last_error, sizeof last_error, "%s: %s", what, ebuf);
  } else {
    snprintf(last_error, sizeof last_error, "%s: %s", what, errno ? strerror(errno) : "closed");
  }
  ERR_clear_error();
}

static void conn_close(conn_t *c) {
  if (c->ssl) {
    SSL_shutdown(c->ssl); /* sends close_notify, does not wait for the peer's */
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = ST_FREE;
}

static int conn_open(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) { note_error("socket"); return -1; }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->len = c->wpos = 0;
  c->t_conn = now_ns();
  c->state = ST_CONNECTING;
  int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
  if (r < 0 && errno != EINPROGRESS) { note_error("connect"); close(c->fd); c->fd = -1; c->state = ST_FREE; return -1; }
  c->ssl = SSL_new(ctx);
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_tlsext_host_name(c->ssl, sni);
  SSL_set_connect_state(c->ssl);
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  if (r == 0) c->state = ST_HANDSHAKE;
  return 0;
}

/* Returns 1 when buf holds one complete response; sets *status and *close_after. 0 = need more, -1 = bad. */
static int parse_response(conn_t *c, int *status, int *close_after) {
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!end) return c->len >= BUF_SIZE ? -1 : 0;
  size_t hdr_len = (size_t)(end - c->buf) + 4;
  if (c->len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(c->buf + 9);
  long clen = -1;
  int chunked = 0;
  *close_after = 0;
  for (char *line = memchr(c->buf, '\n', hdr_len); line && line < end; line = memchr(line, '\n', (size_t)(end - line))) {
    line++;
    if (!strncasecmp(line, "content-length:", 15)) clen = strtol(line + 15, NULL, 10);
    else if (!strncasecmp(line, "transfer-encoding:", 18) && strcasestr(line, "chunked") && strcasestr(line, "chunked") < end) chunked = 1;
    else if (!strncasecmp(line, "connection:", 11)) {
      char *nl = memchr(line, '\n', (size_t)(end - line) + 1);
      if (nl && memmem(line, (size_t)(nl - line), "close", 5)) *close_after = 1;
    }
  }
  size_t body = c->len - hdr_len;
  if (chunked) {
    /* fixed small bodies: complete once the last-chunk marker ends the buffer */
    if (body >= 5 && memcmp(c->buf + c->len - 5, "0\r\n\r\n", 5) == 0 && (body == 5 || c->buf[c->len - 6] == '\n')) return 1;
    return c->len >= BUF_SIZE ? -1 : 0;
  }
  if (clen < 0) clen = 0; /* no body framing on a 1xx/204/304, or a bodyless error */
  return body >= (size_t)clen ? 1 : 0;
}

static void start_request(conn_t *c) {
  c->state = ST_WRITING;
  c->wpos = 0;
  c->len = 0;
  c->t_req = now_ns();
}

static void restart(conn_t *c) {
  conn_close(c);
  if (!stopping && mode != MODE_IDLE) conn_open(c);
}

static void on_handshake_done(conn_t *c) {
  if (measuring) handshakes++;
  if (SSL_session_reused(c->ssl)) resumed++;
  if (!tls_version[0]) {
    snprintf(tls_version, sizeof tls_version, "%s", SSL_get_version(c->ssl));
    snprintf(tls_cipher, sizeof tls_cipher, "%s", SSL_get_cipher_name(c->ssl));
    X509 *pc = SSL_get1_peer_certificate(c->ssl);
    if (pc) {
      int id = EVP_PKEY_get_base_id(X509_get0_pubkey(pc));
      snprintf(peer_key, sizeof peer_key, "%s", id == EVP_PKEY_EC ? "EC" : id == EVP_PKEY_RSA ? "RSA" : "other");
      X509_free(pc);
    }
  }
}

/* Runs the state machine until OpenSSL or the socket wants to wait. */
static void drive(conn_t *c) {
  for (;;) {
    int r, err;
    switch (c->state) {
    case ST_CONNECTING: {
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
      if (soerr) { errno = soerr; note_error("connect"); if (mode == MODE_IDLE) failed++; restart(c); return; }
      c->state = ST_HANDSHAKE;
      break;
    }
    case ST_HANDSHAKE:
      ERR_clear_error();
      r = SSL_do_handshake(c->ssl);
      if (r == 1) { on_handshake_done(c); start_request(c); break; }
      err = SSL_get_error(c->ssl, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
      note_error("handshake");
      if (mode == MODE_IDLE) failed++;
      restart(c);
      return;
    case ST_WRITING:
      ERR_clear_error();
      r = SSL_write(c->ssl, request + c->wpos, (int)(request_len - c->wpos));
      if (r > 0) { c->wpos += (size_t)r; if (c->wpos == request_len) c->state = ST_READING; break; }
      err = SSL_get_error(c->ssl, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
      note_error("write");
      if (mode == MODE_IDLE) failed++;
      restart(c);
      return;
    case ST_READING: {
      ERR_clear_error();
      r = SSL_read(c->ssl, c->buf + c->len, (int)(BUF_SIZE - c->len));
      if (r <= 0) {
        err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
        /* closed before a complete response (a TLS alert after a refused certificate lands here too) */
        note_error(c->len ? "read (partial response)" : "read");
        if (mode == MODE_IDLE) failed++;
        restart(c);
        return;
      }
      c->len += (size_t)r;
      int status = 0, close_after = 0;
      int p = parse_response(c, &status, &close_after);
      if (p == 0) break;
      if (p < 0) { note_error("bad response"); if (mode == MODE_IDLE) failed++; restart(c); return; }
      uint64_t t = now_ns();
      if (measuring || mode == MODE_IDLE) {
        if (status >= 200 && status < 300) ok2xx++; else non2xx++;
      }
      record_latency(t - (mode == MODE_HANDSHAKE ? c->t_conn : c->t_req));
      if (mode == MODE_IDLE) { opened++; c->state = ST_IDLE; return; }
      if (mode == MODE_HANDSHAKE || close_after) {
        if (mode == MODE_KEEPALIVE && measuring) reconnects++;
        restart(c);
        return;
      }
      if (stopping) return;
      start_request(c);
      break;
    }
    case ST_IDLE:
    case ST_FREE:
    default:
      return;
    }
  }
}

static double cpu_ticks(int pid) {
  char p[64], buf[1024];
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  FILE *f = fopen(p, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *s = strrchr(buf, ')');
  if (!s) return -1;
  unsigned long ut = 0, st = 0;
  /* fields after the command: state(3) ... utime(14) stime(15) */
  if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* per-CPU jiffies from /proc/stat: busy (user..softirq), steal and irq+softirq, for cpu0 and cpu1 */
static int cpu_stat(unsigned long long busy[2], unsigned long long total[2], unsigned long long steal[2], unsigned long long soft[2]) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    int id;
    unsigned long long u, n, s, idle, io, irq, sirq, st;
    if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &id, &u, &n, &s, &idle, &io, &irq, &sirq, &st) == 9 && id >= 0 && id < 2) {
      busy[id] = u + n + s + irq + sirq;
      steal[id] = st;
      soft[id] = irq + sirq; /* kernel packet work: charged to no process, so shown apart */
      total[id] = u + n + s + idle + io + irq + sirq + st;
      found++;
    }
  }
  fclose(f);
  return found == 2 ? 0 : -1;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(double q) {
  if (!nlat) return 0;
  size_t i = (size_t)(q * (double)(nlat - 1) + 0.5);
  return lat[i] / 1000.0;
}

static void usage(void) {
  fprintf(stderr, "usage: loadgen --mode handshake|keepalive|idle --port P --cert F --key F [--host 127.0.0.1] [--sni localhost]\n"
                  "               [--path /] [--conns 64] [--parallel 64] [--duration 5] [--warmup 1] [--hold-max 120]\n"
                  "               [--ca F --verify] [--watch PID]...\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && ++i)
    if (ARG("--mode")) mode = !strcmp(v, "handshake") ? MODE_HANDSHAKE : !strcmp(v, "idle") ? MODE_IDLE : !strcmp(v, "keepalive") ? MODE_KEEPALIVE : -1;
    else if (ARG("--host")) host = v;
    else if (ARG("--sni")) sni = v;
    else if (ARG("--port")) port = atoi(v);
    else if (ARG("--path")) path = v;
    else if (ARG("--cert")) cert = v;
    else if (ARG("--key")) key = v;
    else if (ARG("--ca")) ca = v;
    else if (ARG("--conns")) nconns = atoi(v);
    else if (ARG("--parallel")) parallel = atoi(v);
    else if (ARG("--duration")) duration = atof(v);
    else if (ARG("--warmup")) warmup = atof(v);
    else if (ARG("--hold-max")) hold_max = atof(v);
    else if (ARG("--watch")) { if (nwatch < MAX_WATCH) watch_pids[nwatch++] = atoi(v); }
    else if (!strcmp(a, "--verify")) verify = 1;
    else usage();
#undef ARG
  }
  if (mode < 0 || !port || !cert || !key || nconns < 1 || parallel < 1 || (verify && !ca)) usage();
}

static SSL_CTX *make_ctx(void) {
  SSL_CTX *c = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  /* no resumption: never cache or offer a session, ask for no tickets */
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  static const unsigned char alpn[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
  SSL_CTX_set_alpn_protos(c, alpn, sizeof alpn);
  if (SSL_CTX_use_certificate_chain_file(c, cert) != 1 || SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    exit(2);
  }
  if (verify) {
    if (SSL_CTX_load_verify_locations(c, ca, NULL) != 1) { ERR_print_errors_fp(stderr); exit(2); }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
  } else {
    /* the server is under test, not the client: skipping the server-cert check keeps the client's cost down */
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
  }
  return c;
}

static const char *mode_name(void) { return mode == MODE_HANDSHAKE ? "handshake" : mode == MODE_IDLE ? "idle" : "keepalive"; }

static void print_common(double secs) {
  printf("\"mode\":\"%s\",\"seconds\":%.3f,\"ok2xx\":%llu,\"non2xx\":%llu,\"errors\":%llu,\"handshakes\":%llu,\"resumed\":%llu,"
         "\"reconnects\":%llu,\"tlsVersion\":\"%s\",\"cipher\":\"%s\",\"serverKey\":\"%s\"",
         mode_name(), secs, (unsigned long long)ok2xx, (unsigned long long)non2xx, (unsigned long long)errors,
         (unsigned long long)handshakes, (unsigned long long)resumed, (unsigned long long)reconnects, tls_version, tls_cipher, peer_key);
  printf(",\"lastError\":\"");
  for (const char *s = last_error; *s; s++) if (*s != '"' && *s != '\\' && (unsigned char)*s >= 32) putchar(*s);
  printf("\"");
}

static void run_idle(void) {
  uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(60 * 1e9);
  struct epoll_event evs[256];
  int active = 0;
  for (;;) {
    /* open up to --parallel connections at a time until --conns have been tried */
    active = 0;
    for (int i = 0; i < nconns; i++) if (conns[i].state != ST_FREE && conns[i].state != ST_IDLE) active++;
    while (started < (uint64_t)nconns && active < parallel) {
      conn_t *c = &conns[started++];
      if (conn_open(c) == 0) { active++; if (c->state == ST_HANDSHAKE) drive(c); } else failed++;
    }
    if (opened + failed >= (uint64_t)nconns || now_ns() > deadline) break;
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; i++) drive(evs[i].data.ptr);
  }
  printf("{\"ready\":true,\"open\":%llu,\"failed\":%llu,\"ok2xx\":%llu,\"seconds\":%.3f}\n", (unsigned long long)opened,
         (unsigned long long)failed, (unsigned long long)ok2xx, (now_ns() - t0) / 1e9);
  fflush(stdout);
  /* hold: wait for stdin to close (the harness has read RSS), bounded by --hold-max */
  struct epoll_event sev = { .events = EPOLLIN | EPOLLHUP, .data.ptr = NULL };
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
  uint64_t hold_end = now_ns() + (uint64_t)(hold_max * 1e9);
  int stdin_done = 0;
  while (!stdin_done && now_ns() < hold_end) {
    int n = epoll_wait(ep, evs, 256, 200);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        char b[256];
        ssize_t r = read(0, b, sizeof b);
        if (r <= 0) stdin_done = 1;
      } else {
        /* a server closing an idle connection shows here: count it, do not reopen */
        conn_t *c = evs[i].data.ptr;
        if (c->state == ST_IDLE) {
          char b[256];
          int r = SSL_read(c->ssl, b, sizeof b);
          if (r <= 0) {
            int err = SSL_get_error(c->ssl, r);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) { conn_close(c); failed++; opened--; }
          }
        } else {
          drive(c);
        }
      }
    }
  }
  uint64_t still = 0;
  for (int i = 0; i < nconns; i++) if (conns[i].state == ST_IDLE) still++;
  printf("{");
  print_common((now_ns() - t0) / 1e9);
  printf(",\"open\":%llu,\"stillOpenAtEnd\":%llu,\"failed\":%llu}\n", (unsigned long long)opened, (unsigned long long)still,
         (unsigned long long)failed);
  for (int i = 0; i < nconns; i++) if (conns[i].state != ST_FREE) conn_close(&conns[i]);
}

static void run_load(void) {
  uint64_t t0 = now_ns();
  uint64_t t_measure = t0 + (uint64_t)(warmup * 1e9), t_end = t_measure + (uint64_t)(duration * 1e9);
  double cpu0[MAX_WATCH], self0 = 0;
  unsigned long long b0[2] = {0}, t0s[2] = {0}, s0[2] = {0}, q0[2] = {0}, b1[2] = {0}, t1s[2] = {0}, s1[2] = {0}, q1[2] = {0};
  uint64_t m0 = 0;
  for (int i = 0; i < nconns; i++) {
    if (conn_open(&conns[i]) == 0 && conns[i].state == ST_HANDSHAKE) drive(&conns[i]);
  }
  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    if (!measuring && t >= t_measure) {
      measuring = 1;
      m0 = t;
      self0 = self_cpu();
      for (int i = 0; i < nwatch; i++) cpu0[i] = cpu_ticks(watch_pids[i]);
      cpu_stat(b0, t0s, s0, q0);
    }
    if (t >= t_end) break;
    int n = epoll_wait(ep, evs, 256, 50);
    for (int i = 0; i < n; i++) drive(evs[i].data.ptr);
    /* a slot whose reconnect failed synchronously is retried here */
    for (int i = 0; i < nconns; i++) if (conns[i].state == ST_FREE) conn_open(&conns[i]);
  }
  stopping = 1;
  uint64_t m1 = now_ns();
  double secs = (m1 - m0) / 1e9;
  double selfcpu = self_cpu() - self0;
  cpu_stat(b1, t1s, s1, q1);
  qsort(lat, nlat, sizeof *lat, cmp_u32);
  uint64_t done = ok2xx + non2xx; /* "rps" counts 2xx only: a target answering errors fast must not look fast */
  printf("{");
  print_common(secs);
  printf(",\"conns\":%d,\"requests\":%llu,\"rps\":%.1f,\"p50ms\":%.3f,\"p90ms\":%.3f,\"p99ms\":%.3f,\"maxms\":%.3f,\"selfCpu\":%.3f,\"watchCpu\":{",
         nconns, (unsigned long long)done, ok2xx / secs, pct(0.5), pct(0.9), pct(0.99), nlat ? lat[nlat - 1] / 1000.0 : 0, selfcpu / secs);
  for (int i = 0; i < nwatch; i++) {
    double c1 = cpu_ticks(watch_pids[i]);
    printf("%s\"%d\":%.3f", i ? "," : "", watch_pids[i], c1 < 0 || cpu0[i] < 0 ? -1.0 : (c1 - cpu0[i]) / secs);
  }
  printf("},\"coreBusy\":[");
  for (int i = 0; i < 2; i++) {
    double tot = (double)(t1s[i] - t0s[i]);
    printf("%s%.3f", i ? "," : "", tot > 0 ? (double)(b1[i] - b0[i]) / tot : -1.0);
  }
  printf("],\"coreSteal\":[");
  for (int i = 0; i < 2; i++) {
    double tot = (double)(t1s[i] - t0s[i]);
    printf("%s%.3f", i ? "," : "", tot > 0 ? (double)(s1[i] - s0[i]) / tot : -1.0);
  }
  printf("],\"coreSoftirq\":[");
  for (int i = 0; i < 2; i++) {
    double tot = (double)(t1s[i] - t0s[i]);
    printf("%s%.3f", i ? "," : "", tot > 0 ? (double)(q1[i] - q0[i]) / tot : -1.0);
  }
  printf("]}\n");
  for (int i = 0; i < nconns; i++) if (conns[i].state != ST_FREE) conn_close(&conns[i]);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  parse_args(argc, argv);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "loadgen: --host must be an IPv4 address\n"); return 2; }
  request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: certgate-bench\r\nAccept: */*\r\n\r\n", path, sni);
  ctx = make_ctx();
  ep = epoll_create1(0);
  conns = calloc((size_t)nconns, sizeof *conns);
  if (!conns) { perror("calloc"); return 2; }
  for (int i = 0; i < nconns; i++) { conns[i].fd = -1; conns[i].state = ST_FREE; }
  if (mode == MODE_IDLE) run_idle(); else run_load();
  fflush(stdout);
  return 0;
}
