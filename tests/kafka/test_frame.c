/* tests/kafka/test_frame.c — the internal records of the repartitioned
 * path (kafka/kfk.h, kfk_frame_*): a format-2 frame reads back as written
 * (records, watermarks, idle marks), a format-1 record (headers, the value
 * all event) still reads, a damaged frame is no record, and the format-1
 * headers a dead letter gets say what the frame said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "base/wd_buf.h"
#include "kafka/kfk.h"

static const char EVENT[] = "{\"stream\":\"login\",\"user\":{\"id\":\"u1\"},\"ts\":\"2026-11-20T10:00:00Z\"}";
/* two carried values: slot 1 = 5, slot 7 = -2 */
static const unsigned char CV[24] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5,
                                     0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};

static kfk_frame_t a_record(void)
{
    kfk_frame_t f;
    memset(&f, 0, sizeof f);
    f.kind = KFK_POS_RECORD;
    f.pos.ts = 1795000000123;
    f.pos.part = 3;
    f.pos.off = 1ll << 40;
    f.src_topic = "events/raw";   /* a '/' in the name: format 1 had to cut from the right */
    f.src_topic_len = strlen(f.src_topic);
    f.src_partition = 11;
    f.src_offset = 987654321012;
    f.cv = CV;
    f.cv_len = sizeof CV;
    return f;
}

static void assert_same_record(const kfk_frame_t *got, const kfk_frame_t *want)
{
    assert_int_equal(got->kind, KFK_POS_RECORD);
    assert_int_equal(got->pos.ts, want->pos.ts);
    assert_int_equal(got->pos.part, want->pos.part);
    assert_int_equal(got->pos.off, want->pos.off);
    assert_non_null(got->src_topic);
    assert_int_equal(got->src_topic_len, want->src_topic_len);
    assert_memory_equal(got->src_topic, want->src_topic, want->src_topic_len);
    assert_int_equal(got->src_partition, want->src_partition);
    assert_int_equal(got->src_offset, want->src_offset);
    assert_int_equal(got->cv_len, want->cv_len);
    if (want->cv_len)
        assert_memory_equal(got->cv, want->cv, want->cv_len);
    else
        assert_null(got->cv);
    assert_int_equal(got->val_len, strlen(EVENT));
    assert_memory_equal(got->val, EVENT, strlen(EVENT));
}

static void test_record_frame_reads_back_as_written_and_the_event_follows_it(void **st)
{
    (void)st;
    kfk_frame_t f = a_record(), g;
    wd_buf_t b = WD_BUF_INIT;
    assert_int_equal(kfk_frame_put(&b, &f), 0);
    assert_int_equal(b.len, KFK_FRAME_FIXED + f.src_topic_len + f.cv_len);
    assert_int_equal((unsigned char)b.data[0], KFK_FRAME_MAGIC);
    wd_buf_add(&b, EVENT, strlen(EVENT));
    assert_int_equal(kfk_frame_parse(b.data, b.len, NULL, &g), KFK_POS_RECORD);
    assert_int_equal(g.format, 2);
    assert_same_record(&g, &f);
    assert_ptr_equal(g.val, b.data + b.len - strlen(EVENT));
    /* no carried values */
    f.cv = NULL;
    f.cv_len = 0;
    wd_buf_reset(&b);
    assert_int_equal(kfk_frame_put(&b, &f), 0);
    wd_buf_add(&b, EVENT, strlen(EVENT));
    assert_int_equal(kfk_frame_parse(b.data, b.len, NULL, &g), KFK_POS_RECORD);
    assert_same_record(&g, &f);
    wd_buf_free(&b);
}

static void test_watermark_and_idle_frames_read_back(void **st)
{
    (void)st;
    kfk_frame_t f, g;
    memset(&f, 0, sizeof f);
    f.kind = KFK_POS_WM;
    f.pos.ts = -5;   /* negative times survive */
    f.pos.part = 2;
    f.pos.off = 77;
    wd_buf_t b = WD_BUF_INIT;
    assert_int_equal(kfk_frame_put(&b, &f), 0);
    assert_int_equal(b.len, KFK_FRAME_FIXED);
    assert_int_equal(kfk_frame_parse(b.data, b.len, NULL, &g), KFK_POS_WM);
    assert_int_equal(g.pos.ts, -5);
    assert_int_equal(g.pos.part, 2);
    assert_int_equal(g.pos.off, 77);
    f.kind = KFK_POS_IDLE;
    wd_buf_reset(&b);
    assert_int_equal(kfk_frame_put(&b, &f), 0);
    assert_int_equal(kfk_frame_parse(b.data, b.len, NULL, &g), KFK_POS_IDLE);
    assert_true(g.pos.ts == INT64_MAX && g.pos.part == INT64_MAX && g.pos.off == INT64_MAX);
    wd_buf_free(&b);
}

