/* vk_pipe.c: kernel table, pipelines, pipeline cache file, descriptor sets
 * (see vk_pipe.h). */
#include "vk/vk_pipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/file.h"
#include "shaders_embedded.h"

/* Every kernel, once. Each shader's binding comments say the shapes. */
#define R(n, f) { n, VK_BIND_STORAGE, 'r', f }
#define W(n, f) { n, VK_BIND_STORAGE, 'w', f }
#define B(n, f) { n, VK_BIND_STORAGE, 'b', f }
static const vk_kernel_desc kernel_table[VK_K_COUNT] = {
    [VK_K_MATVEC] = { .name = "matvec", .shader = "matvec", .shader_shmem = "matvec_shmem", .n_bind = 6,
        .bind = { R("w quants", "uvec4"), R("w scales", "uint"), R("x", "float"), W("dst", "float"),
                  R("up quants", "uvec4"), R("up scales", "uint") },
        .push_size = sizeof(vk_pc_matvec), .n_spec = 6 },
    [VK_K_MATVEC_DP] = { .name = "matvec_dp", .shader = "matvec_dp", .n_bind = 6,
        .bind = { R("w quants", "uvec4"), R("w scales", "uint"), R("x blocks", "xq block"), W("dst", "float"),
                  R("up quants", "uvec4"), R("up scales", "uint") },
        .push_size = sizeof(vk_pc_matvec), .n_spec = 6 },
    [VK_K_QUANT_X] = { .name = "quant_x", .shader = "quant_x", .n_bind = 2,
        .bind = { R("x", "float"), W("x blocks", "xq block") },
        .push_size = sizeof(vk_pc_quant_x), .n_spec = 1 },
    [VK_K_MATMAT] = { .name = "matmat", .shader = "matmat", .n_bind = 4,
        .bind = { R("w quants", "uvec4"), R("w scales", "uint"), R("x", "float"), W("dst", "float") },
        .push_size = sizeof(vk_pc_matvec), .n_spec = 5 },
    [VK_K_EMBED] = { .name = "embed", .shader = "embed", .n_bind = 4,
        .bind = { R("table quants", "uvec4"), R("table scales", "uint"), R("tokens", "uint"), W("dst", "float") },
        .push_size = sizeof(vk_pc_embed), .n_spec = 2 },
    [VK_K_RMSNORM] = { .name = "rmsnorm", .shader = "rmsnorm", .n_bind = 5,
        .bind = { R("src", "float"), R("w", "float"), B("dst", "float"), R("w2", "float"), W("h", "float") },
        .push_size = sizeof(vk_pc_rmsnorm), .n_spec = 1 },
    [VK_K_QK_ROPE] = { .name = "qk_rope", .shader = "qk_rope", .n_bind = 7,
        .bind = { B("q", "float"), B("k", "float"), R("v", "float"), R("q norm", "float"), R("k norm", "float"),
                  W("k cache", "uint"), W("v cache", "uint") },
        .push_size = sizeof(vk_pc_qk_rope), .n_spec = 3 },
    [VK_K_ATTENTION] = { .name = "attention", .shader = "attention", .n_bind = 4,
        .bind = { R("q", "float"), R("k cache", "uvec4"), R("v cache", "uvec4"), W("out", "float") },
        .push_size = sizeof(vk_pc_attn), .n_spec = 4 },
    [VK_K_ELTWISE] = { .name = "eltwise", .shader = "eltwise", .n_bind = 3,
        .bind = { R("a", "float"), R("b", "float"), B("d", "float") },
        .push_size = sizeof(vk_pc_eltwise), .n_spec = 1 },
    [VK_K_ARGMAX] = { .name = "argmax", .shader = "argmax", .n_bind = 2,
        .bind = { R("src", "float"), B("result and partials", "uint") },
        .push_size = sizeof(vk_pc_argmax), .n_spec = 1 },
};
#undef R
#undef W
#undef B

const vk_kernel_desc *vk_kernel_info(enum vk_kernel k)
{
    return (unsigned)k < VK_K_COUNT ? &kernel_table[k] : NULL;
}

/* Descriptor-set cache entry: a set layout and the buffers bound. */
typedef struct set_entry {
    VkDescriptorSetLayout dsl;
    VkBuffer bufs[VK_MAX_BINDINGS];
    VkDescriptorSet set;
} set_entry;

