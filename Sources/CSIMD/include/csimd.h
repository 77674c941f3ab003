#ifndef SAMDG_CSIMD_H
#define SAMDG_CSIMD_H
/* The two x86 instructions Swift's SIMD types cannot express: a non-temporal (streaming) vector
 * store and the store fence that orders it. Kernels use them for results much larger than the
 * caches, where a normal store would first read each destination line (write-allocate). */
typedef float samdg_float16 __attribute__((ext_vector_type(16)));

/* p must be 64-byte aligned. */
static inline __attribute__((always_inline)) void samdg_stream16(float *p, samdg_float16 v) {
    __builtin_nontemporal_store(v, (samdg_float16 *)p);
}

static inline __attribute__((always_inline)) void samdg_store_fence(void) {
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}
/* The spin-wait hint (PAUSE): a waiting worker yields the core's pipeline to its sibling. */
static inline __attribute__((always_inline)) void samdg_spin_pause(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}
/* A read prefetch into all cache levels (for strided streams the hardware prefetcher misses). */
static inline __attribute__((always_inline)) void samdg_prefetch(const float *p) {
    __builtin_prefetch(p, 0, 3);
}

/* Unaligned 16-float vectors. */
typedef float samdg_float16u __attribute__((ext_vector_type(16), aligned(4)));

/* dst[c·16 + l] = scale·src[l·ld + c] for a 16×16 block: the transpose through registers, in
 * four rounds that exchange blocks of 8, 4, 2 and 1 lanes between row pairs i, i + B (B = 8, 4,
 * 2, 1; each a two-source shuffle: one vpermt2ps on AVX-512). Neither pointer need be aligned. */
static inline __attribute__((always_inline)) void samdg_transpose16_rounds(samdg_float16 *r) {
    for (int i = 0; i < 16; i++) {
        if (i & 8) continue;
        samdg_float16 a = r[i], b = r[i + 8];
        r[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        r[i + 8] = __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    }
    for (int i = 0; i < 16; i++) {
        if (i & 4) continue;
        samdg_float16 a = r[i], b = r[i + 4];
        r[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        r[i + 4] = __builtin_shufflevector(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    }
    for (int i = 0; i < 16; i++) {
        if (i & 2) continue;
        samdg_float16 a = r[i], b = r[i + 2];
        r[i] = __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        r[i + 2] = __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    }
    for (int i = 0; i < 16; i++) {
        if (i & 1) continue;
        samdg_float16 a = r[i], b = r[i + 1];
        r[i] = __builtin_shufflevector(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
        r[i + 1] = __builtin_shufflevector(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    }
}

static inline __attribute__((always_inline)) void samdg_transpose16(const float *src, long ld, float scale, float *dst) {
    samdg_float16 r[16];
    for (int i = 0; i < 16; i++) r[i] = *(const samdg_float16u *)(src + i * ld) * scale;
    samdg_transpose16_rounds(r);
    for (int i = 0; i < 16; i++) *(samdg_float16u *)(dst + i * 16) = r[i];
}

/* dst[c·ldd + l] = src[l·lds + c] for a 16×16 block: the same register transpose as a plain
 * copy (no scaling), between two row-strided matrices (permute [0, 2, 1] tiles). */
static inline __attribute__((always_inline)) void samdg_transpose16_copy(const float *src, long lds, float *dst, long ldd) {
    samdg_float16 r[16];
    for (int i = 0; i < 16; i++) r[i] = *(const samdg_float16u *)(src + i * lds);
    samdg_transpose16_rounds(r);
    for (int i = 0; i < 16; i++) *(samdg_float16u *)(dst + i * ldd) = r[i];
}

/* Whether the CPU executes AVX-512F (16-float vectors in one register). */
static inline int samdg_cpu_has_avx512f(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* Horizontal maximum and sum of 16 floats by halving shuffles (Swift's generic SIMD reductions
 * do not inline into vector code). The sum's order: pairs (i, i + 8), then (i, i + 4), … */
typedef float samdg_float8 __attribute__((ext_vector_type(8)));
typedef float samdg_float4 __attribute__((ext_vector_type(4)));
static inline __attribute__((always_inline)) float samdg_hmax16(samdg_float16 v) {
    samdg_float8 a = __builtin_elementwise_max(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7),
                                               __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
    samdg_float4 b = __builtin_elementwise_max(__builtin_shufflevector(a, a, 0, 1, 2, 3), __builtin_shufflevector(a, a, 4, 5, 6, 7));
    float c0 = b.x > b.z ? b.x : b.z, c1 = b.y > b.w ? b.y : b.w;
    return c0 > c1 ? c0 : c1;
}
static inline __attribute__((always_inline)) float samdg_hsum16(samdg_float16 v) {
    samdg_float8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    samdg_float4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b.x + b.z) + (b.y + b.w);
}

#endif
