/* Cost math against hand-computed figures: plain, prompt-cache reads (OpenAI/Gemini style: cached
 * tokens are part of input_tokens), cache writes (Anthropic), missing cache prices, missing
 * prices or usage, contradictory counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "pricing/pricing.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) <= 1e-12)

static llmux_model_info prices(double in, double out, double read, double write) {
    llmux_model_info m = {.id = "p/m", .context_length = -1, .max_output_tokens = -1, .input_price = in,
                          .output_price = out, .cache_read_price = read, .cache_write_price = write};
    return m;
}

static llmux_usage usage(int64_t in, int64_t out, int64_t cached, int64_t written) {
    llmux_usage u = llmux_usage_default();
    u.input_tokens = in;
    u.output_tokens = out;
    u.cached_input_tokens = cached;
    u.cache_write_tokens = written;
    return u;
}

static void test_plain(void **state) {
    (void)state;
    llmux_model_info m = prices(2.5, 10.0, NAN, NAN);
    llmux_usage u = usage(1000, 500, -1, -1);
    llmux_cost c;
    unsigned approx = 99;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, &approx), LX_PRICE_OK);
    assert_true(c.known);
    NEAR(c.input, 0.0025);
    NEAR(c.output, 0.005);
    NEAR(c.cache_read, 0);
    NEAR(c.cache_write, 0);
    NEAR(c.total, 0.0075);
    assert_int_equal(approx, 0);
}

/* 687 prompt tokens of which 679 cached (the shape of a real OpenRouter/xAI recording). */
static void test_cache_read(void **state) {
    (void)state;
    llmux_model_info m = prices(3.0, 15.0, 0.75, NAN);
    llmux_usage u = usage(687, 187, 679, 0);
    llmux_cost c;
    unsigned approx;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, &approx), LX_PRICE_OK);
    NEAR(c.input, 8 * 3.0 / 1e6);
    NEAR(c.cache_read, 679 * 0.75 / 1e6);
    NEAR(c.output, 187 * 15.0 / 1e6);
    NEAR(c.total, (8 * 3.0 + 679 * 0.75 + 187 * 15.0) / 1e6);
    assert_int_equal(approx, 0);
}

/* Anthropic: 3 uncached + 2000 written + 10000 read. */
static void test_cache_write(void **state) {
    (void)state;
    llmux_model_info m = prices(3.0, 15.0, 0.30, 3.75);
    llmux_usage u = usage(12003, 50, 10000, 2000);
    llmux_cost c;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, NULL), LX_PRICE_OK);
    NEAR(c.input, 3 * 3.0 / 1e6);
    NEAR(c.cache_read, 10000 * 0.30 / 1e6);
    NEAR(c.cache_write, 2000 * 3.75 / 1e6);
    NEAR(c.output, 50 * 15.0 / 1e6);
}

/* Hour-long writes (Anthropic's ttl "1h") at twice the input price; the rest at the cache-write
 * price. */
static void test_cache_write_1h(void **state) {
    (void)state;
    llmux_model_info m = prices(3.0, 15.0, 0.30, 3.75);
    llmux_usage u = usage(12003, 50, 10000, 2000);
    u.cache_write_1h_tokens = 1500;
    llmux_cost c;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, NULL), LX_PRICE_OK);
    NEAR(c.input, 3 * 3.0 / 1e6);
    NEAR(c.cache_write, (500 * 3.75 + 1500 * 6.0) / 1e6);
    NEAR(c.total, (3 * 3.0 + 10000 * 0.30 + 500 * 3.75 + 1500 * 6.0 + 50 * 15.0) / 1e6);
    /* A count above the writes is clamped to them. */
    u.cache_write_1h_tokens = 5000;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, NULL), LX_PRICE_OK);
    NEAR(c.cache_write, 2000 * 6.0 / 1e6);
}

/* Server-tool web searches at Anthropic's $10 per 1,000, on top of the tokens; none or unknown
 * costs nothing. */