static void test_damaged_frame_is_no_record(void **st)
{
    (void)st;
    kfk_frame_t f = a_record(), g;
    wd_buf_t b = WD_BUF_INIT;
    assert_int_equal(kfk_frame_put(&b, &f), 0);
    /* cut inside the fixed part, and inside the source topic */
    assert_int_equal(kfk_frame_parse(b.data, KFK_FRAME_FIXED - 1, NULL, &g), KFK_POS_NONE);
    assert_int_equal(kfk_frame_parse(b.data, KFK_FRAME_FIXED + 3, NULL, &g), KFK_POS_NONE);
    /* carried values not a multiple of 12 are refused by the writer */
    f.cv_len = 13;
    assert_int_equal(kfk_frame_put(&b, &f), -1);
    wd_buf_free(&b);
    /* a JSON value without headers is not an internal record */
    assert_int_equal(kfk_frame_parse(EVENT, strlen(EVENT), NULL, &g), KFK_POS_NONE);
}

static rd_kafka_headers_t *v1_headers(const kfk_frame_t *f)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char sb[300];
    snprintf(sb, sizeof sb, "%.*s/%d/%lld", (int)f->src_topic_len, f->src_topic, (int)f->src_partition,
             (long long)f->src_offset);
    rd_kafka_header_add(h, "warden.src", -1, sb, -1);
    kfk_pos_put(h, &f->pos);
    if (f->cv_len)
        rd_kafka_header_add(h, "warden.cv", -1, f->cv, (ssize_t)f->cv_len);
    return h;
}

static void test_format1_record_with_headers_still_reads(void **st)
{
    (void)st;
    kfk_frame_t f = a_record(), g;
    rd_kafka_headers_t *h = v1_headers(&f);
    assert_int_equal(kfk_frame_parse(EVENT, strlen(EVENT), h, &g), KFK_POS_RECORD);
    assert_int_equal(g.format, 1);
    assert_same_record(&g, &f);
    assert_ptr_equal(g.val, EVENT);   /* the whole value is the event */
    rd_kafka_headers_destroy(h);
    /* format-1 watermark and idle mark: empty value */
    h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "warden.wm", -1, "1", -1);
    kfk_pos_put(h, &f.pos);
    assert_int_equal(kfk_frame_parse(NULL, 0, h, &g), KFK_POS_WM);
    assert_int_equal(g.pos.off, f.pos.off);
    rd_kafka_headers_destroy(h);
    h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "warden.wm", -1, "idle", -1);
    assert_int_equal(kfk_frame_parse(NULL, 0, h, &g), KFK_POS_IDLE);
    rd_kafka_headers_destroy(h);
    /* no warden.pos: no record; no warden.src: a record without a source */
    h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "warden.src", -1, "in/0/1", -1);
    assert_int_equal(kfk_frame_parse(EVENT, strlen(EVENT), h, &g), KFK_POS_NONE);
    rd_kafka_headers_destroy(h);
    h = rd_kafka_headers_new(1);
    kfk_pos_put(h, &f.pos);
    assert_int_equal(kfk_frame_parse(EVENT, strlen(EVENT), h, &g), KFK_POS_RECORD);
    assert_null(g.src_topic);
    rd_kafka_headers_destroy(h);
}

static void test_dead_letter_headers_of_a_frame_read_as_the_same_record(void **st)
{
    (void)st;
    kfk_frame_t f = a_record(), g, d;
    wd_buf_t b = WD_BUF_INIT;
    assert_int_equal(kfk_frame_put(&b, &f), 0);
    wd_buf_add(&b, EVENT, strlen(EVENT));
    assert_int_equal(kfk_frame_parse(b.data, b.len, NULL, &g), KFK_POS_RECORD);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    kfk_frame_headers(&g, h);
    const void *v;
    size_t vl;
    assert_int_equal(rd_kafka_header_get_last(h, "warden.src", &v, &vl), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(vl, strlen("events/raw/11/987654321012"));
    assert_memory_equal(v, "events/raw/11/987654321012", vl);
    /* the dead letter's value is the event: with the headers, format 1 */
    assert_int_equal(kfk_frame_parse(g.val, g.val_len, h, &d), KFK_POS_RECORD);
    assert_int_equal(d.format, 1);
    assert_same_record(&d, &f);
    rd_kafka_headers_destroy(h);
    wd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_frame_reads_back_as_written_and_the_event_follows_it),
        cmocka_unit_test(test_watermark_and_idle_frames_read_back),
        cmocka_unit_test(test_damaged_frame_is_no_record),
        cmocka_unit_test(test_format1_record_with_headers_still_reads),
        cmocka_unit_test(test_dead_letter_headers_of_a_frame_read_as_the_same_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
