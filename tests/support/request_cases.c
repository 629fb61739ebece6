/* The rule table of request_cases.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "request_cases.h"

/* Storage for the cases past a cap (filled on first use). */
static llmux_message g_many_msgs[10001];
static llmux_part g_many_parts[1001];
static llmux_tool g_many_tools[513];
static const char *g_many_stop[17];
static llmux_kv g_many_kv[257];
static char g_kv_keys[257][8];

void rc_fx_init(rc_fx *f) {
    memset(f, 0, sizeof *f);
    f->r = llmux_request_default();
    f->r.model = "openai/x";
    f->parts[0][0] = (llmux_part){.type = LLMUX_PART_TEXT, .text = "hi"};
    f->msgs[0] = (llmux_message){.role = LLMUX_ROLE_USER, .parts = f->parts[0], .n_parts = 1};
    f->r.messages = f->msgs;
    f->r.n_messages = 1;
}

/* The first part of the first message becomes p. */
static void part0(rc_fx *f, llmux_part p) { f->parts[0][0] = p; }

/* A second message (assistant) whose only part is p: paths then say messages[1]. */
static void part_of_second(rc_fx *f, llmux_part p) {
    f->parts[1][0] = p;
    f->msgs[1] = (llmux_message){.role = LLMUX_ROLE_ASSISTANT, .parts = f->parts[1], .n_parts = 1};
    f->r.n_messages = 2;
}

static void one_tool(rc_fx *f, const char *name) {
    f->tools[0] = (llmux_tool){.name = name};
    f->r.tools = f->tools;
    f->r.n_tools = 1;
}

/* Variadic: a body's commas (compound literals, loops) are not argument separators. */
#define CASE(fn, ...)                                                                                                  \
    static void fn(rc_fx *f) {                                                                                         \
        (void)f;                                                                                                       \
        __VA_ARGS__;                                                                                                   \
    }

CASE(temperature_negative, f->r.sampling.temperature = -0.1)
CASE(temperature_infinite, f->r.sampling.temperature = INFINITY)
CASE(top_p_zero, f->r.sampling.top_p = 0)
CASE(top_p_above_one, f->r.sampling.top_p = 1.5)
CASE(top_k_zero, f->r.sampling.top_k = 0)
CASE(top_k_negative, f->r.sampling.top_k = -5)
CASE(min_p_above_one, f->r.sampling.min_p = 1.5)
CASE(max_tokens_zero, f->r.sampling.max_tokens = 0)
CASE(seed_negative, f->r.sampling.seed = -2)
CASE(presence_penalty_high, f->r.sampling.presence_penalty = 2.5)
CASE(frequency_penalty_low, f->r.sampling.frequency_penalty = -2.01)
CASE(repeat_penalty_zero, f->r.sampling.repeat_penalty = 0)
CASE(stop_too_many, {
    for (size_t i = 0; i < 17; i++) g_many_stop[i] = "s";
    f->r.sampling.stop = g_many_stop;
    f->r.sampling.n_stop = 17;
})
CASE(stop_empty, {
    f->stop[0] = "a";
    f->stop[1] = "";
    f->r.sampling.stop = f->stop;
    f->r.sampling.n_stop = 2;
})
CASE(stop_null_item, {
    f->stop[0] = NULL;
    f->r.sampling.stop = f->stop;
    f->r.sampling.n_stop = 1;
})
CASE(stop_null_array, f->r.sampling.n_stop = 2)
CASE(deadline_negative, f->r.deadline_ms = -5)
CASE(messages_null_array, {
    f->r.messages = NULL;
    f->r.n_messages = 2;
})
CASE(messages_too_many, {
    for (size_t i = 0; i < 10001; i++) g_many_msgs[i] = f->msgs[0];
    f->r.messages = g_many_msgs;
    f->r.n_messages = 10001;
})
CASE(role_unknown, f->msgs[0].role = (llmux_role)9)
CASE(parts_null_array, f->msgs[0].parts = NULL)
CASE(parts_too_many, {
    for (size_t i = 0; i < 1001; i++) g_many_parts[i] = f->parts[0][0];
    f->msgs[0].parts = g_many_parts;
    f->msgs[0].n_parts = 1001;
})
CASE(part_type_unknown, part0(f, (llmux_part){.type = (llmux_part_type)9, .text = "x"}))
CASE(text_missing, {
    f->parts[0][1] = (llmux_part){.type = LLMUX_PART_TEXT};
    f->msgs[0].n_parts = 2;
})
CASE(image_neither, part0(f, (llmux_part){.type = LLMUX_PART_IMAGE}))
CASE(image_both, part0(f, (llmux_part){.type = LLMUX_PART_IMAGE, .image_url = "https://x/a.png", .data = "AA=="}))
CASE(image_data_without_mime, part0(f, (llmux_part){.type = LLMUX_PART_IMAGE, .data = "AA=="}))
CASE(tool_call_without_id, part_of_second(f, (llmux_part){.type = LLMUX_PART_TOOL_CALL, .name = "f"}))
CASE(tool_call_without_name, part_of_second(f, (llmux_part){.type = LLMUX_PART_TOOL_CALL, .id = "c"}))
CASE(tool_result_without_id, part0(f, (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .text = "18C"}))
CASE(tool_result_without_content, part0(f, (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = "c"}))
/* Bytes that are not UTF-8 (0xF6 can begin no sequence): llama.cpp's tokenizers throw on them. */
#define NOT_UTF8 "a\xf6\x93" "z"
CASE(text_not_utf8, part0(f, (llmux_part){.type = LLMUX_PART_TEXT, .text = NOT_UTF8}))
CASE(system_not_utf8, f->r.system = NOT_UTF8)
CASE(stop_not_utf8, {
    f->stop[0] = "a";
    f->stop[1] = NOT_UTF8;
    f->r.sampling.stop = f->stop;
    f->r.sampling.n_stop = 2;
})
CASE(tool_result_not_utf8, part0(f, (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = "c", .text = NOT_UTF8}))
CASE(message_name_not_utf8, f->msgs[0].name = NOT_UTF8)
CASE(reasoning_effort_unknown, f->r.reasoning_effort = (llmux_reasoning_effort)7)
CASE(reasoning_budget_negative, f->r.reasoning_budget = -1)
CASE(tool_result_name_not_utf8,
     part0(f, (llmux_part){.type = LLMUX_PART_TOOL_RESULT, .id = "c", .name = NOT_UTF8, .text = "ok"}))