static void test_web_searches(void **state) {
    (void)state;
    llmux_model_info m = prices(3.0, 15.0, 0.30, 3.75);
    llmux_usage u = usage(10682, 510, 0, 0);
    u.web_search_requests = 3;
    llmux_cost c;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, NULL), LX_PRICE_OK);
    NEAR(c.tools, 0.03);
    NEAR(c.total, (10682 * 3.0 + 510 * 15.0) / 1e6 + 0.03);
    u.web_search_requests = -1;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, NULL), LX_PRICE_OK);
    NEAR(c.tools, 0);
    NEAR(c.total, (10682 * 3.0 + 510 * 15.0) / 1e6);
}

static void test_missing_cache_prices_fall_back(void **state) {
    (void)state;
    llmux_model_info m = prices(1.0, 2.0, NAN, NAN);
    llmux_usage u = usage(100, 10, 40, 20);
    llmux_cost c;
    unsigned approx;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, &approx), LX_PRICE_OK);
    assert_int_equal(approx, LX_PRICE_APPROX_CACHE_READ | LX_PRICE_APPROX_CACHE_WRITE);
    NEAR(c.input, 40 / 1e6);
    NEAR(c.cache_read, 40 / 1e6);
    NEAR(c.cache_write, 20 / 1e6);
    /* No cached tokens: no approximation, whatever the prices. */
    u = usage(100, 10, 0, -1);
    assert_int_equal(lx_pricing_cost(&m, &u, &c, &approx), LX_PRICE_OK);
    assert_int_equal(approx, 0);
    NEAR(c.total, 120 / 1e6);
}

static void test_unknowns(void **state) {
    (void)state;
    llmux_cost c;
    llmux_usage u = usage(10, 10, -1, -1);
    llmux_model_info no_in = prices(NAN, 1.0, 1.0, 1.0);
    llmux_model_info no_out = prices(1.0, NAN, 1.0, 1.0);
    assert_int_equal(lx_pricing_cost(&no_in, &u, &c, NULL), LX_PRICE_NO_PRICE);
    assert_false(c.known);
    assert_int_equal(lx_pricing_cost(&no_out, &u, &c, NULL), LX_PRICE_NO_PRICE);
    assert_int_equal(lx_pricing_cost(NULL, &u, &c, NULL), LX_PRICE_NO_PRICE);
    llmux_model_info ok = prices(1.0, 1.0, NAN, NAN);
    llmux_usage no_in_tokens = usage(-1, 10, -1, -1);
    llmux_usage no_out_tokens = usage(10, -1, -1, -1);
    assert_int_equal(lx_pricing_cost(&ok, &no_in_tokens, &c, NULL), LX_PRICE_NO_USAGE);
    assert_false(c.known);
    assert_int_equal(lx_pricing_cost(&ok, &no_out_tokens, &c, NULL), LX_PRICE_NO_USAGE);
    assert_int_equal(lx_pricing_cost(&ok, NULL, &c, NULL), LX_PRICE_NO_USAGE);
}

/* More cached than input tokens (a server's bookkeeping slip): no negative input cost. */
static void test_contradictory_counts(void **state) {
    (void)state;
    llmux_model_info m = prices(1.0, 1.0, 0.5, 2.0);
    llmux_usage u = usage(10, 0, 30, 0);
    llmux_cost c;
    assert_int_equal(lx_pricing_cost(&m, &u, &c, NULL), LX_PRICE_OK);
    NEAR(c.input, 0);
    NEAR(c.cache_read, 15 / 1e6);
    assert_true(c.total >= 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_cache_read),
        cmocka_unit_test(test_cache_write),
        cmocka_unit_test(test_cache_write_1h),
        cmocka_unit_test(test_web_searches),
        cmocka_unit_test(test_missing_cache_prices_fall_back),
        cmocka_unit_test(test_unknowns),
        cmocka_unit_test(test_contradictory_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