#define SETS_PER_POOL 256

struct vk_pipes {
    vk_device *d;
    char cache_path[1024];
    VkPipelineCache cache;
    VkShaderModule modules[VK_K_COUNT][2];     /* [kernel][shmem variant] */
    VkDescriptorSetLayout dsl[VK_MAX_BINDINGS + 1];   /* by binding count */
    VkPipelineLayout layouts[VK_K_COUNT];
    vk_pipeline **pipes;
    uint32_t n_pipes;
    size_t cap_pipes;
    uint32_t built;
    bool cache_warm;            /* a cache file of this device and build was loaded */
    uint64_t build;             /* vk_pipe_build_hash(), hashed once at create */

    VkDescriptorPool *pools;
    uint32_t n_pools, pool_left;
    set_entry *sets;            /* open addressing, cap a power of two */
    uint32_t n_sets, cap_sets;
};

/* ---- pipeline cache file ---- */

void vk_pipe_cache_path(const char *dir, const vk_caps *c, char *out, size_t n)
{
    if (snprintf(out, n, "%s/pipelines-%04x-%04x.bin", dir, c->vendor_id, c->device_id) >= (int)n && n)
        out[0] = 0;   /* too long: no file rather than another one */
}

int vk_pipe_cache_check(const vk_caps *c, const void *data, size_t size)
{
    /* VkPipelineCacheHeaderVersionOne: u32 length, u32 version, u32 vendorID,
     * u32 deviceID, u8 pipelineCacheUUID[16]. */
    if (size < 32) return -1;
    uint32_t h[4];
    memcpy(h, data, sizeof h);
    if (h[0] < 32 || h[0] > size) return -1;
    if (h[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE) return -1;
    if (h[2] != c->vendor_id || h[3] != c->device_id) return -1;
    if (memcmp((const uint8_t *)data + 16, c->cache_uuid, VK_UUID_SIZE)) return -1;
    return 0;
}

/* Our header before the driver's blob in the cache file: the driver's header
 * only says which device and driver built the pipelines, not from which
 * shaders, so a cache written by another gemma-chat build is taken as cold
 * (its pipelines are simply rebuilt). */
#define CACHE_MAGIC 0x43504347u   /* "GCPC" */
#define CACHE_VERSION 1u
#define CACHE_HEADER 16u          /* u32 magic, u32 version, u64 build hash */
#define CACHE_MAX_BYTES (1u << 30)

uint64_t vk_pipe_build_hash(void)
{
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a over every embedded shader's name and SPIR-V */
    for (int i = 0; i < n_embedded_shaders; i++) {
        const embedded_shader *e = &embedded_shaders[i];
        for (const char *c = e->name; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
        const uint8_t *b = (const uint8_t *)e->code;
        for (size_t k = 0; k < e->size; k++) h = (h ^ b[k]) * 0x100000001b3ull;
    }
    return h;
}

int vk_pipe_file_check(const vk_caps *c, uint64_t build, const void *data, size_t size)
{
    if (size < CACHE_HEADER) return -1;
    uint32_t mv[2];
    uint64_t hash;
    memcpy(mv, data, sizeof mv);
    memcpy(&hash, (const uint8_t *)data + 8, sizeof hash);
    if (mv[0] != CACHE_MAGIC || mv[1] != CACHE_VERSION || hash != build) return -1;
    return vk_pipe_cache_check(c, (const uint8_t *)data + CACHE_HEADER, size - CACHE_HEADER);
}

/* The cache file, or NULL when it is missing, unreadable or implausibly big
 * (a cache is only ever a shortcut). */
static void *read_file(const char *path, size_t *size)
{
    char *buf;
    size_t n;
    gc_err ignored;
    if (file_read_path(path, "", CACHE_MAX_BYTES, &buf, &n, &ignored)) return NULL;
    if (n == 0 || n > CACHE_MAX_BYTES) { free(buf); return NULL; }
    *size = n;
    return buf;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}

/* Writes the cache next to its final name and renames it over, so readers
 * never see half a file (two processes saving at once: the last one wins). */
static void save_cache(vk_pipes *p)
{
    if (!p->cache || !p->cache_path[0] || !p->built) return;
    size_t n = 0;
    if (vkGetPipelineCacheData(p->d->dev, p->cache, &n, NULL) != VK_SUCCESS || !n) return;
    void *buf = malloc(n);
    if (!buf) return;
    if (vkGetPipelineCacheData(p->d->dev, p->cache, &n, buf) == VK_SUCCESS && make_parent_dirs(p->cache_path) == 0) {
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p->cache_path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            uint32_t mv[2] = { CACHE_MAGIC, CACHE_VERSION };
            bool ok = fwrite(mv, sizeof mv, 1, f) == 1 && fwrite(&p->build, sizeof p->build, 1, f) == 1;
            ok = ok && fwrite(buf, 1, n, f) == n;
            ok = (fclose(f) == 0) && ok;
            if (!ok || rename(tmp, p->cache_path)) unlink(tmp);
        }
    }
    free(buf);
}

/* ---- pipelines ---- */

static const embedded_shader *find_shader(const char *name)
{
    for (int i = 0; i < n_embedded_shaders; i++)
        if (!strcmp(embedded_shaders[i].name, name)) return &embedded_shaders[i];
    return NULL;
}

int vk_pipes_create(vk_device *d, const char *cache_path, vk_pipes **out, gc_err *err)
{
    *out = NULL;
    vk_pipes *p = calloc(1, sizeof *p);
    if (!p) return gc_errf(err, "vulkan: out of memory");
    p->d = d;
    if (cache_path && snprintf(p->cache_path, sizeof p->cache_path, "%s", cache_path) >= (int)sizeof p->cache_path)
        p->cache_path[0] = 0;

    size_t size = 0;
    p->build = vk_pipe_build_hash();
    void *data = p->cache_path[0] ? read_file(p->cache_path, &size) : NULL;
    if (data && vk_pipe_file_check(&d->caps, p->build, data, size)) { free(data); data = NULL; size = 0; }
    VkPipelineCacheCreateInfo cci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                      .initialDataSize = data ? size - CACHE_HEADER : 0,
                                      .pInitialData = data ? (const uint8_t *)data + CACHE_HEADER : NULL };
    VkResult r = vkCreatePipelineCache(d->dev, &cci, NULL, &p->cache);
    p->cache_warm = data && r == VK_SUCCESS;
    if (r != VK_SUCCESS && data) {   /* a cache the driver rejects is not an error: start empty */
        cci.initialDataSize = 0;
        cci.pInitialData = NULL;
        r = vkCreatePipelineCache(d->dev, &cci, NULL, &p->cache);
    }
    free(data);
    if (r != VK_SUCCESS) {
        p->cache = VK_NULL_HANDLE;
        gc_errf(err, "vulkan: vkCreatePipelineCache: %s", vk_result_name(r));
        goto fail;
    }
    for (uint32_t n = 1; n <= VK_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
        for (uint32_t i = 0; i < n; i++)
            b[i] = (VkDescriptorSetLayoutBinding){ .binding = i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                   .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT };
        VkDescriptorSetLayoutCreateInfo lci = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                                .bindingCount = n, .pBindings = b };
        r = vkCreateDescriptorSetLayout(d->dev, &lci, NULL, &p->dsl[n]);
        if (r != VK_SUCCESS) { gc_errf(err, "vulkan: vkCreateDescriptorSetLayout: %s", vk_result_name(r)); goto fail; }
    }
    *out = p;
    return 0;