CASE(tool_call_arguments_not_utf8,
     part_of_second(f, (llmux_part){.type = LLMUX_PART_TOOL_CALL, .id = "c", .name = "f", .arguments = NOT_UTF8}))
CASE(tool_description_not_utf8, {
    one_tool(f, "a");
    f->tools[0].description = NOT_UTF8;
})
CASE(tools_null_array, f->r.n_tools = 1)
CASE(tools_too_many, {
    for (size_t i = 0; i < 513; i++) g_many_tools[i] = (llmux_tool){.name = "t"};
    f->r.tools = g_many_tools;
    f->r.n_tools = 513;
})
CASE(tool_name_missing, {
    one_tool(f, "a");
    f->tools[1] = (llmux_tool){.description = "no name"};
    f->r.n_tools = 2;
})
CASE(tool_name_empty, one_tool(f, ""))
CASE(tool_parameters_not_object, {
    one_tool(f, "a");
    f->tools[0].parameters = "{not json";
})
CASE(tool_choice_required_without_tools, f->r.tool_choice = LLMUX_TOOL_CHOICE_REQUIRED)
CASE(tool_choice_name_missing, {
    one_tool(f, "a");
    f->r.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
})
CASE(tool_choice_name_empty, {
    one_tool(f, "a");
    f->r.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    f->r.tool_choice_name = "";
})
CASE(tool_choice_name_unknown, {
    one_tool(f, "get_weather");
    f->r.tool_choice = LLMUX_TOOL_CHOICE_TOOL;
    f->r.tool_choice_name = "get_time";
})
CASE(tool_choice_unknown, f->r.tool_choice = (llmux_tool_choice)9)
CASE(schema_missing, f->r.response_format = LLMUX_FORMAT_JSON_SCHEMA)
CASE(schema_not_object, {
    f->r.response_format = LLMUX_FORMAT_JSON_SCHEMA;
    f->r.schema = "[1]";
})
CASE(schema_without_json_schema, f->r.schema = "{}")
CASE(schema_name_without_json_schema, {
    f->r.response_format = LLMUX_FORMAT_JSON_OBJECT;
    f->r.schema_name = "w";
})
CASE(strict_without_json_schema, f->r.schema_strict = true)
CASE(format_unknown, f->r.response_format = (llmux_format)7)
CASE(metadata_null_array, f->r.n_metadata = 1)
CASE(metadata_too_many, {
    for (size_t i = 0; i < 257; i++) {
        snprintf(g_kv_keys[i], sizeof g_kv_keys[i], "k%zu", i);
        g_many_kv[i] = (llmux_kv){g_kv_keys[i], "v"};
    }
    f->r.metadata = g_many_kv;
    f->r.n_metadata = 257;
})
CASE(metadata_key_missing, {
    f->kv[0] = (llmux_kv){NULL, "v"};
    f->r.metadata = f->kv;
    f->r.n_metadata = 1;
})
CASE(metadata_value_missing, {
    f->kv[0] = (llmux_kv){"user", NULL};
    f->r.metadata = f->kv;
    f->r.n_metadata = 1;
})
CASE(provider_options_not_object, f->r.provider_options = "[]")
CASE(nothing_to_run, {
    f->r.messages = NULL;
    f->r.n_messages = 0;
})

