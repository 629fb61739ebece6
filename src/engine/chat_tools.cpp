// The C++ shim over llama.cpp's chat templates for tools (chat_tools.h): common_chat_templates_init /
// common_chat_templates_apply (common/chat.h) render the prompt and give the tool-call grammar,
// its triggers and the output parser; common_chat_parse reads the output back. The sampler is
// built as llama-server's common_sampler_init builds it (common/sampling.cpp). Nothing thrown
// here leaves this file.
#include "chat_tools.h"
#include "gbnf_check.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "chat.h"
#include "common.h"
#include "json.h"
#include "llama.h"
#include "log.h"

struct lx_chat_tools {
    common_chat_templates_ptr tmpls;
    common_chat_templates_inputs inputs;  // messages and tools, contents replaced per rendering
    common_chat_params params;            // of the real rendering (lx_chat_tools_init)
    common_chat_parser_params parser;
};

namespace {

char *c_copy(const std::string &s) {
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (p) {
        std::memcpy(p, s.data(), s.size());
        p[s.size()] = '\0';
    }
    return p;
}

lx_jg_status refuse(char **error, const std::string &what) {
    *error = c_copy(what);
    return *error ? LX_JG_INVALID : LX_JG_NO_MEMORY;
}

std::string str(const char *s) { return s ? std::string(s) : std::string(); }

// common's parser logs what it could not parse — the model's output, user data — to stderr
// through its own logger (common/log.h, which also starts a worker thread on first use). Below
// LOG_LEVEL_OUTPUT nothing is logged; llmux uses no other part of common's logging.
void quiet_common_log() {
    static std::once_flag once;
    std::call_once(once, [] { common_log_set_verbosity_thold(LOG_LEVEL_OUTPUT - 1); });
}

}  // namespace

extern "C" lx_jg_status lx_chat_tools_init(const struct llama_model *model, const char *template_override,
                                           const lx_ct_message *msgs, size_t n_msgs, const lx_ct_tool *tools,
                                           size_t n_tools, bool required, bool single_call, lx_chat_tools **out,
                                           char **error) {
    *out = nullptr;
    *error = nullptr;
    lx_chat_tools *ct = nullptr;
    try {
        quiet_common_log();
        if (!template_override && !llama_model_chat_template(model, nullptr))
            return refuse(error, "the model has no chat template (tokenizer.chat_template), so it cannot be given tools");
        ct = new lx_chat_tools();
        ct->tmpls = common_chat_templates_init(model, str(template_override));
        std::map<std::string, bool> caps = common_chat_templates_get_caps(ct->tmpls.get());
        if (!caps["supports_tool_calls"]) {
            delete ct;
            return refuse(error, "the model's chat template does not support tool calls");
        }
        common_chat_templates_inputs &in = ct->inputs;
        for (size_t i = 0; i < n_msgs; i++) {
            common_chat_msg m;
            m.role = str(msgs[i].role);
            m.content = str(msgs[i].content);
            for (size_t k = 0; k < msgs[i].n_calls; k++)
                m.tool_calls.push_back({str(msgs[i].calls[k].name), str(msgs[i].calls[k].arguments), str(msgs[i].calls[k].id)});
            m.tool_call_id = str(msgs[i].tool_call_id);
            m.tool_name = str(msgs[i].tool_name);
            in.messages.push_back(std::move(m));
        }
        for (size_t i = 0; i < n_tools; i++)
            in.tools.push_back({str(tools[i].name), str(tools[i].description),
                                tools[i].parameters ? std::string(tools[i].parameters) : std::string("{}")});
        in.tool_choice = required ? COMMON_CHAT_TOOL_CHOICE_REQUIRED : COMMON_CHAT_TOOL_CHOICE_AUTO;
        in.parallel_tool_calls = !single_call && caps["supports_parallel_tool_calls"];  // llama-server's default
        in.add_generation_prompt = true;
        in.use_jinja = true;
        in.reasoning_format = COMMON_REASONING_FORMAT_AUTO;  // reasoning apart from the content
        ct->params = common_chat_templates_apply(ct->tmpls.get(), in);
        ct->parser = common_chat_parser_params(ct->params);
        ct->parser.reasoning_format = COMMON_REASONING_FORMAT_AUTO;
        if (!ct->params.parser.empty()) ct->parser.parser.load(ct->params.parser);
        *out = ct;
        return LX_JG_OK;
    } catch (const std::bad_alloc &) {
        delete ct;
        return LX_JG_NO_MEMORY;
    } catch (const std::exception &e) {
        delete ct;
        return refuse(error, std::string("llama.cpp cannot use the model's chat template with tools: ") + e.what());
    } catch (...) {
        delete ct;
        return refuse(error, "llama.cpp cannot use the model's chat template with tools");
    }
}