fail:
    vk_pipes_destroy(p);
    return -1;
}

void vk_pipes_destroy(vk_pipes *p)
{
    if (!p) return;
    VkDevice dev = p->d->dev;
    save_cache(p);
    for (uint32_t i = 0; i < p->n_pipes; i++) {
        vkDestroyPipeline(dev, p->pipes[i]->pipe, NULL);
        free(p->pipes[i]);
    }
    free(p->pipes);
    for (int k = 0; k < VK_K_COUNT; k++) {
        if (p->layouts[k]) vkDestroyPipelineLayout(dev, p->layouts[k], NULL);
        for (int m = 0; m < 2; m++)
            if (p->modules[k][m]) vkDestroyShaderModule(dev, p->modules[k][m], NULL);
    }
    for (uint32_t n = 0; n <= VK_MAX_BINDINGS; n++)
        if (p->dsl[n]) vkDestroyDescriptorSetLayout(dev, p->dsl[n], NULL);
    for (uint32_t i = 0; i < p->n_pools; i++) vkDestroyDescriptorPool(dev, p->pools[i], NULL);
    free(p->pools);
    free(p->sets);
    if (p->cache) vkDestroyPipelineCache(dev, p->cache, NULL);
    free(p);
}

uint32_t vk_pipes_built(const vk_pipes *p) { return p->built; }
bool vk_pipes_cache_warm(const vk_pipes *p) { return p->cache_warm; }