const char RC_ENCODE[] = "(encode)";

/* The valid request's JSON around a fault. The encoder writes a NULL id or name as "" and drops a
 * schema with another format, so those faults are spelled out here. */
#define MSG0 "{\"role\":\"user\",\"content\":"
#define HI MSG0 "\"hi\"}"

const rc_case rc_cases[] = {
    {"temperature >= 0", temperature_negative, "temperature: must be a number >= 0", RC_ENCODE},
    {"temperature finite", temperature_infinite, "temperature: must be a number >= 0", RC_ENCODE},
    {"top_p > 0", top_p_zero, "top_p: must be a number in (0, 1]", RC_ENCODE},
    {"top_p <= 1", top_p_above_one, "top_p: must be a number in (0, 1]", RC_ENCODE},
    {"top_k >= 1", top_k_zero, "top_k: must be an integer in [1, 2147483647]", RC_ENCODE},
    {"top_k negative", top_k_negative, "top_k: must be an integer in [1, 2147483647]", RC_ENCODE},
    {"min_p <= 1", min_p_above_one, "min_p: must be a number in [0, 1]", RC_ENCODE},
    {"max_tokens >= 1", max_tokens_zero, "max_tokens: must be an integer in [1, 2147483647]", RC_ENCODE},
    {"seed >= 0", seed_negative, "seed: must be an integer >= 0", RC_ENCODE},
    {"presence_penalty range", presence_penalty_high, "presence_penalty: must be a number in [-2, 2]", RC_ENCODE},
    {"frequency_penalty range", frequency_penalty_low, "frequency_penalty: must be a number in [-2, 2]", RC_ENCODE},
    {"repeat_penalty > 0", repeat_penalty_zero, "repeat_penalty: must be a number > 0", RC_ENCODE},
    {"stop count", stop_too_many, "stop: too many stop sequences: 17 (the limit is 16)", RC_ENCODE},
    {"stop non-empty", stop_empty, "stop[1]: must not be empty", RC_ENCODE},
    {"stop item present", stop_null_item, "stop[0]: missing", NULL},
    {"stop array present", stop_null_array, "stop: missing (n_stop is 2)", NULL},
    {"deadline_ms >= 0", deadline_negative, "deadline_ms: must be an integer >= 0", RC_ENCODE},
    {"messages array present", messages_null_array, "messages: missing (n_messages is 2)", NULL},
    {"messages count", messages_too_many, "messages: too many items: 10001 (the limit is 10000)", RC_ENCODE},
    {"role known", role_unknown, "messages[0].role: unknown role (9)", NULL},
    {"parts array present", parts_null_array, "messages[0].content: missing (n_parts is 1)", NULL},
    {"parts count", parts_too_many, "messages[0].content: too many items: 1001 (the limit is 1000)", RC_ENCODE},
    {"part type known", part_type_unknown, "messages[0].content[0].type: unknown part type (9)", NULL},
    {"text part has text", text_missing, "messages[0].content[1].text: missing",
     "{\"messages\":[" MSG0 "[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"text\"}]}]}"},
    {"image url or data", image_neither, "messages[0].content[0]: image needs \"url\" or \"data\"", RC_ENCODE},
    {"image not both", image_both, "messages[0].content[0]: image has both \"url\" and \"data\"", RC_ENCODE},
    {"image data needs mime_type", image_data_without_mime,
     "messages[0].content[0].mime_type: missing (required with \"data\")", RC_ENCODE},
    {"tool call id", tool_call_without_id, "messages[1].content[0].id: missing",
     "{\"messages\":[" HI ",{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"name\":\"f\"}]}]}"},
    {"tool call name", tool_call_without_name, "messages[1].content[0].name: missing",
     "{\"messages\":[" HI ",{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_call\",\"id\":\"c\"}]}]}"},
    {"tool result id", tool_result_without_id, "messages[0].content[0].id: missing",
     "{\"messages\":[" MSG0 "[{\"type\":\"tool_result\",\"content\":\"18C\"}]}]}"},
    {"tool result content", tool_result_without_content, "messages[0].content[0].content: missing",
     "{\"messages\":[" MSG0 "[{\"type\":\"tool_result\",\"id\":\"c\"}]}]}"},
    {"text UTF-8", text_not_utf8, "messages[0].content[0].text: must be valid UTF-8", NULL},
    {"system UTF-8", system_not_utf8, "system: must be valid UTF-8", NULL},
    {"stop UTF-8", stop_not_utf8, "stop[1]: must be valid UTF-8", NULL},
    {"tool result UTF-8", tool_result_not_utf8, "messages[0].content[0].content: must be valid UTF-8", NULL},
    {"message name UTF-8", message_name_not_utf8, "messages[0].name: must be valid UTF-8", NULL},
    {"reasoning effort known", reasoning_effort_unknown, "reasoning_effort: unknown value (7)", NULL},
    {"reasoning budget non-negative", reasoning_budget_negative, "reasoning_budget: must be an integer in [0, 2147483647]",
     "{\"messages\":[" HI "],\"reasoning_budget\":-1}"},
    {"tool result name UTF-8", tool_result_name_not_utf8, "messages[0].content[0].name: must be valid UTF-8", NULL},
    {"tool call arguments UTF-8", tool_call_arguments_not_utf8, "messages[1].content[0].arguments: must be valid UTF-8",
     NULL},
    {"tool description UTF-8", tool_description_not_utf8, "tools[0].description: must be valid UTF-8", NULL},
    {"tools array present", tools_null_array, "tools: missing (n_tools is 1)", NULL},
    {"tools count", tools_too_many, "tools: too many items: 513 (the limit is 512)", RC_ENCODE},
    {"tool name present", tool_name_missing, "tools[1].name: missing",
     "{\"messages\":[" HI "],\"tools\":[{\"name\":\"a\"},{\"description\":\"no name\"}]}"},
    {"tool name non-empty", tool_name_empty, "tools[0].name: must not be empty", RC_ENCODE},
    {"tool parameters object", tool_parameters_not_object, "tools[0].parameters: must be an object", RC_ENCODE},
    {"required needs tools", tool_choice_required_without_tools,
     "tool_choice: \"required\" needs at least one tool in tools", RC_ENCODE},
    {"tool choice name present", tool_choice_name_missing, "tool_choice.name: missing",
     "{\"messages\":[" HI "],\"tools\":[{\"name\":\"a\"}],\"tool_choice\":{\"type\":\"tool\"}}"},
    {"tool choice name non-empty", tool_choice_name_empty, "tool_choice.name: must not be empty", RC_ENCODE},
    {"tool choice names a tool", tool_choice_name_unknown, "tool_choice.name: no tool named \"get_time\" in tools",
     RC_ENCODE},
    {"tool choice known", tool_choice_unknown, "tool_choice: unknown value (9)", NULL},
    {"json_schema needs schema", schema_missing, "response_format.schema: missing (required with type \"json_schema\")",
     "{\"messages\":[" HI "],\"response_format\":{\"type\":\"json_schema\"}}"},
    {"schema object", schema_not_object, "response_format.schema: must be an object", RC_ENCODE},
    {"schema only with json_schema", schema_without_json_schema,
     "response_format.schema: only allowed with type \"json_schema\"",
     "{\"messages\":[" HI "],\"response_format\":{\"type\":\"text\",\"schema\":{}}}"},
    {"schema name only with json_schema", schema_name_without_json_schema,
     "response_format.name: only allowed with type \"json_schema\"",
     "{\"messages\":[" HI "],\"response_format\":{\"type\":\"json_object\",\"name\":\"w\"}}"},
    {"strict only with json_schema", strict_without_json_schema,
     "response_format.strict: only allowed with type \"json_schema\"",
     "{\"messages\":[" HI "],\"response_format\":{\"type\":\"text\",\"strict\":true}}"},
    {"format known", format_unknown, "response_format.type: unknown format (7)", NULL},
    {"metadata array present", metadata_null_array, "metadata: missing (n_metadata is 1)", NULL},
    {"metadata count", metadata_too_many, "metadata: too many entries: 257 (the limit is 256)", RC_ENCODE},
    {"metadata key present", metadata_key_missing, "metadata[0].key: missing", NULL},
    {"metadata value present", metadata_value_missing, "metadata.user: missing", NULL},
    {"provider_options object", provider_options_not_object, "provider_options: must be an object", RC_ENCODE},
    /* Last: the one rule canonical JSON does not apply (fragments decode). */
    {"something to run", nothing_to_run, "messages: at least one message is required", NULL},
};
const size_t rc_n_cases = sizeof rc_cases / sizeof rc_cases[0];
