/* tests/fuzz/fuzz_admin.c — libFuzzer target: one HTTP request to the admin
 * API, through the very server `warden run` starts (adm_new: libmicrohttpd
 * on a loopback port, its routing, auth, body limits, /rules, mode changes
 * and reloads applied by a loop thread calling adm_poll, /replays jobs over
 * a small pack and a small JSONL file).
 * Input: byte 0 is flags (bit 0: add the right bearer token), then the
 * method on the first line, the URL on the second, header lines up to an
 * empty line, and the body.  Checks: every answer has a status the API or
 * libmicrohttpd documents, and nothing is 2xx without the right token
 * (health endpoints are closed here: admin.open_health = false).
 * Paths in bodies cannot leave the scratch directory ('/' and ".." are
 * replaced), so a job or a pack never walks the machine.
 *   build-fuzz/fuzz/fuzz_admin -max_total_time=60 tests/fuzz/corpus/admin */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "admin/adm.h"
#include "base/wd_buf.h"
#include "engine/eng_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "fuzz-token-0123456789"

static adm_t *adm;
static int port;
static eng_engine_t *eng;
static pthread_mutex_t eng_mu = PTHREAD_MUTEX_INITIALIZER;

static eng_engine_t *h_engine(void *ud)
{
    (void)ud;
    return eng;
}

static int h_reload(void *ud, char *err, size_t n)
{
    (void)ud;
    snprintf(err, n, "p/r.lua:1: reload refused by the fuzzer");
    return -1;
}

/* The loop thread of warden run, reduced to adm_poll between "batches". */
static void *loop(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&eng_mu);
        adm_host_t h = { .engine = h_engine, .reload = h_reload, .event_ts_ms = INT64_MIN, .instance = "fuzz" };
        adm_poll(adm, &h);
        pthread_mutex_unlock(&eng_mu);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static void setup(void)
{
    char dir[] = "/tmp/fuzz_admin.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0 || mkdir("p", 0700) != 0)
        abort();
    write_file("p/r.lua",
               "return { name = \"t.a\", version = 1, streams = { \"t\" }, mode = \"enforce\",\n"
               "  fields = { \"user\" },\n"
               "  evaluate = function(ev, ctx) if ev.user then return ctx.block{ entity = ev.user } end end }\n");
    wd_buf_t b = WD_BUF_INIT;
    for (int i = 0; i < 50; i++)
        wd_buf_printf(&b, "{\"type\":\"t\",\"id\":\"e%d\",\"ts\":\"2026-11-20T10:00:%02dZ\",\"user\":\"u%d\"}\n", i,
                      i % 60, i % 7);
    write_file("e.jsonl", b.data);
    wd_buf_free(&b);
    eng_opts_t eo;
    eng_opts_default(&eo);
    static char err[65536];
    if (!(eng = eng_engine_new(&eo, "p", err, sizeof err))) {
        fprintf(stderr, "fuzz_admin: the pack does not load: %s\n", err);
        abort();
    }
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    o.listen = "127.0.0.1:0";
    o.token = TOKEN;
    o.open_health = 0;
    o.replay_jobs_max = 2;
    o.replay_cpu_pct = 100;
    if (!(adm = adm_new(&o, err, sizeof err))) {
        fprintf(stderr, "fuzz_admin: %s\n", err);
        abort();
    }
    port = adm_port(adm);
    adm_engine_loaded(adm, eng);
    pthread_t th;
    if (pthread_create(&th, NULL, loop, NULL) != 0)
        abort();
    pthread_detach(th);
}

/* Copies src[0..n) to b, each byte in `bad` replaced by '_'. */
static void add_clean(wd_buf_t *b, const uint8_t *src, size_t n, const char *bad)
{
    for (size_t i = 0; i < n; i++)
        wd_buf_addc(b, src[i] && strchr(bad, src[i]) ? '_' : (char)src[i]);
}

/* A line of in[*pos..size) (without its '\n'); advances *pos. */
static size_t take_line(const uint8_t *in, size_t size, size_t *pos, const uint8_t **line)
{
    size_t s = *pos, e = s;
    while (e < size && in[e] != '\n')
        e++;
    *line = in + s;
    *pos = e < size ? e + 1 : e;
    return e - s;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!adm)
        setup();
    if (size < 1)
        return 0;
    int with_token = data[0] & 1;
    size_t pos = 1;
    const uint8_t *method, *url, *line;
    size_t ml = take_line(data, size, &pos, &method);
    size_t ul = take_line(data, size, &pos, &url);
    if (ml == 0 || ul == 0 || ml > 32 || ul > 4096)
        return 0;
    wd_buf_t req = WD_BUF_INIT;
    add_clean(&req, method, ml, " \r\n\t");
    wd_buf_addc(&req, ' ');
    add_clean(&req, url, ul, " \r\n\t");
    wd_buf_adds(&req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    int token_given = with_token;
    for (;;) {
        size_t ll = take_line(data, size, &pos, &line);
        if (ll == 0 || pos >= size)
            break;
        if (ll >= 14 && (memchr(line, ':', ll) == NULL || memmem(line, ll, "Content-Length", 14) ||
                         memmem(line, ll, "Transfer-Encoding", 17)))
            continue;   /* the harness owns the framing */
        if (memmem(line, ll, TOKEN, strlen(TOKEN)))
            token_given = 1;
        add_clean(&req, line, ll, "\r\n");
        wd_buf_adds(&req, "\r\n");
    }
    if (with_token)
        wd_buf_adds(&req, "Authorization: Bearer " TOKEN "\r\n");
    size_t blen = size - pos;
    wd_buf_printf(&req, "Content-Length: %zu\r\n\r\n", blen);
    /* A body's paths stay in the scratch directory. */
    wd_buf_t body = WD_BUF_INIT;
    add_clean(&body, data + pos, blen, "/");
    for (size_t i = 0; i + 1 < body.len; i++)
        if (body.data[i] == '.' && body.data[i + 1] == '.')
            body.data[i] = '_';
    if (body.len)
        wd_buf_add(&req, body.data, body.len);
    wd_buf_free(&body);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct timeval tv = { 40, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        abort();
    wd_buf_t resp = WD_BUF_INIT;
    if (send_all(fd, req.data, req.len) == 0) {
        char buf[4096];
        ssize_t r;
        while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
            wd_buf_add(&resp, buf, (size_t)r);
    }
    close(fd);
    wd_buf_free(&req);
    if (resp.len >= 12 && memcmp(resp.data, "HTTP/1.", 7) == 0) {
        int status = atoi(resp.data + 9);
        static const int known[] = { 200, 202, 400, 401, 404, 405, 409, 413, 414, 429, 431, 501, 503, 505, 0 };
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= status == known[i];
        if (!ok) {
            fprintf(stderr, "fuzz_admin: unexpected status %d:\n%.*s\n", status, (int)resp.len, resp.data);
            abort();
        }
        if (status >= 200 && status < 300 && !token_given) {
            fprintf(stderr, "fuzz_admin: %d without the token:\n%.*s\n", status, (int)resp.len, resp.data);
            abort();
        }
    }
    wd_buf_free(&resp);
    return 0;
}