static bool same_variant(const vk_variant *a, const vk_variant *b)
{
    return a->kernel == b->kernel && a->subgroup == b->subgroup && !memcmp(a->spec, b->spec, sizeof a->spec);
}

int vk_pipes_get(vk_pipes *p, const vk_variant *v, const vk_pipeline **out, gc_err *err)
{
    for (uint32_t i = 0; i < p->n_pipes; i++)
        if (same_variant(&p->pipes[i]->variant, v)) { *out = p->pipes[i]; return 0; }
    if ((unsigned)v->kernel >= VK_K_COUNT) return gc_errf(err, "vulkan: bad kernel %d", (int)v->kernel);
    const vk_kernel_desc *k = &kernel_table[v->kernel];
    VkDevice dev = p->d->dev;
    VkResult r;
    int alt = k->shader_shmem && !v->spec[3];
    const char *sname = alt ? k->shader_shmem : k->shader;
    VkShaderModule *mod = &p->modules[v->kernel][alt];
    if (!*mod) {
        const embedded_shader *s = find_shader(sname);
        if (!s) return gc_errf(err, "vulkan: shader '%s' is not embedded in this build", sname);
        VkShaderModuleCreateInfo mci = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                         .codeSize = s->size, .pCode = s->code };
        r = vkCreateShaderModule(dev, &mci, NULL, mod);
        if (r != VK_SUCCESS) return gc_errf(err, "vulkan: shader '%s': %s", sname, vk_result_name(r));
    }
    VkDescriptorSetLayout *dsl = &p->dsl[k->n_bind];   /* all storage buffers: one layout per count */
    if (!p->layouts[v->kernel]) {
        VkPushConstantRange pr = { .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = k->push_size };
        VkPipelineLayoutCreateInfo lci = { .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                           .setLayoutCount = 1, .pSetLayouts = dsl,
                                           .pushConstantRangeCount = 1, .pPushConstantRanges = &pr };
        r = vkCreatePipelineLayout(dev, &lci, NULL, &p->layouts[v->kernel]);
        if (r != VK_SUCCESS) return gc_errf(err, "vulkan: pipeline layout of '%s': %s", k->shader, vk_result_name(r));
    }
    VkSpecializationMapEntry me[VK_MAX_SPEC];
    for (uint32_t i = 0; i < k->n_spec; i++)
        me[i] = (VkSpecializationMapEntry){ .constantID = i, .offset = i * 4, .size = 4 };
    VkSpecializationInfo si = { .mapEntryCount = k->n_spec, .pMapEntries = me,
                                .dataSize = k->n_spec * 4, .pData = v->spec };
    /* A required subgroup size comes with full subgroups: the kernel takes
     * its workgroup (of that many lanes) to be exactly one subgroup. */
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfo rss = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO,
        .requiredSubgroupSize = v->subgroup };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                   .pNext = v->subgroup ? &rss : NULL,
                   .flags = v->subgroup ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT : 0,
                   .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = *mod,
                   .pName = "main", .pSpecializationInfo = &si },
        .layout = p->layouts[v->kernel],
    };
    vk_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl) return gc_errf(err, "vulkan: out of memory");
    r = vkCreateComputePipelines(dev, p->cache, 1, &ci, NULL, &pl->pipe);
    if (r != VK_SUCCESS) {
        free(pl);
        return gc_errf(err, "vulkan: building pipeline '%s' failed: %s", sname, vk_result_name(r));
    }
    if (GC_GROW(p->pipes, p->cap_pipes, p->n_pipes + 1)) {
        vkDestroyPipeline(dev, pl->pipe, NULL);
        free(pl);
        return gc_errf(err, "vulkan: out of memory");
    }
    pl->variant = *v;
    pl->desc = k;
    pl->layout = p->layouts[v->kernel];
    pl->dsl = *dsl;
    p->pipes[p->n_pipes++] = pl;
    p->built++;
    *out = pl;
    return 0;
}

