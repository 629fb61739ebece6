// The official OpenAI and Anthropic SDKs against `llmux serve` with API keys (tests/server/test_sdk.c
// starts the server with one key, "sdk", limited to 60 requests a minute): a wrong key surfaces as
// each SDK's AuthenticationError, a right one works, and each SDK's retry honours our Retry-After
// (a 429 with Retry-After: 1, then success: the SDK sent the request twice, about 1 s apart; its
// own backoff would have waited 0.375..0.5 s).
// A second key, SPENDER (1 USD budget), spends it with one priced request; the next one is refused
// with a 429 carrying x-should-retry: false, which each SDK obeys: RateLimitError after one request.
// Usage: node keys.mjs http://127.0.0.1:PORT KEY SPENDER
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const [base, key, spender] = process.argv.slice(2);
const LOCAL = 'local/llmux-fortunes';
const user = [{ role: 'user', content: 'Hello' }];

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e?.stack || e}`);
    process.exitCode = 1;
  }
}

// A fetch that records when each request left, so a check can see the SDK's retries.
function countingFetch() {
  const sent = [];
  const f = async (url, init) => {
    sent.push(Date.now());
    return fetch(url, init);
  };
  return { sent, fetch: f };
}

// Spends the key's requests-per-minute bucket: requests for an unknown model (admitted, then 404)
// until the server answers 429.
async function drainRate() {
  for (let i = 0; i < 500; i++) {
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'local/nope', messages: user }),
    });
    await r.arrayBuffer();
    if (r.status === 429) {
      assert.equal(r.headers.get('retry-after'), '1');
      return;
    }
    assert.equal(r.status, 404);
  }
  throw new Error('the rate limit never answered 429');
}

await check('openai wrong key is AuthenticationError', async () => {
  const c = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-wrong-wrong-wrong', maxRetries: 0 });
  await assert.rejects(c.chat.completions.create({ model: LOCAL, messages: user, max_tokens: 4 }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && /invalid API key/.test(e.message));
});

await check('anthropic wrong key is AuthenticationError', async () => {
  const c = new Anthropic({ baseURL: base, apiKey: 'sk-wrong-wrong-wrong', maxRetries: 0 });
  await assert.rejects(c.messages.create({ model: LOCAL, max_tokens: 4, messages: user }),
    (e) => e instanceof Anthropic.AuthenticationError && e.status === 401 && e.error?.error?.type === 'authentication_error');
});

await check('openai and anthropic with the key', async () => {
  const o = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  const ids = [];
  for await (const m of o.models.list()) ids.push(m.id);
  assert.ok(ids.includes(LOCAL));
  const a = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });
  const m = await a.messages.create({ model: LOCAL, max_tokens: 4, messages: user });
  assert.equal(m.type, 'message');
});

await check('openai retry honours Retry-After', async () => {
  const t = countingFetch();
  const c = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 2, fetch: t.fetch });
  await drainRate();
  const r = await c.chat.completions.create({ model: LOCAL, messages: user, max_tokens: 4 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(t.sent.length, 2, `requests sent: ${t.sent.length}`);
  const waited = t.sent[1] - t.sent[0];
  console.log(`# the retry waited ${waited} ms`);
  assert.ok(waited >= 950 && waited < 3000, `waited ${waited} ms`);
});

await check('anthropic retry honours Retry-After', async () => {
  const t = countingFetch();
  const c = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 2, fetch: t.fetch });
  await drainRate();
  const m = await c.messages.create({ model: LOCAL, max_tokens: 4, messages: user });
  assert.equal(m.type, 'message');
  assert.equal(t.sent.length, 2, `requests sent: ${t.sent.length}`);
  const waited = t.sent[1] - t.sent[0];
  console.log(`# the retry waited ${waited} ms`);
  assert.ok(waited >= 950 && waited < 3000, `waited ${waited} ms`);
});

await check('openai budget spent is RateLimitError, not retried', async () => {
  const c = new OpenAI({ baseURL: `${base}/v1`, apiKey: spender, maxRetries: 0 });
  const r = await c.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: user }); // 15 USD
  assert.equal(r.object, 'chat.completion');
  const t = countingFetch();
  const retrying = new OpenAI({ baseURL: `${base}/v1`, apiKey: spender, maxRetries: 2, fetch: t.fetch });
  await assert.rejects(retrying.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: user }),
    (e) => e instanceof OpenAI.RateLimitError && /budget exceeded/.test(e.message));
  assert.equal(t.sent.length, 1, `requests sent: ${t.sent.length}`);
});

await check('anthropic budget spent is RateLimitError, not retried', async () => {
  const t = countingFetch();
  const c = new Anthropic({ baseURL: base, apiKey: spender, maxRetries: 2, fetch: t.fetch });
  await assert.rejects(c.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 4, messages: user }),
    (e) => e instanceof Anthropic.RateLimitError && e.error?.error?.type === 'rate_limit_error' && /budget exceeded/.test(e.message));
  assert.equal(t.sent.length, 1, `requests sent: ${t.sent.length}`);
});