extern "C" void lx_chat_tools_free(lx_chat_tools *ct) { delete ct; }

extern "C" lx_jg_status lx_chat_tools_render(const lx_chat_tools *ct, const char *const *contents, char **prompt,
                                             size_t *len, char **error) {
    *prompt = nullptr;
    *error = nullptr;
    try {
        common_chat_templates_inputs in = ct->inputs;
        for (size_t i = 0; i < in.messages.size(); i++) in.messages[i].content = contents[i];
        const std::string text = common_chat_templates_apply(ct->tmpls.get(), in).prompt;
        *prompt = c_copy(text);
        *len = text.size();
        return *prompt ? LX_JG_OK : LX_JG_NO_MEMORY;
    } catch (const std::bad_alloc &) {
        return LX_JG_NO_MEMORY;
    } catch (const std::exception &e) {
        return refuse(error, std::string("rendering the chat template failed: ") + e.what());
    } catch (...) {
        return refuse(error, "rendering the chat template failed");
    }
}

extern "C" struct llama_sampler *lx_chat_tools_grammar(const lx_chat_tools *ct, const struct llama_vocab *vocab,
                                                       char **error) {
    *error = nullptr;
    const common_chat_params &p = ct->params;
    if (p.grammar.empty()) return nullptr;
    char why[128];
    if (!lx_gbnf_repetitions_ordered(p.grammar.c_str(), why, sizeof why)) {
        refuse(error, why);
        return nullptr;
    }
    try {
        // common_sampler_init: trigger words as escaped patterns, full patterns anchored.
        std::vector<std::string> patterns;
        std::vector<llama_token> tokens;
        for (const common_grammar_trigger &t : p.grammar_triggers) {
            switch (t.type) {
            case COMMON_GRAMMAR_TRIGGER_TYPE_WORD: patterns.push_back(regex_escape(t.value)); break;
            case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN: patterns.push_back(t.value); break;
            case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: {
                std::string a = "^$";
                if (!t.value.empty())
                    a = (t.value.front() != '^' ? "^" : "") + t.value + (t.value.back() != '$' ? "$" : "");
                patterns.push_back(a);
                break;
            }
            case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN: tokens.push_back(t.token); break;
            }
        }
        std::vector<const char *> pc;
        for (const std::string &s : patterns) pc.push_back(s.c_str());
        struct llama_sampler *g =
            p.grammar_lazy ? llama_sampler_init_grammar_lazy_patterns(vocab, p.grammar.c_str(), "root", pc.data(),
                                                                      pc.size(), tokens.data(), tokens.size())
                           : llama_sampler_init_grammar(vocab, p.grammar.c_str(), "root");
        if (!g) {
            refuse(error, "llama.cpp could not parse the tool-call grammar of the model's chat template");
            return nullptr;
        }
        // A strict tool-call grammar starts with the assistant prefix the prompt already holds:
        // it is fed to the grammar first (common_sampler_init's prefill).
        if (!p.grammar_lazy && !p.generation_prompt.empty()) {
            std::vector<llama_token> pre = common_tokenize(vocab, p.generation_prompt, false, true);
            for (size_t i = 0; i < pre.size(); i++) {
                const std::string piece = common_token_to_piece(vocab, pre[i], true);
                // Some tokenizers put a space before the first special token: not the template's.
                if (i == 0 && !piece.empty() && std::isspace((unsigned char)piece[0]) &&
                    !std::isspace((unsigned char)p.generation_prompt[0]))
                    continue;
                llama_sampler_accept(g, pre[i]);
            }
        }
        return g;
    } catch (const std::bad_alloc &) {
        return nullptr;
    } catch (const std::exception &e) {
        refuse(error, std::string("the tool-call grammar failed: ") + e.what());
        return nullptr;
    } catch (...) {
        refuse(error, "the tool-call grammar failed");
        return nullptr;
    }
}

