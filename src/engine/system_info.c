/* lx_engine_system_info_json (system_info.h), from ggml's backend registry: each registered
 * backend, its devices with their memory, and the features a backend reports through its
 * "ggml_backend_get_features" entry point (the CPU backend: the instruction sets it was built
 * with and found, as llama_print_system_info prints them). */
#include "engine/system_info.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/llama_log.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

static const char *dev_type_name(enum ggml_backend_dev_type t) {
    switch (t) {
    case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
    case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
    case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
    case GGML_BACKEND_DEVICE_TYPE_ACCEL: return "accel";
    case GGML_BACKEND_DEVICE_TYPE_META: return "meta";
    default: return "other";
    }
}

/* {NAME: VALUE} of a backend's features; an empty object when it reports none. */
static json_t *features_of(ggml_backend_reg_t reg) {
    json_t *o = json_object();
    /* ggml hands out entry points as void * (like dlsym); ISO C has no cast from it to a function
     * pointer, POSIX guarantees the representation: copy the bytes. */
    void *addr = ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
    ggml_backend_get_features_t get = NULL;
    if (addr) memcpy(&get, &addr, sizeof get);
    if (!o || !get) return o;
    for (struct ggml_backend_feature *f = get(reg); f && f->name; f++)
        if (json_object_set_new(o, f->name, json_string(f->value ? f->value : "")) != 0) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static json_t *devices_of(ggml_backend_reg_t reg) {
    json_t *arr = json_array();
    size_t n = ggml_backend_reg_dev_count(reg);
    for (size_t i = 0; arr && i < n; i++) {
        ggml_backend_dev_t dev = ggml_backend_reg_dev_get(reg, i);
        size_t free_b = 0, total_b = 0;
        ggml_backend_dev_memory(dev, &free_b, &total_b);
        const char *name = ggml_backend_dev_name(dev), *desc = ggml_backend_dev_description(dev);
        json_t *d = json_pack("{s:s,s:s,s:s,s:I,s:I}", "name", name ? name : "", "description", desc ? desc : "",
                              "type", dev_type_name(ggml_backend_dev_type(dev)), "memory_total_bytes",
                              (json_int_t)total_b, "memory_free_bytes", (json_int_t)free_b);
        if (!d || json_array_append_new(arr, d) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

char *lx_engine_system_info_json(void) {
    lx_llama_init();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    json_t *backends = json_array();
    size_t n = ggml_backend_reg_count();
    for (size_t i = 0; backends && i < n; i++) {
        ggml_backend_reg_t reg = ggml_backend_reg_get(i);
        const char *name = ggml_backend_reg_name(reg);
        json_t *b = json_pack("{s:s,s:o*,s:o*}", "name", name ? name : "", "features", features_of(reg), "devices",
                              devices_of(reg));
        if (!b || json_array_append_new(backends, b) != 0) {
            json_decref(backends);
            backends = NULL;
        }
    }
    /* llama.cpp ends its line with a separator ("... | REPACK = 1 | "): trimmed. */
    const char *sys = llama_print_system_info();
    char line[2048];
    snprintf(line, sizeof line, "%s", sys ? sys : "");
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '|')) line[--len] = '\0';
    json_t *o = backends ? json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:b,s:b,s:b,s:b},s:o}", "ggml_version", ggml_version(),
                                     "ggml_commit", ggml_commit(), "llama_system_info", line, "cpu_cores",
                                     (json_int_t)cores, "default_threads", (json_int_t)cores, "supports", "mmap",
                                     llama_supports_mmap(), "mlock", llama_supports_mlock(), "gpu_offload",
                                     llama_supports_gpu_offload(), "rpc", llama_supports_rpc(), "backends", backends)
                         : NULL;
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}
