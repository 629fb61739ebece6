// The official OpenAI and Anthropic SDKs against `llmux serve` (tests/server/test_sdk.c starts
// the server and scripts the fake upstream in the order of the requests below).
// Usage: node clients.mjs http://127.0.0.1:PORT
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const base = process.argv[2];
const LOCAL = 'local/llmux-fortunes';
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
const user = [{ role: 'user', content: 'Hello' }];
const weatherFn = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
const weatherTool = { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } };

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e?.stack || e}`);
    process.exitCode = 1;
  }
}

await check('openai models.list', async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  assert.equal(ids[0], LOCAL);
});

await check('openai models.retrieve (an id with a slash) and not found', async () => {
  const m = await openai.models.retrieve(LOCAL);
  assert.equal(m.id, LOCAL);
  assert.equal(m.object, 'model');
  await assert.rejects(openai.models.retrieve('local/no-such-model'), (e) => e instanceof OpenAI.NotFoundError);
});

await check('openai create', async () => {
  const r = await openai.chat.completions.create({ model: LOCAL, messages: user, max_tokens: 8 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.usage.completion_tokens > 0);
});

await check('openai stream with usage', async () => {
  const s = await openai.chat.completions.create({ model: LOCAL, messages: user, max_tokens: 8, stream: true, stream_options: { include_usage: true } });
  let text = '', usage = null, chunks = 0;
  for await (const c of s) {
    chunks++;
    if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
    if (c.usage) usage = c.usage;
  }
  assert.ok(chunks > 2 && text.length > 0);
  assert.ok(usage.completion_tokens > 0);
});

await check('openai tool call (openai backend, streamed)', async () => {
  const s = openai.chat.completions.stream({ model: 'openai/gpt-4o-mini', messages: user, tools: [weatherFn] });
  const done = await s.finalChatCompletion();
  const c = done.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.tool_calls[0].function.name, 'get_weather');
  assert.equal(JSON.parse(c.message.tool_calls[0].function.arguments).city, 'Paris');
});

await check('openai n=2 is BadRequestError', async () => {
  await assert.rejects(openai.chat.completions.create({ model: LOCAL, messages: user, n: 2 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /n = 1/.test(e.message));
});

await check('openai upstream 429 is RateLimitError', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: user }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && e.headers.get('retry-after') === '7');
});

await check('anthropic create', async () => {
  const m = await anthropic.messages.create({ model: LOCAL, max_tokens: 8, messages: user });
  assert.equal(m.type, 'message');
  assert.equal(m.content[0].type, 'text');
  assert.ok(['end_turn', 'max_tokens'].includes(m.stop_reason));
});

await check('anthropic tool_use (anthropic backend, streamed)', async () => {
  const m = await anthropic.messages.stream({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 100, messages: user, tools: [weatherTool] }).finalMessage();
  const t = m.content.find((b) => b.type === 'tool_use');
  assert.equal(m.stop_reason, 'tool_use');
  assert.equal(t.name, 'get_weather');
  assert.equal(t.input.city, 'Paris');
});

await check('anthropic tool_use (openai backend, streamed)', async () => {
  const m = await anthropic.messages.stream({ model: 'openai/gpt-4o-mini', max_tokens: 100, messages: user, tools: [weatherTool] }).finalMessage();
  assert.equal(m.stop_reason, 'tool_use');
  const t = m.content.find((b) => b.type === 'tool_use');
  assert.equal(t.id, 'call_fk');
  assert.equal(t.input.city, 'Paris');
});

await check('anthropic missing max_tokens is BadRequestError', async () => {
  await assert.rejects(anthropic.messages.create({ model: LOCAL, messages: user }),
    (e) => e instanceof Anthropic.BadRequestError && e.status === 400 && e.error?.error?.type === 'invalid_request_error');
});

await check('anthropic models.list', async () => {
  const ids = [];
  for await (const m of anthropic.models.list()) ids.push(m.id);
  assert.equal(ids[0], LOCAL);
});

await check('anthropic models.retrieve', async () => {
  const m = await anthropic.models.retrieve(LOCAL);
  assert.equal(m.id, LOCAL);
  assert.equal(m.type, 'model');
  await assert.rejects(anthropic.models.retrieve('local/no-such-model'), (e) => e instanceof Anthropic.NotFoundError);
});

await check('openai embeddings (default base64 encoding, decoded by the SDK)', async () => {
  const r = await openai.embeddings.create({ model: 'openai/text-embedding-3-small', input: ['alpha', 'beta'] });
  assert.equal(r.data.length, 2);
  assert.deepEqual(Array.from(r.data[0].embedding), [0.125, 2, -3.5]);
  assert.deepEqual(Array.from(r.data[1].embedding), [0.5, -0.25, Math.fround(1e-3)]);
  assert.equal(r.usage.prompt_tokens, 7);
});

await check('openai tool-call round trip (anthropic backend)', async () => {
  const first = await openai.chat.completions.stream({ model: 'anthropic/claude-sonnet-4-5', messages: user, tools: [weatherFn] }).finalChatCompletion();
  const m = first.choices[0].message;
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.equal(m.tool_calls[0].id, 'toolu_fk');
  const call = m.tool_calls[0];
  const second = await openai.chat.completions.create({
    model: 'anthropic/claude-sonnet-4-5', tools: [weatherFn],
    messages: [...user, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '18 C and sunny' }],
  });
  assert.equal(second.choices[0].finish_reason, 'stop');
  assert.equal(second.choices[0].message.content, 'Hello, world!');
});

await check('anthropic tool-call round trip (openai backend)', async () => {
  const first = await anthropic.messages.stream({ model: 'openai/gpt-4o-mini', max_tokens: 100, messages: user, tools: [weatherTool] }).finalMessage();
  assert.equal(first.stop_reason, 'tool_use');
  const use = first.content.find((b) => b.type === 'tool_use');
  const second = await anthropic.messages.create({
    model: 'openai/gpt-4o-mini', max_tokens: 100, tools: [weatherTool],
    messages: [...user, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18 C and sunny' }] }],
  });
  assert.equal(second.stop_reason, 'end_turn');
  assert.equal(second.content[0].text, 'Hello, world!');
});

await check('openai completions (legacy, local model)', async () => {
  const r = await openai.completions.create({ model: LOCAL, prompt: 'Once upon a time', max_tokens: 4 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  let text = '';
  for await (const c of await openai.completions.create({ model: LOCAL, prompt: 'Once upon a time', max_tokens: 4, stream: true })) text += c.choices[0]?.text ?? '';
  assert.ok(text.length > 0);
});

await check('anthropic countTokens (local model)', async () => {
  const r = await anthropic.messages.countTokens({ model: LOCAL, messages: user });
  assert.ok(Number.isInteger(r.input_tokens) && r.input_tokens > 0);
  // OpenAI's API has no counting endpoint: refused before any upstream request.
  await assert.rejects(anthropic.messages.countTokens({ model: 'openai/gpt-4o-mini', messages: user }),
    (e) => e instanceof Anthropic.BadRequestError && /no token counting endpoint/.test(e.message));
});

await check('openai responses.create (local model)', async () => {
  const r = await openai.responses.create({ model: LOCAL, input: 'Hello', max_output_tokens: 8 });
  assert.equal(r.object, 'response');
  assert.ok(r.id.startsWith('resp_'));
  assert.ok(typeof r.output_text === 'string' && r.output_text.length > 0);
  assert.ok(r.usage.output_tokens > 0 && r.usage.input_tokens > 0);
});

await check('openai responses.stream (local model): deltas equal the final response', async () => {
  const s = openai.responses.stream({ model: LOCAL, instructions: 'Be brief.', input: [{ role: 'user', content: 'Hello' }], max_output_tokens: 8 });
  let deltas = '';
  let last = -1;
  let end = '';
  for await (const e of s) {
    assert.ok(e.sequence_number > last);
    last = e.sequence_number;
    if (e.type === 'response.output_text.delta') deltas += e.delta;
    end = e.type;
  }
  // 8 tokens cut the answer short: response.incomplete, after which the SDK's final response is
  // its own snapshot of the stream (as with OpenAI's API).
  assert.ok(['response.completed', 'response.incomplete'].includes(end), end);
  const fin = await s.finalResponse();
  const text = fin.output.filter((i) => i.type === 'message').flatMap((i) => i.content).map((c) => c.text).join('');
  assert.ok(deltas.length > 0);
  assert.equal(text, deltas);
});

await check('openai responses previous_response_id, retrieve, input items and delete (local model)', async () => {
  const a = await openai.responses.create({ model: LOCAL, input: 'Hello', max_output_tokens: 4 });
  const b = await openai.responses.create({ model: LOCAL, previous_response_id: a.id, input: 'Again', max_output_tokens: 4 });
  assert.equal(b.previous_response_id, a.id);
  // The first turn and its answer were sent again, before the new input.
  assert.ok(b.usage.input_tokens > a.usage.input_tokens, `${b.usage.input_tokens} <= ${a.usage.input_tokens}`);
  const got = await openai.responses.retrieve(b.id);
  assert.equal(got.id, b.id);
  assert.deepEqual(got.output, b.output);
  // What b was given, through the SDK's auto-pagination one item per page: the first turn, its
  // answer, the new input.
  const items = [];
  for await (const it of openai.responses.inputItems.list(b.id, { order: 'asc', limit: 1 })) items.push(it);
  assert.deepEqual(items.map((i) => `${i.type}:${i.role}`), ['message:user', 'message:assistant', 'message:user']);
  assert.equal(items[0].content[0].text, 'Hello');
  assert.equal(items[2].content[0].text, 'Again');
  await openai.responses.delete(a.id);
  await assert.rejects(openai.responses.retrieve(a.id), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(openai.responses.create({ model: LOCAL, previous_response_id: a.id, input: 'x', max_output_tokens: 4 }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === 'previous_response_not_found');
});

await check('openai responses tool-call round trip (anthropic backend)', async () => {
  const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
  const s = openai.responses.stream({ model: 'anthropic/claude-sonnet-4-5', input: 'Weather in Paris?', tools });
  const fin = await s.finalResponse();
  const call = fin.output.find((i) => i.type === 'function_call');
  assert.ok(call, JSON.stringify(fin.output));
  assert.equal(call.name, 'get_weather');
  assert.equal(JSON.parse(call.arguments).city, 'Paris');
  const r = await openai.responses.create({
    model: 'anthropic/claude-sonnet-4-5', tools,
    input: [{ role: 'user', content: 'Weather in Paris?' }, ...fin.output, { type: 'function_call_output', call_id: call.call_id, output: '18C' }],
  });
  assert.ok(r.output_text.length > 0);
});

await check('anthropic web search (server tool, streamed), sent back next turn', async () => {
  const tools = [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }];
  const m = await anthropic.messages.stream({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 500, messages: user, tools }).finalMessage();
  assert.deepEqual(m.content.map((b) => b.type), ['text', 'server_tool_use', 'web_search_tool_result', 'text']);
  assert.equal(m.content[1].input.query, 'weather Paris today');
  assert.equal(m.content[2].tool_use_id, m.content[1].id);
  assert.equal(m.content[2].content[0].url, 'https://weather.example/paris');
  assert.equal(m.stop_reason, 'end_turn');
  assert.equal(m.usage.server_tool_use.web_search_requests, 1);
  const next = await anthropic.messages.create({
    model: 'anthropic/claude-sonnet-4-5', max_tokens: 100, tools,
    messages: [...user, { role: 'assistant', content: m.content }, { role: 'user', content: 'Thanks' }],
  });
  assert.equal(next.content[0].text, 'Hello, world!');
});

// Last: the upstream streams this answer slowly; the test asserts on the fake server's side that
// the abort closed the upstream connection long before the stream would have ended.
await check('openai aborted stream, then a working request', async () => {
  const ac = new AbortController();
  const s = await openai.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: user, stream: true }, { signal: ac.signal });
  let chunks = 0;
  try {
    for await (const c of s) { chunks++; ac.abort(); }
  } catch (e) {
    // The SDK either ends the iteration quietly or raises its abort error.
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
  }
  assert.ok(chunks >= 1);
  const r = await openai.chat.completions.create({ model: LOCAL, messages: user, max_tokens: 4 });
  assert.equal(r.choices.length, 1);
});