extern "C" size_t lx_chat_tools_n_stops(const lx_chat_tools *ct) { return ct->params.additional_stops.size(); }
extern "C" const char *lx_chat_tools_stop(const lx_chat_tools *ct, size_t i) {
    return ct->params.additional_stops[i].c_str();
}
extern "C" size_t lx_chat_tools_n_preserved(const lx_chat_tools *ct) { return ct->params.preserved_tokens.size(); }
extern "C" const char *lx_chat_tools_preserved(const lx_chat_tools *ct, size_t i) {
    return ct->params.preserved_tokens[i].c_str();
}

extern "C" void lx_ct_output_free(lx_ct_output *out) {
    std::free(out->content);
    std::free(out->reasoning);
    for (size_t i = 0; i < out->n_calls; i++) {
        std::free(out->calls[i].id);
        std::free(out->calls[i].name);
        std::free(out->calls[i].arguments);
    }
    std::free(out->calls);
    std::memset(out, 0, sizeof *out);
}

extern "C" lx_jg_status lx_chat_tools_parse(const lx_chat_tools *ct, const char *text, size_t len, bool partial,
                                            lx_ct_output *out, char **error) {
    std::memset(out, 0, sizeof *out);
    *error = nullptr;
    try {
        const common_chat_msg msg = common_chat_parse(std::string(text, len), partial, ct->parser);
        // The parser is lenient: a call cut short (by a stop sequence) still comes back, with
        // arguments that are not JSON. Such a call is not reported (found by fuzz_tool_output).
        // A partial parse's last call is unfinished by nature: its arguments are a JSON prefix.
        for (const common_chat_tool_call &c : msg.tool_calls) {
            if (c.arguments.empty() || partial) continue;
            const common_json args = common_json::parse_no_throw(c.arguments);
            if (args.is_discarded() || !args.is_object())
                return refuse(error, "the arguments of a call of " + c.name + " are not a JSON object");
        }
        out->content = c_copy(msg.content);
        out->reasoning = c_copy(msg.reasoning_content);
        if (!out->content || !out->reasoning) goto oom;
        if (!msg.tool_calls.empty()) {
            out->calls = static_cast<lx_ct_parsed_call *>(std::calloc(msg.tool_calls.size(), sizeof *out->calls));
            if (!out->calls) goto oom;
            for (const common_chat_tool_call &c : msg.tool_calls) {
                lx_ct_parsed_call *d = &out->calls[out->n_calls++];
                d->id = c_copy(c.id);
                d->name = c_copy(c.name);
                d->arguments = c_copy(c.arguments.empty() ? std::string("{}") : c.arguments);
                if (!d->id || !d->name || !d->arguments) goto oom;
            }
        }
        return LX_JG_OK;
    } catch (const std::bad_alloc &) {
        lx_ct_output_free(out);
        return LX_JG_NO_MEMORY;
    } catch (const std::exception &e) {
        lx_ct_output_free(out);
        return refuse(error, e.what());
    } catch (...) {
        lx_ct_output_free(out);
        return refuse(error, "the output parser failed");
    }
oom:
    lx_ct_output_free(out);
    return LX_JG_NO_MEMORY;
}