/* ---- descriptor sets ---- */

static uint64_t set_hash(VkDescriptorSetLayout dsl, const VkBuffer *bufs, uint32_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)dsl;
    for (uint32_t i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)bufs[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

static int grow_sets(vk_pipes *p, gc_err *err)
{
    uint32_t cap = p->cap_sets ? 2 * p->cap_sets : 1024;
    set_entry *ns = calloc(cap, sizeof *ns);
    if (!ns) return gc_errf(err, "vulkan: out of memory");
    for (uint32_t i = 0; i < p->cap_sets; i++) {
        set_entry *e = &p->sets[i];
        if (!e->set) continue;
        uint32_t n = 0;
        while (n < VK_MAX_BINDINGS && e->bufs[n]) n++;
        uint64_t h = set_hash(e->dsl, e->bufs, n);
        uint32_t j = (uint32_t)h & (cap - 1);
        while (ns[j].set) j = (j + 1) & (cap - 1);
        ns[j] = *e;
    }
    free(p->sets);
    p->sets = ns;
    p->cap_sets = cap;
    return 0;
}

int vk_pipes_set(vk_pipes *p, const vk_pipeline *pl, const VkBuffer *bufs, VkDescriptorSet *out, gc_err *err)
{
    if ((p->n_sets + 1) * 2 > p->cap_sets && grow_sets(p, err)) return -1;
    uint32_t n = pl->desc->n_bind;
    uint32_t j = (uint32_t)set_hash(pl->dsl, bufs, n) & (p->cap_sets - 1);
    for (; p->sets[j].set; j = (j + 1) & (p->cap_sets - 1)) {
        set_entry *e = &p->sets[j];
        if (e->dsl == pl->dsl && !memcmp(e->bufs, bufs, n * sizeof *bufs)) { *out = e->set; return 0; }
    }
    VkDevice dev = p->d->dev;
    VkResult r;
    if (!p->pool_left) {
        VkDescriptorPool *np = realloc(p->pools, (p->n_pools + 1) * sizeof *np);
        if (!np) return gc_errf(err, "vulkan: out of memory");
        p->pools = np;
        VkDescriptorPoolSize ps = { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                    .descriptorCount = SETS_PER_POOL * VK_MAX_BINDINGS };
        VkDescriptorPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                           .maxSets = SETS_PER_POOL, .poolSizeCount = 1, .pPoolSizes = &ps };
        r = vkCreateDescriptorPool(dev, &pci, NULL, &p->pools[p->n_pools]);
        if (r != VK_SUCCESS) return gc_errf(err, "vulkan: vkCreateDescriptorPool: %s", vk_result_name(r));
        p->n_pools++;
        p->pool_left = SETS_PER_POOL;
    }
    VkDescriptorSetAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                       .descriptorPool = p->pools[p->n_pools - 1],
                                       .descriptorSetCount = 1, .pSetLayouts = &pl->dsl };
    VkDescriptorSet set;
    r = vkAllocateDescriptorSets(dev, &ai, &set);
    if (r != VK_SUCCESS) return gc_errf(err, "vulkan: vkAllocateDescriptorSets: %s", vk_result_name(r));
    p->pool_left--;
    VkDescriptorBufferInfo bi[VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < n; i++) {
        bi[i] = (VkDescriptorBufferInfo){ .buffer = bufs[i], .offset = 0, .range = VK_WHOLE_SIZE };
        w[i] = (VkWriteDescriptorSet){ .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set,
                                       .dstBinding = i, .descriptorCount = 1,
                                       .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bi[i] };
    }
    vkUpdateDescriptorSets(dev, n, w, 0, NULL);
    set_entry *e = &p->sets[j];
    memset(e, 0, sizeof *e);
    e->dsl = pl->dsl;
    memcpy(e->bufs, bufs, n * sizeof *bufs);
    e->set = set;
    p->n_sets++;
    *out = set;
    return 0;
}
