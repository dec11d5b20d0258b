/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for crypto/b64 (Go StdEncoding / RawURLEncoding compatibility) and keygen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/b64.h"
#include "crypto/keygen.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static void expect_decode(const char *in, const char *want, size_t want_len)
{
    struct strbuf out = STRBUF_INIT;
    struct rkc_error err;

    assert_int_equal(b64_decode(in, strlen(in), &out, &err), RKC_OK);
    assert_int_equal(out.len, want_len);
    assert_memory_equal(out.buf, want, want_len);
    strbuf_release(&out);
}

static void expect_bad(const char *in, size_t at)
{
    struct strbuf out = STRBUF_INIT;
    struct rkc_error err;
    char msg[64];

    strbuf_addstr(&out, "keep");
    assert_int_equal(b64_decode(in, strlen(in), &out, &err), RKC_EINVAL);
    snprintf(msg, sizeof(msg), "illegal base64 data at input byte %zu", at);
    assert_string_equal(err.msg, msg);
    assert_string_equal(out.buf, "keep");
    strbuf_release(&out);
}

static void test_decode_valid(void **state)
{
    (void)state;
    expect_decode("", "", 0);
    expect_decode("Zg==", "f", 1);
    expect_decode("Zm8=", "fo", 2);
    expect_decode("Zm9v", "foo", 3);
    expect_decode("Zm9vYmFy", "foobar", 6);
    expect_decode("c2VjcmV0IGlzIHNlY3VyZQ==", "secret is secure", 16);
    /* CR and LF anywhere are ignored, as in Go */
    expect_decode("Zm9v\r\nYmFy\n", "foobar", 6);
    expect_decode("Z\nm\r8\n=", "fo", 2);
    expect_decode("Zg=\n=", "f", 1);
    /* non-zero trailing bits are tolerated (not Strict) */
    expect_decode("Zh==", "f", 1);
    expect_decode("Zm9=", "fo", 2);
}

static void test_decode_invalid(void **state)
{
    (void)state;
    expect_bad("Zg", 2); /* padding is required */
    expect_bad("Zm8", 3);
    expect_bad("Z", 1);
    expect_bad("Zg=", 3);      /* incomplete padding */
    expect_bad("Zm9v!", 4);    /* not in the alphabet */
    expect_bad("Zm9v-_==", 4); /* URL alphabet */
    expect_bad("=Zg=", 0);
    expect_bad("Zg==Zg==", 4); /* data after padding */
    expect_bad("Zm9v Zg==", 4);
}

static void test_encode(void **state)
{
    struct strbuf out = STRBUF_INIT;
    uint8_t all[256];

    (void)state;
    b64_encode("", 0, &out);
    assert_string_equal(out.buf, "");
    b64_encode("f", 1, &out);
    strbuf_addch(&out, ' ');
    b64_encode("fo", 2, &out);
    strbuf_addch(&out, ' ');
    b64_encode("foobar", 6, &out);
    assert_string_equal(out.buf, "Zg== Zm8= Zm9vYmFy");
    assert_int_equal(b64_encoded_len(32), 44);
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t n = 0; n <= sizeof(all); n++) {
        struct strbuf enc = STRBUF_INIT, dec = STRBUF_INIT;

        b64_encode(all, n, &enc);
        assert_int_equal(enc.len, b64_encoded_len(n));
        assert_int_equal(b64_decode(enc.buf, enc.len, &dec, NULL), RKC_OK);
        assert_int_equal(dec.len, n);
        assert_memory_equal(dec.buf, all, n);
        strbuf_reset(&enc);
        strbuf_reset(&dec);
        b64url_encode(all, n, &enc);
        assert_null(memchr(enc.buf, '=', enc.len));
        assert_int_equal(b64url_decode(enc.buf, enc.len, &dec, NULL), RKC_OK);
        assert_int_equal(dec.len, n);
        assert_memory_equal(dec.buf, all, n);
        strbuf_release(&enc);
        strbuf_release(&dec);
    }
    strbuf_release(&out);
}

static void test_url(void **state)
{
    struct strbuf out = STRBUF_INIT;

    (void)state;
    b64url_encode("\xfb\xff", 2, &out);
    assert_string_equal(out.buf, "-_8");
    strbuf_reset(&out);
    assert_int_equal(b64url_decode("-_8", 3, &out, NULL), RKC_OK);
    assert_memory_equal(out.buf, "\xfb\xff", 2);
    assert_int_equal(b64url_decode("-_8=", 4, &out, NULL), RKC_EINVAL);
    assert_int_equal(b64url_decode("+/8", 3, &out, NULL), RKC_EINVAL);
    assert_int_equal(b64url_decode("A", 1, &out, NULL), RKC_EINVAL);
    strbuf_release(&out);
}

static void test_keygen_key(void **state)
{
    uint8_t a[32], b[32], zero[32] = { 0 };

    (void)state;
    assert_int_equal(keygen_aes_key(a, NULL), RKC_OK);
    assert_int_equal(keygen_aes_key(b, NULL), RKC_OK);
    assert_memory_not_equal(a, b, 32);
    assert_memory_not_equal(a, zero, 32);
}

static void test_keygen_name(void **state)
{
    const char *in_use[64];
    char names[64][KEYGEN_KEY_NAME_SIZE];

    (void)state;
    for (size_t i = 0; i < 64; i++) {
        assert_int_equal(keygen_key_name(names[i], in_use, i, NULL), RKC_OK);
        assert_int_equal(strlen(names[i]), 7);
        assert_memory_equal(names[i], "k-", 2);
        for (size_t j = 2; j < 7; j++)
            assert_true((names[i][j] >= 'a' && names[i][j] <= 'z') ||
                        (names[i][j] >= '0' && names[i][j] <= '9'));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
        in_use[i] = names[i];
    }
}

static void test_keygen_fingerprint(void **state)
{
    char fp[KEYGEN_FINGERPRINT_SIZE];

    (void)state;
    keygen_fingerprint("", 0, fp);
    assert_string_equal(fp, "e3b0c44298fc1c14"); /* sha256("") */
    keygen_fingerprint("abc", 3, fp);
    assert_string_equal(fp, "ba7816bf8f01cfea");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_invalid),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_keygen_key),
        cmocka_unit_test(test_keygen_name),
        cmocka_unit_test(test_keygen_fingerprint),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
